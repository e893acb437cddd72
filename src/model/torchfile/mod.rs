//! Reading whole pickled objects without running code: `torch.save` files in all three
//! formats (the zip format of PyTorch >= 1.6; the older "legacy" format: magic-number pickle,
//! protocol-version pickle, sys-info pickle, the main pickle whose persistent ids name
//! storages, the pickle of the storage keys, then each storage's bytes; and the oldest, a
//! tar archive of PyTorch < 0.1.10, tar.rs), and plain `pickle.dump` files (the original
//! code's `hypa.pkl`). The format is told by content, never by file name.
//!
//! `read_torch_file(path)` gives the root `Value` with every tensor rebuilt; accessors on
//! `Value` (`get`, `req`, `as_dict`, `as_list`, `as_str`, `as_f64`, ...) walk it. What an
//! allow-listed global means is in interpret.rs; any other callable is recorded, never
//! called, and reading the value it would build is an error naming it.
//!
//! Nothing in the file runs, and what a few hostile bytes can make it build is bounded
//! (each limit is an error naming it): a pickle of at most `MAX_PICKLE_BYTES`; at most
//! `MAX_VALUES` values built, memo copies included; nesting at most `MAX_DEPTH`; a
//! tensor's strides must not overlap or be 0 on a dimension of size > 1, and must fit its
//! storage; a compressed zip storage may hold no more bytes than its tensors need; a
//! pre-1.6 or tar storage no more than the file (its member) holds (checked before anything
//! is allocated).
mod interpret;
mod literal;
mod machine;
mod storage;
mod tar;
mod value;

pub use interpret::MAX_DEPTH;
pub use machine::{MAX_PICKLE_BYTES, MAX_VALUES};
pub use value::{refuse_call, ArrayData, NdArray, Object, Value};

use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The magic number the pre-1.6 format starts with (torch/serialization.py MAGIC_NUMBER).
pub const LEGACY_MAGIC: u128 = 0x1950A86A20F9469CFC6C;
/// The protocol version the pre-1.6 format writes second (PROTOCOL_VERSION).
pub const LEGACY_PROTOCOL_VERSION: i64 = 1001;

/// How a file was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `torch.save` of PyTorch >= 1.6: a zip of `data.pkl` and `data/<key>` storages.
    Zip,
    /// `torch.save` before PyTorch 1.6, or with `_use_new_zipfile_serialization=False`.
    Legacy,
    /// `torch.save` before PyTorch 0.1.10: a tar of `sys_info`, `pickle`, `tensors`, `storages`.
    Tar,
    /// A plain pickle (`pickle.dump`), without tensors.
    Pickle,
}

impl Format {
    pub fn describe(self) -> &'static str {
        match self {
            Format::Zip => "torch.save zip format (PyTorch >= 1.6)",
            Format::Legacy => "torch.save legacy format (PyTorch < 1.6)",
            Format::Tar => "torch.save tar format (PyTorch < 0.1.10)",
            Format::Pickle => "plain pickle",
        }
    }
}

/// A file read whole: its root value, tensors rebuilt on the CPU.
#[derive(Debug)]
pub struct TorchFile {
    pub path: PathBuf,
    pub format: Format,
    pub root: Value,
}

/// The format of the file's bytes: zip (`PK\x03\x04`), tar (`ustar` at byte 257: torch.save
/// before 0.1.10), pre-1.6 torch (a pickle of the magic number first), or a plain pickle
/// (protocol 2-5 header `\x80`, or protocol 0/1). Errors: anything else.
pub fn sniff(head: &[u8]) -> Result<Format> {
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Ok(Format::Zip);
    }
    if head.len() > 262 && &head[257..262] == b"ustar" {
        return Ok(Format::Tar);
    }
    let magic = LEGACY_MAGIC.to_le_bytes();
    if head.len() >= 14 && head[0] == 0x80 && head[2] == 0x8a && head[3] == 10 && head[4..14] == magic[..10] {
        return Ok(Format::Legacy);
    }
    // Protocol 0/1 spell the magic number as a LONG line.
    if head.starts_with(b"L") && head.starts_with(format!("L{LEGACY_MAGIC}").as_bytes()) {
        return Ok(Format::Legacy);
    }
    match head.first() {
        Some(0x80) | Some(b'(') | Some(b'}') | Some(b']') | Some(b'c') => Ok(Format::Pickle),
        _ => bail!("neither a torch.save file (zip or pre-1.6) nor a pickle"),
    }
}

