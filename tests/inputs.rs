//! Issue 14: bad inputs (images, embeddings, labels, weights files, info files, options)
//! never give a silently wrong number: each is refused with a message naming the input, or
//! handled by a documented rule with a warning.
mod common;
use common::pads_bin;
use pads::eval::{evaluate, EvalOptions, KMEANS_SEED};
use std::path::Path;
use tch::Tensor;

/// (success, exit code, stdout, stderr)
fn pads(args: &[&str]) -> (bool, i32, String, String) {
    let out = std::process::Command::new(pads_bin()).args(args).output().unwrap();
    (out.status.success(), out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn write_f32(path: &Path, rows: &[[f32; 2]]) {
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    Tensor::from_slice(&flat).view([rows.len() as i64, 2]).write_npy(path).unwrap();
}

fn write_labels(path: &Path, labels: &[i64]) {
    Tensor::from_slice(labels).write_npy(path).unwrap();
}

/// `pads metrics --json` on the given files (extra args appended).
fn metrics_json(e: &Path, l: &Path, extra: &[&str]) -> (serde_json::Value, String) {
    let mut args = vec!["metrics", "--embeddings", s(e), "--labels", s(l), "--json"];
    args.extend_from_slice(extra);
    let (ok, code, out, err) = pads(&args);
    assert!(ok, "exit {code}: {err}");
    (serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}")), err)
}

// ---------------------------------------------------------------- embeddings and labels

#[test]
fn nan_or_inf_embeddings_name_the_file_first_row_and_count() {
    let tmp = tempfile::tempdir().unwrap();
    let l = tmp.path().join("l.npy");
    write_labels(&l, &[0, 0, 1, 1, 2, 2]);
    for (name, bad) in [("nan.npy", f32::NAN), ("inf.npy", f32::INFINITY), ("neginf.npy", f32::NEG_INFINITY)] {
        let e = tmp.path().join(name);
        write_f32(&e, &[[0.0, 1.0], [0.1, 1.0], [1.0, 0.0], [bad, 0.0], [0.0, -1.0], [0.0, bad]]);
        let (ok, code, _, err) = pads(&["metrics", "--embeddings", s(&e), "--labels", s(&l)]);
        assert!(!ok && code == 1, "no panic (101), a clear error: {code} {err}");
        assert!(err.contains(name) && err.contains("row 3") && err.contains("2 of 6 rows"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    // Finite values whose squared norm overflows float32 (distances would be Inf): refused too.
    let e = tmp.path().join("huge.npy");
    write_f32(&e, &[[0.0, 1.0], [3e20, 1.0], [1.0, 0.0], [1.0, 0.1], [0.0, -1.0], [0.1, -1.0]]);
    let (ok, _, _, err) = pads(&["metrics", "--embeddings", s(&e), "--labels", s(&l), "--no-normalize"]);
    assert!(!ok && err.contains("huge.npy") && err.contains("row 1") && err.contains("overflows"), "{err}");
    // The library refuses the same rows for every caller (pads eval, training evaluation).
    let t = Tensor::from_slice(&[0.0f32, f32::NAN, 1.0, 2.0]).view([2, 2]);
    let err = format!("{:#}", evaluate(&t, &[0, 0], &EvalOptions::new(vec![1])).unwrap_err());
    assert!(err.contains("row 0") && err.contains("1 of 2 rows"), "{err}");
}

#[test]
fn embedding_shapes_other_than_n_by_d_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let l = tmp.path().join("l.npy");
    write_labels(&l, &[0, 0, 1, 1]);
    let cases: Vec<(&str, Tensor, &str)> = vec![
        ("flat.npy", Tensor::from_slice(&[0.0f32, 1.0, 2.0, 3.0]), "2-D"),
        ("cube.npy", Tensor::zeros([4, 2, 2], (tch::Kind::Float, tch::Device::Cpu)), "2-D"),
        ("nodim.npy", Tensor::zeros([4, 0], (tch::Kind::Float, tch::Device::Cpu)), "0 columns"),
    ];
    for (name, t, want) in cases {
        let e = tmp.path().join(name);
        t.write_npy(&e).unwrap();
        let (ok, code, _, err) = pads(&["metrics", "--embeddings", s(&e), "--labels", s(&l)]);
        assert!(!ok && code == 1 && err.contains(name) && err.contains(want), "{name}: {err}");
    }
    let (e1, l1) = (tmp.path().join("e1.npy"), tmp.path().join("l1.npy"));
    write_f32(&e1, &[[1.0, 0.0]]);
    write_labels(&l1, &[0]);
    let (ok, _, _, err) = pads(&["metrics", "--embeddings", s(&e1), "--labels", s(&l1)]);
    assert!(!ok && err.contains("at least 2 embeddings"), "{err}");
}

#[test]
fn labels_must_be_integral_and_one_per_row() {
    let tmp = tempfile::tempdir().unwrap();
    let e = tmp.path().join("e.npy");
    write_f32(&e, &[[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [-1.0, 0.0], [-0.9, -0.1]]);
    let ints = tmp.path().join("ints.npy");
    write_labels(&ints, &[3, 3, 5, 5, 9, 9]);
    let (want, _) = metrics_json(&e, &ints, &[]);
    // Integral floats are class ids: accepted, same numbers.
    let floats = tmp.path().join("floats.npy");
    Tensor::from_slice(&[3.0f64, 3.0, 5.0, 5.0, 9.0, 9.0]).write_npy(&floats).unwrap();
    let (got, _) = metrics_json(&e, &floats, &[]);
    assert_eq!(got, want);
    // Other integer widths too.
    let small = tmp.path().join("u8.npy");
    Tensor::from_slice(&[3u8, 3, 5, 5, 9, 9]).write_npy(&small).unwrap();
    assert_eq!(metrics_json(&e, &small, &[]).0, want);
    // A non-integral float is refused (it used to be truncated, merging classes 0.2 and 0.7).
    let frac = tmp.path().join("frac.npy");
    Tensor::from_slice(&[0.2f32, 0.2, 0.7, 0.7, 1.0, 1.0]).write_npy(&frac).unwrap();
    let (ok, _, _, err) = pads(&["metrics", "--embeddings", s(&e), "--labels", s(&frac)]);
    assert!(!ok && err.contains("frac.npy") && err.contains("index 0") && err.contains("integers"), "{err}");
    // Another length than the embeddings.
    let short = tmp.path().join("short.npy");
    write_labels(&short, &[3, 3, 5, 5, 9]);
    let (ok, _, _, err) = pads(&["metrics", "--embeddings", s(&e), "--labels", s(&short)]);
    assert!(!ok && err.contains("short.npy") && err.contains("5 labels") && err.contains("6 rows"), "{err}");
    // A 2-D label array that is not [N, 1].
    let wide = tmp.path().join("wide.npy");
    Tensor::from_slice(&[0i64; 12]).view([6, 2]).write_npy(&wide).unwrap();
    let (ok, _, _, err) = pads(&["metrics", "--embeddings", s(&e), "--labels", s(&wide)]);
    assert!(!ok && err.contains("wide.npy") && err.contains("1-D"), "{err}");
    // Unsigned labels (uint64, as numpy writes them) are class ids too: same numbers.
    let u64_file = tmp.path().join("u64.npy");
    let mut bytes = std::fs::read(&ints).unwrap();
    let at = bytes.windows(3).position(|w| w == b"<i8").unwrap();
    bytes[at + 1] = b'u';
    std::fs::write(&u64_file, &bytes).unwrap();
    assert_eq!(metrics_json(&e, &u64_file, &[]).0, want);
    // A dtype pads cannot read (complex) names the file and what it reads.
    bytes[at + 1] = b'c';
    let c8_file = tmp.path().join("c8.npy");
    std::fs::write(&c8_file, &bytes).unwrap();
    let (ok, code, _, err) = pads(&["metrics", "--embeddings", s(&e), "--labels", s(&c8_file)]);
    assert!(!ok && code == 1 && err.contains("c8.npy") && err.contains("integer"), "{err}");
}

#[test]
fn k_zero_is_refused_and_k_beyond_the_set_is_capped_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let e = tmp.path().join("e.npy");
    let l = tmp.path().join("l.npy");
    // On a line: 0, 1, 2, 10, 11, 30 with labels 0 0 1 1 0 1.
    write_f32(&e, &[[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [10.0, 0.0], [11.0, 0.0], [30.0, 0.0]]);
    write_labels(&l, &[0, 0, 1, 1, 0, 1]);
    let (ok, _, _, err) = pads(&["metrics", "--embeddings", s(&e), "--labels", s(&l), "--k", "0,1"]);
    assert!(!ok && err.contains("k must be at least 1"), "{err}");
    let (v, err) = metrics_json(&e, &l, &["--k", "1,5,50", "--no-normalize"]);
    // recall@1 by hand: 0->1 hit, 1->0 hit, 2->1 miss, 3->4 miss, 4->3 miss, 5->4 miss.
    assert!((v["recall@1"].as_f64().unwrap() - 2.0 / 6.0).abs() < 1e-12, "{v}");
    // k = 5 = N - 1 retrieves everything: every query has a same-class item somewhere.
    assert_eq!(v["recall@5"], 1.0);
    assert_eq!(v["recall@50"], v["recall@5"]);
    assert!(err.contains("recall@50") && err.contains("only 5 other items"), "{err}");
    assert!(!err.contains("recall@5:"), "k = N - 1 is not capped: {err}");
    // The same rule for training's --k-vals (library check).
    let t = Tensor::from_slice(&[0.0f32, 1.0, 2.0, 3.0]).view([2, 2]);
    assert!(format!("{:#}", evaluate(&t, &[0, 0], &EvalOptions::new(vec![0])).unwrap_err()).contains("at least 1"));
}

#[test]
fn undefined_metrics_are_undefined_not_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let e = tmp.path().join("e.npy");
    write_f32(&e, &[[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]);
    // Every class a singleton: no query has a same-class item.
    let l = tmp.path().join("single.npy");
    write_labels(&l, &[0, 1, 2, 3]);
    let (v, err) = metrics_json(&e, &l, &["--k", "1,2"]);
    for key in ["recall@1", "recall@2", "map@r", "nmi", "f1", "intra"] {
        assert!(v[key].is_null(), "{key} must be null: {v}");
    }
    assert!(v["inter"].is_number(), "{v}");
    assert!(err.contains("no item has another item of its class"), "{err}");
    let (ok, _, out, _) = pads(&["metrics", "--embeddings", s(&e), "--labels", s(&l)]);
    assert!(ok && out.contains("recall@1  undefined") && out.contains("nmi  undefined") && out.contains("map@r  undefined"), "{out}");
    // Query/gallery with no query label in the gallery: undefined too (null / `undefined`),
    // with a warning, not an error and not a number.
    let gl = tmp.path().join("other.npy");
    write_labels(&gl, &[5, 6, 7, 8]);
    let ge = tmp.path().join("gallery.npy");
    std::fs::copy(&e, &ge).unwrap();
    let qg = ["metrics", "--query-embeddings", s(&e), "--query-labels", s(&l), "--gallery-embeddings", s(&ge), "--gallery-labels", s(&gl), "--k", "1"];
    let (ok, _, out, err) = pads(&[&qg[..], &["--json"]].concat());
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(ok && v["recall@1"].is_null() && v["map@r"].is_null() && v["lone_queries"] == 4, "{out}");
    assert!(err.contains("none of the 4 queries has a same-label item"), "{err}");
    let (ok, _, out, _) = pads(&qg);
    assert!(ok && out.contains("recall@1  undefined") && out.contains("map@r  undefined"), "{out}");
    // One class: NMI, F1 and the class separation are undefined; recall is 1.
    let one = tmp.path().join("one.npy");
    write_labels(&one, &[7, 7, 7, 7]);
    let (v, err) = metrics_json(&e, &one, &["--k", "1"]);
    assert_eq!(v["recall@1"], 1.0);
    assert!(v["nmi"].is_null() && v["f1"].is_null() && v["inter"].is_null(), "{v}");
    assert!(err.contains("one class"), "{err}");
}

#[test]
fn lone_queries_are_misses_by_default_or_left_out_with_a_warning() {
    // Labels 0 0 1 1 2: item 4 is alone in class 2. On a line 0, 1, 5, 6, 1.4.
    let e = Tensor::from_slice(&[0.0f32, 0.0, 1.0, 0.0, 5.0, 0.0, 6.0, 0.0, 1.4, 0.0]).view([5, 2]);
    let labels = [0i64, 0, 1, 1, 2];
    let mut opts = EvalOptions::new(vec![1]);
    opts.normalize = false;
    // Queries 0..3: 0->1 hit, 1->4 miss (1.4 is nearer than 0), 2->3 hit, 3->2 hit; query 4
    // can never hit. The original's rule (the default): 3/5.
    let m = evaluate(&e, &labels, &opts).unwrap();
    assert_eq!(m.recall, vec![(1, Some(0.6))]);
    assert!(m.warnings.iter().any(|w| w.contains("counts them as misses")), "{:?}", m.warnings);
    // skip_lone_queries (pytorch-metric-learning's rule): 3/4.
    opts.skip_lone_queries = true;
    let m = evaluate(&e, &labels, &opts).unwrap();
    assert_eq!(m.recall, vec![(1, Some(0.75))]);
    assert_eq!(m.lone_queries, 1);
    // mAP@R: R = 1 for each of the 4: 1, 0, 1, 1.
    assert_eq!(m.map_at_r, Some(0.75));
    assert!(m.warnings.iter().any(|w| w.contains("1 of 5 items are the only item of their class")), "{:?}", m.warnings);
    assert!(m.nmi.is_some() && m.f1.is_some());
}

#[test]
fn rows_are_l2_normalised_by_default_and_raw_with_no_normalize() {
    let tmp = tempfile::tempdir().unwrap();
    // A, B point the same way (class 0), C, D the same way (class 1), at different lengths.
    let raw = [[1.0f32, 0.0], [3.0, 0.2], [1.2, 0.9], [2.4, 1.8]];
    let e = tmp.path().join("raw.npy");
    write_f32(&e, &raw);
    let l = tmp.path().join("l.npy");
    write_labels(&l, &[0, 0, 1, 1]);
    let (v, err) = metrics_json(&e, &l, &["--k", "1"]);
    // As unit vectors A ~ B and C = D: every nearest neighbour is of the same class.
    assert_eq!(v["recall@1"], 1.0);
    assert!(err.contains("3 of 4 rows were not unit-norm") && err.contains("--no-normalize"), "{err}");
    // Raw distances, by hand: A->C, B->D, C->A miss; D->C hit.
    let (v, err) = metrics_json(&e, &l, &["--k", "1", "--no-normalize"]);
    assert_eq!(v["recall@1"], 0.25);
    assert!(!err.contains("unit-norm"), "{err}");
    // Pre-normalised rows (independent arithmetic) give the default's numbers, with no note.
    let unit: Vec<[f32; 2]> = raw.iter().map(|r| {
        let n = (r[0] * r[0] + r[1] * r[1]).sqrt();
        [r[0] / n, r[1] / n]
    }).collect();
    let u = tmp.path().join("unit.npy");
    write_f32(&u, &unit);
    let (vu, err) = metrics_json(&u, &l, &["--k", "1"]);
    assert!(!err.contains("unit-norm"), "{err}");
    for key in ["recall@1", "nmi", "f1", "map@r"] {
        assert_eq!(vu[key], v_default(&e, &l)[key], "{key}");
    }
    // An all-zero row has no direction.
    let z = tmp.path().join("zero.npy");
    write_f32(&z, &[[1.0, 0.0], [0.0, 0.0], [0.0, 1.0], [0.0, 2.0]]);
    let (ok, _, _, err) = pads(&["metrics", "--embeddings", s(&z), "--labels", s(&l)]);
    assert!(!ok && err.contains("zero.npy") && err.contains("row 1") && err.contains("all zeros"), "{err}");
    // The library function a binding would call: normalize on/off.
    let t = Tensor::from_slice(&raw.iter().flatten().copied().collect::<Vec<f32>>()).view([4, 2]);
    let mut opts = EvalOptions::new(vec![1]);
    opts.normalize = true;
    assert_eq!(evaluate(&t, &[0, 0, 1, 1], &opts).unwrap().rows_normalized, 3);
    opts.normalize = false;
    assert_eq!(evaluate(&t, &[0, 0, 1, 1], &opts).unwrap().recall, vec![(1, Some(0.25))]);
}

fn v_default(e: &Path, l: &Path) -> serde_json::Value {
    metrics_json(e, l, &["--k", "1"]).0
}

#[test]
fn one_kmeans_seed_rule_for_metrics_and_eval() {
    let tmp = tempfile::tempdir().unwrap();
    // Overlapping random blobs: NMI depends on the k-means seed.
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let vals: Vec<f32> = (0..120 * 8).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
    let g = Tensor::from_slice(&vals).view([120, 8]);
    let labels: Vec<i64> = (0..120).map(|i| i % 6).collect();
    let e = tmp.path().join("e.npy");
    let g = crate_normalize(&g);
    g.write_npy(&e).unwrap();
    let l = tmp.path().join("l.npy");
    write_labels(&l, &labels);
    let (cli, _) = metrics_json(&e, &l, &[]);
    // The library default (what training and `pads eval` use) is the same seed.
    let lib = evaluate(&g, &labels, &EvalOptions::new(vec![1, 2, 4, 8])).unwrap();
    assert_eq!(EvalOptions::new(vec![1]).seed, KMEANS_SEED);
    assert_eq!(cli["nmi"].as_f64().unwrap(), lib.nmi.unwrap());
    assert_eq!(cli["f1"].as_f64().unwrap(), lib.f1.unwrap());
    // And the seed matters on this set, so the agreement above is not trivial.
    let nmis: Vec<f64> = (0..6u64).map(|s| {
        let mut o = EvalOptions::new(vec![1]);
        o.seed = s;
        evaluate(&g, &labels, &o).unwrap().nmi.unwrap()
    }).collect();
    assert!(nmis.iter().any(|&x| x != nmis[0]), "{nmis:?}");
}

fn crate_normalize(t: &Tensor) -> Tensor {
    pads::ops::l2_normalize(t)
}

// ---------------------------------------------------------------- images

/// The issue's fixture: a 200 x 200 random RGB JPEG at quality 95 (seeded).
fn random_jpeg(seed: u64) -> Vec<u8> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let img = image::RgbImage::from_fn(200, 200, |_, _| image::Rgb([rng.gen(), rng.gen(), rng.gen()]));
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 95).encode_image(&img).unwrap();
    bytes
}

fn png_bytes(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 7) as u8, (y * 5) as u8, 90]));
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(img).write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
    bytes
}

