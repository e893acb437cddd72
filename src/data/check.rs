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
    if let Some(is_query) = &s.test_is_query {
        let (query, gallery, lone) = query_gallery_parts(&s.test, is_query);
        splits.push(summary("query", &query));
        splits.push(summary("gallery", &gallery));
        if lone > 0 {
            problems.push(format!("{lone} query images belong to items without a gallery image: they are left out of Recall@k and mAP@R"));
        }
    }
    if let Err(e) = super::sampler::ClassBalancedSampler::new(&s.train, cfg.bs, cfg.samples_per_class) {
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

/// The query and the gallery items of a query/gallery test split (classes that occur in
/// each, relabelled 0..), and the number of queries whose class has no gallery item.
fn query_gallery_parts(test: &Split, is_query: &[bool]) -> (Split, Split, usize) {
    let part = |want: bool| {
        let mut out = Split::default();
        let mut map = std::collections::BTreeMap::new();
        for (item, _) in test.items.iter().zip(is_query).filter(|(_, &q)| q == want) {
            let label = *map.entry(item.label).or_insert_with(|| {
                out.classes.push(test.classes[item.label].clone());
                out.classes.len() - 1
            });
            out.items.push(super::Item { path: item.path.clone(), label });
        }
        out
    };
    let (query, gallery) = (part(true), part(false));
    let in_gallery: std::collections::BTreeSet<&String> = gallery.classes.iter().collect();
    let lone = query.items.iter().filter(|i| !in_gallery.contains(&query.classes[i.label])).count();
    (query, gallery, lone)
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
