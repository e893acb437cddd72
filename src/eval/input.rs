//! Reading user-supplied embeddings and labels (.npy) for `pads metrics` and any caller that
//! evaluates files: every failure names the file and what was expected.
use crate::npy::{read_array, NpyData};
use anyhow::{bail, Context, Result};
use std::path::Path;
use tch::Tensor;

/// Embeddings `[N, D]` from a .npy file (float16/32/64 or integer; kept as float32), read
/// with `npy::read_array` (the header checked against the file's length first).
/// Errors: unreadable file, unsupported or big-endian dtype, a shape the data does not fill,
/// not 2-D, NaN/Inf rows (first row and count named, see `eval::check_finite`).
pub fn read_embeddings(path: &Path) -> Result<Tensor> {
    if let Some(d) = big_endian_descr(path) {
        bail!("{}: expected little-endian float32 ('<f4'), got '{d}' (save it with arr.astype('<f4'))", path.display());
    }
    let a = read_array(path)?;
    if a.shape.len() != 2 {
        bail!("{}: expected a 2-D [N, D] array, got shape {:?}", path.display(), a.shape);
    }
    let values: Vec<f32> = match a.data {
        NpyData::Float(v) => v.into_iter().map(|x| x as f32).collect(),
        NpyData::Int(v) => v.into_iter().map(|x| x as f32).collect(),
    };
    let t = Tensor::from_slice(&values).view([a.shape[0] as i64, a.shape[1] as i64]);
    super::check_finite(&t).with_context(|| format!("{}: embeddings must be finite", path.display()))?;
    Ok(t)
}

/// Integer labels `[N]` (or `[N, 1]`) from a .npy file, read with `npy::read_array`. Every
/// integer width, signed or unsigned, and bool is taken as it is; a float array only when
/// every value is integral (else an error naming the first non-integral value and its
/// index); `expected_rows` (the embeddings' N) must match.
pub fn read_labels(path: &Path, expected_rows: Option<usize>) -> Result<Vec<i64>> {
    if let Some(d) = big_endian_descr(path) {
        bail!("{}: expected little-endian integer labels (e.g. '<i8'), got '{d}' (save them with arr.astype('<i8'))", path.display());
    }
    let a = read_array(path)?;
    let ok_shape = a.shape.len() == 1 || (a.shape.len() == 2 && a.shape[1] == 1);
    if !ok_shape {
        bail!("{}: expected a 1-D [N] array of labels, got shape {:?}", path.display(), a.shape);
    }
    let labels: Vec<i64> = match a.data {
        NpyData::Int(v) => v,
        NpyData::Float(v) => {
            if let Some((i, x)) = v.iter().enumerate().find(|(_, x)| !(x.is_finite() && x.fract() == 0.0 && x.abs() < 9.0e15)) {
                bail!(
                    "{}: labels must be integers; value {x} at index {i} is not (float labels are accepted only when every value is integral, as class ids)",
                    path.display()
                );
            }
            v.into_iter().map(|x| x as i64).collect()
        }
    };
    if let Some(n) = expected_rows {
        if labels.len() != n {
            bail!("{}: {} labels, but the embeddings have {n} rows; expected one label per row", path.display(), labels.len());
        }
    }
    Ok(labels)
}

/// The dtype of a .npy file when it is big-endian (`'>f4'`, `'>i8'`), read from the header;
/// None for anything else (little-endian, unreadable: left to the reader's own errors).
pub fn big_endian_descr(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut head = vec![0u8; 4096];
    let mut f = std::fs::File::open(path).ok()?;
    let n = f.read(&mut head).ok()?;
    head.truncate(n);
    if !head.starts_with(b"\x93NUMPY") {
        return None;
    }
    let text = String::from_utf8_lossy(&head);
    let after = &text[text.find("'descr'")? + "'descr'".len()..];
    let descr = after.split('\'').nth(1)?;
    descr.starts_with('>').then(|| descr.to_string())
}
