//! Image decoding and the original's transforms. Training: random resized crop (scale
//! 0.08-1, ratio 3/4-4/3, as torchvision) + horizontal flip p 0.5; evaluation: resize the
//! shorter side to size*256/224 + centre crop. Output: CHW float32, ImageNet-normalised.
use anyhow::{Context, Result};
use image::imageops::{self, FilterType};
use image::RgbImage;
use rand::Rng;
use std::path::Path;

pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// The last step of both transforms: `(pixel / 255 - mean[c]) / std[c]` per channel, with
/// mean and std given in RGB order, then the channels optionally written in BGR order
/// (what the original's datasets.py does for BN-Inception).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalization {
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// Output channel order reversed (B, G, R) after normalising.
    pub bgr: bool,
}

impl Normalization {
    /// torchvision's ImageNet statistics, RGB order (the original's ResNet50 input).
    pub const IMAGENET: Normalization = Normalization { mean: IMAGENET_MEAN, std: IMAGENET_STD, bgr: false };
    /// The original's BN-Inception input (datasets.py): Normalize(mean [0.502, 0.4588,
    /// 0.4078], std [0.0039] * 3) on the RGB tensor, i.e. about pixel - [128, 117, 104], then
    /// the channels reversed to BGR (the Caffe model's order, pretrainedmodels' 'BGR').
    pub const BNINCEPTION: Normalization = Normalization { mean: [0.502, 0.4588, 0.4078], std: [0.0039; 3], bgr: true };

    /// The normalisation `arch` was trained with: BNINCEPTION for bninception, IMAGENET else.
    pub fn for_arch(arch: crate::options::Arch) -> Normalization {
        match arch {
            crate::options::Arch::Bninception => Normalization::BNINCEPTION,
            _ => Normalization::IMAGENET,
        }
    }
}

/// Decodes any supported image to 8-bit RGB (grayscale, alpha, 16-bit and CMYK converted).
pub fn load_rgb(path: &Path) -> Result<RgbImage> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read image file", path.display()))?;
    if bytes.is_empty() {
        anyhow::bail!("{}: zero-byte file, expected image data", path.display());
    }
    let reader = image::ImageReader::new(std::io::Cursor::new(&bytes))
        .with_guessed_format()
        .with_context(|| format!("{}: cannot read image header", path.display()))?;
    // The decoders fill a cut-off file with grey and succeed; PIL refuses it ("image file is
    // truncated"). So does pads: a JPEG or PNG must reach its end marker.
    match reader.format() {
        Some(image::ImageFormat::Jpeg) if !jpeg_is_complete(&bytes) => anyhow::bail!(
            "{}: truncated JPEG: no end-of-image marker (FF D9) after the last scan; the file was cut short",
            path.display()
        ),
        Some(image::ImageFormat::Png) if !png_is_complete(&bytes) => anyhow::bail!(
            "{}: truncated PNG: no IEND chunk; the file was cut short",
            path.display()
        ),
        _ => {}
    }
    let img = reader
        .decode()
        .with_context(|| format!("{}: not a decodable image (truncated or corrupt?)", path.display()))?;
    if img.width() == 0 || img.height() == 0 {
        anyhow::bail!("{}: image has zero size", path.display());
    }
    Ok(img.to_rgb8())
}

/// A JPEG whose last start-of-scan marker (FF DA) is followed by an end-of-image marker
/// (FF D9). Inside entropy-coded data 0xFF is always stuffed (FF 00) or a restart marker, so
/// neither marker can appear there; an EXIF thumbnail's own FF D9 lies before the main
/// image's scans. Bytes after FF D9 (camera trailers) are allowed.
pub fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last_sos = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    match last_sos {
        Some(at) => bytes[at..].windows(2).any(|w| w == [0xFF, 0xD9]),
        None => false,
    }
}

