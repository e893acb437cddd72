//! The `pads` command line: parse, build a RunConfig, call the library.
use anyhow::{bail, Context, Result};
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use pads::config::{Preset, RunConfig, Sampling};
use pads::data::synth::{self, SynthOptions};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "pads", version, about = "Deep metric learning with Policy-Adapted Sampling (PADS)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate the synthetic fine-grained dataset (cub200 layout).
    Synth(SynthArgs),
    /// Inspect datasets.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
    /// Train an embedding (any sampler, PADS included).
    Train(TrainArgs),
    /// Evaluate a saved run on its test split.
    Eval(EvalArgs),
    /// Every metric for embeddings you bring (.npy).
    Metrics(MetricsArgs),
    /// Write a run's embeddings of one split (.npy) for numpy / faiss.
    Embed(EmbedArgs),
    /// The embedded default: synthetic data, PADS vs distance-weighted sampling on CPU.
    Demo(DemoArgs),
    /// One run per (sampler, seed), locally N at a time or as a Slurm job array; then a summary.
    Sweep(SweepArgs),
    /// The pads side of the benchmarks in bench/ (see docs/benchmarks.md).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Did PADS help? One HTML page and a table (best and final rows, overlaid test
    /// curves, each PADS run's distribution and policy) for runs on the same data.
    Compare(CompareArgs),
    /// Rebuild a sweep's summary from the runs it has.
    Summarize {
        /// The sweep folder.
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Serve training iterations over stdin (`run K` -> K times in ms), for bench/compare_train.py.
    TrainStep {
        #[arg(long, value_enum, default_value = "small")]
        arch: pads::config::Arch,
        #[arg(long, default_value_t = 64)]
        image_size: usize,
        #[arg(long, default_value_t = 112)]
        bs: usize,
        #[arg(long, value_enum, default_value = "distance")]
        sampling: Sampling,
        #[arg(long, default_value = "cpu")]
        device: String,
        #[arg(long, value_enum, default_value = "off")]
        amp: pads::config::Amp,
    },
    /// Miner + margin loss (forward and backward) per sampler: median ms (JSON).
    Miners {
        #[arg(long, default_value_t = 112)]
        bs: usize,
        #[arg(long, default_value_t = 128)]
        dim: usize,
        #[arg(long, default_value_t = 30)]
        reps: usize,
    },
    /// Loader images/s with the training transform for each thread count (JSON).
    Loader {
        #[command(flatten)]
        cfg: RunConfig,
        #[arg(long, value_delimiter = ',', default_values_t = vec![1usize, 2])]
        threads: Vec<usize>,
        #[arg(long, default_value_t = 10)]
        batches: usize,
    },
}

#[derive(Args)]
struct SweepArgs {
    #[command(flatten)]
    cfg: RunConfig,
    #[arg(long)]
    out: PathBuf,
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = vec![Sampling::Random, Sampling::Semihard, Sampling::Softhard, Sampling::Distance, Sampling::Pads])]
    samplers: Vec<Sampling>,
    #[arg(long, value_delimiter = ',', default_values_t = vec![0u64, 1, 2])]
    seeds: Vec<u64>,
    /// Runs at once (local); each gets cores / jobs torch threads.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long, value_enum)]
    preset: Option<Preset>,
    /// Write a Slurm job-array script instead of running.
    #[arg(long)]
    slurm: bool,
    #[arg(long, default_value = "24:00:00")]
    slurm_time: String,
    #[arg(long, default_value_t = 8)]
    slurm_cpus: usize,
    #[arg(long, default_value = "32G")]
    slurm_mem: String,
    #[arg(long, default_value_t = 1)]
    slurm_gpus: usize,
    #[arg(long)]
    slurm_partition: Option<String>,
    #[arg(long)]
    quiet: bool,
}

#[derive(Subcommand)]
enum DataCommand {
    /// Load a layout and print classes and images per split, and what was skipped.
    Check(CheckArgs),
    /// Write a pre-resized copy of a dataset folder (same layout; JPEG/PNG images whose
    /// shorter side exceeds --shorter-side scaled down to it, everything else copied), so
    /// full-size photos are decoded once; then train with --data-root pointing at the copy.
    Resize(ResizeArgs),
}

#[derive(Args)]
struct ResizeArgs {
    /// Folder to copy (a data root, or one dataset's folder inside it).
    #[arg(long)]
    src: PathBuf,
    /// Destination folder (created; files already there are kept, so a re-run resumes).
    #[arg(long)]
    out: PathBuf,
    /// Largest shorter side kept, in pixels (the evaluation transform resizes the shorter
    /// side to image-size * 256 / 224 = 256 at 224 px).
    #[arg(long, default_value_t = 256)]
    shorter_side: u32,
    /// Quality of re-encoded JPEG files.
    #[arg(long, default_value_t = 95)]
    jpeg_quality: u8,
    /// Worker threads (0 = number of cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct SynthArgs {
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 100)]
    classes: usize,
    #[arg(long, default_value_t = 30)]
    per_class: usize,
    #[arg(long, default_value_t = 64)]
    image_size: u32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Args)]
