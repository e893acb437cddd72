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

/// Checks a resumption of `run_dir` (stored config `stored`, config after the typed flags
/// `requested`) and prepares it.
///
/// Errors: every option that differs and may not (each named as its flag with the run's and
/// the command's value); `--n-epochs` below the run's; a finished run without a larger
/// `--n-epochs` (the message says what to pass).
/// Effects: prints one line when the data root differs and when a finished run is extended;
/// an extended finished run loses its summary.json (it marks a finished run; it is written
/// again when the longer run finishes).
pub fn check_resume(run_dir: &Path, stored: &RunConfig, requested: &RunConfig) -> Result<()> {
    let a = toml::Table::try_from(stored).context("cannot compare configurations")?;
    let b = toml::Table::try_from(requested).context("cannot compare configurations")?;
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut refused = Vec::new();
    for key in keys {
        let (va, vb) = (a.get(key), b.get(key));
        if va == vb || FREE_ON_RESUME.contains(&key.as_str()) || key == "n_epochs" {
            continue;
        }
        if key == "data_root" {
            eprintln!("resuming {} with data root {} (the run was trained on {})", run_dir.display(), show(vb), show(va));
            continue;
        }
        refused.push(format!("  --{}: the run has {}, this command {}", key.replace('_', "-"), show(va), show(vb)));
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
        eprintln!("extending the finished run {} from {done} to {} epochs", run_dir.display(), requested.n_epochs);
        let summary = run_dir.join("summary.json");
        std::fs::remove_file(&summary).with_context(|| format!("cannot remove {}", summary.display()))?;
    }
    Ok(())
}
