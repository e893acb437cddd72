//! Using a trained run (layer 4): one `load_model(run, which)`, then `pads eval` (eval.rs),
//! `pads embed` (embed.rs), `pads search` (search.rs), `pads export` (export.rs) and
//! `pads metrics` on .npy files (metrics.rs). Nothing here depends on the trainer.
pub mod embed;
pub mod eval;
pub mod export;
pub mod identity;
pub mod metrics;
pub mod search;

use crate::config::RunConfig;
use crate::model::{EmbeddingNet, ModelOptions};
use crate::run::checkpoint::{load_into_varstore, Checkpoint};
use crate::run::{CheckpointChoice, RunDir};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use tch::{nn, Device};

/// A run's network loaded from one of its checkpoints, with the run's options.
pub struct LoadedModel {
    pub cfg: RunConfig,
    pub vs: nn::VarStore,
    pub model: EmbeddingNet,
    pub device: Device,
    /// Which checkpoint, its file, and the epoch it holds (None if its state lacks one).
    pub which: CheckpointChoice,
    pub checkpoint: PathBuf,
    pub epoch: Option<usize>,
}

impl LoadedModel {
    /// Which checkpoint and how it was chosen, e.g. "best checkpoint (epoch 7, chosen by
    /// highest test Recall@1)".
    pub fn describe(&self) -> String {
        let epoch = self.epoch.map(|e| format!("epoch {e}, ")).unwrap_or_default();
        match self.which {
            CheckpointChoice::Best => format!("best checkpoint ({epoch}chosen by {})", self.cfg.select_on.rule()),
            CheckpointChoice::Last => format!("last checkpoint ({epoch}the latest epoch)"),
        }
    }
}

/// Reads a run folder's config, with an optional new data root.
/// The data root is found as `run::folder::stored_config` says (an error names --data-root).
pub fn run_config(run: &RunDir, data_root: Option<&Path>) -> Result<RunConfig> {
    crate::run::folder::stored_config(&run.root, data_root)
}

/// The checkpoint `which` asks for; when None, best if the run has one, else last.
pub fn choose_checkpoint(run: &RunDir, which: Option<CheckpointChoice>) -> CheckpointChoice {
    which.unwrap_or(if run.best_checkpoint().is_file() { CheckpointChoice::Best } else { CheckpointChoice::Last })
}

/// The network of run folder `run_dir` from checkpoint `which` (None: best, else last), on
/// `device` (None: the run's `--device`). `data_root` replaces the stored data root (see
/// `run_config`). Errors: not a run folder, that checkpoint missing (named), a checkpoint
/// that does not fit the run's config (named), an unavailable device.
pub fn load_model(run_dir: &Path, which: Option<CheckpointChoice>, data_root: Option<&Path>, device: Option<Device>) -> Result<LoadedModel> {
    #[cfg(feature = "cli")]
    if crate::original::is_original_folder(run_dir) {
        return load_original(run_dir, which, data_root, device);
    }
    let run = RunDir::open(run_dir)?;
    let cfg = run_config(&run, data_root)?;
    let device = match device {
        Some(d) => d,
        None => crate::device::parse_device(&cfg.device)?,
    };
    let which = choose_checkpoint(&run, which);
    let checkpoint = run.checkpoint(which)?;
    let ck = Checkpoint::load(&checkpoint)?;
    let epoch = ck.state.get("epoch").and_then(|e| e.as_u64()).map(|e| e as usize);
    let (vs, model) = crate::model::empty(&ModelOptions::from(&cfg), device);
    load_into_varstore(&vs, &ck.group("model"), "model").with_context(|| format!("{} does not fit the run's config", checkpoint.display()))?;
    Ok(LoadedModel { cfg, vs, model, device, which, checkpoint, epoch })
}

#[cfg(feature = "cli")]
/// `load_model` for a run folder of the original code (crate::original): its only
/// checkpoint, checkpoint_Class.pth.tar, is the best by test Recall@1 (evaluate.py), so
/// `which` must be best or None. The data root may be absent (only `pads eval` needs it,
/// and says so); the device is `device`, else the CPU.
fn load_original(run_dir: &Path, which: Option<CheckpointChoice>, data_root: Option<&Path>, device: Option<Device>) -> Result<LoadedModel> {
    if which == Some(CheckpointChoice::Last) {
        anyhow::bail!("{} is a run folder of the original code, which keeps only its best checkpoint (checkpoint_Class.pth.tar, chosen by test Recall@1): leave out --checkpoint last", run_dir.display());
    }
    let device = device.unwrap_or(Device::Cpu);
    let (got, vs, model, ck) = crate::original::load_model(run_dir, data_root, device)?;
    let checkpoint = run_dir.join(crate::original::CHECKPOINT);
    Ok(LoadedModel { cfg: got.cfg, vs, model, device, which: CheckpointChoice::Best, checkpoint, epoch: ck.epoch.map(|e| e + 1) })
}
