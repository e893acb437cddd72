//! Run folders that already exist: a new run never lands silently in an old run's folder
//! (mixed checkpoints, metrics, plots and TensorBoard events), and `--overwrite` clears the
//! old run's files first, saying what it removed.
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Names that only a pads run writes; one of them makes a folder a run folder.
const RUN_MARKERS: [&str; 12] = [
    "config.toml",
    "metrics.csv",
    "timing.csv",
    "pads_progression.jsonl",
    "checkpoint_last.safetensors",
    "checkpoint_best.safetensors",
    "summary.json",
    "report.html",
    "tensorboard",
    "metrics.png",
    "distribution.png",
    "retrieval.png",
];

/// Whether `name` (an entry of a run folder) is something a run writes and `--overwrite`
/// removes: the markers, any plot, table, JSON, checkpoint or report, and the temporary
/// files of interrupted atomic writes. Sweep files (`sweep-config.toml`, `sweep.log`) and
/// files pads does not write are kept.
fn is_run_output(name: &str) -> bool {
    if RUN_MARKERS.contains(&name) {
        return true;
    }
    if is_leftover(name) {
        return true;
    }
    [".png", ".csv", ".json", ".jsonl", ".html", ".safetensors"].iter().any(|ext| name.ends_with(ext))
}

/// The entries of `dir` that mark it as a pads run folder (sorted names; empty when `dir`
/// is absent, empty, or holds only other files).
pub fn run_files(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| RUN_MARKERS.contains(&n.as_str()) || n.starts_with("checkpoint_"))
        .collect();
    names.sort();
    names
}

/// Refuses to start a new run in `dir` when it already holds a run's files, unless
/// `overwrite`. An absent or empty folder, or one holding only other files, is fine.
///
/// Errors: the message names the folder, a few of its run files, and the three ways on:
/// `--resume DIR` (only offered when the run has a checkpoint), another `--out`, or
/// `--overwrite`.
pub fn check_new_run_folder(dir: &Path, overwrite: bool) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        bail!("--out {} is a file, not a folder", dir.display());
    }
    refuse_original_folder(dir, "--out")?;
    let found = run_files(dir);
    if found.is_empty() || overwrite {
        return Ok(());
    }
    let shown: Vec<&str> = found.iter().take(4).map(String::as_str).collect();
    let more = if found.len() > shown.len() { ", ..." } else { "" };
    if imported_run(dir) {
        bail!(
            "{} holds a run imported from the original code (`pads import`), which cannot be resumed (the original saves no optimiser or generator state); pads never mixes two runs in one folder.\n  \
             start a new one: pass another --out\n  \
             replace it:      add --overwrite (removes the imported run's files first)",
            dir.display()
        );
    }
    if !dir.join("checkpoint_last.safetensors").is_file() {
        bail!(
            "{} already holds a run ({}{more}) that stopped before its first checkpoint (written after each epoch), so there is nothing to resume; pads never mixes two runs in one folder.\n  \
             start it again:  add --overwrite (removes the old run's files first)\n  \
             start a new one: pass another --out",
            dir.display(),
            shown.join(", ")
        );
    }
    bail!(
        "{} already holds a run ({}{more}); pads never mixes two runs in one folder.\n  \
         continue it:     pads train --resume {}\n  \
         start a new one: pass another --out\n  \
         replace it:      add --overwrite (removes the old run's files first)",
        dir.display(),
        shown.join(", "),
        dir.display()
    )
}

/// Whether `dir` is a run folder of the original code: its hypa.pkl and no pads config.toml.
pub fn is_original_run_folder(dir: &Path) -> bool {
    dir.join("hypa.pkl").is_file() && !dir.join("config.toml").is_file()
}

