//! `pads export`: a trained run as files that plain PyTorch reads without pads.
//!
//! - `model.pt`: TorchScript, traced through libtorch from pads' own forward pass (evaluation
//!   mode). Input float32 `[N, 3, H, W]`, normalised as the arch was trained (ImageNet RGB;
//!   BN-Inception: the original's mean and std, then BGR; see `preprocess.json`); output the
//!   L2-normalised `[N, D]` embeddings, the same numbers `pads embed` writes.
//! - `model.safetensors` (ResNet50; BN-Inception below): the weights under torchvision's `resnet50` key
//!   names, the head as `fc.weight` `[D, 2048]` / `fc.bias` `[D]` (pads' `last_linear`), for
//!   `torchvision.models.resnet50()` with `fc = nn.Linear(2048, D)`, evaluated in `eval()`
//!   mode and followed by L2 normalisation. BatchNorm appears unfolded, as torchvision
//!   expects it: `weight`, `bias`, `running_mean`, `running_var` and a `num_batches_tracked`
//!   counter (0). pads folds each frozen BatchNorm into its convolution only inside the
//!   forward pass (`src/model/mod.rs`, `conv_bn`: W * s and bias - mean * s with
//!   s = weight / sqrt(running_var + 1e-5)); the stored variables are the unfolded ones, so
//!   they are written as they are, and torchvision's BatchNorm (eps 1e-5, running statistics
//!   in eval mode) computes the same function.
//!   BN-Inception (`--arch bninception`): the weights under pretrainedmodels' `bninception`
//!   names as they are (pads uses them), the head `last_linear` `[D, 1024]`, a
//!   `num_batches_tracked` (0) per BatchNorm, for `pretrainedmodels.bninception(num_classes=D,
//!   pretrained=None)` in `eval()` mode, followed by L2 normalisation (at 224 px; at other
//!   sizes its `global_pool` must be replaced by global average pooling, as pads does).
//!   The small CNN has no torchvision counterpart: it exports to TorchScript only.
//! - `preprocess.json`: the evaluation transform (resize, centre crop, scale, mean, std,
//!   channel order, layout), to rebuild the input pipeline elsewhere.
use crate::config::RunConfig;
use crate::data::transform::Normalization;
use crate::options::{Amp, Arch};
use crate::run::CheckpointChoice;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use tch::{nn, Device, Kind, Tensor};

/// What `export_run` wrote, and what it did not write and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExportReport {
    pub checkpoint: PathBuf,
    pub files: Vec<PathBuf>,
    /// One line per file not written (e.g. model.safetensors for the small CNN).
    pub notes: Vec<String>,
}

/// The evaluation transform of `data::transform` (Mode::Eval) as JSON: torchvision's
/// `Resize(round(size * 256 / 224))` (Pillow's antialiased bilinear), `CenterCrop(size)`,
/// pixel / 255, then (x - mean) / std per channel with mean and std in RGB order
/// (`mean_std_channel_order`), then the planes put in `channel_order` ("RGB", or "BGR" for
/// BN-Inception: reversed after normalising, as the original's datasets.py does), NCHW
/// float32.
pub fn preprocess_json(cfg: &RunConfig) -> serde_json::Value {
    let size = cfg.image_size;
    let norm = Normalization::for_arch(cfg.arch);
    let short = ((size as f64) * 256.0 / 224.0).round() as u64;
    serde_json::json!({
        "resize_shorter_side": short,
        "resize_interpolation": "bilinear, antialiased (Pillow's BILINEAR, as torchvision's Resize on PIL images; pads computes the same pixels)",
        "center_crop": [size, size],
        "channel_order": if norm.bgr { "BGR" } else { "RGB" },
        "scale": 1.0 / 255.0,
        // The f32 constants printed at their decimal value (0.485, not 0.48500001430511475).
        "mean": norm.mean.map(|v| v.to_string().parse::<f64>().unwrap_or(v as f64)),
        "std": norm.std.map(|v| v.to_string().parse::<f64>().unwrap_or(v as f64)),
        "mean_std_channel_order": "RGB",
        "layout": "NCHW",
        "dtype": "float32",
        "output": format!("L2-normalised embeddings [N, {}]", cfg.embed_dim),
        "arch": cfg.arch.as_str(),
        "embed_dim": cfg.embed_dim,
        "mixed_precision_bf16": cfg.amp == Amp::Bf16,
    })
}

