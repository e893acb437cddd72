//! The original's transforms, with torchvision's pixels. Training: RandomResizedCrop (scale
//! 0.08-1, ratio 3/4-4/3) + horizontal flip p 0.5; evaluation: Resize(round(size*256/224)) +
//! CenterCrop(size). Resizing is Pillow's antialiased bilinear filter, bit for bit
//! (`pillow.rs`), on the crop box read in place; the crop boxes, CenterCrop's rounded offset
//! and Resize's output size follow torchvision 0.26. Output: CHW float32, normalised with
//! [`Normalization`], written straight into the caller's buffer.
use super::pillow::{resize_box, Rect};
use image::RgbImage;
use rand::Rng;

pub use super::decode::{jpeg_is_complete, load_rgb, png_is_complete};

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

    /// 3 * size * size floats, channel-major (see [`Transform::apply_into`]).
    pub fn apply<R: Rng>(&self, img: &RgbImage, rng: &mut R) -> Vec<f32> {
        let n = self.size as usize;
        let mut out = vec![0f32; 3 * n * n];
        self.apply_into(img, rng, &mut out);
        out
    }

    /// Crops, resizes, flips (training) and normalises `img` into `out` (3 * size * size
    /// floats, planes in the order of `norm`). Draws from `rng` in the order the training
    /// transform always has: the crop box's draws (see [`random_resized_crop_box`]), then
    /// one `gen_bool(0.5)` for the flip; evaluation draws nothing.
    /// Panics if `out` has another length (a caller's bug, not a data problem).
    pub fn apply_into<R: Rng>(&self, img: &RgbImage, rng: &mut R, out: &mut [f32]) {
        let (px, flip) = self.geometry(img, rng);
        normalise_into(&px, flip, &self.norm, out);
    }

    /// The second half of [`Transform::apply_into`]: `px` (size x size) normalised into
    /// `out`, mirrored when `flip`.
    pub fn normalise_into(&self, px: &RgbImage, flip: bool, out: &mut [f32]) {
        normalise_into(px, flip, &self.norm, out);
    }

    /// The uint8 image before normalisation: what torchvision's transform gives before
    /// `ToTensor` (size x size, RGB), flipped when the training draw says so.
    pub fn pixels<R: Rng>(&self, img: &RgbImage, rng: &mut R) -> RgbImage {
        let (mut px, flip) = self.geometry(img, rng);
        if flip {
            image::imageops::flip_horizontal_in_place(&mut px);
        }
        px
    }

    /// The crop + resize (unflipped) and whether to flip it (the first half of
    /// [`Transform::apply_into`]; `pads bench loader --profile` times the halves apart).
    pub fn geometry<R: Rng>(&self, img: &RgbImage, rng: &mut R) -> (RgbImage, bool) {
        let s = self.size;
        let all = Rect { x: 0, y: 0, w: s, h: s };
        match self.mode {
            Mode::Train => {
                let (x, y, w, h) = random_resized_crop_box(img.width(), img.height(), rng);
                let px = resize_box(img, Rect { x, y, w, h }, s, s, all);
                (px, rng.gen_bool(0.5))
            }
            Mode::Eval => {
                let (w, h) = (img.width(), img.height());
                let (nw, nh) = resized_size(w, h, eval_resize(s));
                // Resize's shorter side (round(s * 256 / 224)) is never below s: the crop fits.
                let (x, y) = (center_offset(nw, s), center_offset(nh, s));
                (resize_box(img, Rect { x: 0, y: 0, w, h }, nw, nh, Rect { x, y, w: s, h: s }), false)
            }
        }
    }
}

/// The shorter side the evaluation transform resizes to: round(size * 256 / 224), 256 at
/// the original's 224.
pub fn eval_resize(size: u32) -> u32 {
    ((size as f64) * 256.0 / 224.0).round() as u32
}

/// torchvision's `Resize(short)` output size for a `w` x `h` image: the shorter side becomes
/// `short`, the longer `int(short * long / shorter)` (truncated, as
/// `_compute_resized_output_size`); a square image becomes `short` x `short`.
pub fn resized_size(w: u32, h: u32, short: u32) -> (u32, u32) {
    let long_of = |long: u32, shorter: u32| ((short as f64 * long as f64) / shorter as f64) as u32;
    if w <= h {
        (short, long_of(h, w))
    } else {
        (long_of(w, h), short)
    }
}

