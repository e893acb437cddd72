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
    // A dtype pads cannot read (uint64) names the file.
    let u64_file = tmp.path().join("u64.npy");
    let mut bytes = std::fs::read(&ints).unwrap();
    let at = bytes.windows(3).position(|w| w == b"<i8").unwrap();
    bytes[at + 1] = b'u';
    std::fs::write(&u64_file, bytes).unwrap();
    let (ok, code, _, err) = pads(&["metrics", "--embeddings", s(&e), "--labels", s(&u64_file)]);
    assert!(!ok && code == 1 && err.contains("u64.npy") && err.contains("integer"), "{err}");
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
    // One class: NMI, F1 and the class separation are undefined; recall is 1.
    let one = tmp.path().join("one.npy");
    write_labels(&one, &[7, 7, 7, 7]);
    let (v, err) = metrics_json(&e, &one, &["--k", "1"]);
    assert_eq!(v["recall@1"], 1.0);
    assert!(v["nmi"].is_null() && v["f1"].is_null() && v["inter"].is_null(), "{v}");
    assert!(err.contains("one class"), "{err}");
}

#[test]
fn lone_queries_are_left_out_of_recall_and_map_with_a_warning() {
    // Labels 0 0 1 1 2: item 4 is alone in class 2. On a line 0, 1, 5, 6, 1.4.
    let e = Tensor::from_slice(&[0.0f32, 0.0, 1.0, 0.0, 5.0, 0.0, 6.0, 0.0, 1.4, 0.0]).view([5, 2]);
    let labels = [0i64, 0, 1, 1, 2];
    let mut opts = EvalOptions::new(vec![1]);
    opts.normalize = false;
    let m = evaluate(&e, &labels, &opts).unwrap();
    // Queries 0..3: 0->1 hit, 1->4 miss (1.4 is nearer than 0), 2->3 hit, 3->2 hit: 3/4, not 3/5.
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
    pads::model::l2_normalize(t)
}
