//! The Rust side of the Python package's equality tests (python/tests/test_equality.py):
//! for fixed inputs and seeds, the triplets of every miner and the PADS agent's
//! distributions and actions as the library gives them, written to
//! `target/tmp/python_reference.json`. `make test` runs this before pytest, which builds the
//! same miners and agent through `import pads` and must get the same numbers.
use pads::config::RunConfig;
use pads::options::Sampling;
use pads::eval::Metrics;
use pads::miners::BatchDistances;
use pads::miners::Mining;
use pads::policy::agent::{policy_view, validation_metrics, Agent};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, StandardNormal};
use serde_json::json;
use std::path::PathBuf;
use tch::Tensor;

/// `RunConfig::default()` with `options` laid over it, as the Python binding does.
fn config(options: &serde_json::Value) -> RunConfig {
    let mut v = serde_json::to_value(RunConfig::default()).unwrap();
    for (k, val) in options.as_object().unwrap() {
        v.as_object_mut().unwrap().insert(k.clone(), val.clone());
    }
    let cfg: RunConfig = serde_json::from_value(v).unwrap();
    cfg.validate().unwrap();
    cfg
}

/// Unit-norm rows `[n, d]`, from a seeded normal.
fn unit_rows(n: usize, d: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let v: Vec<f32> = (0..d).map(|_| StandardNormal.sample(&mut rng)).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter().map(|x| x / norm).collect()
        })
        .collect()
}

fn tensor(rows: &[Vec<f32>]) -> Tensor {
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    Tensor::from_slice(&flat).view([rows.len() as i64, rows[0].len() as i64])
}

#[test]
fn python_reference_fixture() {
    let (b, d, spc) = (32usize, 16usize, 4usize);
    let rows = unit_rows(b, d, 5);
    let labels: Vec<i64> = (0..b).map(|i| (i / spc) as i64).collect();
    let emb = tensor(&rows);
    let dist = BatchDistances::new(&emb);

    let miner_cases = [
        ("random", json!({"seed": 7})),
        ("semihard", json!({"seed": 7, "margin": 0.2})),
        ("softhard", json!({"seed": 3})),
        ("distance", json!({"seed": 7})),
        ("pads", json!({"seed": 7})),
        ("pads", json!({"seed": 9, "policy_n_support": 12, "policy_support_limit": [0.2, 1.6], "policy_init_distr": "normal_avg", "policy_include_pos": true, "policy_merge_oobs": true})),
    ];
    let mut miners = Vec::new();
    for (sampling, options) in &miner_cases {
        let mut cfg = config(options);
        cfg.sampling = match *sampling {
            "random" => Sampling::Random,
            "semihard" => Sampling::Semihard,
            "softhard" => Sampling::Softhard,
            "distance" => Sampling::Distance,
            _ => Sampling::Pads,
        };
        let mut miner = Mining::new(&cfg);
        // The trainer's miner stream of the seed (miners::miner_rng), which the binding uses too.
        let mut rng = ChaCha8Rng::seed_from_u64(pads::util::mix(cfg.seed, 0x313E4, 0));
        let mut calls = Vec::new();
        for _ in 0..3 {
            let t = miner.mine(&emb, &labels, &mut rng);
            assert!(!t.is_empty(), "{sampling}: a class-balanced batch yields triplets");
            for i in 0..t.len() {
                let (a, p, n) = (t.anchors[i] as usize, t.positives[i] as usize, t.negatives[i] as usize);
                assert_eq!(labels[a], labels[p], "{sampling}: positive of another class");
                if !cfg.policy_include_pos || cfg.sampling != Sampling::Pads {
                    assert_ne!(labels[a], labels[n], "{sampling}: negative of the anchor's class");
                }
                assert!(dist.get(a, n).is_finite());
            }
            calls.push(json!([t.anchors, t.positives, t.negatives]));
        }
        miners.push(json!({"sampling": sampling, "options": options, "calls": calls}));
    }

    // The agent: a PADS miner's distribution moved by policy steps from given metrics, then
    // one step from validation embeddings.
    let torch_seed = 11i64;
    let miner_options = json!({"seed": 7});
    let agent_options = json!({"policy_mode": "ppo", "policy_old_update_iter": 2, "policy_metric_history": 3});
    let mut cfg = config(&miner_options);
    for (k, v) in agent_options.as_object().unwrap() {
        let mut val = serde_json::to_value(&cfg).unwrap();
        val.as_object_mut().unwrap().insert(k.clone(), v.clone());
        cfg = serde_json::from_value(val).unwrap();
    }
    cfg.sampling = Sampling::Pads;
    let mut miner = Mining::new(&cfg);
    tch::manual_seed(torch_seed);
    let ks = cfg.recall_ks();
    let mut agent = Agent::new(&cfg, ks.len());
    let mut metric_sets = Vec::new();
    let mut records = Vec::new();
    let n_steps = 6;
    for s in 0..n_steps {
        let x = s as f64;
        let recall: Vec<(usize, f64)> = ks.iter().enumerate().map(|(i, &k)| (k, 0.3 + 0.05 * ((x * 1.7 + i as f64).sin()))).collect();
        let m = Metrics { recall, nmi: 0.5 + 0.04 * (x * 0.9).cos(), f1: f64::NAN, map_at_r: f64::NAN, intra: 0.3 - 0.01 * x, inter: 0.8 + 0.01 * x };
        let mut named: serde_json::Map<String, serde_json::Value> = m.recall.iter().map(|(k, v)| (format!("recall@{k}"), json!(v))).collect();
        named.insert("nmi".into(), json!(m.nmi));
        named.insert("intra".into(), json!(m.intra));
        named.insert("inter".into(), json!(m.inter));
        metric_sets.push(serde_json::Value::Object(named));
        let progress = s as f64 / n_steps as f64;
        let r = agent.step(&policy_view(m), miner.distribution_mut().unwrap(), progress, 0, 0).unwrap();
        let total: f64 = r.distribution.iter().sum();
        assert!((total - 1.0).abs() < 1e-9, "distribution sums to {total}");
        records.push(json!({"distribution": r.distribution, "actions": r.actions, "reward": r.reward, "progress": progress}));
    }
    let val_rows = unit_rows(40, d, 6);
    let val_labels: Vec<i64> = (0..40).map(|i| (i % 8) as i64).collect();
    let vm = validation_metrics(&tensor(&val_rows), &val_labels, {
        let mut o = pads::eval::EvalOptions::new(ks.clone());
        o.normalize = true;
        o
    })
    .unwrap();
    let r = agent.step(&vm, miner.distribution_mut().unwrap(), 1.0, 0, 0).unwrap();
    assert!(r.reward.is_some(), "a later step is rewarded");
    let val_step = json!({"embeddings": val_rows, "labels": val_labels, "progress": 1.0,
        "distribution": r.distribution, "actions": r.actions, "reward": r.reward, "val_metrics": r.val_metrics});

    let fixture = json!({
        "embeddings": rows,
        "labels": labels,
        "miners": miners,
        "agent": {"torch_seed": torch_seed, "miner_options": miner_options, "agent_options": agent_options,
                  "metrics": metric_sets, "steps": records, "val_step": val_step},
    });
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("python_reference.json");
    std::fs::write(&path, serde_json::to_string(&fixture).unwrap()).unwrap();
}
