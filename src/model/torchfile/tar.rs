//! torch.save's oldest format (PyTorch before 0.1.10, early 2017): a tar (PAX) archive, read
//! as torch 2.11's own reader reads it (torch/serialization.py `_legacy_load` → inner
//! `legacy_load`), the spec followed here:
//! - `storages`: a pickle of the count; per storage a pickle of `(key, location,
//!   storage_type)` then the storage as `UntypedStorage._new_with_file` reads it (an 8-byte
//!   little-endian element count, then the raw elements); then a pickle of the storage views
//!   `[(view_key, root_key, offset, numel)]` (in elements of the root);
//! - `tensors`: a pickle of the count; per tensor a pickle of `(key, storage_id,
//!   tensor_type)` then `struct.unpack("<i")` ndim, 4 skipped bytes, `<{ndim}q` sizes,
//!   `<{ndim}q` strides, `<q` storage offset (the tensor's dtype is its storage's);
//! - `pickle`: the main pickle, whose persistent id `saved_id` is a tensor
//!   `deserialized_objects[int(saved_id)]` (or a tuple: a module class with its saved
//!   source, standing for the class itself);
//! - `sys_info` (torch ignores it; a big-endian file is refused here).
//!
//! Keys are compared as Python compares them: an int key (as torch wrote them) and a str key
//! never match. Storages are slices of the file (checked against their member before any
//! copy); only the tensors the main pickle names are built, each copying no more than its
//! layout reaches.
use super::interpret::Interp;
use super::machine::{self, Node, Pickle, MAX_PICKLE_BYTES};
use super::storage::{check_layout, extent, storage_kind};
use super::value::Value;
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::ops::Range;
use tch::{Kind, Tensor};

const BLOCK: usize = 512;

/// The tar member names and where each one's data lies in `data` (the last of a repeated
/// name wins, as Python's `tarfile.getmember`). Reads ustar / PAX (`x` headers: `path`,
/// `size`) / GNU (`L` long names, base-256 sizes) headers, each checksum checked; stops at a
/// zero block or at the end of the bytes. Errors: a bad header, a member running past the
/// end of the file (cut short).
pub(crate) fn members(data: &[u8]) -> Result<HashMap<String, Range<usize>>> {
    let mut out = HashMap::new();
    let (mut pos, mut next_name, mut next_size) = (0usize, None::<String>, None::<u64>);
    while pos < data.len() {
        let left = data.len() - pos;
        let h = &data[pos..pos + left.min(BLOCK)];
        if h.iter().all(|&b| b == 0) {
            break;
        }
        if h.len() < BLOCK {
            bail!("the tar header at byte {pos} is cut short ({left} of {BLOCK} bytes)");
        }
        check_sum(h).with_context(|| format!("the tar header at byte {pos}"))?;
        let size = match next_size.take() {
            Some(s) => s,
            None => octal(&h[124..136]).with_context(|| format!("the tar header at byte {pos}: its size field"))?,
        };
        let start = pos + BLOCK;
        let end = usize::try_from(size).ok().and_then(|s| start.checked_add(s)).filter(|&e| e <= data.len());
        let name = next_name.take().unwrap_or_else(|| ustar_name(h));
        let end = end.with_context(|| {
            format!("tar member '{name}' declares {size} bytes but the file holds {} after its header (cut short?)", data.len() - start.min(data.len()))
        })?;
        let body = &data[start..end];
        match h[156] {
            b'x' => {
                let (path, size) = pax(body).with_context(|| format!("the PAX header at byte {pos}"))?;
                next_name = path;
                next_size = size;
            }
            b'L' => next_name = Some(cstr(body)),
            b'g' | b'K' => {}
            b'0' | 0 | b'7' => {
                let name = name.trim_start_matches("./").trim_end_matches('/').to_string();
                out.insert(name, start..end);
            }
            _ => {} // directories, links, devices: nothing torch reads
        }
        let padded = end.div_ceil(BLOCK).checked_mul(BLOCK).context("tar member size overflows")?;
        pos = padded.max(start);
    }
    Ok(out)
}

fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&x| x == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn ustar_name(h: &[u8]) -> String {
    let (name, prefix) = (cstr(&h[..100]), cstr(&h[345..500]));
    if &h[257..263] == b"ustar\0" && !prefix.is_empty() {
        format!("{prefix}/{name}")
    } else {
        name
    }
}

/// An octal number field (NUL / space padded), or GNU base-256 (first byte 0x80).
fn octal(f: &[u8]) -> Result<u64> {
    if f[0] == 0x80 {
        return f[1..].iter().try_fold(0u64, |v, &b| v.checked_mul(256).map(|v| v | b as u64)).context("overflows");
    }
    let s = String::from_utf8_lossy(f);
    let s = s.trim_matches(|c: char| c == '\0' || c == ' ');
    if s.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(s, 8).with_context(|| format!("'{s}' is not an octal number"))
}

/// The header's checksum (its bytes summed with the checksum field as spaces; unsigned or,
/// as some old tars wrote it, signed).
fn check_sum(h: &[u8]) -> Result<()> {
    let want = octal(&h[148..156]).context("its checksum field")?;
    let spaces = 8 * b' ' as i64;
    let unsigned: i64 = h.iter().enumerate().filter(|(i, _)| !(148..156).contains(i)).map(|(_, &b)| b as i64).sum::<i64>() + spaces;
    let signed: i64 = h.iter().enumerate().filter(|(i, _)| !(148..156).contains(i)).map(|(_, &b)| b as i8 as i64).sum::<i64>() + spaces;
    if want as i64 != unsigned && want as i64 != signed {
        bail!("bad checksum (not a tar header, or a corrupted file)");
    }
    Ok(())
}

/// `path` and `size` of PAX records `"<len> <key>=<value>\n"`.
fn pax(mut b: &[u8]) -> Result<(Option<String>, Option<u64>)> {
    let (mut path, mut size) = (None, None);
    while !b.is_empty() && b[0] != 0 {
        let sp = b.iter().position(|&x| x == b' ').context("a record without its length")?;
        let len: usize = std::str::from_utf8(&b[..sp]).ok().and_then(|s| s.parse().ok()).context("a record length that is not a number")?;
        if len <= sp + 1 || len > b.len() || b[len - 1] != b'\n' {
            bail!("a record whose length {len} does not fit");
        }
        let rec = String::from_utf8_lossy(&b[sp + 1..len - 1]).into_owned();
        let (k, v) = rec.split_once('=').context("a record without '='")?;
        match k {
            "path" => path = Some(v.to_string()),
            "size" => size = Some(v.parse().with_context(|| format!("size '{v}' is not a number"))?),
            _ => {}
        }
        b = &b[len..];
    }
    Ok((path, size))
}

/// A key of deserialized_objects as Python compares it: an int, or a str (never equal).
fn key(v: &Value) -> Result<String> {
    match v {
        Value::Int(i) => Ok(i.to_string()),
        Value::Str(s) => Ok(format!("str:{s}")),
        other => bail!("a key that is a {}, expected an int", other.kind()),
    }
}

/// The tensor key a main-pickle persistent id names (`int(saved_id)`); `Ok(None)` for a
/// tuple (a module class with its source). Errors: anything `int()` would refuse.
pub(crate) fn persistent_key(p: &Pickle, pid: machine::Id) -> Result<Option<String>> {
    Ok(Some(match p.node(pid) {
        Node::Int(i) => i.to_string(),
        Node::Str(s) => s.trim().parse::<i64>().with_context(|| format!("persistent id '{s}' is not an integer"))?.to_string(),
        Node::Tuple(_) => return Ok(None),
        _ => bail!("a persistent id that is neither an integer nor a tuple"),
    }))
}

/// A pickle of `data[*pos..]`, read by meaning (no persistent ids), `pos` moved past it.
fn plain(data: &[u8], pos: &mut usize, what: &str) -> Result<Value> {
    let p = machine::run(&data[*pos..]).with_context(|| format!("{what} at byte {} (cut short?)", *pos))?;
    *pos += p.len;
    Interp::new(&p, &HashMap::new()).value(p.root, 0).with_context(|| what.to_string())
}