#[test]
fn truncated_jpeg_and_png_are_refused_as_pil_refuses_them() {
    use pads::data::transform::load_rgb;
    let tmp = tempfile::tempdir().unwrap();
    let full = random_jpeg(1);
    let whole = tmp.path().join("whole.jpg");
    std::fs::write(&whole, &full).unwrap();
    assert_eq!(load_rgb(&whole).unwrap().dimensions(), (200, 200));
    let half = tmp.path().join("half.jpg");
    std::fs::write(&half, &full[..full.len() / 2]).unwrap();
    let err = format!("{:#}", load_rgb(&half).unwrap_err());
    assert!(err.contains("half.jpg") && err.contains("truncated JPEG"), "{err}");
    // Cut anywhere in the scan, even 2 bytes before the end: still refused.
    for keep in [full.len() * 9 / 10, full.len() - 2] {
        let p = tmp.path().join(format!("cut{keep}.jpg"));
        std::fs::write(&p, &full[..keep]).unwrap();
        assert!(format!("{:#}", load_rgb(&p).unwrap_err()).contains("truncated JPEG"));
    }
    // Bytes after the end marker (camera trailers) are fine.
    let trailer = tmp.path().join("trailer.jpg");
    std::fs::write(&trailer, [full.as_slice(), b"\0\0trailer"].concat()).unwrap();
    assert!(load_rgb(&trailer).is_ok());
    // An EXIF-style thumbnail (a complete JPEG with its own end marker) inside APP1 does not
    // hide the truncation of the main image.
    let thumb = {
        let img = image::RgbImage::from_pixel(8, 8, image::Rgb([10, 20, 30]));
        let mut b = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut b, 90).encode_image(&img).unwrap();
        b
    };
    let mut app1 = vec![0xFF, 0xE1];
    let payload = [b"Exif\0\0".as_slice(), thumb.as_slice()].concat();
    app1.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    app1.extend_from_slice(&payload);
    let with_thumb = [&full[..2], app1.as_slice(), &full[2..]].concat();
    let t_full = tmp.path().join("thumb_full.jpg");
    std::fs::write(&t_full, &with_thumb).unwrap();
    assert_eq!(load_rgb(&t_full).unwrap().dimensions(), (200, 200));
    let t_cut = tmp.path().join("thumb_cut.jpg");
    std::fs::write(&t_cut, &with_thumb[..with_thumb.len() * 3 / 4]).unwrap();
    assert!(format!("{:#}", load_rgb(&t_cut).unwrap_err()).contains("truncated JPEG"));
    // PNG: cut in half, and cut just before the IEND chunk (all pixel data present).
    let png = png_bytes(40, 30);
    let p_half = tmp.path().join("half.png");
    std::fs::write(&p_half, &png[..png.len() / 2]).unwrap();
    let err = format!("{:#}", load_rgb(&p_half).unwrap_err());
    assert!(err.contains("half.png"), "{err}");
    let p_noend = tmp.path().join("noend.png");
    std::fs::write(&p_noend, &png[..png.len() - 12]).unwrap();
    let err = format!("{:#}", load_rgb(&p_noend).unwrap_err());
    assert!(err.contains("noend.png") && err.contains("truncated PNG"), "{err}");
    // Independent check: PIL refuses the same files and accepts the good ones.
    common::run_python(
        "import sys\nfrom PIL import Image\nfor p, ok in zip(sys.argv[1::2], sys.argv[2::2]):\n    try:\n        Image.open(p).load(); got = True\n    except OSError:\n        got = False\n    assert got == (ok == '1'), (p, got)\n",
        &[s(&whole), "1", s(&half), "0", s(&trailer), "1", s(&t_full), "1", s(&t_cut), "0", s(&p_half), "0"],
    );
}

