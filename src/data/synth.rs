//! The embedded default: a synthetic fine-grained image dataset ("synthetic birds").
//!
//! Classes come in families of `FAMILY_SIZE` species. A family fixes the body plan (body
//! colour and shape, head, tail); the species inside a family differ only in small details
//! (a coloured mark, its position, stripes, head colour), so the hardest negatives are the
//! other species of the same family, as between bird species. Every image varies pose,
//! scale, position and colour, and carries background clutter and sometimes an occluder.
//! The output is the cub200 layout (`images/NNN.Name/*.png`), read by the real loader.
use anyhow::{bail, Context, Result};
use image::{Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

pub const FAMILY_SIZE: usize = 5;

#[derive(Debug, Clone)]
pub struct SynthOptions {
    pub classes: usize,
    pub per_class: usize,
    pub image_size: u32,
    pub seed: u64,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions { classes: 100, per_class: 30, image_size: 64, seed: 0 }
    }
}

#[derive(Debug, Clone)]
struct Family {
    body: [f32; 3],
    aspect: f32,
    head_pos: (f32, f32),
    head_r: f32,
    tail_len: f32,
    tail_width: f32,
}

#[derive(Debug, Clone)]
struct Species {
    family: Family,
    mark: [f32; 3],
    mark_x: f32,
    mark_r: f32,
    stripes: u32,
    head: [f32; 3],
}

