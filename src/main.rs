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
    /// Every metric for embeddings you bring (.npy). Rows are L2-normalised first unless
    /// --no-normalize; undefined metrics print as "undefined" (JSON null) with a warning.
    Metrics(MetricsArgs),
    /// Write a run's embeddings of one split (.npy) for numpy / faiss.
    Embed(EmbedArgs),
    /// A run's model as TorchScript (model.pt), torchvision weights (model.safetensors) and
    /// its input transform (preprocess.json), for plain PyTorch.
    Export(ExportArgs),
    /// The k nearest gallery images of query images: exact, the gallery (from `pads embed`)
    /// streamed in chunks.
    Search(SearchArgs),
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
    /// Exact kNN of .npy queries against a .npy gallery streamed in chunks: time, peak RSS (JSON).
    Search {
        #[arg(long)]
        gallery: PathBuf,
        #[arg(long)]
        queries: PathBuf,
        /// Use the first N query rows.
        #[arg(long, default_value_t = 1000)]
        n_queries: usize,
        #[arg(short = 'k', long = "k", default_value_t = 10)]
        k: usize,
        #[arg(long, default_value_t = pads::eval::search::GALLERY_CHUNK_ROWS)]
        chunk_rows: usize,
    },
    /// Loader images/s with the training transform for each thread count (JSON).
    Loader {
        #[command(flatten)]
        cfg: RunConfig,
        /// Loader thread counts to measure [threads, comma-separated]
        #[arg(long, value_delimiter = ',', default_values_t = vec![1usize, 2])]
        threads: Vec<usize>,
        /// Batches timed per thread count [batches]
        #[arg(long, default_value_t = 10)]
        batches: usize,
    },
}

#[derive(Args)]
struct SweepArgs {
    #[command(flatten)]
    cfg: RunConfig,
    /// Sweep folder: runs/<sampler>_seed<N>/ per run, summary.md, summary.csv, recall1.png [path]
    #[arg(long)]
    out: PathBuf,
    /// Samplers to compare [comma-separated]
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = vec![Sampling::Random, Sampling::Semihard, Sampling::Softhard, Sampling::Distance, Sampling::Pads])]
    samplers: Vec<Sampling>,
    /// Seeds of each sampler's runs [comma-separated]
    #[arg(long, value_delimiter = ',', default_values_t = vec![0u64, 1, 2])]
    seeds: Vec<u64>,
    /// Runs at once (local); each gets cores / jobs torch threads.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// TOML file of options for every run (any subset); overrides --preset, flags override it [path]
    #[arg(long)]
    config: Option<PathBuf>,
    /// Start every run from an original sample run's settings (CUB200, CARS196, SOP)
    #[arg(long, value_enum)]
    preset: Option<Preset>,
    /// Write a Slurm job-array script instead of running.
    #[arg(long)]
    slurm: bool,
    /// Time limit per array task [Slurm time, HH:MM:SS]
    #[arg(long, default_value = "24:00:00")]
    slurm_time: String,
    /// CPU cores per array task [cores]
    #[arg(long, default_value_t = 8)]
    slurm_cpus: usize,
    /// Memory per array task [Slurm size, e.g. 32G]
    #[arg(long, default_value = "32G")]
    slurm_mem: String,
    /// GPUs per array task (--gres=gpu:N) [GPUs; default: 1 when --device is cuda or auto, else none]
    #[arg(long)]
    slurm_gpus: Option<usize>,
    /// Slurm partition [name]
    #[arg(long)]
    slurm_partition: Option<String>,
    /// No per-run start and end lines.
    #[arg(long)]
    quiet: bool,
}

