//! `pads data check`: what a layout yields per split, and what was skipped and why.
use super::{load_splits, Skipped, Split};
use crate::config::RunConfig;
use anyhow::Result;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct SplitSummary {
    pub name: String,
    pub classes: usize,
    pub images: usize,
    pub min_per_class: usize,
    pub max_per_class: usize,
}

#[derive(Debug, Serialize)]
pub struct CheckReport {
    pub dataset: String,
    pub root: String,
    pub splits: Vec<SplitSummary>,
    pub skipped: Vec<Skipped>,
    /// Problems training would hit (e.g. a class smaller than samples_per_class).
    pub problems: Vec<String>,
}

fn summary(name: &str, s: &Split) -> SplitSummary {
    let sizes: Vec<usize> = s.by_class().iter().map(|c| c.len()).collect();
    SplitSummary {
        name: name.to_string(),
        classes: s.classes.len(),
        images: s.len(),
        min_per_class: sizes.iter().copied().min().unwrap_or(0),
        max_per_class: sizes.iter().copied().max().unwrap_or(0),
    }
}

pub fn check(cfg: &RunConfig) -> Result<CheckReport> {
    crate::train::ensure_dataset(cfg)?;
    let s = load_splits(cfg)?;
    let mut splits = vec![summary("train", &s.train)];
    if let Some(v) = &s.val {
        splits.push(summary("val", v));
    }
    splits.push(summary("test", &s.test));
    let mut problems = Vec::new();
    if let Err(e) = super::sampler::ClassBalancedSampler::with_options(&s.train, cfg.bs, cfg.samples_per_class, cfg.batch_without_replacement) {
        problems.push(format!("{e:#}"));
    }
    Ok(CheckReport {
        dataset: format!("{:?}", cfg.dataset).to_lowercase(),
        root: cfg.data_root.display().to_string(),
        splits,
        skipped: s.skipped,
        problems,
    })
}

impl CheckReport {
    pub fn to_text(&self) -> String {
        let mut out = format!("dataset {} at {}\n", self.dataset, self.root);
        out.push_str(&format!("{:<6} {:>8} {:>8} {:>14}\n", "split", "classes", "images", "per class"));
        for s in &self.splits {
            out.push_str(&format!(
                "{:<6} {:>8} {:>8} {:>14}\n",
                s.name,
                s.classes,
                s.images,
                format!("{}-{}", s.min_per_class, s.max_per_class)
            ));
        }
        out.push_str(&format!("skipped: {}\n", self.skipped.len()));
        for s in &self.skipped {
            out.push_str(&format!("  {}: {}\n", s.path.display(), s.reason));
        }
        for p in &self.problems {
            out.push_str(&format!("problem: {p}\n"));
        }
        out
    }
}
