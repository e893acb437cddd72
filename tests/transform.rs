//! pads' transforms against torchvision 0.26 + Pillow, from tests/fixtures/transform/ (made by
//! bench/reference/make_transform_fixture.py): crop boxes for torchvision's own draws,
//! CenterCrop offsets, Resize sizes, and the uint8 pixels of both transforms on PNG and JPEG
//! inputs (RGB, grayscale, RGBA) within the tolerances of issue 27.
use image::RgbImage;
use pads::data::pillow::{resize_box, Rect};
use pads::data::transform::{
    center_offset, crop_size_for, fallback_crop, load_rgb, random_resized_crop_box, resized_size, Mode, Normalization, Transform,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/transform")
}

fn cases() -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join("cases.json")).unwrap()).unwrap()
}

fn u(v: &Value) -> u32 {
    v.as_u64().unwrap() as u32
}

/// (largest |difference|, number of values differing by more than 2, number of values).
fn compare(ours: &RgbImage, want: &RgbImage, what: &str) -> (i32, usize, usize) {
    assert_eq!(ours.dimensions(), want.dimensions(), "{what}: size");
    let mut worst = 0;
    let mut over2 = 0;
    for (a, b) in ours.as_raw().iter().zip(want.as_raw()) {
        let d = (*a as i32 - *b as i32).abs();
        worst = worst.max(d);
        over2 += (d > 2) as usize;
    }
    (worst, over2, ours.as_raw().len())
}

/// Every (ours, torchvision's) pair of the fixture for the images whose file ends in `ext`.
fn pairs(ext: &str) -> Vec<(String, RgbImage, RgbImage)> {
    let c = cases();
    let mut out = Vec::new();
    for im in c["images"].as_array().unwrap() {
        let file = im["file"].as_str().unwrap();
        if !file.ends_with(ext) {
            continue;
        }
        let name = im["name"].as_str().unwrap();
        let img = load_rgb(&dir().join(file)).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        for size in im["eval"].as_array().unwrap() {
            let s = u(size);
            let ours = Transform::new(s as usize, Mode::Eval).pixels(&img, &mut rng);
            let want = image::open(dir().join(format!("eval/{name}_{s}.png"))).unwrap().to_rgb8();
            out.push((format!("{name} eval {s}"), ours, want));
        }
        for (k, crop) in im["crops"].as_array().unwrap().iter().enumerate() {
            let b: Vec<u32> = crop["box"].as_array().unwrap().iter().map(u).collect();
            let s = u(&crop["size"]);
            let ours = resize_box(&img, Rect { x: b[0], y: b[1], w: b[2], h: b[3] }, s, s, Rect { x: 0, y: 0, w: s, h: s });
            let want = image::open(dir().join(format!("crop/{name}_{k}.png"))).unwrap().to_rgb8();
            out.push((format!("{name} crop {k} {b:?} -> {s}"), ours, want));
        }
    }
    out
}

#[test]
fn png_inputs_give_pillows_pixels() {
    let all = pairs(".png");
    assert_eq!(all.len(), 3 * 7, "3 PNGs x (3 eval sizes + 4 crops)");
    let mut worst = 0;
    for (what, ours, want) in &all {
        let (w, _, _) = compare(ours, want, what);
        assert!(w <= 1, "{what}: differs from torchvision by {w} levels");
        worst = worst.max(w);
    }
    // Measured: identical (the resize is Pillow's fixed-point arithmetic, bit for bit).
    assert_eq!(worst, 0, "PNG pixels are no longer identical to Pillow's");
}

#[test]
fn jpeg_inputs_stay_within_two_levels_on_999_per_mille() {
    let all = pairs(".jpg");
    assert_eq!(all.len(), 2 * 7);
    let (mut over2, mut total, mut worst) = (0, 0, 0);
    for (what, ours, want) in &all {
        let (w, o, n) = compare(ours, want, what);
        worst = worst.max(w);
        over2 += o;
        total += n;
    }
    // zune-jpeg's IDCT and upsampling against libjpeg-turbo's (Pillow's decoder).
    eprintln!("JPEG: {over2} of {total} values differ by more than 2, worst {worst}");
    assert!(over2 as f64 <= 0.001 * total as f64, "{over2} of {total} values differ by more than 2 (worst {worst})");
    assert!(worst <= 8, "worst difference {worst}");
}

