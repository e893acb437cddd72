//! Device selection: `cpu`, `cuda`, `cuda:N` or `auto` (CUDA when libtorch sees a GPU).
use anyhow::{bail, Result};
use tch::Device;

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

fn cuda(n: usize) -> Result<Device> {
    let count = tch::Cuda::device_count() as usize;
    if n >= count {
        bail!("--device cuda:{n} asked for, but libtorch sees {count} CUDA device(s)");
    }
    Ok(Device::Cuda(n))
}
