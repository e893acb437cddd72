//! RunConfig: every option of a run, with the original's names and defaults (pads-spec.md).
//!
//! One struct serves three roles: the clap flags of `pads train` (field `policy_sample_freq`
//! is `--policy-sample-freq`), the TOML written next to every run, and the library's input.
//! Precedence: defaults < `--preset` < `--config FILE.toml` < flags given on the command line.
use anyhow::{bail, Context, Result};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, ValueEnum};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum DatasetKind {
    Cub200,
    Cars196,
    OnlineProducts,
    Folder,
    Synthetic,
    /// In-Shop Clothes Retrieval: img/... + list_eval_partition.txt (train / query / gallery).
    InShop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Arch {
    Resnet50,
    Small,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Amp {
    Off,
    Bf16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum LossKind {
    Margin,
    Triplet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Sampling {
    Random,
    Semihard,
    Softhard,
    Distance,
    /// PADS, the policy-adapted sampler (the original's "learned").
    #[value(alias = "learned")]
    Pads,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum PolicyMode {
    Reinforce,
    Ppo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum StateMetric {
    Recall,
    Dists,
    Nmi,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum InitDistr {
    Random,
    UniformLow,
    UniformAvg,
    UniformHigh,
    UniformLowAndTight,
    UniformLowishAndTight,
    NormalLow,
    NormalAvg,
    NormalHigh,
    HeavysideLow,
    Distance,
}

/// Which epoch `checkpoint_best` keeps (`--select-on`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum SelectOn {
    /// The highest test Recall@1, as the original does.
    #[default]
    Test,
    /// The highest validation Recall@1 (needs a validation split).
    Val,
}

impl SelectOn {
    /// The rule in words, for tables and reports.
    pub fn rule(self) -> &'static str {
        match self {
            SelectOn::Test => "highest test Recall@1",
            SelectOn::Val => "highest validation Recall@1",
        }
    }
    /// The metrics.csv column the rule maximises.
    pub fn column(self) -> &'static str {
        match self {
            SelectOn::Test => "recall@1",
            SelectOn::Val => "val_recall@1",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Preset {
    Cub200,
    Cars196,
    OnlineProducts,
    InShop,
}

/// Every option of a run. Defaults are the original's (pads-spec.md), except where a
/// comment says why pads differs.
/// Every key is optional in TOML (`#[serde(default)]`): a missing key takes the default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Args)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    // ---- data ----
    /// Dataset layout.
    #[arg(long, value_enum, default_value = "cub200")]
    pub dataset: DatasetKind,
    /// Folder holding the dataset folder (cub200/, cars196/, online_products/, in_shop/, synthetic/);
    /// for `folder`, the class-per-folder root itself.
    #[arg(long, default_value = "data")]
    pub data_root: PathBuf,
    /// `folder` layout only: a separate root of test classes (else split by `folder_test_share`).
    #[arg(long)]
    pub test_root: Option<PathBuf>,
    /// `folder` layout only: share of classes (sorted by name, taken from the end) used for test.
    #[arg(long, default_value_t = 0.5)]
    pub folder_test_share: f64,
    /// Share kept for training; the rest is validation (1.0 = no validation split).
    #[arg(long, default_value_t = 0.85)]
    pub train_val_split: f64,
    /// Split validation off by whole classes instead of per class.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value_t = false)]
    pub train_val_split_by_class: bool,
    /// Images of one class per group in a batch.
    #[arg(long, default_value_t = 4)]
    pub samples_per_class: usize,
    /// Batch size.
    #[arg(long, default_value_t = 112)]
    pub bs: usize,
    /// Side of the square network input.
    #[arg(long, default_value_t = 224)]
    pub image_size: usize,
    /// Decode/augment threads (0 = number of cores).
    #[arg(long, default_value_t = 0)]
    pub num_workers: usize,
    /// Keep decoded images in RAM after their first use (off by default, except for the
    /// synthetic dataset, which is always cached; `pads data check` prints how much RAM the
    /// decoded images of each split take).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value_t = false)]
    pub cache_images: bool,
    /// Turn a missing, truncated, empty or non-image file into a counted warning.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value_t = false)]
    pub skip_bad_images: bool,

    // ---- model ----
    #[arg(long, value_enum, default_value = "resnet50")]
    pub arch: Arch,
    #[arg(long, default_value_t = 128)]
    pub embed_dim: usize,
    /// torchvision ImageNet state dict (.safetensors or .pth) for the ResNet50.
    #[arg(long)]
    pub pretrained: Option<PathBuf>,
    /// Start from random weights (required for resnet50 without --pretrained).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value_t = false)]
    pub not_pretrained: bool,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Mixed precision for the backbone: `off` or `bf16` (head, distances, loss, metrics stay f32).
    #[arg(long, value_enum, default_value = "off")]
    pub amp: Amp,

    // ---- optimisation ----
    #[arg(long, default_value_t = 150)]
    pub n_epochs: usize,
    #[arg(long, default_value_t = 1e-5)]
    pub lr: f64,
    /// L2 weight decay (added to the gradient, as torch.optim.Adam does).
    #[arg(long, default_value_t = 4e-4)]
    pub decay: f64,
    /// Epochs at which the learning rate is multiplied by gamma.
    #[arg(long, num_args = 1.., value_delimiter = ',', default_values_t = vec![150usize])]
    pub tau: Vec<usize>,
    #[arg(long, default_value_t = 0.3)]
    pub gamma: f64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    // ---- objective and sampling ----
    #[arg(long, value_enum, default_value = "triplet")]
    pub loss: LossKind,
    #[arg(long, value_enum, default_value = "pads")]
    pub sampling: Sampling,
    #[arg(long, default_value_t = 0.2)]
    pub margin: f64,
    /// Initial value of the per-class beta of the margin loss.
    #[arg(long, default_value_t = 1.2)]
    pub beta: f64,
    #[arg(long, default_value_t = 0.0005)]
    pub beta_lr: f64,
    /// Keep beta fixed.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value_t = false)]
    pub beta_constant: bool,

    // ---- evaluation ----
    /// Recall@k values (empty: 1,2,4,8, or 1,10,100,1000 for online_products, or
    /// 1,10,20,30,40,50 for in_shop).
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    pub k_vals: Vec<usize>,
    /// Evaluate on the test split every this many epochs (the last epoch always).
    #[arg(long, default_value_t = 1)]
    pub eval_every: usize,
    /// Which epoch checkpoint_best keeps: highest test Recall@1 (`test`, the original's rule)
    /// or highest validation Recall@1 (`val`, evaluated each epoch; needs a validation split).
    #[arg(long, value_enum, default_value = "test")]
    #[serde(default)]
    pub select_on: SelectOn,

    // ---- PADS (pads-spec.md sections 4 and 5) ----
    #[arg(long, default_value_t = 30)]
    pub policy_n_support: usize,
    #[arg(long, num_args = 1.., value_delimiter = ',', default_values_t = vec![0.1f64, 1.4])]
    pub policy_support_limit: Vec<f64>,
    #[arg(long, value_enum, default_value = "uniform_low")]
    pub policy_init_distr: InitDistr,
    /// Distances outside the support fall into the edge bins (else probability 0).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value_t = true)]
    pub policy_merge_oobs: bool,
    /// Negatives drawn over the whole batch, positives included ("self-regularisation").
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value_t = true)]
    pub policy_include_pos: bool,
    /// The anchor may be its own positive.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value_t = true)]
    pub policy_include_same: bool,
    /// Turns include_pos, include_same and merge_oobs off.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value_t = false)]
    pub policy_no_self_reg: bool,
    /// Training iterations between policy updates (M).
    #[arg(long, default_value_t = 30)]
    pub policy_sample_freq: usize,
    /// Epochs before the policy starts acting.
    #[arg(long, default_value_t = 0)]
    pub policy_training_delay: usize,
    /// 0 = NMI, 1 = Recall@1, 2 = mean of Recall@1 and NMI.
    #[arg(long, default_value_t = 2)]
    pub policy_reward_type: u8,
    #[arg(long, value_enum, num_args = 1.., value_delimiter = ',', default_values_t = vec![StateMetric::Recall, StateMetric::Nmi, StateMetric::Dists])]
    pub policy_state_metrics: Vec<StateMetric>,
    #[arg(long, default_value_t = 10)]
    pub policy_metric_history: usize,
    #[arg(long, num_args = 1.., value_delimiter = ',', default_values_t = vec![2usize, 8, 16, 32])]
    pub policy_run_avgs: Vec<usize>,
    #[arg(long, default_value_t = 1)]
    pub policy_parameter_history: usize,
    #[arg(long, num_args = 1.., value_delimiter = ',', default_values_t = vec![128usize, 128])]
    pub policy_size: Vec<usize>,
    /// Plain REINFORCE/PPO with an EMA baseline instead of the A2C value head.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value_t = false)]
    pub policy_dont_use_a2c: bool,
    #[arg(long, num_args = 1.., value_delimiter = ',', default_values_t = vec![0.5f64, 1.0, 1.5])]
    pub policy_action_values: Vec<f64>,
    #[arg(long, default_value_t = 0.01)]
    pub policy_lr: f64,
    #[arg(long, default_value_t = 0.05)]
    pub policy_baseline_ema_gamma: f64,
    #[arg(long, default_value_t = 0.99)]
    pub policy_reward_update_w: f64,
    #[arg(long, value_enum, default_value = "ppo")]
    pub policy_mode: PolicyMode,
    #[arg(long, default_value_t = 0.2)]
    pub policy_ppo_ratio: f64,
    #[arg(long, default_value_t = 3)]
    pub policy_old_update_iter: usize,

    // ---- opt-in departures from the original (docs/pads.md, "Differences from the original") ----
    /// Hold out the validation split for every sampler (the original: only PADS has one;
    /// fixed samplers train on all training images).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value_t = false)]
    #[serde(default)]
    pub val_split_all_samplers: bool,
    /// Draw the validation split at random with the seed (random images per class, random
    /// classes by class) instead of the original's evenly spaced images / last classes.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value_t = false)]
    #[serde(default)]
    pub val_split_random: bool,
    /// Draw a group's images of one class without replacement (the original draws with
    /// replacement, so a group may hold one image twice).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value_t = false)]
    #[serde(default)]
    pub batch_without_replacement: bool,
    /// Seed k-means (NMI, F1) with k-means++ instead of the original's k random points.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value_t = false)]
    #[serde(default)]
    pub kmeans_plusplus: bool,
    /// Leave queries whose class has no other item out of Recall@k (pytorch-metric-learning's
    /// rule); the original counts them as misses.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value_t = false)]
    #[serde(default)]
    pub skip_lone_queries: bool,
}

impl Default for RunConfig {
    fn default() -> Self {
        #[derive(Parser)]
        struct Wrap {
            #[command(flatten)]
            cfg: RunConfig,
        }
        Wrap::parse_from(["pads"]).cfg
    }
}

impl RunConfig {
    /// The original sample runs (pads-spec.md section 7).
    pub fn preset(preset: Preset) -> Self {
        let mut c = RunConfig {
            n_epochs: 300,
            beta: 0.6,
            beta_lr: 0.001,
            tau: vec![150],
            train_val_split: 0.85,
            samples_per_class: 2,
            policy_reward_type: 1,
            policy_mode: PolicyMode::Ppo,
            policy_metric_history: 20,
            policy_action_values: vec![0.8, 1.0, 1.25],
            policy_old_update_iter: 5,
            policy_init_distr: InitDistr::UniformLow,
            policy_n_support: 30,
            policy_support_limit: vec![0.1, 1.4],
            policy_state_metrics: vec![StateMetric::Recall, StateMetric::Dists, StateMetric::Nmi],
            loss: LossKind::Margin,
            sampling: Sampling::Pads,
            arch: Arch::Resnet50,
            ..RunConfig::default()
        };
        match preset {
            Preset::Cub200 => {
                c.dataset = DatasetKind::Cub200;
                c.seed = 3;
            }
            Preset::Cars196 => {
                c.dataset = DatasetKind::Cars196;
                c.seed = 0;
                c.beta_lr = 0.0005;
                c.tau = vec![140];
                c.train_val_split = 0.9;
                c.samples_per_class = 4;
                c.policy_reward_type = 2;
            }
            Preset::OnlineProducts => {
                c.dataset = DatasetKind::OnlineProducts;
                c.seed = 0;
                c.n_epochs = 120;
                c.beta = 1.2;
                c.tau = vec![80];
                c.train_val_split = 0.9;
                c.train_val_split_by_class = true;
                c.policy_sample_freq = 60;
                c.policy_reward_type = 2;
            }
            Preset::InShop => {
                // The original has no In-Shop run. Schedule and loss values: Roth & Brattoli's
                // Deep-Metric-Learning-Baselines (github.com/Confusezius/Deep-Metric-Learning-
                // Baselines, sample_training_runs.sh, "ResNet50 on In-Shop Clothes: MarginLoss":
                // --n_epochs 40 --tau 25, with its defaults lr 1e-5, bs 112, samples_per_class 4,
                // margin 0.2, beta 1.2, beta_lr 5e-4, gamma 0.3, decay 4e-4, embed_dim 128).
                // PADS settings and a by-class validation split as the SOP preset (In-Shop is
                // also many classes of few images). Test: query -> gallery Recall@1,10,20,30,40,50.
                c.dataset = DatasetKind::InShop;
                c.n_epochs = 40;
                c.tau = vec![25];
                c.beta = 1.2;
                c.beta_lr = 0.0005;
                c.samples_per_class = 4;
                c.train_val_split = 0.9;
                c.train_val_split_by_class = true;
                c.policy_sample_freq = 60;
                c.policy_reward_type = 2;
            }
        }
        c
    }

    pub fn from_toml_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let cfg: RunConfig = toml::from_str(&text)
            .with_context(|| format!("config file {} is not a valid pads RunConfig", path.display()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("RunConfig always serialises")
    }

    /// Builds the final config: `base` (preset or file, else defaults), then the flags the
    /// user actually typed. `matches` are the matches of a command that flattens RunConfig.
    pub fn resolve(base: RunConfig, matches: &ArgMatches) -> Result<Self> {
        let typed = RunConfig::from_arg_matches(matches)?;
        let mut table = toml::Table::try_from(&base)?;
        let typed_table = toml::Table::try_from(&typed)?;
        for id in matches.ids() {
            let key = id.as_str();
            if matches.value_source(key) == Some(ValueSource::CommandLine) {
                if let Some(v) = typed_table.get(key) {
                    table.insert(key.to_string(), v.clone());
                }
            }
        }
        let cfg: RunConfig = table.try_into()?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The self-regularisation flags after `policy_no_self_reg`.
    pub fn effective_self_reg(&self) -> (bool, bool, bool) {
        if self.policy_no_self_reg {
            (false, false, false)
        } else {
            (self.policy_include_pos, self.policy_include_same, self.policy_merge_oobs)
        }
    }

    /// The evaluation options of this run's test evaluation (training, `pads eval`):
    /// Recall@`recall_ks`, every metric, and the opt-in departures `kmeans_plusplus` and
    /// `skip_lone_queries`.
    pub fn eval_options(&self) -> crate::eval::EvalOptions {
        let mut opts = crate::eval::EvalOptions::new(self.recall_ks());
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

    /// Option checks that need no data; each message names the option and what it allows.
    pub fn validate(&self) -> Result<()> {
        fn share(name: &str, v: f64) -> Result<()> {
            if !(v > 0.0 && v <= 1.0) {
                bail!("--{name} must be in (0, 1], got {v}");
            }
            Ok(())
        }
        share("train-val-split", self.train_val_split)?;
        share("folder-test-share", self.folder_test_share)?;
        if self.samples_per_class < 2 {
            bail!(
                "--samples-per-class must be at least 2, got {}: every sampler draws (anchor, positive, negative) triplets from a batch, and with one image per class no anchor has a positive",
                self.samples_per_class
            );
        }
        if self.bs < 2 * self.samples_per_class || self.bs % self.samples_per_class != 0 {
            bail!(
                "--bs ({}) must be a multiple of --samples-per-class ({}) holding at least two classes",
                self.bs,
                self.samples_per_class
            );
        }
        if self.image_size < 16 {
            bail!("--image-size must be at least 16, got {}", self.image_size);
        }
        if self.embed_dim < 2 {
            bail!("--embed-dim must be at least 2, got {}", self.embed_dim);
        }
        if self.n_epochs == 0 {
            bail!("--n-epochs must be at least 1");
        }
        for (name, v) in [("lr", self.lr), ("gamma", self.gamma), ("policy-lr", self.policy_lr), ("policy-ppo-ratio", self.policy_ppo_ratio)] {
            if !(v > 0.0 && v.is_finite()) {
                bail!("--{name} must be a positive number, got {v}");
            }
        }
        for (name, v) in [("decay", self.decay), ("beta-lr", self.beta_lr), ("margin", self.margin), ("beta", self.beta)] {
            if !(v >= 0.0 && v.is_finite()) {
                bail!("--{name} must be a number >= 0, got {v}");
            }
        }
        for (name, v) in [("policy-baseline-ema-gamma", self.policy_baseline_ema_gamma), ("policy-reward-update-w", self.policy_reward_update_w)] {
            if !(0.0..=1.0).contains(&v) {
                bail!("--{name} must be in [0, 1], got {v}");
            }
        }
        if self.policy_n_support < 3 {
            bail!("--policy-n-support must be at least 3 (two bins), got {}", self.policy_n_support);
        }
        let lim = &self.policy_support_limit;
        if lim.len() != 2 || !(lim[0] < lim[1]) {
            bail!("--policy-support-limit takes two increasing numbers LOW,HIGH, got {lim:?}");
        }
        if self.policy_reward_type > 2 {
            bail!(
                "--policy-reward-type must be 0 (NMI), 1 (Recall@1) or 2 (both), got {}",
                self.policy_reward_type
            );
        }
        if self.policy_action_values.len() != 3 || self.policy_action_values.iter().any(|v| !(*v > 0.0)) {
            bail!(
                "--policy-action-values takes three positive multipliers (reduce, keep, increase), got {:?}",
                self.policy_action_values
            );
        }
        if self.policy_sample_freq == 0 || self.policy_metric_history == 0 {
            bail!("--policy-sample-freq and --policy-metric-history must be at least 1");
        }
        if self.policy_state_metrics.is_empty() {
            bail!("--policy-state-metrics needs at least one of recall, dists, nmi");
        }
        if self.policy_size.is_empty() || self.policy_size.contains(&0) {
            bail!("--policy-size takes one or more positive layer widths, got {:?}", self.policy_size);
        }
        if self.policy_old_update_iter == 0 {
            bail!("--policy-old-update-iter must be at least 1");
        }
        if self.k_vals.contains(&0) {
            bail!("--k-vals must be positive");
        }
        if self.eval_every == 0 {
            bail!("--eval-every must be at least 1");
        }
        if self.select_on == SelectOn::Val && !crate::data::takes_val_split(self) {
            if self.train_val_split >= 1.0 {
                bail!("--select-on val needs a validation split: set --train-val-split below 1 (or --select-on test)");
            }
            bail!(
                "--select-on val needs a validation split, and as in the original only --sampling pads holds one out; add --val-split-all-samplers to hold it out for --sampling {} too (or --select-on test)",
                format!("{:?}", self.sampling).to_lowercase()
            );
        }
        // Spelling only: availability is checked where it trains (a sweep may be written
        // on a machine without the GPU its runs will use).
        crate::device::check_device_spec(&self.device)?;
        Ok(())
    }
}

/// The clap command of RunConfig alone, for callers that build configs from argument lists.
/// An option value as typed on the command line (`pads`, `margin`, `small`), not its Rust
/// name (`Pads`, `Margin`, `Small`): for messages and reports.
pub fn cli_value<T: ValueEnum + std::fmt::Debug>(v: &T) -> String {
    v.to_possible_value().map(|p| p.get_name().to_string()).unwrap_or_else(|| format!("{v:?}").to_lowercase())
}

pub fn run_config_command() -> clap::Command {
    #[derive(Parser)]
    #[command(name = "pads")]
    struct Wrap {
        #[command(flatten)]
        cfg: RunConfig,
    }
    allow_negative_numbers(Wrap::command())
}

/// Lets every (sub)command take negative numbers as values (`--lr -0.001`), so that pads'
/// own range checks answer with the option's name and range instead of clap's "unexpected
/// argument '-0'".
pub fn allow_negative_numbers(cmd: clap::Command) -> clap::Command {
    let cmd = cmd.allow_negative_numbers(true);
    let names: Vec<String> = cmd.get_subcommands().map(|c| c.get_name().to_string()).collect();
    names.into_iter().fold(cmd, |cmd, name| cmd.mut_subcommand(name, allow_negative_numbers))
}

/// Layering and paths (README "Options come, in increasing priority, from ...").
impl RunConfig {
    /// The configuration before the typed flags: the defaults, then `preset`, then the keys
    /// written in `file` (each overrides the preset's value; keys not written keep it).
    /// `resolve` then applies the flags typed. Errors: an unreadable file, an unknown key or
    /// a value of the wrong type, naming the file.
    pub fn layered(preset: Option<Preset>, file: Option<&Path>) -> Result<RunConfig> {
        let base = preset.map(RunConfig::preset).unwrap_or_default();
        match file {
            Some(file) => base.overlay_toml_file(file),
            None => Ok(base),
        }
    }

    /// `self` with the keys written in the TOML file `path` replaced by the file's values.
    pub fn overlay_toml_file(&self, path: &Path) -> Result<RunConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        // Parsed alone first, so unknown keys and wrong types are reported with their name.
        let _: RunConfig = toml::from_str(&text)
            .with_context(|| format!("config file {} is not a valid pads RunConfig", path.display()))?;
        let written: toml::Table = toml::from_str(&text)
            .with_context(|| format!("config file {} is not valid TOML", path.display()))?;
        let mut table = toml::Table::try_from(self)?;
        for (key, value) in written {
            table.insert(key, value);
        }
        table
            .try_into()
            .with_context(|| format!("config file {} is not a valid pads RunConfig", path.display()))
    }

    /// The configuration with `data_root`, `test_root` and `pretrained` made absolute
    /// (against the current folder), as a run folder stores them: `pads eval`, `embed` and
    /// `--resume` then find the data from any working folder.
    pub fn with_absolute_paths(&self) -> Result<RunConfig> {
        let abs = |p: &Path| std::path::absolute(p).with_context(|| format!("cannot make {} absolute", p.display()));
        let mut c = self.clone();
        c.data_root = abs(&self.data_root)?;
        if let Some(p) = &self.test_root {
            c.test_root = Some(abs(p)?);
        }
        if let Some(p) = &self.pretrained {
            c.pretrained = Some(abs(p)?);
        }
        Ok(c)
    }
}
