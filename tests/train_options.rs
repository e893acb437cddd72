//! End-to-end tiny runs of the original's optional training options: --scheduler none, the
//! gradient-norm columns, sub-episode rewards with training-split and svd state metrics, and
//! the scrambled training/validation split (and its resume).
use pads::config::RunConfig;
use pads::data::synth::{self, SynthOptions};
use pads::options::{Arch, DatasetKind, Sampling, Scheduler, StateMetric, WinitType};
use pads::run::checkpoint::Checkpoint;
use pads::run::CsvTable;
use pads::train::{train, TrainOptions};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn data_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pads-train-options-tests");
        synth::ensure(&root, &SynthOptions { classes: 16, per_class: 24, image_size: 32, seed: 0 }).unwrap();
        root
    })
}

fn tiny(epochs: usize) -> RunConfig {
    RunConfig {
        dataset: DatasetKind::Synthetic,
        data_root: data_root().to_path_buf(),
        arch: Arch::Small,
        image_size: 32,
        embed_dim: 16,
        bs: 16,
        samples_per_class: 4,
        n_epochs: epochs,
        lr: 3e-3,
        sampling: Sampling::Pads,
        num_workers: 1,
        policy_sample_freq: 3,
        policy_metric_history: 3,
        policy_size: vec![16],
        seed: 3,
        tau: vec![1],
        ..RunConfig::default()
    }
}

fn quiet() -> TrainOptions {
    TrainOptions { quiet: true, ..Default::default() }
}