/// Reads `path` whole (see the module doc): zip, pre-1.6, tar or plain pickle, told by
/// content. Errors name the file: unreadable or malformed bytes, a limit exceeded, a storage
/// shorter than its tensor, a pre-1.6 or tar file cut short.
pub fn read_torch_file(path: &Path) -> Result<TorchFile> {
    let ctx = || path.display().to_string();
    let mut file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut head = Vec::new();
    (&mut file).take(512).read_to_end(&mut head).with_context(ctx)?;
    let format = sniff(&head).with_context(ctx)?;
    let root = match format {
        Format::Zip => read_zip(std::fs::File::open(path).with_context(ctx)?),
        Format::Legacy => read_legacy(&std::fs::read(path).with_context(ctx)?),
        Format::Tar => tar::read_tar(&std::fs::read(path).with_context(ctx)?).context("a torch.save tar archive (PyTorch < 0.1.10)"),
        Format::Pickle => {
            let len = std::fs::metadata(path).with_context(ctx)?.len();
            if len > MAX_PICKLE_BYTES {
                bail!("{}: a pickle of {len} bytes, larger than {} MiB: refused", path.display(), MAX_PICKLE_BYTES >> 20);
            }
            read_pickle(&std::fs::read(path).with_context(ctx)?)
        }
    }
    .with_context(ctx)?;
    Ok(TorchFile { path: path.to_path_buf(), format, root })
}

/// A plain pickle's value (no persistent ids allowed).
pub fn read_pickle(data: &[u8]) -> Result<Value> {
    let p = machine::run(data)?;
    if p.len < data.len() {
        tracing::warn!("{} bytes after the pickle's end are ignored", data.len() - p.len);
    }
    interpret::Interp::new(&p, &HashMap::new()).value(p.root, 0)
}

fn read_zip(file: std::fs::File) -> Result<Value> {
    let mut zip = zip::ZipArchive::new(file).context("not a readable zip archive")?;
    let names: Vec<String> = zip.file_names().map(String::from).collect();
    let pkl_name = names.iter().find(|n| n.ends_with("data.pkl")).context("archive has no data.pkl")?.clone();
    let prefix = pkl_name.trim_end_matches("data.pkl").to_string();
    let mut pkl = Vec::new();
    zip.by_name(&pkl_name)?.take(MAX_PICKLE_BYTES + 1).read_to_end(&mut pkl)?;
    if pkl.len() as u64 > MAX_PICKLE_BYTES {
        bail!("{pkl_name} is larger than {} MiB: refused (a checkpoint's pickle is a few hundred KiB)", MAX_PICKLE_BYTES >> 20);
    }
    let p = machine::run(&pkl).with_context(|| pkl_name.clone())?;
    let storages = storage::read_zip_storages(&mut zip, &prefix, &storage::needs(&p))?;
    interpret::Interp::new(&p, &storages).value(p.root, 0)
}

/// The pre-1.6 layout, as torch/serialization.py `_legacy_save` writes it.
fn read_legacy(data: &[u8]) -> Result<Value> {
    let mut pos = 0;
    let mut next = |what: &str| -> Result<machine::Pickle> {
        let p = machine::run(&data[pos..]).with_context(|| format!("the {what} pickle at byte {pos} (file cut short?)"))?;
        pos += p.len;
        Ok(p)
    };
    let magic = next("magic-number")?;
    let want = LEGACY_MAGIC.to_le_bytes();
    let ok = match magic.node(magic.root) {
        machine::Node::BigInt(b) => b.len() >= 10 && b[..10] == want[..10] && b[10..].iter().all(|&x| x == 0),
        _ => false,
    };
    if !ok {
        bail!("invalid magic number: not a torch.save file");
    }
    let version = next("protocol-version")?;
    if !matches!(version.node(version.root), machine::Node::Int(LEGACY_PROTOCOL_VERSION)) {
        bail!("protocol version is not {LEGACY_PROTOCOL_VERSION}: not read");
    }
    let info = next("system-info")?;
    let info = read_plain(&info)?;
    if let Some(Value::Bool(false)) = info.get("little_endian").ok().flatten() {
        bail!("written on a big-endian machine: not read");
    }
    let main = next("main")?;
    let keys = next("storage-keys")?;
    let keys = read_plain(&keys)?
        .as_list()
        .context("the storage keys are not a list")?
        .iter()
        .map(|k| k.as_str().map(String::from).or_else(|_| k.as_i64().map(|i| i.to_string())))
        .collect::<Result<Vec<_>>>()?;
    // Every storage the main pickle names (a view counts on its root storage).
    let mut refs = HashMap::new();
    for n in &main.nodes {
        if let machine::Node::Persistent(pid) = n {
            // Other persistent ids (a whole module's source) are an error only when read.
            if let Ok(r) = storage::storage_ref(&main, *pid) {
                refs.insert(r.key.clone(), r);
            }
        }
    }
    let storages = storage::read_legacy_storages(data, pos, &keys, &refs)?;
    interpret::Interp::new(&main, &storages).value(main.root, 0)
}

fn read_plain(p: &machine::Pickle) -> Result<Value> {
    interpret::Interp::new(p, &HashMap::new()).value(p.root, 0)
}

impl TorchFile {
    /// The root's entry `key` (a dict key or an object field); `Ok(None)` when absent.
    /// Errors name the file: the root is neither, or the entry needs a non-allowed callable.
    pub fn get(&self, key: &str) -> Result<Option<&Value>> {
        self.root.get(key).with_context(|| self.path.display().to_string())
    }

    /// The root's entry `key`; missing is an error naming the file and the keys present.
    pub fn req(&self, key: &str) -> Result<&Value> {
        self.root.req(key).with_context(|| self.path.display().to_string())
    }
}
