//! `pads import`: an original run folder (mod.rs) written out as a pads run folder, as far
//! as it holds: config.toml (from hypa.pkl), checkpoint_best (the network, and the policy of
//! a learned-sampler run), metrics.csv (the checkpoint's history), pads_progression.jsonl
//! (distr_progression.pkl). The original folder is only read.
use super::{history, OriginalRun, DISTRIBUTIONS};
use crate::model::torchfile::read_torch_file;
use crate::run::checkpoint::{varstore_tensors, Checkpoint};
use crate::run::RunDir;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

/// What `import_run` is asked to do.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The original run folder (hypa.pkl, checkpoint_Class.pth.tar, ...).
    pub folder: PathBuf,
    /// The pads run folder to write.
    pub out: PathBuf,
    /// Where the dataset folder is on this machine (None: the stored path).
    pub data_root: Option<PathBuf>,
    /// Replace a run already in `out`.
    pub overwrite: bool,
}

/// What was imported and what not, one line each, for the user.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    pub imported: Vec<String>,
    pub not_imported: Vec<String>,
}

/// Writes the pads run folder `opts.out` from the original folder `opts.folder`.
///
/// Errors: `out` is the original folder or inside it; `out` holds a run and `overwrite` is
/// off; the original's hypa.pkl or checkpoint unreadable or not fitting each other (named).
/// Parts the original folder lacks (history, distributions) are reported, not errors.
pub fn import_run(opts: &ImportOptions) -> Result<ImportReport> {
    let src = std::path::absolute(&opts.folder).unwrap_or_else(|_| opts.folder.clone());
    let out = std::path::absolute(&opts.out).unwrap_or_else(|_| opts.out.clone());
    if out.starts_with(&src) {
        bail!("--out {} is inside the original folder {}: pads never writes into it; choose another --out", opts.out.display(), opts.folder.display());
    }
    let run = OriginalRun::open(&opts.folder)?;
    crate::run::folder::check_new_run_folder(&out, opts.overwrite)?;
    // Everything is read and converted first: a file that fails stops the import before
    // --out (and a run --overwrite would replace) is touched.
    let mut report = ImportReport::default();
    let files = prepare(&run, opts.data_root.as_deref(), &src, &mut report).with_context(|| format!("pads import {}: nothing imported into {}", opts.folder.display(), out.display()))?;
    let existed = out.exists();
    if opts.overwrite {
        crate::run::folder::clear_run_folder(&out)?;
    }
    let dir = RunDir::create(&out)?;
    let written = files.iter().try_for_each(|(name, bytes)| crate::util::write_atomic(&dir.path(name), bytes));
    if let Err(e) = written {
        let _ = crate::run::folder::clear_run_folder_quiet(&out);
        if !existed {
            let _ = std::fs::remove_dir(&out);
        }
        return Err(e.context(format!("pads import {}: nothing imported into {}", opts.folder.display(), out.display())));
    }
    Ok(report)
}

