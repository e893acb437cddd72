//! The run folder: config.toml, metrics.csv (one deterministic row per epoch), timing.csv
//! (wall times, kept apart so metrics.csv is byte-identical across identical runs),
//! pads_progression.jsonl (every policy step), TensorBoard events, and the last and best
//! checkpoints. Layer 3: uses config/ (the stored RunConfig), never report/.
pub mod checkpoint;
pub mod folder;
pub mod lock;
pub mod resume;
pub mod log;
pub mod tensorboard;
pub mod splits;
pub mod wandb;

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Which of a run's two checkpoints to load: `best` (the epoch chosen by the run's selection
/// rule, test Recall@1 by default as in the original) or `last` (the latest epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum CheckpointChoice {
    Best,
    Last,
}

impl CheckpointChoice {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckpointChoice::Best => "best",
            CheckpointChoice::Last => "last",
        }
    }
}

pub struct RunDir {
    pub root: PathBuf,
}

/// A CSV table rewritten whole (atomically) on each change.
#[derive(Debug, Clone, Default)]
pub struct CsvTable {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl CsvTable {
    pub fn to_string(&self) -> String {
        let mut s = self.header.join(",");
        s.push('\n');
        for r in &self.rows {
            s.push_str(&r.join(","));
            s.push('\n');
        }
        s
    }

    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut lines = text.lines();
        let header = lines.next().unwrap_or("").split(',').map(String::from).collect();
        let rows = lines.filter(|l| !l.is_empty()).map(|l| l.split(',').map(String::from).collect()).collect();
        Ok(CsvTable { header, rows })
    }

    pub fn column(&self, name: &str) -> Option<Vec<f64>> {
        let i = self.header.iter().position(|h| h == name)?;
        Some(self.rows.iter().map(|r| r.get(i).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)).collect())
    }
}

impl RunDir {
    pub fn create(root: &Path) -> Result<Self> {
        std::fs::create_dir_all(root).with_context(|| format!("cannot create run folder {}", root.display()))?;
        Ok(RunDir { root: root.to_path_buf() })
    }
    pub fn open(root: &Path) -> Result<Self> {
        if !root.join("config.toml").is_file() {
            if folder::is_original_run_folder(root) {
                anyhow::bail!(
                    "{} is a run folder of the original code (hypa.pkl), not a pads run folder: `pads import {} --out RUN` converts it (eval, embed, export and search read it as it is)",
                    root.display(),
                    root.display()
                );
            }
            if root.join("checkpoint_Class.pth.tar").is_file() {
                anyhow::bail!("{} holds the original code's checkpoint_Class.pth.tar but neither its hypa.pkl (the run's options) nor a pads config.toml: copy hypa.pkl beside the checkpoint to read it", root.display());
            }
            anyhow::bail!("{} is not a pads run folder (no config.toml)", root.display());
        }
        Ok(RunDir { root: root.to_path_buf() })
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }
    pub fn config(&self) -> PathBuf {
        self.path("config.toml")
    }
    pub fn metrics_csv(&self) -> PathBuf {
        self.path("metrics.csv")
    }
    pub fn timing_csv(&self) -> PathBuf {
        self.path("timing.csv")
    }
    pub fn progression(&self) -> PathBuf {
        self.path("pads_progression.jsonl")
    }
    pub fn last_checkpoint(&self) -> PathBuf {
        self.path("checkpoint_last.safetensors")
    }
    pub fn best_checkpoint(&self) -> PathBuf {
        self.path("checkpoint_best.safetensors")
    }
    /// The checkpoint file for `which`; an error names the run folder when it is absent.
    pub fn checkpoint(&self, which: CheckpointChoice) -> Result<PathBuf> {
        let p = match which {
            CheckpointChoice::Best => self.best_checkpoint(),
            CheckpointChoice::Last => self.last_checkpoint(),
        };
        if !p.is_file() {
            anyhow::bail!("{} has no {} checkpoint ({} is missing)", self.root.display(), which.as_str(), p.display());
        }
        Ok(p)
    }
    pub fn write_table(&self, path: &Path, table: &CsvTable) -> Result<()> {
        crate::util::write_atomic(path, table.to_string().as_bytes())
    }
}

/// Formats a metric for CSV: fixed precision keeps files byte-stable and readable.
pub fn fmt(v: f64) -> String {
    format!("{v:.6}")
}