/// A small synthetic dataset at `root` (6 classes: 3 train, 3 test; 10 images each, 16 px).
fn tiny_synthetic(root: &Path) -> Vec<std::path::PathBuf> {
    pads::data::synth::generate(&root.join("synthetic"), &pads::data::synth::SynthOptions { classes: 6, per_class: 10, image_size: 16, seed: 0 }).unwrap();
    let mut files: Vec<_> = walk(&root.join("synthetic/images"));
    files.sort();
    files
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn truncate_file(p: &Path) {
    let b = std::fs::read(p).unwrap();
    std::fs::write(p, &b[..b.len() / 2]).unwrap();
}

#[test]
fn data_check_decodes_every_split_and_fails_when_training_would() {
    let tmp = tempfile::tempdir().unwrap();
    let files = tiny_synthetic(tmp.path());
    let (train_file, test_file) = (files[3].clone(), files[45].clone());
    truncate_file(&train_file);
    truncate_file(&test_file);
    let base = ["data", "check", "--dataset", "synthetic", "--data-root", s(tmp.path()), "--train-val-split", "0.8", "--bs", "8", "--samples-per-class", "2", "--sampling", "distance", "--k-vals", "1,2"];
    let (ok, code, out, err) = pads(&base);
    assert!(!ok && code == 1, "exit {code}: {out} {err}");
    assert!(out.contains(s(&train_file)) && out.contains(s(&test_file)), "every bad image with its path:\n{out}");
    assert!(out.contains("images that do not decode: 2") && out.contains("truncated PNG"), "{out}");
    assert!(err.contains("training with these options would stop"), "{err}");
    // A quick look without decoding does not see them (and says so).
    let (ok, _, out, err) = pads(&[&base[..], &["--no-decode"]].concat());
    assert!(ok && out.contains("not decoded"), "{out} {err}");
    // With --skip-bad-images training would go on: the report says what happens to each.
    let (ok, _, out, err) = pads(&[&base[..], &["--skip-bad-images", "--json"]].concat());
    assert!(ok, "{out} {err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let bad = v["bad_images"].as_array().unwrap();
    assert_eq!(bad.len(), 2);
    // The first (a training-pool class) landed in train or val; training replaces, evaluation drops.
    let first = (bad[0]["split"].as_str().unwrap(), bad[0]["action"].as_str().unwrap());
    assert!(first == ("train", "replaced") || first == ("val", "dropped"), "{first:?}");
    assert_eq!((bad[1]["split"].as_str(), bad[1]["action"].as_str()), (Some("test"), Some("dropped")));
    assert_eq!(bad[1]["path"].as_str(), Some(s(&test_file)));
    // The table says how many images each split has and how many evaluation uses after the
    // drop (the test split loses the bad one; training replaces its own instead).
    let test_row = v["splits"].as_array().unwrap().iter().find(|r| r["name"] == "test").unwrap().clone();
    assert_eq!(test_row["used_images"].as_u64().unwrap() + 1, test_row["images"].as_u64().unwrap(), "{test_row}");
    let (ok, _, out, _) = pads(&[&base[..], &["--skip-bad-images"]].concat());
    assert!(ok && out.lines().next().is_some() && out.contains("used"), "{out}");
    // A class smaller than --samples-per-class used to print a problem and exit 0.
    let (ok, code, out, _) = pads(&["data", "check", "--dataset", "synthetic", "--data-root", s(tmp.path()), "--train-val-split", "0.8", "--bs", "32", "--samples-per-class", "16", "--batch-without-replacement", "--no-decode"]);
    assert!(!ok && code == 1 && out.contains("fewer than --samples-per-class"), "{out}");
}

#[test]
fn replaced_training_images_are_warned_once() {
    use pads::data::loader::ImageStore;
    use pads::data::{Item, Split};
    let tmp = tempfile::tempdir().unwrap();
    let files = tiny_synthetic(tmp.path());
    truncate_file(&files[1]);
    let split = Split { classes: vec!["a".into()], items: files[..4].iter().map(|p| Item { path: p.clone(), label: 0 }).collect() };
    let store = ImageStore::new(split, false, true);
    for _ in 0..3 {
        store.get(1).unwrap();
    }
    let w = store.take_warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains(s(&files[1])));
    assert_eq!(store.bad_images(), 1);
    store.get(1).unwrap();
    assert!(store.take_warnings().is_empty());
}

fn tiny_run_args(root: &Path, out: &Path) -> Vec<String> {
    ["train", "--out", s(out), "--dataset", "synthetic", "--data-root", s(root), "--arch", "small", "--image-size", "16", "--embed-dim", "8", "--bs", "8", "--samples-per-class", "2", "--n-epochs", "1", "--sampling", "distance", "--loss", "triplet", "--seed", "0", "--train-val-split", "0.8", "--k-vals", "1,2", "--quiet"]
        .iter()
        .map(|x| x.to_string())
        .collect()
}

#[test]
fn skip_bad_images_drops_evaluation_images_before_training_and_counts_them() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    let files = tiny_synthetic(&root);
    // files[30..60] are the 3 test classes; one test image truncated, one val/train candidate too.
    let bad_test = files[45].clone();
    truncate_file(&bad_test);
    let out = tmp.path().join("run");
    let args = tiny_run_args(&root, &out);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    // Without the flag the run stops before training, naming the file.
    let (ok, _, _, err) = pads(&a);
    assert!(!ok && err.contains(s(&bad_test)) && err.contains("test split") && err.contains("--skip-bad-images"), "{err}");
    assert!(!out.join("metrics.csv").exists(), "stopped before the first epoch");
    // With it, the image is dropped from the test split (29 images evaluated), warned once,
    // counted in summary.json and skipped_images.csv, and shown in report.html.
    let out2 = tmp.path().join("run2");
    let args = tiny_run_args(&root, &out2);
    let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
    a.push("--skip-bad-images");
    let (ok, _, _, err) = pads(&a);
    assert!(ok, "{err}");
    assert_eq!(err.matches("dropped from the test split").count(), 1, "{err}");
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out2.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["skipped_images"]["test_dropped"], 1, "{summary}");
    let csv = std::fs::read_to_string(out2.join("skipped_images.csv")).unwrap();
    assert!(csv.contains("test,dropped,") && csv.contains(s(&bad_test)), "{csv}");
    let html = std::fs::read_to_string(out2.join("report.html")).unwrap();
    assert!(html.contains("Skipped images (1)") && html.contains("dropped from test 1"), "report.html shows the skip");
    // The evaluated split really lacks it: `pads embed` of the test split writes 29 rows, no stand-in.
    let emb = tmp.path().join("emb");
    let (ok, _, _, err) = pads(&["embed", "--run", s(&out2), "--out", s(&emb), "--quiet"]);
    assert!(ok, "{err}");
    let paths = std::fs::read_to_string(emb.join("paths.txt")).unwrap();
    assert_eq!(paths.lines().count(), 29);
    assert!(!paths.contains(s(&bad_test)));
    // `pads eval` reads the same split the same way.
    let (ok, _, out, err) = pads(&["eval", "--run", s(&out2), "--json", "--quiet"]);
    assert!(ok && out.contains("recall@1"), "{err}");
    assert!(err.contains("dropped from the test split"), "{err}");
}

