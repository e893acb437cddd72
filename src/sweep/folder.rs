//! A sweep folder belongs to one set of options. Running `pads sweep` again on it continues
//! that sweep (finished runs are skipped, interrupted ones resumed, a larger `--n-epochs`
//! extends them all); another set of options is refused, naming each option that differs
//! with both values, unless `--overwrite`, which removes the old runs' files first and says
//! which. A run's record (`sweep-config.toml`) is written only for runs that have not started,
//! so it never holds values that did not run.
use super::SweepRun;
use crate::config::RunConfig;
use crate::run::folder::clear_run_folder_quiet;
use crate::run::lock::RunLock;
use crate::run::resume::{differences, FREE_ON_RESUME};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// The sweep's own files in a run folder (kept by a run's `--overwrite`, removed by a sweep's).
const SWEEP_RUN_FILES: [&str; 2] = ["sweep-config.toml", "sweep.log"];
/// The sweep's files at its top.
const SWEEP_TOP_FILES: [&str; 4] = ["summary.md", "summary.csv", "recall1.png", "sweep.sbatch"];

/// The run folders under `<out>/runs` (sorted).
fn run_dirs(out: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(out.join("runs")) else { return Vec::new() };
    let mut dirs: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir()).collect();
    dirs.sort();
    dirs
}

/// What a run folder ran with: its config.toml (written when it started, and by `--resume`),
/// else the sweep's record of it (sweep-config.toml), else None (not a run of this sweep).
fn record(dir: &Path) -> Option<PathBuf> {
    ["config.toml", "sweep-config.toml"].iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

/// Takes the sweep folder's lock and makes `out` hold the sweep `runs` (every run with the
/// options of `runs[0]`, its own sampler and seed): with `overwrite` the earlier sweep's
/// files are removed first (`clear`); otherwise every run already in `<out>/runs` must have
/// been trained with the same options (`--n-epochs` may grow: the runs are extended;
/// `--device`, `--num-workers` and `--cache-images` may differ). Then writes the
/// sweep-config.toml of every run that has not started. Returns the lock, held until the
/// caller is done.
///
/// Errors: another process writes the sweep folder; options that differ from the earlier
/// runs' (each named with the sweep's and the command's value, and the file compared);
/// `--n-epochs` below the earlier runs'; a record that cannot be read, named.
pub fn prepare(out: &Path, runs: &[SweepRun], overwrite: bool) -> Result<RunLock> {
    let lock = RunLock::acquire(out, "pads sweep")?;
    if overwrite {
        clear(out)?;
    } else if let Some(first) = runs.first() {
        check_same_options(out, &first.config)?;
    }
    for r in runs {
        std::fs::create_dir_all(&r.dir).with_context(|| format!("cannot create {}", r.dir.display()))?;
        if !r.dir.join("checkpoint_last.safetensors").is_file() {
            crate::util::write_atomic(&r.dir.join("sweep-config.toml"), r.config.to_toml().as_bytes())?;
        }
    }
    Ok(lock)
}

/// Every run of `<out>/runs` against `base` (see `prepare`).
fn check_same_options(out: &Path, base: &RunConfig) -> Result<()> {
    let mut skip = FREE_ON_RESUME.to_vec();
    skip.extend(["n_epochs", "sampling", "seed"]);
    let mut lines: Vec<String> = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    let mut compared: Option<PathBuf> = None;
    for dir in run_dirs(out) {
        // Only runs that started (their config.toml) say what a sweep trained with; a
        // folder holding only the plan (sweep-config.toml of a run never started) is re-planned.
        let Some(path) = record(&dir).filter(|p| p.ends_with("config.toml") && !p.ends_with("sweep-config.toml")) else { continue };
        let old = RunConfig::from_toml_file(&path).with_context(|| format!("cannot read the sweep run's options {}", path.display()))?;
        let mut diffs = differences(&old, base, &skip)?;
        if base.n_epochs < old.n_epochs {
            diffs.push(("n_epochs".into(), old.n_epochs.to_string(), format!("{} (a sweep only extends its runs)", base.n_epochs)));
        }
        for (key, was, now) in diffs {
            if !keys.contains(&key) {
                lines.push(format!("  --{}: the sweep has {was}, this command {now}", key.replace('_', "-")));
                keys.push(key);
                compared.get_or_insert(path.clone());
            }
        }
    }
    if let Some(path) = compared {
        bail!(
            "{} holds a sweep trained with other options (compared with {} and the other runs):\n{}\n\
             A sweep folder belongs to one set of options. To continue that sweep drop these options \
             (a larger --n-epochs extends its runs; --device, --num-workers and --cache-images may differ); \
             to replace it add --overwrite (removes the old runs' files first); to keep both pass another --out.",
            out.display(),
            path.display(),
            lines.join("\n")
        );
    }
    Ok(())
}

/// `pads sweep --overwrite`: removes every run of `<out>/runs` (its run files and the sweep's
/// files in it; a folder left empty goes too; files pads does not write are kept), the
/// Slurm logs and the summary, printing what was removed and kept. Each run folder is locked
/// while it is cleared: one that a training writes is refused.
fn clear(out: &Path) -> Result<()> {
    let mut removed_runs = Vec::new();
    let mut kept = Vec::new();
    for dir in run_dirs(out) {
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let lock = RunLock::acquire(&dir, "pads sweep --overwrite")?;
        let cleared = clear_run_folder_quiet(&dir)?;
        let mut n = cleared.removed.len();
        for f in cleared.kept {
            if SWEEP_RUN_FILES.contains(&f.as_str()) {
                let p = dir.join(&f);
                std::fs::remove_file(&p).with_context(|| format!("--overwrite: cannot remove {}", p.display()))?;
                n += 1;
            } else {
                kept.push(format!("runs/{name}/{f}"));
            }
        }
        drop(lock);
        let _ = std::fs::remove_dir(&dir); // only when empty
        if n > 0 {
            removed_runs.push(format!("{name} ({n} files)"));
        }
    }
    let mut removed_top = Vec::new();
    if let Ok(entries) = std::fs::read_dir(out.join("runs")) {
        for e in entries.filter_map(|e| e.ok()) {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with("slurm-") && n.ends_with(".log") {
                std::fs::remove_file(e.path()).with_context(|| format!("--overwrite: cannot remove {}", e.path().display()))?;
                removed_top.push(format!("runs/{n}"));
            }
        }
    }
    for f in SWEEP_TOP_FILES {
        let p = out.join(f);
        if p.is_file() {
            std::fs::remove_file(&p).with_context(|| format!("--overwrite: cannot remove {}", p.display()))?;
            removed_top.push(f.to_string());
        }
    }
    removed_top.sort();
    if !removed_runs.is_empty() || !removed_top.is_empty() {
        let runs = if removed_runs.is_empty() { String::new() } else { format!(" the runs {}", removed_runs.join(", ")) };
        let top = if removed_top.is_empty() { String::new() } else { format!("{}{}", if runs.is_empty() { " " } else { "; and " }, removed_top.join(", ")) };
        let kept = if kept.is_empty() { String::new() } else { format!("; kept {}", kept.join(", ")) };
        eprintln!("sweep --overwrite: removed the previous sweep's files from {}:{runs}{top}{kept}", out.display());
    }
    Ok(())
}