#[derive(Subcommand)]
enum DataCommand {
    /// Load a layout, decode every image of every split, and list every problem with its
    /// path; exits non-zero when `pads train` with the same options would stop.
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
    /// Dataset folder to write (images/NNN.Name/*.png); for training, name it <data-root>/synthetic [path]
    #[arg(long)]
    out: PathBuf,
    /// Classes (species), in families of 5 look-alikes; the first half trains, the second tests [classes]
    #[arg(long, default_value_t = 100)]
    classes: usize,
    /// Images per class [images]
    #[arg(long, default_value_t = 30)]
    per_class: usize,
    /// Side of the square images [pixels]
    #[arg(long, default_value_t = 64)]
    image_size: u32,
    /// Seed of the generator; the same seed writes the same images [integer]
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Args)]
struct CheckArgs {
    #[command(flatten)]
    cfg: RunConfig,
    /// Skip decoding the images (a quick look at the layout; truncated or corrupt files are
    /// then not found). By default every image of every split is decoded on
    /// --num-workers threads.
    #[arg(long)]
    no_decode: bool,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

// The run options come first in `--help` (fields before `cfg`); `pads::help` gives the
// RunConfig options their headings and descriptions.
#[derive(Args)]
struct TrainArgs {
    /// Run folder to create; an existing run folder is refused unless --overwrite [path]
    #[arg(long, help_heading = pads::help::RUN)]
    out: Option<PathBuf>,
    /// Start from an original sample run's settings (CUB200, CARS196, SOP); --config and flags override it
    #[arg(long, value_enum, help_heading = pads::help::RUN)]
    preset: Option<Preset>,
    /// TOML file of options (any subset; a run's config.toml works); overrides --preset, flags override it [path]
    #[arg(long, help_heading = pads::help::RUN)]
    config: Option<PathBuf>,
    /// Continue this run folder from its last checkpoint, with its own options (only --n-epochs to extend, --device, --num-workers, --cache-images, --quiet may be given) [path]
    #[arg(long, help_heading = pads::help::RUN)]
    resume: Option<PathBuf>,
    /// With --out: remove the run already in that folder first (its checkpoints, logs, plots)
    #[arg(long, help_heading = pads::help::RUN)]
    overwrite: bool,
    #[command(flatten)]
    cfg: RunConfig,
    /// Evaluate the untrained network first (metrics.csv row for epoch 0)
    #[arg(long, help_heading = pads::help::EVALUATION)]
    eval_before: bool,
    /// Stop cleanly after this epoch (time-limited jobs); continue later with --resume [epoch]
    #[arg(long, help_heading = pads::help::RUN)]
    stop_after_epoch: Option<usize>,
    /// No progress bars or per-epoch lines
    #[arg(long, help_heading = pads::help::RUN)]
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
    /// Run folder to evaluate (its config.toml and best checkpoint) [path]
    #[arg(long)]
    run: PathBuf,
    /// Which checkpoint: `best` (the epoch the run's --select-on rule chose) or `last`.
    #[arg(long, value_enum, default_value = "best")]
    checkpoint: pads::run::CheckpointChoice,
    /// Folder holding the dataset, when it moved since training [path; default: the run's]
    #[arg(long)]
    data_root: Option<PathBuf>,
    /// Print the metrics as one JSON object.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args)]
struct MetricsArgs {
    /// Embeddings, one row per item: float32 [N, D] .npy [path]
    #[arg(long, required_unless_present = "query_embeddings", conflicts_with = "query_embeddings")]
    embeddings: Option<PathBuf>,
    /// Class of each row: integer [N] .npy [path]
    #[arg(long, required_unless_present = "query_embeddings", conflicts_with = "query_embeddings")]
    labels: Option<PathBuf>,
    /// Query/gallery mode: float32 [Nq, D] .npy of the queries (Recall@k and mAP@R of the
    /// queries against the gallery; pytorch-metric-learning's reference-set semantics).
    #[arg(long, requires_all = ["query_labels", "gallery_embeddings", "gallery_labels"])]
    query_embeddings: Option<PathBuf>,
    /// Query/gallery mode: integer [Nq] .npy
    #[arg(long, requires = "query_embeddings")]
    query_labels: Option<PathBuf>,
    /// Query/gallery mode: float32 [Ng, D] .npy; the same files as the query's mean one
    /// set, and then each query's own row is left out.
    #[arg(long, requires = "query_embeddings")]
    gallery_embeddings: Option<PathBuf>,
    /// Query/gallery mode: integer [Ng] .npy
    #[arg(long, requires = "query_embeddings")]
    gallery_labels: Option<PathBuf>,
    /// Recall@k values [k >= 1, comma-separated] (a k above N - 1 retrieves every other item; warned)
    #[arg(long, value_delimiter = ',', default_values_t = vec![1usize, 2, 4, 8])]
    k: Vec<usize>,
    /// Seed of the k-means behind NMI and F1 [integer]; the default is the one seed every pads
    /// evaluation uses (training, `pads eval`), so the same embeddings give the same NMI everywhere
    #[arg(long, default_value_t = pads::eval::KMEANS_SEED)]
    seed: u64,
    /// Where to compute: cpu, cuda, cuda:N or auto
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Keep the rows as given (raw Euclidean distances). By default every row is
    /// L2-normalised first, as DML embeddings are compared as unit vectors; a line on stderr
    /// says how many rows were not unit-norm. intra/inter are mean cosine distances, always
    /// on unit rows (with or without this option).
    #[arg(long)]
    no_normalize: bool,
    /// Count queries that have no other item of their class (in query/gallery mode: no
    /// same-label gallery item) as Recall@k misses, as the original PADS code does. By default
    /// they are left out of Recall@k, as pytorch-metric-learning does; mAP@R leaves them out
    /// either way. A line on stderr gives their number.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value_t = false)]
    count_lone_queries: bool,
    /// Print the metrics as one JSON object (an undefined metric is null; the reason is on stderr).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct EmbedArgs {
    /// Run folder whose best checkpoint embeds [path]
    #[arg(long)]
    run: PathBuf,
    /// A split of the run's dataset: train, val or test (the default when neither --images
    /// nor --list is given), or query / gallery for in_shop; also writes labels.npy and
    /// classes.txt.
    #[arg(long, conflicts_with_all = ["images", "list"])]
    split: Option<String>,
    /// Embed every image under this folder (recursive, sorted); no labels needed.
    #[arg(long, conflicts_with = "list")]
    images: Option<PathBuf>,
    /// Embed the images listed in this file (one path per line, relative to the file's folder).
    #[arg(long)]
    list: Option<PathBuf>,
    /// With --images/--list: leave out files that do not decode (counted, listed in
    /// skipped.txt) instead of stopping with an error that names them.
    #[arg(long)]
    skip_bad_images: bool,
    /// With --images/--list: which checkpoint (default: best, else last).
    #[arg(long, value_enum)]
    checkpoint: Option<pads::run::CheckpointChoice>,
    /// Folder for embeddings.npy (float32 [N, D]), labels.npy (int64 [N]) and paths.txt [path]
    #[arg(long)]
    out: PathBuf,
    /// Folder holding the dataset, when it moved since training [path; default: the run's]
    #[arg(long)]
    data_root: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args)]
struct SearchArgs {
    /// The run whose model embeds the queries.
    #[arg(long)]
    run: PathBuf,
    /// Folder written by `pads embed` with the same run: embeddings.npy + paths.txt.
    #[arg(long)]
    gallery: PathBuf,
    /// Query images, or folders of images (searched recursively).
    #[arg(long, num_args = 1.., required = true)]
    query: Vec<PathBuf>,
    /// Neighbours per query.
    #[arg(short = 'k', long = "k", default_value_t = 10)]
    k: usize,
    /// Also write results.json and grid.png (query + neighbours per row) here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the results as JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Which checkpoint (default: best, else last).
    #[arg(long, value_enum)]
    checkpoint: Option<pads::run::CheckpointChoice>,
    /// Leave out query images that do not decode (each named in a warning) instead of
    /// stopping with an error that names them.
    #[arg(long)]
    skip_bad_images: bool,
}

#[derive(Args)]
struct ExportArgs {
    /// The run folder.
    #[arg(long)]
    run: PathBuf,
    /// Which checkpoint: the best epoch's or the last one.
    #[arg(long, value_enum, default_value = "best")]
    checkpoint: pads::run::CheckpointChoice,
    /// Folder to write model.pt, model.safetensors (ResNet50 only) and preprocess.json into.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
struct DemoArgs {
    /// Folder for the synthetic set (made in <data-root>/synthetic when absent) [path]
    #[arg(long, default_value = "data")]
    data_root: PathBuf,
    /// Folder for the two runs (distance/ and pads/) [path]
    #[arg(long, default_value = "runs/demo")]
    out: PathBuf,
    /// Train again over runs already in --out (removing them first; without it they are refused)
    #[arg(long)]
    overwrite: bool,
    /// Training length of each run [epochs]
    #[arg(long, default_value_t = pads::demo::DEMO_EPOCHS)]
    epochs: usize,
    /// No progress bars or per-epoch lines.
    #[arg(long)]
    quiet: bool,
}

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

/// The single-set `pads metrics` inputs (--embeddings, --labels).
struct MetricsSingle {
    embeddings: PathBuf,
    labels: PathBuf,
    k: Vec<usize>,
    seed: u64,
    device: String,
    json: bool,
    no_normalize: bool,
    count_lone_queries: bool,
}

/// `pads metrics --query-* --gallery-*` (eval::query_gallery).
fn metrics_query_gallery(a: &MetricsArgs) -> Result<()> {
    let (Some(q), Some(ql), Some(g), Some(gl)) = (&a.query_embeddings, &a.query_labels, &a.gallery_embeddings, &a.gallery_labels) else {
        bail!("query/gallery metrics need --query-embeddings, --query-labels, --gallery-embeddings and --gallery-labels");
    };
    let m = pads::eval::query_gallery::query_gallery_from_files(q, ql, g, gl, &a.k, !a.no_normalize, !a.count_lone_queries)?;
    for w in &m.warnings {
        eprintln!("warning: {w}");
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&m.to_json())?);
    } else {
        eprintln!("{} queries against {} gallery items{}", m.queries, m.gallery, if m.same_set { " (one set: self-matches left out)" } else { "" });
        for (k, v) in m.named() {
            println!("{k:>10}  {v:.4}");
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
    let matches = pads::config::allow_negative_numbers(pads::help::describe(Cli::command())).get_matches();
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
            let report = pads::data::check::check(&cfg, !a.no_decode, &pads::report::Progress::new(a.json))?;
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
        Command::Train(a) => {
            let m = sub_matches(&matches, &["train"]);
            let (cfg, out) = match (&a.resume, &a.out) {
                (Some(run), Some(out)) => bail!(
                    "--out {} and --resume {} cannot be combined: --resume continues a run in its own folder; \
                     to start a new run with that run's options use --config {} --out {}",
                    out.display(),
                    run.display(),
                    run.join("config.toml").display(),
                    out.display()
                ),
                (Some(run), None) => {
                    for (given, flag) in [(a.config.is_some(), "--config"), (a.preset.is_some(), "--preset"), (a.overwrite, "--overwrite"), (a.eval_before, "--eval-before")] {
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
                    (cfg, run.clone())
                }
                (None, Some(out)) => (RunConfig::resolve(base_config(a.config.as_deref(), a.preset)?, m)?, out.clone()),
                (None, None) => bail!("pads train needs --out RUN_DIR (or --resume RUN_DIR)"),
            };
            let opts = pads::train::TrainOptions {
                resume: a.resume.is_some(),
                quiet: a.quiet,
                eval_before: a.eval_before,
                stop_after_epoch: a.stop_after_epoch,
                overwrite: a.overwrite,
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
        Command::Metrics(a) if a.query_embeddings.is_some() => metrics_query_gallery(&a)?,
        Command::Metrics(a) => {
            let (Some(embeddings), Some(labels)) = (a.embeddings.clone(), a.labels.clone()) else { bail!("pads metrics needs --embeddings and --labels") };
            let a = MetricsSingle { embeddings, labels, k: a.k, seed: a.seed, device: a.device, json: a.json, no_normalize: a.no_normalize, count_lone_queries: a.count_lone_queries };
            let emb = pads::eval::input::read_embeddings(&a.embeddings)?;
            let labels = pads::eval::input::read_labels(&a.labels, Some(emb.size()[0] as usize))?;
            let device = pads::device::parse_device(&a.device)?;
            let mut opts = pads::eval::EvalOptions::new(a.k);
            opts.seed = a.seed;
            opts.normalize = !a.no_normalize;
            opts.skip_lone_queries = !a.count_lone_queries;
            let m = pads::eval::evaluate(&emb.to_device(device), &labels, &opts)
                .with_context(|| format!("{} with {}", a.embeddings.display(), a.labels.display()))?;
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
            let source = match (&a.images, &a.list) {
                (Some(d), _) => Some(pads::embed::Source::Dir(d.clone())),
                (None, Some(f)) => Some(pads::embed::Source::List(f.clone())),
                (None, None) => None,
            };
            match source {
                None => {
                    if a.skip_bad_images || a.checkpoint.is_some() {
                        bail!("--skip-bad-images and --checkpoint of `pads embed` go with --images or --list (a split follows the run's own settings)");
                    }
                    let split = a.split.as_deref().unwrap_or("test");
                    let n = pads::train::embed_run(&a.run, a.data_root.as_deref(), split, &a.out, a.quiet)?;
                    println!("wrote {n} embeddings to {}", a.out.display());
                }
                Some(source) => {
                    if a.data_root.is_some() {
                        bail!("--data-root goes with --split, not with --images/--list");
                    }
                    let r = pads::embed::embed_images_run(&a.run, a.checkpoint, &source, &a.out, a.skip_bad_images)?;
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
            let r = pads::export::export_run(&a.run, a.checkpoint, &a.out)?;
            println!("exported {} checkpoint {}", a.checkpoint.as_str(), r.checkpoint.display());
            for f in &r.files {
                println!("  wrote {}", f.display());
            }
            for n in &r.notes {
                eprintln!("warning: {n}");
            }
        }
        Command::Search(a) => {
            let found = pads::search::search_run(&a.run, a.checkpoint, &a.gallery, &a.query, a.k, a.skip_bad_images)?;
            for w in &found.warnings {
                eprintln!("warning: {w}");
            }
            let results = found.results;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&results)?);
            } else {
                print!("{}", pads::search::to_text(&results));
            }
            if let Some(out) = &a.out {
                for w in pads::search::write_outputs(out, &results)? {
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
            BenchCommand::Search { gallery, queries, n_queries, k, chunk_rows } => {
                println!("{}", pads::bench::search(&gallery, &queries, n_queries, k, chunk_rows)?)
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