struct CheckArgs {
    #[command(flatten)]
    cfg: RunConfig,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct TrainArgs {
    #[command(flatten)]
    cfg: RunConfig,
    /// Run folder to create.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Start from a TOML config (flags still override it).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Start from an original sample run's settings.
    #[arg(long, value_enum)]
    preset: Option<Preset>,
    /// Continue the run in this folder from its last checkpoint.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Evaluate the untrained network first (epoch 0 row).
    #[arg(long)]
    eval_before: bool,
    /// Stop after this epoch (for time-limited jobs); continue later with --resume.
    #[arg(long)]
    stop_after_epoch: Option<usize>,
    #[arg(long)]
    quiet: bool,
}

#[derive(Args)]
struct CompareArgs {
    /// Run folders to compare (trained on the same data).
    #[arg(required = true, num_args = 1..)]
    runs: Vec<PathBuf>,
    /// Folder for compare.html, compare.md, compare.csv and the plots (default: `compare`
    /// next to the first run).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
struct EvalArgs {
    #[arg(long)]
    run: PathBuf,
    /// Which checkpoint: `best` (the epoch the run's --select-on rule chose) or `last`.
    #[arg(long, value_enum, default_value = "best")]
    checkpoint: pads::run::CheckpointChoice,
    #[arg(long)]
    data_root: Option<PathBuf>,
    #[arg(long)]
    json: bool,
    #[arg(long)]
    quiet: bool,
}

#[derive(Args)]
struct MetricsArgs {
    /// float32 [N, D] .npy
    #[arg(long)]
    embeddings: PathBuf,
    /// integer [N] .npy
    #[arg(long)]
    labels: PathBuf,
    #[arg(long, value_delimiter = ',', default_values_t = vec![1usize, 2, 4, 8])]
    k: Vec<usize>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value = "cpu")]
    device: String,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct EmbedArgs {
    #[arg(long)]
    run: PathBuf,
    #[arg(long, default_value = "test")]
    split: String,
    #[arg(long)]
    out: PathBuf,
    #[arg(long)]
    data_root: Option<PathBuf>,
    #[arg(long)]
    quiet: bool,
}

#[derive(Args)]
struct DemoArgs {
    #[arg(long, default_value = "data")]
    data_root: PathBuf,
    #[arg(long, default_value = "runs/demo")]
    out: PathBuf,
    /// Epochs per run.
    #[arg(long, default_value_t = pads::demo::DEMO_EPOCHS)]
    epochs: usize,
    #[arg(long)]
    quiet: bool,
}

fn sub_matches<'a>(m: &'a ArgMatches, path: &[&str]) -> &'a ArgMatches {
    path.iter().fold(m, |m, name| m.subcommand_matches(name).expect("subcommand matches"))
}

/// The config flags apply on top of: a TOML file, else a preset, else the defaults.
fn base_config(file: Option<&std::path::Path>, preset: Option<Preset>) -> Result<RunConfig> {
    Ok(match (file, preset) {
        (Some(file), _) => RunConfig::from_toml_file(file)?,
        (None, Some(p)) => RunConfig::preset(p),
        (None, None) => RunConfig::default(),
    })
}

fn print_metrics(m: &pads::eval::Metrics, json: bool) -> Result<()> {
    if json {
        let obj: serde_json::Map<String, serde_json::Value> =
            m.named().into_iter().map(|(k, v)| (k, serde_json::json!(v))).collect();
        println!("{}", serde_json::to_string_pretty(&obj)?);
    } else {
        for (k, v) in m.named() {
            println!("{k:>10}  {v:.4}");
        }
    }
    Ok(())
}

