//! What people look at: progress bars (quiet with --quiet, plain lines when not a terminal)
//! and the per-epoch artefacts of a run folder: TensorBoard events, PNG plots, report.html.
pub mod compare;
pub mod html;
pub mod plots;
pub mod tensorboard;

use crate::config::RunConfig;
use crate::pads::agent::PolicyRecord;
use crate::run::{CsvTable, RunDir};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

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

    /// Whether progress goes to a terminal (bars) rather than a log file (lines).
    pub fn is_tty(&self) -> bool {
        self.tty
    }
}

/// "1h 05m", "3m 07s", "12s".
pub fn fmt_duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// A whole run's progress by training iteration: the ETA (remaining iterations at this
/// session's mean pace so far, evaluations included) and, when output is not a terminal,
/// a progress line at least every `PADS_PROGRESS_SECS` seconds (default 60).
pub struct RunProgress {
    start: Instant,
    start_iter: usize,
    total_iters: usize,
    batch: usize,
    interval: Duration,
    last_line: Instant,
    last_line_iter: usize,
}

impl RunProgress {
    /// `start_iter` iterations already done (resume), `total_iters` in the whole run,
    /// `batch` images per iteration.
    pub fn new(start_iter: usize, total_iters: usize, batch: usize) -> Self {
        let secs = std::env::var("PADS_PROGRESS_SECS").ok().and_then(|v| v.parse::<f64>().ok()).filter(|v| *v >= 0.0).unwrap_or(60.0);
        let now = Instant::now();
        RunProgress { start: now, start_iter, total_iters, batch, interval: Duration::from_secs_f64(secs), last_line: now, last_line_iter: start_iter }
    }

    /// Seconds left after `iter` global iterations; None before the first one.
    pub fn eta_seconds(&self, iter: usize) -> Option<f64> {
        let done = iter.checked_sub(self.start_iter).filter(|&d| d > 0)?;
        let per_iter = self.start.elapsed().as_secs_f64() / done as f64;
        Some(per_iter * self.total_iters.saturating_sub(iter) as f64)
    }

    /// The progress line for non-terminal output when one is due: global iteration, epoch,
    /// this iteration's loss, images per second since the last line, and the run ETA.
    pub fn line_due(&mut self, iter: usize, epoch: usize, n_epochs: usize, loss: f64) -> Option<String> {
        let elapsed = self.last_line.elapsed();
        if elapsed < self.interval {
            return None;
        }
        let imgs = (iter.saturating_sub(self.last_line_iter) * self.batch) as f64;
        let rate = imgs / elapsed.as_secs_f64().max(1e-9);
        let eta = self.eta_seconds(iter).map(fmt_duration).unwrap_or_else(|| "?".into());
        self.last_line = Instant::now();
        self.last_line_iter = iter;
        Some(format!("iteration {iter}/{} (epoch {epoch}/{n_epochs}): loss {loss:.4}, {rate:.0} img/s, run ETA {eta}", self.total_iters))
    }
}

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
        let dataset = format!("{:?}", cfg.dataset).to_lowercase();
        s.push_str(&format!("  data      {dataset} under {}: {}\n", cfg.data_root.display(), splits.join(", ")));
        let device = if cfg.device == "auto" { format!("auto -> {:?}", self.device) } else { cfg.device.clone() };
        s.push_str(&format!("  device    {device}; {} torch threads, {loaders} loader threads\n", tch::get_num_threads()));
        s.push_str(&format!(
            "  schedule  {} epochs x {ipe} iterations = {} iterations of batch {}; test evaluation every {} epoch(s)\n",
            cfg.n_epochs,
            cfg.n_epochs * ipe,
            cfg.bs,
            cfg.eval_every
        ));
        if cfg.sampling == crate::config::Sampling::Pads {
            s.push_str(&format!(
                "  PADS      a policy update every {} iterations from epoch {}: {} planned\n",
                cfg.policy_sample_freq,
                cfg.policy_training_delay + 1,
                self.planned_policy_updates
            ));
        } else {
            s.push_str(&format!("  sampling  {:?} (no policy updates)\n", cfg.sampling).to_lowercase());
        }
        let rule = format!("{:?}", cfg.select_on).to_lowercase();
        s.push_str(&format!("  best      checkpoint_best keeps the epoch with the {} (--select-on {rule})", cfg.select_on.rule()));
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
        let support = crate::pads::distribution::linspace(lim[0], lim[1], cfg.policy_n_support);
        let dists: Vec<Vec<f64>> = progression.iter().map(|r| r.distribution.clone()).collect();
        plots::distribution_heatmap(&run.path("distribution.png"), &support, &dists, false)?;
        plots::distribution_heatmap(&run.path("distribution_log.png"), &support, &dists, true)?;
    }
    html::write_report(run, cfg, &table, &progression)
}
