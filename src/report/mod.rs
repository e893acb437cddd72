//! What people look at: progress bars (quiet with --quiet, plain lines when not a terminal)
//! and the per-epoch artefacts of a run folder: TensorBoard events, PNG plots, report.html.
pub mod html;
pub mod plots;
pub mod tensorboard;

use crate::config::RunConfig;
use crate::pads::agent::PolicyRecord;
use crate::run::{CsvTable, RunDir};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

pub struct Progress {
    quiet: bool,
    tty: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        Progress { quiet, tty: std::io::stderr().is_terminal() }
    }

    /// A bar with ETA and a live message; hidden when quiet or not on a terminal.
    pub fn bar(&self, len: u64, prefix: &str) -> ProgressBar {
        if self.quiet || !self.tty {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len);
        bar.set_style(
            ProgressStyle::with_template("{prefix:>18} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta} {msg}")
                .expect("template")
                .progress_chars("=> "),
        );
        bar.set_prefix(prefix.to_string());
        bar
    }

    pub fn line(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }
}

/// Every PADS step recorded in the run folder.
pub fn read_progression(run: &RunDir) -> Vec<PolicyRecord> {
    std::fs::read_to_string(run.progression())
        .map(|t| t.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
        .unwrap_or_default()
}

/// Refreshes a run's plots and report.html from its logs (after each epoch).
pub fn after_epoch(run: &RunDir, cfg: &RunConfig) -> anyhow::Result<()> {
    let table = CsvTable::read(&run.metrics_csv())?;
    let epochs = table.column("epoch").unwrap_or_default();
    let mut series = Vec::new();
    for name in table.header.iter().filter(|h| h.starts_with("recall@") || *h == "nmi" || *h == "map@r" || *h == "f1") {
        series.push((name.clone(), table.column(name).unwrap_or_default()));
    }
    plots::metric_curves(&run.path("metrics.png"), "test metrics", &epochs, &series)?;
    let progression = read_progression(run);
    if !progression.is_empty() {
        let lim = &cfg.policy_support_limit;
        let support = crate::pads::distribution::linspace(lim[0], lim[1], cfg.policy_n_support);
        let dists: Vec<Vec<f64>> = progression.iter().map(|r| r.distribution.clone()).collect();
        plots::distribution_heatmap(&run.path("distribution.png"), &support, &dists, false)?;
        plots::distribution_heatmap(&run.path("distribution_log.png"), &support, &dists, true)?;
    }
    html::write_report(run, cfg, &table, &progression)
}
