//! The data layer: layouts -> splits -> class-balanced sampler -> transforms -> loader.
mod folders;
pub mod decode;
pub mod layout;
pub mod loader;
pub mod pillow;
pub mod resize;
pub mod sampler;
pub mod scan;
pub mod synth;
pub mod transform;

use crate::options::DatasetKind;
use anyhow::{bail, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub path: PathBuf,
    /// Index into the split's `classes`.
    pub label: usize,
}

/// A set of images with labels 0..classes.len().
#[derive(Debug, Clone, Default)]
pub struct Split {
    pub classes: Vec<String>,
    pub items: Vec<Item>,
}

impl Split {
    pub fn len(&self) -> usize {
        self.items.len()
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    pub fn labels(&self) -> Vec<i64> {
        self.items.iter().map(|i| i.label as i64).collect()
    }
    /// Item indices of each class.
    pub fn by_class(&self) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); self.classes.len()];
        for (i, item) in self.items.iter().enumerate() {
            out[item.label].push(i);
        }
        out
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

/// The reason recorded for dot-files and macOS `._*` debris, which are never images.
pub const HIDDEN_FILE: &str = "hidden or macOS metadata file";

impl Skipped {
    pub fn new(path: &Path, reason: &str) -> Self {
        Skipped { path: path.to_path_buf(), reason: reason.to_string() }
    }
    /// A bad image file (counted as a skip), not a hidden file that is always ignored.
    pub fn is_bad_image(&self) -> bool {
        self.reason != HIDDEN_FILE
    }
}

pub fn is_image_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

/// Train / validation / test, class-disjoint between train+val and test.
pub struct DatasetSplits {
    pub train: Split,
    pub val: Option<Split>,
    pub test: Split,
    pub skipped: Vec<Skipped>,
    /// Query/gallery benchmarks (in_shop): per test item, query (true) or gallery (false);
    /// test retrieval metrics are then query -> gallery.
    pub test_is_query: Option<Vec<bool>>,
}

/// What the data layer needs to know of a run: where the dataset is, its layout, and how
/// the validation split is taken. `Default` is the original's (CUB200 under `data/`, a
/// validation split of 15 % held out, as for PADS). config/ builds it from a RunConfig
/// (`From<&RunConfig>`).
#[derive(Debug, Clone, PartialEq)]
pub struct DataOptions {
    /// Dataset layout under `data_root`.
    pub dataset: DatasetKind,
    /// Folder holding the dataset folder (cub200/, ...); for `Folder`, the class folders.
    pub data_root: PathBuf,
    /// `Folder` only: a separate root of test classes.
    pub test_root: Option<PathBuf>,
    /// `Folder` only: share of the classes (the last by name) used for test [0-1].
    pub folder_test_share: f64,
    /// Skip missing, empty, truncated and non-image files (counted) instead of an error.
    pub skip_bad_images: bool,
    /// Hold a validation split out of the training pool (the original: PADS only).
    pub hold_out_val: bool,
    /// Share of the training pool kept for training [0-1].
    pub train_val_split: f64,
    /// Take the validation split as whole classes.
    pub train_val_split_by_class: bool,
    /// Draw the validation split at random with `seed` (pads' opt-in) instead of the
    /// original's evenly spaced images / last classes.
    pub val_split_random: bool,
    /// Seed of the random validation splits (cars196, `val_split_random`).
    pub seed: u64,
}

impl Default for DataOptions {
    fn default() -> Self {
        DataOptions {
            dataset: DatasetKind::Cub200,
            data_root: PathBuf::from("data"),
            test_root: None,
            folder_test_share: 0.5,
            skip_bad_images: false,
            hold_out_val: true,
            train_val_split: 0.85,
            train_val_split_by_class: false,
            val_split_random: false,
            seed: 1,
        }
    }
}

impl From<&DataOptions> for DataOptions {
    fn from(o: &DataOptions) -> Self {
        o.clone()
    }
}

/// Reads the layout and takes the validation split from the training pool, as the original's
/// datasets.py does: only when `hold_out_val` (the original: the PADS sampler only; fixed
/// samplers train on every training image); per class, CUB-layout datasets keep the evenly
/// spaced images (`split_train_val_spaced`) and cars196 random ones (seeded); by class, and
/// always for online_products, the last classes validate. `val_split_random` selects pads'
/// seeded random split (`split_train_val`). Errors: those of `layout::load_layout`, and a
/// share that leaves one side empty (naming --train-val-split).
pub fn load_splits(opts: impl Into<DataOptions>) -> Result<DatasetSplits> {
    let o: DataOptions = opts.into();
    let layout = layout::load_layout(&o)?;
    let (train, val) = if !o.hold_out_val || o.train_val_split >= 1.0 {
        (layout.train, None)
    } else if o.val_split_random {
        split_train_val(&layout.train, o.train_val_split, o.train_val_split_by_class, o.seed)?
    } else {
        let by_class = o.train_val_split_by_class || o.dataset == DatasetKind::OnlineProducts;
        if by_class && !o.train_val_split_by_class {
            tracing::warn!(
                "online_products: the validation split is taken by class (the last {:.0} % of the training classes), as the original does for SOP",
                (1.0 - o.train_val_split) * 100.0
            );
        }
        if !by_class && o.dataset == DatasetKind::Cars196 {
            // The original's cars196 loader draws each class's training images at random.
            split_train_val(&layout.train, o.train_val_split, false, o.seed)?
        } else {
            split_train_val_spaced(&layout.train, o.train_val_split, by_class)?
        }
    };
    Ok(DatasetSplits { train, val, test: layout.test, skipped: layout.skipped, test_is_query: layout.test_is_query })
}

