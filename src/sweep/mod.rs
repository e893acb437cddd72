//! Sweeps: one run folder per (sampler, seed), run locally N at a time or written out as a
//! Slurm job array, and a summary (mean +- std per sampler of every final and best test
//! metric, and test Recall@1 over epochs per sampler with a band).
use crate::config::RunConfig;
use crate::options::Sampling;
use crate::report::plots;
use crate::run::CsvTable;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub mod folder;
pub mod slurm;

pub use slurm::{slurm_gpus, write_slurm, SlurmOptions};

#[derive(Debug, Clone)]
pub struct SweepRun {
    pub sampler: Sampling,
    pub seed: u64,
    pub dir: PathBuf,
    pub config: RunConfig,
}

pub fn sampler_name(s: Sampling) -> String {
    s.as_str().to_string()
}

/// The runs of a sweep, in a fixed order (sampler-major); a sampler or seed given twice is
/// planned once (warned).
pub fn plan(base: &RunConfig, samplers: &[Sampling], seeds: &[u64], out: &Path) -> Vec<SweepRun> {
    // A sampler or seed named twice (`learned` is `pads`) is one run folder: planned once,
    // never trained twice at once in the same folder.
    let mut samplers: Vec<Sampling> = samplers.to_vec();
    let mut seeds: Vec<u64> = seeds.to_vec();
    let (n_samplers, n_seeds) = (samplers.len(), seeds.len());
    let mut seen = Vec::new();
    samplers.retain(|s| !seen.contains(s) && { seen.push(*s); true });
    let mut seen = Vec::new();
    seeds.retain(|s| !seen.contains(s) && { seen.push(*s); true });
    if samplers.len() < n_samplers || seeds.len() < n_seeds {
        tracing::warn!("--samplers / --seeds name a run twice: each run is planned once ({} samplers x {} seeds)", samplers.len(), seeds.len());
    }
    let mut runs = Vec::new();
    for &sampler in &samplers {
        for &seed in &seeds {
            let mut config = base.clone();
            config.sampling = sampler;
            config.seed = seed;
            let dir = out.join("runs").join(format!("{}_seed{seed}", sampler_name(sampler)));
            runs.push(SweepRun { sampler, seed, dir, config });
        }
    }
    runs
}

/// Whether the run in `dir` finished `n_epochs` epochs (its summary.json says so; a run
/// finished with fewer epochs is extended by the sweep).
pub fn is_finished(dir: &Path, n_epochs: usize) -> bool {
    crate::run::resume::finished_epochs(dir).is_some_and(|done| done >= n_epochs)
}

/// The flags a resumed sweep run gets: `--n-epochs` (a longer sweep extends its runs) and
/// the options a resume may change (`run::resume::FREE_ON_RESUME`), as the sweep has them.
pub fn resume_flags(run: &SweepRun) -> Vec<String> {
    let c = &run.config;
    vec![
        "--n-epochs".into(),
        c.n_epochs.to_string(),
        "--device".into(),
        c.device.clone(),
        "--num-workers".into(),
        c.num_workers.to_string(),
        "--cache-images".into(),
        c.cache_images.to_string(),
    ]
}

/// The command line that trains (or resumes) one run; the config sits in the run folder.
pub fn run_command(exe: &Path, run: &SweepRun) -> Vec<String> {
    if run.dir.join("checkpoint_last.safetensors").is_file() {
        let mut cmd = vec![exe.display().to_string(), "train".into(), "--resume".into(), run.dir.display().to_string()];
        cmd.extend(resume_flags(run));
        cmd.push("--quiet".into());
        cmd
    } else {
        vec![
            exe.display().to_string(),
            "train".into(),
            "--config".into(),
            run.dir.join("sweep-config.toml").display().to_string(),
            "--out".into(),
            run.dir.display().to_string(),
            "--quiet".into(),
            // The sweep owns its run folders: a start that died before its first checkpoint
            // is started again from scratch (its partial files removed, sweep files kept).
            "--overwrite".into(),
        ]
    }
}

