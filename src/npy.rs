//! Reading `.npy` files (numpy's NEP 1: magic `\x93NUMPY`, version 1-3, a header dict with
//! `descr`, `fortran_order`, `shape`), always checked against the file's length before any
//! data is read or allocated: `read_array` reads a whole array of any real dtype (float16/32/
//! 64, signed and unsigned integers, bool), `NpyRows` a 2-D float matrix row block by row
//! block, so a gallery larger than memory can be searched (`pads search`).
use anyhow::{bail, Context, Result};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// An open `[rows, cols]` matrix positioned at its next unread row.
pub struct NpyRows {
    path: PathBuf,
    reader: BufReader<std::fs::File>,
    pub rows: usize,
    pub cols: usize,
    f64_data: bool,
    read: usize,
    bytes: Vec<u8>,
}

fn header_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let i = header.find(&format!("'{key}'"))?;
    let rest = header[i + key.len() + 2..].trim_start().strip_prefix(':')?.trim_start();
    Some(rest)
}

/// The `shape` tuple of a .npy header. Errors name the file.
fn header_shape(header: &str, path: &Path) -> Result<Vec<usize>> {
    let shape_text = header_value(header, "shape")
        .and_then(|v| v.strip_prefix('('))
        .and_then(|v| v.split(')').next())
        .with_context(|| format!("{}: .npy header has no shape", path.display()))?;
    shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .with_context(|| format!("{}: unreadable shape ({shape_text})", path.display()))
}

impl NpyRows {
    /// Opens `path` and checks its header. Errors name the file and what was expected
    /// (a 2-D little-endian float32/float64 array in C order).
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut magic = [0u8; 8];
        reader.read_exact(&mut magic).with_context(|| format!("{}: not a .npy file (too short)", path.display()))?;
        if &magic[..6] != b"\x93NUMPY" {
            bail!("{}: not a .npy file (bad magic)", path.display());
        }
        let header_len = match magic[6] {
            1 => {
                let mut b = [0u8; 2];
                reader.read_exact(&mut b)?;
                u16::from_le_bytes(b) as usize
            }
            2 | 3 => {
                let mut b = [0u8; 4];
                reader.read_exact(&mut b)?;
                u32::from_le_bytes(b) as usize
            }
            v => bail!("{}: unsupported .npy version {v}", path.display()),
        };
        let mut header = vec![0u8; header_len];
        reader.read_exact(&mut header).with_context(|| format!("{}: truncated .npy header", path.display()))?;
        let header = String::from_utf8_lossy(&header).into_owned();
        let descr = header_value(&header, "descr").and_then(|v| v.split('\'').nth(1)).unwrap_or("");
        let f64_data = match descr {
            "<f4" => false,
            "<f8" => true,
            d => bail!("{}: expected float32 embeddings (dtype <f4 or <f8), got dtype {d:?}", path.display()),
        };
        if header_value(&header, "fortran_order").is_some_and(|v| v.starts_with("True")) {
            bail!("{}: Fortran-ordered array; save it with np.ascontiguousarray first", path.display());
        }
        let shape = header_shape(&header, path)?;
        if shape.len() != 2 || shape[1] == 0 {
            bail!("{}: expected a 2-D [N, D] array, got shape {shape:?}", path.display());
        }
        let elt = if f64_data { 8 } else { 4 };
        let data_start = 8 + if magic[6] == 1 { 2 } else { 4 } + header_len;
        let expected = data_start as u64 + (shape[0] * shape[1] * elt) as u64;
        let actual = std::fs::metadata(path)?.len();
        if actual < expected {
            bail!("{}: truncated: {} bytes for shape {:?}, expected {expected}", path.display(), actual, shape);
        }
        Ok(NpyRows { path: path.to_path_buf(), reader, rows: shape[0], cols: shape[1], f64_data, read: 0, bytes: Vec::new() })
    }

    /// Reads up to `max_rows` next rows into `out` (row-major float32, resized); returns
    /// the number of rows read, 0 at the end.
    pub fn next_rows(&mut self, max_rows: usize, out: &mut Vec<f32>) -> Result<usize> {
        let n = max_rows.min(self.rows - self.read);
        let elt = if self.f64_data { 8 } else { 4 };
        self.bytes.resize(n * self.cols * elt, 0);
        self.reader.read_exact(&mut self.bytes).with_context(|| format!("{}: read failed", self.path.display()))?;
        out.clear();
        if self.f64_data {
            out.extend(self.bytes.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as f32));
        } else {
            out.extend(self.bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap_or([0; 4]))));
        }
        self.read += n;
        Ok(n)
    }
}

