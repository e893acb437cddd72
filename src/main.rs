//! The `pads` command line: parse (cli/args.rs), build a RunConfig, call the library.
mod cli;

use anyhow::{bail, Result};
use clap::{ArgMatches, CommandFactory, FromArgMatches};
use cli::args::*;
use pads::config::RunConfig;
use pads::data::synth::{self, SynthOptions};
use pads::options::Preset;
use std::path::PathBuf;

fn sub_matches<'a>(m: &'a ArgMatches, path: &[&str]) -> &'a ArgMatches {
    path.iter().fold(m, |m, name| m.subcommand_matches(name).expect("subcommand matches"))
}

/// The config flags apply on top of: the defaults, then the preset, then the TOML file's keys.
fn base_config(file: Option<&std::path::Path>, preset: Option<Preset>) -> Result<RunConfig> {
    RunConfig::layered(preset, file)
}

fn print_metrics(m: &pads::eval::Metrics, json: bool) -> Result<()> {
    if json {
        let obj: serde_json::Map<String, serde_json::Value> =
            m.named().into_iter().map(|(k, v)| (k, serde_json::json!(v))).collect();
        println!("{}", serde_json::to_string_pretty(&obj)?);
    } else {
        let named = m.named();
        let w = named.iter().map(|(k, _)| k.len()).max().unwrap_or(0).max(10);
        for (k, v) in named {
            println!("{k:>w$}  {v:.4}");
        }
    }
    Ok(())
}

/// `pads metrics --query-* --gallery-*` (eval::query_gallery).
fn metrics_query_gallery(a: &MetricsArgs) -> Result<()> {
    let (Some(q), Some(ql), Some(g), Some(gl)) = (&a.query_embeddings, &a.query_labels, &a.gallery_embeddings, &a.gallery_labels) else {
        bail!("query/gallery metrics need --query-embeddings, --query-labels, --gallery-embeddings and --gallery-labels");
    };
    let m = pads::inference::metrics::query_gallery_from_files(q, ql, g, gl, &a.k, !a.no_normalize, !a.count_lone_queries)?;
    for w in &m.warnings {
        eprintln!("warning: {w}");
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&m.to_json())?);
    } else {
        eprintln!("{} queries against {} gallery items{}", m.queries, m.gallery, if m.same_set { " (one set: self-matches left out)" } else { "" });
        for (k, v) in m.named() {
            if v.is_nan() {
                println!("{k:>10}  undefined");
            } else {
                println!("{k:>10}  {v:.4}");
            }
        }
    }
    Ok(())
}

