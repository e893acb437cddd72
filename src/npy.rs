//! Reading a 2-D float `.npy` matrix row block by row block, so a gallery larger than memory
//! can be searched (`pads search`). Format: numpy's NEP 1 (magic `\x93NUMPY`, version 1-3,
//! a header dict with `descr`, `fortran_order`, `shape`), C order, little-endian float32
//! (`<f4`) or float64 (`<f8`, converted to float32).
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
        let shape_text = header_value(&header, "shape")
            .and_then(|v| v.strip_prefix('('))
            .and_then(|v| v.split(')').next())
            .with_context(|| format!("{}: .npy header has no shape", path.display()))?;
        let shape: Vec<usize> = shape_text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<usize>())
            .collect::<std::result::Result<_, _>>()
            .with_context(|| format!("{}: unreadable shape ({shape_text})", path.display()))?;
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
