//! The argument structs of every `pads` command (clap). The run options are RunConfig's
//! own (flattened); everything here only parses, and main.rs dispatches to the library.
use clap::{Args, Parser, Subcommand};
use pads::config::RunConfig;
use pads::options::{Amp, Arch, Preset, Sampling};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "pads", version, about = "Deep metric learning with Policy-Adapted Sampling (PADS)")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
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
    /// Convert a run folder of the original PADS code (hypa.pkl, checkpoint_Class.pth.tar)
    /// into a pads run folder. (eval, embed, export and search also read such a folder
    /// directly with --run.)
    Import(ImportArgs),
    /// Rebuild a sweep's summary from the runs it has.
    Summarize {
        /// The sweep folder.
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Serve training iterations over stdin (`run K` -> K times in ms), for bench/compare_train.py.
    TrainStep {
        #[arg(long, value_enum, default_value = "small")]
        arch: Arch,
        #[arg(long, default_value_t = 64)]
        image_size: usize,
        #[arg(long, default_value_t = 112)]
        bs: usize,
        #[arg(long, value_enum, default_value = "distance")]
        sampling: Sampling,
        #[arg(long, default_value = "cpu")]
        device: String,
        #[arg(long, value_enum, default_value = "off")]
        amp: Amp,
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
    /// Loader images/s with the training or evaluation transform for each thread count (JSON).
    Loader {
        #[command(flatten)]
        cfg: RunConfig,
        /// Loader thread counts to measure [threads, comma-separated]
        #[arg(long, value_delimiter = ',', default_values_t = vec![1usize, 2])]
        threads: Vec<usize>,
        /// Batches timed per thread count [batches]
        #[arg(long, default_value_t = 10, value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u64).range(1..), |v| v as usize))]
        batches: usize,
        /// Transform measured: train (RandomResizedCrop + flip) or eval (Resize + CenterCrop)
        #[arg(long, default_value = "train", value_parser = ["train", "eval"])]
        transform: String,
        /// Instead of throughput: one thread's ms per image in read, decode, crop + resize,
        /// normalise, over the first batches * bs images, decoded from the files (JSON;
        /// --cache-images does not apply to it)
        #[arg(long)]
        profile: bool,
    },
}

#[derive(Args)]
pub struct SweepArgs {
    #[command(flatten)]
    pub cfg: RunConfig,
    /// Sweep folder: runs/<sampler>_seed<N>/ per run, summary.md, summary.csv, recall1.png [path]
    #[arg(long)]
    pub out: PathBuf,
    /// Samplers to compare [comma-separated]
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = vec![Sampling::Random, Sampling::Semihard, Sampling::Softhard, Sampling::Distance, Sampling::Pads])]
    pub samplers: Vec<Sampling>,
    /// Seeds of each sampler's runs [comma-separated]
    #[arg(long, value_delimiter = ',', default_values_t = vec![0u64, 1, 2])]
    pub seeds: Vec<u64>,
    /// Runs at once (local); each gets cores / jobs torch threads.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// TOML file of options for every run (any subset); overrides --preset, flags override it [path]
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Start every run from an original sample run's settings (CUB200, CARS196, SOP)
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    /// Write a Slurm job-array script instead of running.
    #[arg(long)]
    pub slurm: bool,
    /// The sweep folder holds a sweep of other options: remove its runs' files first
    /// (saying which) instead of refusing
    #[arg(long)]
    pub overwrite: bool,
    /// Time limit per array task [Slurm time, HH:MM:SS]
    #[arg(long, default_value = "24:00:00")]
    pub slurm_time: String,
    /// CPU cores per array task [cores]
    #[arg(long, default_value_t = 8)]
    pub slurm_cpus: usize,
    /// Memory per array task [Slurm size, e.g. 32G]
    #[arg(long, default_value = "32G")]
    pub slurm_mem: String,
    /// GPUs per array task (--gres=gpu:N) [GPUs; default: 1 when --device is cuda or auto, else none]
    #[arg(long)]
    pub slurm_gpus: Option<usize>,
    /// Slurm partition [name]
    #[arg(long)]
    pub slurm_partition: Option<String>,
    /// No per-run start and end lines.
    #[arg(long)]
    pub quiet: bool,
    /// Print the resolved options as TOML (each non-default value's origin in a comment) and
    /// the runs the sweep would train, then stop: nothing is trained or written
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Subcommand)]
pub enum DataCommand {
    /// Load a layout, decode every image of every split, and list every problem with its
    /// path; exits non-zero when `pads train` with the same options would stop.
    Check(CheckArgs),
    /// Write a pre-resized copy of a dataset folder (same layout; JPEG/PNG images whose
    /// shorter side exceeds --shorter-side scaled down to it, everything else copied), so
    /// full-size photos are decoded once; then train with --data-root pointing at the copy.
    Resize(ResizeArgs),
}