/// Refuses `dir` when it is a run folder of the original code (holding hypa.pkl, without a
/// pads config.toml) or lies inside one, symlinks resolved: pads only reads those.
/// `flag` names the option in the message.
pub fn refuse_original_folder(dir: &Path, flag: &str) -> Result<()> {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let resolved = absolute.ancestors().find(|a| a.exists()).and_then(|a| a.canonicalize().ok());
    let me_resolved = absolute.canonicalize().ok();
    let is_me = |a: &Path| a == absolute || me_resolved.as_deref() == Some(a);
    // The folder itself: any hypa.pkl. A folder above it: hypa.pkl with what the original
    // writes beside it (a checkpoint, its parameter listing or its CSV logs), so that a
    // stray hypa.pkl higher up does not fence off everything below.
    let is_original = |a: &Path| {
        is_original_run_folder(a)
            && (is_me(a) || ["checkpoint_Class.pth.tar", "Parameter_Info.txt", "CSV_Logs"].iter().any(|f| a.join(f).exists()))
    };
    if let Some(original) = absolute.ancestors().chain(resolved.iter().flat_map(|r| r.ancestors())).find(|a| is_original(a)) {
        bail!(
            "{flag} {} {} a run folder of the original code ({}, holding hypa.pkl): pads never writes into it; pass another {flag}",
            dir.display(),
            if is_me(original) { "is" } else { "is inside" },
            original.display()
        );
    }
    Ok(())
}

/// Whether `dir` holds a run `pads import` wrote (its best checkpoint's state names the
/// original folder it came from).
pub fn imported_run(dir: &Path) -> bool {
    super::checkpoint::Checkpoint::read_state(&dir.join("checkpoint_best.safetensors")).is_ok_and(|s| s.get("imported_from").is_some())
}

/// What `clear_run_folder` did.
#[derive(Debug, Clone, Default)]
pub struct Cleared {
    /// Entries removed (names inside the folder; `tensorboard` is removed with its content).
    pub removed: Vec<String>,
    /// Entries kept because pads did not write them (or a sweep did: its config and log).
    pub kept: Vec<String>,
}

/// `--overwrite`: removes every run output of `dir` (see `is_run_output`) and creates it
/// when absent; prints one line naming the folder and what was removed and kept, when there
/// was anything to remove.
///
/// Errors: a file that cannot be removed, named.
pub fn clear_run_folder(dir: &Path) -> Result<Cleared> {
    let cleared = clear_run_folder_quiet(dir)?;
    if !cleared.removed.is_empty() {
        let kept = if cleared.kept.is_empty() { String::new() } else { format!("; kept {}", cleared.kept.join(", ")) };
        eprintln!(
            "--overwrite: removed the previous run's {} file(s) from {} ({}){kept}",
            cleared.removed.len(),
            dir.display(),
            cleared.removed.join(", ")
        );
    }
    Ok(cleared)
}

/// `clear_run_folder` without its line (for callers that say it their way: sweeps).
pub fn clear_run_folder_quiet(dir: &Path) -> Result<Cleared> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create run folder {}", dir.display()))?;
    let mut cleared = Cleared::default();
    let mut entries: Vec<(String, PathBuf, bool)> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| {
            let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
            (e.file_name().to_string_lossy().into_owned(), e.path(), is_dir)
        })
        .collect();
    entries.sort();
    for (name, path, is_dir) in entries {
        if name == super::lock::LOCK_FILE {
            continue; // the lock of the run that clears the folder
        }
        let output = if is_dir { name == "tensorboard" } else { is_run_output(&name) };
        if !output {
            cleared.kept.push(name);
            continue;
        }
        if is_dir {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        }
        .with_context(|| format!("--overwrite: cannot remove {}", path.display()))?;
        cleared.removed.push(name);
    }
    Ok(cleared)
}

/// Whether `name` is the temporary file of an atomic write (`util::write_atomic`).
fn is_leftover(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp")
}

/// Removes the temporary files that an interrupted atomic write (a kill, a full disk) left
/// in `dir`, printing one line naming them. Called under the folder's lock, so no write of
/// another process is in flight. Returns their names.
///
/// Errors: a leftover that cannot be removed, named.
pub fn remove_leftovers(dir: &Path) -> Result<Vec<String>> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(Vec::new()) };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| is_leftover(n))
        .collect();
    names.sort();
    for n in &names {
        let p = dir.join(n);
        std::fs::remove_file(&p).with_context(|| format!("cannot remove the leftover temporary file {}", p.display()))?;
    }
    if !names.is_empty() {
        eprintln!(
            "{}: removed {} temporary file(s) an interrupted write left behind ({}); the files they would have replaced are intact",
            dir.display(),
            names.len(),
            names.join(", ")
        );
    }
    Ok(names)
}