fn main() {
    // A closed stdout/stderr (`pads eval --json | head -1`) ends the process quietly, as
    // other Unix tools do, instead of a "failed printing to stdout" panic (exit 101).
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    pads::allocator::tune_for_training();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("PADS_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        // Colour only on a terminal: Slurm and nohup logs get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .init();
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    // Sweeps give each job its share of the cores.
    if let Some(n) = std::env::var("PADS_THREADS").ok().and_then(|v| v.parse::<i32>().ok()) {
        tch::set_num_threads(n.max(1));
        // The host GEMMs and selections of the evaluation run on rayon's pool.
        rayon::ThreadPoolBuilder::new().num_threads(n.max(1) as usize).build_global().ok();
    }
    // The original's command line is one more spelling of the same options (config::original).
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // Asking torch for CUDA starts its runtime: only for a `--gpu` to translate.
    let gpu_flag = args.iter().any(|a| a.to_str().is_some_and(|a| a == "--gpu" || a.starts_with("--gpu=")));
    let translated = pads::config::original::translate(args, gpu_flag && tch::Cuda::is_available());
    if !translated.dropped.is_empty() {
        tracing::warn!("ignored, as they do nothing in the original either: {}", translated.dropped.join("; "));
    }
    for note in &translated.notes {
        tracing::warn!("{note}");
    }
    if let Some(e) = &translated.error {
        bail!("{e}");
    }
    let matches = pads::config::allow_negative_numbers(pads::config::help::describe(Cli::command())).get_matches_from(translated.args);
    let cli = Cli::from_arg_matches(&matches)?;
    match cli.command {
        Command::Synth(a) => {
            let t0 = std::time::Instant::now();
            let n = synth::generate(
                &a.out,
                &SynthOptions { classes: a.classes, per_class: a.per_class, image_size: a.image_size, seed: a.seed },
            )?;
            println!("wrote {n} images of {} classes to {} in {:.1} s", a.classes, a.out.join("images").display(), t0.elapsed().as_secs_f64());
        }
        Command::Data { command: DataCommand::Check(a) } => {
            let m = sub_matches(&matches, &["data", "check"]);
            let cfg = RunConfig::resolve(base_config(a.config.as_deref(), a.preset)?, m)?;
            if a.dry_run {
                let origins = pads::config::origins(&cfg, a.preset, a.config.as_deref(), m)?;
                println!("# pads data check --dry-run: nothing was checked. The resolved options:");
                print!("{}", pads::config::annotated_toml(&cfg, &origins)?);
                return Ok(());
            }
            let report = pads::train::check::check(&cfg, !a.no_decode, &pads::progress::Progress::new(a.json))?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.to_text());
            }
            if !report.problems.is_empty() {
                bail!("{} problem(s) listed above: training with these options would stop", report.problems.len());
            }
        }
        Command::Data { command: DataCommand::Resize(a) } => {
            let t0 = std::time::Instant::now();
            let opts = pads::data::resize::ResizeOptions { shorter_side: a.shorter_side, jpeg_quality: a.jpeg_quality, threads: a.threads };
            let r = pads::data::resize::resize_tree(&a.src, &a.out, &opts)?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!(
                    "{}: {} images resized, {} files copied, {} already there; {:.1} MB -> {:.1} MB in {:.1} s",
                    a.out.display(),
                    r.resized,
                    r.copied,
                    r.kept,
                    r.bytes_in as f64 / 1e6,
                    r.bytes_out as f64 / 1e6,
                    t0.elapsed().as_secs_f64()
                );
                for p in &r.undecodable {
                    println!("  copied unchanged, does not decode: {}", p.display());
                }
            }
        }
        Command::Train(a) => cli::train::run(&a, sub_matches(&matches, &["train"]))?,
        Command::Eval(a) => {
            let (m, info) = pads::inference::eval::evaluate_checkpoint(&a.run, a.data_root.as_deref(), a.checkpoint, a.quiet || a.json)?;
            if a.json {
                let mut obj: serde_json::Map<String, serde_json::Value> =
                    m.named().into_iter().map(|(k, v)| (k, serde_json::json!(v))).collect();
                obj.insert("checkpoint".into(), serde_json::json!(info.which.as_str()));
                obj.insert("epoch".into(), serde_json::json!(info.epoch));
                obj.insert("chosen_by".into(), serde_json::json!(match info.which {
                    pads::run::CheckpointChoice::Best => info.cfg.select_on.rule(),
                    pads::run::CheckpointChoice::Last => "latest epoch",
                }));
                println!("{}", serde_json::to_string_pretty(&obj)?);
            } else {
                println!("test metrics of the {}:", info.describe());
                print_metrics(&m, false)?;
            }
        }
        Command::Import(a) => {
            let opts = pads::original::import::ImportOptions { folder: a.folder.clone(), out: a.out.clone(), data_root: a.data_root.clone(), overwrite: a.overwrite };
            let report = pads::original::import::import_run(&opts)?;
            println!("imported {} into {}:", a.folder.display(), a.out.display());
            for line in &report.imported {
                println!("  + {line}");
            }
            println!("not imported:");
            for line in &report.not_imported {
                println!("  - {line}");
            }
        }
        Command::Compare(a) => {
            let out = match a.out {
                Some(o) => o,
                None => a.runs[0].parent().map(|p| p.join("compare")).unwrap_or_else(|| PathBuf::from("compare")),
            };
            pads::run::folder::refuse_original_folder(&out, "--out")?;
            let r = pads::report::compare::compare_runs(&a.runs, &out)?;
            for w in &r.warnings {
                eprintln!("warning: {w}");
            }
            print!("{}", r.text_table);
            println!("wrote {} ({} and {} hold the table)", r.html.display(), r.markdown.display(), r.csv.display());
        }
        Command::Metrics(a) if a.query_embeddings.is_some() => metrics_query_gallery(&a)?,
        Command::Metrics(a) => {
            let (Some(embeddings), Some(labels)) = (&a.embeddings, &a.labels) else { bail!("pads metrics needs --embeddings and --labels") };
            let mut opts = pads::eval::EvalOptions::new(a.k.clone());
            opts.seed = a.seed;
            opts.normalize = !a.no_normalize;
            opts.skip_lone_queries = !a.count_lone_queries;
            let m = pads::inference::metrics::metrics_from_files(embeddings, labels, &opts, pads::device::parse_device(&a.device)?)?;
            for w in &m.warnings {
                eprintln!("warning: {w}");
            }
            if a.no_normalize && (m.intra.is_some() || m.inter.is_some()) {
                eprintln!("note: intra/inter are mean cosine distances, always computed on unit rows; --no-normalize applies to Recall@k, mAP@R, NMI and F1");
            }
            if a.json {
                println!("{}", serde_json::to_string_pretty(&m.to_json())?);
            } else {
                print!("{}", m.to_text());
            }
        }
        Command::Embed(a) => {
            pads::run::folder::refuse_original_folder(&a.out, "--out")?;
            let source = match (&a.images, &a.list) {
                (Some(d), _) => Some(pads::inference::embed::Source::Dir(d.clone())),
                (None, Some(f)) => Some(pads::inference::embed::Source::List(f.clone())),
                (None, None) => None,
            };
            match source {
                None => {
                    if a.skip_bad_images {
                        bail!("--skip-bad-images of `pads embed` goes with --images or --list (a split follows the run's own --skip-bad-images)");
                    }
                    let split = a.split.as_deref().unwrap_or("test");
                    let n = pads::inference::embed::embed_split(&a.run, a.data_root.as_deref(), split, a.checkpoint, &a.out, a.quiet)?;
                    println!("wrote {n} embeddings to {}", a.out.display());
                }
                Some(source) => {
                    if a.data_root.is_some() {
                        bail!("--data-root goes with --split, not with --images/--list");
                    }
                    let r = pads::inference::embed::embed_images_run(&a.run, a.checkpoint, &source, &a.out, a.skip_bad_images)?;
                    if r.other_files > 0 {
                        eprintln!("note: {} files without an image extension were not embedded", r.other_files);
                    }
                    if !r.skipped.is_empty() {
                        eprintln!(
                            "warning: {} images do not decode and were left out (listed in {})",
                            r.skipped.len(),
                            a.out.join("skipped.txt").display()
                        );
                    }
                    println!("wrote {} embeddings to {} (checkpoint {})", r.embedded, a.out.display(), r.checkpoint.display());
                }
            }
        }
        Command::Export(a) => {
            pads::run::folder::refuse_original_folder(&a.out, "--out")?;
            let r = pads::inference::export::export_run(&a.run, a.checkpoint, &a.out)?;
            println!("exported {} checkpoint {}", a.checkpoint.as_str(), r.checkpoint.display());
            for f in &r.files {
                println!("  wrote {}", f.display());
            }
            for n in &r.notes {
                eprintln!("warning: {n}");
            }
        }
        Command::Search(a) => {
            if let Some(out) = &a.out {
                pads::run::folder::refuse_original_folder(out, "--out")?;
            }
            let found = pads::inference::search::search_run(&a.run, a.checkpoint, &a.gallery, &a.query, a.k, a.skip_bad_images)?;
            for w in &found.warnings {
                eprintln!("warning: {w}");
            }
            let results = found.results;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&results)?);
            } else {
                print!("{}", pads::inference::search::to_text(&results));
            }
            if let Some(out) = &a.out {
                for w in pads::inference::search::write_outputs(out, &results)? {
                    eprintln!("warning: {w}");
                }
                eprintln!("wrote {} and {}", out.join("results.json").display(), out.join("grid.png").display());
            }
        }
        Command::Demo(a) => {
            pads::demo::run_demo(&a.data_root, &a.out, a.epochs, a.quiet, a.overwrite)?;
        }
        Command::Sweep(a) => {
            let m = sub_matches(&matches, &["sweep"]);
            let cfg = RunConfig::resolve(base_config(a.config.as_deref(), a.preset)?, m)?.with_absolute_paths()?;
            for (key, per_run) in [("seed", "--seeds"), ("sampling", "--samplers")] {
                if m.value_source(key) == Some(clap::parser::ValueSource::CommandLine) {
                    tracing::warn!("--{key} is replaced in every run of a sweep by {per_run} (each run gets one of them)");
                }
            }
            let out = pads::util::absolute_clean(&a.out)?;
            let runs = pads::sweep::plan(&cfg, &a.samplers, &a.seeds, &out);
            if a.dry_run {
                let origins = pads::config::origins(&cfg, a.preset, a.config.as_deref(), m)?;
                println!("# pads sweep --dry-run: nothing was trained or written. Options of every run:");
                print!("{}", pads::config::annotated_toml(&cfg, &origins)?);
                println!("# {} runs, each with its own sampling and seed:", runs.len());
                for r in &runs {
                    println!("#   {}: sampling = \"{}\", seed = {}", r.dir.display(), r.sampler.as_str(), r.seed);
                }
                return Ok(());
            }
            if a.slurm {
                let opts = pads::sweep::SlurmOptions {
                    time: a.slurm_time,
                    cpus: a.slurm_cpus,
                    mem: a.slurm_mem,
                    gpus: a.slurm_gpus,
                    partition: a.slurm_partition,
                    overwrite: a.overwrite,
                };
                let script = pads::sweep::write_slurm(&std::env::current_exe()?, &runs, &out, &opts)?;
                println!("wrote {} ({} array tasks)", script.display(), runs.len());
                println!("submit:     sbatch {}", script.display());
                println!("afterwards: {} summarize {}", std::env::current_exe()?.display(), out.display());
            } else {
                let t0 = std::time::Instant::now();
                let opts = pads::sweep::LocalOptions { jobs: a.jobs, quiet: a.quiet, overwrite: a.overwrite };
                let (ran, skipped) = pads::sweep::run_local(&std::env::current_exe()?, &runs, &out, &opts)?;
                eprintln!("sweep: {ran} run(s) trained, {skipped} already finished, {:.0} s", t0.elapsed().as_secs_f64());
                print!("{}", pads::sweep::summarize(&out)?);
            }
        }
        Command::Bench { command } => match command {
            BenchCommand::TrainStep { arch, image_size, bs, sampling, device, amp } => {
                let amp = amp == pads::options::Amp::Bf16;
                pads::bench::train_step_server(arch, image_size, bs, sampling, pads::device::parse_device(&device)?, amp)?;
            }
            BenchCommand::Search { gallery, queries, n_queries, k, chunk_rows } => {
                println!("{}", pads::bench::search(&gallery, &queries, n_queries, k, chunk_rows)?)
            }
            BenchCommand::Miners { bs, dim, reps } => println!("{}", pads::bench::miners(bs, dim, reps)?),
            BenchCommand::Loader { threads, batches, transform, profile, .. } => {
                let m = sub_matches(&matches, &["bench", "loader"]);
                let cfg = RunConfig::resolve(RunConfig::default(), m)?;
                let mode = if transform == "eval" { pads::data::transform::Mode::Eval } else { pads::data::transform::Mode::Train };
                if profile {
                    if cfg.cache_images {
                        tracing::warn!("--profile times decoding from the files: --cache-images does not apply to it");
                    }
                    println!("{}", pads::bench::loader_profile(&cfg, mode, batches * cfg.bs)?);
                } else {
                    println!("{}", pads::bench::loader(&cfg, mode, &threads, batches)?);
                }
            }
        },
        Command::Summarize { dir } => {
            print!("{}", pads::sweep::summarize(&dir)?);
        }
    }
    Ok(())
}
