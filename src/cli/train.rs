//! `pads train`: a thin layer over `pads::train::train` (options resolved from defaults,
//! preset, config file and flags; `--resume`; `--dry-run`; the original's `--save_path` run
//! folders and `--wandb_log`).
use super::args::TrainArgs;
use anyhow::{bail, Result};
use clap::ArgMatches;
use pads::config::RunConfig;
use pads::run::wandb::{WandbFeed, WandbOptions};
use std::path::PathBuf;

/// The run's options and folder (new run, or `--resume`), checked as `pads train` checks them.
fn resolve(a: &TrainArgs, m: &ArgMatches) -> Result<(RunConfig, PathBuf)> {
    match (&a.resume, &a.out) {
        (Some(run), Some(out)) => bail!(
            "--out {} and --resume {} cannot be combined: --resume continues a run in its own folder; \
             to start a new run with that run's options use --config {} --out {}",
            out.display(),
            run.display(),
            run.join("config.toml").display(),
            out.display()
        ),
        (Some(run), None) => {
            for (given, flag) in [(a.config.is_some(), "--config"), (a.preset.is_some(), "--preset"), (a.overwrite, "--overwrite"), (a.eval_before, "--eval-before"), (a.save_path.is_some(), "--save-path")] {
                if given {
                    bail!("{flag} cannot be combined with --resume: a resumed run keeps its own options and folder");
                }
            }
            let typed_root = (m.value_source("data_root") == Some(clap::parser::ValueSource::CommandLine)).then(|| a.cfg.data_root.clone());
            let stored = pads::run::folder::stored_config(run, typed_root.as_deref())?;
            let cfg = RunConfig::resolve(stored.clone(), m)?;
            let mut before = stored;
            if typed_root.is_some() {
                before.data_root = RunConfig::from_toml_file(&run.join("config.toml"))?.data_root;
            }
            pads::run::resume::check_resume(run, &before, &cfg)?;
            Ok((cfg, run.clone()))
        }
        (None, out) => {
            let cfg = RunConfig::resolve(RunConfig::layered(a.preset, a.config.as_deref())?, m)?;
            if a.savename.starts_with('/') || std::path::Path::new(&a.savename).components().any(|c| matches!(c, std::path::Component::ParentDir)) {
                bail!("--savename {}: a folder name under --save-path is expected (the original joins the two), not a path that leaves it", a.savename);
            }
            let out = match (out, &a.save_path) {
                (Some(out), None) => out.clone(),
                (Some(out), Some(save)) => bail!("--out {} and --save-path {} name two run folders: give one", out.display(), save.display()),
                (None, save) => pads::run::folder::original_run_folder(
                    &save.clone().unwrap_or_else(|| {
                        // The original's default --save_path: a line copied without one runs as there.
                        tracing::warn!("no --out or --save-path: the run folder goes under ./Training_Results, the original's default --save_path");
                        PathBuf::from("Training_Results")
                    }),
                    cfg.dataset.as_str(),
                    cfg.arch.as_str(),
                    &a.savename,
                    a.wandb_log.then_some(a.wandb_group.as_str()),
                    cfg.seed,
                    chrono::Local::now().naive_local(),
                ),
            };
            Ok((cfg, out))
        }
    }
}

/// The wandb run name the original gives: the savename, `<group>_s<seed>` for its default.
fn wandb_options(a: &TrainArgs, cfg: &RunConfig, out: &std::path::Path) -> WandbOptions {
    let name = match a.savename.as_str() {
        "group_plus_seed" => format!("{}_s{}", a.wandb_group, cfg.seed),
        "" => out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        other => other.to_string(),
    };
    WandbOptions { project: a.wandb_project_name.clone(), group: a.wandb_group.clone(), name }
}

/// Runs `pads train` (or prints its options with `--dry-run`).
pub fn run(a: &TrainArgs, m: &ArgMatches) -> Result<()> {
    if a.stop_after_epoch == Some(0) {
        bail!("--stop-after-epoch 0: epochs count from 1; give the epoch after which to stop");
    }
    let (cfg, out) = resolve(a, m)?;
    if a.dry_run {
        let origins = pads::config::origins(&cfg, a.preset, a.config.as_deref(), m)?;
        println!("# pads train --dry-run: nothing was written. Run folder: {}", out.display());
        if a.resume.is_none() {
            if let Err(e) = pads::run::folder::check_new_run_folder(&out, a.overwrite) {
                println!("# note: pads train would stop here: {}", format!("{e:#}").replace('\n', " "));
            }
        }
        println!("# The options config.toml would hold; a comment names where a non-default value came from.");
        print!("{}", pads::config::annotated_toml(&cfg.with_absolute_paths()?, &origins)?);
        return Ok(());
    }
    let opts = pads::train::TrainOptions {
        resume: a.resume.is_some(),
        quiet: a.quiet,
        eval_before: a.eval_before,
        stop_after_epoch: a.stop_after_epoch,
        overwrite: a.overwrite,
    };
    // The feeder follows the run folder's files; training creates them.
    let wandb_file = out.join("wandb.json");
    if a.resume.is_some() {
        if a.wandb_log {
            tracing::warn!("--wandb-log with --resume: this session logs to a new wandb run, which holds the earlier epochs again");
        } else if let Ok(text) = std::fs::read_to_string(&wandb_file) {
            tracing::warn!("this run logged to wandb ({}); this session does not (pass --wandb-log to log it)", text.trim());
        }
    }
    let feed = a.wandb_log.then(|| {
        let w = wandb_options(a, &cfg, &out);
        WandbFeed::start(&out, &w)
    });
    let result = pads::train::train(&cfg, &out, &opts);
    if a.wandb_log && out.is_dir() {
        // The run folder says that it logs to wandb, so that a resume without --wandb-log says so.
        let w = wandb_options(a, &cfg, &out);
        let _ = std::fs::write(&wandb_file, serde_json::json!({"project": w.project, "group": w.group, "name": w.name}).to_string() + "\n");
    }
    if let (Some(feed), Ok(_)) = (feed, &result) {
        feed.finish(std::time::Duration::from_secs(120));
    }
    let s = result?;
    println!("run folder {}; test metrics:", out.display());
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| out.display().to_string());
    print!("{}", pads::demo::best_final_table(&[(name.as_str(), &s, &cfg)]));
    Ok(())
}
