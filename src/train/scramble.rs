//! `--policy-scramble-dataloaders`: as the original's `scramble_train_val`, before every
//! epoch whose 0-based index is a positive multiple of `--policy-scramble-freq`, the
//! training and validation images are pooled and the split is drawn again at random:
//! per class floor(n * share) training images (at least one; the others validate), or by
//! class floor(classes * share) training classes. The draw is seeded by (seed, epoch), so
//! the split of any epoch is known without replaying earlier ones: a resumed run re-applies
//! the last one.
use super::Trainer;
use crate::data::loader::ImageStore;
use crate::data::sampler::ClassBalancedSampler;
use crate::data::scan::prepare_eval_split;
use crate::data::{split_train_val, Item, Split};
use crate::options::Sampling;
use anyhow::{bail, Context, Result};
use std::sync::Arc;

/// Stream of the scramble draws (`util::mix`), apart from every other generator of a run.
const SCRAMBLE_STREAM: u64 = 0x5C2A_4B1E;

/// Whether the split is re-drawn before 0-based epoch `epoch0`.
pub fn scrambles_before(cfg: &crate::config::RunConfig, epoch0: usize) -> bool {
    cfg.sampling == Sampling::Pads && cfg.policy_scramble_dataloaders && epoch0 != 0 && epoch0 % cfg.policy_scramble_freq == 0
}

/// The training and validation splits as one pool: the training classes in their order (so
/// a class keeps its label, hence its margin-loss beta), then classes only in validation;
/// each class's images sorted by path.
pub fn pool_of(train: &Split, val: &Split) -> Split {
    let mut pool = Split::default();
    let mut groups: Vec<Vec<std::path::PathBuf>> = Vec::new();
    for split in [train, val] {
        for item in &split.items {
            let name = &split.classes[item.label];
            let c = match pool.classes.iter().position(|n| n == name) {
                Some(c) => c,
                None => {
                    pool.classes.push(name.clone());
                    groups.push(Vec::new());
                    pool.classes.len() - 1
                }
            };
            groups[c].push(item.path.clone());
        }
    }
    for (label, mut paths) in groups.into_iter().enumerate() {
        paths.sort();
        pool.items.extend(paths.into_iter().map(|path| Item { path, label }));
    }
    pool
}

/// The split drawn before epoch `epoch0` from `pool` (seeded by `seed` and the epoch).
pub fn scrambled(pool: &Split, share: f64, by_class: bool, seed: u64, epoch0: usize) -> Result<(Split, Split)> {
    let (train, val) = split_train_val(pool, share, by_class, crate::util::mix(seed, SCRAMBLE_STREAM, epoch0 as u64))?;
    let val = val.context("scramble: no validation split (--train-val-split is 1)")?;
    Ok((train, val))
}

impl Trainer<'_> {
    /// Re-draws the split when `scrambles_before(epoch0)`: new stores and batch sampler
    /// (the validation images are checked as at the start). Errors: a split whose training
    /// classes differ in number, or that the sampler refuses.
    pub(super) fn scramble_before(&mut self, epoch0: usize) -> Result<()> {
        if scrambles_before(self.cfg, epoch0) {
            self.apply_scramble(epoch0).with_context(|| format!("re-drawing the training/validation split before epoch {}", epoch0 + 1))?;
        }
        Ok(())
    }

    /// On resume after `epochs_done` epochs: the split of the last scramble before them.
    pub(super) fn rescramble_on_resume(&mut self, epochs_done: usize) -> Result<()> {
        if let Some(e) = (1..epochs_done).rev().find(|&e| scrambles_before(self.cfg, e)) {
            self.apply_scramble(e)?;
        }
        Ok(())
    }

    fn apply_scramble(&mut self, epoch0: usize) -> Result<()> {
        let cfg = self.cfg;
        let val_store = self.val_store.as_ref().context("no validation split (--train-val-split is 1)")?;
        let pool = self.pool.get_or_insert_with(|| pool_of(&self.train_store.split, &val_store.split)).clone();
        let by_class = cfg.train_val_split_by_class || cfg.dataset == crate::options::DatasetKind::OnlineProducts;
        let (train, val) = scrambled(&pool, cfg.train_val_split, by_class, cfg.seed, epoch0)?;
        if train.classes.len() != self.state.n_train_classes {
            bail!("the new split has {} training classes, the run {}", train.classes.len(), self.state.n_train_classes);
        }
        let (val, records) = prepare_eval_split(val, "val", cfg.skip_bad_images, cfg.num_workers, &self.progress)?;
        self.skips.extend(records);
        self.sampler = ClassBalancedSampler::with_options(&train, cfg.bs, cfg.samples_per_class, cfg.batch_without_replacement)?;
        tracing::info!("split re-drawn before epoch {}: {} training, {} validation images", epoch0 + 1, train.len(), val.len());
        self.train_store = Arc::new(ImageStore::new(train, cfg.caches_images(), cfg.skip_bad_images));
        self.val_store = Some(Arc::new(ImageStore::new(val, cfg.caches_images(), false)));
        Ok(())
    }
}
