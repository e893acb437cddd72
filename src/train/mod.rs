//! Training (layer 4): epochs of class-balanced batches -> embeddings -> miner -> loss ->
//! Adam steps; every `policy_sample_freq` iterations the PADS agent acts; after each epoch
//! the test split is evaluated, metrics.csv is rewritten and the last / best checkpoints
//! are saved. `resume` continues from the last checkpoint exactly.
//!
//! setup.rs builds a `Trainer` (splits, stores, model, objective, miner, agent); epoch.rs
//! runs one epoch and the evaluations; state.rs saves and restores it; check.rs is
//! `pads data check` and the checks a run makes before its first epoch.
pub mod check;
mod epoch;
pub mod scramble;
mod setup;
mod state;

pub use setup::ensure_dataset;
pub use state::TrainState;

use crate::config::RunConfig;
use crate::data::loader::ImageStore;
use crate::data::sampler::ClassBalancedSampler;
use crate::data::scan::{read_records, write_records, SkipRecord};
use crate::eval::Metrics;
use crate::loss::Objective;
use crate::miners::Mining;
use crate::model::EmbeddingNet;
use crate::optim::Adam;
use crate::options::Sampling;
use crate::policy::agent::Agent;
use crate::progress::{fmt_duration, Progress, RunProgress};
use crate::run::log::{grad_cells, unevaluated_row, EpochGrads, RunLog};
use anyhow::{Context, Result};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use tch::{nn, Device};

#[derive(Debug, Clone, Default)]
pub struct TrainOptions {
    /// Continue from the run folder's last checkpoint.
    pub resume: bool,
    /// No progress output.
    pub quiet: bool,
    /// Evaluate the untrained network first (metrics.csv row for epoch 0).
    pub eval_before: bool,
    /// Stop cleanly after this epoch (checkpoint written); `resume` continues the same run.
    pub stop_after_epoch: Option<usize>,
    /// A new run in a folder that holds another run: remove that run's files first
    /// (without it, such a folder is refused; see `run::folder`).
    pub overwrite: bool,
}

#[derive(Debug, Clone)]
pub struct TrainSummary {
    /// Test metrics of the untrained network (with `eval_before`).
    pub before: Option<Metrics>,
    /// Test metrics of the last evaluated epoch (`last_epoch`).
    pub last: Metrics,
    pub last_epoch: usize,
    /// Test metrics of the epoch checkpoint_best holds (`best_epoch`, chosen by the run's
    /// `select_on` rule).
    pub best: Metrics,
    pub best_epoch: usize,
    pub policy_updates: usize,
    pub iterations_per_epoch: usize,
    pub wall_seconds: f64,
}

/// Learning-rate multiplier of 0-based epoch `epoch0`: gamma^(number of `tau` milestones <=
/// epoch0), as torch's MultiStepLR stepped once per epoch in the original main.py; 1 with
/// `--scheduler none` (the original then never steps it).
pub fn lr_factor(cfg: &RunConfig, epoch0: usize) -> f64 {
    if cfg.scheduler == crate::options::Scheduler::None {
        return 1.0;
    }
    cfg.gamma.powi(cfg.tau.iter().filter(|&&t| t <= epoch0).count() as i32)
}

/// PADS policy updates a whole run makes: one per `policy_sample_freq` iterations counted
/// from epoch `policy_training_delay` on (the trainer's `policy_counter`), 0 without PADS.
pub fn planned_policy_updates(cfg: &RunConfig, iterations_per_epoch: usize) -> usize {
    if cfg.sampling != Sampling::Pads || cfg.policy_sample_freq == 0 {
        return 0;
    }
    // `policy::is_policy_step`: after iterations M + 1, 2M + 1, ... of the acting epochs.
    let acting = cfg.n_epochs.saturating_sub(cfg.policy_training_delay) * iterations_per_epoch;
    acting.saturating_sub(1) / cfg.policy_sample_freq
}

/// Trains (or with `opts.resume` continues) the run in `out`. The config is stored with
/// absolute paths. The folder is locked for the whole run (`run::lock`): a second writer is
/// refused, naming this process.
///
/// Errors: another process writes `out` (naming its PID); a new run in a folder holding
/// another run, without `opts.overwrite` (before any work); everything `Trainer::new` and
/// `run` report.
/// Effects: removes (and names) temporary files an interrupted write left; on resume of a
/// finished run to a larger `n_epochs`, removes its summary.json (see `run::resume`).
pub fn train(cfg: &RunConfig, out: &Path, opts: &TrainOptions) -> Result<TrainSummary> {
    let cfg = cfg.with_absolute_paths()?;
    let _lock = crate::run::lock::RunLock::acquire(out, if opts.resume { "pads train --resume" } else { "pads train" })?;
    if opts.resume {
        crate::run::resume::start_extension(out, cfg.n_epochs)?;
    } else {
        crate::run::folder::check_new_run_folder(out, opts.overwrite)?;
    }
    crate::run::folder::remove_leftovers(out)?;
    Trainer::new(&cfg, out, opts)?.run(opts)
}

