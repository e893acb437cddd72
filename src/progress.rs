//! What a person watching sees while work runs: progress bars (hidden with --quiet or when
//! not on a terminal), plain progress lines for log files (Slurm, nohup) and the run ETA.
//! Layer 0.
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Progress output of one command: bars on a terminal, nothing when quiet.
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
