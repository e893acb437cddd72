//! Loading weights into a network: ImageNet files (.safetensors or .pth) for the ResNet50
//! (torchvision's names) or BN-Inception (pretrainedmodels' names), or a checkpoint of the
//! original PADS code (`checkpoint_Class.pth.tar`, either torch.save format), names
//! normalised by `normalize_names`. The classifier `fc.*` and BatchNorm
//! `num_batches_tracked` counters are ignored; the head `last_linear.*` (the original's
//! trained embedding head) is loaded when its shape fits the model's head, and dropped with
//! a warning when not (pretrainedmodels' 1000-way ImageNet classifier is its `last_linear`,
//! as is an original checkpoint's head of another --embed-dim); any other mismatch is an
//! error listing keys.
use anyhow::{bail, Context, Result};
use std::collections::{BTreeSet, HashMap};
use super::torchfile::Format;
use std::io::Read;
use std::path::Path;
use tch::{nn, Tensor};

/// The tensors of a weights file, names normalised (`normalize_names`). The format is told
/// by content, not by extension: safetensors (a `.safetensors` file, or a JSON header after
/// an 8-byte length), or torch.save in any of its three formats (zip, pre-1.6, tar; `.pth`,
/// `.pt`, `.bin`, the original code's `.pth.tar`, `.ckpt`, any name), a state dict or a checkpoint holding one
/// (`pth::CONTAINER_KEYS`). Errors name the file and what was expected.
pub fn read_state_dict(path: &Path) -> Result<HashMap<String, Tensor>> {
    if !path.is_file() {
        bail!("weights file {} does not exist", path.display());
    }
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let mut head = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(512).read_to_end(&mut head))
        .with_context(|| format!("cannot read {}", path.display()))?;
    let torch = matches!(super::torchfile::sniff(&head), Ok(Format::Zip | Format::Legacy | Format::Tar));
    let safetensors = ext == "safetensors" || (head.len() > 8 && head[8] == b'{' && !torch);
    let tensors = if safetensors {
        Tensor::read_safetensors(path).with_context(|| format!("{}: not a readable safetensors file", path.display()))?
    } else if torch {
        super::pth::read_pth(path).with_context(|| {
            format!("{}: not a readable PyTorch state dict (expected torch.save(model.state_dict()) or a checkpoint holding one)", path.display())
        })?
    } else {
        bail!(
            "weights file {}: expected a .safetensors or .pth file (torch.save: zip, pre-1.6 or tar format; .pth.tar and .ckpt too), found neither by its content",
            path.display()
        )
    };
    normalize_names(path, tensors.into_iter().collect())
}

/// Names as pads' models spell them, from the spellings other code saves them under, each
/// change announced: the `module.` prefix of `torch.nn.DataParallel`; the original PADS
/// code's ResNet50 wrapper (netlib.py `NetworkSuperClass_ResNet50`), whose state dict holds
/// the backbone under `model.` and every block a second time as `layer_blocks.N.*`
/// (`self.layer_blocks = nn.ModuleList([model.layer1, ...])`): each such duplicate is
/// checked equal to its `layer{N+1}.*` twin and dropped, then the `model.` prefix removed.
/// Errors: a duplicate that differs from its twin (naming both keys).
pub fn normalize_names(path: &Path, tensors: HashMap<String, Tensor>) -> Result<HashMap<String, Tensor>> {
    let mut tensors = strip_data_parallel(path, tensors);
    let mut dropped = 0;
    let dups: Vec<String> = tensors.keys().filter(|k| !layer_block_twins(k).is_empty()).cloned().collect();
    for key in dups {
        let Some(twin) = layer_block_twins(&key).into_iter().find(|t| tensors.contains_key(t)) else { continue };
        let t = &tensors[&twin];
        let d = &tensors[&key];
        if d.size() != t.size() || d.kind() != t.kind() || !d.equal(t) {
            bail!("{}: {key} differs from its twin {twin} (the original code lists each ResNet block twice; both must hold the same tensor)", path.display());
        }
        tensors.remove(&key);
        dropped += 1;
    }
    if dropped > 0 {
        tracing::warn!("{}: {dropped} `layer_blocks.*` entries (the original code lists each ResNet block twice) equal their `layerN.*` twins; dropped", path.display());
    }
    if !tensors.is_empty() && tensors.keys().all(|k| k.starts_with("model.")) {
        tracing::warn!("{}: every name starts with `model.` (the original code wraps its backbone as `self.model`); the prefix is removed", path.display());
        tensors = tensors.into_iter().map(|(k, v)| (k["model.".len()..].to_string(), v)).collect();
    }
    Ok(tensors)
}

/// The names a key `[model.]layer_blocks.N.REST` may duplicate: `model.layer{N+1}.REST`
/// (netlib.py: `layer_blocks` sits beside `model`, its twin inside it), then
/// `[model.]layer{N+1}.REST`. Empty for any other key.
fn layer_block_twins(key: &str) -> Vec<String> {
    let (prefix, rest) = match key.strip_prefix("model.") {
        Some(r) => ("model.", r),
        None => ("", key),
    };
    let Some((n, tail)) = rest.strip_prefix("layer_blocks.").and_then(|r| r.split_once('.')) else { return Vec::new() };
    let Ok(n) = n.parse::<usize>() else { return Vec::new() };
    vec![format!("model.layer{}.{tail}", n + 1), format!("{prefix}layer{}.{tail}", n + 1)]
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