/// torchvision's `CenterCrop` offset along one side: int(round((len - crop) / 2)), Python's
/// round (half to even: a difference of 1 gives 0, of 3 gives 2, of 5 gives 2).
pub fn center_offset(len: u32, crop: u32) -> u32 {
    (len.saturating_sub(crop) as f64 / 2.0).round_ties_even() as u32
}

/// `(v / 255 - mean[c]) / std[c]` for every byte value, per channel (RGB order).
fn tables(norm: &Normalization) -> [[f32; 256]; 3] {
    let mut t = [[0f32; 256]; 3];
    for (c, table) in t.iter_mut().enumerate() {
        for (v, x) in table.iter_mut().enumerate() {
            *x = (v as f32 / 255.0 - norm.mean[c]) / norm.std[c];
        }
    }
    t
}

/// HWC uint8 -> CHW float32 in one pass: each byte through its channel's table (the same
/// float operations as before, so the same values), the row reversed when `flip`, the
/// planes in B, G, R order when `norm.bgr`.
fn normalise_into(img: &RgbImage, flip: bool, norm: &Normalization, out: &mut [f32]) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    assert_eq!(out.len(), 3 * w * h, "output buffer holds {} floats, the image needs {}", out.len(), 3 * w * h);
    let t = tables(norm);
    let (p0, rest) = out.split_at_mut(w * h);
    let (p1, p2) = rest.split_at_mut(w * h);
    let planes: [&mut [f32]; 3] = if norm.bgr { [p2, p1, p0] } else { [p0, p1, p2] };
    let [r, g, b] = planes;
    for (y, row) in img.as_raw().chunks_exact(w * 3).enumerate() {
        let (r, g, b) = (&mut r[y * w..(y + 1) * w], &mut g[y * w..(y + 1) * w], &mut b[y * w..(y + 1) * w]);
        for (x, px) in row.chunks_exact(3).enumerate() {
            let i = if flip { w - 1 - x } else { x };
            r[i] = t[0][px[0] as usize];
            g[i] = t[1][px[1] as usize];
            b[i] = t[2][px[2] as usize];
        }
    }
}

/// torchvision's RandomResizedCrop box (x, y, w, h) for `width` x `height`: up to 10 tries,
/// each drawing a scale in [0.08, 1] and a log-aspect in [ln 3/4, ln 4/3]
/// ([`crop_size_for`]); the first that fits draws x in 0..=width-w, then y in 0..=height-h.
/// After 10 misses, torchvision's fallback ([`fallback_crop`]).
pub fn random_resized_crop_box<R: Rng>(width: u32, height: u32, rng: &mut R) -> (u32, u32, u32, u32) {
    let (lo, hi) = ((3.0f64 / 4.0).ln(), (4.0f64 / 3.0).ln());
    for _ in 0..10 {
        let scale = rng.gen_range(0.08..=1.0);
        let aspect = rng.gen_range(lo..=hi).exp();
        if let Some((w, h)) = crop_size_for(width, height, scale, aspect) {
            let x = rng.gen_range(0..=width - w);
            let y = rng.gen_range(0..=height - h);
            return (x, y, w, h);
        }
    }
    fallback_crop(width, height)
}

/// One try of torchvision's `RandomResizedCrop.get_params`: target area = width * height *
/// scale, w = round(sqrt(area * aspect)), h = round(sqrt(area / aspect)) (Python's round,
/// half to even); None unless 0 < w <= width and 0 < h <= height.
pub fn crop_size_for(width: u32, height: u32, scale: f64, aspect: f64) -> Option<(u32, u32)> {
    let target = (width as f64 * height as f64) * scale;
    let w = (target * aspect).sqrt().round_ties_even();
    let h = (target / aspect).sqrt().round_ties_even();
    (w > 0.0 && h > 0.0 && w <= width as f64 && h <= height as f64).then_some((w as u32, h as u32))
}

/// torchvision's fallback after 10 misses: the whole image, cut to the nearest allowed
/// aspect (3/4 or 4/3) when outside, centred with floor offsets ((len - crop) // 2).
pub fn fallback_crop(width: u32, height: u32) -> (u32, u32, u32, u32) {
    let (wf, hf) = (width as f64, height as f64);
    let ratio = wf / hf;
    let (w, h) = if ratio < 3.0 / 4.0 {
        (width, ((wf / (3.0 / 4.0)).round_ties_even() as u32).min(height))
    } else if ratio > 4.0 / 3.0 {
        (((hf * (4.0 / 3.0)).round_ties_even() as u32).min(width), height)
    } else {
        (width, height)
    };
    ((width - w) / 2, (height - h) / 2, w, h)
}
