//! pads on whole run folders of the original code: the same embeddings as the original's
//! sample_test.py, its Recall@k, and `pads import` / eval / export / search on them.
//! The folders (40-95 MB networks) are not committed: bench/reference/make_original_runs.py
//! writes them into bench/out/original-runs (or $PADS_ORIGINAL_RUNS). Without them each test
//! prints how to make them and stops.
use std::path::{Path, PathBuf};
use std::process::Command;

fn runs_root() -> Option<PathBuf> {
    let root = std::env::var_os("PADS_ORIGINAL_RUNS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/out/original-runs"));
    if root.join("runs/cub200/CUB_R50/checkpoint_Class.pth.tar").is_file() {
        Some(root)
    } else {
        eprintln!("SKIPPED: no original run folders in {}; make them with: python bench/reference/make_original_runs.py", root.display());
        None
    }
}

fn pads(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_pads")).args(args).output().unwrap();
    assert!(o.status.success(), "pads {args:?} failed:\n{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

fn read_npy_f32(path: &Path) -> (Vec<f32>, usize) {
    let t = tch::Tensor::read_npy(path).unwrap();
    let d = t.size()[1] as usize;
    (Vec::<f32>::try_from(t.to_kind(tch::Kind::Float).flatten(0, -1)).unwrap(), d)
}

/// The original's embeddings (original_test.npz: embeddings, paths) by path.
fn original_embeddings(folder: &Path) -> (Vec<Vec<f32>>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let script = "import numpy as np, sys\nz = np.load(sys.argv[1])\nnp.save(sys.argv[2] + '/e.npy', z['embeddings'])\nopen(sys.argv[2] + '/p.txt', 'w').write('\\n'.join(z['paths']))\n";
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let o = Command::new(python).args(["-c", script, folder.join("original_test.npz").to_str().unwrap(), dir.path().to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (e, d) = read_npy_f32(&dir.path().join("e.npy"));
    let paths = std::fs::read_to_string(dir.path().join("p.txt")).unwrap().lines().map(String::from).collect();
    (e.chunks(d).map(<[f32]>::to_vec).collect(), paths)
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let n = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (n(a) * n(b))
}

/// The embeddings less their mean over the set: what separates the images. A network that
/// maps every image near one point (BN-Inception from random weights does, after a few
/// epochs on tiny data) agrees with anything on raw cosines; on centred ones it must not.
fn centred(e: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let d = e[0].len();
    let mean: Vec<f64> = (0..d).map(|j| e.iter().map(|r| r[j] as f64).sum::<f64>() / e.len() as f64).collect();
    e.iter().map(|r| r.iter().zip(&mean).map(|(x, m)| (*x as f64 - m) as f32).collect()).collect()
}

fn nearest(e: &[Vec<f32>], i: usize) -> usize {
    (0..e.len()).filter(|&j| j != i).max_by(|&a, &b| cosine(&e[i], &e[a]).total_cmp(&cosine(&e[i], &e[b]))).unwrap()
}

/// pads' embeddings of the test split of `folder` (an original run folder, or its copy with
/// the pre-1.6 checkpoint), lined up with the original's by path.
fn compare_embeddings(root: &Path, folder: &Path, run: &str) -> (f64, f64, f64) {
    let out = tempfile::tempdir().unwrap();
    let data = root.join("data");
    pads(&["embed", "--run", folder.to_str().unwrap(), "--split", "test", "--data-root", data.to_str().unwrap(), "--out", out.path().to_str().unwrap(), "--quiet"]);
    let (mine, d) = read_npy_f32(&out.path().join("embeddings.npy"));
    let mine: Vec<Vec<f32>> = mine.chunks(d).map(<[f32]>::to_vec).collect();
    let my_paths: Vec<String> = std::fs::read_to_string(out.path().join("paths.txt")).unwrap().lines().map(String::from).collect();
    let (theirs, their_paths) = original_embeddings(&root.join("runs/cub200").join(run));
    assert_eq!(mine.len(), theirs.len(), "{run}: the same test images");
    let index: Vec<usize> = their_paths
        .iter()
        .map(|p| my_paths.iter().position(|m| m.ends_with(p.as_str()) || Path::new(m).ends_with(p)).unwrap_or_else(|| panic!("{run}: {p} not embedded by pads")))
        .collect();
    let mine: Vec<Vec<f32>> = index.iter().map(|&i| mine[i].clone()).collect();
    let min_cos = (0..mine.len()).map(|i| cosine(&mine[i], &theirs[i])).fold(f64::INFINITY, f64::min);
    let same_nn = (0..mine.len()).filter(|&i| nearest(&mine, i) == nearest(&theirs, i)).count() as f64 / mine.len() as f64;
    let (cm, ct) = (centred(&mine), centred(&theirs));
    let min_centred = (0..mine.len()).map(|i| cosine(&cm[i], &ct[i])).fold(f64::INFINITY, f64::min);
    (min_cos, same_nn, min_centred)
}

#[test]
fn pads_embeds_the_test_images_as_the_original_does() {
    let Some(root) = runs_root() else { return };
    for run in ["CUB_R50", "CUB_BNI", "CUB_PADS"] {
        let folder = root.join("runs/cub200").join(run);
        let (min_cos, same_nn, min_centred) = compare_embeddings(&root, &folder, run);
        eprintln!("{run}: min cosine {min_cos:.6} (centred {min_centred:.6}), same nearest neighbour {:.1} %", 100.0 * same_nn);
        assert!(min_cos >= 0.999, "{run}: min cosine {min_cos}");
        assert!(min_centred >= 0.99, "{run}: min cosine of the centred embeddings {min_centred}");
        assert!(same_nn >= 0.97, "{run}: same nearest neighbour for {same_nn}");
    }
}

#[test]
fn the_pre_1_6_checkpoint_gives_the_same_embeddings() {
    let Some(root) = runs_root() else { return };
    let copy = tempfile::tempdir().unwrap();
    let src = root.join("runs/cub200/CUB_R50");
    std::fs::copy(src.join("hypa.pkl"), copy.path().join("hypa.pkl")).unwrap();
    std::fs::copy(src.join("checkpoint_Class_legacy.pth.tar"), copy.path().join("checkpoint_Class.pth.tar")).unwrap();
    let (min_cos, same_nn, min_centred) = compare_embeddings(&root, copy.path(), "CUB_R50");
    assert!(min_cos >= 0.999 && same_nn >= 0.97 && min_centred >= 0.99, "{min_cos} {same_nn} {min_centred}");
}

fn eval_json(run: &Path, data: &Path) -> serde_json::Value {
    serde_json::from_str(&pads(&["eval", "--run", run.to_str().unwrap(), "--data-root", data.to_str().unwrap(), "--json", "--quiet"])).unwrap()
}

#[test]
fn pads_eval_gives_the_originals_recall_and_import_keeps_it() {
    let Some(root) = runs_root() else { return };
    let data = root.join("data");
    for run in ["CUB_R50", "CUB_BNI", "CUB_PADS"] {
        let folder = root.join("runs/cub200").join(run);
        let want: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(folder.join("original_eval.json")).unwrap()).unwrap();
        let got = eval_json(&folder, &data);
        let (theirs, _) = original_embeddings(&folder);
        let n_test = theirs.len() as f64;
        // How far apart the images are (printed: the BN-Inception run's are nearly one point).
        let spread = centred(&theirs).iter().map(|r| r.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt()).sum::<f64>() / n_test;
        for (k, r) in want["k_vals"].as_array().unwrap().iter().zip(want["recall"].as_array().unwrap()) {
            let mine = got[format!("recall@{k}")].as_f64().unwrap();
            let differ = ((mine - r.as_f64().unwrap()).abs() * n_test).round();
            eprintln!("{run} recall@{k}: pads {mine:.4}, original {:.4} ({differ} of {n_test} queries differ; embedding spread {spread:.2e})", r.as_f64().unwrap());
            // The BN-Inception run's embeddings lie within 3e-4 of one point: pads' kNN centres
            // them first, so even there the ranks are the model's, not float32 rounding.
            assert!(differ == 0.0, "{run} recall@{k}: pads {mine}, original {r}");
        }
        let imported = tempfile::tempdir().unwrap();
        let target = imported.path().join("run");
        let report = pads(&["import", folder.to_str().unwrap(), "--out", target.to_str().unwrap(), "--data-root", data.to_str().unwrap()]);
        assert!(report.contains("checkpoint_best"), "{report}");
        let again = eval_json(&target, &data);
        assert_eq!(got["recall@1"], again["recall@1"], "{run}: the imported run evaluates the same");
        if run == "CUB_PADS" {
            assert!(report.contains("PADS policy") && target.join("pads_progression.jsonl").is_file(), "{report}");
        }
    }
}

#[test]
fn export_and_search_work_on_an_original_folder() {
    let Some(root) = runs_root() else { return };
    let folder = root.join("runs/cub200/CUB_BNI");
    let out = tempfile::tempdir().unwrap();
    let export = out.path().join("export");
    pads(&["export", "--run", folder.to_str().unwrap(), "--out", export.to_str().unwrap()]);
    let pre: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(export.join("preprocess.json")).unwrap()).unwrap();
    assert!(export.join("model.pt").is_file());
    assert_eq!(pre["channel_order"], "BGR", "{pre}");
    let gallery = out.path().join("gallery");
    let data = root.join("data");
    pads(&["embed", "--run", folder.to_str().unwrap(), "--split", "test", "--data-root", data.to_str().unwrap(), "--out", gallery.to_str().unwrap(), "--quiet"]);
    let first = std::fs::read_to_string(gallery.join("paths.txt")).unwrap().lines().next().unwrap().to_string();
    let query = if Path::new(&first).is_absolute() { PathBuf::from(&first) } else { data.join(&first) };
    let hits: serde_json::Value = serde_json::from_str(&pads(&["search", "--run", folder.to_str().unwrap(), "--gallery", gallery.to_str().unwrap(), "--query", query.to_str().unwrap(), "-k", "1", "--json"])).unwrap();
    let text = hits.to_string();
    assert!(text.contains(Path::new(&first).file_name().unwrap().to_str().unwrap()), "the query's own image is its nearest: {text}");
    // Nothing was written into the original folder.
    assert!(!folder.join("config.toml").exists() && !folder.join("model.json").exists());
}