#[test]
fn data_resize_copies_truncated_images_unchanged() {
    use pads::data::resize::{resize_tree, ResizeOptions};
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    std::fs::create_dir_all(src.join("a")).unwrap();
    let full = random_jpeg(2);
    std::fs::write(src.join("a/good.jpg"), &full).unwrap();
    std::fs::write(src.join("a/half.jpg"), &full[..full.len() / 2]).unwrap();
    let png = png_bytes(200, 200);
    std::fs::write(src.join("a/half.png"), &png[..png.len() - 12]).unwrap();
    let r = resize_tree(&src, &dst, &ResizeOptions { shorter_side: 100, ..Default::default() }).unwrap();
    assert_eq!(r.resized, 1, "{r:?}");
    assert_eq!(r.copied, 2, "{r:?}");
    assert_eq!(r.undecodable, vec![src.join("a/half.jpg"), src.join("a/half.png")]);
    assert_eq!(std::fs::read(dst.join("a/half.jpg")).unwrap(), &full[..full.len() / 2]);
}

// ---------------------------------------------------------------- weights files

#[test]
fn checkpoint_wrapped_and_data_parallel_weights_are_unwrapped() {
    use pads::model::import::{load_pretrained, read_state_dict};
    let tmp = tempfile::tempdir().unwrap();
    // Small files for every container, and one full torchvision ResNet50 saved as a
    // DataParallel training checkpoint, loaded into pads' ResNet50.
    common::run_python(
        r#"
import sys, torch, torchvision
from safetensors.torch import save_file
out = sys.argv[1]
sd = {"conv1.weight": torch.arange(6.0).reshape(2, 3), "bn1.bias": torch.tensor([1.0, 2.0])}
torch.save(sd, out + "/plain.pth")
torch.save({"state_dict": sd, "epoch": 3}, out + "/state_dict.pth")
torch.save({"model_state_dict": sd, "optimizer_state_dict": {}, "epoch": 3}, out + "/model_state_dict.pth")
torch.save({"model": sd, "args": "x"}, out + "/model.pth")
torch.save({"module." + k: v for k, v in sd.items()}, out + "/dp.pth")
save_file({"module." + k: v.contiguous() for k, v in sd.items()}, out + "/dp.safetensors")
torch.save({"net": sd, "epoch": 3}, out + "/unknown.pth")
torch.manual_seed(0)
m = torchvision.models.resnet50(weights=None)
torch.save(m.state_dict(), out + "/resnet50.pth")
torch.save({"state_dict": {"module." + k: v for k, v in m.state_dict().items()}, "epoch": 3}, out + "/resnet50_ckpt.pth")
"#,
        &[s(tmp.path())],
    );
    let plain = read_state_dict(&tmp.path().join("plain.pth")).unwrap();
    assert_eq!(plain.len(), 2);
    for f in ["state_dict.pth", "model_state_dict.pth", "model.pth", "dp.pth", "dp.safetensors"] {
        let got = read_state_dict(&tmp.path().join(f)).unwrap_or_else(|e| panic!("{f}: {e:#}"));
        let mut names: Vec<_> = got.keys().cloned().collect();
        names.sort();
        assert_eq!(names, vec!["bn1.bias".to_string(), "conv1.weight".to_string()], "{f}");
        assert!(got["conv1.weight"].equal(&plain["conv1.weight"]), "{f}");
    }
    // An unknown container: the entries found and what was expected.
    let err = format!("{:#}", read_state_dict(&tmp.path().join("unknown.pth")).unwrap_err());
    assert!(err.contains("unknown.pth") && err.contains("net (dict)") && err.contains("epoch (int)") && err.contains("\"state_dict\""), "{err}");
    // The full network: the checkpoint gives exactly the plain file's weights.
    let load = |f: &str| {
        let mut vs = tch::nn::VarStore::new(tch::Device::Cpu);
        let _m = pads::model::EmbeddingNet::new(&vs.root(), pads::options::Arch::Resnet50, 16);
        load_pretrained(&mut vs, &tmp.path().join(f)).unwrap_or_else(|e| panic!("{f}: {e:#}"));
        vs
    };
    let (a, b) = (load("resnet50.pth"), load("resnet50_ckpt.pth"));
    let (va, vb) = (a.variables(), b.variables());
    for name in ["conv1.weight", "layer4.2.bn3.running_var", "layer2.1.conv2.weight"] {
        assert!(va[name].equal(&vb[name]), "{name}");
    }
}