/// The model's tensors under the state-dict names of its PyTorch counterpart (see the module
/// doc): torchvision's `resnet50` (`last_linear.*` -> `fc.*`) or pretrainedmodels'
/// `bninception` (names unchanged), a `num_batches_tracked` (int64 scalar 0) per BatchNorm,
/// every tensor contiguous float32 on the CPU. Errors for the small CNN (no such model).
pub fn torchvision_state_dict(vs: &nn::VarStore, arch: Arch) -> Result<Vec<(String, Tensor)>> {
    if arch == Arch::Small {
        anyhow::bail!("model.safetensors needs --arch resnet50 or bninception: the small CNN has no torchvision counterpart (export it as TorchScript, model.pt)");
    }
    let mut out = Vec::new();
    for (name, t) in vs.variables() {
        let t = t.detach().to_device(Device::Cpu).to_kind(Kind::Float).contiguous();
        let name = match name.strip_prefix("last_linear.") {
            Some(rest) if arch == Arch::Resnet50 => format!("fc.{rest}"),
            _ => name,
        };
        if let Some(bn) = name.strip_suffix(".running_mean") {
            out.push((format!("{bn}.num_batches_tracked"), Tensor::from(0i64)));
        }
        out.push((name, t));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Writes model.pt, model.safetensors (not for the small CNN) and preprocess.json of the run's
/// `which` checkpoint into `out` (created). The trace runs on the CPU in float32 (bfloat16
/// backbone if the run used --amp bf16, as `pads embed` does) with a [2, 3, S, S] example;
/// the traced graph has no fixed batch or image size.
pub fn export_run(run_dir: &Path, which: CheckpointChoice, out: &Path) -> Result<ExportReport> {
    let super::LoadedModel { cfg, mut vs, model, checkpoint, .. } = super::load_model(run_dir, Some(which), None, Some(Device::Cpu))?;
    vs.freeze();
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut files = Vec::new();
    let mut notes = Vec::new();

    let s = cfg.image_size as i64;
    let example = Tensor::zeros([2, 3, s, s], (Kind::Float, Device::Cpu));
    let mut forward = |inputs: &[Tensor]| vec![model.forward(&inputs[0])];
    let module = tch::no_grad(|| tch::CModule::create_by_tracing("PadsEmbedding", "forward", &[example], &mut forward))
        .context("tracing the model to TorchScript failed")?;
    let pt = out.join("model.pt");
    module.save(&pt).with_context(|| format!("cannot write {}", pt.display()))?;
    files.push(pt);

    match torchvision_state_dict(&vs, cfg.arch) {
        Ok(tensors) => {
            let st = out.join("model.safetensors");
            Tensor::write_safetensors(&tensors, &st).with_context(|| format!("cannot write {}", st.display()))?;
            files.push(st);
        }
        Err(e) => {
            notes.push(format!("model.safetensors not written: {e:#}"));
            let stale = out.join("model.safetensors");
            if stale.exists() {
                std::fs::remove_file(&stale).with_context(|| format!("cannot remove the stale {}", stale.display()))?;
                notes.push(format!("removed {} left by an earlier export (it did not belong to this model)", stale.display()));
            }
        }
    }

    let pre = out.join("preprocess.json");
    crate::util::write_atomic(&pre, serde_json::to_string_pretty(&preprocess_json(&cfg))?.as_bytes())?;
    files.push(pre);
    Ok(ExportReport { checkpoint, files, notes })
}
