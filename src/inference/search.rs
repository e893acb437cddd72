//! `pads search`: embed query images with a run's model and find their k nearest items in a
//! gallery written by `pads embed` (embeddings.npy + paths.txt), exactly, the gallery
//! streamed from disk in chunks (eval::search), so its size is bounded by the disk only.
use super::embed::{embed_paths, images_in_dir};
use crate::eval::search::{search_streaming, Hit, GALLERY_CHUNK_ROWS};
use crate::npy::NpyRows;
use anyhow::{bail, Context, Result};
use image::{imageops, Rgb, RgbImage};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One neighbour as reported: rank (1 = nearest), Euclidean distance, gallery row and path.
#[derive(Debug, Clone, Serialize)]
pub struct Neighbour {
    pub rank: usize,
    pub distance: f32,
    pub index: usize,
    pub path: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueryResult {
    pub query: String,
    pub neighbours: Vec<Neighbour>,
}

/// The gallery's paths.txt: one line per row of embeddings.npy. Errors name the folder and
/// the two counts when they differ.
pub fn read_gallery_paths(dir: &Path, rows: usize) -> Result<Vec<String>> {
    let file = dir.join("paths.txt");
    let text = std::fs::read_to_string(&file).with_context(|| format!("--gallery {}: no paths.txt (write the gallery with `pads embed`)", dir.display()))?;
    let paths: Vec<String> = text.lines().map(String::from).collect();
    if paths.len() != rows {
        bail!("--gallery {}: paths.txt has {} lines but embeddings.npy has {rows} rows", dir.display(), paths.len());
    }
    Ok(paths)
}

/// Query images: each argument an image file or a folder (all images under it, sorted).
pub fn query_paths(args: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for a in args {
        if a.is_dir() {
            let f = images_in_dir(a)?;
            if f.images.is_empty() {
                bail!("--query {}: no image files under this folder", a.display());
            }
            out.extend(f.images);
        } else if a.is_file() {
            out.push(a.clone());
        } else {
            bail!("--query {}: no such file or folder", a.display());
        }
    }
    Ok(out)
}

/// Searches `queries` (row-major [m, dim]) in the gallery folder's embeddings.npy, streamed
/// `chunk_rows` rows at a time. Errors: unreadable gallery, dimension mismatch.
pub fn search_gallery(gallery_dir: &Path, queries: &[f32], dim: usize, k: usize, chunk_rows: usize) -> Result<(Vec<Vec<Hit>>, usize)> {
    let file = gallery_dir.join("embeddings.npy");
    let mut rows = NpyRows::open(&file).with_context(|| format!("--gallery {}: expected embeddings.npy from `pads embed`", gallery_dir.display()))?;
    if rows.cols != dim {
        bail!("{}: gallery embeddings are {}-d but the run's model gives {dim}-d embeddings", file.display(), rows.cols);
    }
    let n = rows.rows;
    let hits = search_streaming(queries, dim, k, |buf| rows.next_rows(chunk_rows, buf))?;
    Ok((hits, n))
}

/// What `search_run` found: one result per (decoded) query in order, and the lines the
/// caller must print as warnings (skipped queries, k above the gallery size).
#[derive(Debug, Clone)]
pub struct SearchOutcome {
    pub results: Vec<QueryResult>,
    pub warnings: Vec<String>,
}

/// `pads search`: embeds the query images with the run's model (`which` checkpoint, default
/// best else last), searches the gallery, and returns one result per query in order. A
/// query image that does not decode is an error, unless `skip_bad`: then it is left out and
/// named in a warning. A `k` above the gallery size returns every gallery item, warned.
pub fn search_run(run_dir: &Path, which: Option<crate::run::CheckpointChoice>, gallery: &Path, queries: &[PathBuf], k: usize, skip_bad: bool) -> Result<SearchOutcome> {
    if k == 0 {
        bail!("-k must be at least 1");
    }
    let loaded = super::load_model(run_dir, which, None, None)?;
    let mut warnings = Vec::new();
    // The gallery must come from this very model: other weights give ranks that mean nothing.
    let mine = super::identity::identity(&loaded, run_dir)?;
    match super::identity::read(gallery)? {
        Some(theirs) if theirs.weights_crc32c != mine.weights_crc32c => bail!(
            "--gallery {} was embedded by another model ({}) than the one searching ({}): the distances between them mean nothing; \
             embed the gallery with this model (pads embed --run {} ...) or search with the model that made it",
            gallery.display(),
            theirs.describe(),
            mine.describe(),
            run_dir.display()
        ),
        Some(_) => {}
        None => warnings.push(format!(
            "--gallery {} does not say which model embedded it (no {}): the ranks are right only if it was {}",
            gallery.display(),
            super::identity::FILE,
            mine.describe()
        )),
    }
    let paths = query_paths(queries)?;
    let e = embed_paths(&loaded.model, &paths, loaded.cfg.image_size, loaded.cfg.bs, loaded.device, skip_bad).map_err(|err| {
        anyhow::anyhow!("{}", format!("{err:#}").replace("counted and listed in skipped.txt", "each named in a warning"))
    })?;
    let bad: Vec<_> = e.skipped.iter().filter(|s| s.is_bad_image()).collect();
    if !bad.is_empty() {
        let list: Vec<String> = bad.iter().map(|s| format!("  {}", s.reason)).collect();
        warnings.push(format!("{} of {} query images do not decode and were left out (--skip-bad-images):\n{}", bad.len(), paths.len(), list.join("\n")));
    }
    if e.paths.is_empty() {
        bail!("--query: none of the {} query images decodes; nothing to search", paths.len());
    }
    let dim = e.embeddings.size()[1] as usize;
    let q = Vec::<f32>::try_from(e.embeddings.contiguous().flatten(0, -1))?;
    let (hits, n) = search_gallery(gallery, &q, dim, k, GALLERY_CHUNK_ROWS)?;
    if k > n {
        warnings.push(format!("-k {k} is larger than the gallery ({n} items in {}): each query gets all {n}", gallery.display()));
    }
    let gallery_paths = read_gallery_paths(gallery, n)?;
    let results = e.paths
        .iter()
        .zip(hits)
        .map(|(p, hs)| QueryResult {
            query: p.display().to_string(),
            neighbours: hs
                .iter()
                .enumerate()
                .map(|(r, h)| Neighbour { rank: r + 1, distance: h.distance(), index: h.index, path: gallery_paths[h.index].clone() })
                .collect(),
        })
        .collect();
    Ok(SearchOutcome { results, warnings })
}

/// Plain-text report: per query a header line, then `rank  distance  path` lines.
pub fn to_text(results: &[QueryResult]) -> String {
    let mut s = String::new();
    for r in results {
        s.push_str(&format!("query {}\n", r.query));
        for n in &r.neighbours {
            s.push_str(&format!("  {:>4}  {:>10.6}  {}\n", n.rank, n.distance, n.path));
        }
    }
    s
}

/// Most query rows drawn in grid.png.
pub const GRID_MAX_QUERIES: usize = 50;

/// Writes results.json and grid.png (a row per query: the query, a gap, its neighbours
/// nearest first, at most GRID_MAX_QUERIES rows) into `out`. A gallery image that cannot
/// be read is drawn grey and returned as a warning line.
pub fn write_outputs(out: &Path, results: &[QueryResult]) -> Result<Vec<String>> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    crate::util::write_atomic(&out.join("results.json"), serde_json::to_string_pretty(results)?.as_bytes())?;
    let thumb = 96u32;
    let cell = thumb + 8;
    let gap = 12;
    let rows = &results[..results.len().min(GRID_MAX_QUERIES)];
    let cols = 1 + rows.iter().map(|r| r.neighbours.len()).max().unwrap_or(0) as u32;
    let mut canvas = RgbImage::from_pixel(cols * cell + gap, rows.len().max(1) as u32 * cell, Rgb([255, 255, 255]));
    let mut warnings = Vec::new();
    let mut put = |path: &str, x: u32, y: u32, border: Rgb<u8>, warnings: &mut Vec<String>| {
        for by in 0..cell {
            for bx in 0..cell {
                canvas.put_pixel(x + bx, y + by, border);
            }
        }
        let img = match crate::data::transform::load_rgb(Path::new(path)) {
            Ok(img) => imageops::resize(&img, thumb, thumb, imageops::FilterType::Triangle),
            Err(e) => {
                warnings.push(format!("grid.png: {e:#}"));
                RgbImage::from_pixel(thumb, thumb, Rgb([160, 160, 160]))
            }
        };
        imageops::overlay(&mut canvas, &img, (x + 4) as i64, (y + 4) as i64);
    };
    for (r, q) in rows.iter().enumerate() {
        let y = r as u32 * cell;
        put(&q.query, 0, y, Rgb([60, 60, 60]), &mut warnings);
        for (c, n) in q.neighbours.iter().enumerate() {
            put(&n.path, gap + (c as u32 + 1) * cell, y, Rgb([200, 200, 200]), &mut warnings);
        }
    }
    let grid = out.join("grid.png");
    canvas.save(&grid).with_context(|| format!("cannot write {}", grid.display()))?;
    if results.len() > GRID_MAX_QUERIES {
        warnings.push(format!("grid.png shows the first {GRID_MAX_QUERIES} of {} queries (results.json has all)", results.len()));
    }
    Ok(warnings)
}
