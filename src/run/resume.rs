//! `pads train --resume RUN`: which options may differ from the run's config.toml, and what
//! resuming a finished run means. A resumed run must be the run it continues: an option that
//! changes the results (learning rate, sampler, data, ...) would silently mix two runs in one
//! metrics.csv, so it is refused.
use crate::config::RunConfig;
use anyhow::{bail, Context, Result};
use std::path::Path;

/// Options that may differ on `--resume` because they cannot change the results: where and
/// how fast it runs. `n_epochs` may grow (extend the run); `data_root` may point at a moved
/// copy of the same dataset (announced).
pub const FREE_ON_RESUME: [&str; 3] = ["device", "num_workers", "cache_images"];

/// A TOML value as typed on the command line: strings bare, lists with commas.
fn show(v: Option<&toml::Value>) -> String {
    match v {
        None => "(unset)".to_string(),
        Some(toml::Value::String(s)) => s.clone(),
        Some(toml::Value::Array(a)) => a.iter().map(|x| show(Some(x))).collect::<Vec<_>>().join(","),
        Some(other) => other.to_string(),
    }
}

/// The epochs of a finished run (from its summary.json), if it finished.
pub fn finished_epochs(run_dir: &Path) -> Option<usize> {
    let text = std::fs::read_to_string(run_dir.join("summary.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["epochs"].as_u64().map(|e| e as usize)
}

/// The options whose values differ between `old` and `new`, leaving out `skip`: (field name,
/// old value, new value), values as typed on the command line, sorted by name.
pub fn differences(old: &RunConfig, new: &RunConfig, skip: &[&str]) -> Result<Vec<(String, String, String)>> {
    let a = toml::Table::try_from(old).context("cannot compare configurations")?;
    let b = toml::Table::try_from(new).context("cannot compare configurations")?;
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    Ok(keys
        .into_iter()
        .filter(|k| a.get(*k) != b.get(*k) && !skip.contains(&k.as_str()))
        .map(|k| (k.clone(), show(a.get(k)), show(b.get(k))))
        .collect())
}

/// Checks a resumption of `run_dir` (stored config `stored`, config after the typed flags
/// `requested`) and prepares it.
///
/// Errors: every option that differs and may not (each named as its flag with the run's and
/// the command's value); `--n-epochs` below the run's; a finished run without a larger
/// `--n-epochs` (the message says what to pass).
/// Effects: prints one line when the data root differs (`start_extension` prepares an
/// extended finished run).
pub fn check_resume(run_dir: &Path, stored: &RunConfig, requested: &RunConfig) -> Result<()> {
    let mut skip = FREE_ON_RESUME.to_vec();
    skip.push("n_epochs");
    let mut refused = Vec::new();
    for (key, va, vb) in differences(stored, requested, &skip)? {
        if key == "data_root" {
            eprintln!("resuming {} with data root {vb} (the run was trained on {va})", run_dir.display());
            continue;
        }
        refused.push(format!("  --{}: the run has {va}, this command {vb}", key.replace('_', "-")));
    }
    if !refused.is_empty() {
        bail!(
            "--resume {} continues that run with its own options; these would change its results:\n{}\n\
             Only --n-epochs (to extend), --device, --num-workers, --cache-images and --quiet may differ. \
             To train with other options start a new run: --config {} --out NEW_RUN plus the options.",
            run_dir.display(),
            refused.join("\n"),
            run_dir.join("config.toml").display()
        );
    }
    if requested.n_epochs < stored.n_epochs {
        bail!(
            "--n-epochs {} is below the run's {}: --resume only extends a run (--stop-after-epoch N stops it earlier)",
            requested.n_epochs,
            stored.n_epochs
        );
    }
    if let Some(done) = finished_epochs(run_dir) {
        if requested.n_epochs <= done {
            bail!(
                "{} is finished ({done} of {done} epochs); nothing to resume. To train it further pass --n-epochs N with N > {done}, \
                 e.g. pads train --resume {} --n-epochs {}",
                run_dir.display(),
                run_dir.display(),
                done * 2
            );
        }
    }
    Ok(())
}

/// Under the run's lock, before a resumed run trains: a finished run extended to `n_epochs`
/// loses its summary.json (it marks a finished run; it is written again when the longer run
/// finishes), saying so.
pub fn start_extension(run_dir: &Path, n_epochs: usize) -> Result<()> {
    if let Some(done) = finished_epochs(run_dir) {
        if n_epochs > done {
            eprintln!("extending the finished run {} from {done} to {n_epochs} epochs", run_dir.display());
            let summary = run_dir.join("summary.json");
            std::fs::remove_file(&summary).with_context(|| format!("cannot remove {}", summary.display()))?;
        }
    }
    Ok(())
}

/// Where a resumed run continues: what its checkpoint_last says about the folder's files.
#[derive(Debug, Clone)]
pub struct ResumePoint<'a> {
    /// Epochs the checkpoint has trained.
    pub epoch: usize,
    /// The epoch checkpoint_best should hold (0: none chosen yet).
    pub best_epoch: usize,
    /// PADS policy steps taken (lines pads_progression.jsonl must hold).
    pub policy_calls: usize,
    /// The run evaluated the untrained network (metrics.csv row 0).
    pub eval_before: bool,
    /// The metrics.csv rows the checkpoint holds (None: written by an older pads).
    pub metrics_rows: Option<&'a [Vec<String>]>,
}

fn epoch_of(row: &[String]) -> Option<usize> {
    row.first().and_then(|e| e.parse().ok())
}

fn epochs_text(epochs: &[usize]) -> String {
    epochs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(", ")
}

/// Before a resumed run trains: the run folder's files must be the ones of its
/// checkpoint_last (`at`). What can be rebuilt exactly is rebuilt, with one line saying so;
/// the rest is refused, naming the file. (Rows and policy lines beyond the checkpoint, which
/// a run killed mid-epoch logged, are cut afterwards by `RunLog::truncate_to`.)
///
/// - metrics.csv: missing, or short of rows the checkpoint holds (a write after the
///   checkpoint failed): rebuilt from the checkpoint's rows. A file that differs from them,
///   or a missing or short one with a checkpoint of an older pads (no rows in it): refused.
/// - checkpoint_best: missing or holding an earlier epoch than the checkpoint's best: a copy
///   of checkpoint_last when that is the best epoch (the same bytes), else refused.
/// - pads_progression.jsonl short of the checkpoint's policy steps: refused.
/// - timing.csv or tensorboard/ missing: said (wall times and TensorBoard events of the
///   earlier epochs are lost), and the run continues.
pub fn check_run_files(run: &super::RunDir, cfg: &RunConfig, at: &ResumePoint) -> Result<()> {
    let dir = run.root.display().to_string();
    let ways = format!("restore it from a backup, or start the run again with --out {dir} --overwrite");
    check_metrics(run, cfg, at, &ways)?;
    check_best(run, at, &ways)?;
    if at.policy_calls > 0 {
        let path = run.progression();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut seen = vec![false; at.policy_calls];
        for line in text.lines() {
            if let Ok(r) = serde_json::from_str::<crate::policy::agent::PolicyRecord>(line) {
                if let Some(s) = seen.get_mut(r.call) {
                    *s = true;
                }
            }
        }
        let missing = seen.iter().filter(|s| !**s).count();
        if missing > 0 {
            bail!(
                "--resume: {} lacks {missing} of the {} PADS policy steps checkpoint_last has taken{}; resuming would leave them out of the run's record: {ways}",
                path.display(),
                at.policy_calls,
                if path.is_file() { "" } else { " (the file is missing)" }
            );
        }
    }
    if !run.timing_csv().is_file() && at.epoch > 0 {
        eprintln!("--resume: {} is missing: the wall times of epochs 1-{} are lost; it restarts with epoch {}", run.timing_csv().display(), at.epoch, at.epoch + 1);
    }
    if !run.path("tensorboard").is_dir() && at.epoch > 0 {
        eprintln!("--resume: {}/tensorboard is missing: TensorBoard will show epochs {} on only", dir, at.epoch + 1);
    }
    Ok(())
}

/// metrics.csv against the checkpoint's rows (see `check_run_files`).
fn check_metrics(run: &super::RunDir, cfg: &RunConfig, at: &ResumePoint, ways: &str) -> Result<()> {
    let path = run.metrics_csv();
    let header = super::log::metrics_header(cfg);
    let file = if path.is_file() { Some(super::CsvTable::read(&path)?) } else { None };
    let kept: Option<Vec<Vec<String>>> = file.as_ref().map(|t| t.rows.iter().filter(|r| epoch_of(r).is_some_and(|e| e <= at.epoch)).cloned().collect());
    let header_ok = file.as_ref().is_some_and(|t| t.header == header);
    let Some(rows) = at.metrics_rows else {
        // An older pads's checkpoint: the file must hold every epoch up to the checkpoint.
        let mut want: Vec<usize> = (1..=at.epoch).collect();
        if at.eval_before {
            want.insert(0, 0);
        }
        let have: Vec<usize> = kept.iter().flatten().filter_map(|r| epoch_of(r)).collect();
        let missing: Vec<usize> = want.iter().copied().filter(|e| !have.contains(e)).collect();
        if file.is_none() || !header_ok || !missing.is_empty() {
            let what = if file.is_none() {
                "is missing".to_string()
            } else if !header_ok {
                "has another header than this run's".to_string()
            } else {
                format!("lacks the rows of epoch(s) {}", epochs_text(&missing))
            };
            bail!(
                "--resume: {} {what}, and checkpoint_last (written by an older pads) does not hold its rows, so it cannot be rebuilt exactly: {ways}",
                path.display()
            );
        }
        return Ok(());
    };
    let full = super::CsvTable { header: header.clone(), rows: rows.to_vec() };
    match &kept {
        None => {
            run.write_table(&path, &full)?;
            eprintln!("--resume: {} was missing: rebuilt its {} row(s) from checkpoint_last, which holds them", path.display(), rows.len());
        }
        Some(kept) if header_ok && kept.as_slice() == rows => {}
        Some(kept) if header_ok && rows.starts_with(kept) => {
            let added: Vec<usize> = rows[kept.len()..].iter().filter_map(|r| epoch_of(r)).collect();
            run.write_table(&path, &full)?;
            eprintln!(
                "--resume: {} lacked the row(s) of epoch(s) {} (its write after the checkpoint failed); restored them from checkpoint_last",
                path.display(),
                epochs_text(&added)
            );
        }
        Some(kept) => {
            let what = if !header_ok {
                "has another header than this run's".to_string()
            } else {
                let first = kept.iter().zip(rows).position(|(a, b)| a != b).unwrap_or(kept.len().min(rows.len()));
                let epoch = rows.get(first).or(kept.get(first)).and_then(|r| epoch_of(r)).map(|e| e.to_string()).unwrap_or_else(|| "?".into());
                format!("differs from the rows checkpoint_last holds (first at epoch {epoch})")
            };
            bail!(
                "--resume: {} {what}; pads does not write over it. Move it away and resume again to rebuild it from checkpoint_last, or start the run again with --out {} --overwrite",
                path.display(),
                run.root.display()
            );
        }
    }
    Ok(())
}

/// checkpoint_best against the checkpoint's best epoch (see `check_run_files`).
fn check_best(run: &super::RunDir, at: &ResumePoint, ways: &str) -> Result<()> {
    if at.best_epoch == 0 {
        return Ok(());
    }
    let best = run.best_checkpoint();
    let held = if best.is_file() {
        super::checkpoint::Checkpoint::read_state(&best).ok().and_then(|s| s["epoch"].as_u64()).map(|e| e as usize)
    } else {
        None
    };
    match held {
        Some(e) if e >= at.best_epoch => Ok(()),
        _ if at.best_epoch == at.epoch => {
            let was = match held {
                Some(e) => format!("held epoch {e}"),
                None if best.is_file() => "was unreadable".to_string(),
                None => "was missing".to_string(),
            };
            let last = run.last_checkpoint();
            let bytes = std::fs::read(&last).with_context(|| format!("cannot read {}", last.display()))?;
            crate::util::write_atomic(&best, &bytes)?;
            eprintln!(
                "--resume: {} {was}; the best epoch is {} (the last checkpoint's), so it was rebuilt as a copy of checkpoint_last",
                best.display(),
                at.best_epoch
            );
            Ok(())
        }
        _ => bail!(
            "--resume: {} {}, but the run's best epoch is {} (checkpoint_last is after epoch {}); the summary would name a best epoch whose checkpoint is gone: {ways}",
            best.display(),
            match held {
                Some(e) => format!("holds epoch {e}"),
                None if best.is_file() => "is unreadable".to_string(),
                None => "is missing".to_string(),
            },
            at.best_epoch,
            at.epoch
        ),
    }
}