#[derive(Args)]
pub struct ResizeArgs {
    /// Folder to copy (a data root, or one dataset's folder inside it).
    #[arg(long)]
    pub src: PathBuf,
    /// Destination folder (created; files already there are kept, so a re-run resumes).
    #[arg(long)]
    pub out: PathBuf,
    /// Largest shorter side kept, in pixels (the evaluation transform resizes the shorter
    /// side to image-size * 256 / 224 = 256 at 224 px).
    #[arg(long, default_value_t = 256)]
    pub shorter_side: u32,
    /// Quality of re-encoded JPEG files.
    #[arg(long, default_value_t = 95)]
    pub jpeg_quality: u8,
    /// Worker threads (0 = number of cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct SynthArgs {
    /// Dataset folder to write (images/NNN.Name/*.png); for training, name it <data-root>/synthetic [path]
    #[arg(long)]
    pub out: PathBuf,
    /// Classes (species), in families of 5 look-alikes; the first half trains, the second tests [classes]
    #[arg(long, default_value_t = 100)]
    pub classes: usize,
    /// Images per class [images]
    #[arg(long, default_value_t = 30)]
    pub per_class: usize,
    /// Side of the square images [pixels]
    #[arg(long, default_value_t = 64)]
    pub image_size: u32,
    /// Seed of the generator; the same seed writes the same images [integer]
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Args)]
pub struct CheckArgs {
    /// Start from an original sample run's settings, as `pads train --preset`
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    /// TOML file of options, as `pads train --config` [path]
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print the resolved options as TOML (what config.toml would hold, each non-default
    /// value's origin in a comment) and stop: nothing is checked or written
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub cfg: RunConfig,
    /// Skip decoding the images (a quick look at the layout; truncated or corrupt files are
    /// then not found). By default every image of every split is decoded on
    /// --num-workers threads.
    #[arg(long)]
    pub no_decode: bool,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

// The run options come first in `--help` (fields before `cfg`); `pads::help` gives the
// RunConfig options their headings and descriptions.
#[derive(Args)]
pub struct TrainArgs {
    /// Run folder to create; an existing run folder is refused unless --overwrite [path]
    #[arg(long, help_heading = pads::config::help::RUN)]
    pub out: Option<PathBuf>,
    /// Start from an original sample run's settings (CUB200, CARS196, SOP); --config and flags override it
    #[arg(long, value_enum, help_heading = pads::config::help::RUN)]
    pub preset: Option<Preset>,
    /// TOML file of options (any subset; a run's config.toml works); overrides --preset, flags override it [path]
    #[arg(long, help_heading = pads::config::help::RUN)]
    pub config: Option<PathBuf>,
    /// Continue this run folder from its last checkpoint, with its own options (only --n-epochs to extend, --device, --num-workers, --cache-images, --quiet may be given) [path]
    #[arg(long, help_heading = pads::config::help::RUN)]
    pub resume: Option<PathBuf>,
    /// With --out: remove the run already in that folder first (its checkpoints, logs, plots)
    #[arg(long, help_heading = pads::config::help::RUN)]
    pub overwrite: bool,
    #[command(flatten)]
    pub cfg: RunConfig,
    /// Evaluate the untrained network first (metrics.csv row for epoch 0)
    #[arg(long, help_heading = pads::config::help::EVALUATION)]
    pub eval_before: bool,
    /// Stop cleanly after this epoch (time-limited jobs); continue later with --resume [epoch]
    #[arg(long, help_heading = pads::config::help::RUN)]
    pub stop_after_epoch: Option<usize>,
    /// No progress bars or per-epoch lines
    #[arg(long, help_heading = pads::config::help::RUN)]
    pub quiet: bool,
    /// Print the resolved options as TOML (exactly what config.toml would hold, each
    /// non-default value's origin in a comment: preset, config file, flag) and stop: nothing
    /// is trained or written
    #[arg(long, help_heading = pads::config::help::RUN)]
    pub dry_run: bool,
    /// Without --out: create the run folder as the original does, SAVE_PATH/<dataset>/<savename>
    /// (`_1`, `_2`, ... appended when it exists) [path]
    #[arg(long, help_heading = pads::config::help::RUN)]
    pub save_path: Option<PathBuf>,
    /// Run folder name under --save-path; the original's default group_plus_seed is
    /// <wandb-group>_s<seed> with --wandb-log, else a dated name [name]
    #[arg(long, default_value = "group_plus_seed", help_heading = pads::config::help::RUN)]
    pub savename: String,
    /// Log the run live to Weights & Biases (the official client, from the project's Python:
    /// PADS_PYTHON or .venv), as the original's --wandb_log; training never waits on it
    #[arg(long, help_heading = pads::config::help::RUN)]
    pub wandb_log: bool,
    /// wandb project [name]
    #[arg(long, default_value = "RL-Sampler-NovelSet", help_heading = pads::config::help::RUN)]
    pub wandb_project_name: String,
    /// wandb group [name]
    #[arg(long, default_value = "SampleGroup", help_heading = pads::config::help::RUN)]
    pub wandb_group: String,
}

#[derive(Args)]
pub struct CompareArgs {
    /// Run folders to compare (trained on the same data).
    #[arg(required = true, num_args = 1..)]
    pub runs: Vec<PathBuf>,
    /// Folder for compare.html, compare.md, compare.csv and the plots (default: `compare`
    /// next to the first run).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Args)]
pub struct ImportArgs {
    /// The original's run folder (hypa.pkl and checkpoint_Class.pth.tar; only read) [path]
    pub folder: PathBuf,
    /// The pads run folder to write [path]
    #[arg(long)]
    pub out: PathBuf,
    /// Folder holding the dataset folder (cub200/, cars196/, ...) on this machine; hypa.pkl
    /// holds the original machine's path [path; default: that stored path]
    #[arg(long)]
    pub data_root: Option<PathBuf>,
    /// Replace a run already in --out.
    #[arg(long)]
    pub overwrite: bool,
}

#[derive(Args)]
pub struct EvalArgs {
    /// Run folder to evaluate (its config.toml and best checkpoint), or a run folder of the original code (hypa.pkl, checkpoint_Class.pth.tar; only read) [path]
    #[arg(long)]
    pub run: PathBuf,
    /// Which checkpoint: `best` (the epoch the run's --select-on rule chose) or `last`.
    #[arg(long, value_enum, default_value = "best")]
    pub checkpoint: pads::run::CheckpointChoice,
    /// Folder holding the dataset, when it moved since training [path; default: the run's]
    #[arg(long)]
    pub data_root: Option<PathBuf>,
    /// Print the metrics as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args)]
pub struct MetricsArgs {
    /// Embeddings, one row per item: float32 [N, D] .npy [path]
    #[arg(long, required_unless_present = "query_embeddings", conflicts_with = "query_embeddings")]
    pub embeddings: Option<PathBuf>,
    /// Class of each row: integer [N] .npy [path]
    #[arg(long, required_unless_present = "query_embeddings", conflicts_with = "query_embeddings")]
    pub labels: Option<PathBuf>,
    /// Query/gallery mode: float32 [Nq, D] .npy of the queries (Recall@k and mAP@R of the
    /// queries against the gallery; pytorch-metric-learning's reference-set semantics).
    #[arg(long, requires_all = ["query_labels", "gallery_embeddings", "gallery_labels"])]
    pub query_embeddings: Option<PathBuf>,
    /// Query/gallery mode: integer [Nq] .npy
    #[arg(long, requires = "query_embeddings")]
    pub query_labels: Option<PathBuf>,
    /// Query/gallery mode: float32 [Ng, D] .npy; the same files as the query's mean one
    /// set, and then each query's own row is left out.
    #[arg(long, requires = "query_embeddings")]
    pub gallery_embeddings: Option<PathBuf>,
    /// Query/gallery mode: integer [Ng] .npy
    #[arg(long, requires = "query_embeddings")]
    pub gallery_labels: Option<PathBuf>,
    /// Recall@k values [k >= 1, comma-separated] (a k above N - 1 retrieves every other item; warned)
    #[arg(long, value_delimiter = ',', default_values_t = vec![1usize, 2, 4, 8])]
    pub k: Vec<usize>,
    /// Seed of the k-means behind NMI and F1 [integer]; the default is the one seed every pads
    /// evaluation uses (training, `pads eval`), so the same embeddings give the same NMI everywhere
    #[arg(long, default_value_t = pads::eval::KMEANS_SEED)]
    pub seed: u64,
    /// Where to compute: cpu, cuda, cuda:N or auto
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Keep the rows as given (raw Euclidean distances). By default every row is
    /// L2-normalised first, as DML embeddings are compared as unit vectors; a line on stderr
    /// says how many rows were not unit-norm. intra/inter are mean cosine distances, always
    /// on unit rows (with or without this option).
    #[arg(long)]
    pub no_normalize: bool,
    /// Count queries that have no other item of their class (in query/gallery mode: no
    /// same-label gallery item) as Recall@k misses, as the original PADS code does. By default
    /// they are left out of Recall@k, as pytorch-metric-learning does; mAP@R leaves them out
    /// either way. A line on stderr gives their number.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value_t = false)]
    pub count_lone_queries: bool,
    /// Print the metrics as one JSON object (an undefined metric is null; the reason is on stderr).
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct EmbedArgs {
    /// Run folder whose best checkpoint embeds, or a run folder of the original code [path]
    #[arg(long)]
    pub run: PathBuf,
    /// A split of the run's dataset: train, val or test (the default when neither --images
    /// nor --list is given), or query / gallery for in_shop; also writes labels.npy and
    /// classes.txt.
    #[arg(long, conflicts_with_all = ["images", "list"])]
    pub split: Option<String>,
    /// Embed every image under this folder (recursive, sorted); no labels needed.
    #[arg(long, conflicts_with = "list")]
    pub images: Option<PathBuf>,
    /// Embed the images listed in this file (one path per line, relative to the file's folder).
    #[arg(long)]
    pub list: Option<PathBuf>,
    /// With --images/--list: leave out files that do not decode (counted, listed in
    /// skipped.txt) instead of stopping with an error that names them.
    #[arg(long)]
    pub skip_bad_images: bool,
    /// Which checkpoint embeds (default: best, else last).
    #[arg(long, value_enum)]
    pub checkpoint: Option<pads::run::CheckpointChoice>,
    /// Folder for embeddings.npy (float32 [N, D]), labels.npy (int64 [N]) and paths.txt [path]
    #[arg(long)]
    pub out: PathBuf,
    /// Folder holding the dataset, when it moved since training [path; default: the run's]
    #[arg(long)]
    pub data_root: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args)]
pub struct SearchArgs {
    /// The run whose model embeds the queries (a pads run folder, or the original code's).
    #[arg(long)]
    pub run: PathBuf,
    /// Folder written by `pads embed` with the same run: embeddings.npy + paths.txt.
    #[arg(long)]
    pub gallery: PathBuf,
    /// Query images, or folders of images (searched recursively).
    #[arg(long, num_args = 1.., required = true)]
    pub query: Vec<PathBuf>,
    /// Neighbours per query.
    #[arg(short = 'k', long = "k", default_value_t = 10)]
    pub k: usize,
    /// Also write results.json and grid.png (query + neighbours per row) here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the results as JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Which checkpoint (default: best, else last).
    #[arg(long, value_enum)]
    pub checkpoint: Option<pads::run::CheckpointChoice>,
    /// Leave out query images that do not decode (each named in a warning) instead of
    /// stopping with an error that names them.
    #[arg(long)]
    pub skip_bad_images: bool,
}

#[derive(Args)]
pub struct ExportArgs {
    /// The run folder (pads', or the original code's).
    #[arg(long)]
    pub run: PathBuf,
    /// Which checkpoint: the best epoch's or the last one.
    #[arg(long, value_enum, default_value = "best")]
    pub checkpoint: pads::run::CheckpointChoice,
    /// Folder to write model.pt, model.safetensors (ResNet50, BN-Inception) and preprocess.json into.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Args)]
pub struct DemoArgs {
    /// Folder for the synthetic set (made in <data-root>/synthetic when absent) [path]
    #[arg(long, default_value = "data")]
    pub data_root: PathBuf,
    /// Folder for the two runs (distance/ and pads/) [path]
    #[arg(long, default_value = "runs/demo")]
    pub out: PathBuf,
    /// Train again over runs already in --out (removing them first; without it they are refused)
    #[arg(long)]
    pub overwrite: bool,
    /// Training length of each run [epochs]
    #[arg(long, default_value_t = pads::demo::DEMO_EPOCHS)]
    pub epochs: usize,
    /// No progress bars or per-epoch lines.
    #[arg(long)]
    pub quiet: bool,
}

