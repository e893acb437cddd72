//! The embedded default: generate the synthetic set, train the small CNN on CPU with the
//! distance-weighted baseline and with PADS (identical settings apart from the sampler),
//! and print test metrics before and after training side by side.
use crate::config::{Arch, DatasetKind, LossKind, RunConfig, Sampling, StateMetric};
use crate::data::synth::{self, SynthOptions};
use crate::eval::Metrics;
use crate::train::{train, TrainOptions};
use anyhow::Result;
use std::path::Path;

pub const DEMO_EPOCHS: usize = 20;

/// The demo's shared settings (sampler set by the caller).
pub fn demo_config(data_root: &Path, epochs: usize) -> RunConfig {
    RunConfig {
        dataset: DatasetKind::Synthetic,
        data_root: data_root.to_path_buf(),
        arch: Arch::Small,
        image_size: 64,
        embed_dim: 64,
        bs: 112,
        samples_per_class: 4,
        n_epochs: epochs,
        lr: 1e-3,
        tau: vec![epochs * 3 / 4],
        beta: 1.2,
        beta_lr: 5e-4,
        train_val_split: 0.85,
        policy_sample_freq: 5,
        policy_metric_history: 5,
        policy_mode: crate::config::PolicyMode::Ppo,
        policy_action_values: vec![0.8, 1.0, 1.25],
        policy_state_metrics: vec![StateMetric::Recall, StateMetric::Dists, StateMetric::Nmi],
        loss: LossKind::Margin,
        seed: 0,
        ..RunConfig::default()
    }
}

fn row(name: &str, m: &Metrics) -> String {
    let mut s = format!("{name:<24}");
    for (_, v) in m.named().iter().take(7) {
        s.push_str(&format!(" {v:>8.4}"));
    }
    s
}

pub fn run_demo(data_root: &Path, out: &Path, epochs: usize, quiet: bool) -> Result<()> {
    let t0 = std::time::Instant::now();
    std::fs::create_dir_all(data_root)?;
    synth::ensure(data_root, &SynthOptions::default())?;
    eprintln!("synthetic dataset ready under {} ({:.1} s)", data_root.join("synthetic").display(), t0.elapsed().as_secs_f64());
    let mut rows = Vec::new();
    let mut header = format!("{:<24}", "run (test split)");
    let template = Metrics { recall: demo_config(data_root, epochs).recall_ks().into_iter().map(|k| (k, 0.0)).collect(), ..Default::default() };
    for (name, _) in template.named().iter().take(7) {
        header.push_str(&format!(" {name:>8}"));
    }
    for sampling in [Sampling::Distance, Sampling::Pads] {
        let mut cfg = demo_config(data_root, epochs);
        cfg.sampling = sampling;
        let name = format!("{sampling:?}").to_lowercase();
        let t = std::time::Instant::now();
        let s = train(&cfg, &out.join(&name), &TrainOptions { quiet, eval_before: true, ..Default::default() })?;
        if let Some(b) = &s.before {
            if rows.is_empty() {
                rows.push(row("untrained", b));
            }
        }
        rows.push(row(&format!("{name} (best, epoch {})", s.best_epoch), &s.best));
        eprintln!("{name}: {:.0} s, {} policy updates", t.elapsed().as_secs_f64(), s.policy_updates);
    }
    println!("{header}");
    for r in rows {
        println!("{r}");
    }
    println!("total {:.0} s; runs in {}", t0.elapsed().as_secs_f64(), out.display());
    Ok(())
}
