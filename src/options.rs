//! The value enums of every option (dataset, architecture, loss, sampler, PADS policy
//! choices), each with its one spelling `as_str` (the flag value, the config.toml value and
//! what reports print: `online_products`, `pads`, `uniform_low`), and how messages spell an
//! option's name (`spell`): the library names an option by its field (`policy_lr`), each
//! front end maps it to its own spelling (`--policy-lr` on the command line, the default;
//! `policy_lr` in Python, registered by the extension).
//!
//! Layer 0: used by every layer, uses none. With the `cli` feature (the binary's) the enums
//! are also clap value enums; their names there are `as_str`'s (tests/options.rs).
use serde::{Deserialize, Serialize};
use std::sync::RwLock;

/// `as_str` (the one spelling of each value: flags, TOML, reports), `ALL` and `Display`.
macro_rules! value_names {
    ($ty:ident { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            /// The value as the flags, config.toml and every report spell it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),*
                }
            }
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),*];
        }
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "cli", value(rename_all = "snake_case"))]
pub enum DatasetKind {
    Cub200,
    Cars196,
    OnlineProducts,
    Folder,
    Synthetic,
    /// In-Shop Clothes Retrieval: img/... + list_eval_partition.txt (train / query / gallery).
    InShop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "cli", value(rename_all = "snake_case"))]
pub enum Arch {
    Resnet50,
    Small,
    Bninception,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "cli", value(rename_all = "snake_case"))]
pub enum Amp {
    Off,
    Bf16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "cli", value(rename_all = "snake_case"))]
pub enum LossKind {
    /// The margin loss with learnable beta (the original's "marginloss").
    #[cfg_attr(feature = "cli", value(alias = "marginloss"))]
    Margin,
    Triplet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "cli", value(rename_all = "snake_case"))]
pub enum Sampling {
    Random,
    Semihard,
    Softhard,
    Distance,
    /// PADS, the policy-adapted sampler (the original's "learned").
    #[cfg_attr(feature = "cli", value(alias = "learned"))]
    Pads,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "cli", value(rename_all = "snake_case"))]
pub enum PolicyMode {
    Reinforce,
    Ppo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "cli", value(rename_all = "snake_case"))]
pub enum StateMetric {
    Recall,
    Dists,
    Nmi,
    // KL divergence of the normalised top singular values of the embeddings from uniform
    // (a plain comment: a doc comment would turn the flag's value list into a long one).
    Svd,
}

/// Weight initialisation of the policy network's layers (`--policy-winit-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "cli", value(rename_all = "snake_case"))]
pub enum WinitType {
    /// torch.nn.Linear's own: weight and bias U(+-1/sqrt(fan_in)).
    #[default]
    None,
    /// Weight N(0, 0.01^2), bias 0 (the original's `base`).
    Base,
    /// Weight Kaiming normal (fan_in, ReLU: std sqrt(2 / fan_in)), bias 0 (the original's `he_n`).
    HeN,
}

/// Learning-rate schedule of the network and beta (`--scheduler`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "cli", value(rename_all = "snake_case"))]
pub enum Scheduler {
    /// torch's MultiStepLR: times --gamma at each --tau epoch.
    #[default]
    Step,
    /// A constant learning rate.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "cli", value(rename_all = "snake_case"))]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "cli", value(rename_all = "snake_case"))]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "cli", value(rename_all = "snake_case"))]
pub enum Preset {
    Cub200,
    Cars196,
    OnlineProducts,
    InShop,
}


value_names!(DatasetKind { Cub200 => "cub200", Cars196 => "cars196", OnlineProducts => "online_products", Folder => "folder", Synthetic => "synthetic", InShop => "in_shop" });
value_names!(Arch { Resnet50 => "resnet50", Small => "small", Bninception => "bninception" });
value_names!(Amp { Off => "off", Bf16 => "bf16" });
value_names!(LossKind { Margin => "margin", Triplet => "triplet" });
value_names!(Sampling { Random => "random", Semihard => "semihard", Softhard => "softhard", Distance => "distance", Pads => "pads" });
value_names!(PolicyMode { Reinforce => "reinforce", Ppo => "ppo" });
value_names!(StateMetric { Recall => "recall", Dists => "dists", Nmi => "nmi", Svd => "svd" });
value_names!(WinitType { None => "none", Base => "base", HeN => "he_n" });
value_names!(Scheduler { Step => "step", None => "none" });
value_names!(InitDistr {
    Random => "random",
    UniformLow => "uniform_low",
    UniformAvg => "uniform_avg",
    UniformHigh => "uniform_high",
    UniformLowAndTight => "uniform_low_and_tight",
    UniformLowishAndTight => "uniform_lowish_and_tight",
    NormalLow => "normal_low",
    NormalAvg => "normal_avg",
    NormalHigh => "normal_high",
    HeavysideLow => "heavyside_low",
    Distance => "distance",
});
value_names!(SelectOn { Test => "test", Val => "val" });
value_names!(Preset { Cub200 => "cub200", Cars196 => "cars196", OnlineProducts => "online_products", InShop => "in_shop" });

/// How a front end writes an option in messages: `field` is the option's field name
/// (`policy_lr`), `value` a value it should be given, when the message suggests one.
pub type Spelling = fn(field: &str, value: Option<&str>) -> String;

static SPELLING: RwLock<Spelling> = RwLock::new(command_line_spelling);

/// The command line's spelling, the default: `--policy-lr`, `--k 5`, and the negative flags
/// the CLI has (`normalize` = false is `--no-normalize`).
pub fn command_line_spelling(field: &str, value: Option<&str>) -> String {
    let flag = format!("--{}", field.replace('_', "-"));
    match (field, value) {
        ("normalize", Some("false")) => "--no-normalize".to_string(),
        (_, Some("true")) | (_, None) => flag,
        (_, Some(v)) => format!("{flag} {v}"),
    }
}

/// Makes `spelling` the way every later message of this process writes option names (the
/// Python extension registers Python's at import).
pub fn set_spelling(spelling: Spelling) {
    *SPELLING.write().unwrap_or_else(|e| e.into_inner()) = spelling;
}

/// Option `field` (with a suggested `value`) as the current front end writes it.
pub fn spell(field: &str, value: Option<&str>) -> String {
    let f = *SPELLING.read().unwrap_or_else(|e| e.into_inner());
    f(field, value)
}

/// `spell(field, None)`.
pub fn opt(field: &str) -> String {
    spell(field, None)
}
