//! The command line: subcommands, config precedence and presets, clear config errors.
mod common;
use pads::config::{run_config_command, RunConfig};
use pads::options::{DatasetKind, PolicyMode, Preset};
use std::process::Command;

fn pads(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(common::pads_bin()).args(args).env("PADS_LOG", "warn").output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn help_shows_the_plan() {
    let (ok, out, _) = pads(&["--help"]);
    assert!(ok);
    for sub in ["synth", "data", "train", "eval", "metrics", "embed", "demo"] {
        assert!(out.contains(sub), "--help lacks {sub}:\n{out}");
    }
    let (ok, out, _) = pads(&["train", "--help"]);
    assert!(ok);
    for flag in ["--policy-sample-freq", "--policy-n-support", "--policy-init-distr", "--train-val-split-by-class", "--samples-per-class", "--beta-lr", "--resume"] {
        assert!(out.contains(flag), "train --help lacks {flag}");
    }
}

#[test]
fn config_errors_name_the_option_and_allowed_values() {
    let (ok, _, err) = pads(&["train", "--dataset", "imagenet", "--out", "x"]);
    assert!(!ok);
    assert!(err.contains("--dataset") && err.contains("cub200") && err.contains("online_products"), "{err}");
    let (ok, _, err) = pads(&["train", "--no-such-option", "--out", "x"]);
    assert!(!ok && err.contains("--no-such-option"), "{err}");
    let (ok, _, err) = pads(&["train", "--policy-reward-type", "5", "--out", "x"]);
    assert!(!ok && err.contains("--policy-reward-type") && err.contains("0 (NMI)"), "{err}");
    let (ok, _, err) = pads(&["train", "--train-val-split", "1.5", "--out", "x"]);
    assert!(!ok && err.contains("--train-val-split") && err.contains("(0, 1]"), "{err}");
    let (ok, _, err) = pads(&["train", "--bs", "30", "--samples-per-class", "4", "--out", "x"]);
    assert!(!ok && err.contains("--bs") && err.contains("multiple"), "{err}");
    let (ok, _, err) = pads(&["train", "--policy-init-distr", "gaussian", "--out", "x"]);
    assert!(!ok && err.contains("uniform_low"), "{err}");
    let (ok, _, err) = pads(&["train", "--device", "tpu", "--out", "x"]);
    assert!(!ok && err.contains("--device") && err.contains("cuda:N"), "{err}");
    // Nothing was created: errors come before any work.
    assert!(!std::path::Path::new("x").exists());
}

#[test]
fn config_file_then_flags_override() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("run.toml");
    let mut base = RunConfig::default();
    base.n_epochs = 7;
    base.lr = 0.5;
    base.policy_sample_freq = 11;
    std::fs::write(&file, base.to_toml()).unwrap();
    let from_file = RunConfig::from_toml_file(&file).unwrap();
    assert_eq!(from_file, base);
    let m = run_config_command().get_matches_from(["pads", "--lr", "0.25", "--policy-mode", "ppo", "--policy-include-pos", "false"]);
    let cfg = RunConfig::resolve(from_file, &m).unwrap();
    assert_eq!(cfg.lr, 0.25, "typed flag wins");
    assert_eq!(cfg.n_epochs, 7, "file value kept when no flag given");
    assert_eq!(cfg.policy_sample_freq, 11);
    assert_eq!(cfg.policy_mode, PolicyMode::Ppo);
    assert!(!cfg.policy_include_pos);
    // Lists take commas or spaces, as the original's nargs='+'.
    for args in [vec!["pads", "--policy-action-values", "0.8,1,1.25"], vec!["pads", "--policy-action-values", "0.8", "1", "1.25"]] {
        let m = run_config_command().get_matches_from(args);
        assert_eq!(RunConfig::resolve(RunConfig::default(), &m).unwrap().policy_action_values, vec![0.8, 1.0, 1.25]);
    }
    let m = run_config_command().get_matches_from(["pads", "--policy-action-values", "0.8,1.25"]);
    let err = format!("{:#}", RunConfig::resolve(RunConfig::default(), &m).err().unwrap());
    assert!(err.contains("--policy-action-values") && err.contains("three"), "{err}");
    // A key pads does not know is an error naming it.
    std::fs::write(&file, "n_epochs = 3\npolicy_smaple_freq = 4\n").unwrap();
    let err = format!("{:#}", RunConfig::from_toml_file(&file).err().unwrap());
    assert!(err.contains("policy_smaple_freq"), "{err}");
}

