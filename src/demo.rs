//! The embedded default: generate the synthetic set, train the small CNN on CPU with the
//! distance-weighted baseline and with PADS (identical settings apart from the sampler),
//! and print test metrics before and after training side by side (best and final rows of
//! each run), then write the comparison page of the two runs (`pads compare`).
use crate::config::RunConfig;
use crate::options::{Arch, DatasetKind, LossKind, PolicyMode, Sampling, StateMetric};
use crate::data::synth::{self, SynthOptions};
use crate::eval::Metrics;
use crate::train::{train, TrainOptions, TrainSummary};
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
        policy_mode: PolicyMode::Ppo,
        policy_action_values: vec![0.8, 1.0, 1.25],
        policy_state_metrics: vec![StateMetric::Recall, StateMetric::Dists, StateMetric::Nmi],
        loss: LossKind::Margin,
        seed: 0,
        ..RunConfig::default()
    }
}

/// Best and final test rows of finished runs as an aligned text table: run, checkpoint
/// (untrained / best / final), epoch, the rule that chose it, then every Recall@k, NMI, F1 and
/// mAP@R (the class distances are in metrics.csv).
/// `runs` = (name, summary, config); the untrained row is shown once, from the first run
/// that has one (the runs of one table share seed and architecture).
pub fn best_final_table(runs: &[(&str, &TrainSummary, &RunConfig)]) -> String {
    let Some((_, first, _)) = runs.first() else { return String::new() };
    let shown = |n: &str| n != "intra" && n != "inter";
    let names: Vec<String> = first.last.named().into_iter().map(|(n, _)| n).filter(|n| shown(n)).collect();
    let mut header: Vec<String> = ["run", "checkpoint", "epoch", "chosen by"].map(String::from).to_vec();
    header.extend(names.iter().cloned());
    let cells = |m: &Metrics| m.named().into_iter().filter(|(n, _)| shown(n)).map(|(_, v)| format!("{v:.4}")).collect::<Vec<_>>();
    let mut rows = Vec::new();
    if let Some((name, s, _)) = runs.iter().find(|r| r.1.before.is_some()) {
        if let Some(b) = &s.before {
            let label = if runs.len() > 1 { "untrained (all runs)".to_string() } else { name.to_string() };
            rows.push([vec![label, "untrained".into(), "0".into(), "-".into()], cells(b)].concat());
        }
    }
    for (name, s, cfg) in runs {
        rows.push([vec![name.to_string(), "best".into(), s.best_epoch.to_string(), cfg.select_on.rule().into()], cells(&s.best)].concat());
        rows.push([vec![name.to_string(), "final".into(), s.last_epoch.to_string(), "last evaluated epoch".into()], cells(&s.last)].concat());
    }
    crate::report::text_table(&header, &rows)
}

/// The demo's run folders under `out`, in training order.
pub fn demo_runs(out: &Path) -> Vec<(Sampling, std::path::PathBuf)> {
    [Sampling::Distance, Sampling::Pads].into_iter().map(|s| (s, out.join(s.as_str()).to_path_buf())).collect()
}

/// `pads demo`: makes the synthetic set (saying so), trains both runs, prints the table.
/// Errors before any work when a run folder under `out` already holds a run and not
/// `overwrite` (the message names `--overwrite` and `--out`); with `overwrite` each old run
/// is removed first, with a line saying so.
pub fn run_demo(data_root: &Path, out: &Path, epochs: usize, quiet: bool, overwrite: bool) -> Result<()> {
    // The demo's own option: a range error must name it, not the training option it sets.
    if epochs < 1 {
        anyhow::bail!("--epochs must be at least 1, got {epochs}");
    }
    demo_config(data_root, epochs).validate().map_err(|e| anyhow::anyhow!("pads demo --epochs {epochs}: {e:#}"))?;
    let t0 = std::time::Instant::now();
    if !overwrite {
        for (_, dir) in demo_runs(out) {
            if !crate::run::folder::run_files(&dir).is_empty() {
                anyhow::bail!(
                    "{} already holds this demo's runs ({}); pads never trains over a run silently. \
                     To train them again: pads demo --overwrite (make demo does), or keep them and pass --out OTHER_DIR",
                    out.display(),
                    dir.display()
                );
            }
        }
    }
    std::fs::create_dir_all(data_root)?;
    let opts = SynthOptions::default();
    let dir = data_root.join("synthetic");
    if synth::is_complete(&dir, &opts) {
        eprintln!("demo: using the synthetic set in {}", dir.display());
    } else {
        eprintln!(
            "demo: generating the synthetic set ({} classes x {} images, {} px) in {}",
            opts.classes,
            opts.per_class,
            opts.image_size,
            dir.display()
        );
        synth::ensure(data_root, &opts)?;
        eprintln!("demo: synthetic set ready ({:.1} s)", t0.elapsed().as_secs_f64());
    }
    let mut done = Vec::new();
    for (sampling, run_dir) in demo_runs(out) {
        let mut cfg = demo_config(data_root, epochs);
        cfg.sampling = sampling;
        let name = sampling.as_str().to_string();
        let t = std::time::Instant::now();
        let s = train(&cfg, &run_dir, &TrainOptions { quiet, eval_before: true, overwrite, ..Default::default() })?;
        eprintln!("{name}: {:.0} s, {} policy updates", t.elapsed().as_secs_f64(), s.policy_updates);
        done.push((name, s, cfg));
    }
    let table: Vec<(&str, &TrainSummary, &RunConfig)> = done.iter().map(|(n, s, c)| (n.as_str(), s, c)).collect();
    println!("test split:");
    print!("{}", best_final_table(&table));
    let dirs: Vec<std::path::PathBuf> = done.iter().map(|(n, _, _)| out.join(n)).collect();
    let page = crate::report::compare::compare_runs(&dirs, &out.join("compare"))?;
    println!("comparison page: {}", page.html.display());
    println!("total {:.0} s; runs in {}", t0.elapsed().as_secs_f64(), out.display());
    Ok(())
}
