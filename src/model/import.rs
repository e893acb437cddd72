//! Loading torchvision ImageNet weights (.safetensors or .pth) into the ResNet50.
//! The classifier `fc.*` and BatchNorm `num_batches_tracked` counters are ignored; the head
//! `last_linear.*` is loaded when the file has it; any other mismatch is an error listing keys.
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
            format!(
                "\n  hint: no name matches; the file's names look like {:?}, the model expects torchvision ResNet50 names like \"conv1.weight\", \"layer1.0.conv1.weight\" (a checkpoint may wrap them under a prefix)",
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
    tch::no_grad(|| -> Result<()> {
        for (name, var) in vars.iter() {
            if let Some(src) = file.get(name) {
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
    Ok(copied)
}