fn main() {
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
    let matches = Cli::command().get_matches();
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
            let cfg = RunConfig::resolve(RunConfig::default(), m)?;
            let report = pads::data::check::check(&cfg)?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.to_text());
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
        Command::Train(a) => {
            let m = sub_matches(&matches, &["train"]);
            let (base, out) = match (&a.resume, &a.out) {
                (Some(run), _) => (RunConfig::from_toml_file(&run.join("config.toml"))?, run.clone()),
                (None, Some(out)) => (base_config(a.config.as_deref(), a.preset)?, out.clone()),
                (None, None) => bail!("pads train needs --out RUN_DIR (or --resume RUN_DIR)"),
            };
            let cfg = RunConfig::resolve(base, m)?;
            let opts = pads::train::TrainOptions {
                resume: a.resume.is_some(),
                quiet: a.quiet,
                eval_before: a.eval_before,
                stop_after_epoch: a.stop_after_epoch,
            };
            let s = pads::train::train(&cfg, &out, &opts)?;
            println!("run folder {}; test metrics:", out.display());
            let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| out.display().to_string());
            print!("{}", pads::demo::best_final_table(&[(name.as_str(), &s, &cfg)]));
        }
        Command::Eval(a) => {
            let (m, info) = pads::train::evaluate_checkpoint(&a.run, a.data_root.as_deref(), a.checkpoint, a.quiet || a.json)?;
            if a.json {
                let mut obj: serde_json::Map<String, serde_json::Value> =
                    m.named().into_iter().map(|(k, v)| (k, serde_json::json!(v))).collect();
                obj.insert("checkpoint".into(), serde_json::json!(info.which.as_str()));
                obj.insert("epoch".into(), serde_json::json!(info.epoch));
                obj.insert("chosen_by".into(), serde_json::json!(match info.which {
                    pads::run::CheckpointChoice::Best => info.rule,
                    pads::run::CheckpointChoice::Last => "latest epoch",
                }));
                println!("{}", serde_json::to_string_pretty(&obj)?);
            } else {
                println!("test metrics of the {}:", info.describe());
                print_metrics(&m, false)?;
            }
        }
        Command::Compare(a) => {
            let out = match a.out {
                Some(o) => o,
                None => a.runs[0].parent().map(|p| p.join("compare")).unwrap_or_else(|| PathBuf::from("compare")),
            };
            let r = pads::report::compare::compare_runs(&a.runs, &out)?;
            for w in &r.warnings {
                eprintln!("warning: {w}");
            }
            print!("{}", r.text_table);
            println!("wrote {} ({} and {} hold the table)", r.html.display(), r.markdown.display(), r.csv.display());
        }
        Command::Metrics(a) => {
            let emb = tch::Tensor::read_npy(&a.embeddings)
                .with_context(|| format!("{}: expected a float32 [N, D] .npy file", a.embeddings.display()))?;
            let labels = tch::Tensor::read_npy(&a.labels)
                .with_context(|| format!("{}: expected an integer [N] .npy file", a.labels.display()))?;
            if emb.dim() != 2 {
                bail!("{}: expected a 2-D [N, D] array, got shape {:?}", a.embeddings.display(), emb.size());
            }
            let labels: Vec<i64> = Vec::try_from(labels.to_kind(tch::Kind::Int64).flatten(0, -1))?;
            let device = pads::device::parse_device(&a.device)?;
            let opts = pads::eval::EvalOptions::new(a.k, a.seed);
            let m = pads::eval::compute_metrics(&emb.to_device(device), &labels, &opts)?;
            print_metrics(&m, a.json)?;
        }
        Command::Embed(a) => {
            let n = pads::train::embed_run(&a.run, a.data_root.as_deref(), &a.split, &a.out, a.quiet)?;
            println!("wrote {n} embeddings to {}", a.out.display());
        }
        Command::Demo(a) => {
            pads::demo::run_demo(&a.data_root, &a.out, a.epochs, a.quiet)?;
        }
        Command::Sweep(a) => {
            let m = sub_matches(&matches, &["sweep"]);
            let cfg = RunConfig::resolve(base_config(a.config.as_deref(), a.preset)?, m)?;
            let runs = pads::sweep::plan(&cfg, &a.samplers, &a.seeds, &a.out);
            if a.slurm {
                let opts = pads::sweep::SlurmOptions {
                    time: a.slurm_time,
                    cpus: a.slurm_cpus,
                    mem: a.slurm_mem,
                    gpus: a.slurm_gpus,
                    partition: a.slurm_partition,
                };
                let script = pads::sweep::write_slurm(&std::env::current_exe()?, &runs, &a.out, &opts)?;
                println!("wrote {} ({} array tasks)", script.display(), runs.len());
                println!("submit:     sbatch {}", script.display());
                println!("afterwards: {} summarize {}", std::env::current_exe()?.display(), a.out.display());
            } else {
                let t0 = std::time::Instant::now();
                let (ran, skipped) = pads::sweep::run_local(&std::env::current_exe()?, &runs, a.jobs, a.quiet)?;
                eprintln!("sweep: {ran} run(s) trained, {skipped} already finished, {:.0} s", t0.elapsed().as_secs_f64());
                print!("{}", pads::sweep::summarize(&a.out)?);
            }
        }
        Command::Bench { command } => match command {
            BenchCommand::TrainStep { arch, image_size, bs, sampling, device, amp } => {
                let amp = amp == pads::config::Amp::Bf16;
                pads::bench::train_step_server(arch, image_size, bs, sampling, pads::device::parse_device(&device)?, amp)?;
            }
            BenchCommand::Miners { bs, dim, reps } => println!("{}", pads::bench::miners(bs, dim, reps)?),
            BenchCommand::Loader { threads, batches, .. } => {
                let m = sub_matches(&matches, &["bench", "loader"]);
                let cfg = RunConfig::resolve(RunConfig::default(), m)?;
                println!("{}", pads::bench::loader(&cfg, &threads, batches)?);
            }
        },
        Command::Summarize { dir } => {
            print!("{}", pads::sweep::summarize(&dir)?);
        }
    }
    Ok(())
}