fn hsv(h: f32, s: f32, v: f32) -> [f32; 3] {
    let h = h.rem_euclid(1.0) * 6.0;
    let i = h.floor() as i32;
    let f = h - i as f32;
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
    match i {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

fn family(seed: u64, f: usize) -> Family {
    let mut rng = ChaCha8Rng::seed_from_u64(crate::util::mix(seed, 0xFA, f as u64));
    Family {
        body: hsv(rng.gen(), rng.gen_range(0.3..0.9), rng.gen_range(0.35..0.9)),
        aspect: rng.gen_range(0.35..0.75),
        head_pos: (rng.gen_range(0.45..0.65), rng.gen_range(-0.35..0.0)),
        head_r: rng.gen_range(0.15..0.28),
        tail_len: rng.gen_range(0.2..0.45),
        tail_width: rng.gen_range(0.1..0.3),
    }
}

fn species(seed: u64, class: usize) -> Species {
    let family = family(seed, class / FAMILY_SIZE);
    let mut rng = ChaCha8Rng::seed_from_u64(crate::util::mix(seed, 0x5BEC, class as u64));
    let within = class % FAMILY_SIZE;
    Species {
        // Marks of one family's species are spread around the hue circle, with jitter.
        mark: hsv(within as f32 / FAMILY_SIZE as f32 + rng.gen_range(-0.05..0.05), 0.9, 0.95),
        mark_x: rng.gen_range(-0.3..0.3),
        mark_r: rng.gen_range(0.1..0.17),
        stripes: rng.gen_range(0..4),
        head: {
            let b = family.body;
            let d: f32 = rng.gen_range(-0.25..0.25);
            [(b[0] + d).clamp(0.0, 1.0), (b[1] - d).clamp(0.0, 1.0), b[2]]
        },
        family,
    }
}

/// Class folder names, `NNN.FamilyFF_SpeciesS`, numbered from 1 as in CUB200.
pub fn class_name(class: usize) -> String {
    format!("{:03}.Family{:02}_Species{}", class + 1, class / FAMILY_SIZE, class % FAMILY_SIZE)
}

/// Renders one image of `class`; a pure function of (seed, class, index).
pub fn render(opts: &SynthOptions, class: usize, index: usize) -> RgbImage {
    let sp = species(opts.seed, class);
    let fam = &sp.family;
    let mut rng = ChaCha8Rng::seed_from_u64(crate::util::mix(opts.seed, class as u64 + 1, index as u64));
    let n = opts.image_size;
    let angle: f32 = rng.gen_range(-0.6..0.6);
    let flip = rng.gen_bool(0.5);
    let scale: f32 = rng.gen_range(0.6..0.95);
    let (tx, ty) = (rng.gen_range(-0.15..0.15f32), rng.gen_range(-0.15..0.15f32));
    let bright: f32 = rng.gen_range(0.8..1.15);
    let bg_a = hsv(rng.gen(), rng.gen_range(0.1..0.5), rng.gen_range(0.3..0.9));
    let bg_b = hsv(rng.gen(), rng.gen_range(0.1..0.5), rng.gen_range(0.3..0.9));
    let clutter: Vec<(f32, f32, f32, [f32; 3])> = (0..rng.gen_range(4..12))
        .map(|_| {
            (
                rng.gen_range(-1.0..1.0),
                rng.gen_range(-1.0..1.0),
                rng.gen_range(0.04..0.18),
                hsv(rng.gen(), rng.gen_range(0.2..0.9), rng.gen_range(0.2..1.0)),
            )
        })
        .collect();
    let occluder = rng.gen_bool(0.3).then(|| {
        let (cx, cy) = (rng.gen_range(-0.5..0.5f32), rng.gen_range(-0.5..0.5f32));
        let (hw, hh) = (rng.gen_range(0.1..0.3f32), rng.gen_range(0.1..0.3f32));
        (cx, cy, hw, hh, hsv(rng.gen(), 0.2, rng.gen_range(0.2..0.8)))
    });
    let noise_seed = rng.gen::<u64>();
    let (sin, cos) = angle.sin_cos();
    let mut img = RgbImage::new(n, n);
    for py in 0..n {
        for px in 0..n {
            let u = (px as f32 + 0.5) / n as f32 * 2.0 - 1.0;
            let v = (py as f32 + 0.5) / n as f32 * 2.0 - 1.0;
            // Background gradient and clutter blobs.
            let t = (u + v + 2.0) / 4.0;
            let mut c = [0.0f32; 3];
            for k in 0..3 {
                c[k] = bg_a[k] * (1.0 - t) + bg_b[k] * t;
            }
            for &(cx, cy, r, col) in &clutter {
                if (u - cx).powi(2) + (v - cy).powi(2) < r * r {
                    c = col;
                }
            }
            // Object coordinates: undo translation, rotation, scale (and mirror).
            let (du, dv) = (u - tx, v - ty);
            let mut x = (cos * du + sin * dv) / scale;
            let y = (-sin * du + cos * dv) / scale;
            if flip {
                x = -x;
            }
            let (a, b) = (0.55f32, 0.55 * fam.aspect);
            let in_tail = x < -0.4 && x > -0.45 - fam.tail_len && y.abs() < fam.tail_width * (-0.4 - x) / fam.tail_len + 0.02;
            let in_body = (x / a).powi(2) + (y / b).powi(2) <= 1.0;
            let (hx, hy) = (fam.head_pos.0, fam.head_pos.1 * b);
            let in_head = (x - hx).powi(2) + (y - hy).powi(2) <= fam.head_r.powi(2);
            if in_tail {
                c = fam.body.map(|v| v * 0.7);
            }
            if in_body {
                c = fam.body;
                if sp.stripes > 0 && ((x + 1.0) * sp.stripes as f32 * 2.5).fract() < 0.25 && x < 0.2 {
                    c = fam.body.map(|v| v * 0.55);
                }
                if (x - sp.mark_x).powi(2) + (y * 1.3).powi(2) <= sp.mark_r.powi(2) {
                    c = sp.mark;
                }
            }
            if in_head {
                c = sp.head;
                let (ex, ey) = (hx + fam.head_r * 0.4, hy - fam.head_r * 0.3);
                if (x - ex).powi(2) + (y - ey).powi(2) <= (fam.head_r * 0.22).powi(2) {
                    c = [0.05, 0.05, 0.05];
                }
            }
            if let Some((cx, cy, hw, hh, col)) = occluder {
                if (u - cx).abs() < hw && (v - cy).abs() < hh {
                    c = col;
                }
            }
            // Per-pixel sensor noise from a hash, so pixels need no shared generator.
            let h = crate::util::mix(noise_seed, py as u64, px as u64);
            let noise = ((h & 0xFF) as f32 / 255.0 - 0.5) * 0.08;
            let px_rgb = c.map(|v| ((v * bright + noise).clamp(0.0, 1.0) * 255.0).round() as u8);
            img.put_pixel(px, py, Rgb(px_rgb));
        }
    }
    img
}

/// Writes `<out>/images/NNN.Name/NNNN.png`; returns the number of images written.
/// Errors: `out/images` already holds something (a set with other options would be mixed
/// with this one: stale classes and images would stay).
pub fn generate(out: &Path, opts: &SynthOptions) -> Result<usize> {
    if opts.classes < 2 || opts.per_class < 1 || opts.image_size < 8 {
        anyhow::bail!("synthetic dataset needs at least 2 classes, 1 image per class and 8 px images");
    }
    let images = out.join("images");
    if std::fs::read_dir(&images).is_ok_and(|mut d| d.next().is_some()) {
        bail!(
            "{} already holds a dataset; pads synth writes only into a new or empty folder (remove it or choose another --out)",
            images.display()
        );
    }
    for c in 0..opts.classes {
        let dir = images.join(class_name(c));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let jobs: Vec<(usize, usize)> = (0..opts.classes).flat_map(|c| (0..opts.per_class).map(move |i| (c, i))).collect();
    jobs.par_iter().try_for_each(|&(c, i)| -> Result<()> {
        let path: PathBuf = images.join(class_name(c)).join(format!("{:04}.png", i));
        let img = render(opts, c, i);
        let mut bytes = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)?;
        crate::util::write_atomic(&path, &bytes)
    })?;
    let marker = out.join("pads-synthetic.json");
    let meta = serde_json::json!({
        "classes": opts.classes, "per_class": opts.per_class,
        "image_size": opts.image_size, "seed": opts.seed, "family_size": FAMILY_SIZE,
    });
    crate::util::write_atomic(&marker, serde_json::to_string_pretty(&meta)?.as_bytes())?;
    Ok(jobs.len())
}

/// Whether `dir` holds a complete set generated with `opts` (its marker file says so).
pub fn is_complete(dir: &Path, opts: &SynthOptions) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("pads-synthetic.json")) else { return false };
    let Ok(meta) = serde_json::from_str::<serde_json::Value>(&text) else { return false };
    meta["classes"] == opts.classes
        && meta["per_class"] == opts.per_class
        && meta["image_size"] == opts.image_size
        && meta["seed"] == opts.seed
}

