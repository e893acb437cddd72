//! The original's saved options (hypa.pkl: the argparse Namespace of main.py with
//! `include_pads_args`, pickled by auxiliaries.set_logging) as a pads RunConfig. Each option
//! is written back as the command line that set it and read by the same translation and
//! parser as a typed original command line (config::original), so an option means here
//! what it means in `pads train --dataset cub200 ...`. Needs the `cli` feature (clap parses).
use super::RunConfig;
use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// A value of a saved option, as pickled.
#[derive(Debug, Clone, PartialEq)]
pub enum OptValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<OptValue>),
    None,
    /// Anything else (a torch.device, an object): its description.
    Other(String),
}

/// The options of the original's argparse (main.py and PADS_utilities.include_pads_args), in
/// declaration order. Fields of the Namespace that are not here were added by its code after
/// parsing (`device`, `num_classes`, `mean`, `std`, ...).
pub const ORIGINAL_OPTIONS: &[&str] = &[
    "dataset", "lr", "n_epochs", "kernels", "bs", "samples_per_class", "seed", "scheduler", "gamma", "decay", "tau",
    "loss", "sampling", "margin", "beta_lr", "beta", "nu", "beta_constant", "proxy_lr", "l2npair", "k_vals",
    "embed_dim", "arch", "not_pretrained", "gpu", "no_weights", "savename", "source_path", "save_path", "wandb_log",
    "wandb_project_name", "wandb_group", "train_val_split_by_class", "train_val_split", "policy_n_support",
    "policy_support_limit", "policy_lr", "policy_sample_freq", "policy_action_values", "policy_size",
    "policy_winit_type", "policy_dont_use_a2c", "policy_baseline_ema_gamma", "policy_reward_update_w",
    "policy_ppo_ratio", "policy_no_baseline", "policy_include_train_metrics", "policy_run_avgs_no_avg",
    "policy_run_avgs", "policy_state_metrics", "policy_metric_history", "policy_reward_type",
    "policy_parameter_history", "policy_scramble_freq", "policy_scramble_dataloaders", "policy_mode",
    "policy_old_update_iter", "policy_sup_metric_collect", "policy_training_delay", "policy_init_distr",
    "policy_init_params", "policy_log_distr_plots", "policy_merge_oobs", "policy_include_pos",
    "policy_include_same", "policy_no_self_reg",
];

/// Options that describe where and how the original run was kept, not what it trained.
const NOT_TRAINING: &[(&str, &str)] = &[
    ("save_path", "the original's run folder"),
    ("savename", "the original's run folder name"),
    ("source_path", "the original machine's dataset path (the data root is --data-root, or the stored path when it exists)"),
    ("gpu", "the original's GPU index (pads picks its device at run time)"),
    ("kernels", "the original's DataLoader workers (pads picks its own loader threads)"),
    ("wandb_log", "wandb logging of the original run"),
    ("wandb_project_name", "wandb logging of the original run"),
    ("wandb_group", "wandb logging of the original run"),
];

/// A RunConfig read from the original's options, with what was carried over and what not.
#[derive(Debug)]
pub struct FromNamespace {
    pub cfg: RunConfig,
    /// The original's option names that set a pads option.
    pub carried: Vec<String>,
    /// (option or field, why it is not carried over).
    pub not_carried: Vec<(String, String)>,
    /// The data root the config holds, and whether it exists on this machine.
    pub data_root_found: bool,
}

fn as_args(name: &str, v: &OptValue) -> Option<Vec<String>> {
    let scalar = |v: &OptValue| -> Option<String> {
        Some(match v {
            OptValue::Int(i) => i.to_string(),
            OptValue::Float(f) => format!("{f}"),
            OptValue::Str(s) => s.clone(),
            _ => return None,
        })
    };
    let flag = format!("--{name}");
    match v {
        OptValue::Bool(true) => Some(vec![flag]),
        OptValue::Bool(false) => Some(Vec::new()),
        OptValue::List(items) => {
            let mut out = vec![flag];
            for item in items {
                out.push(scalar(item)?);
            }
            Some(out)
        }
        v => Some(vec![flag, scalar(v)?]),
    }
}

