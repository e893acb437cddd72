//! `pads data resize`: a pre-resized copy of a dataset folder, so that decoding full-size
//! photos is paid once instead of every epoch.
//!
//! The copy mirrors the source tree file by file, which keeps every layout valid (class
//! folders, SOP's info files, anything else is copied as is). A JPEG or PNG whose shorter
//! side exceeds the limit is downscaled to it (aspect kept) and re-encoded in its own format;
//! other files, and images that do not decode, are copied byte for byte, so pads' own checks
//! report them later exactly as they would on the original. Files are written to a temporary
//! name and renamed, and a file already present is kept, so an interrupted run can be re-run.
use anyhow::{Context, Result};
use image::imageops::FilterType;
use image::{DynamicImage, RgbImage};
use rayon::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct ResizeOptions {
    /// Largest shorter side kept; larger images are scaled down to it.
    pub shorter_side: u32,
    /// JPEG quality of re-encoded JPEG files (1-100).
    pub jpeg_quality: u8,
    /// Worker threads (0 = number of cores).
    pub threads: usize,
}

impl Default for ResizeOptions {
    fn default() -> Self {
        ResizeOptions { shorter_side: 256, jpeg_quality: 95, threads: 0 }
    }
}

#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct ResizeReport {
    /// Images scaled down and re-encoded.
    pub resized: usize,
    /// Images already small enough, other files and undecodable images, copied unchanged.
    pub copied: usize,
    /// Files already present in the destination, left alone.
    pub kept: usize,
    /// Source files that looked like images but did not decode (copied unchanged).
    pub undecodable: Vec<PathBuf>,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

enum Outcome {
    Resized,
    Copied,
    Kept,
    Undecodable,
}

/// Every file below `dir`, relative to it, sorted (hidden entries left out).
fn files_below(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let here = dir.join(&rel);
        for entry in std::fs::read_dir(&here).with_context(|| format!("cannot list {}", here.display()))? {
            let entry = entry?;
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(rel.join(&name));
            } else if kind.is_file() || kind.is_symlink() {
                out.push(rel.join(&name));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The size an image of `width` x `height` is scaled to, or None when its shorter side is
/// within the limit.
pub fn target_size(width: u32, height: u32, shorter_side: u32) -> Option<(u32, u32)> {
    let short = width.min(height);
    if short <= shorter_side {
        return None;
    }
    let scale = shorter_side as f64 / short as f64;
    let w = if width == short { shorter_side } else { ((width as f64 * scale).round() as u32).max(1) };
    let h = if height == short { shorter_side } else { ((height as f64 * scale).round() as u32).max(1) };
    Some((w, h))
}

fn encode(img: &RgbImage, ext: &str, quality: u8) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    match ext {
        "jpg" | "jpeg" => {
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality).encode_image(img)?;
        }
        _ => DynamicImage::ImageRgb8(img.clone()).write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)?,
    }
    Ok(bytes)
}

fn one_file(src: &Path, dst: &Path, opts: &ResizeOptions) -> Result<Outcome> {
    if std::fs::metadata(dst).map(|m| m.is_file() && m.len() > 0).unwrap_or(false) {
        return Ok(Outcome::Kept);
    }
    if let Some(parent) = dst.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let ext = src.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let bytes = std::fs::read(src).with_context(|| format!("cannot read {}", src.display()))?;
    let (out, outcome) = if matches!(ext.as_str(), "jpg" | "jpeg" | "png") {
        match super::transform::load_rgb(src) {
            Ok(img) => match target_size(img.width(), img.height(), opts.shorter_side) {
                Some((w, h)) => {
                    let small = image::imageops::resize(&img, w, h, FilterType::CatmullRom);
                    (encode(&small, &ext, opts.jpeg_quality).with_context(|| format!("cannot encode {}", dst.display()))?, Outcome::Resized)
                }
                None => (bytes, Outcome::Copied),
            },
            Err(_) => (bytes, Outcome::Undecodable),
        }
    } else {
        (bytes, Outcome::Copied)
    };
    // Temporary name + rename: a killed run leaves no half-written file under the real
    // name (no fsync: this is a cache, re-creatable from the source).
    let tmp = dst.with_file_name(format!(".{}.tmp", dst.file_name().unwrap_or_default().to_string_lossy()));
    std::fs::write(&tmp, &out).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, dst).with_context(|| format!("cannot move {} to {}", tmp.display(), dst.display()))?;
    Ok(outcome)
}

/// Writes the pre-resized mirror of `src` into `dst` (see the module comment).
pub fn resize_tree(src: &Path, dst: &Path, opts: &ResizeOptions) -> Result<ResizeReport> {
    anyhow::ensure!(src.is_dir(), "source folder {} does not exist or is not a folder", src.display());
    anyhow::ensure!(opts.shorter_side >= 8, "--shorter-side must be at least 8, got {}", opts.shorter_side);
    anyhow::ensure!((1..=100).contains(&opts.jpeg_quality), "--jpeg-quality must be in 1..=100, got {}", opts.jpeg_quality);
    std::fs::create_dir_all(dst).with_context(|| format!("cannot create {}", dst.display()))?;
    let (src_abs, dst_abs) = (src.canonicalize()?, dst.canonicalize()?);
    anyhow::ensure!(
        !dst_abs.starts_with(&src_abs) && !src_abs.starts_with(&dst_abs),
        "source {} and destination {} must not contain each other",
        src.display(),
        dst.display()
    );
    let files = files_below(src)?;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(super::loader::default_threads(opts.threads)).build()?;
    let results: Vec<Result<Outcome>> = pool.install(|| files.par_iter().map(|rel| one_file(&src.join(rel), &dst.join(rel), opts)).collect());
    let mut report = ResizeReport::default();
    for (rel, result) in files.iter().zip(results) {
        match result? {
            Outcome::Resized => report.resized += 1,
            Outcome::Copied => report.copied += 1,
            Outcome::Kept => report.kept += 1,
            Outcome::Undecodable => {
                report.copied += 1;
                report.undecodable.push(src.join(rel));
            }
        }
        report.bytes_in += std::fs::metadata(src.join(rel)).map(|m| m.len()).unwrap_or(0);
        report.bytes_out += std::fs::metadata(dst.join(rel)).map(|m| m.len()).unwrap_or(0);
    }
    Ok(report)
}