#[test]
fn presets_are_the_original_sample_runs() {
    let cub = RunConfig::preset(Preset::Cub200);
    assert_eq!((cub.n_epochs, cub.beta_lr, cub.beta, cub.tau.clone()), (300, 0.001, 0.6, vec![150]));
    assert_eq!((cub.train_val_split, cub.samples_per_class, cub.policy_reward_type), (0.85, 2, 1));
    assert_eq!(cub.policy_mode, PolicyMode::Ppo);
    assert_eq!((cub.policy_metric_history, cub.policy_old_update_iter), (20, 5));
    assert_eq!(cub.policy_action_values, vec![0.8, 1.0, 1.25]);
    assert_eq!((cub.policy_n_support, cub.policy_support_limit.clone()), (30, vec![0.1, 1.4]));
    let cars = RunConfig::preset(Preset::Cars196);
    assert_eq!(cars.dataset, DatasetKind::Cars196);
    assert_eq!((cars.beta_lr, cars.tau.clone(), cars.train_val_split, cars.samples_per_class, cars.policy_reward_type), (0.0005, vec![140], 0.9, 4, 2));
    let sop = RunConfig::preset(Preset::OnlineProducts);
    assert_eq!((sop.n_epochs, sop.beta, sop.tau.clone(), sop.policy_sample_freq), (120, 1.2, vec![80], 60));
    // As the sample line: no --train_val_split_by_class (SOP is split by class anyway, as the
    // original's loader does: tests/data.rs).
    assert!(!sop.train_val_split_by_class);
    assert_eq!(sop.recall_ks(), vec![1, 10, 100, 1000]);
    // Defaults of the original's PADS options.
    let d = RunConfig::default();
    assert_eq!((d.policy_sample_freq, d.policy_metric_history, d.policy_parameter_history), (30, 10, 1));
    assert_eq!(d.policy_run_avgs, vec![2, 8, 16, 32]);
    assert_eq!((d.policy_lr, d.policy_baseline_ema_gamma, d.policy_reward_update_w, d.policy_ppo_ratio), (0.01, 0.05, 0.99, 0.2));
    assert_eq!(d.effective_self_reg(), (true, true, true));
    let off = RunConfig { policy_no_self_reg: true, ..RunConfig::default() };
    assert_eq!(off.effective_self_reg(), (false, false, true));
}

