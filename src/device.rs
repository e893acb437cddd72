//! Device selection: `cpu`, `cuda`, `cuda:N` or `auto` (CUDA when libtorch sees a GPU).
use anyhow::{bail, Result};
use tch::Device;

/// The device `spec` names (`cpu`, `cuda`, `cuda:N`, `auto`). Errors: another spelling, or
/// a CUDA device libtorch does not see.
pub fn parse_device(spec: &str) -> Result<Device> {
    match spec {
        "cpu" => Ok(Device::Cpu),
        "auto" => Ok(Device::cuda_if_available()),
        "cuda" => cuda(0),
        s if s.starts_with("cuda:") => match s[5..].parse::<usize>() {
            Ok(n) => cuda(n),
            Err(_) => bail!("--device: expected cpu, auto, cuda or cuda:N, got {s:?}"),
        },
        s => bail!("--device: expected cpu, auto, cuda or cuda:N, got {s:?}"),
    }
}

/// Checks the spelling of a device (`cpu`, `auto`, `cuda`, `cuda:N`) without asking libtorch
/// whether it is there: a configuration for another machine (a Slurm sweep written on a
/// login node without a GPU) is valid; `parse_device` checks availability when training.
pub fn check_device_spec(spec: &str) -> Result<()> {
    match spec {
        "cpu" | "auto" | "cuda" => Ok(()),
        s if s.starts_with("cuda:") && s[5..].parse::<usize>().is_ok() => Ok(()),
        s => bail!("--device: expected cpu, auto, cuda or cuda:N, got {s:?}"),
    }
}

/// A device as `--device` spells it: `cpu`, `cuda:N` (`mps`, `vulkan`).
pub fn name(d: Device) -> String {
    match d {
        Device::Cpu => "cpu".into(),
        Device::Cuda(i) => format!("cuda:{i}"),
        Device::Mps => "mps".into(),
        Device::Vulkan => "vulkan".into(),
    }
}

fn cuda(n: usize) -> Result<Device> {
    let count = tch::Cuda::device_count() as usize;
    if n >= count {
        bail!("--device cuda:{n} asked for, but libtorch sees {count} CUDA device(s)");
    }
    Ok(Device::Cuda(n))
}
