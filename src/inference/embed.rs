//! `pads embed`: a split of the run's dataset (`embed_run`), or images that belong to no
//! dataset split: every image under a folder
//! (recursive) or the paths of a list file, through a run's model with the evaluation
//! transform. No labels are needed. Files that do not decode are reported by name: an error
//! by default, or, with `skip_bad`, left out, counted and listed in skipped.txt; an image is
//! never replaced by another.
use crate::data::loader::ImageStore;
use crate::data::scan::prepare_eval_split;
use crate::data::transform::{load_rgb, Mode, Transform};
use crate::data::{is_image_name, load_splits, Skipped};
use crate::model::embed::{embed_store, EmbedOptions};
use crate::model::EmbeddingNet;
use crate::progress::Progress;
use crate::run::CheckpointChoice;
use std::sync::Arc;
use anyhow::{bail, Context, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// Image files found under a folder, and the other files there (left out, counted).
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub images: Vec<PathBuf>,
    pub other_files: Vec<PathBuf>,
}

/// Every image file (by extension, see `data::is_image_name`) under `dir`, recursively, in
/// sorted path order; hidden entries (`.name`) are not visited. Errors: `dir` missing or
/// unreadable.
pub fn images_in_dir(dir: &Path) -> Result<Found> {
    if !dir.is_dir() {
        bail!("--images {}: not a folder", dir.display());
    }
    let mut found = Found::default();
    let mut stack = vec![dir.to_path_buf()];
    // Links are followed; a folder reached twice (a link back up the tree) is a loop.
    let mut seen = std::collections::HashSet::new();
    while let Some(d) = stack.pop() {
        let real = std::fs::canonicalize(&d).with_context(|| format!("cannot resolve {}", d.display()))?;
        if !seen.insert(real.clone()) {
            bail!(
                "--images {}: {} is {}, a folder already walked (a symbolic link loop, or a second link to it); remove the link or embed a folder without it",
                dir.display(),
                d.display(),
                real.display()
            );
        }
        for entry in std::fs::read_dir(&d).with_context(|| format!("cannot list {}", d.display()))? {
            let entry = entry.with_context(|| format!("cannot list {}", d.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            let ft = std::fs::metadata(&path).with_context(|| format!("cannot read {}", path.display()))?;
            if ft.is_dir() {
                stack.push(path);
            } else if is_image_name(&name) {
                crate::util::path_line(&path)?;
                found.images.push(path);
            } else {
                found.other_files.push(path);
            }
        }
    }
    found.images.sort();
    found.other_files.sort();
    Ok(found)
}

/// The image paths of a list file: one path per line, blank lines and lines starting with
/// `#` ignored, relative paths taken relative to the list file's folder. Errors name
/// `file:line` for a listed path that does not exist or is not a file.
pub fn images_from_list(file: &Path) -> Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string(file).with_context(|| format!("--list {}: cannot read the list file", file.display()))?;
    let base = file.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let p = Path::new(line);
        let path = if p.is_absolute() { p.to_path_buf() } else { base.join(p) };
        if !path.is_file() {
            bail!("{}:{}: listed image {} does not exist or is not a file", file.display(), i + 1, path.display());
        }
        out.push(path);
    }
    if out.is_empty() {
        bail!("--list {}: lists no images", file.display());
    }
    Ok(out)
}

/// Embeddings of the images that decoded, their paths (same order) and what was left out.
pub struct Embedded {
    /// float32 `[N, D]` on the CPU, L2-normalised.
    pub embeddings: Tensor,
    pub paths: Vec<PathBuf>,
    pub skipped: Vec<Skipped>,
}

