//! `pads data check`: what a layout yields per split, every image decoded (unless asked not
//! to), and every problem a training run with the same options would stop on or warn about.
//! `training_problems` is also the check a run makes before its first epoch. Layer 4: it
//! reads the whole run configuration.
use crate::config::RunConfig;
use crate::data::scan::{decode_split, query_flags_after_drop, without_items, SkipRecord};
use crate::data::{load_splits, Skipped, Split};
use crate::options::Sampling;
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeSet;

#[derive(Debug, Serialize)]
pub struct SplitSummary {
    pub name: String,
    pub classes: usize,
    pub images: usize,
    pub min_per_class: usize,
    pub max_per_class: usize,
    /// Images training and evaluation use: `images` less those dropped because they do not
    /// decode (validation and test with --skip-bad-images; training replaces them instead).
    pub used_images: usize,
}

#[derive(Debug, Serialize)]
pub struct CheckReport {
    pub dataset: String,
    pub root: String,
    pub splits: Vec<SplitSummary>,
    /// Files the layout left out (with --skip-bad-images) or ignores (hidden files).
    pub skipped: Vec<Skipped>,
    /// Whether every image was decoded (false with --no-decode).
    pub decoded: bool,
    /// Images that do not decode, with the split and what training would do with them.
    pub bad_images: Vec<SkipRecord>,
    /// RAM the decoded images of all splits take (what --cache-images holds); None with --no-decode.
    pub decoded_bytes: Option<u64>,
    /// Problems training with these options would stop on; non-empty = `data check` fails.
    pub problems: Vec<String>,
    /// What training would warn about.
    pub warnings: Vec<String>,
}

fn summary(name: &str, s: &Split) -> SplitSummary {
    let sizes: Vec<usize> = s.by_class().iter().map(|c| c.len()).collect();
    SplitSummary {
        name: name.to_string(),
        classes: s.classes.len(),
        images: s.len(),
        min_per_class: sizes.iter().copied().min().unwrap_or(0),
        max_per_class: sizes.iter().copied().max().unwrap_or(0),
        used_images: s.len(),
    }
}

/// Items of `split` whose class has no other item.
fn lone_items(split: &Split) -> usize {
    split.by_class().iter().filter(|c| c.len() == 1).count()
}

/// How this run's Recall@k treats queries that can never hit (`--skip-lone-queries`).
fn lone_rule(cfg: &RunConfig) -> &'static str {
    if cfg.skip_lone_queries {
        "left out of Recall@k (--skip-lone-queries) and of mAP@R"
    } else {
        "counted as Recall@k misses (the original's rule; --skip-lone-queries leaves them out) and left out of mAP@R"
    }
}

