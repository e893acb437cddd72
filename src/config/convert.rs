//! RunConfig -> each component's own options struct (data, model, loss, miner, agent,
//! evaluation, embedding), and the run-level rules that combine options (which Recall@k,
//! whether a validation split is held out).
use super::RunConfig;
use crate::data::DataOptions;
use crate::eval::EvalOptions;
use crate::loss::LossOptions;
use crate::miners::MinerOptions;
use crate::model::embed::EmbedOptions;
use crate::model::ModelOptions;
use crate::options::{Amp, DatasetKind, Sampling};
use crate::policy::AgentOptions;

/// Whether a run of this config holds out a validation split: PADS (or
/// `--val-split-all-samplers`) with `--train-val-split` below 1.
pub fn takes_val_split(cfg: &RunConfig) -> bool {
    cfg.train_val_split < 1.0 && (cfg.sampling == Sampling::Pads || cfg.val_split_all_samplers)
}

impl RunConfig {
    /// The self-regularisation flags after `policy_no_self_reg`.
    pub fn effective_self_reg(&self) -> (bool, bool, bool) {
        MinerOptions::from(self).effective_self_reg()
    }

    /// The evaluation options of this run's test evaluation (training, `pads eval`):
    /// Recall@`recall_ks`, every metric, and the opt-in departures `kmeans_plusplus` and
    /// `skip_lone_queries`.
    pub fn eval_options(&self) -> EvalOptions {
        let mut opts = EvalOptions::new(self.recall_ks());
        opts.kmeans_plusplus = self.kmeans_plusplus;
        opts.skip_lone_queries = self.skip_lone_queries;
        opts
    }

    /// The Recall@k values of this run: `--k-vals` (a repeated k once), else the dataset's.
    pub fn recall_ks(&self) -> Vec<usize> {
        if !self.k_vals.is_empty() {
            crate::eval::unique_ks(&self.k_vals)
        } else if self.dataset == DatasetKind::OnlineProducts {
            vec![1, 10, 100, 1000]
        } else if self.dataset == DatasetKind::InShop {
            // The In-Shop protocol (query -> gallery), as DML papers report it.
            vec![1, 10, 20, 30, 40, 50]
        } else {
            vec![1, 2, 4, 8]
        }
    }

    /// Whether decoded images stay in RAM: `--cache-images`, and always for the synthetic set.
    pub fn caches_images(&self) -> bool {
        self.cache_images || self.dataset == DatasetKind::Synthetic
    }

    /// Whether this run holds out a validation split (`takes_val_split`).
    pub fn takes_val_split(&self) -> bool {
        takes_val_split(self)
    }
}

impl From<&RunConfig> for DataOptions {
    fn from(c: &RunConfig) -> Self {
        DataOptions {
            dataset: c.dataset,
            data_root: c.data_root.clone(),
            test_root: c.test_root.clone(),
            folder_test_share: c.folder_test_share,
            skip_bad_images: c.skip_bad_images,
            hold_out_val: c.sampling == Sampling::Pads || c.val_split_all_samplers,
            train_val_split: c.train_val_split,
            train_val_split_by_class: c.train_val_split_by_class,
            val_split_random: c.val_split_random,
            seed: c.seed,
        }
    }
}

impl From<&RunConfig> for MinerOptions {
    fn from(c: &RunConfig) -> Self {
        MinerOptions {
            sampling: c.sampling,
            seed: c.seed,
            margin: c.margin,
            semihard_margin: c.semihard_margin,
            policy_n_support: c.policy_n_support,
            policy_support_limit: c.policy_support_limit.clone(),
            policy_init_distr: c.policy_init_distr,
            policy_merge_oobs: c.policy_merge_oobs,
            policy_include_pos: c.policy_include_pos,
            policy_include_same: c.policy_include_same,
            policy_no_self_reg: c.policy_no_self_reg,
        }
    }
}

impl From<&RunConfig> for AgentOptions {
    fn from(c: &RunConfig) -> Self {
        AgentOptions {
            seed: c.seed,
            k_vals: c.recall_ks(),
            policy_n_support: c.policy_n_support,
            policy_lr: c.policy_lr,
            policy_action_values: c.policy_action_values.clone(),
            policy_size: c.policy_size.clone(),
            policy_dont_use_a2c: c.policy_dont_use_a2c,
            policy_baseline_ema_gamma: c.policy_baseline_ema_gamma,
            policy_reward_update_w: c.policy_reward_update_w,
            policy_ppo_ratio: c.policy_ppo_ratio,
            policy_mode: c.policy_mode,
            policy_old_update_iter: c.policy_old_update_iter,
            policy_reward_type: c.policy_reward_type,
            policy_state_metrics: c.policy_state_metrics.clone(),
            policy_metric_history: c.policy_metric_history,
            policy_run_avgs: c.policy_run_avgs.clone(),
            policy_parameter_history: c.policy_parameter_history,
            policy_run_avgs_no_avg: c.policy_run_avgs_no_avg,
            policy_include_train_metrics: c.policy_include_train_metrics,
            policy_sup_metric_collect: c.policy_sup_metric_collect,
            policy_winit_type: c.policy_winit_type,
        }
    }
}

impl From<&RunConfig> for ModelOptions {
    fn from(c: &RunConfig) -> Self {
        ModelOptions { arch: c.arch, embed_dim: c.embed_dim, pretrained: c.pretrained.clone(), not_pretrained: c.not_pretrained, amp_bf16: c.amp == Amp::Bf16 }
    }
}

impl From<&RunConfig> for LossOptions {
    fn from(c: &RunConfig) -> Self {
        LossOptions { loss: c.loss, margin: c.margin, beta: c.beta, beta_lr: c.beta_lr, beta_constant: c.beta_constant }
    }
}

impl From<&RunConfig> for EmbedOptions {
    fn from(c: &RunConfig) -> Self {
        EmbedOptions { image_size: c.image_size, batch_size: c.bs, num_workers: c.num_workers }
    }
}
