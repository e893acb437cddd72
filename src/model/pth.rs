//! Reader for `torch.save(state_dict)` files (the zip format torchvision's ImageNet weights
//! ship in): a small pickle machine that understands the opcodes torch.save emits and
//! rebuilds each tensor from its storage record (`archive/data/<key>`). libtorch's own
//! loader expects TorchScript archives and rejects plain pickled dicts.
//!
//! Nothing in the file runs, and what a few hostile bytes can make it build is bounded
//! (each limit is an error naming it): data.pkl at most `MAX_PICKLE_BYTES`; at most
//! `MAX_VALUES` values built or copied through the pickle's memo (a memo re-used in nested
//! tuples would otherwise grow 3x per 9 bytes); a tensor's strides must not overlap or be 0
//! on a dimension of size > 1, and must fit its storage; a storage may hold no more bytes
//! than the tensors that use it need (a small zip entry inflating to gigabytes is refused
//! after reading just past that need).
use anyhow::{bail, Context, Result};
pub use super::pickle::{MAX_PICKLE_BYTES, MAX_VALUES};
use super::pickle::{global_name, Machine, Value};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use tch::{Kind, Tensor};

/// Elements a tensor of `size` and `stride` from `offset` reaches in its storage (0 when
/// it is empty).
fn extent(offset: i64, size: &[i64], stride: &[i64]) -> u64 {
    if size.contains(&0) {
        return 0;
    }
    (offset + 1 + size.iter().zip(stride).map(|(n, s)| (n - 1) * s).sum::<i64>()) as u64
}

/// A tensor record's layout: sizes >= 0, offset >= 0, and strides that neither overlap nor
/// are 0 on a dimension of size > 1 (so `.contiguous()` copies no more elements than the
/// storage holds), as torch.save writes them.
fn check_layout(name: &str, offset: i64, size: &[i64], stride: &[i64]) -> Result<()> {
    if size.len() != stride.len() || offset < 0 || size.iter().any(|&n| n < 0) || stride.iter().any(|&s| s < 0) {
        bail!("{name}: size {size:?}, stride {stride:?} and offset {offset} are not a tensor layout");
    }
    let mut dims: Vec<(i64, i64)> = size.iter().zip(stride).filter(|(n, _)| **n > 1).map(|(n, s)| (*s, *n)).collect();
    dims.sort();
    let mut reach = 1i64;
    for (s, n) in dims {
        if s < reach {
            bail!("{name}: stride {stride:?} makes elements of size {size:?} overlap (or repeat with stride 0): refused, torch.save never writes such a layout");
        }
        reach = s.checked_mul(n).context("tensor layout overflows")?;
    }
    Ok(())
}

fn storage_kind(name: &str) -> Result<Kind> {
    Ok(match name {
        "FloatStorage" => Kind::Float,
        "DoubleStorage" => Kind::Double,
        "HalfStorage" => Kind::Half,
        "BFloat16Storage" => Kind::BFloat16,
        "LongStorage" => Kind::Int64,
        "IntStorage" => Kind::Int,
        "ShortStorage" => Kind::Int16,
        "CharStorage" => Kind::Int8,
        "ByteStorage" => Kind::Uint8,
        "BoolStorage" => Kind::Bool,
        other => bail!("unsupported storage type {other}"),
    })
}

fn ints(v: &Value) -> Result<Vec<i64>> {
    match v {
        Value::Tuple(items) | Value::List(items) => items
            .iter()
            .map(|x| match x {
                Value::Int(i) => Ok(*i),
                _ => bail!("expected an integer in a shape"),
            })
            .collect(),
        _ => bail!("expected a shape tuple"),
    }
}

/// Keys under which training checkpoints keep the model's state dict, tried in this order.
pub const CONTAINER_KEYS: [&str; 3] = ["state_dict", "model_state_dict", "model"];

fn is_tensor(v: &Value) -> bool {
    matches!(v, Value::Call(f, _) if matches!(global_name(f), Some(("torch._utils", "_rebuild_tensor_v2")) | Some(("torch._utils", "_rebuild_tensor"))))
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::None => "None",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Float(_) => "float",
        Value::Str(_) => "str",
        Value::Tuple(_) | Value::List(_) => "list",
        Value::Dict(_) => "dict",
        v if is_tensor(v) => "tensor",
        _ => "object",
    }
}

/// The dict of tensors in a pickle root: the root itself when it holds tensors, else the
/// first of `CONTAINER_KEYS` holding one (searched again inside it, as in
/// `{"model": {"state_dict": ...}}`). Returns the items and the path of keys taken.
fn find_state_dict(root: &Value, depth: usize) -> Option<(&Vec<(Value, Value)>, Vec<String>)> {
    let Value::Dict(items) = root else { return None };
    if items.iter().any(|(_, v)| is_tensor(v)) {
        return Some((items, Vec::new()));
    }
    if depth == 0 {
        return None;
    }
    for key in CONTAINER_KEYS {
        if let Some((_, v)) = items.iter().find(|(k, _)| matches!(k, Value::Str(s) if s == key)) {
            if let Some((found, mut path)) = find_state_dict(v, depth - 1) {
                path.insert(0, key.to_string());
                return Some((found, path));
            }
        }
    }
    None
}

