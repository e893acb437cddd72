//! The trainer's state and its checkpoints: plain data as JSON in the checkpoint's metadata
//! (`TrainState`), tensors in groups (`model`, `optim_model`, the objective's `beta` and
//! `optim_beta`, the agent's `policy`, `optim_policy`, `policy_old`).
use super::Trainer;
use crate::config::RunConfig;
use crate::eval::Metrics;
use crate::miners::distribution::Distribution;
use crate::options::Arch;
use crate::policy::agent::AgentState;
use crate::run::checkpoint::{load_into_varstore, varstore_tensors, Checkpoint};
use anyhow::{bail, Context, Result};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Plain-data part of a checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainState {
    pub epoch: usize,
    pub global_iter: usize,
    pub policy_counter: usize,
    pub miner_rng: ChaCha8Rng,
    /// The best value so far of the selection metric (`select_on`: test or validation
    /// Recall@1).
    #[serde(alias = "best_recall1")]
    pub best_score: f64,
    pub best_epoch: usize,
    #[serde(default)]
    pub last_epoch: usize,
    pub best_metrics: Option<Metrics>,
    pub last_metrics: Option<Metrics>,
    pub before_metrics: Option<Metrics>,
    pub distribution: Option<Distribution>,
    pub agent: Option<AgentState>,
    pub n_train_classes: usize,
    pub arch: Arch,
    pub embed_dim: usize,
    /// Every metrics.csv row up to this state's epoch, as written: metrics.csv is never ahead
    /// of the checkpoint, and a resume rebuilds a missing or short metrics.csv exactly from
    /// them. None in checkpoints of an older pads.
    #[serde(default)]
    pub metrics_rows: Option<Vec<Vec<String>>>,
}

impl TrainState {
    /// The state of a new run: nothing trained, the miner's generator `miner_rng`.
    pub fn new(miner_rng: ChaCha8Rng, n_train_classes: usize, cfg: &RunConfig) -> Self {
        TrainState {
            epoch: 0,
            global_iter: 0,
            policy_counter: 0,
            miner_rng,
            best_score: f64::NEG_INFINITY,
            best_epoch: 0,
            last_epoch: 0,
            best_metrics: None,
            last_metrics: None,
            before_metrics: None,
            distribution: None,
            agent: None,
            n_train_classes,
            arch: cfg.arch,
            embed_dim: cfg.embed_dim,
            metrics_rows: Some(Vec::new()),
        }
    }
}

impl Trainer<'_> {
    /// Everything needed to continue exactly: the state, the distribution, the agent's
    /// plain state, and every tensor group.
    pub(super) fn checkpoint(&self) -> Result<Checkpoint> {
        let mut state = self.state.clone();
        state.distribution = self.miner.distribution().cloned();
        state.agent = self.agent.as_ref().map(|a| a.snapshot());
        let mut ck = Checkpoint::new(serde_json::to_value(&state)?);
        ck.add_group("model", varstore_tensors(&self.model_vs));
        ck.add_group("optim_model", self.opt_model.state());
        for (name, tensors) in self.objective.checkpoint_groups() {
            ck.add_group(name, tensors);
        }
        if let Some(agent) = &self.agent {
            for (name, tensors) in agent.checkpoint_groups() {
                ck.add_group(name, tensors);
            }
        }
        Ok(ck)
    }

    /// Loads the run folder's last checkpoint into this trainer and cuts the logs back to it.
    /// Errors: no checkpoint, one of another pads version, split or architecture, or one
    /// missing a group.
    pub(super) fn restore(&mut self) -> Result<()> {
        let path = self.log.run.last_checkpoint();
        if !path.is_file() && crate::run::folder::imported_run(&self.log.run.root) {
            bail!(
                "--resume: {} was imported from the original code (`pads import`) and cannot be resumed: the original saves no optimiser, margin-loss or generator state; eval, embed, export, search and compare use it as it is",
                self.log.run.root.display()
            );
        }
        if !path.is_file() {
            bail!(
                "--resume: {} holds no checkpoint ({} is written after each epoch, and this run stopped before its first one ended): start it again with --out {} --overwrite",
                self.log.run.root.display(),
                path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                self.log.run.root.display()
            );
        }
        let ck = Checkpoint::load(&path)?;
        let state: TrainState = serde_json::from_value(ck.state.clone())
            .with_context(|| format!("{}: checkpoint state does not match this pads version", path.display()))?;
        if state.n_train_classes != self.state.n_train_classes || state.arch != self.cfg.arch {
            bail!("{}: checkpoint was made for another dataset split or architecture", path.display());
        }
        let group = |name: &str| Ok(ck.group(name));
        load_into_varstore(&self.model_vs, &ck.group("model"), "model")?;
        self.opt_model.load_state(&ck.group("optim_model"))?;
        self.objective.load_groups(group)?;
        if let (Some(agent), Some(agent_state)) = (&mut self.agent, state.agent.clone()) {
            agent.load_groups(group)?;
            agent.restore(agent_state);
        }
        if let (Some(d), Some(saved)) = (self.miner.distribution_mut(), state.distribution.clone()) {
            *d = saved;
        }
        // The folder's other files must be the ones of this checkpoint: rebuilt when that is
        // exact (said so), else refused, naming the file.
        crate::run::resume::check_run_files(
            &self.log.run,
            self.cfg,
            &crate::run::resume::ResumePoint {
                epoch: state.epoch,
                best_epoch: state.best_epoch,
                policy_calls: state.agent.as_ref().map(|a| a.call_count).unwrap_or(0),
                eval_before: state.before_metrics.is_some(),
                metrics_rows: state.metrics_rows.as_deref(),
            },
        )?;
        // Keep only the log lines the checkpoint has seen.
        self.log.truncate_to(state.epoch, state.agent.as_ref().map(|a| a.call_count).unwrap_or(0))?;
        self.state = state;
        tracing::info!("resumed {} after epoch {}", self.log.run.root.display(), self.state.epoch);
        Ok(())
    }
}
