//! Tensor storages of torch.save files: the persistent ids naming them, the layout checks
//! of the tensors over them, and reading their bytes from either format (zip entries
//! `archive/data/<key>`; or, pre-1.6, one after another at the end of the file, each an
//! 8-byte little-endian element count followed by the raw bytes), never past what the
//! tensors need (zip) or what the file holds (pre-1.6).
use super::machine::{Id, Node, Pickle};
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::io::Read;
use tch::Kind;

/// A persistent id `('storage', storage_type, key, location, numel[, view_metadata])`.
#[derive(Debug, Clone)]
pub(crate) struct StorageRef {
    pub key: String,
    pub kind: Kind,
    /// Elements the id declares (the pre-1.6 format checks the file's count against it).
    pub numel: Option<i64>,
    /// Pre-1.6 views of a storage: (view key, offset, size), in elements.
    pub view: Option<(String, i64, i64)>,
}

pub(crate) fn storage_kind(name: &str) -> Result<Kind> {
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

fn int(p: &Pickle, id: Id) -> Option<i64> {
    match p.node(id) {
        Node::Int(i) => Some(*i),
        _ => None,
    }
}

/// The storage a persistent id names. Errors: anything but a storage id.
pub(crate) fn storage_ref(p: &Pickle, pid: Id) -> Result<StorageRef> {
    let Node::Tuple(t) = p.node(pid) else { bail!("a persistent id that is not a tuple") };
    if t.first().and_then(|&i| p.str(i)) != Some("storage") || t.len() < 3 {
        bail!("a persistent id that does not name a storage");
    }
    let Some((_, ty)) = p.global(t[1]) else { bail!("a storage record without its storage type") };
    let kind = storage_kind(ty)?;
    let key = match p.node(t[2]) {
        Node::Str(s) => s.clone(),
        Node::Int(i) => i.to_string(),
        _ => bail!("a storage record without a key"),
    };
    let numel = t.get(4).and_then(|&i| int(p, i));
    let view = match t.get(5).map(|&i| p.node(i)) {
        Some(Node::Tuple(v)) if v.len() == 3 => {
            let vk = p.str(v[0]).context("a storage view without a key")?.to_string();
            Some((vk, int(p, v[1]).context("storage view offset")?, int(p, v[2]).context("storage view size")?))
        }
        _ => None,
    };
    Ok(StorageRef { key, kind, numel, view })
}

/// Elements a tensor of `size` and `stride` from `offset` reaches in its storage (0 when
/// it is empty); None when that overflows.
pub(crate) fn extent(offset: i64, size: &[i64], stride: &[i64]) -> Option<u64> {
    if size.contains(&0) {
        return Some(0);
    }
    let mut e = offset.checked_add(1)?;
    for (n, s) in size.iter().zip(stride) {
        e = e.checked_add((n - 1).checked_mul(*s)?)?;
    }
    u64::try_from(e).ok()
}

/// A tensor record's layout: sizes >= 0, offset >= 0, and strides that neither overlap nor
/// are 0 on a dimension of size > 1 (so `.contiguous()` copies no more elements than the
/// storage holds), as torch.save writes them.
pub(crate) fn check_layout(name: &str, offset: i64, size: &[i64], stride: &[i64]) -> Result<()> {
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
        reach = s.checked_mul(n).with_context(|| format!("{name}: tensor layout overflows"))?;
    }
    extent(offset, size, stride).with_context(|| format!("{name}: tensor layout overflows"))?;
    Ok(())
}

pub(crate) fn is_rebuild_tensor(g: Option<(&str, &str)>) -> bool {
    matches!(g, Some(("torch._utils", "_rebuild_tensor_v2" | "_rebuild_tensor")))
}

/// A tensor's (storage, offset, size, stride) from `_rebuild_tensor(_v2)` arguments.
pub(crate) fn tensor_args(p: &Pickle, args: &[Id]) -> Result<(StorageRef, i64, Vec<i64>, Vec<i64>)> {
    let Some(Node::Persistent(pid)) = args.first().map(|&a| p.node(a)) else { bail!("tensor without storage") };
    let st = storage_ref(p, *pid)?;
    let offset = args.get(1).and_then(|&a| int(p, a)).unwrap_or(0);
    let ints = |i: usize, what: &str| -> Result<Vec<i64>> {
        let id = *args.get(i).with_context(|| format!("tensor without its {what}"))?;
        let items = match p.node(id) {
            Node::Tuple(t) | Node::List(t) => t,
            _ => bail!("tensor {what} is not a tuple"),
        };
        items.iter().map(|&x| int(p, x).with_context(|| format!("tensor {what}: not an integer"))).collect()
    };
    Ok((st, offset, ints(2, "size")?, ints(3, "stride")?))
}