/// Generates the set under `<root>/synthetic` unless a complete one with these options exists.
/// The set is written to a private folder and renamed into place, so concurrent callers
/// (parallel tests, sweep jobs) never see or write a half-made set.
pub fn ensure(root: &Path, opts: &SynthOptions) -> Result<PathBuf> {
    let dir = root.join("synthetic");
    if is_complete(&dir, opts) {
        return Ok(dir);
    }
    std::fs::create_dir_all(root).with_context(|| format!("cannot create {}", root.display()))?;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let tmp = root.join(format!(".synthetic-{}-{nanos}", std::process::id()));
    generate(&tmp, opts)?;
    for _ in 0..3 {
        match std::fs::rename(&tmp, &dir) {
            Ok(()) => return Ok(dir),
            Err(_) if is_complete(&dir, opts) => {
                // Another caller finished first.
                let _ = std::fs::remove_dir_all(&tmp);
                return Ok(dir);
            }
            Err(_) => {
                // A stale or different set: replace it.
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
    }
    bail!("cannot move the generated set {} to {}", tmp.display(), dir.display())
}

/// For a run with `--dataset synthetic` (the only kind of run that may generate data):
/// generates the set with the default options under `<data-root>/synthetic` when it is
/// absent, printing one line that says so; returns whether it generated. Other datasets:
/// nothing. The default options keep the data independent of the run's own settings.
///
/// Errors: a data root that does not exist (a typo must not become a new dataset); a root
/// that holds another layout's folder ("did you mean --dataset cub200?"); a `synthetic/`
/// folder without `images/` (not ours to replace).
pub fn ensure_for_run(opts: impl Into<super::DataOptions>) -> Result<bool> {
    let cfg = &opts.into();
    if cfg.dataset != crate::options::DatasetKind::Synthetic {
        return Ok(false);
    }
    let root = &cfg.data_root;
    if !root.is_dir() {
        bail!(
            "data root {} does not exist or is not a folder (pads generates the synthetic set only inside an existing folder: create it, or run `pads synth --out {}`)",
            root.display(),
            root.join("synthetic").display()
        );
    }
    let dir = root.join("synthetic");
    if dir.join("images").is_dir() {
        return Ok(false);
    }
    if dir.exists() {
        bail!("{} exists but holds no images/ folder (layout: synthetic/images/NNN.Name/*.png); remove it or choose another --data-root", dir.display());
    }
    if root.file_name().is_some_and(|n| n == "synthetic") && root.join("images").is_dir() {
        let parent = root.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        bail!(
            "dataset folder {} does not exist; {} is itself a synthetic folder: did you mean --data-root {}?",
            dir.display(),
            root.display(),
            parent.display()
        );
    }
    let others = crate::data::layout::other_layouts(root, crate::options::DatasetKind::Synthetic);
    if let Some(first) = others.first() {
        bail!(
            "{} holds {first}/ but no synthetic/: did you mean --dataset {first}? (to generate the synthetic set there anyway: pads synth --out {})",
            root.display(),
            dir.display()
        );
    }
    let opts = SynthOptions::default();
    eprintln!(
        "--dataset synthetic: generating the synthetic set ({} classes x {} images, {} px, seed {}) in {}, as none is there",
        opts.classes,
        opts.per_class,
        opts.image_size,
        opts.seed,
        dir.display()
    );
    ensure(root, &opts)?;
    Ok(true)
}
