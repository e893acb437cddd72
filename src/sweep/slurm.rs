//! `pads sweep --slurm`: the job-array script, one index per run. It names every path
//! absolute and sets `--chdir`, so it works wherever it is submitted from, and its log
//! folder exists before Slurm opens the logs there.
use super::{SweepRun, folder};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct SlurmOptions {
    pub time: String,
    pub cpus: usize,
    pub mem: String,
    /// GPUs per array task; None: one when the runs' device is cuda or auto, else none
    /// (see `slurm_gpus`).
    pub gpus: Option<usize>,
    pub partition: Option<String>,
    /// Replace the sweep folder's runs (see `sweep::folder::prepare`).
    pub overwrite: bool,
}

/// GPUs to request per Slurm task for runs on `device` (`cpu`, `cuda`, `cuda:N`, `auto`) and
/// the user's `--slurm-gpus` (None when not given), with a line saying what is requested and
/// why. A GPU is requested only when the runs can use it (cuda or auto).
///
/// Errors: GPUs requested for runs on the CPU; no GPU for runs on cuda.
pub fn slurm_gpus(device: &str, requested: Option<usize>) -> Result<(usize, String)> {
    let dev = device.trim().to_ascii_lowercase();
    let uses_gpu = dev == "auto" || dev.starts_with("cuda");
    Ok(match (uses_gpu, requested) {
        (false, Some(n)) if n > 0 => bail!(
            "--slurm-gpus {n}, but the runs train on --device {device}: pass --device cuda (or auto) to train on the GPUs, or drop --slurm-gpus"
        ),
        (false, _) => (0, format!("slurm: no GPU requested, the runs train on --device {device} (pass --device cuda to train on GPUs)")),
        (true, Some(0)) if dev != "auto" => bail!("--slurm-gpus 0, but the runs train on --device {device}, which needs a GPU"),
        (true, Some(0)) => (0, "slurm: no GPU requested (--slurm-gpus 0); --device auto then trains on the CPU".to_string()),
        (true, n) => {
            let n = n.unwrap_or(1);
            (n, format!("slurm: requesting {n} GPU(s) per task (--gres=gpu:{n}), as the runs train on --device {device}"))
        }
    })
}

/// `text` as one bash word: as it is when made only of safe characters, else single-quoted.
fn sh_word(text: &str) -> String {
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:,=@%+".contains(c)) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// A path for the script: absolute, one bash word.
fn quoted(p: &Path) -> Result<String> {
    let abs = crate::util::absolute_clean(p).with_context(|| format!("cannot make {} absolute", p.display()))?;
    let text = abs.to_str().with_context(|| format!("the path {} is not valid UTF-8, so the Slurm script cannot name it", abs.display()))?;
    Ok(sh_word(text))
}

/// Writes `<out>/sweep.sbatch`: a job array with one index per run; index i trains runs[i]
/// (a new run; `--resume` when it has a checkpoint, with `--n-epochs` so a longer sweep
/// extends finished runs; nothing when it finished). `out` is checked and prepared as a
/// local sweep does (`folder::prepare`). Every path in the script is absolute; `--chdir` is
/// the sweep folder, and the log folder `<out>/runs` (`--output`) is created now, as Slurm
/// opens the logs before the script runs.
///
/// Errors: those of `folder::prepare` and `slurm_gpus`; a sweep folder whose path holds
/// whitespace or quotes (an #SBATCH line cannot hold it).
pub fn write_slurm(exe: &Path, runs: &[SweepRun], out: &Path, opts: &SlurmOptions) -> Result<PathBuf> {
    let device = runs.first().map(|r| r.config.device.clone()).unwrap_or_else(|| "cpu".into());
    let (gpus, note) = slurm_gpus(&device, opts.gpus)?;
    let out = crate::util::absolute_clean(out).with_context(|| format!("cannot make {} absolute", out.display()))?;
    let out_text = out.display().to_string();
    if out_text.chars().any(|c| c.is_whitespace() || c == '"' || c == '\'') {
        bail!("--out {out_text}: the Slurm script's #SBATCH lines cannot hold a path with spaces or quotes; choose a sweep folder without them");
    }
    let _lock = folder::prepare(&out, runs, opts.overwrite)?;
    eprintln!("{note}");
    let logs = out.join("runs");
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create the Slurm log folder {}", logs.display()))?;
    let n_epochs = runs.first().map(|r| r.config.n_epochs).unwrap_or(0);
    let mut s = String::from("#!/bin/bash\n");
    s.push_str("#SBATCH --job-name=pads-sweep\n");
    s.push_str(&format!("#SBATCH --array=0-{}\n", runs.len().saturating_sub(1)));
    s.push_str(&format!("#SBATCH --time={}\n#SBATCH --cpus-per-task={}\n#SBATCH --mem={}\n", opts.time, opts.cpus, opts.mem));
    if gpus > 0 {
        s.push_str(&format!("#SBATCH --gres=gpu:{gpus}\n"));
    }
    if let Some(p) = &opts.partition {
        s.push_str(&format!("#SBATCH --partition={p}\n"));
    }
    s.push_str(&format!("#SBATCH --chdir={out_text}\n"));
    s.push_str(&format!("#SBATCH --output={}/slurm-%A_%a.log\n", logs.display()));
    s.push_str("# Every path below is absolute: submit this script from any folder.\n");
    s.push_str("set -euo pipefail\nRUNS=(\n");
    for r in runs {
        s.push_str(&format!("  {}\n", quoted(&r.dir)?));
    }
    s.push_str(")\nRUN=\"${RUNS[$SLURM_ARRAY_TASK_ID]}\"\n");
    s.push_str(&format!("N_EPOCHS={n_epochs}\n"));
    s.push_str("if [ -f \"$RUN/summary.json\" ] && grep -Eq \"\\\"epochs\\\": *$N_EPOCHS[^0-9]\" \"$RUN/summary.json\"; then echo \"$RUN already finished ($N_EPOCHS epochs)\"; exit 0; fi\n");
    let resume_flags: Vec<String> = runs.first().map(super::resume_flags).unwrap_or_default().iter().map(|f| sh_word(f)).collect();
    let resume_flags = resume_flags.join(" ");
    s.push_str(&format!(
        "if [ -f \"$RUN/checkpoint_last.safetensors\" ]; then\n  exec {exe} train --resume \"$RUN\" {resume_flags} --quiet\nelse\n  exec {exe} train --config \"$RUN/sweep-config.toml\" --out \"$RUN\" --quiet --overwrite\nfi\n",
        exe = quoted(exe)?
    ));
    let path = out.join("sweep.sbatch");
    crate::util::write_atomic(&path, s.as_bytes())?;
    Ok(path)
}
