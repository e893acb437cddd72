//! Building a `Trainer`: the splits (every evaluation image decoded first), the checks a run
//! makes before its first epoch, the stores, the network, objective, miner and agent, and
//! the run folder.
use super::{planned_policy_updates, TrainOptions, TrainState, Trainer};
use crate::config::RunConfig;
use crate::data::loader::ImageStore;
use crate::data::sampler::ClassBalancedSampler;
use crate::data::scan::{prepare_eval_split, prepare_test_split, SkipRecord};
use crate::data::{load_splits, synth, DataOptions, Split};
use crate::loss::{LossOptions, Objective};
use crate::miners::{miner_rng, Mining};
use crate::model::ModelOptions;
use crate::optim::Adam;
use crate::options::Sampling;
use crate::policy::agent::Agent;
use crate::progress::Progress;
use crate::run::log::RunLog;
use crate::run::RunDir;
use anyhow::{bail, Result};
use std::path::Path;
use std::sync::Arc;

/// Weight init draws from libtorch's global generator: every network is built under this
/// process-wide lock after seeding it, so concurrent trainers (tests, sweeps) stay repeatable.
static INIT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// For `--dataset synthetic`: makes the synthetic set under an existing data root when it is
/// absent, saying so (see `synth::ensure_for_run`); other datasets are never generated.
pub fn ensure_dataset(cfg: &RunConfig) -> Result<()> {
    synth::ensure_for_run(&DataOptions::from(cfg)).map(|_| ())
}

fn store(split: Split, cfg: &RunConfig) -> Arc<ImageStore> {
    Arc::new(ImageStore::new(split, cfg.caches_images(), cfg.skip_bad_images))
}

/// An evaluation split's store: its images were all decoded by `prepare_eval_split` (bad
/// ones dropped or refused), so an image failing later is an error, never a stand-in.
fn eval_store(split: Split, cfg: &RunConfig) -> Arc<ImageStore> {
    Arc::new(ImageStore::new(split, cfg.caches_images(), false))
}

/// Counts of `records` by where they happened, for summary.json.
pub(super) fn skip_counts(records: &[SkipRecord]) -> serde_json::Value {
    let count = |split: &str| records.iter().filter(|r| r.split == split).count();
    serde_json::json!({
        "layout": count("layout"),
        "train_replaced": count("train"),
        "val_dropped": count("val"),
        "test_dropped": count("test"),
        "list": "skipped_images.csv",
    })
}

impl<'a> Trainer<'a> {
    /// A trainer for a run with `cfg` in folder `out` (a new run, or with `opts.resume` the
    /// run there, restored from its last checkpoint). Errors: invalid options, data that a
    /// run would stop on (`check::training_problems`, bad evaluation images), a folder that
    /// cannot be written, a checkpoint that does not match.
    pub fn new(cfg: &'a RunConfig, out: &Path, opts: &TrainOptions) -> Result<Self> {
        cfg.validate()?;
        let device = crate::device::parse_device(&cfg.device)?;
        ensure_dataset(cfg)?;
        let splits = load_splits(cfg)?;
        let split_records = crate::run::splits::records(&splits, &cfg.data_root);
        let mut skips = Vec::new();
        for s in &splits.skipped {
            tracing::warn!("skipped {}: {}", s.path.display(), s.reason);
            if s.is_bad_image() {
                skips.push(SkipRecord { split: "layout".into(), path: s.path.clone(), reason: s.reason.clone(), action: "dropped".into() });
            }
        }
        if cfg.sampling == Sampling::Pads && splits.val.is_none() {
            bail!("--sampling pads needs a validation split for its rewards: set --train-val-split below 1");
        }
        // Every evaluation image is decoded before the first epoch: a bad one stops the run
        // now, or (--skip-bad-images) is dropped from its split, never replaced.
        let early = Progress::new(opts.quiet);
        let val = match splits.val {
            Some(v) => {
                let (v, r) = prepare_eval_split(v, "val", cfg.skip_bad_images, cfg.num_workers, &early)?;
                skips.extend(r);
                Some(v)
            }
            None => None,
        };
        let (test, test_is_query, r) = prepare_test_split(splits.test, splits.test_is_query.as_deref(), cfg.skip_bad_images, cfg.num_workers, &early)?;
        skips.extend(r);
        let (errors, warnings) = super::check::training_problems(cfg, &splits.train, val.as_ref(), &test, test_is_query.as_deref());
        if !errors.is_empty() {
            bail!("{}", errors.join("\n"));
        }
        for w in warnings {
            tracing::warn!("{w}");
        }
        let sampler = ClassBalancedSampler::with_options(&splits.train, cfg.bs, cfg.samples_per_class, cfg.batch_without_replacement)?;
        let n_train_classes = splits.train.classes.len();
        let mut split_sizes = vec![("train", splits.train.len(), n_train_classes)];
        if let Some(v) = &val {
            split_sizes.push(("validation", v.len(), v.classes.len()));
        }
        split_sizes.push(("test", test.len(), test.classes.len()));
        let train_store = store(splits.train, cfg);
        let val_store = val.map(|v| eval_store(v, cfg));
        let test_store = eval_store(test, cfg);

        let init_guard = INIT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        tch::manual_seed(cfg.seed as i64);
        let (model_vs, model) = crate::model::build(&ModelOptions::from(cfg), device)?;
        let objective = Objective::new(&LossOptions::from(cfg), n_train_classes, device);
        let opt_model = Adam::new(&model_vs, cfg.lr, cfg.decay);
        let miner = Mining::new(cfg);
        let agent = (cfg.sampling == Sampling::Pads).then(|| Agent::new(cfg, cfg.recall_ks().len()));
        drop(init_guard);
        if opts.overwrite && !opts.resume {
            crate::run::folder::clear_run_folder(out)?;
        }
        let run = RunDir::create(out)?;
        // What the run trains and tests on (a resumed run checks its data is the same).
        if opts.resume {
            for d in crate::run::splits::check(&run.root, &split_records)? {
                tracing::warn!("--resume {}: {d}", out.display());
            }
        } else {
            crate::run::splits::write(&run.root, &split_records)?;
        }
        let state = TrainState::new(miner_rng(cfg.seed), n_train_classes, cfg);
        let mut t = Trainer {
            cfg,
            device,
            log: RunLog::new(run, cfg),
            train_store,
            val_store,
            test_store,
            test_is_query,
            sampler,
            model_vs,
            model,
            opt_model,
            objective,
            miner,
            agent,
            state,
            progress: Progress::new(opts.quiet),
            skips,
            split_sizes,
            pool: None,
            epoch_policy_grads: Vec::new(),
        };
        if opts.resume {
            t.restore()?;
            t.rescramble_on_resume(t.state.epoch)?;
        }
        Ok(t)
    }

    /// The start-up block (see `report::StartupSummary`).
    pub(super) fn startup_summary(&self, resume: bool) -> String {
        crate::report::StartupSummary {
            cfg: self.cfg,
            run_folder: &self.log.run.root,
            resumed_after: resume.then_some(self.state.epoch),
            splits: &self.split_sizes,
            device: self.device,
            iterations_per_epoch: self.sampler.batches_per_epoch(),
            planned_policy_updates: planned_policy_updates(self.cfg, self.sampler.batches_per_epoch()),
        }
        .text()
    }
}
