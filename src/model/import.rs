//! Loading ImageNet weights (.safetensors or .pth) into the ResNet50 (torchvision's names) or
//! BN-Inception (pretrainedmodels' names).
//! The classifier `fc.*` and BatchNorm `num_batches_tracked` counters are ignored; the head
//! `last_linear.*` is loaded when its shape fits the model's head, and dropped with a warning
//! when not (pretrainedmodels' 1000-way ImageNet classifier is its `last_linear`); any other
//! mismatch is an error listing keys.
use anyhow::{bail, Context, Result};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use tch::{nn, Tensor};

pub fn read_state_dict(path: &Path) -> Result<HashMap<String, Tensor>> {
    if !path.is_file() {
        bail!("weights file {} does not exist", path.display());
    }
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let tensors = match ext.as_str() {
        "safetensors" => Tensor::read_safetensors(path)
            .with_context(|| format!("{}: not a readable safetensors file", path.display()))?,
        "pth" | "pt" | "bin" => super::pth::read_pth(path).with_context(|| {
            format!(
                "{}: not a readable PyTorch state dict (expected torch.save(model.state_dict()))",
                path.display()
            )
        })?,
        _ => bail!("weights file {}: expected a .safetensors or .pth file", path.display()),
    };
    Ok(strip_data_parallel(path, tensors.into_iter().collect()))
}

/// Names saved from a `torch.nn.DataParallel` / DistributedDataParallel model carry a
/// `module.` prefix on every key: removed (announced), so they match torchvision's names.
pub fn strip_data_parallel(path: &Path, tensors: HashMap<String, Tensor>) -> HashMap<String, Tensor> {
    if tensors.is_empty() || !tensors.keys().all(|k| k.starts_with("module.")) {
        return tensors;
    }
    tracing::warn!("{}: every name starts with `module.` (saved from DataParallel); the prefix is removed", path.display());
    tensors.into_iter().map(|(k, v)| (k["module.".len()..].to_string(), v)).collect()
}

fn ignored(key: &str) -> bool {
    key.starts_with("fc.") || key.ends_with("num_batches_tracked")
}

/// Copies the file's tensors into `vs`, checking names and shapes.
pub fn load_pretrained(vs: &mut nn::VarStore, path: &Path) -> Result<usize> {
    let file = read_state_dict(path)?;
    let vars = vs.variables();
    let expected: BTreeSet<&String> = vars.keys().filter(|k| !k.starts_with("last_linear.")).collect();
    let given: BTreeSet<&String> = file.keys().filter(|k| !ignored(k)).collect();
    let missing: Vec<_> = expected.iter().filter(|k| !given.contains(*k)).collect();
    let unexpected: Vec<_> = given.iter().filter(|k| !vars.contains_key(**k)).collect();
    if !missing.is_empty() || !unexpected.is_empty() {
        let hint = if given.is_empty() {
            "\n  hint: the file holds no tensors besides ignored ones (fc.*, num_batches_tracked)".to_string()
        } else if missing.len() == expected.len() {
            let names = if vars.contains_key("conv1_7x7_s2.weight") {
                "pretrainedmodels BN-Inception names like \"conv1_7x7_s2.weight\", \"inception_3a_1x1_bn.running_mean\""
            } else {
                "torchvision ResNet50 names like \"conv1.weight\", \"layer1.0.conv1.weight\""
            };
            format!(
                "\n  hint: no name matches; the file's names look like {:?}, the model expects {names} (a checkpoint may wrap them under a prefix)",
                given.iter().take(3).collect::<Vec<_>>()
            )
        } else {
            String::new()
        };
        bail!(
            "{}: does not match the model's variables.\n  missing ({}): {:?}\n  unexpected ({}): {:?}{hint}",
            path.display(),
            missing.len(),
            missing.iter().take(20).collect::<Vec<_>>(),
            unexpected.len(),
            unexpected.iter().take(20).collect::<Vec<_>>()
        );
    }
    let mut copied = 0;
    let mut dropped_head = Vec::new();
    tch::no_grad(|| -> Result<()> {
        for (name, var) in vars.iter() {
            if let Some(src) = file.get(name) {
                if name.starts_with("last_linear.") && src.size() != var.size() {
                    dropped_head.push(format!("{name} {:?} (the model's {:?})", src.size(), var.size()));
                    continue;
                }
                if src.size() != var.size() {
                    bail!("{}: {name} has shape {:?}, the model expects {:?}", path.display(), src.size(), var.size());
                }
                let mut dst = var.shallow_clone();
                dst.copy_(&src.to_kind(var.kind()).to_device(var.device()));
                copied += 1;
            }
        }
        Ok(())
    })?;
    if !dropped_head.is_empty() {
        dropped_head.sort();
        tracing::warn!(
            "{}: its head does not fit the embedding head and is not loaded: {}; the head last_linear starts from random weights, as the original replaces the ImageNet classifier",
            path.display(),
            dropped_head.join(", ")
        );
    }
    Ok(copied)
}
