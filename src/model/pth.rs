//! The state dict of a `torch.save` file (either format, see `torchfile`): the file's root
//! when it holds tensors, else the dict under one of `CONTAINER_KEYS` (a training
//! checkpoint such as the original code's `{'state_dict', 'opt', 'progress', 'aux'}`).
use super::torchfile::{read_torch_file, TorchFile, Value};
pub use super::torchfile::{MAX_PICKLE_BYTES, MAX_VALUES};
use anyhow::{bail, Result};
use std::path::Path;
use tch::Tensor;

/// Keys under which training checkpoints keep the model's state dict, tried in this order.
pub const CONTAINER_KEYS: [&str; 3] = ["state_dict", "model_state_dict", "model"];

/// The dict of tensors in `v`: `v` itself when it holds tensors, else the first of
/// `CONTAINER_KEYS` holding one (searched again inside it, as in
/// `{"model": {"state_dict": ...}}`). Returns the items and the path of keys taken.
fn find_state_dict(v: &Value, depth: usize) -> Option<(&[(Value, Value)], Vec<String>)> {
    let Value::Dict(items) = v else { return None };
    if items.iter().any(|(_, v)| matches!(v, Value::Tensor(_))) {
        return Some((items, Vec::new()));
    }
    if depth == 0 {
        return None;
    }
    for key in CONTAINER_KEYS {
        if let Some((_, inner)) = items.iter().find(|(k, _)| matches!(k, Value::Str(s) if s == key)) {
            if let Some((found, mut path)) = find_state_dict(inner, depth - 1) {
                path.insert(0, key.to_string());
                return Some((found, path));
            }
        }
    }
    None
}

/// The tensors of a file's state dict, in file order, and the keys taken to reach it (empty
/// for a plain state dict). Errors (naming the file): no state dict (listing the top-level
/// entries and what was expected); a state dict, or the container it sits under, that only
/// a non-allowed callable could build.
pub fn state_dict(file: &TorchFile) -> Result<(Vec<(String, Tensor)>, Vec<String>)> {
    let path = file.path.display();
    for key in CONTAINER_KEYS {
        if let Some(Value::Call { module, name, .. }) = raw_entry(&file.root, key) {
            bail!("{path}: {}", super::torchfile::refuse_call(module, name, &format!("'{key}'")));
        }
    }
    if let Value::Call { module, name, .. } = &file.root {
        bail!("{path}: {}", super::torchfile::refuse_call(module, name, "the file's root"));
    }
    let Some((items, taken)) = find_state_dict(&file.root, 2) else {
        let found: Vec<String> = match &file.root {
            Value::Dict(items) => items
                .iter()
                .map(|(k, v)| match k {
                    Value::Str(s) => format!("{s} ({})", v.kind()),
                    other => format!("{} key ({})", other.kind(), v.kind()),
                })
                .collect(),
            other => vec![format!("a {} instead of a dict", other.kind())],
        };
        bail!(
            "{path}: no tensors found; top-level entries: [{}]; expected a state dict (parameter name -> tensor, as torch.save(model.state_dict()) writes) or a checkpoint dict holding one under {}",
            found.join(", "),
            CONTAINER_KEYS.map(|k| format!("\"{k}\"")).join(", ")
        );
    };
    let mut out = Vec::new();
    for (k, v) in items {
        let Value::Str(name) = k else { continue };
        match v {
            Value::Tensor(t) => out.push((name.clone(), t.shallow_clone())),
            Value::Call { module, name: f, .. } => {
                bail!("{path}: {}", super::torchfile::refuse_call(module, f, &format!("'{}'", taken.iter().chain([name]).cloned().collect::<Vec<_>>().join("/"))))
            }
            _ => {}
        }
    }
    Ok((out, taken))
}

/// The entry `key` of a dict root, unchecked (None for anything else).
fn raw_entry<'a>(root: &'a Value, key: &str) -> Option<&'a Value> {
    match root {
        Value::Dict(p) => p.iter().find(|(k, _)| matches!(k, Value::Str(s) if s == key)).map(|(_, v)| v),
        _ => None,
    }
}

/// Reads every tensor of a `torch.save(state_dict)` file (zip or pre-1.6 format), or of the
/// state dict inside a training checkpoint (`{"state_dict": ..., "epoch": 3}`; keys
/// `CONTAINER_KEYS`; the unwrapping is announced with a warning). Anything else is an
/// error naming the top-level entries found and what was expected.
pub fn read_pth(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let file = read_torch_file(path)?;
    let (tensors, taken) = state_dict(&file)?;
    if !taken.is_empty() {
        tracing::warn!("{}: a training checkpoint; using its state dict under {}", path.display(), taken.iter().map(|k| format!("[\"{k}\"]")).collect::<String>());
    }
    Ok(tensors)
}