/// The training positions of a class of `n` images under `share`, as the original's CUB
/// loader: the distinct values of round(linspace(0, n - 1, floor(n * share))), rounding
/// half to even as numpy does. At least one image stays in training (the original would
/// leave a class of one image, or a tiny share, with none).
pub fn spaced_train_positions(n: usize, share: f64) -> Vec<usize> {
    let m = ((n as f64) * share).floor() as usize;
    let m = m.max(1).min(n);
    if m == 1 {
        return vec![0];
    }
    let step = (n - 1) as f64 / (m - 1) as f64;
    let mut set = std::collections::BTreeSet::new();
    for i in 0..m {
        let v = if i == m - 1 { (n - 1) as f64 } else { i as f64 * step };
        set.insert(v.round_ties_even() as usize);
    }
    set.into_iter().collect()
}

/// Appends class `class` of `pool` to `split` as its next label, with the items `idx` of `pool`.
fn push_class(split: &mut Split, pool: &Split, class: usize, idx: &[usize]) {
    let label = split.classes.len();
    split.classes.push(pool.classes[class].clone());
    split.items.extend(idx.iter().map(|&i| Item { path: pool.items[i].path.clone(), label }));
}

/// The original's deterministic split. Per class: the images at `spaced_train_positions`
/// (in the layout's sorted order) train, the others validate. By class: the first
/// floor(classes * share) classes train, the remaining (last) classes validate.
/// Errors when by class leaves no class on one side.
pub fn split_train_val_spaced(pool: &Split, share: f64, by_class: bool) -> Result<(Split, Option<Split>)> {
    if share >= 1.0 {
        return Ok((pool.clone(), None));
    }
    let groups = pool.by_class();
    let mut train = Split::default();
    let mut val = Split::default();
    let push = |split: &mut Split, class: usize, idx: &[usize]| push_class(split, pool, class, idx);
    if by_class {
        let n_train = ((groups.len() as f64) * share).floor() as usize;
        if n_train == 0 || n_train == groups.len() {
            bail!(
                "--train-val-split {share} by class leaves {} of {} classes for training; need some on each side",
                n_train,
                groups.len()
            );
        }
        for (c, idx) in groups.iter().enumerate() {
            push(if c < n_train { &mut train } else { &mut val }, c, idx);
        }
    } else {
        for (c, idx) in groups.iter().enumerate() {
            let keep = spaced_train_positions(idx.len(), share);
            let t: Vec<usize> = keep.iter().map(|&k| idx[k]).collect();
            let v: Vec<usize> = (0..idx.len()).filter(|k| keep.binary_search(k).is_err()).map(|k| idx[k]).collect();
            push(&mut train, c, &t);
            if !v.is_empty() {
                push(&mut val, c, &v);
            }
        }
    }
    Ok((train, Some(val)))
}

/// The seeded random split (`--val-split-random`; the original's cars196 per-class split).
/// Per class: `share` of each class's images stays in training (at least one of each side
/// when the class has two or more). By class: `share` of the classes stays in training.
pub fn split_train_val(pool: &Split, share: f64, by_class: bool, seed: u64) -> Result<(Split, Option<Split>)> {
    if share >= 1.0 {
        return Ok((pool.clone(), None));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ SPLIT_SEED_SALT);
    let groups = pool.by_class();
    let mut train = Split::default();
    let mut val = Split::default();
    let push = |split: &mut Split, class: usize, idx: &[usize]| push_class(split, pool, class, idx);
    if by_class {
        let mut order: Vec<usize> = (0..groups.len()).collect();
        order.shuffle(&mut rng);
        let n_train = ((groups.len() as f64) * share).floor() as usize;
        if n_train == 0 || n_train == groups.len() {
            bail!(
                "--train-val-split {share} by class leaves {} of {} classes for training; need some on each side",
                n_train,
                groups.len()
            );
        }
        let mut train_classes = order[..n_train].to_vec();
        let mut val_classes = order[n_train..].to_vec();
        train_classes.sort();
        val_classes.sort();
        for c in train_classes {
            push(&mut train, c, &groups[c]);
        }
        for c in val_classes {
            push(&mut val, c, &groups[c]);
        }
    } else {
        for (c, idx) in groups.iter().enumerate() {
            let mut idx = idx.clone();
            idx.shuffle(&mut rng);
            let mut n_train = ((idx.len() as f64) * share).floor() as usize;
            if idx.len() >= 2 {
                n_train = n_train.clamp(1, idx.len() - 1);
            } else {
                n_train = idx.len();
            }
            let (t, v) = idx.split_at(n_train);
            let (mut t, mut v) = (t.to_vec(), v.to_vec());
            t.sort();
            v.sort();
            push(&mut train, c, &t);
            if !v.is_empty() {
                push(&mut val, c, &v);
            }
        }
    }
    Ok((train, Some(val)))
}

/// Mixed into the split seed so the split and the batch sampler never share a stream.
const SPLIT_SEED_SALT: u64 = 0x5EED_5A17;