/// Reads every tensor of a `torch.save(state_dict)` file, or of the state dict inside a
/// training checkpoint (`{"state_dict": ..., "epoch": 3}`; keys `CONTAINER_KEYS`; the
/// unwrapping is announced with a warning). Anything else is an error naming the
/// top-level entries found and what was expected.
pub fn read_pth(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut zip = zip::ZipArchive::new(file)
        .with_context(|| format!("{}: not a torch.save zip archive (saved with PyTorch >= 1.6?)", path.display()))?;
    let names: Vec<String> = zip.file_names().map(String::from).collect();
    let pkl_name = names.iter().find(|n| n.ends_with("data.pkl")).context("archive has no data.pkl")?.clone();
    let prefix = pkl_name.trim_end_matches("data.pkl").to_string();
    let mut pkl = Vec::new();
    zip.by_name(&pkl_name)?.take(MAX_PICKLE_BYTES + 1).read_to_end(&mut pkl)?;
    if pkl.len() as u64 > MAX_PICKLE_BYTES {
        bail!("{}: {pkl_name} is larger than {} MiB: refused (a state dict's pickle is a few hundred KiB)", path.display(), MAX_PICKLE_BYTES >> 20);
    }
    let root = Machine::run_on(&pkl)
        .with_context(|| format!("{}: {pkl_name}", path.display()))?;
    let Some((items, taken)) = find_state_dict(&root, 2) else {
        let found: Vec<String> = match &root {
            Value::Dict(items) => items
                .iter()
                .map(|(k, v)| match k {
                    Value::Str(s) => format!("{s} ({})", describe(v)),
                    other => format!("{} key ({})", describe(other), describe(v)),
                })
                .collect(),
            other => vec![format!("a {} instead of a dict", describe(other))],
        };
        bail!(
            "no tensors found; top-level entries: [{}]; expected a state dict (parameter name -> tensor, as torch.save(model.state_dict()) writes) or a checkpoint dict holding one under {}",
            found.join(", "),
            CONTAINER_KEYS.map(|k| format!("\"{k}\"")).join(", ")
        );
    };
    if !taken.is_empty() {
        tracing::warn!("{}: a training checkpoint; using its state dict under {}", path.display(), taken.iter().map(|k| format!("[\"{k}\"]")).collect::<String>());
    }
    // Each tensor's storage record, checked; then each storage read once, no further than
    // the tensors that use it need.
    struct Record {
        name: String,
        kind: Kind,
        key: String,
        offset: i64,
        size: Vec<i64>,
        stride: Vec<i64>,
    }
    let mut records = Vec::new();
    for (k, v) in items {
        let Value::Str(name) = k else { continue };
        let Value::Call(_, args) = v else { continue };
        if !is_tensor(v) {
            continue;
        }
        let name = name.clone();
        let Some(Value::Persistent(pid)) = args.first() else { bail!("{name}: tensor without storage") };
        let Value::Tuple(pid) = pid.as_ref() else { bail!("{name}: bad storage record") };
        let (Some(Value::Global(_, storage_type)), Some(Value::Str(key))) = (pid.get(1), pid.get(2)) else {
            bail!("{name}: bad storage record")
        };
        let kind = storage_kind(storage_type)?;
        let offset = match args.get(1) {
            Some(Value::Int(o)) => *o,
            _ => 0,
        };
        let size = ints(args.get(2).context("tensor size")?)?;
        let stride = ints(args.get(3).context("tensor stride")?)?;
        check_layout(&name, offset, &size, &stride)?;
        records.push(Record { name, kind, key: key.clone(), offset, size, stride });
    }
    let mut need: HashMap<&str, u64> = HashMap::new();
    for r in &records {
        let bytes = extent(r.offset, &r.size, &r.stride) * r.kind.elt_size_in_bytes() as u64;
        let e = need.entry(r.key.as_str()).or_insert(0);
        *e = (*e).max(bytes);
    }
    let mut storages: HashMap<String, Vec<u8>> = HashMap::new();
    let mut out = Vec::new();
    for r in &records {
        if !storages.contains_key(&r.key) {
            let wanted = need[r.key.as_str()];
            let mut bytes = Vec::new();
            zip.by_name(&format!("{prefix}data/{}", r.key))
                .with_context(|| format!("{}: storage {} missing from the archive", r.name, r.key))?
                .take(wanted + 1)
                .read_to_end(&mut bytes)?;
            if bytes.len() as u64 > wanted {
                bail!(
                    "{}: storage {} holds more than the {wanted} bytes its tensors need: refused (a storage larger than the tensors that use it)",
                    r.name,
                    r.key
                );
            }
            storages.insert(r.key.clone(), bytes);
        }
        let bytes = &storages[&r.key];
        let numel = bytes.len() / r.kind.elt_size_in_bytes();
        if extent(r.offset, &r.size, &r.stride) > numel as u64 {
            bail!("{}: size {:?} and stride {:?} do not fit its storage of {numel} values (a storage shorter than its tensor)", r.name, r.size, r.stride);
        }
        let storage = Tensor::f_from_data_size(bytes, &[numel as i64], r.kind)?;
        let t = storage
            .f_as_strided(r.size.as_slice(), r.stride.as_slice(), Some(r.offset))
            .with_context(|| format!("{}: size {:?} and stride {:?} do not fit its storage of {numel} values", r.name, r.size, r.stride))?
            .contiguous();
        out.push((r.name.clone(), t));
    }
    Ok(out)
}