#[test]
fn crop_boxes_follow_torchvision_for_its_own_draws() {
    let c = cases();
    let draws = c["draws"].as_array().unwrap();
    let mut fallbacks = 0;
    for d in draws {
        let (w, h) = (u(&d["width"]), u(&d["height"]));
        let want: Vec<u32> = d["box"].as_array().unwrap().iter().map(u).collect();
        let tries: Vec<(f64, f64)> = d["tries"].as_array().unwrap().iter().map(|t| (t[0].as_f64().unwrap(), t[1].as_f64().unwrap())).collect();
        let found = tries.iter().find_map(|&(s, a)| crop_size_for(w, h, s, a));
        match found {
            Some((cw, ch)) => {
                assert!(!d["fallback"].as_bool().unwrap(), "{w}x{h}: torchvision fell back, pads found {cw}x{ch}");
                assert_eq!((cw, ch), (want[2], want[3]), "{w}x{h}, tries {tries:?}");
                // The offsets are uniform draws; torchvision's lie in pads' range.
                assert!(want[0] <= w - cw && want[1] <= h - ch);
            }
            None => {
                assert!(d["fallback"].as_bool().unwrap(), "{w}x{h}: pads fell back, torchvision did not");
                assert_eq!(fallback_crop(w, h), (want[0], want[1], want[2], want[3]), "{w}x{h} fallback");
                fallbacks += 1;
            }
        }
    }
    assert!(fallbacks >= 4 && fallbacks < draws.len(), "the fixture covers both paths ({fallbacks} fallbacks)");
}

#[test]
fn center_crop_offsets_and_resize_sizes_follow_torchvision() {
    let c = cases();
    for o in c["center_offsets"].as_array().unwrap() {
        assert_eq!(center_offset(u(&o[0]), u(&o[1])), u(&o[2]), "CenterCrop({}) of {}", o[1], o[0]);
    }
    for r in c["resize_sizes"].as_array().unwrap() {
        assert_eq!(resized_size(u(&r[0]), u(&r[1]), u(&r[2])), (u(&r[3]), u(&r[4])), "Resize({}) of {}x{}", r[2], r[0], r[1]);
    }
}

#[test]
fn training_pixels_are_the_drawn_box_resized_then_maybe_flipped() {
    let img = load_rgb(&dir().join("rgb.png")).unwrap();
    let t = Transform::new(20, Mode::Train);
    let mut flips = 0;
    for seed in 0..16 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut replay = rng.clone();
        let got = t.pixels(&img, &mut rng);
        let (x, y, w, h) = random_resized_crop_box(img.width(), img.height(), &mut replay);
        let mut want = resize_box(&img, Rect { x, y, w, h }, 20, 20, Rect { x: 0, y: 0, w: 20, h: 20 });
        if rand::Rng::gen_bool(&mut replay, 0.5) {
            image::imageops::flip_horizontal_in_place(&mut want);
            flips += 1;
        }
        assert_eq!(got, want, "seed {seed}");
    }
    assert!(flips > 0 && flips < 16);
}

#[test]
fn fused_normalisation_matches_the_formula_in_both_channel_orders() {
    let img = load_rgb(&dir().join("wide.jpg")).unwrap();
    for norm in [Normalization::IMAGENET, Normalization { mean: [0.502, 0.4588, 0.4078], std: [0.0039; 3], bgr: true }] {
        let t = Transform::new(24, Mode::Train).with_normalization(norm);
        let px = t.pixels(&img, &mut ChaCha8Rng::seed_from_u64(3));
        let out = t.apply(&img, &mut ChaCha8Rng::seed_from_u64(3));
        for (i, p) in px.pixels().enumerate() {
            for c in 0..3 {
                let plane = if norm.bgr { 2 - c } else { c };
                let want = (p[c] as f32 / 255.0 - norm.mean[c]) / norm.std[c];
                assert_eq!(out[plane * 576 + i], want, "pixel {i} channel {c} bgr {}", norm.bgr);
            }
        }
    }
}
