//! RunConfig (layer 3): every option of a run, with the original's names and defaults
//! (pads-spec.md).
//!
//! One struct serves three roles: the clap flags of `pads train` (field `policy_sample_freq`
//! is `--policy-sample-freq`), the TOML written next to every run, and the source of each
//! component's own options struct (convert.rs). Each field's doc comment is its `--help`
//! text and its documentation: one place describes each option.
//! Precedence: defaults < `--preset` < `--config FILE.toml` < flags given on the command line
//! (layering.rs). presets.rs: the original sample runs; validate.rs: range checks;
//! cli.rs and help.rs: the clap command and its `--help` layout, only with the `cli` feature
//! (on by default; the Python extension builds the library without it, so no clap there).
#[cfg(feature = "cli")]
pub mod cli;
mod convert;
#[cfg(feature = "cli")]
pub mod help;
mod layering;
#[cfg(feature = "cli")]
pub mod namespace;
pub mod original;
#[cfg(feature = "cli")]
pub use layering::origins;
pub use layering::annotated_toml;
mod presets;
mod validate;

#[cfg(feature = "cli")]
pub use cli::{allow_negative_numbers, run_config_command};
pub use convert::takes_val_split;

use crate::options::{Amp, Arch, DatasetKind, InitDistr, LossKind, PolicyMode, Sampling, Scheduler, SelectOn, StateMetric, WinitType};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Every option of a run. Defaults are the original's (pads-spec.md), except where a
/// comment says why pads differs.
/// Every key is optional in TOML (`#[serde(default)]`): a missing key takes the default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    // ---- data ----
    /// Dataset layout under --data-root: cub200, cars196, online_products (the paper's), in_shop
    /// (query/gallery), folder (<root>/<class>/<image>), synthetic (pads synth)
    #[cfg_attr(feature = "cli", arg(help_heading = help::DATA, long, value_enum, default_value_t = RunConfig::default().dataset))]
    pub dataset: DatasetKind,
    /// Folder holding the dataset folder (cub200/, cars196/, online_products/, in_shop/,
    /// synthetic/); for folder, the class folders [path]
    #[cfg_attr(feature = "cli", arg(help_heading = help::DATA, long, default_value_os_t = RunConfig::default().data_root))]
    pub data_root: PathBuf,
    /// folder layout only: a separate folder of test classes [path; unset: split by
    /// --folder-test-share]
    #[cfg_attr(feature = "cli", arg(help_heading = help::DATA, long))]
    pub test_root: Option<PathBuf>,
    /// folder layout only: share of the classes (the last by name) used for test [fraction, 0-1]
    #[cfg_attr(feature = "cli", arg(help_heading = help::DATA, long, default_value_t = RunConfig::default().folder_test_share))]
    pub folder_test_share: f64,
    /// Share of the training images kept for training; the rest is the validation split PADS is
    /// rewarded on [fraction, 0-1; 1 = none]
    #[cfg_attr(feature = "cli", arg(help_heading = help::DATA, long, default_value_t = RunConfig::default().train_val_split))]
    pub train_val_split: f64,
    /// Take the validation split as whole classes instead of images of every class [true/false]
    #[cfg_attr(feature = "cli", arg(help_heading = help::DATA, long, num_args = 0..=1, default_missing_value = "true", default_value_t = RunConfig::default().train_val_split_by_class))]
    pub train_val_split_by_class: bool,
    /// Images of each class drawn together into a batch [images]
    #[cfg_attr(feature = "cli", arg(help_heading = help::SAMPLING, long, default_value_t = RunConfig::default().samples_per_class))]
    pub samples_per_class: usize,
    /// Batch size [images]
    #[cfg_attr(feature = "cli", arg(help_heading = help::SAMPLING, long, default_value_t = RunConfig::default().bs))]
    pub bs: usize,
    /// Side of the square network input [pixels]
    #[cfg_attr(feature = "cli", arg(help_heading = help::DATA, long, default_value_t = RunConfig::default().image_size))]
    pub image_size: usize,
    /// Image decoding and augmentation threads [threads; 0 = one per core]
    #[cfg_attr(feature = "cli", arg(help_heading = help::DATA, long, default_value_t = RunConfig::default().num_workers))]
    pub num_workers: usize,
    /// Keep decoded images in RAM after their first use: off by default, except the synthetic
    /// dataset (always cached); `pads data check` prints the RAM they take [true/false]
    #[cfg_attr(feature = "cli", arg(help_heading = help::DATA, long, num_args = 0..=1, default_missing_value = "true", default_value_t = RunConfig::default().cache_images))]
    pub cache_images: bool,
    /// Turn a missing, empty, truncated or non-image file into a counted warning instead of an
    /// error [true/false]
    #[cfg_attr(feature = "cli", arg(help_heading = help::DATA, long, num_args = 0..=1, default_missing_value = "true", default_value_t = RunConfig::default().skip_bad_images))]
    pub skip_bad_images: bool,

    // ---- model ----
    /// Backbone: resnet50 (the paper's, frozen BatchNorm), bninception (the original's other
    /// network: pretrainedmodels' BN-Inception, BatchNorm trained, BGR input; image size 32k - 1
    /// to 32k + 6) or small (a small CNN for CPU runs and tests)
    #[cfg_attr(feature = "cli", arg(help_heading = help::MODEL, long, value_enum, default_value_t = RunConfig::default().arch))]
    pub arch: Arch,
    /// Size of the embedding [dimensions]
    #[cfg_attr(feature = "cli", arg(help_heading = help::MODEL, long, default_value_t = RunConfig::default().embed_dim))]
    pub embed_dim: usize,
    /// ImageNet weights, .pth or .safetensors: torchvision's for resnet50, pretrainedmodels'
    /// bn_inception-52deb4733.pth for bninception [path]
    #[cfg_attr(feature = "cli", arg(help_heading = help::MODEL, long))]
    pub pretrained: Option<PathBuf>,
    /// Start resnet50 or bninception from random weights instead of --pretrained [true/false]
    #[cfg_attr(feature = "cli", arg(help_heading = help::MODEL, long, num_args = 0..=1, default_missing_value = "true", default_value_t = RunConfig::default().not_pretrained))]
    pub not_pretrained: bool,
    /// Where to train: cpu, cuda, cuda:N or auto (cuda when available)
    #[cfg_attr(feature = "cli", arg(help_heading = help::RUN, long, default_value_t = RunConfig::default().device))]
    pub device: String,
    /// Mixed precision of the backbone: off or bf16 (head, distances, loss and metrics stay
    /// float32)
    #[cfg_attr(feature = "cli", arg(help_heading = help::MODEL, long, value_enum, default_value_t = RunConfig::default().amp))]
    pub amp: Amp,

    // ---- optimisation ----
    /// Length of training [epochs]
    #[cfg_attr(feature = "cli", arg(help_heading = help::OPTIMISATION, long, default_value_t = RunConfig::default().n_epochs))]
    pub n_epochs: usize,
    /// Learning rate of the network (Adam) [per step]
    #[cfg_attr(feature = "cli", arg(help_heading = help::OPTIMISATION, long, default_value_t = RunConfig::default().lr))]
    pub lr: f64,
    /// L2 weight decay, added to the gradient as torch.optim.Adam does [per step]
    #[cfg_attr(feature = "cli", arg(help_heading = help::OPTIMISATION, long, default_value_t = RunConfig::default().decay))]
    pub decay: f64,
    /// Epochs after which the learning rate is multiplied by --gamma [epochs, comma-separated]
    #[cfg_attr(feature = "cli", arg(help_heading = help::OPTIMISATION, long, num_args = 1.., value_delimiter = ',', default_values_t = RunConfig::default().tau))]
    pub tau: Vec<usize>,
    /// Learning-rate factor applied at each --tau epoch [factor]
    #[cfg_attr(feature = "cli", arg(help_heading = help::OPTIMISATION, long, default_value_t = RunConfig::default().gamma))]
    pub gamma: f64,
    /// Learning-rate schedule of the network and beta: step (times --gamma at each --tau
    /// epoch, torch's MultiStepLR) or none (constant). The original's help also names exp,
    /// but its main.py builds MultiStepLR for every value except none, so pads takes only
    /// these two
    #[cfg_attr(feature = "cli", arg(help_heading = help::OPTIMISATION, long, value_enum, default_value_t = RunConfig::default().scheduler))]
    pub scheduler: Scheduler,
    /// Seed of every random choice: weights, validation split, batches, augmentation, sampler
    /// [integer]
    #[cfg_attr(feature = "cli", arg(help_heading = help::RUN, long, default_value_t = RunConfig::default().seed))]
    pub seed: u64,

    // ---- objective and sampling ----
    /// Objective: margin (learnable per-class beta, the paper's) or triplet
    #[cfg_attr(feature = "cli", arg(help_heading = help::OPTIMISATION, long, value_enum, default_value_t = RunConfig::default().loss))]
    pub loss: LossKind,
    /// Negative sampler: random, semihard, softhard, distance (distance-weighted) or pads
    /// (policy-adapted; alias learned)
    #[cfg_attr(feature = "cli", arg(help_heading = help::SAMPLING, long, value_enum, default_value_t = RunConfig::default().sampling))]
    pub sampling: Sampling,
    /// Margin of the margin or triplet loss [distance between unit-length embeddings, 0-2]
    #[cfg_attr(feature = "cli", arg(help_heading = help::OPTIMISATION, long, default_value_t = RunConfig::default().margin))]
    pub margin: f64,
    /// Window of the semihard sampler, d_ap < d_an < d_ap + this [distance]; the original
    /// keeps it at 0.2 whatever --margin says
    #[cfg_attr(feature = "cli", arg(help_heading = help::SAMPLING, long, default_value_t = RunConfig::default().semihard_margin))]
    pub semihard_margin: f64,
    /// Initial per-class beta of the margin loss [distance, 0-2]
    #[cfg_attr(feature = "cli", arg(help_heading = help::OPTIMISATION, long, default_value_t = RunConfig::default().beta))]
    pub beta: f64,
    /// Learning rate of beta (Adam) [per step]
    #[cfg_attr(feature = "cli", arg(help_heading = help::OPTIMISATION, long, default_value_t = RunConfig::default().beta_lr))]
    pub beta_lr: f64,
    /// Keep beta fixed at --beta [true/false]
    #[cfg_attr(feature = "cli", arg(help_heading = help::OPTIMISATION, long, num_args = 0..=1, default_missing_value = "true", default_value_t = RunConfig::default().beta_constant))]
    pub beta_constant: bool,

    // ---- evaluation ----
    /// Recall@k values [k, comma-separated; unset: 1,2,4,8; 1,10,100,1000 for online_products;
    /// 1,10,20,30,40,50 for in_shop]
    #[cfg_attr(feature = "cli", arg(help_heading = help::EVALUATION, long, num_args = 1.., value_delimiter = ','))]
    pub k_vals: Vec<usize>,
    /// Evaluate the test split every this many epochs, and after the last [epochs]
    #[cfg_attr(feature = "cli", arg(help_heading = help::EVALUATION, long, default_value_t = RunConfig::default().eval_every))]
    pub eval_every: usize,
    /// Which epoch checkpoint_best keeps: highest test Recall@1 (test, the original's rule) or
    /// validation Recall@1 (val) [test|val]
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(help_heading = help::EVALUATION, long, value_enum, default_value_t = RunConfig::default().select_on))]
    pub select_on: SelectOn,

    // ---- PADS (pads-spec.md sections 4 and 5) ----
    /// Support points of the sampling distribution; it has one bin fewer [points]
    #[cfg_attr(feature = "cli", arg(help_heading = help::PADS_POLICY, long, default_value_t = RunConfig::default().policy_n_support))]
    pub policy_n_support: usize,
    /// Distance range LOW,HIGH the bins cover [distance between unit-length embeddings, 0-2]
    #[cfg_attr(feature = "cli", arg(help_heading = help::PADS_POLICY, long, num_args = 1.., value_delimiter = ',', default_values_t = RunConfig::default().policy_support_limit))]
    pub policy_support_limit: Vec<f64>,
    /// Initial sampling distribution (uniform_low = weight on distances 0.3-0.7; see docs/pads.md)
    #[cfg_attr(feature = "cli", arg(help_heading = help::PADS_POLICY, long, value_enum, default_value_t = RunConfig::default().policy_init_distr))]
    pub policy_init_distr: InitDistr,
    /// Distances outside the support fall into the edge bins; off: probability 0 [true/false]
    #[cfg_attr(feature = "cli", arg(help_heading = help::PADS_POLICY, long, num_args = 0..=1, default_missing_value = "true", default_value_t = RunConfig::default().policy_merge_oobs))]
    pub policy_merge_oobs: bool,
    /// Draw negatives over the whole batch, the anchor's class included (self-regularisation)
    /// [true/false]
    #[cfg_attr(feature = "cli", arg(help_heading = help::PADS_POLICY, long, num_args = 0..=1, default_missing_value = "true", default_value_t = RunConfig::default().policy_include_pos))]
    pub policy_include_pos: bool,
    /// The anchor may be drawn as its own positive [true/false]
    #[cfg_attr(feature = "cli", arg(help_heading = help::PADS_POLICY, long, num_args = 0..=1, default_missing_value = "true", default_value_t = RunConfig::default().policy_include_same))]
    pub policy_include_same: bool,
    /// Turn --policy-include-pos and --policy-include-same off, as the original's flag (--policy-merge-oobs stays) [true/false]
    #[cfg_attr(feature = "cli", arg(help_heading = help::PADS_POLICY, long, num_args = 0..=1, default_missing_value = "true", default_value_t = RunConfig::default().policy_no_self_reg))]
    pub policy_no_self_reg: bool,
    /// Training iterations between two policy updates (M in the paper) [iterations]
    #[cfg_attr(feature = "cli", arg(help_heading = help::PADS_POLICY, long, default_value_t = RunConfig::default().policy_sample_freq))]
    pub policy_sample_freq: usize,
    /// Epochs trained on the initial distribution before the policy acts [epochs]
    #[cfg_attr(feature = "cli", arg(help_heading = help::PADS_POLICY, long, default_value_t = RunConfig::default().policy_training_delay))]
    pub policy_training_delay: usize,
    /// Validation metric whose change is the reward: 0 = NMI, 1 = Recall@1, 2 = their mean
    #[cfg_attr(feature = "cli", arg(help_heading = help::PADS_POLICY, long, default_value_t = RunConfig::default().policy_reward_type))]
    pub policy_reward_type: u8,
    /// Validation metrics in the policy's state: recall, dists, nmi, svd (KL divergence of
    /// the normalised top singular values of the embeddings from uniform) [comma-separated]
    #[cfg_attr(feature = "cli", arg(help_heading = help::PADS_POLICY, long, value_enum, num_args = 1.., value_delimiter = ',', default_values_t = RunConfig::default().policy_state_metrics))]
    pub policy_state_metrics: Vec<StateMetric>,
    /// Past validation metric vectors in the state [policy updates]
    #[cfg_attr(feature = "cli", arg(help_heading = help::PADS_POLICY, long, default_value_t = RunConfig::default().policy_metric_history))]
    pub policy_metric_history: usize,
    /// Windows of the running means of the metrics added to the state [policy updates,
    /// comma-separated]
    #[cfg_attr(feature = "cli", arg(help_heading = help::PADS_POLICY, long, num_args = 1.., value_delimiter = ',', default_values_t = RunConfig::default().policy_run_avgs))]
    pub policy_run_avgs: Vec<usize>,
    /// Past distributions in the state [policy updates; -1 = --policy-metric-history]
    #[cfg_attr(feature = "cli", arg(help_heading = help::PADS_POLICY, long, default_value_t = RunConfig::default().policy_parameter_history))]
    pub policy_parameter_history: i64,
    /// The running-average slots of the state hold the metric vector of w policy updates ago
    /// (the oldest of the window) instead of the mean over the last w [true/false]
    #[cfg_attr(feature = "cli", arg(help_heading = help::PADS_POLICY, long, num_args = 0..=1, default_missing_value = "true", default_value_t = RunConfig::default().policy_run_avgs_no_avg))]
    pub policy_run_avgs_no_avg: bool,
    /// The state metrics computed on the training split enter the state too, after the
    /// validation ones (the whole training split is embedded at every policy update)
    /// [true/false]
    #[cfg_attr(feature = "cli", arg(help_heading = help::PADS_POLICY, long, num_args = 0..=1, default_missing_value = "true", default_value_t = RunConfig::default().policy_include_train_metrics))]
    pub policy_include_train_metrics: bool,
    /// Sub-episode rewards: S validation rewards at evenly spaced points inside each policy
    /// period, summed with the period's own with discount 0.7 into its reward metric
    /// [collections per period, below --policy-sample-freq; -1 = off]
    #[cfg_attr(feature = "cli", arg(help_heading = help::PADS_POLICY, long, default_value_t = RunConfig::default().policy_sup_metric_collect))]
    pub policy_sup_metric_collect: i64,
    /// Weight init of the policy's layers: none (torch.nn.Linear's U(+-1/sqrt(fan_in))), base
    /// (weight N(0, 0.01^2), bias 0) or he_n (Kaiming normal for ReLU, bias 0)
    #[cfg_attr(feature = "cli", arg(help_heading = help::PADS_POLICY, long, value_enum, default_value_t = RunConfig::default().policy_winit_type))]
    pub policy_winit_type: WinitType,
    /// Re-draw the training/validation split at random (seeded) every --policy-scramble-freq
    /// epochs [true/false]
    #[cfg_attr(feature = "cli", arg(help_heading = help::PADS_POLICY, long, num_args = 0..=1, default_missing_value = "true", default_value_t = RunConfig::default().policy_scramble_dataloaders))]
    pub policy_scramble_dataloaders: bool,
    /// With --policy-scramble-dataloaders: re-draw the split before every epoch whose 0-based
    /// index is a positive multiple of this [epochs]
    #[cfg_attr(feature = "cli", arg(help_heading = help::PADS_POLICY, long, default_value_t = RunConfig::default().policy_scramble_freq))]
    pub policy_scramble_freq: usize,
    /// Hidden layer widths of the policy network [units, comma-separated]
    #[cfg_attr(feature = "cli", arg(help_heading = help::PADS_POLICY, long, num_args = 1.., value_delimiter = ',', default_values_t = RunConfig::default().policy_size))]
    pub policy_size: Vec<usize>,
    /// Advantage against an EMA of the rewards instead of the A2C value head [true/false]
    #[cfg_attr(feature = "cli", arg(help_heading = help::PADS_POLICY, long, num_args = 0..=1, default_missing_value = "true", default_value_t = RunConfig::default().policy_dont_use_a2c))]
    pub policy_dont_use_a2c: bool,
    /// The three multipliers a bin's weight may get: reduce, keep, increase [factors,
    /// comma-separated]
    #[cfg_attr(feature = "cli", arg(help_heading = help::PADS_POLICY, long, num_args = 1.., value_delimiter = ',', default_values_t = RunConfig::default().policy_action_values))]
    pub policy_action_values: Vec<f64>,
    /// Learning rate of the policy (Adam) [per policy update]
    #[cfg_attr(feature = "cli", arg(help_heading = help::PADS_POLICY, long, default_value_t = RunConfig::default().policy_lr))]
    pub policy_lr: f64,
    /// Smoothing of the EMA reward baseline (with --policy-dont-use-a2c) [weight, 0-1]
    #[cfg_attr(feature = "cli", arg(help_heading = help::PADS_POLICY, long, default_value_t = RunConfig::default().policy_baseline_ema_gamma))]
    pub policy_baseline_ema_gamma: f64,
    /// Discount w of the A2C target r + w V(s) [weight, 0-1]
    #[cfg_attr(feature = "cli", arg(help_heading = help::PADS_POLICY, long, default_value_t = RunConfig::default().policy_reward_update_w))]
    pub policy_reward_update_w: f64,
    /// Policy update: reinforce or ppo (clipped ratio to an old policy)
    #[cfg_attr(feature = "cli", arg(help_heading = help::PADS_POLICY, long, value_enum, default_value_t = RunConfig::default().policy_mode))]
    pub policy_mode: PolicyMode,
    /// PPO clipping epsilon of the probability ratio [ratio]
    #[cfg_attr(feature = "cli", arg(help_heading = help::PADS_POLICY, long, default_value_t = RunConfig::default().policy_ppo_ratio))]
    pub policy_ppo_ratio: f64,
    /// PPO: refresh the old policy every this many policy updates [policy updates]
    #[cfg_attr(feature = "cli", arg(help_heading = help::PADS_POLICY, long, default_value_t = RunConfig::default().policy_old_update_iter))]
    pub policy_old_update_iter: usize,

    // ---- opt-in departures from the original (docs/pads.md, "Differences from the original") ----
    /// Hold out the validation split for every sampler (the original: only PADS has one)
    /// [true/false]
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(help_heading = help::DATA, long, num_args = 0..=1, default_missing_value = "true", default_value_t = RunConfig::default().val_split_all_samplers))]
    pub val_split_all_samplers: bool,
    /// Draw the validation split at random with the seed instead of the original's evenly spaced
    /// images / last classes [true/false]
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(help_heading = help::DATA, long, num_args = 0..=1, default_missing_value = "true", default_value_t = RunConfig::default().val_split_random))]
    pub val_split_random: bool,
    /// Draw a group's images of one class without replacement (the original draws with replacement)
    /// [true/false]
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(help_heading = help::SAMPLING, long, num_args = 0..=1, default_missing_value = "true", default_value_t = RunConfig::default().batch_without_replacement))]
    pub batch_without_replacement: bool,
    /// Seed the k-means behind NMI and F1 with k-means++ instead of the original's k random points
    /// [true/false]
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(help_heading = help::EVALUATION, long, num_args = 0..=1, default_missing_value = "true", default_value_t = RunConfig::default().kmeans_plusplus))]
    pub kmeans_plusplus: bool,
    /// Leave queries whose class has no other item out of Recall@k (pytorch-metric-learning's rule)
    /// instead of counting them as misses (the original's) [true/false]
    #[serde(default)]
    #[cfg_attr(feature = "cli", arg(help_heading = help::EVALUATION, long, num_args = 0..=1, default_missing_value = "true", default_value_t = RunConfig::default().skip_lone_queries))]
    pub skip_lone_queries: bool,
}