/// The pads run's files (name in the run folder, bytes), read and converted from `run`.
fn prepare(run: &OriginalRun, data_root: Option<&std::path::Path>, src: &std::path::Path, report: &mut ImportReport) -> Result<Vec<(String, Vec<u8>)>> {
    let (got, vs, _model, ck) = super::load_model(&run.root, data_root, tch::Device::Cpu)?;
    let mut files = Vec::new();
    let cfg = got.cfg;
    let header = format!(
        "# Imported by `pads import` from the original code's run folder {}\n# (options from {}; the network from {}).\n",
        src.display(),
        super::HYPA,
        super::CHECKPOINT
    );
    files.push(("config.toml".to_string(), (header + &cfg.to_toml()).into_bytes()));
    report.imported.push(format!("config.toml: {} of the original's options ({})", got.carried.len(), got.carried.join(", ")));
    for (name, why) in &got.not_carried {
        report.not_imported.push(format!("option {name}: {why}"));
    }
    if !got.data_root_found {
        report.not_imported.push(format!(
            "the data root {} (from hypa.pkl's source_path) does not exist here: pass --data-root DIR (the folder holding {}/) to pads import or pads eval",
            cfg.data_root.display(),
            cfg.dataset.as_str()
        ));
    }

    let epoch = ck.epoch.map(|e| e + 1);
    let mut checkpoint = Checkpoint::new(serde_json::json!({ "imported_from": src.display().to_string(), "epoch": epoch }));
    checkpoint.add_group("model", varstore_tensors(&vs));
    let epoch_text = epoch.map(|e| format!(" (epoch {e}, pads' count from 1)")).unwrap_or_default();
    report.imported.push(format!("checkpoint_best.safetensors: the network{epoch_text}, from the original's best test Recall@1"));
    match &ck.policy {
        Some(policy) => {
            checkpoint.add_group(crate::policy::agent::GROUP_POLICY, policy.iter().map(|(k, v)| (k.clone(), v.shallow_clone())));
            report.imported.push(format!("the PADS policy ({} tensors, from the checkpoint's 'aux')", policy.len()));
        }
        None => report.not_imported.push("no policy: the run used a fixed sampler ('aux' is None)".into()),
    }
    report.not_imported.push("optimiser states, margin-loss betas, random generator states: the original does not save them, so the run cannot be resumed".into());
    files.push(("checkpoint_best.safetensors".to_string(), checkpoint.to_bytes()?));

    // The original's CSV logs hold the whole run; the checkpoint's history stops before
    // the best epoch's metrics. Released folders have only the checkpoint.
    const FROM_CHECKPOINT: &str = "the checkpoint's history (the original saves it with the best checkpoint, before logging that epoch's metrics: `pads eval` gives them)";
    let csv_logs = run.root.join("CSV_Logs");
    let from_csv = csv_logs.is_dir().then(|| history::Progress::from_csv_logs(&csv_logs));
    let (progress, source) = match (from_csv, &ck.progress) {
        (Some(Ok(p)), _) => (Ok(p), "the original's CSV_Logs/ (the whole run)"),
        (Some(Err(e)), Ok(p)) => {
            report.not_imported.push(format!("CSV_Logs/ not readable ({e:#}); the checkpoint's history is used"));
            (Ok(p.clone()), FROM_CHECKPOINT)
        }
        (None, Ok(p)) => (Ok(p.clone()), FROM_CHECKPOINT),
        (Some(Err(e)), Err(_)) => (Err(format!("{e:#}")), ""),
        (None, Err(e)) => (Err(e.clone()), ""),
    };
    match progress {
        Ok(progress) => {
            let table = progress.metrics_table(crate::run::log::metrics_header(&cfg))?;
            report.imported.push(format!(
                "metrics.csv: {} epoch(s) of test metrics from {source}; map@r, lr, beta_mean, policy_updates and policy gradients are empty: the original does not log them per epoch",
                table.rows.len()
            ));
            files.push(("metrics.csv".to_string(), table.to_string().into_bytes()));
        }
        Err(why) => report.not_imported.push(format!("metrics.csv: no readable history: {why}")),
    }

    let distr = run.root.join(DISTRIBUTIONS);
    if distr.is_file() {
        let file = read_torch_file(&distr)?;
        let records = history::progression_records(&file.root).with_context(|| distr.display().to_string())?;
        let mut text = String::new();
        for r in &records {
            text.push_str(&serde_json::to_string(r)?);
            text.push('\n');
        }
        report.imported.push(format!("pads_progression.jsonl: {} sampling distributions from {DISTRIBUTIONS} (no epochs, rewards or actions: the file has none)", records.len()));
        files.push(("pads_progression.jsonl".to_string(), text.into_bytes()));
    } else if ck.policy.is_some() {
        report.not_imported.push(format!("{DISTRIBUTIONS} is absent: no distribution history"));
    }
    Ok(files)
}
