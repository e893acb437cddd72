//! What people look at (layer 4): the start-up block, text tables, and the per-epoch
//! artefacts of a run folder (PNG plots, report.html), and `pads compare`. It reads run
//! folders (run/) and is never called by them.
pub mod compare;
pub mod html;
pub mod plots;

use crate::config::RunConfig;
use crate::policy::agent::PolicyRecord;
use crate::run::{CsvTable, RunDir};


/// What `pads train` prints first, in one block: the run folder, images and classes per
/// split, device and threads, the schedule (iterations per epoch), the planned PADS policy
/// updates and the checkpoint rule.
pub struct StartupSummary<'a> {
    pub cfg: &'a RunConfig,
    pub run_folder: &'a std::path::Path,
    /// Some(epoch) when resuming after that epoch.
    pub resumed_after: Option<usize>,
    /// (split name, images, classes).
    pub splits: &'a [(&'static str, usize, usize)],
    pub device: tch::Device,
    pub iterations_per_epoch: usize,
    pub planned_policy_updates: usize,
}

impl StartupSummary<'_> {
    pub fn text(&self) -> String {
        let cfg = self.cfg;
        let ipe = self.iterations_per_epoch;
        let splits: Vec<String> = self.splits.iter().map(|(n, i, c)| format!("{n} {i} images / {c} classes")).collect();
        let loaders = if cfg.num_workers == 0 { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) } else { cfg.num_workers };
        let state = self.resumed_after.map(|e| format!("resuming after epoch {e}")).unwrap_or_else(|| "new run".to_string());
        let mut s = format!("pads train: run folder {} ({state})\n", self.run_folder.display());
        let dataset = cfg.dataset.as_str();
        s.push_str(&format!("  data      {dataset} under {}: {}\n", cfg.data_root.display(), splits.join(", ")));
        let device = if cfg.device == "auto" { format!("auto -> {}", crate::device::name(self.device)) } else { cfg.device.clone() };
        s.push_str(&format!("  device    {device}; {} torch threads, {loaders} loader threads\n", tch::get_num_threads()));
        s.push_str(&format!(
            "  schedule  {} epochs x {ipe} iterations = {} iterations of batch {}; test evaluation every {} epoch(s)\n",
            cfg.n_epochs,
            cfg.n_epochs * ipe,
            cfg.bs,
            cfg.eval_every
        ));
        if cfg.sampling == crate::options::Sampling::Pads {
            s.push_str(&format!(
                "  PADS      a policy update every {} iterations from epoch {}: {} planned\n",
                cfg.policy_sample_freq,
                cfg.policy_training_delay + 1,
                self.planned_policy_updates
            ));
        } else {
            s.push_str(&format!("  sampling  {} (no policy updates)\n", cfg.sampling.as_str()));
        }
        let rule = cfg.select_on.as_str();
        s.push_str(&format!("  best      checkpoint_best keeps the epoch with the {} (--select-on {rule})", cfg.select_on.rule()));
        s.push_str(&format!("\n  weights   {}", crate::run::log::pretrained_weights(cfg)));
        s
    }
}

/// The validation metric a PADS reward is computed from (`--policy-reward-type`).
pub fn reward_metric_label(kind: u8) -> &'static str {
    match kind {
        0 => "validation NMI",
        1 => "validation Recall@1",
        _ => "validation (Recall@1 + NMI) / 2",
    }
}

/// A text table with columns padded to their widest cell (numeric columns right-aligned).
pub fn text_table(header: &[String], rows: &[Vec<String>]) -> String {
    let n = header.len();
    let width: Vec<usize> = (0..n).map(|c| rows.iter().map(|r| r.get(c).map_or(0, |v| v.chars().count())).chain([header[c].chars().count()]).max().unwrap_or(0)).collect();
    let numeric: Vec<bool> = (0..n).map(|c| rows.iter().all(|r| r.get(c).is_none_or(|v| v.is_empty() || v.parse::<f64>().is_ok()))).collect();
    let line = |cells: &[String]| {
        let parts: Vec<String> = (0..n)
            .map(|c| {
                let v = cells.get(c).map(String::as_str).unwrap_or("");
                if numeric[c] { format!("{v:>w$}", w = width[c]) } else { format!("{v:<w$}", w = width[c]) }
            })
            .collect();
        parts.join("  ").trim_end().to_string()
    };
    let mut s = line(header);
    s.push('\n');
    for r in rows {
        s.push_str(&line(r));
        s.push('\n');
    }
    s
}

/// Every PADS step recorded in the run folder.
pub fn read_progression(run: &RunDir) -> Vec<PolicyRecord> {
    std::fs::read_to_string(run.progression())
        .map(|t| t.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
        .unwrap_or_default()
}

/// Refreshes a run's plots and report.html from its logs (after each epoch): metrics.png
/// (test metrics and training loss), and for PADS runs distribution.png,
/// distribution_log.png and policy.png (reward metric, reward, policy loss per update).
pub fn after_epoch(run: &RunDir, cfg: &RunConfig) -> anyhow::Result<()> {
    let table = CsvTable::read(&run.metrics_csv())?;
    let epochs = table.column("epoch").unwrap_or_default();
    let mut series = Vec::new();
    for name in table.header.iter().filter(|h| h.starts_with("recall@") || *h == "nmi" || *h == "map@r" || *h == "f1") {
        series.push((name.clone(), table.column(name).unwrap_or_default()));
    }
    let loss = table.column("loss").unwrap_or_default();
    plots::metric_curves_with_loss(&run.path("metrics.png"), &epochs, &series, &loss)?;
    let progression = read_progression(run);
    if !progression.is_empty() {
        plots::policy_curves(&run.path("policy.png"), &progression, reward_metric_label(cfg.policy_reward_type))?;
        let lim = &cfg.policy_support_limit;
        let support = crate::miners::distribution::linspace(lim[0], lim[1], cfg.policy_n_support);
        let dists: Vec<Vec<f64>> = progression.iter().map(|r| r.distribution.clone()).collect();
        plots::distribution_heatmap(&run.path("distribution.png"), &support, &dists, false)?;
        plots::distribution_heatmap(&run.path("distribution_log.png"), &support, &dists, true)?;
    }
    html::write_report(run, cfg, &table, &progression)
}
