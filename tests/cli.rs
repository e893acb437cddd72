//! The command line: subcommands, config precedence and presets, clear config errors.
mod common;
use pads::config::{run_config_command, DatasetKind, PolicyMode, Preset, RunConfig};
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
    assert!(sop.train_val_split_by_class);
    assert_eq!(sop.recall_ks(), vec![1, 10, 100, 1000]);
    // Defaults of the original's PADS options.
    let d = RunConfig::default();
    assert_eq!((d.policy_sample_freq, d.policy_metric_history, d.policy_parameter_history), (30, 10, 1));
    assert_eq!(d.policy_run_avgs, vec![2, 8, 16, 32]);
    assert_eq!((d.policy_lr, d.policy_baseline_ema_gamma, d.policy_reward_update_w, d.policy_ppo_ratio), (0.01, 0.05, 0.99, 0.2));
    assert_eq!(d.effective_self_reg(), (true, true, true));
    let off = RunConfig { policy_no_self_reg: true, ..RunConfig::default() };
    assert_eq!(off.effective_self_reg(), (false, false, false));
}

#[test]
fn metrics_command_reads_npy() {
    let tmp = tempfile::tempdir().unwrap();
    // Two far-apart clusters of 3 points each.
    let e = tch::Tensor::from_slice(&[0.0f32, 0.0, 0.1, 0.0, 0.0, 0.1, 9.0, 9.0, 9.1, 9.0, 9.0, 9.1]).view([6, 2]);
    e.write_npy(tmp.path().join("e.npy")).unwrap();
    tch::Tensor::from_slice(&[4i64, 4, 4, 7, 7, 7]).write_npy(tmp.path().join("l.npy")).unwrap();
    let (ok, out, err) = pads(&["metrics", "--embeddings", tmp.path().join("e.npy").to_str().unwrap(), "--labels", tmp.path().join("l.npy").to_str().unwrap(), "--k", "1,2", "--json"]);
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
    assert!(ok, "{err}");
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