/// Embeds `paths` in order (evaluation transform at `image_size`, batches of `bs` on
/// `device`). A file that does not decode is an error naming every such file (up to 20 and
/// a count), unless `skip_bad`: then it is left out and recorded in `skipped`.
pub fn embed_paths(model: &EmbeddingNet, paths: &[PathBuf], image_size: usize, bs: usize, device: Device, skip_bad: bool) -> Result<Embedded> {
    let transform = Transform::new(image_size, Mode::Eval).with_normalization(model.input_normalization());
    let s = image_size as i64;
    let mut parts = Vec::new();
    let mut kept = Vec::new();
    let mut skipped = Vec::new();
    for chunk in paths.chunks(bs.max(1)) {
        let decoded: Vec<Result<Vec<f32>>> = chunk
            .par_iter()
            .map(|p| {
                let img = load_rgb(p)?;
                Ok(transform.apply(&img, &mut ChaCha8Rng::seed_from_u64(0)))
            })
            .collect();
        let mut pixels = Vec::new();
        for (p, d) in chunk.iter().zip(decoded) {
            match d {
                Ok(px) => {
                    pixels.extend(px);
                    kept.push(p.clone());
                }
                Err(e) => skipped.push(Skipped::new(p, &format!("{e:#}"))),
            }
        }
        // After the first bad file (without skip_bad) only decode, to name every bad file.
        if pixels.is_empty() || (!skip_bad && !skipped.is_empty()) {
            continue;
        }
        let n = (pixels.len() / (3 * image_size * image_size)) as i64;
        let x = Tensor::from_slice(&pixels).view([n, 3, s, s]).to_device(device);
        parts.push(tch::no_grad(|| model.forward(&x)).to_device(Device::Cpu).to_kind(Kind::Float));
    }
    if !skip_bad && !skipped.is_empty() {
        let list: Vec<String> = skipped.iter().take(20).map(|s| format!("  {}", s.reason)).collect();
        bail!(
            "{} of {} images do not decode:\n{}{}\n(pass --skip-bad-images to leave them out, counted and listed in skipped.txt)",
            skipped.len(),
            paths.len(),
            list.join("\n"),
            if skipped.len() > 20 { format!("\n  ... and {} more", skipped.len() - 20) } else { String::new() }
        );
    }
    if parts.is_empty() {
        bail!("none of the {} images decodes", paths.len());
    }
    Ok(Embedded { embeddings: Tensor::cat(&parts, 0), paths: kept, skipped })
}

/// Writes `embeddings.npy` (float32 [N, D]), `paths.txt` (one path per line, same order) and,
/// when anything was left out, `skipped.txt` (`path<TAB>reason`) into `out` (created).
pub fn write_embedded(out: &Path, e: &Embedded) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    e.embeddings.write_npy(out.join("embeddings.npy")).with_context(|| format!("cannot write {}", out.join("embeddings.npy").display()))?;
    let paths: Vec<String> = e.paths.iter().map(|p| p.display().to_string()).collect();
    crate::util::write_atomic(&out.join("paths.txt"), (paths.join("\n") + "\n").as_bytes())?;
    let skipped_file = out.join("skipped.txt");
    if !e.skipped.is_empty() {
        let lines: Vec<String> = e.skipped.iter().map(|s| format!("{}\t{}", s.path.display(), s.reason.replace('\n', " "))).collect();
        crate::util::write_atomic(&skipped_file, (lines.join("\n") + "\n").as_bytes())?;
    } else if skipped_file.exists() {
        std::fs::remove_file(&skipped_file).with_context(|| format!("cannot remove stale {}", skipped_file.display()))?;
    }
    Ok(())
}

/// Where the images to embed come from.
pub enum Source {
    /// Every image under a folder, recursively.
    Dir(PathBuf),
    /// A list file, one path per line.
    List(PathBuf),
}

/// What `embed_images_run` did.
pub struct EmbedReport {
    pub embedded: usize,
    pub skipped: Vec<Skipped>,
    /// Files under the folder without an image extension (not embedded).
    pub other_files: usize,
    pub checkpoint: PathBuf,
}

/// `pads embed --images DIR | --list FILE`: embeds those images with run `run_dir`'s
/// checkpoint `which` (None: best, else last) and writes embeddings.npy, paths.txt (and
/// skipped.txt with `skip_bad`) into `out`. Errors: no images, a bad image without
/// `skip_bad`, and those of `load_model`.
pub fn embed_images_run(run_dir: &Path, which: Option<CheckpointChoice>, source: &Source, out: &Path, skip_bad: bool) -> Result<EmbedReport> {
    let loaded = super::load_model(run_dir, which, None, None)?;
    let (paths, other_files) = match source {
        Source::Dir(d) => {
            let f = images_in_dir(d)?;
            if f.images.is_empty() {
                bail!("--images {}: no image files (.jpg, .jpeg, .png, .bmp, .gif, .webp, .tif) under it", d.display());
            }
            (f.images, f.other_files.len())
        }
        Source::List(f) => (images_from_list(f)?, 0),
    };
    // Absolute paths: the gallery's paths.txt names the same files from any folder.
    let paths: Vec<PathBuf> = paths.into_iter().map(|p| std::path::absolute(&p).unwrap_or(p)).collect();
    let e = embed_paths(&loaded.model, &paths, loaded.cfg.image_size, loaded.cfg.bs, loaded.device, skip_bad)?;
    write_embedded(out, &e)?;
    super::identity::write(out, &super::identity::identity(&loaded, run_dir)?)?;
    Ok(EmbedReport { embedded: e.paths.len(), skipped: e.skipped, other_files, checkpoint: loaded.checkpoint })
}