/// One training run in progress: its data, network, objective, sampler, agent and logs.
pub struct Trainer<'a> {
    cfg: &'a RunConfig,
    device: Device,
    log: RunLog,
    train_store: Arc<ImageStore>,
    val_store: Option<Arc<ImageStore>>,
    test_store: Arc<ImageStore>,
    /// Query/gallery benchmarks (in_shop): which test items are queries.
    test_is_query: Option<Vec<bool>>,
    sampler: ClassBalancedSampler,
    model_vs: nn::VarStore,
    model: EmbeddingNet,
    opt_model: Adam,
    objective: Objective,
    miner: Mining,
    agent: Option<Agent>,
    state: TrainState,
    progress: Progress,
    /// Every image not used as it is (layout skips, dropped evaluation images, replaced
    /// training images): skipped_images.csv, summary.json and report.html.
    skips: Vec<SkipRecord>,
    /// (split, images, classes) for the start-up summary.
    split_sizes: Vec<(&'static str, usize, usize)>,
    /// Training and validation images together, once `--policy-scramble-dataloaders` has
    /// re-drawn the split (scramble.rs).
    pool: Option<crate::data::Split>,
    /// The policy's (L2, max) gradient numbers of this epoch's updates.
    epoch_policy_grads: Vec<(f64, f64)>,
}