/// A saved run's configuration (its config.toml), for `pads eval`, `embed` and `--resume`,
/// with its data root found: `data_root` when given (made absolute); else the stored one.
/// Runs of this pads store absolute paths; a relative root (written by an older pads) is
/// taken relative to the current folder, else to the run folder, and the choice is printed.
///
/// Errors: no config.toml (not a run folder); a data root that does not exist, naming it
/// and `--data-root`.
pub fn stored_config(run_dir: &Path, data_root: Option<&Path>) -> Result<crate::config::RunConfig> {
    let run = super::RunDir::open(run_dir)?;
    let mut cfg = crate::config::RunConfig::from_toml_file(&run.config())?;
    if let Some(root) = data_root {
        cfg.data_root = crate::util::absolute_clean(root).with_context(|| format!("cannot make {} absolute", root.display()))?;
        if !cfg.data_root.is_dir() {
            bail!("--data-root {} does not exist or is not a folder", root.display());
        }
        return Ok(cfg);
    }
    if cfg.data_root.is_relative() {
        let stored = cfg.data_root.clone();
        let candidates = [
            (std::path::absolute(&stored).unwrap_or_else(|_| stored.clone()), "the current folder"),
            (std::path::absolute(run_dir.join(&stored)).unwrap_or_else(|_| run_dir.join(&stored)), "the run folder"),
        ];
        let Some((found, base)) = candidates.iter().find(|(p, _)| p.is_dir()) else {
            bail!(
                "{} stores the relative data root {:?} (written by an older pads), which is neither {} nor {}; \
                 pass --data-root DIR (the folder holding the dataset)",
                run.config().display(),
                stored.display().to_string(),
                candidates[0].0.display(),
                candidates[1].0.display()
            );
        };
        eprintln!(
            "{} stores the relative data root {:?} (written by an older pads); using {} (relative to {base}); pass --data-root DIR to choose another",
            run.config().display(),
            stored.display().to_string(),
            found.display()
        );
        cfg.data_root = found.clone();
    }
    if !cfg.data_root.is_dir() {
        bail!(
            "the data root {} stored in {} does not exist; pass --data-root DIR (the folder holding the dataset)",
            cfg.data_root.display(),
            run.config().display()
        );
    }
    Ok(cfg)
}

/// The run folder the original names (auxiliaries.set_logging), for `pads train --save-path
/// P` without `--out`: `P/<dataset>/<savename>`; the savename `group_plus_seed` (the
/// original's default) is `<wandb_group>_s<seed>` when logging to wandb, else the folder is
/// dated, `<DATASET>_<ARCH>_<y-m-d-h-m-s>` (unpadded, as the original writes it). When that
/// folder exists, `_1`, `_2`, ... is appended until it does not: a new folder, never a write
/// into an earlier run. `wandb_group`: Some(group) when logging to wandb.
pub fn original_run_folder(save_path: &Path, dataset: &str, arch: &str, savename: &str, wandb_group: Option<&str>, seed: u64, now: chrono::NaiveDateTime) -> PathBuf {
    use chrono::{Datelike, Timelike};
    let base = save_path.join(dataset);
    let name = match (savename, wandb_group) {
        ("group_plus_seed", Some(group)) => format!("{group}_s{seed}"),
        ("group_plus_seed", None) | ("", _) => format!(
            "{}_{}_{}-{}-{}-{}-{}-{}",
            dataset.to_uppercase(),
            arch.to_uppercase(),
            now.year(),
            now.month(),
            now.day(),
            now.hour(),
            now.minute(),
            now.second()
        ),
        (name, _) => name.to_string(),
    };
    let mut dir = base.join(&name);
    let mut counter = 1;
    while dir.exists() {
        dir = base.join(format!("{name}_{counter}"));
        counter += 1;
    }
    dir
}