/// `pads embed --split`: writes embeddings.npy, labels.npy, paths.txt and classes.txt
/// (`label<TAB>class name`) of one split of the run's dataset (train, val, test; query or
/// gallery for in_shop), embedded with the best checkpoint (else the last):
/// `embed_split(.., None, ..)`.
pub fn embed_run(run_dir: &Path, data_root: Option<&Path>, split: &str, out: &Path, quiet: bool) -> Result<usize> {
    embed_split(run_dir, data_root, split, None, out, quiet)
}

/// `pads embed --split [--checkpoint]`: as `embed_run`, with checkpoint `which` (None: the
/// best, else the last). Returns the number of images. Errors: an unknown split, a split the
/// run does not have, bad images (unless the run skips them), and those of `load_model`
/// (a checkpoint the run lacks is named).
pub fn embed_split(run_dir: &Path, data_root: Option<&Path>, split: &str, which: Option<CheckpointChoice>, out: &Path, quiet: bool) -> Result<usize> {
    let loaded = super::load_model(run_dir, which, data_root, None)?;
    let cfg = &loaded.cfg;
    let splits = load_splits(cfg)?;
    let recorded = crate::run::splits::records(&splits, &cfg.data_root);
    let name = if split == "query" || split == "gallery" { "test" } else { split };
    let now: Vec<_> = recorded.into_iter().filter(|r| r.name == name).collect();
    for d in crate::run::splits::check(run_dir, &now)? {
        tracing::warn!("{d}");
    }
    let chosen = match split {
        "test" => splits.test,
        "train" => splits.train,
        "val" => splits.val.context("this run has no validation split")?,
        // Query/gallery layouts (in_shop): the two halves of the test split, labelled as in
        // the test split (classes.txt is the test split's), for `pads metrics --query-*`.
        "query" | "gallery" => {
            let is_query = splits.test_is_query.as_ref().with_context(|| format!("--split {split}: the {} layout has no query/gallery test split", cfg.dataset.as_str()))?;
            let mut part = splits.test.clone();
            part.items = splits.test.items.iter().zip(is_query).filter(|(_, &q)| q == (split == "query")).map(|(i, _)| i.clone()).collect();
            part
        }
        s => bail!("--split: expected train, val, test (or query, gallery for in_shop), got {s:?}"),
    };
    // classes.txt: `label<TAB>class folder name`, one line per label index.
    let classes: Vec<String> = chosen.classes.iter().enumerate().map(|(i, c)| Ok(format!("{i}\t{}", crate::util::list_line(c, "class name")?))).collect::<Result<_>>()?;
    chosen.items.iter().try_for_each(|i| crate::util::path_line(&i.path).map(|_| ()))?;
    let progress = Progress::new(quiet);
    let (chosen, _) = prepare_eval_split(chosen, split, cfg.skip_bad_images, cfg.num_workers, &progress)?;
    let paths: Vec<String> = chosen.items.iter().map(|i| i.path.display().to_string()).collect();
    let store = Arc::new(ImageStore::new(chosen, cfg.caches_images(), false));
    let (emb, labels) = embed_store(&loaded.model, &store, &EmbedOptions::from(cfg), loaded.device, &progress, split)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    emb.to_device(Device::Cpu).write_npy(out.join("embeddings.npy"))?;
    Tensor::from_slice(&labels).write_npy(out.join("labels.npy"))?;
    crate::util::write_atomic(&out.join("paths.txt"), (paths.join("\n") + "\n").as_bytes())?;
    crate::util::write_atomic(&out.join("classes.txt"), (classes.join("\n") + "\n").as_bytes())?;
    super::identity::write(out, &super::identity::identity(&loaded, run_dir)?)?;
    Ok(labels.len())
}