impl Trainer<'_> {
    /// Trains from the state reached (epoch 0, or the resumed checkpoint's) to `n_epochs`, or
    /// to `opts.stop_after_epoch`: per epoch the training iterations, then (every
    /// `eval_every` epochs and after the last) the test evaluation; metrics.csv, TensorBoard,
    /// the checkpoints and the plots follow each epoch.
    pub fn run(mut self, opts: &TrainOptions) -> Result<TrainSummary> {
        let cfg = self.cfg;
        let start = Instant::now();
        self.log.start(opts.resume, self.state.epoch, self.state.global_iter as i64)?;
        self.keep_skip_records()?;
        if !opts.quiet {
            self.progress.line(&self.startup_summary(opts.resume));
        }
        let ipe = self.sampler.batches_per_epoch();
        let mut clock = RunProgress::new(self.state.global_iter, cfg.n_epochs * ipe, cfg.bs);
        if opts.eval_before && self.state.epoch == 0 && self.state.before_metrics.is_none() {
            let t0 = Instant::now();
            let m = self.evaluate_test("test (untrained)")?;
            let val_r1 = self.selection_recall1()?;
            let mut row = self.metrics_row(0, f64::NAN, &m, cfg.lr, val_r1);
            row.extend(grad_cells(&EpochGrads::undefined(), self.agent.is_some()));
            if let Some(rows) = &mut self.state.metrics_rows {
                rows.push(row.clone());
            }
            self.log.push_epoch(0, row, t0.elapsed().as_secs_f64())?;
            self.log.scalars("test", 0, &m.named())?;
            self.state.before_metrics = Some(m);
        }
        for epoch0 in self.state.epoch..cfg.n_epochs {
            let t0 = Instant::now();
            self.scramble_before(epoch0)?;
            self.epoch_policy_grads.clear();
            let (loss, model_grads) = self.train_epoch(epoch0, &mut clock)?;
            let grads = EpochGrads::new(model_grads, &self.epoch_policy_grads);
            let step = self.state.global_iter as i64;
            let epoch = epoch0 + 1;
            let evaluate = epoch % cfg.eval_every == 0 || epoch == cfg.n_epochs;
            self.state.epoch = epoch;
            let (mut row, improved) = if evaluate {
                self.evaluate_epoch(epoch, loss, &clock, opts.quiet)?
            } else {
                let with_val = cfg.select_on == crate::options::SelectOn::Val;
                (unevaluated_row(epoch, loss, cfg.recall_ks().len(), self.opt_model.lr, self.objective.beta_mean(), self.policy_updates(), with_val), false)
            };
            row.extend(grad_cells(&grads, self.agent.is_some()));
            let beta_mean = self.objective.beta_mean();
            self.log.scalars("train", step, &[("loss".into(), loss), ("lr".into(), self.opt_model.lr), ("beta_mean".into(), beta_mean)])?;
            self.log.scalars("train", step, &grads.model_scalars())?;
            self.log.scalars("pads", step, &grads.policy_scalars())?;
            self.save_epoch(epoch, row, improved, t0.elapsed().as_secs_f64())?;
            crate::report::after_epoch(&self.log.run, cfg)?;
            if opts.stop_after_epoch == Some(epoch) {
                break;
            }
        }
        let last = self.state.last_metrics.clone().context("no evaluation happened")?;
        if self.state.epoch == cfg.n_epochs {
            let best = self.state.best_metrics.clone().unwrap_or_else(|| last.clone());
            self.log.finish(self.state.best_epoch, &best, self.state.last_epoch, &last, self.policy_updates(), setup::skip_counts(&self.skips))?;
        }
        Ok(TrainSummary {
            before: self.state.before_metrics.clone(),
            best: self.state.best_metrics.clone().unwrap_or_else(|| last.clone()),
            last,
            last_epoch: self.state.last_epoch,
            best_epoch: self.state.best_epoch,
            policy_updates: self.policy_updates(),
            iterations_per_epoch: self.sampler.batches_per_epoch(),
            wall_seconds: start.elapsed().as_secs_f64(),
        })
    }

    /// The end of `epoch`, in this order, so that the logs are never ahead of the checkpoint
    /// (a failed write, e.g. a full disk, stops the run with the folder consistent):
    /// checkpoint_last (holding `row` with the earlier rows), checkpoint_best when the
    /// selection rule `improved` (the same bytes), then metrics.csv and timing.csv.
    fn save_epoch(&mut self, epoch: usize, row: Vec<String>, improved: bool, seconds: f64) -> Result<()> {
        if let Some(rows) = &mut self.state.metrics_rows {
            rows.push(row.clone());
        }
        let bytes = self.checkpoint()?.to_bytes()?;
        crate::util::write_atomic(&self.log.run.last_checkpoint(), &bytes)?;
        if improved {
            crate::util::write_atomic(&self.log.run.best_checkpoint(), &bytes)?;
        }
        self.log.push_epoch(epoch, row, seconds)
    }

    /// The test evaluation after `epoch`: its metrics.csv row and whether the selection rule
    /// improved (checkpoint_best is then written by `save_epoch`), TensorBoard scalars, and
    /// the per-epoch line.
    fn evaluate_epoch(&mut self, epoch: usize, loss: f64, clock: &RunProgress, quiet: bool) -> Result<(Vec<String>, bool)> {
        let step = self.state.global_iter as i64;
        let m = self.evaluate_test("test")?;
        let val_r1 = self.selection_recall1()?;
        let score = val_r1.unwrap_or(m.recall1());
        let row = self.metrics_row(epoch, loss, &m, self.opt_model.lr, val_r1);
        self.log.scalars("test", step, &m.named())?;
        if let Some(v) = val_r1 {
            self.log.scalars("val", step, &[("recall@1".into(), v)])?;
        }
        self.state.last_metrics = Some(m.clone());
        self.state.last_epoch = epoch;
        let improved = score > self.state.best_score;
        if improved {
            self.state.best_score = score;
            self.state.best_epoch = epoch;
            self.state.best_metrics = Some(m.clone());
        }
        if !quiet {
            let summary: Vec<String> = m.named().iter().take(4).map(|(n, v)| format!("{n} {v:.4}")).collect();
            let eta = clock.eta_seconds(self.state.global_iter).map(|s| format!(", run ETA {}", fmt_duration(s))).unwrap_or_default();
            self.progress.line(&format!("epoch {epoch}/{}: loss {loss:.4}, test {}{eta}", self.cfg.n_epochs, summary.join(", ")));
        }
        Ok((row, improved))
    }

    /// skipped_images.csv: this session's records, and on resume the training replacements
    /// found before the interruption.
    fn keep_skip_records(&mut self) -> Result<()> {
        let path = self.log.run.path("skipped_images.csv");
        if self.skips.is_empty() && !path.is_file() {
            return Ok(());
        }
        for r in read_records(&path).into_iter().filter(|r| r.split == "train" && r.action == "replaced") {
            if !self.skips.iter().any(|s| s.path == r.path) {
                self.skips.push(r);
            }
        }
        write_records(&path, &self.skips)
    }

    fn policy_updates(&self) -> usize {
        self.agent.as_ref().map(|a| a.call_count).unwrap_or(0)
    }
}