/// A PNG that holds its IEND chunk (type bytes `IEND` after the last IDAT).
pub fn png_is_complete(bytes: &[u8]) -> bool {
    let last_idat = bytes.windows(4).rposition(|w| w == b"IDAT").unwrap_or(0);
    bytes[last_idat..].windows(4).any(|w| w == b"IEND")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
}

#[derive(Debug, Clone, Copy)]
pub struct Transform {
    pub size: u32,
    pub mode: Mode,
    pub norm: Normalization,
}

impl Transform {
    /// ImageNet normalisation (RGB); see [`Transform::with_normalization`].
    pub fn new(size: usize, mode: Mode) -> Self {
        Transform { size: size as u32, mode, norm: Normalization::IMAGENET }
    }

    pub fn with_normalization(self, norm: Normalization) -> Self {
        Transform { norm, ..self }
    }

    /// 3 * size * size floats, channel-major.
    pub fn apply<R: Rng>(&self, img: &RgbImage, rng: &mut R) -> Vec<f32> {
        let out = match self.mode {
            Mode::Train => {
                let (x, y, w, h) = random_resized_crop_box(img.width(), img.height(), rng);
                let crop = imageops::crop_imm(img, x, y, w, h).to_image();
                let mut out = imageops::resize(&crop, self.size, self.size, FilterType::Triangle);
                if rng.gen_bool(0.5) {
                    imageops::flip_horizontal_in_place(&mut out);
                }
                out
            }
            Mode::Eval => {
                let short = ((self.size as f64) * 256.0 / 224.0).round() as u32;
                let (w, h) = (img.width(), img.height());
                let (nw, nh) = if w <= h {
                    (short, ((h as f64) * short as f64 / w as f64).round().max(1.0) as u32)
                } else {
                    (((w as f64) * short as f64 / h as f64).round().max(1.0) as u32, short)
                };
                let resized = imageops::resize(img, nw, nh, FilterType::Triangle);
                let x = (nw.saturating_sub(self.size)) / 2;
                let y = (nh.saturating_sub(self.size)) / 2;
                imageops::crop_imm(&resized, x, y, self.size, self.size).to_image()
            }
        };
        to_chw_normalised(&out, &self.norm)
    }
}

fn to_chw_normalised(img: &RgbImage, norm: &Normalization) -> Vec<f32> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut out = vec![0f32; 3 * w * h];
    for (i, px) in img.pixels().enumerate() {
        for c in 0..3 {
            let plane = if norm.bgr { 2 - c } else { c };
            out[plane * w * h + i] = (px[c] as f32 / 255.0 - norm.mean[c]) / norm.std[c];
        }
    }
    out
}

/// torchvision's RandomResizedCrop box: 10 tries at a random area and aspect, then a
/// centre crop clamped to the allowed ratios.
pub fn random_resized_crop_box<R: Rng>(width: u32, height: u32, rng: &mut R) -> (u32, u32, u32, u32) {
    let (wf, hf) = (width as f64, height as f64);
    let area = wf * hf;
    let (lo, hi) = ((3.0f64 / 4.0).ln(), (4.0f64 / 3.0).ln());
    for _ in 0..10 {
        let target = area * rng.gen_range(0.08..=1.0);
        let aspect = rng.gen_range(lo..=hi).exp();
        let w = (target * aspect).sqrt().round() as u32;
        let h = (target / aspect).sqrt().round() as u32;
        if w > 0 && h > 0 && w <= width && h <= height {
            let x = rng.gen_range(0..=width - w);
            let y = rng.gen_range(0..=height - h);
            return (x, y, w, h);
        }
    }
    let ratio = wf / hf;
    let (w, h) = if ratio < 3.0 / 4.0 {
        (width, ((wf / (3.0 / 4.0)).round() as u32).min(height))
    } else if ratio > 4.0 / 3.0 {
        (((hf * 4.0 / 3.0).round() as u32).min(width), height)
    } else {
        (width, height)
    };
    ((width - w) / 2, (height - h) / 2, w, h)
}