fn progression(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("pads_progression.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn scheduler_none_keeps_the_learning_rate_and_gradient_columns_are_filled() {
    for e in 0..5 {
        assert_eq!(pads::train::lr_factor(&RunConfig { scheduler: Scheduler::None, tau: vec![1, 2], ..RunConfig::default() }, e), 1.0);
    }
    let out = tempfile::tempdir().unwrap();
    let cfg = RunConfig { scheduler: Scheduler::None, policy_training_delay: 1, ..tiny(2) };
    train(&cfg, out.path(), &TrainOptions { eval_before: true, ..quiet() }).unwrap();
    let t = CsvTable::read(&out.path().join("metrics.csv")).unwrap();
    assert_eq!(t.column("lr").unwrap(), vec![cfg.lr; 3], "tau 1 does not lower the learning rate without a schedule");
    let (l2, max) = (t.column("grad_l2").unwrap(), t.column("grad_max").unwrap());
    let (pl2, pmax) = (t.column("policy_grad_l2").unwrap(), t.column("policy_grad_max").unwrap());
    // Row 0: the untrained network (no gradients); epoch 1: the policy waits (delay 1), so
    // its cells are empty, not 0; epoch 2: updates.
    assert!(l2[0].is_nan() && max[0].is_nan() && pl2[0].is_nan());
    for r in 1..3 {
        assert!(l2[r] > 0.0 && l2[r].is_finite() && max[r] > l2[r], "row {r}: grad_l2 {} grad_max {}", l2[r], max[r]);
    }
    assert!(pl2[1].is_nan() && pmax[1].is_nan(), "epoch 1 has no policy update");
    assert!(pl2[2] > 0.0 && pmax[2] >= pl2[2], "epoch 2: policy_grad_l2 {} policy_grad_max {}", pl2[2], pmax[2]);
    let idx = t.header.iter().position(|h| h == "policy_grad_l2").unwrap();
    assert_eq!(t.rows[1][idx], "", "undefined is an empty cell");
    // A distance run has the network's columns only.
    let out = tempfile::tempdir().unwrap();
    train(&RunConfig { sampling: Sampling::Distance, ..tiny(1) }, out.path(), &quiet()).unwrap();
    let t = CsvTable::read(&out.path().join("metrics.csv")).unwrap();
    assert!(t.header.ends_with(&["grad_l2".to_string(), "grad_max".to_string()]));
    assert!(t.column("grad_l2").unwrap()[0] > 0.0);
}

#[test]
fn sub_episode_rewards_train_metrics_and_svd_enter_every_step() {
    let out = tempfile::tempdir().unwrap();
    let cfg = RunConfig {
        policy_sample_freq: 6,
        policy_sup_metric_collect: 2,
        policy_include_train_metrics: true,
        policy_state_metrics: vec![StateMetric::Recall, StateMetric::Svd, StateMetric::Nmi],
        policy_run_avgs_no_avg: true,
        policy_winit_type: WinitType::HeN,
        policy_parameter_history: -1,
        ..tiny(2)
    };
    let s = train(&cfg, out.path(), &quiet()).unwrap();
    let lines = progression(out.path());
    assert!(lines.len() >= 2 && lines.len() == s.policy_updates);
    for l in &lines {
        // Collections at counter values 6 // 3 * j = 2, 4 of each period, then the step's own
        // reward (type 2: mean of Recall@1 and NMI), discounted by 0.7.
        let subs: Vec<f64> = l["sub_rewards"].as_array().expect("sub_rewards").iter().map(|x| x.as_f64().unwrap()).collect();
        assert_eq!(subs.len(), 2, "{l}");
        let pairs: Vec<(String, f64)> = serde_json::from_value(l["val_metrics"].clone()).unwrap();
        let val: std::collections::HashMap<String, f64> = pairs.into_iter().collect();
        let own = (val["recall@1"] + val["nmi"]) / 2.0;
        let want = 0.49 * subs[0] + 0.7 * subs[1] + own;
        assert!((l["reward_metric"].as_f64().unwrap() - want).abs() < 1e-12, "reward_metric {} vs {want}", l["reward_metric"]);
    }
    // The state: (4 Recall@k + svd + NMI) on validation and training, 3 past distributions
    // (-1 = the metric history), running-average slots without averaging.
    let ck = Checkpoint::load(&out.path().join("checkpoint_last.safetensors")).unwrap();
    let sm = &ck.state["agent"]["state_maker"];
    assert_eq!((sm["metric_dim"].as_u64(), sm["parameter_history"].as_u64(), sm["no_avg"].as_bool()), (Some(12), Some(3), Some(true)));
    let calls = sm["calls"].as_array().unwrap();
    let svd_val = calls[0][4].as_f64().unwrap();
    let svd_train = calls[0][10].as_f64().unwrap();
    assert!(svd_val > 0.0 && svd_train > 0.0 && svd_val != svd_train, "svd values {svd_val} {svd_train}");
}

#[test]
fn scramble_redraws_the_split_from_its_epoch_on_and_resumes_identically() {
    let cfg = RunConfig { policy_scramble_dataloaders: true, policy_scramble_freq: 2, ..tiny(4) };
    let plain = tempfile::tempdir().unwrap();
    train(&RunConfig { policy_scramble_dataloaders: false, ..cfg.clone() }, plain.path(), &quiet()).unwrap();
    let full = tempfile::tempdir().unwrap();
    train(&cfg, full.path(), &quiet()).unwrap();
    let (a, b) = (progression(plain.path()), progression(full.path()));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        let epoch = x["epoch"].as_u64().unwrap();
        if epoch <= 2 {
            assert_eq!(x, y, "before the first scramble (before epoch 3) nothing differs");
        } else {
            assert_ne!(x["val_metrics"], y["val_metrics"], "epoch {epoch}: another validation split");
        }
    }
    // Stopped after epoch 3 (the split re-drawn before it), resumed: the same split again.
    let split = tempfile::tempdir().unwrap();
    train(&cfg, split.path(), &TrainOptions { stop_after_epoch: Some(3), ..quiet() }).unwrap();
    train(&cfg, split.path(), &TrainOptions { resume: true, ..quiet() }).unwrap();
    for f in ["metrics.csv", "pads_progression.jsonl"] {
        let (x, y) = (std::fs::read_to_string(full.path().join(f)).unwrap(), std::fs::read_to_string(split.path().join(f)).unwrap());
        assert!(x == y, "{f} differs after resume:\n{x}\n---\n{y}");
    }
}