fn count(v: &Value, what: &str) -> Result<usize> {
    let n = v.as_i64().with_context(|| format!("the {what} count"))?;
    usize::try_from(n).ok().with_context(|| format!("a {what} count of {n}"))
}

fn tuple<'v>(v: &'v Value, n: usize, what: &str) -> Result<&'v [Value]> {
    match v {
        Value::Tuple(t) | Value::List(t) if t.len() == n => Ok(t),
        other => bail!("{what}: a {} where torch writes a tuple of {n}", other.kind()),
    }
}

struct Storage<'a> {
    kind: Kind,
    bytes: &'a [u8],
}

/// The `storages` member: each storage a slice of it, and each view a slice of its root.
fn storages(m: &[u8]) -> Result<HashMap<String, Storage<'_>>> {
    let mut pos = 0;
    let n = count(&plain(m, &mut pos, "the storage count")?, "storage")?;
    let mut out = HashMap::new();
    for i in 0..n {
        let rec = plain(m, &mut pos, &format!("storage record {i}"))?;
        let t = tuple(&rec, 3, &format!("storage record {i}"))?;
        let k = key(&t[0]).with_context(|| format!("storage record {i}"))?;
        let kind = match &t[2] {
            Value::Global(_, name) => storage_kind(name).with_context(|| format!("storage {k}"))?,
            other => bail!("storage {k}: its type is a {}, expected a storage class", other.kind()),
        };
        let elt = kind.elt_size_in_bytes() as u64;
        let left = (m.len() - pos) as u64;
        if left < 8 {
            bail!("storage {k}: the member ends before its element count (cut short?)");
        }
        let numel = u64::from_le_bytes(m[pos..pos + 8].try_into().unwrap());
        pos += 8;
        let bytes = numel.checked_mul(elt).filter(|&b| b <= left - 8).with_context(|| {
            format!("storage {k} declares {numel} elements ({elt} bytes each) but its member holds only {} more bytes (cut short?)", left - 8)
        })? as usize;
        out.insert(k, Storage { kind, bytes: &m[pos..pos + bytes] });
        pos += bytes;
    }
    let views = plain(m, &mut pos, "the storage views")?;
    for (i, v) in views.as_list().context("the storage views are not a list")?.iter().enumerate() {
        let t = tuple(v, 4, &format!("storage view {i}"))?;
        let (vk, rk) = (key(&t[0])?, key(&t[1])?);
        let root = out.get(&rk).with_context(|| format!("storage view {vk}: its root storage {rk} is not in the file"))?;
        let (off, n) = (t[2].as_i64()?, t[3].as_i64()?);
        let elt = root.kind.elt_size_in_bytes() as i64;
        let range = off.checked_mul(elt).zip(off.checked_add(n).and_then(|e| e.checked_mul(elt)));
        let Some((a, b)) = range.filter(|&(a, b)| a >= 0 && a <= b && b <= root.bytes.len() as i64) else {
            bail!("storage view {vk}: elements {off}..{off}+{n} lie outside its root storage {rk} of {} elements", root.bytes.len() as i64 / elt);
        };
        let view = Storage { kind: root.kind, bytes: &root.bytes[a as usize..b as usize] };
        out.insert(vk, view);
    }
    Ok(out)
}

struct Record {
    storage: String,
    size: Vec<i64>,
    stride: Vec<i64>,
    offset: i64,
}

/// The `tensors` member: each tensor's storage key and layout, by tensor key.
fn tensor_records(m: &[u8]) -> Result<HashMap<String, Record>> {
    let mut pos = 0;
    let n = count(&plain(m, &mut pos, "the tensor count")?, "tensor")?;
    let mut out = HashMap::new();
    for i in 0..n {
        let rec = plain(m, &mut pos, &format!("tensor record {i}"))?;
        let t = tuple(&rec, 3, &format!("tensor record {i}"))?;
        let (k, storage) = (key(&t[0])?, key(&t[1]).with_context(|| format!("tensor {}: its storage id", t[0].kind()))?);
        let mut take = |n: usize| -> Result<&[u8]> {
            let b = m.get(pos..pos.saturating_add(n)).with_context(|| format!("tensor {k}: the member ends inside its layout (cut short?)"))?;
            pos += n;
            Ok(b)
        };
        let ndim = i32::from_le_bytes(take(4)?.try_into().unwrap());
        take(4)?; // torch: "legacy encoding treated ndim as 8 bytes"
        let ndim = usize::try_from(ndim).ok().with_context(|| format!("tensor {k}: {ndim} dimensions"))?;
        let ints = take(ndim.checked_mul(16).and_then(|b| b.checked_add(8)).context("ndim overflows")?)?;
        let q = |j: usize| i64::from_le_bytes(ints[8 * j..8 * j + 8].try_into().unwrap());
        let size = (0..ndim).map(q).collect();
        let stride = (ndim..2 * ndim).map(q).collect();
        out.insert(k, Record { storage, size, stride, offset: q(2 * ndim) });
    }
    Ok(out)
}

