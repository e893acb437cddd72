//! Live logging to Weights & Biases (`pads train --wandb-log`, the original's option): the
//! official wandb client, in the project's Python, fed by the run folder's own log files
//! (metrics.csv, pads_progression.jsonl, summary.json, config.toml) through wandb_feed.py,
//! which is embedded here and runs as a separate process. It only reads the run folder;
//! training never waits on it beyond a bounded time at the end and never fails because of
//! it: a feeder that cannot start or cannot reach wandb is a warning.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The feeder script (its header documents what it logs and how).
pub const FEEDER: &str = include_str!("wandb_feed.py");

/// What the original passes to `wandb.init`: project, group and run name.
#[derive(Debug, Clone, PartialEq)]
pub struct WandbOptions {
    pub project: String,
    pub group: String,
    pub name: String,
}

/// A running feeder (or none, when it could not start: already warned).
pub struct WandbFeed {
    child: Option<Child>,
}

/// The Python that runs the feeder: `PADS_PYTHON` if set, else the project's venv next to the
/// binary (`<repo>/.venv/bin/python` for `<repo>/target/release/pads`), else `python3`.
pub fn feeder_python() -> PathBuf {
    if let Some(p) = std::env::var_os("PADS_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = std::env::current_exe().ok().and_then(|exe| Some(exe.parent()?.parent()?.parent()?.join(".venv/bin/python")));
    match venv {
        Some(p) if p.exists() => p,
        _ => PathBuf::from("python3"),
    }
}

impl WandbFeed {
    /// Starts the feeder on `run_dir` (its stderr is the run's: its lines start `pads
    /// wandb:`, among them where an offline run is and how to upload it). Files of the
    /// folder older than now (a run being overwritten or resumed) are not taken for this
    /// run's. Never fails: a feeder that cannot start is a warning and an inert feed.
    pub fn start(run_dir: &Path, opts: &WandbOptions) -> WandbFeed {
        let python = feeder_python();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let child = Command::new(&python)
            .arg("-c")
            .arg(FEEDER)
            .arg(run_dir)
            .args(["--project", &opts.project, "--group", &opts.group, "--name", &opts.name])
            .arg("--parent-pid")
            .arg(std::process::id().to_string())
            .args(["--not-before", &now.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn();
        match child {
            Ok(c) => WandbFeed { child: Some(c) },
            Err(e) => {
                tracing::warn!("--wandb-log: cannot start the wandb feeder with {} ({e}); the run trains without wandb", python.display());
                WandbFeed { child: None }
            }
        }
    }

    /// After the run: gives the feeder up to `wait` to log the last rows and the summary and
    /// exit; past that it is left to finish on its own (the run is not held up). Returns
    /// whether it had exited.
    pub fn finish(mut self, wait: Duration) -> bool {
        let Some(child) = self.child.as_mut() else { return false };
        let t0 = Instant::now();
        while t0.elapsed() < wait {
            match child.try_wait() {
                Ok(Some(_)) => return true,
                Ok(None) => std::thread::sleep(Duration::from_millis(200)),
                Err(_) => return false,
            }
        }
        tracing::warn!(
            "--wandb-log: the wandb feeder has not finished after {} s (still starting or uploading); it continues in the background (pid {}; `kill {}` ends it)",
            wait.as_secs(),
            child.id(),
            child.id()
        );
        self.child = None;
        false
    }
}
