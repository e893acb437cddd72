//! The original's saved options (hypa.pkl's Namespace) as a pads RunConfig.
use pads::config::namespace::{config_from_namespace, OptValue, ORIGINAL_OPTIONS};
use std::path::Path;

fn s(v: &str) -> OptValue {
    OptValue::Str(v.into())
}

/// The fields of tests/fixtures/original/CUB_PADS/hypa.pkl as the original wrote them
/// (written out by hand here, so this test does not depend on the pickle reader).
fn cub_pads() -> Vec<(String, OptValue)> {
    use OptValue::*;
    let f = |x: &[f64]| List(x.iter().map(|v| Float(*v)).collect());
    let i = |x: &[i64]| List(x.iter().map(|v| Int(*v)).collect());
    let v: Vec<(&str, OptValue)> = vec![
        ("dataset", s("cub200")), ("lr", Float(1e-05)), ("n_epochs", Int(2)), ("kernels", Int(0)), ("bs", Int(8)),
        ("samples_per_class", Int(2)), ("seed", Int(0)), ("scheduler", s("step")), ("gamma", Float(0.3)),
        ("decay", Float(0.0004)), ("tau", i(&[150])), ("loss", s("marginloss")), ("sampling", s("learned")),
        ("margin", Float(0.2)), ("beta_lr", Float(0.0005)), ("beta", Float(1.2)), ("nu", Int(0)),
        ("beta_constant", Bool(false)), ("proxy_lr", Float(1e-05)), ("l2npair", Float(0.02)), ("k_vals", i(&[1, 2, 4])),
        ("embed_dim", Int(32)), ("arch", s("resnet50")), ("not_pretrained", Bool(true)), ("gpu", Int(0)),
        ("no_weights", Bool(false)), ("savename", s("CUB_PADS")), ("source_path", s("/elsewhere/data/cub200")),
        ("save_path", s("/elsewhere/runs/cub200/CUB_PADS")), ("wandb_log", Bool(false)),
        ("wandb_project_name", s("RL-Sampler-NovelSet")), ("wandb_group", s("SampleGroup")),
        ("train_val_split_by_class", Bool(false)), ("train_val_split", Float(0.67)), ("policy_n_support", Int(30)),
        ("policy_support_limit", f(&[0.1, 1.4])), ("policy_lr", Float(0.01)), ("policy_sample_freq", Int(2)),
        ("policy_action_values", f(&[0.8, 1.0, 1.25])), ("policy_size", i(&[128, 128])), ("policy_winit_type", s("none")),
        ("policy_dont_use_a2c", Bool(false)), ("policy_baseline_ema_gamma", Float(0.05)), ("policy_reward_update_w", Float(0.99)),
        ("policy_ppo_ratio", Float(0.2)), ("policy_no_baseline", Bool(false)), ("policy_include_train_metrics", Bool(false)),
        ("policy_run_avgs_no_avg", Bool(false)), ("policy_run_avgs", i(&[2, 8, 16, 32])),
        ("policy_state_metrics", List(vec![s("recall"), s("dists"), s("nmi")])), ("policy_metric_history", Int(2)),
        ("policy_reward_type", Int(2)), ("policy_parameter_history", Int(1)), ("policy_scramble_freq", Int(100000000)),
        ("policy_scramble_dataloaders", Bool(false)), ("policy_mode", s("ppo")), ("policy_old_update_iter", Int(2)),
        ("policy_sup_metric_collect", Int(-1)), ("policy_training_delay", Int(0)), ("policy_init_distr", s("uniform_low")),
        ("policy_init_params", f(&[0.5, 0.04])), ("policy_log_distr_plots", Bool(false)), ("policy_merge_oobs", Bool(false)),
        ("policy_include_pos", Bool(true)), ("policy_include_same", Bool(true)), ("policy_no_self_reg", Bool(false)),
        ("pretrained", Bool(false)), ("use_learned_sampler", Bool(true)), ("policy_include_merge", Bool(true)),
        ("device", Other("torch.device('cpu')".into())), ("mean", f(&[0.485, 0.456, 0.406])),
        ("std", f(&[0.229, 0.224, 0.225])), ("input_space", s("RGB")), ("input_range", i(&[0, 1])), ("num_classes", Int(6)),
    ];
    v.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

#[test]
fn every_option_of_a_pads_run_lands_in_the_config() {
    let fields = cub_pads();
    let got = config_from_namespace(&fields, Path::new("hypa.pkl"), None).unwrap();
    let c = &got.cfg;
    assert_eq!(c.dataset.as_str(), "cub200");
    assert_eq!((c.n_epochs, c.bs, c.samples_per_class, c.seed, c.embed_dim), (2, 8, 2, 0, 32));
    assert_eq!(c.lr, 1e-5);
    assert_eq!(c.sampling.as_str(), "pads");
    assert_eq!(c.loss.as_str(), "margin");
    assert_eq!(c.policy_sample_freq, 2);
    assert_eq!(c.policy_metric_history, 2);
    assert_eq!(c.policy_old_update_iter, 2);
    assert_eq!(c.train_val_split, 0.67);
    assert!(c.not_pretrained, "--not_pretrained");
    // The data root is the stored source_path without the dataset name main.py appends.
    assert_eq!(c.data_root, Path::new("/elsewhere/data"));
    assert!(!got.data_root_found);
    // Every argparse option is either carried or listed with a reason; the code's own fields too.
    for name in ORIGINAL_OPTIONS {
        let listed = got.carried.iter().any(|c| c == name) || got.not_carried.iter().any(|(n, _)| n == name);
        assert!(listed, "{name} neither carried nor listed");
    }
    for name in ["device", "mean", "num_classes", "save_path", "nu", "gpu"] {
        assert!(got.not_carried.iter().any(|(n, _)| n == name), "{name} should be listed as not carried");
    }
}

#[test]
fn a_fixed_sampler_run_leaves_policy_options_out_and_data_root_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let mut fields = cub_pads();
    for (k, v) in fields.iter_mut() {
        if k == "sampling" {
            *v = s("distance");
        }
        if k == "loss" {
            *v = s("triplet");
        }
    }
    let got = config_from_namespace(&fields, Path::new("hypa.pkl"), Some(dir.path())).unwrap();
    assert_eq!(got.cfg.sampling.as_str(), "distance");
    assert_eq!(got.cfg.loss.as_str(), "triplet");
    assert!(got.not_carried.iter().any(|(n, why)| n == "policy_lr" && why.contains("learned sampler")));
    assert!(got.not_carried.iter().any(|(n, why)| n == "beta" && why.contains("margin loss")));
    assert!(got.data_root_found);
    assert_eq!(got.cfg.data_root, dir.path());
}

#[test]
fn a_namespace_without_dataset_is_refused_naming_the_file() {
    let err = config_from_namespace(&[("lr".into(), OptValue::Float(0.1))], Path::new("/x/hypa.pkl"), None).unwrap_err();
    assert!(format!("{err:#}").contains("/x/hypa.pkl") && format!("{err:#}").contains("dataset"), "{err:#}");
}

#[test]
fn a_value_pads_refuses_names_the_file() {
    let mut fields = cub_pads();
    for (k, v) in fields.iter_mut() {
        if k == "bs" {
            *v = OptValue::Int(-3);
        }
    }
    let err = config_from_namespace(&fields, Path::new("/x/hypa.pkl"), None).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("/x/hypa.pkl") && msg.contains("bs"), "{msg}");
}