/// The tensor `rec` names, copied out of its storage (contiguous, CPU).
fn build(k: &str, rec: &Record, storages: &HashMap<String, Storage>) -> Result<Tensor> {
    let name = format!("tensor {k}");
    let st = storages.get(&rec.storage).with_context(|| format!("{name}: its storage {} is not in the file", rec.storage))?;
    check_layout(&name, rec.offset, &rec.size, &rec.stride)?;
    let elt = st.kind.elt_size_in_bytes();
    let numel = (st.bytes.len() / elt) as u64;
    let reach = extent(rec.offset, &rec.size, &rec.stride).unwrap_or(u64::MAX);
    if reach > numel {
        bail!("{name}: size {:?}, stride {:?} and offset {} do not fit its storage of {numel} values (a storage shorter than its tensor)", rec.size, rec.stride, rec.offset);
    }
    if rec.size.contains(&0) {
        return Ok(Tensor::f_empty(rec.size.as_slice(), (st.kind, tch::Device::Cpu))?);
    }
    let reach = reach as usize;
    let storage = Tensor::f_from_data_size(&st.bytes[..reach * elt], &[reach as i64], st.kind)?;
    Ok(storage.f_as_strided(rec.size.as_slice(), rec.stride.as_slice(), Some(rec.offset))?.contiguous())
}

/// The root value of a tar-format file (see the module doc). Errors: a member missing or
/// cut short, a record that is not what torch writes, a storage declaring more bytes than
/// its member holds (before any copy), a tensor beyond its storage, a main pickle over
/// `MAX_PICKLE_BYTES`, a persistent id naming no tensor.
pub(crate) fn read_tar(data: &[u8]) -> Result<Value> {
    let members = members(data)?;
    let member = |name: &str| -> Result<&[u8]> {
        let r = members.get(name).with_context(|| format!("the tar archive has no '{name}' member (not a torch.save file, or cut short)"))?;
        Ok(&data[r.clone()])
    };
    if let Some(r) = members.get("sys_info") {
        let info = plain(&data[r.clone()], &mut 0, "the sys_info pickle")?;
        if let Some(Value::Bool(false)) = info.get("little_endian").ok().flatten() {
            bail!("written on a big-endian machine: not read");
        }
    }
    let storages = storages(member("storages")?).context("the 'storages' member")?;
    let records = tensor_records(member("tensors")?).context("the 'tensors' member")?;
    let pkl = member("pickle")?;
    if pkl.len() as u64 > MAX_PICKLE_BYTES {
        bail!("the 'pickle' member is larger than {} MiB: refused (a checkpoint's pickle is a few hundred KiB)", MAX_PICKLE_BYTES >> 20);
    }
    let main = machine::run(pkl).context("the 'pickle' member")?;
    let mut tensors = HashMap::new();
    for n in &main.nodes {
        let Node::Persistent(pid) = n else { continue };
        let Some(k) = persistent_key(&main, *pid)? else { continue };
        if tensors.contains_key(&k) {
            continue;
        }
        match records.get(&k) {
            Some(rec) => tensors.insert(k.clone(), build(&k, rec, &storages)?),
            None if storages.contains_key(&k) => bail!("persistent id {k} names a bare storage, not a tensor: not read"),
            None => bail!("persistent id {k} names no tensor of the 'tensors' member"),
        };
    }
    Interp::new(&main, &HashMap::new()).keyed(&tensors).value(main.root, 0)
}
