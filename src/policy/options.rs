//! `AgentOptions`: everything the PADS agent needs, with the original's names and defaults.
use crate::eval::EvalOptions;
use crate::options::{opt, PolicyMode, StateMetric, WinitType};
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// The agent's options (pads-spec.md section 5). Field names are the original's argparse
/// names; `Default` is the original main.py's values. config/ builds it from a RunConfig;
/// the Python extension deserialises it from keyword arguments (unknown keys refused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentOptions {
    /// Seed of the agent's action draws.
    pub seed: u64,
    /// Recall@k values of the validation metrics (empty: 1, 2, 4, 8).
    pub k_vals: Vec<usize>,
    /// Support points of the miner's distribution (the policy acts on points - 1 bins).
    pub policy_n_support: usize,
    /// Learning rate of the policy (Adam) [per policy update].
    pub policy_lr: f64,
    /// Multipliers of the three actions: reduce, keep, increase.
    pub policy_action_values: Vec<f64>,
    /// Hidden layer widths of the policy network.
    pub policy_size: Vec<usize>,
    /// EMA baseline instead of the A2C value head.
    pub policy_dont_use_a2c: bool,
    /// Smoothing of the EMA baseline [0-1].
    pub policy_baseline_ema_gamma: f64,
    /// Discount w of the A2C target r + w V(s) [0-1].
    pub policy_reward_update_w: f64,
    /// PPO clipping epsilon.
    pub policy_ppo_ratio: f64,
    /// REINFORCE or PPO.
    pub policy_mode: PolicyMode,
    /// PPO: refresh the old policy every this many updates.
    pub policy_old_update_iter: usize,
    /// 0 = NMI, 1 = Recall@1, 2 = their mean.
    pub policy_reward_type: u8,
    /// Validation metrics in the state, in this order.
    pub policy_state_metrics: Vec<StateMetric>,
    /// Past metric vectors in the state.
    pub policy_metric_history: usize,
    /// Windows of the running means in the state.
    pub policy_run_avgs: Vec<usize>,
    /// Past distributions in the state (-1: `policy_metric_history` of them).
    pub policy_parameter_history: i64,
    /// The running-average slots hold the metric vector of w calls ago instead of the mean
    /// over the last w calls (the original's `--policy_run_avgs_no_avg`).
    pub policy_run_avgs_no_avg: bool,
    /// The state metrics computed on the training split enter the state too, after the
    /// validation ones.
    pub policy_include_train_metrics: bool,
    /// Sub-episode reward collection: S > 0 validation rewards inside each policy period,
    /// summed with the final one with discount 0.7 (-1 = off).
    pub policy_sup_metric_collect: i64,
    /// Weight initialisation of the policy's layers.
    pub policy_winit_type: WinitType,
}

impl Default for AgentOptions {
    fn default() -> Self {
        AgentOptions {
            seed: 1,
            k_vals: Vec::new(),
            policy_n_support: 30,
            policy_lr: 0.01,
            policy_action_values: vec![0.5, 1.0, 1.5],
            policy_size: vec![128, 128],
            policy_dont_use_a2c: false,
            policy_baseline_ema_gamma: 0.05,
            policy_reward_update_w: 0.99,
            policy_ppo_ratio: 0.2,
            policy_mode: PolicyMode::Ppo,
            policy_old_update_iter: 3,
            policy_reward_type: 2,
            policy_state_metrics: vec![StateMetric::Recall, StateMetric::Nmi, StateMetric::Dists],
            policy_metric_history: 10,
            policy_run_avgs: vec![2, 8, 16, 32],
            policy_parameter_history: 1,
            policy_run_avgs_no_avg: false,
            policy_include_train_metrics: false,
            policy_sup_metric_collect: -1,
            policy_winit_type: WinitType::None,
        }
    }
}

impl From<&AgentOptions> for AgentOptions {
    fn from(o: &AgentOptions) -> Self {
        o.clone()
    }
}

impl AgentOptions {
    /// The validation Recall@k values: `k_vals` (a repeated k once), else 1, 2, 4, 8.
    pub fn recall_ks(&self) -> Vec<usize> {
        if self.k_vals.is_empty() {
            vec![1, 2, 4, 8]
        } else {
            crate::eval::unique_ks(&self.k_vals)
        }
    }