/// How `run_local` runs a sweep.
#[derive(Debug, Clone, Default)]
pub struct LocalOptions {
    /// Runs at once (at least 1).
    pub jobs: usize,
    /// No per-run start and end lines.
    pub quiet: bool,
    /// Replace the sweep folder's earlier runs (see `folder::prepare`).
    pub overwrite: bool,
}

/// Runs every unfinished run of the sweep `runs` in folder `out` (see `plan`), `jobs` at a
/// time, each in its own process (`exe`, the pads binary) with cores / jobs torch threads,
/// holding the sweep folder's lock. Returns (ran, skipped).
///
/// Errors: those of `folder::prepare` (another sweep writes `out`; `out` holds a sweep of
/// other options, without `overwrite`), before any run starts; runs that failed, each named
/// with its log.
pub fn run_local(exe: &Path, runs: &[SweepRun], out: &Path, opts: &LocalOptions) -> Result<(usize, usize)> {
    let (jobs, quiet) = (opts.jobs, opts.quiet);
    let _lock = folder::prepare(out, runs, opts.overwrite)?;
    if let Some(first) = runs.first() {
        crate::train::ensure_dataset(&first.config)?; // once, before parallel jobs start
    }
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let jobs = jobs.max(1);
    let threads = (cores / jobs).max(1);
    let todo: Vec<&SweepRun> = runs.iter().filter(|r| !is_finished(&r.dir, r.config.n_epochs)).collect();
    let skipped = runs.len() - todo.len();
    let mut running: Vec<(std::process::Child, &SweepRun)> = Vec::new();
    let mut queue = todo.iter().copied();
    let mut failures = Vec::new();
    loop {
        while running.len() < jobs {
            let Some(run) = queue.next() else { break };
            let cmd = run_command(exe, run);
            if !quiet {
                eprintln!("sweep: start {}", run.dir.display());
            }
            let log = std::fs::File::create(run.dir.join("sweep.log"))?;
            let child = Command::new(&cmd[0])
                .args(&cmd[1..])
                .env("PADS_THREADS", threads.to_string())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .with_context(|| format!("cannot start {}", cmd.join(" ")))?;
            running.push((child, run));
        }
        if running.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        let mut i = 0;
        while i < running.len() {
            if let Some(status) = running[i].0.try_wait()? {
                let (_, run) = running.remove(i);
                if status.success() {
                    if !quiet {
                        eprintln!("sweep: done  {}", run.dir.display());
                    }
                } else {
                    failures.push(format!("{} (see {})", run.dir.display(), run.dir.join("sweep.log").display()));
                }
            } else {
                i += 1;
            }
        }
    }
    if !failures.is_empty() {
        bail!("{} sweep run(s) failed: {}", failures.len(), failures.join(", "));
    }
    Ok((todo.len(), skipped))
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = v.iter().sum::<f64>() / n;
    let std = if v.len() > 1 { (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() } else { 0.0 };
    (mean, std)
}

/// One run's final (last evaluated) and best (the epoch checkpoint_best holds, by the run's
/// `select_on` rule) rows of metrics.csv.
pub struct RunResult {
    /// How the best row was chosen (e.g. "highest test Recall@1").
    pub rule: &'static str,
    pub sampler: String,
    pub seed: String,
    pub metric_names: Vec<String>,
    pub last: Vec<f64>,
    pub best: Vec<f64>,
    pub epochs: Vec<f64>,
    pub recall1: Vec<f64>,
}

const NON_METRICS: [&str; 5] = ["epoch", "loss", "lr", "beta_mean", "policy_updates"];

pub fn read_run(dir: &Path) -> Result<Option<RunResult>> {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let Some((sampler, seed)) = name.rsplit_once("_seed") else { return Ok(None) };
    if !dir.join("metrics.csv").is_file() {
        return Ok(None);
    }
    let table = CsvTable::read(&dir.join("metrics.csv"))?;
    let r1 = table.header.iter().position(|h| h == "recall@1").context("metrics.csv has no recall@1")?;
    let metric_idx: Vec<usize> = (0..table.header.len()).filter(|&i| !NON_METRICS.contains(&table.header[i].as_str())).collect();
    let rows: Vec<&Vec<String>> = table.rows.iter().filter(|r| r[0] != "0" && r.get(r1).is_some_and(|v| !v.is_empty())).collect();
    let rule = RunConfig::from_toml_file(&dir.join("config.toml")).map(|c| c.select_on).unwrap_or_default();
    let (Some(last), Some(best)) = (
        crate::run::log::final_row(&table).map(|i| &table.rows[i]),
        crate::run::log::best_row(&table, rule).map(|i| &table.rows[i]),
    ) else {
        return Ok(None);
    };
    let parse = |row: &Vec<String>| metric_idx.iter().map(|&i| row.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN)).collect::<Vec<_>>();
    Ok(Some(RunResult {
        rule: rule.rule(),
        sampler: sampler.to_string(),
        seed: seed.to_string(),
        metric_names: metric_idx.iter().map(|&i| table.header[i].clone()).collect(),
        last: parse(last),
        best: parse(best),
        epochs: rows.iter().map(|r| r[0].parse().unwrap_or(f64::NAN)).collect(),
        recall1: rows.iter().map(|r| r[r1].parse().unwrap_or(f64::NAN)).collect(),
    }))
}