/// A whole .npy array: its shape and its values, as f64 (float dtypes) or i64 (integer and
/// bool dtypes).
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    /// The dtype as the header writes it (`<f4`, `|u1`, ...).
    pub descr: String,
    pub data: NpyData,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NpyData {
    Float(Vec<f64>),
    Int(Vec<i64>),
}

/// The element size and kind of a little-endian (or byte-sized) real dtype; None otherwise.
fn dtype(descr: &str) -> Option<(usize, char)> {
    let (order, rest) = descr.split_at(descr.len().min(1));
    if !matches!(order, "<" | "|" | "=") {
        return None;
    }
    let (kind, size) = rest.split_at(rest.len().min(1));
    let size: usize = size.parse().ok()?;
    match (kind, size) {
        ("f", 2 | 4 | 8) | ("i", 1 | 2 | 4 | 8) | ("u", 1 | 2 | 4 | 8) | ("b", 1) => Some((size, kind.chars().next()?)),
        _ => None,
    }
}

/// Reads the whole array in `path`. The header's shape times the element size must equal
/// the bytes after the header, checked before the data is read, so a header that claims more
/// than the file holds is an error, never a read past the end or a large allocation.
/// Errors (each naming the file): not a .npy file, an unsupported or big-endian dtype (the
/// dtype named), Fortran order with more than one dimension, a length that does not match
/// the shape, an unsigned value above the largest i64.
pub fn read_array(path: &Path) -> Result<NpyArray> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        bail!("{}: not a .npy file (no \\x93NUMPY magic)", path.display());
    }
    let (len_bytes, header_len) = match bytes[6] {
        1 => (2, u16::from_le_bytes([bytes[8], bytes[9]]) as usize),
        2 | 3 if bytes.len() >= 12 => (4, u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize),
        v => bail!("{}: unsupported .npy version {v}", path.display()),
    };
    let data_start = 8 + len_bytes + header_len;
    if bytes.len() < data_start {
        bail!("{}: truncated .npy header", path.display());
    }
    let header = String::from_utf8_lossy(&bytes[8 + len_bytes..data_start]).into_owned();
    let descr = header_value(&header, "descr").and_then(|v| v.split('\'').nth(1)).unwrap_or("").to_string();
    let Some((size, kind)) = dtype(&descr) else {
        bail!("{}: dtype '{descr}' is not supported; expected little-endian float16/32/64, integers or bool", path.display());
    };
    let shape = header_shape(&header, path)?;
    if shape.len() > 1 && header_value(&header, "fortran_order").is_some_and(|v| v.starts_with("True")) {
        bail!("{}: Fortran-ordered array; save it with np.ascontiguousarray first", path.display());
    }
    let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let need = count.and_then(|c| c.checked_mul(size));
    let have = bytes.len() - data_start;
    if need != Some(have) {
        bail!(
            "{}: the header's shape {shape:?} of '{descr}' needs {} bytes of data, the file holds {have}: truncated or not written by numpy",
            path.display(),
            need.map_or("more than 2^64".to_string(), |n| n.to_string())
        );
    }
    let raw = &bytes[data_start..];
    let data = match (kind, size) {
        ('f', 2) => NpyData::Float(raw.chunks_exact(2).map(|b| half_to_f64(u16::from_le_bytes([b[0], b[1]]))).collect()),
        ('f', 4) => NpyData::Float(raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64).collect()),
        ('f', _) => NpyData::Float(raw.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8]))).collect()),
        ('i', 1) => NpyData::Int(raw.iter().map(|&b| b as i8 as i64).collect()),
        ('i', 2) => NpyData::Int(raw.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]]) as i64).collect()),
        ('i', 4) => NpyData::Int(raw.chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64).collect()),
        ('i', _) => NpyData::Int(raw.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8]))).collect()),
        ('u', 1) | ('b', _) => NpyData::Int(raw.iter().map(|&b| b as i64).collect()),
        ('u', 2) => NpyData::Int(raw.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]]) as i64).collect()),
        ('u', 4) => NpyData::Int(raw.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64).collect()),
        _ => {
            let mut v = Vec::with_capacity(raw.len() / 8);
            for (i, b) in raw.chunks_exact(8).enumerate() {
                let x = u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
                let x = i64::try_from(x).map_err(|_| anyhow::anyhow!("{}: value {x} at index {i} does not fit a signed 64-bit integer", path.display()))?;
                v.push(x);
            }
            NpyData::Int(v)
        }
    };
    Ok(NpyArray { shape, descr, data })
}

/// IEEE 754 half precision to f64.
fn half_to_f64(h: u16) -> f64 {
    let sign = if h >> 15 == 1 { -1.0 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let frac = (h & 0x3ff) as f64;
    match exp {
        0 => sign * frac * 2f64.powi(-24),
        31 if frac == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        e => sign * (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
    }
}