// ---------------------------------------------------------------- info files and options

fn sop_tree(root: &Path, train_lines: &[&str], test_lines: &[&str], bom: bool) {
    let images = root.join("online_products/images");
    let info = root.join("online_products/Info_Files");
    std::fs::create_dir_all(&info).unwrap();
    for l in train_lines.iter().chain(test_lines) {
        let rel = l.split_whitespace().nth(3).unwrap();
        std::fs::create_dir_all(images.join(rel).parent().unwrap()).unwrap();
        std::fs::write(images.join(rel), png_bytes(8, 8)).unwrap();
    }
    let header = if bom { "\u{feff}image_id class_id super_class_id path\n" } else { "image_id class_id super_class_id path\n" };
    std::fs::write(info.join("Ebay_train.txt"), format!("{header}{}\n", train_lines.join("\n"))).unwrap();
    std::fs::write(info.join("Ebay_test.txt"), format!("{header}{}\n", test_lines.join("\n"))).unwrap();
}

fn sop_cfg(root: &Path) -> pads::config::RunConfig {
    pads::config::RunConfig { dataset: pads::options::DatasetKind::OnlineProducts, data_root: root.to_path_buf(), ..Default::default() }
}

#[test]
fn sop_info_files_with_bom_and_duplicates() {
    use pads::data::layout::load_layout;
    let train = ["1 1 1 a/a0.JPG", "2 1 1 a/a1.JPG", "3 2 1 b/b0.JPG", "4 2 1 b/b1.JPG"];
    let test = ["5 3 2 c/c0.JPG", "6 3 2 c/c1.JPG"];
    // A UTF-8 byte-order mark before the header is accepted, same splits as without.
    let tmp = tempfile::tempdir().unwrap();
    sop_tree(tmp.path(), &train, &test, true);
    let l = load_layout(&sop_cfg(tmp.path())).unwrap();
    assert_eq!((l.train.len(), l.test.len(), l.train.classes.len()), (4, 2, 2));
    // A path listed twice with the same class is counted once (and warned).
    let tmp = tempfile::tempdir().unwrap();
    let dup: Vec<&str> = train.iter().copied().chain(["7 1 1 a/a0.JPG"]).collect();
    sop_tree(tmp.path(), &dup, &test, false);
    let l = load_layout(&sop_cfg(tmp.path())).unwrap();
    assert_eq!(l.train.len(), 4, "counted once");
    // ...with another class it is refused, naming both lines.
    let tmp = tempfile::tempdir().unwrap();
    let clash: Vec<&str> = train.iter().copied().chain(["7 2 1 a/a0.JPG"]).collect();
    sop_tree(tmp.path(), &clash, &test, false);
    let err = format!("{:#}", load_layout(&sop_cfg(tmp.path())).err().unwrap());
    assert!(err.contains("Ebay_train.txt:6") && err.contains("line 2") && err.contains("a/a0.JPG"), "{err}");
    // The same image in both splits is refused.
    let tmp = tempfile::tempdir().unwrap();
    let leak: Vec<&str> = test.iter().copied().chain(["8 3 2 a/a1.JPG"]).collect();
    sop_tree(tmp.path(), &train, &leak, false);
    let err = format!("{:#}", load_layout(&sop_cfg(tmp.path())).err().unwrap());
    assert!(err.contains("both") && err.contains("a1.JPG"), "{err}");
}

