//! Decoding every image of a split up front: `pads data check` and the start of a run find
//! every unreadable image (missing, empty, truncated, corrupt) with its path before any
//! number is computed. With `--skip-bad-images`, a bad image of an evaluation split is
//! dropped from it (never replaced: a stand-in copy of another image would inflate the
//! metrics), and every skip is recorded once.
use super::transform::load_rgb;
use super::{Item, Split};
use anyhow::Result;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// One image pads did not use as it is, and what it did instead.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SkipRecord {
    /// "train", "val", "test", or "layout" (left out while reading the folders / info files).
    pub split: String,
    pub path: PathBuf,
    pub reason: String,
    /// "dropped" (left out of the split) or "replaced" (training: another image of its class).
    pub action: String,
}

/// Items of `split` that do not decode: (index, error), in index order. Decodes on `threads`
/// rayon workers (0 = all cores) and ticks `bar` once per image.
pub fn find_bad_images(split: &Split, threads: usize, bar: &indicatif::ProgressBar) -> Vec<(usize, String)> {
    decode_split(split, threads, bar).0
}

/// As `find_bad_images`, plus the bytes the decoded RGB images take (what
/// `--cache-images` would hold in RAM for this split).
pub fn decode_split(split: &Split, threads: usize, bar: &indicatif::ProgressBar) -> (Vec<(usize, String)>, u64) {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(super::loader::default_threads(threads)).build();
    let run = || -> Vec<(usize, Result<u64, String>)> {
        split
            .items
            .par_iter()
            .enumerate()
            .map(|(i, item)| {
                let r = load_rgb(&item.path).map(|img| img.as_raw().len() as u64).map_err(|e| format!("{e:#}"));
                bar.inc(1);
                (i, r)
            })
            .collect()
    };
    let all = match pool {
        Ok(pool) => pool.install(run),
        Err(_) => run(),
    };
    let bytes = all.iter().filter_map(|(_, r)| r.as_ref().ok()).sum();
    let bad = all.into_iter().filter_map(|(i, r)| r.err().map(|e| (i, e))).collect();
    (bad, bytes)
}

/// `split` without the items at `drop`; classes left empty are removed and the labels
/// renumbered densely (0..classes), keeping the order.
pub fn without_items(split: &Split, drop: &BTreeSet<usize>) -> Split {
    let mut counts = vec![0usize; split.classes.len()];
    for (i, item) in split.items.iter().enumerate() {
        if !drop.contains(&i) {
            counts[item.label] += 1;
        }
    }
    let mut new_label = vec![usize::MAX; split.classes.len()];
    let mut out = Split::default();
    for (c, name) in split.classes.iter().enumerate() {
        if counts[c] > 0 {
            new_label[c] = out.classes.len();
            out.classes.push(name.clone());
        }
    }
    out.items = split
        .items
        .iter()
        .enumerate()
        .filter(|(i, _)| !drop.contains(i))
        .map(|(_, it)| Item { path: it.path.clone(), label: new_label[it.label] })
        .collect();
    out
}

/// Decodes every image of an evaluation split (`name`: "val", "test", or "train" when a
/// whole split is embedded). Bad images are an error listing each path and why, unless
/// `skip_bad`: then they are dropped from the split, each warned once and returned as
/// records. `progress` shows a bar.
pub fn prepare_eval_split(
    split: Split,
    name: &str,
    skip_bad: bool,
    threads: usize,
    progress: &crate::progress::Progress,
) -> Result<(Split, Vec<SkipRecord>)> {
    let bar = progress.bar(split.len() as u64, &format!("checking {name} images"));
    let bad = find_bad_images(&split, threads, &bar);
    bar.finish_and_clear();
    if bad.is_empty() {
        return Ok((split, Vec::new()));
    }
    if !skip_bad {
        let list: Vec<String> = bad.iter().map(|(_, e)| format!("  {e}")).collect();
        anyhow::bail!(
            "{} image(s) of the {name} split do not decode:\n{}\npass --skip-bad-images to leave them out of the {name} split (they are dropped, not replaced)",
            bad.len(),
            list.join("\n")
        );
    }
    let mut records = Vec::new();
    for (i, e) in &bad {
        let path = split.items[*i].path.clone();
        tracing::warn!("dropped from the {name} split: {e}");
        records.push(SkipRecord { split: name.to_string(), path, reason: e.clone(), action: "dropped".into() });
    }
    let drop: BTreeSet<usize> = bad.iter().map(|(i, _)| *i).collect();
    Ok((without_items(&split, &drop), records))
}

/// Writes `skipped_images.csv` (split, action, path, reason) into a run folder.
pub fn write_records(path: &std::path::Path, records: &[SkipRecord]) -> Result<()> {
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\"").replace('\n', " "));
    let mut text = String::from("split,action,path,reason\n");
    for r in records {
        text.push_str(&format!("{},{},{},{}\n", r.split, r.action, q(&r.path.display().to_string()), q(&r.reason)));
    }
    crate::util::write_atomic(path, text.as_bytes())
}

/// The records of a `skipped_images.csv` that `write_records` wrote (quoted fields with
/// `""` for a quote); an unreadable file or a malformed line gives no record for it.
pub fn read_records(path: &std::path::Path) -> Vec<SkipRecord> {
    let Ok(text) = std::fs::read_to_string(path) else { return Vec::new() };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f = csv_fields(line);
            (f.len() == 4).then(|| SkipRecord { split: f[0].clone(), action: f[1].clone(), path: PathBuf::from(&f[2]), reason: f[3].clone() })
        })
        .collect()
}

/// The fields of one CSV line: comma-separated, a field in quotes may hold commas and `""`.
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let (mut quoted, mut chars) = (false, line.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().unwrap().push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(String::new()),
            (c, _) => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

/// The query flags (in_shop) of the items of `original` that are still in `kept` (after bad
/// images were dropped), in `kept`'s order. `flags` is per item of `original`.
pub fn query_flags_after_drop(original: &Split, flags: &[bool], kept: &Split) -> Vec<bool> {
    let by_path: std::collections::HashMap<&std::path::Path, bool> = original.items.iter().zip(flags).map(|(i, &q)| (i.path.as_path(), q)).collect();
    kept.items.iter().map(|i| by_path.get(i.path.as_path()).copied().unwrap_or(false)).collect()
}

/// The test split made ready for evaluation: every image decoded (`prepare_eval_split`: a bad
/// one stops here, or with `skip_bad` is dropped), and the query flags (in_shop) of the
/// items kept. Returns (split, query flags, records of dropped images).
pub fn prepare_test_split(
    test: Split,
    is_query: Option<&[bool]>,
    skip_bad: bool,
    threads: usize,
    progress: &crate::progress::Progress,
) -> Result<(Split, Option<Vec<bool>>, Vec<SkipRecord>)> {
    let original = is_query.map(|_| test.clone());
    let (kept, records) = prepare_eval_split(test, "test", skip_bad, threads, progress)?;
    let flags = match (is_query, &original) {
        (Some(q), Some(o)) => Some(query_flags_after_drop(o, q, &kept)),
        _ => None,
    };
    Ok((kept, flags, records))
}