    /// Past distributions in the state: `policy_parameter_history`, -1 meaning
    /// `policy_metric_history` (the original's StateMaker rule).
    pub fn parameter_history(&self) -> usize {
        if self.policy_parameter_history < 0 {
            self.policy_metric_history
        } else {
            self.policy_parameter_history as usize
        }
    }

    /// Sub-episode collections per policy period (0 when `policy_sup_metric_collect` is off).
    pub fn sup_metric_collect(&self) -> usize {
        self.policy_sup_metric_collect.max(0) as usize
    }

    /// The evaluation options of the validation metrics (before `agent::validation_metrics`
    /// applies its own k-means iterations and leaves mAP@R out).
    pub fn eval_options(&self) -> EvalOptions {
        EvalOptions::new(self.recall_ks())
    }

    /// Range checks; each message names the option (`options::spell`) and what it allows.
    pub fn validate(&self) -> Result<()> {
        // Upper bounds keep a mistyped size an error, not an allocation that aborts.
        const MAX_WIDTH: usize = 65_536;
        const MAX_HISTORY: usize = 10_000;
        for (name, v) in [("policy_lr", self.policy_lr), ("policy_ppo_ratio", self.policy_ppo_ratio)] {
            if !(v > 0.0 && v.is_finite()) {
                bail!("{} must be a positive number, got {v}", opt(name));
            }
        }
        for (name, v) in [("policy_baseline_ema_gamma", self.policy_baseline_ema_gamma), ("policy_reward_update_w", self.policy_reward_update_w)] {
            if !(0.0..=1.0).contains(&v) {
                bail!("{} must be in [0, 1], got {v}", opt(name));
            }
        }
        if self.policy_n_support < 3 {
            bail!("{} must be at least 3 (two bins), got {}", opt("policy_n_support"), self.policy_n_support);
        }
        if self.policy_reward_type > 2 {
            bail!("{} must be 0 (NMI), 1 (Recall@1) or 2 (both), got {}", opt("policy_reward_type"), self.policy_reward_type);
        }
        if self.policy_action_values.len() != 3 || self.policy_action_values.iter().any(|v| !(*v > 0.0)) {
            bail!("{} takes three positive multipliers (reduce, keep, increase), got {:?}", opt("policy_action_values"), self.policy_action_values);
        }
        if self.policy_metric_history == 0 {
            bail!("{} must be at least 1", opt("policy_metric_history"));
        }
        if self.policy_run_avgs.contains(&0) {
            bail!("{} takes windows of at least 1 policy update, got {:?}", opt("policy_run_avgs"), self.policy_run_avgs);
        }
        if self.policy_state_metrics.is_empty() {
            bail!("{} needs at least one of recall, dists, nmi, svd", opt("policy_state_metrics"));
        }
        if self.policy_parameter_history < -1 {
            bail!(
                "{} takes a number of past distributions >= 0, or -1 for {}; got {}",
                opt("policy_parameter_history"),
                opt("policy_metric_history"),
                self.policy_parameter_history
            );
        }
        if self.policy_sup_metric_collect < -1 {
            bail!(
                "{} takes a number of sub-episode collections >= 1, or -1 (or 0) for none; got {}",
                opt("policy_sup_metric_collect"),
                self.policy_sup_metric_collect
            );
        }
        if self.policy_size.is_empty() || self.policy_size.iter().any(|&w| w == 0 || w > MAX_WIDTH) {
            bail!("{} takes one or more layer widths from 1 to {MAX_WIDTH}, got {:?}", opt("policy_size"), self.policy_size);
        }
        for (name, v) in [("policy_metric_history", self.policy_metric_history), ("policy_parameter_history", self.policy_parameter_history.max(0) as usize)] {
            if v > MAX_HISTORY {
                bail!("{} must be at most {MAX_HISTORY} (policy steps kept in the state), got {v}", opt(name));
            }
        }
        if self.policy_old_update_iter == 0 {
            bail!("{} must be at least 1", opt("policy_old_update_iter"));
        }
        if self.k_vals.contains(&0) {
            bail!("{} must be positive", opt("k_vals"));
        }
        Ok(())
    }
}