/// What a run with `cfg` on these splits would refuse (first list) or warn about (second),
/// from the options and split sizes alone (images are not read). `test_is_query` (in_shop):
/// per test item, whether it is a query (else gallery). Each message names the option to
/// change.
pub fn training_problems(cfg: &RunConfig, train: &Split, val: Option<&Split>, test: &Split, test_is_query: Option<&[bool]>) -> (Vec<String>, Vec<String>) {
    let (mut errors, mut warnings) = (Vec::new(), Vec::new());
    let sampler = crate::data::sampler::ClassBalancedSampler::with_options(train, cfg.bs, cfg.samples_per_class, cfg.batch_without_replacement);
    if let Err(e) = &sampler {
        errors.push(format!("{e:#}"));
    }
    if cfg.sampling == Sampling::Pads {
        match val {
            None => errors.push("--sampling pads needs a validation split for its rewards: set --train-val-split below 1".into()),
            Some(v) if !v.is_empty() && lone_items(v) == v.len() => warnings.push(format!(
                "the validation split has one image per class ({} images): validation Recall@1 is undefined (counted as 0), so the PADS reward carries no signal; lower --train-val-split or use --train-val-split-by-class",
                v.len()
            )),
            Some(v) if v.is_empty() => errors.push("the validation split is empty: raise --train-val-split's validation share (lower the value)".into()),
            _ => {}
        }
        if let Ok(s) = &sampler {
            let acting_epochs = cfg.n_epochs.saturating_sub(cfg.policy_training_delay);
            let iters = acting_epochs * s.batches_per_epoch();
            if iters <= cfg.policy_sample_freq {
                errors.push(format!(
                    "--policy-sample-freq {} leaves no policy step in the {iters} training iterations in which the policy may act (the first comes after M + 1 iterations, as in the original) ((--n-epochs {} - --policy-training-delay {}) x {} batches per epoch): PADS would never update its sampling distribution",
                    cfg.policy_sample_freq,
                    cfg.n_epochs,
                    cfg.policy_training_delay,
                    s.batches_per_epoch()
                ));
            }
        }
    }
    if let Some(v) = val {
        let lone = lone_items(v);
        if lone > 0 && lone < v.len() {
            let used = if cfg.sampling == Sampling::Pads { "in the PADS state and reward" } else { "in the validation metrics (--select-on val)" };
            warnings.push(format!("{lone} validation image(s) are the only one of their class: {used} they are {}", lone_rule(cfg)));
        }
    }
    let lone_test = lone_items(test);
    let ks = cfg.recall_ks();
    if test.is_empty() || lone_test == test.len() {
        errors.push(format!(
            "the test split has no class with two images ({} images, {} classes): Recall@k, mAP@R, NMI and F1 would be undefined",
            test.len(),
            test.classes.len()
        ));
    } else if test_is_query.is_none() && lone_test > 0 {
        warnings.push(format!("{lone_test} test image(s) are the only one of their class: as queries they are {}", lone_rule(cfg)));
    }
    if let Some(is_query) = test_is_query {
        let (query, gallery, lone) = query_gallery_parts(test, is_query);
        if query.is_empty() || gallery.is_empty() {
            errors.push(format!("the test split has {} query and {} gallery images: query -> gallery evaluation needs both", query.len(), gallery.len()));
        } else if let Some(k) = ks.iter().copied().filter(|&k| k > gallery.len()).max() {
            let mut fitting: Vec<String> = ks.iter().filter(|&&k| k <= gallery.len()).map(|k| k.to_string()).collect();
            if fitting.is_empty() {
                fitting.push("1".into());
            }
            errors.push(format!(
                "--k-vals {k}: the gallery has {} images, and query -> gallery Recall@k needs k <= the gallery size; pass --k-vals with k up to {} (e.g. --k-vals {})",
                gallery.len(),
                gallery.len(),
                fitting.join(",")
            ));
        }
        if lone > 0 {
            warnings.push(format!("{lone} query images belong to items without a gallery image: they are {}", lone_rule(cfg)));
        }
        return (errors, warnings);
    }
    if let Some(k) = ks.into_iter().filter(|&k| k + 1 > test.len()).max() {
        warnings.push(format!(
            "--k-vals {k}: the test split has {} images, so Recall@{k} retrieves every other image",
            test.len()
        ));
    }
    warnings.extend(option_warnings(cfg));
    // Test classes are meant to be unseen in training.
    let shared: Vec<&String> = train.classes.iter().filter(|c| test.classes.contains(c)).collect();
    if !shared.is_empty() {
        let shown: Vec<&str> = shared.iter().take(5).map(|s| s.as_str()).collect();
        warnings.push(format!(
            "{} class name(s) are in both the train and the test split ({}{}): test classes are meant to be unseen in training (check --test-root and the layout)",
            shared.len(),
            shown.join(", "),
            if shared.len() > 5 { ", ..." } else { "" }
        ));
    }
    let late: Vec<usize> = cfg.tau.iter().copied().filter(|&t| t >= cfg.n_epochs).collect();
    if !late.is_empty() {
        warnings.push(format!(
            "--tau {late:?}: at or beyond --n-epochs {}, so the learning rate is never multiplied by --gamma there",
            cfg.n_epochs
        ));
    }
    (errors, warnings)
}

/// What the options alone warrant a warning about, whatever the data: a `--k-vals` on
/// online_products (the original ignores it there and reports Recall@1,10,100,1000).
pub fn option_warnings(cfg: &RunConfig) -> Vec<String> {
    let mut warnings = Vec::new();
    if cfg.dataset == crate::options::DatasetKind::OnlineProducts && !cfg.k_vals.is_empty() && crate::eval::unique_ks(&cfg.k_vals) != [1, 10, 100, 1000] {
        warnings.push(format!(
            "--k-vals {}: used as given on online_products; the original ignores --k_vals there and always reports Recall@1,10,100,1000 (leave --k-vals out for that)",
            cfg.k_vals.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(",")
        ));
    }
    warnings
}