/// Bytes each storage's tensors need (the largest extent over the tensors using it), from
/// every tensor record of the pickle whose layout is valid (an invalid one is an error
/// later, naming the tensor). A view's need is counted on its root storage.
pub(crate) fn needs(p: &Pickle) -> HashMap<String, u64> {
    let mut need: HashMap<String, u64> = HashMap::new();
    for n in &p.nodes {
        let Node::Call { func, args, .. } = n else { continue };
        if !is_rebuild_tensor(p.global(*func)) {
            continue;
        }
        let Ok((st, offset, size, stride)) = tensor_args(p, args) else { continue };
        if check_layout("", offset, &size, &stride).is_err() {
            continue;
        }
        let Some(e) = extent(offset, &size, &stride) else { continue };
        let base = st.view.as_ref().map(|v| v.1.max(0) as u64).unwrap_or(0);
        let bytes = (e + base).saturating_mul(st.kind.elt_size_in_bytes() as u64);
        let slot = need.entry(st.key).or_insert(0);
        *slot = (*slot).max(bytes);
    }
    need
}

/// Reads the zip entry `<prefix>data/<key>` of each needed storage. A deflated entry holding
/// more than its tensors need is refused after reading just past the need (a small entry
/// must not inflate to gigabytes); a stored one (as torch.save writes) is read up to the need.
pub(crate) fn read_zip_storages<R: Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    prefix: &str,
    need: &HashMap<String, u64>,
) -> Result<HashMap<String, Vec<u8>>> {
    let mut out = HashMap::new();
    for (key, &wanted) in need {
        let entry = zip.by_name(&format!("{prefix}data/{key}"));
        let entry = entry.with_context(|| format!("storage {key} missing from the archive"))?;
        let stored = entry.compression() == zip::CompressionMethod::Stored;
        let mut bytes = Vec::new();
        entry.take(if stored { wanted } else { wanted + 1 }).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > wanted {
            bail!("storage {key} holds more than the {wanted} bytes its tensors need: refused (a storage larger than the tensors that use it)");
        }
        out.insert(key.clone(), bytes);
    }
    Ok(out)
}

/// The storages of a pre-1.6 file, from `data[pos..]`: for each key of `keys`, in order, an
/// 8-byte little-endian element count (which must equal the count the pickle declared) and
/// that many elements. Nothing is allocated beyond what the file holds.
pub(crate) fn read_legacy_storages(
    data: &[u8],
    mut pos: usize,
    keys: &[String],
    refs: &HashMap<String, StorageRef>,
) -> Result<HashMap<String, Vec<u8>>> {
    let mut out = HashMap::new();
    for key in keys {
        let st = refs.get(key).with_context(|| format!("storage {key} is listed but no tensor names it"))?;
        let left = data.len() - pos;
        if left < 8 {
            bail!("the file ends before storage {key} (cut short?)");
        }
        let count = u64::from_le_bytes(data[pos..pos + 8].try_into().unwrap());
        pos += 8;
        if let Some(n) = st.numel {
            if n < 0 || n as u64 != count {
                bail!("storage {key}: the file says {count} elements, the pickle declared {n}");
            }
        }
        let elt = st.kind.elt_size_in_bytes() as u64;
        let bytes = count.checked_mul(elt).filter(|&b| b <= (data.len() - pos) as u64).with_context(|| {
            format!("storage {key} declares {count} elements ({elt} bytes each) but the file holds only {} more bytes (cut short?)", data.len() - pos)
        })? as usize;
        out.insert(key.clone(), data[pos..pos + bytes].to_vec());
        pos += bytes;
    }
    if pos != data.len() {
        tracing::warn!("{} bytes after the last storage are ignored", data.len() - pos);
    }
    Ok(out)
}
