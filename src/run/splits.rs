//! What a run trained and tested on: per split the class names, the image count and a cheap
//! fingerprint of its files (splits.json in the run folder, written when a run starts). `pads
//! eval`, `pads embed --split` and `--resume` load the splits again and compare: a class
//! deleted from the data (which on CUB moves a training class into test), other files, or
//! another copy of the data is announced with what differs, never used without a word.
use crate::data::{DatasetSplits, Split};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// File name in the run folder.
pub const FILE: &str = "splits.json";

/// One split as a run saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitRecord {
    pub name: String,
    pub classes: Vec<String>,
    pub images: usize,
    /// CRC-32C over each image's path below the data root, label and file size, in order.
    pub fingerprint: String,
}

/// The record of `split` (paths taken relative to `root`, so a moved copy of the same data
/// has the same fingerprint).
pub fn record(name: &str, split: &Split, root: &Path) -> SplitRecord {
    let mut crc = 0u32;
    for item in &split.items {
        let rel = item.path.strip_prefix(root).unwrap_or(&item.path);
        let size = std::fs::metadata(&item.path).map(|m| m.len()).unwrap_or(u64::MAX);
        crc = crc32c::crc32c_append(crc, rel.as_os_str().as_encoded_bytes());
        crc = crc32c::crc32c_append(crc, &(item.label as u64).to_le_bytes());
        crc = crc32c::crc32c_append(crc, &size.to_le_bytes());
    }
    SplitRecord { name: name.to_string(), classes: split.classes.clone(), images: split.len(), fingerprint: format!("{crc:08x}") }
}

/// The records of a run's train, val (if any) and test splits as the layout gives them.
pub fn records(splits: &DatasetSplits, root: &Path) -> Vec<SplitRecord> {
    let mut out = vec![record("train", &splits.train, root)];
    if let Some(v) = &splits.val {
        out.push(record("val", v, root));
    }
    out.push(record("test", &splits.test, root));
    out
}

/// Writes `records` as `run_dir/splits.json`.
pub fn write(run_dir: &Path, records: &[SplitRecord]) -> Result<()> {
    crate::util::write_atomic(&run_dir.join(FILE), (serde_json::to_string_pretty(records)? + "\n").as_bytes())
}

/// The records stored in `run_dir` (None for a run made before pads wrote them).
pub fn read(run_dir: &Path) -> Result<Option<Vec<SplitRecord>>> {
    let path = run_dir.join(FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).map(Some).with_context(|| format!("{} is not the split record pads writes", path.display()))
}

/// What differs between the stored and the current record of each split both name, one
/// line per split (empty: the same data).
pub fn differences(stored: &[SplitRecord], now: &[SplitRecord]) -> Vec<String> {
    let mut out = Vec::new();
    for new in now {
        let Some(old) = stored.iter().find(|o| o.name == new.name) else { continue };
        if old == new {
            continue;
        }
        let mut parts = Vec::new();
        let gone: Vec<&String> = old.classes.iter().filter(|c| !new.classes.contains(c)).collect();
        let added: Vec<&String> = new.classes.iter().filter(|c| !old.classes.contains(c)).collect();
        let list = |v: &[&String]| {
            let shown: Vec<&str> = v.iter().take(5).map(|s| s.as_str()).collect();
            format!("{}{}", shown.join(", "), if v.len() > 5 { format!(" and {} more", v.len() - 5) } else { String::new() })
        };
        if !gone.is_empty() {
            parts.push(format!("{} class(es) gone ({})", gone.len(), list(&gone)));
        }
        if !added.is_empty() {
            parts.push(format!("{} class(es) new ({})", added.len(), list(&added)));
        }
        if old.images != new.images {
            parts.push(format!("{} images, the run had {}", new.images, old.images));
        }
        if parts.is_empty() {
            parts.push("the same classes and image count, but other files (names or sizes)".to_string());
        }
        out.push(format!("{} split differs from the run's: {}", new.name, parts.join("; ")));
    }
    out
}

/// Compares the records of the splits now loaded (`now`: those the caller uses) with the
/// run's and returns the lines to warn (nothing for a run without a record).
pub fn check(run_dir: &Path, now: &[SplitRecord]) -> Result<Vec<String>> {
    let Some(stored) = read(run_dir)? else { return Ok(Vec::new()) };
    Ok(differences(&stored, now))
}