/// Rebuilds summary.md, summary.csv and recall1.png from the runs in `<out>/runs`.
pub fn summarize(out: &Path) -> Result<String> {
    let runs_dir = out.join("runs");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&runs_dir)
        .with_context(|| format!("{} holds no sweep runs", runs_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut results = Vec::new();
    // Only finished runs enter the table: an unfinished run's "final" is another epoch's.
    let mut left_out = Vec::new();
    for d in dirs {
        let name = d.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let planned = RunConfig::from_toml_file(&d.join("config.toml")).or_else(|_| RunConfig::from_toml_file(&d.join("sweep-config.toml"))).map(|c| c.n_epochs).ok();
        let done = crate::run::resume::finished_epochs(&d);
        match (read_run(&d)?, planned) {
            (Some(r), Some(n)) if done.is_some_and(|k| k >= n) => results.push(r),
            (Some(r), Some(n)) => left_out.push(format!("{name} (unfinished: {} of {n} epochs evaluated)", r.epochs.len())),
            _ => left_out.push(format!("{name} (not started)")),
        }
    }
    if results.is_empty() {
        bail!("no run in {} has finished yet{}", runs_dir.display(), if left_out.is_empty() { String::new() } else { format!(": {}", left_out.join(", ")) });
    }
    if !left_out.is_empty() {
        tracing::warn!("left out of the summary: {}", left_out.join(", "));
    }
    let names = results[0].metric_names.clone();
    // Runs of one summary must log the same metrics (e.g. the same --k-vals); a table mixing
    // them would put numbers under the wrong heading.
    if let Some(other) = results.iter().find(|r| r.metric_names != names) {
        bail!(
            "runs in {} log different metrics: {}_seed{} has {:?}, {}_seed{} has {:?} (same --k-vals needed)",
            runs_dir.display(),
            results[0].sampler,
            results[0].seed,
            names,
            other.sampler,
            other.seed,
            other.metric_names
        );
    }
    let mut samplers: Vec<String> = Vec::new();
    for r in &results {
        if !samplers.contains(&r.sampler) {
            samplers.push(r.sampler.clone());
        }
    }
    // The usual order of the paper's tables: baselines first, PADS last.
    let order = ["random", "semihard", "softhard", "distance", "pads"];
    samplers.sort_by_key(|s| order.iter().position(|o| o == s).unwrap_or(order.len()));
    let mut csv = CsvTable { header: vec!["sampler".into(), "runs".into(), "seeds".into()], rows: Vec::new() };
    for kind in ["final", "best"] {
        for n in &names {
            csv.header.push(format!("{kind}_{n}_mean"));
            csv.header.push(format!("{kind}_{n}_std"));
        }
    }
    let mut rules: Vec<&str> = results.iter().map(|r| r.rule).collect();
    rules.sort();
    rules.dedup();
    let mut md = format!(
        "# Sweep summary\n\nMean +- standard deviation over seeds (sample std). `final` = last evaluated epoch, `best` = the epoch checkpoint_best holds, chosen by the {}.\n\n",
        rules.join(" / ")
    );
    if !left_out.is_empty() {
        md.push_str(&format!("Finished runs only; not in the table: {}.\n\n", left_out.join(", ")));
    }
    let shown: Vec<&String> = names.iter().filter(|n| !["intra", "inter"].contains(&n.as_str())).collect();
    md.push_str("| sampler | runs |");
    for n in &shown {
        md.push_str(&format!(" final {n} |"));
    }
    md.push_str(" best recall@1 |\n|---|---|");
    for _ in 0..=shown.len() {
        md.push_str("---|");
    }
    md.push('\n');
    let mut curves = Vec::new();
    for s in &samplers {
        let group: Vec<&RunResult> = results.iter().filter(|r| &r.sampler == s).collect();
        let seeds: Vec<String> = group.iter().map(|r| r.seed.clone()).collect();
        let mut row = vec![s.clone(), group.len().to_string(), seeds.join(" ")];
        let mut finals = Vec::new();
        for (kind, pick) in [("final", 0), ("best", 1)] {
            for (i, _) in names.iter().enumerate() {
                let vals: Vec<f64> = group.iter().map(|r| if pick == 0 { r.last[i] } else { r.best[i] }).collect();
                let (m, sd) = mean_std(&vals);
                row.push(format!("{m:.6}"));
                row.push(format!("{sd:.6}"));
                if kind == "final" {
                    finals.push((names[i].clone(), m, sd));
                }
            }
        }
        csv.rows.push(row);
        md.push_str(&format!("| {s} | {} |", group.len()));
        // One run has no standard deviation: its value alone, not "+- 0.00".
        let cell = |m: f64, sd: f64| if group.len() > 1 { format!(" {:.2} +- {:.2} |", m * 100.0, sd * 100.0) } else { format!(" {:.2} |", m * 100.0) };
        for n in &shown {
            let Some((_, m, sd)) = finals.iter().find(|f| &&f.0 == n) else { continue };
            md.push_str(&cell(*m, *sd));
        }
        let best_r1: Vec<f64> = group.iter().map(|r| r.best[0]).collect();
        let (m, sd) = mean_std(&best_r1);
        md.push_str(&cell(m, sd));
        md.push('\n');
        // Recall@1 per epoch: mean and band (mean +- std) over seeds, on common epochs.
        let epochs = group[0].epochs.clone();
        let mut mean = Vec::new();
        let mut band = Vec::new();
        for (e, _) in epochs.iter().enumerate() {
            let vals: Vec<f64> = group.iter().filter_map(|r| r.recall1.get(e).copied()).collect();
            let (m, sd) = mean_std(&vals);
            mean.push(m);
            band.push(sd);
        }
        curves.push((s.clone(), epochs, mean, band));
    }
    md.push_str("\n(values in %, metrics on the test split)\n");
    crate::util::write_atomic(&out.join("summary.csv"), csv.to_string().as_bytes())?;
    crate::util::write_atomic(&out.join("summary.md"), md.as_bytes())?;
    plots::band_curves(&out.join("recall1.png"), "test Recall@1 per sampler (mean +- std over seeds)", &curves)?;
    Ok(md)
}