#[test]
fn metrics_command_reads_npy() {
    let tmp = tempfile::tempdir().unwrap();
    // Two far-apart clusters of 3 points each.
    let e = tch::Tensor::from_slice(&[0.0f32, 0.0, 0.1, 0.0, 0.0, 0.1, 9.0, 9.0, 9.1, 9.0, 9.0, 9.1]).view([6, 2]);
    e.write_npy(tmp.path().join("e.npy")).unwrap();
    tch::Tensor::from_slice(&[4i64, 4, 4, 7, 7, 7]).write_npy(tmp.path().join("l.npy")).unwrap();
    let (ok, out, err) = pads(&["metrics", "--embeddings", tmp.path().join("e.npy").to_str().unwrap(), "--labels", tmp.path().join("l.npy").to_str().unwrap(), "--k", "1,2", "--json", "--no-normalize"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["recall@1"], 1.0);
    assert_eq!(v["recall@2"], 1.0);
    assert_eq!(v["nmi"], 1.0);
    let (ok, _, err) = pads(&["metrics", "--embeddings", "/nonexistent.npy", "--labels", "x.npy"]);
    assert!(!ok && err.contains("/nonexistent.npy"), "{err}");
}

#[test]
fn data_check_reports_splits() {
    let tmp = tempfile::tempdir().unwrap();
    pads::data::synth::generate(&tmp.path().join("synthetic"), &pads::data::synth::SynthOptions { classes: 6, per_class: 10, image_size: 16, seed: 0 }).unwrap();
    let (ok, out, err) = pads(&["data", "check", "--dataset", "synthetic", "--data-root", tmp.path().to_str().unwrap(), "--train-val-split", "0.8", "--json"]);
    // Training with these options would stop (one batch does not fit): data check fails too.
    assert!(!ok && err.contains("would stop"), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let splits = v["splits"].as_array().unwrap();
    assert_eq!(splits[0]["name"], "train");
    assert_eq!(splits[0]["images"], 24);
    assert_eq!(splits[1]["name"], "val");
    assert_eq!(splits[1]["images"], 6);
    assert_eq!(splits[2]["classes"], 3);
    assert_eq!(splits[2]["images"], 30);
    // The default bs 112 does not fit 24 images: reported as a problem.
    assert!(v["problems"].as_array().unwrap().iter().any(|p| p.as_str().unwrap().contains("fewer than one batch")));
    let (ok, _, err) = pads(&["data", "check", "--dataset", "cub200", "--data-root", tmp.path().to_str().unwrap()]);
    assert!(!ok && err.contains("cub200") && err.contains("does not exist"), "{err}");
}

// ---- configuration layers: defaults < --preset < --config < flags ----

#[test]
fn a_partial_toml_takes_the_defaults_for_missing_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("partial.toml");
    std::fs::write(&file, "n_epochs = 3\nsampling = \"random\"\n").unwrap();
    let cfg = RunConfig::from_toml_file(&file).unwrap();
    assert_eq!(cfg, RunConfig { n_epochs: 3, sampling: pads::options::Sampling::Random, ..RunConfig::default() });
    std::fs::write(&file, "").unwrap();
    assert_eq!(RunConfig::from_toml_file(&file).unwrap(), RunConfig::default());
    // A wrong type is still named.
    std::fs::write(&file, "n_epochs = \"many\"\n").unwrap();
    let err = format!("{:#}", RunConfig::layered(None, Some(&file)).unwrap_err());
    assert!(err.contains("n_epochs") && err.contains("partial.toml"), "{err}");
}

#[test]
fn each_configuration_layer_overrides_the_one_below() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("run.toml");
    std::fs::write(&file, "beta = 0.9\nn_epochs = 5\n").unwrap();
    let (d, cub) = (RunConfig::default(), RunConfig::preset(Preset::Cub200));
    // The values this test relies on differ between the layers.
    assert_ne!(d.beta_lr, cub.beta_lr);
    assert_ne!(cub.beta, 0.9);
    let layered = RunConfig::layered(Some(Preset::Cub200), Some(&file)).unwrap();
    // defaults: a key neither the preset nor the file sets
    assert_eq!(layered.policy_sample_freq, d.policy_sample_freq);
    assert_eq!(layered.policy_lr, d.policy_lr);
    // preset over defaults: keys the file does not write keep the preset's value
    assert_eq!((layered.dataset, layered.beta_lr, layered.policy_mode), (DatasetKind::Cub200, cub.beta_lr, cub.policy_mode));
    assert_eq!(layered.policy_action_values, cub.policy_action_values);
    // config file over preset
    assert_eq!((layered.beta, layered.n_epochs), (0.9, 5));
    // flags over the config file
    let m = run_config_command().get_matches_from(["pads", "--n-epochs", "7"]);
    let cfg = RunConfig::resolve(layered.clone(), &m).unwrap();
    assert_eq!((cfg.n_epochs, cfg.beta, cfg.beta_lr), (7, 0.9, cub.beta_lr));
    // Without a preset the file lies over the defaults.
    let plain = RunConfig::layered(None, Some(&file)).unwrap();
    assert_eq!((plain.beta, plain.beta_lr, plain.dataset), (0.9, d.beta_lr, d.dataset));
    assert_eq!(RunConfig::layered(Some(Preset::Cars196), None).unwrap(), RunConfig::preset(Preset::Cars196));

    // The command line uses these layers: the preset's samples_per_class 2 survives a config
    // file with bs = 6 (with the default 4 this would be refused as not a multiple), so the
    // command gets as far as the missing data root.
    std::fs::write(&file, "bs = 6\n").unwrap();
    let missing = tmp.path().join("no-data");
    let out = tmp.path().join("run");
    let (ok, _, err) = pads(&[
        "train", "--preset", "cub200", "--config", file.to_str().unwrap(), "--data-root", missing.to_str().unwrap(),
        "--out", out.to_str().unwrap(), "--quiet",
    ]);
    assert!(!ok && !err.contains("--bs") && err.contains("no-data") && err.contains("does not exist"), "{err}");
}

// ---- --help ----

/// Option lines of a `-h` text that have no description (same line or the next).
fn undescribed(help: &str) -> Vec<String> {
    let lines: Vec<&str> = help.lines().collect();
    let mut missing = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        if !t.starts_with('-') {
            continue;
        }
        let indent = line.len() - t.len();
        let same_line = t.split_once("  ").is_some_and(|(_, rest)| !rest.trim().is_empty());
        let next_line = lines.get(i + 1).is_some_and(|n| {
            let nt = n.trim_start();
            !nt.is_empty() && !nt.starts_with('-') && n.len() - nt.len() > indent
        });
        if !same_line && !next_line {
            missing.push(t.to_string());
        }
    }
    missing
}