/// The check behind `pads data check`. Never writes (a missing synthetic set is an error
/// saying how to make it). It reports splits, every image decoded on `cfg.num_workers`
/// threads with a progress bar (unless `decode` is false), and `training_problems` on the
/// splits training would use (bad evaluation images dropped under --skip-bad-images).
pub fn check(cfg: &RunConfig, decode: bool, progress: &crate::progress::Progress) -> Result<CheckReport> {
    let s = load_splits(cfg)?;
    let mut splits = vec![summary("train", &s.train)];
    if let Some(v) = &s.val {
        splits.push(summary("val", v));
    }
    splits.push(summary("test", &s.test));
    let mut problems = Vec::new();
    let mut bad_images = Vec::new();
    let (mut val, mut test) = (s.val.clone(), s.test.clone());
    let mut decoded_bytes = None;
    if decode {
        let total = s.train.len() + s.val.as_ref().map(|v| v.len()).unwrap_or(0) + s.test.len();
        let bar = progress.bar(total as u64, "decoding");
        let mut named: Vec<(&str, &Split)> = vec![("train", &s.train)];
        if let Some(v) = &s.val {
            named.push(("val", v));
        }
        named.push(("test", &s.test));
        let mut drops: Vec<(&str, BTreeSet<usize>)> = Vec::new();
        let mut total_bytes = 0u64;
        for (name, split) in named {
            let (bad, bytes) = decode_split(split, cfg.num_workers, &bar);
            total_bytes += bytes;
            let action = if !cfg.skip_bad_images {
                "stops training"
            } else if name == "train" {
                "replaced"
            } else {
                "dropped"
            };
            for (i, e) in &bad {
                bad_images.push(SkipRecord { split: name.into(), path: split.items[*i].path.clone(), reason: e.clone(), action: action.into() });
            }
            if !bad.is_empty() && !cfg.skip_bad_images {
                problems.push(format!("{} image(s) of the {name} split do not decode (listed above); pass --skip-bad-images to go on without them", bad.len()));
            }
            if name == "train" && cfg.skip_bad_images {
                for (c, idx) in split.by_class().iter().enumerate() {
                    if !idx.is_empty() && idx.iter().all(|i| bad.iter().any(|(b, _)| b == i)) {
                        problems.push(format!("class {:?} of the train split has no image that decodes", split.classes[c]));
                    }
                }
            }
            drops.push((name, bad.into_iter().map(|(i, _)| i).collect()));
        }
        bar.finish_and_clear();
        decoded_bytes = Some(total_bytes);
        if cfg.skip_bad_images {
            for (name, drop) in drops {
                match name {
                    "val" => val = val.map(|v| without_items(&v, &drop)),
                    "test" => test = without_items(&test, &drop),
                    _ => {}
                }
            }
        }
    }
    for summary in splits.iter_mut() {
        match summary.name.as_str() {
            "val" => summary.used_images = val.as_ref().map_or(0, |v| v.len()),
            "test" => summary.used_images = test.len(),
            _ => {}
        }
    }
    if let Some(is_query) = &s.test_is_query {
        let (query, gallery, _) = query_gallery_parts(&s.test, is_query);
        splits.push(summary("query", &query));
        splits.push(summary("gallery", &gallery));
    }
    let test_is_query = s.test_is_query.as_deref().map(|q| query_flags_after_drop(&s.test, q, &test));
    let (errors, warnings) = training_problems(cfg, &s.train, val.as_ref(), &test, test_is_query.as_deref());
    problems.extend(errors);
    Ok(CheckReport {
        dataset: cfg.dataset.as_str().to_string(),
        root: cfg.data_root.display().to_string(),
        splits,
        skipped: s.skipped,
        decoded: decode,
        bad_images,
        decoded_bytes,
        problems,
        warnings,
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
            out.items.push(crate::data::Item { path: item.path.clone(), label });
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
        // "used": what training and evaluation get after images that do not decode are
        // dropped (shown when any split loses some).
        let dropped = self.splits.iter().any(|s| s.used_images != s.images);
        out.push_str(&format!("{:<6} {:>8} {:>8} {:>14}{}\n", "split", "classes", "images", "per class", if dropped { "     used" } else { "" }));
        for s in &self.splits {
            out.push_str(&format!(
                "{:<6} {:>8} {:>8} {:>14}{}\n",
                s.name,
                s.classes,
                s.images,
                format!("{}-{}", s.min_per_class, s.max_per_class),
                if dropped { format!(" {:>8}", s.used_images) } else { String::new() }
            ));
        }
        out.push_str(&format!("skipped: {}\n", self.skipped.len()));
        for s in &self.skipped {
            out.push_str(&format!("  {}: {}\n", s.path.display(), s.reason));
        }
        if self.decoded {
            if let Some(b) = self.decoded_bytes {
                let size = if b as f64 >= 1e9 { format!("{:.2} GB", b as f64 / 1e9) } else { format!("{:.2} MB", b as f64 / 1e6) };
                out.push_str(&format!("decoded images take {size} of RAM (what --cache-images keeps)\n"));
            }
            out.push_str(&format!("images that do not decode: {}\n", self.bad_images.len()));
            for b in &self.bad_images {
                out.push_str(&format!("  [{}, {}] {}\n", b.split, b.action, b.reason));
            }
        } else {
            out.push_str("images not decoded (--no-decode): truncated or corrupt files are not found\n");
        }
        for w in &self.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        for p in &self.problems {
            out.push_str(&format!("problem: {p}\n"));
        }
        if self.problems.is_empty() {
            out.push_str("ok: training with these options would start\n");
        }
        out
    }
}