#[test]
fn options_out_of_range_are_refused_with_name_and_range() {
    use pads::config::RunConfig;
    let base = || RunConfig { dataset: pads::options::DatasetKind::Synthetic, bs: 8, samples_per_class: 2, ..RunConfig::default() };
    let err = |c: RunConfig| format!("{:#}", c.validate().unwrap_err());
    assert!(err(RunConfig { margin: -0.1, ..base() }).contains("--margin must be a number >= 0, got -0.1"));
    assert!(err(RunConfig { samples_per_class: 1, ..base() }).contains("--samples-per-class must be at least 2"));
    assert!(err(RunConfig { lr: -0.001, ..base() }).contains("--lr must be a positive number, got -0.001"));
    assert!(err(RunConfig { decay: f64::NAN, ..base() }).contains("--decay"));
    assert!(err(RunConfig { policy_reward_update_w: 1.5, ..base() }).contains("--policy-reward-update-w must be in [0, 1]"));
    // Negative numbers reach pads' own checks (clap used to answer "unexpected argument '-0'").
    for (flag, value, want) in [("--lr", "-0.001", "--lr must be a positive number, got -0.001"), ("--margin", "-0.2", "--margin must be a number >= 0, got -0.2")] {
        let (ok, _, _, e) = pads(&["train", "--out", "/nonexistent/run", flag, value]);
        assert!(!ok && e.contains(want), "{e}");
        let (ok, _, _, e) = pads(&["sweep", "--out", "/nonexistent/sweep", flag, value]);
        assert!(!ok && e.contains(want), "{e}");
    }
    let (ok, _, _, e) = pads(&["data", "check", "--lr", "-1"]);
    assert!(!ok && e.contains("--lr must be a positive number"), "{e}");
    // The demo names its own option.
    let (ok, _, _, e) = pads(&["demo", "--epochs", "0", "--data-root", "/nonexistent/data"]);
    assert!(!ok && e.contains("--epochs must be at least 1") && !e.contains("--n-epochs"), "{e}");
}

fn split_of(sizes: &[usize]) -> pads::data::Split {
    let mut s = pads::data::Split::default();
    for (c, &n) in sizes.iter().enumerate() {
        s.classes.push(format!("c{c}"));
        for i in 0..n {
            s.items.push(pads::data::Item { path: format!("c{c}/{i}.png").into(), label: c });
        }
    }
    s
}

#[test]
fn runs_that_cannot_work_are_refused_before_training() {
    use pads::config::RunConfig;
    use pads::options::Sampling;
    use pads::train::check::training_problems;
    let cfg = RunConfig { sampling: Sampling::Pads, bs: 8, samples_per_class: 2, n_epochs: 2, policy_sample_freq: 30, policy_training_delay: 0, tau: vec![5], k_vals: vec![1, 2, 4, 8], ..RunConfig::default() };
    let (train, val, mut test) = (split_of(&[8, 8, 8, 8]), split_of(&[1, 1, 1, 1]), split_of(&[5, 5]));
    // Test classes are other classes than training's (same names are flagged: tests/splits_record.rs).
    test.classes = vec!["t0".into(), "t1".into()];
    let (errors, warnings) = training_problems(&cfg, &train, Some(&val), &test, None);
    // 32 images / bs 8 = 4 batches x 2 epochs = 8 iterations < 30: PADS would never act.
    assert!(errors.iter().any(|e| e.contains("--policy-sample-freq 30 leaves no policy step in the 8 training iterations")), "{errors:?}");
    // The first step comes after iteration M + 1 (the original's counter): M = 8 of 8 never acts, M = 7 acts once.
    let edge = |m: usize| training_problems(&RunConfig { policy_sample_freq: m, ..cfg.clone() }, &train, Some(&val), &test, None).0.iter().any(|e| e.contains("leaves no policy step"));
    assert!(edge(8) && !edge(7));
    // One validation image per class: reward always 0 (warned); --tau beyond the run (warned).
    assert!(warnings.iter().any(|w| w.contains("validation split has one image per class")), "{warnings:?}");
    assert!(warnings.iter().any(|w| w.contains("--tau [5]") && w.contains("--n-epochs 2")), "{warnings:?}");
    // With a delay the policy's window shrinks too.
    let delayed = RunConfig { policy_sample_freq: 5, policy_training_delay: 2, ..cfg.clone() };
    assert!(training_problems(&delayed, &train, Some(&val), &test, None).0.iter().any(|e| e.contains("--policy-training-delay 2")));
    let fine = RunConfig { policy_sample_freq: 4, tau: vec![1], ..cfg.clone() };
    let val2 = split_of(&[2, 2, 2, 2]);
    assert_eq!(training_problems(&fine, &train, Some(&val2), &test, None), (vec![], vec![]));
    // A test split without pairs has no defined metric.
    assert!(training_problems(&fine, &train, Some(&val2), &split_of(&[1, 1, 1]), None).0.iter().any(|e| e.contains("test split has no class with two images")));
    // Lone items: the warning names the rule in force, for the test and the validation split.
    let (_, w) = training_problems(&fine, &train, Some(&split_of(&[2, 2, 1])), &split_of(&[5, 1]), None);
    assert!(w.iter().any(|w| w.starts_with("1 test image(s)") && w.contains("counted as Recall@k misses (the original's rule")), "{w:?}");
    assert!(w.iter().any(|w| w.starts_with("1 validation image(s)") && w.contains("counted as Recall@k misses")), "{w:?}");
    // A fixed sampler's validation split (--val-split-all-samplers, used by --select-on val).
    let fixed = RunConfig { sampling: Sampling::Distance, ..fine.clone() };
    let (_, w) = training_problems(&fixed, &train, Some(&split_of(&[2, 2, 1])), &split_of(&[5, 5]), None);
    assert!(w.iter().any(|w| w.starts_with("1 validation image(s)") && w.contains("validation metrics (--select-on val)")), "{w:?}");
    let skip = RunConfig { skip_lone_queries: true, ..fine.clone() };
    let (_, w) = training_problems(&skip, &train, Some(&split_of(&[2, 2, 1])), &split_of(&[5, 1]), None);
    assert!(w.iter().filter(|w| w.contains("left out of Recall@k (--skip-lone-queries)")).count() == 2, "{w:?}");
    // Query/gallery (in_shop): class 0 = 1 query + 2 gallery, class 1 = 1 query only (lone),
    // class 2 = 2 gallery. k above the gallery size (4) is refused before training, naming --k-vals.
    let qg = split_of(&[3, 1, 2]);
    let is_query = [true, false, false, true, false, false];
    let (e, w) = training_problems(&fine, &train, Some(&val2), &qg, Some(&is_query));
    assert!(e.iter().any(|e| e.starts_with("--k-vals 8: the gallery has 4 images") && e.ends_with("(e.g. --k-vals 1,2,4)")), "{e:?}");
    assert!(w.iter().any(|w| w.starts_with("1 query images belong to items without a gallery image") && w.contains("misses")), "{w:?}");
    let small_k = RunConfig { k_vals: vec![1, 4], ..fine.clone() };
    assert_eq!(training_problems(&small_k, &train, Some(&val2), &qg, Some(&is_query)).0, Vec::<String>::new());
    // The CLI: `pads train` stops before the first epoch, `pads data check` exits non-zero.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    tiny_synthetic(&root);
    let out = tmp.path().join("run");
    let mut args: Vec<String> = tiny_run_args(&root, &out).into_iter().map(|a| if a == "distance" { "pads".into() } else { a }).collect();
    args.extend(["--policy-sample-freq", "500"].map(String::from));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, _, _, e) = pads(&a);
    assert!(!ok && e.contains("--policy-sample-freq 500 leaves no policy step"), "{e}");
    assert!(!out.join("metrics.csv").exists());
    let (ok, code, stdout, _) = pads(&["data", "check", "--dataset", "synthetic", "--data-root", s(&root), "--bs", "8", "--samples-per-class", "2", "--n-epochs", "1", "--train-val-split", "0.8", "--sampling", "pads", "--policy-sample-freq", "500"]);
    assert!(!ok && code == 1 && stdout.contains("problem: --policy-sample-freq 500"), "{stdout}");
}