/// The RunConfig of an original run from its saved options `fields` (name, value; the
/// Namespace's `__dict__`). `file` names the source in errors. `data_root`: where the
/// dataset folder (`cub200/`, ...) is on this machine; None keeps the stored `source_path`'s
/// parent (main.py appends the dataset name to `--source_path` before saving).
///
/// Errors: a missing `dataset`; an option whose value pads refuses (named, with the file).
pub fn config_from_namespace(fields: &[(String, OptValue)], file: &Path, data_root: Option<&Path>) -> Result<FromNamespace> {
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v);
    let text = |k: &str| match get(k) {
        Some(OptValue::Str(s)) => Some(s.clone()),
        _ => None,
    };
    if text("dataset").is_none() {
        bail!("{}: holds no `dataset` option; expected the original's saved argparse Namespace (main.py's options)", file.display());
    }
    let loss_has_beta = text("loss").as_deref() == Some("marginloss");
    let learned = text("sampling").as_deref() == Some("learned");
    let no_ops = super::original::no_op_names();
    let mut args: Vec<String> = vec!["pads".into(), "train".into()];
    let mut carried = Vec::new();
    let mut not_carried = Vec::new();
    for (name, value) in fields {
        if !ORIGINAL_OPTIONS.contains(&name.as_str()) {
            not_carried.push((name.clone(), "set by the original's code after parsing, not an option".to_string()));
            continue;
        }
        if let Some((_, why)) = NOT_TRAINING.iter().find(|(n, _)| n == name) {
            not_carried.push((name.clone(), why.to_string()));
            continue;
        }
        if no_ops.contains(&name.as_str()) {
            not_carried.push((name.clone(), "does nothing in the original either".to_string()));
            continue;
        }
        if name.starts_with("beta") && !loss_has_beta {
            not_carried.push((name.clone(), "an option of the margin loss; this run used another loss".to_string()));
            continue;
        }
        if name.starts_with("policy_") && !learned {
            not_carried.push((name.clone(), "an option of the learned sampler; this run used a fixed one".to_string()));
            continue;
        }
        match as_args(name, value) {
            Some(a) => {
                args.extend(a);
                carried.push(name.clone());
            }
            None => not_carried.push((name.clone(), format!("unexpected value {value:?}"))),
        }
    }
    let translated = super::original::translate(args.into_iter().map(OsString::from).collect(), false);
    if let Some(e) = translated.error {
        bail!("{}: {e}", file.display());
    }
    let mut argv: Vec<OsString> = vec!["pads".into()];
    argv.extend(translated.args.into_iter().skip(2));
    let matches = super::cli::run_config_command()
        .try_get_matches_from(&argv)
        .map_err(|e| anyhow::anyhow!("{}: the original's options do not fit pads': {}", file.display(), e.render().to_string().trim().trim_start_matches("error: ").lines().next().unwrap_or("")))?;
    let mut cfg = RunConfig::resolve(RunConfig::default(), &matches).with_context(|| format!("{}: the original's options", file.display()))?;
    let dataset = text("dataset").unwrap_or_default();
    let stored_root = text("source_path").map(PathBuf::from).map(|p| match p.file_name() {
        Some(n) if n.to_string_lossy() == dataset => p.parent().map(Path::to_path_buf).unwrap_or(p),
        _ => p,
    });
    let root = match (data_root, stored_root) {
        (Some(r), _) if !r.is_dir() => bail!("--data-root {} does not exist or is not a folder", r.display()),
        (Some(r), _) => crate::util::absolute_clean(r).with_context(|| format!("cannot make {} absolute", r.display()))?,
        (None, Some(r)) => r,
        (None, None) => cfg.data_root.clone(),
    };
    let data_root_found = root.is_dir();
    cfg.data_root = root;
    Ok(FromNamespace { cfg, carried, not_carried, data_root_found })
}