/// The original main.py's defaults (pads-spec.md), the one source of every default: the
/// flags show and take these (`default_value_t = RunConfig::default().FIELD`), TOML keys that
/// are not written take them, and each component's options struct starts from them.
impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            dataset: DatasetKind::Cub200,
            data_root: PathBuf::from("data"),
            test_root: None,
            folder_test_share: 0.5,
            train_val_split: 0.85,
            train_val_split_by_class: false,
            samples_per_class: 4,
            bs: 112,
            image_size: 224,
            num_workers: 0,
            cache_images: false,
            skip_bad_images: false,
            arch: Arch::Resnet50,
            embed_dim: 128,
            pretrained: None,
            not_pretrained: false,
            device: "cpu".to_string(),
            amp: Amp::Off,
            n_epochs: 150,
            lr: 1e-5,
            decay: 4e-4,
            tau: vec![150usize],
            gamma: 0.3,
            scheduler: Scheduler::Step,
            seed: 1,
            loss: LossKind::Triplet,
            sampling: Sampling::Pads,
            margin: 0.2,
            semihard_margin: 0.2,
            beta: 1.2,
            beta_lr: 0.0005,
            beta_constant: false,
            k_vals: Vec::new(),
            eval_every: 1,
            select_on: SelectOn::Test,
            policy_n_support: 30,
            policy_support_limit: vec![0.1f64, 1.4],
            policy_init_distr: InitDistr::UniformLow,
            policy_merge_oobs: true,
            policy_include_pos: true,
            policy_include_same: true,
            policy_no_self_reg: false,
            policy_sample_freq: 30,
            policy_training_delay: 0,
            policy_reward_type: 2,
            policy_state_metrics: vec![StateMetric::Recall, StateMetric::Nmi, StateMetric::Dists],
            policy_metric_history: 10,
            policy_run_avgs: vec![2usize, 8, 16, 32],
            policy_parameter_history: 1,
            policy_run_avgs_no_avg: false,
            policy_include_train_metrics: false,
            policy_sup_metric_collect: -1,
            policy_winit_type: WinitType::None,
            policy_scramble_dataloaders: false,
            policy_scramble_freq: 100_000_000,
            policy_size: vec![128usize, 128],
            policy_dont_use_a2c: false,
            policy_action_values: vec![0.5f64, 1.0, 1.5],
            policy_lr: 0.01,
            policy_baseline_ema_gamma: 0.05,
            policy_reward_update_w: 0.99,
            policy_mode: PolicyMode::Ppo,
            policy_ppo_ratio: 0.2,
            policy_old_update_iter: 3,
            val_split_all_samplers: false,
            val_split_random: false,
            batch_without_replacement: false,
            kmeans_plusplus: false,
            skip_lone_queries: false,
        }
    }
}

impl RunConfig {
    /// A run's config.toml (or any TOML of RunConfig keys, the rest defaults), validated.
    /// Errors: an unreadable file, an unknown key or a wrong type (naming the file), and
    /// those of `validate`.
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let cfg: RunConfig = toml::from_str(&text)
            .with_context(|| format!("config file {} is not a valid pads RunConfig", path.display()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The TOML a run folder stores (config.toml): every key, in field order.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("RunConfig always serialises")
    }
}