#[test]
fn train_help_groups_and_describes_every_option() {
    // Every run option has a description and a heading (a new option without one fails here).
    let cmd = pads::config::help::describe_run_options(run_config_command());
    for a in cmd.get_arguments() {
        let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
        assert!(!help.trim().is_empty() && !help.contains('\n'), "--{} has no one-line description", a.get_id());
        let heading = a.get_help_heading().unwrap_or_else(|| panic!("--{} has no heading", a.get_id()));
        assert!(pads::config::help::HEADING_ORDER.contains(&heading), "--{}: unknown heading {heading}", a.get_id());
    }
    let (ok, out, err) = pads(&["train", "--help"]);
    assert!(ok, "{err}");
    // Headings in order, the run options first.
    let headings = ["\nRun:\n", "\nData:\n", "\nModel:\n", "\nOptimisation:\n", "\nSampling:\n", "\nPADS policy", "\nEvaluation:\n"];
    let pos: Vec<usize> = headings.iter().map(|h| out.find(h).unwrap_or_else(|| panic!("no heading {h:?} in:\n{out}"))).collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "headings out of order: {pos:?}\n{out}");
    let flags = ["  --out <", "  --preset <", "  --config <", "  --resume <", "  --overwrite\n", "  --dataset <"];
    let fpos: Vec<usize> = flags.iter().map(|f| out.find(f).unwrap_or_else(|| panic!("no {f}"))).collect();
    assert!(fpos.windows(2).all(|w| w[0] < w[1]), "--out, --preset, --config, --resume not first: {fpos:?}");
    // List defaults as they are typed, with commas.
    let d = RunConfig::default();
    let join = |v: Vec<String>| v.join(",");
    for list in [
        join(d.policy_action_values.iter().map(|v| v.to_string()).collect()),
        join(d.policy_run_avgs.iter().map(|v| v.to_string()).collect()),
        join(d.policy_support_limit.iter().map(|v| v.to_string()).collect()),
        join(d.policy_size.iter().map(|v| v.to_string()).collect()),
    ] {
        assert!(out.contains(&format!("[default: {list}]")), "no [default: {list}] in train --help");
    }
    let metrics: Vec<String> = d.policy_state_metrics.iter().map(|m| format!("{m:?}").to_lowercase()).collect();
    assert!(out.contains(&format!("[default: {}]", metrics.join(","))), "state metrics default not with commas");
    // Units and descriptions in the compact form, for train and the other commands.
    for sub in [vec!["train"], vec!["eval"], vec!["embed"], vec!["synth"], vec!["metrics"], vec!["demo"], vec!["sweep"], vec!["data", "check"]] {
        let mut args = sub.clone();
        args.push("-h");
        let (ok, out, _) = pads(&args);
        assert!(ok);
        let missing = undescribed(&out);
        assert!(missing.is_empty(), "pads {} -h: options without a description: {missing:?}\n{out}", sub.join(" "));
    }
    let (_, out, _) = pads(&["metrics", "-h"]);
    assert!(out.contains("[default: 1,2,4,8]"), "{out}");
    let (_, out, _) = pads(&["train", "-h"]);
    for unit in ["[pixels]", "[epochs]", "[images]", "[per step]", "[iterations]", "[path]"] {
        assert!(out.contains(unit), "train -h names no {unit}");
    }
}

#[test]
fn in_shop_preset_and_recall_ks() {
    // Deep-Metric-Learning-Baselines' ResNet50 In-Shop run (--n_epochs 40 --tau 25) and the
    // In-Shop protocol's Recall@1,10,20,30,40,50.
    let c = RunConfig::preset(Preset::InShop);
    assert_eq!(c.dataset, DatasetKind::InShop);
    assert_eq!((c.n_epochs, c.tau.clone(), c.samples_per_class, c.bs, c.embed_dim), (40, vec![25], 4, 112, 128));
    assert!(c.train_val_split_by_class && c.train_val_split == 0.9);
    assert_eq!(c.recall_ks(), vec![1, 10, 20, 30, 40, 50]);
    let (ok, out, _) = pads(&["train", "--help"]);
    assert!(ok && out.contains("in_shop"), "{out}");
}

#[test]
fn a_closed_stdout_ends_quietly_not_with_a_panic() {
    // `pads ... | head -1`: the reader closes its end before pads writes.
    use std::process::Stdio;
    let tmp = tempfile::tempdir().unwrap();
    let (e, l) = (tmp.path().join("e.npy"), tmp.path().join("l.npy"));
    tch::Tensor::from_slice(&[1.0f32, 0.0, 0.9, 0.1, 0.0, 1.0, 0.1, 0.9]).view([4, 2]).write_npy(&e).unwrap();
    tch::Tensor::from_slice(&[0i64, 0, 1, 1]).write_npy(&l).unwrap();
    let mut child = Command::new(common::pads_bin())
        .args(["metrics", "--embeddings", e.to_str().unwrap(), "--labels", l.to_str().unwrap(), "--k", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(101), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