#[test]
fn cache_images_help_says_what_the_code_does() {
    let (ok, _, out, _) = pads(&["train", "--help"]);
    assert!(ok);
    let at = out.find("\n      --cache-images").unwrap();
    let text = &out[at..at + 400];
    assert!(!text.contains("automatic for datasets below"), "{text}");
    assert!(text.contains("off by default") && text.contains("data check"), "{text}");
    // data check reports the RAM the decoded images take: 60 images of 16 x 16 RGB.
    let tmp = tempfile::tempdir().unwrap();
    tiny_synthetic(tmp.path());
    let (ok, _, out, err) = pads(&["data", "check", "--dataset", "synthetic", "--data-root", s(tmp.path()), "--bs", "8", "--samples-per-class", "2", "--train-val-split", "0.8", "--sampling", "distance", "--json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["decoded_bytes"], 60 * 16 * 16 * 3);
}

#[test]
fn data_check_text_gives_mb_below_a_gigabyte() {
    // 60 images of 16 x 16 RGB = 46080 bytes: "0.05 MB", not "0.00 GB".
    let tmp = tempfile::tempdir().unwrap();
    tiny_synthetic(tmp.path());
    let (ok, _, out, err) = pads(&["data", "check", "--dataset", "synthetic", "--data-root", s(tmp.path()), "--bs", "8", "--samples-per-class", "2", "--train-val-split", "0.8", "--sampling", "distance"]);
    assert!(ok, "{err}");
    assert!(out.contains("decoded images take 0.05 MB of RAM"), "{out}");
}

#[test]
fn sweep_summary_with_mixed_metric_sets_is_an_error_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    for (name, header, row) in [
        ("random_seed0", "epoch,loss,recall@1,recall@2,nmi", "1,0.5,0.4,0.5,0.3"),
        ("pads_seed0", "epoch,loss,recall@1,recall@4,recall@8,nmi", "1,0.5,0.4,0.5"),
    ] {
        std::fs::create_dir_all(runs.join(name)).unwrap();
        std::fs::write(runs.join(name).join("metrics.csv"), format!("{header}\n{row}\n")).unwrap();
        // Finished one-epoch runs (summarize counts finished runs only).
        std::fs::write(runs.join(name).join("config.toml"), "n_epochs = 1\n").unwrap();
        std::fs::write(runs.join(name).join("summary.json"), "{\"epochs\": 1}\n").unwrap();
    }
    let err = format!("{:#}", pads::sweep::summarize(tmp.path()).unwrap_err());
    assert!(err.contains("different metrics") && err.contains("--k-vals"), "{err}");
}

#[test]
fn a_weights_file_with_a_short_storage_is_an_error_not_a_panic() {
    use pads::model::import::read_state_dict;
    let tmp = tempfile::tempdir().unwrap();
    common::run_python(
        r#"
import sys, torch, zipfile
out = sys.argv[1]
torch.save({"conv1.weight": torch.arange(64.0).reshape(8, 8)}, out + "/ok.pth")
with zipfile.ZipFile(out + "/ok.pth") as src, zipfile.ZipFile(out + "/short.pth", "w") as dst:
    for info in src.infolist():
        data = src.read(info.filename)
        if info.filename.endswith("/data/0"):
            data = data[:40]
        dst.writestr(info, data)
"#,
        &[s(tmp.path())],
    );
    assert_eq!(read_state_dict(&tmp.path().join("ok.pth")).unwrap()["conv1.weight"].size(), vec![8, 8]);
    let err = format!("{:#}", read_state_dict(&tmp.path().join("short.pth")).unwrap_err());
    assert!(err.contains("short.pth") && err.contains("conv1.weight") && err.contains("do not fit"), "{err}");
}

/// A .npy file whose header promises more (or less) data than the file holds is refused by
/// every reader, before anything is allocated from the header's numbers; every integer label
/// width is read (issue: a label file cut in half gave exit 0 and a wrong Recall@1).
#[test]
fn npy_files_that_lie_about_their_length_are_refused_and_every_integer_width_is_read() {
    use pads::eval::input::{read_embeddings, read_labels};
    let tmp = tempfile::tempdir().unwrap();
    let labels: Vec<i64> = (0..2000).map(|i| i % 7).collect();
    let full = tmp.path().join("labels.npy");
    Tensor::from_slice(&labels).write_npy(&full).unwrap();
    assert_eq!(read_labels(&full, None).unwrap(), labels);
    // Cut in half.
    let bytes = std::fs::read(&full).unwrap();
    let half = tmp.path().join("half.npy");
    std::fs::write(&half, &bytes[..bytes.len() / 2]).unwrap();
    let err = format!("{:#}", read_labels(&half, None).unwrap_err());
    assert!(err.contains("half.npy") && err.contains("needs 16000 bytes") && err.contains("truncated"), "{err}");
    // A header claiming 2,000 labels with 8 stored.
    let header_end = bytes.len() - 2000 * 8;
    let eight = tmp.path().join("eight.npy");
    std::fs::write(&eight, [&bytes[..header_end], &bytes[header_end..header_end + 64]].concat()).unwrap();
    assert!(format!("{:#}", read_labels(&eight, None).unwrap_err()).contains("the file holds 64"));
    // A 1 KiB file claiming 4,000,000 x 64 float32: refused at once, nothing allocated.
    let e = Tensor::zeros([4, 64], (tch::Kind::Float, tch::Device::Cpu));
    let small = tmp.path().join("claims.npy");
    e.write_npy(&small).unwrap();
    let mut b = std::fs::read(&small).unwrap();
    let at = b.windows(10).position(|w| w == b"'shape': (").unwrap() + "'shape': ".len();
    let end = at + b[at..].iter().position(|&c| c == b')').unwrap() + 1;
    let new_shape = b"(4000000, 64)";
    b.splice(at..end, new_shape.iter().copied());
    // Keep the header length field right (the header changed length).
    let len = (u16::from_le_bytes([b[8], b[9]]) as usize + new_shape.len() - (end - at)) as u16;
    b[8..10].copy_from_slice(&len.to_le_bytes());
    std::fs::write(&small, &b).unwrap();
    let err = format!("{:#}", read_embeddings(&small).unwrap_err());
    assert!(err.contains("claims.npy") && err.contains("needs 1024000000 bytes") && err.contains("the file holds 1024"), "{err}");
    // uint16 / uint32 / uint8 / int16 labels: the same class ids.
    let ints = tmp.path().join("i64.npy");
    Tensor::from_slice(&[3i64, 3, 5, 5]).write_npy(&ints).unwrap();
    let raw = std::fs::read(&ints).unwrap();
    let data_at = raw.len() - 32;
    let descr_at = raw.windows(5).position(|w| w == b"'<i8'").unwrap();
    for (descr, width) in [("<u2", 2usize), ("<u4", 4), ("|u1", 1), ("<i2", 2)] {
        // Same length as '<i8', so the header length stays right.
        let mut f = raw[..data_at].to_vec();
        f[descr_at + 1..descr_at + 4].copy_from_slice(descr.as_bytes());
        for v in [3u64, 3, 5, 5] {
            f.extend_from_slice(&v.to_le_bytes()[..width]);
        }
        let p = tmp.path().join(format!("w{width}.npy"));
        std::fs::write(&p, f).unwrap();
        assert_eq!(read_labels(&p, Some(4)).unwrap(), vec![3, 3, 5, 5], "{descr}");
    }
    // float16 embeddings read as their float32 values.
    let f16 = tmp.path().join("f16.npy");
    Tensor::from_slice(&[0.5f32, -2.0, 1.0, 0.25]).view([2, 2]).to_kind(tch::Kind::Half).write_npy(&f16).unwrap();
    assert_eq!(Vec::<f32>::try_from(read_embeddings(&f16).unwrap().flatten(0, -1)).unwrap(), vec![0.5, -2.0, 1.0, 0.25]);
}

/// Options that contradict each other are refused, naming both (before, `--pretrained X
/// --not-pretrained` was accepted, and `--arch small --pretrained W` ended in a dump of
/// missing and unexpected keys).
#[test]
fn contradicting_model_options_are_refused_naming_both() {
    use pads::config::RunConfig;
    use pads::options::Arch;
    let err = |c: RunConfig| format!("{:#}", c.validate().unwrap_err());
    let w = Some(std::path::PathBuf::from("resnet50.pth"));
    let e = err(RunConfig { pretrained: w.clone(), not_pretrained: true, ..RunConfig::default() });
    assert!(e.contains("--pretrained FILE and --not-pretrained contradict"), "{e}");
    let e = err(RunConfig { pretrained: w.clone(), arch: Arch::Small, ..RunConfig::default() });
    assert!(e.contains("--arch resnet50") && e.contains("--arch bninception") && e.contains("--arch small has no pretrained weights"), "{e}");
    RunConfig { pretrained: w.clone(), arch: Arch::Bninception, ..RunConfig::default() }.validate().unwrap();
    RunConfig { pretrained: w, ..RunConfig::default() }.validate().unwrap();
    // BN-Inception runs at 32k - 1 to 32k + 6 px only: other sizes are refused, naming the
    // nearest that run (the original runs at 223-230 only).
    let e = err(RunConfig { not_pretrained: true, arch: Arch::Bninception, image_size: 200, ..RunConfig::default() });
    assert!(e.contains("--image-size 200") && e.contains("198 or 223"), "{e}");
    RunConfig { not_pretrained: true, arch: Arch::Bninception, image_size: 64, ..RunConfig::default() }.validate().unwrap();
}

/// The .npy reader against numpy itself: files written by `np.save` in every dtype a user
/// may hold labels or embeddings in read back as the values numpy wrote.
#[test]
fn npy_files_written_by_numpy_read_back_as_numpy_wrote_them() {
    use pads::eval::input::{read_embeddings, read_labels};
    let tmp = tempfile::tempdir().unwrap();
    let script = r#"
import numpy as np, sys
d = sys.argv[1]
for t in ['u1', 'u2', 'u4', 'u8', 'i1', 'i2', 'i4', 'i8', 'bool']:
    np.save(f'{d}/l_{t}.npy', np.array([3, 0, 1, 1]).astype(t))
np.save(f'{d}/l_col.npy', np.array([[3], [0], [1], [1]], dtype='i8'))
np.save(f'{d}/l_float.npy', np.array([3.0, 0.0, 1.0, 1.0]))
for t in ['f2', 'f4', 'f8', 'i4']:
    np.save(f'{d}/e_{t}.npy', np.array([[0.5, -2.0, 1.0], [0.25, 4.0, -1.0]]).astype(t))
"#;
    common::run_python(script, &[tmp.path().to_str().unwrap()]);
    for t in ["u1", "u2", "u4", "u8", "i1", "i2", "i4", "i8", "col", "float"] {
        assert_eq!(read_labels(&tmp.path().join(format!("l_{t}.npy")), Some(4)).unwrap(), vec![3, 0, 1, 1], "{t}");
    }
    assert_eq!(read_labels(&tmp.path().join("l_bool.npy"), Some(4)).unwrap(), vec![1, 0, 1, 1]);
    for (t, want) in [("f2", [0.5f32, -2.0, 1.0, 0.25, 4.0, -1.0]), ("f4", [0.5, -2.0, 1.0, 0.25, 4.0, -1.0]), ("f8", [0.5, -2.0, 1.0, 0.25, 4.0, -1.0]), ("i4", [0.0, -2.0, 1.0, 0.0, 4.0, -1.0])] {
        let e = read_embeddings(&tmp.path().join(format!("e_{t}.npy"))).unwrap();
        assert_eq!(e.size(), vec![2, 3], "{t}");
        assert_eq!(Vec::<f32>::try_from(e.flatten(0, -1)).unwrap(), want.to_vec(), "{t}");
    }
}
