//! Using a trained model outside training: `pads export` (TorchScript, torchvision weights,
//! preprocess.json) checked in the venv's PyTorch, `pads embed --images/--list`, `pads search`.
mod common;
use pads::config::RunConfig;
use pads::options::{Arch, DatasetKind};
use pads::data::synth::{self, SynthOptions};
use pads::model::EmbeddingNet;
use pads::run::checkpoint::{varstore_tensors, Checkpoint};
use std::path::{Path, PathBuf};
use std::process::Command;
use tch::{nn, Device, Kind, Tensor};

fn pads(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(common::pads_bin()).args(args).env("PADS_LOG", "warn").output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// 37 px synthetic images: the evaluation transform at --image-size 32 resizes the shorter
/// side to round(32 * 256 / 224) = 37, i.e. not at all, then crops the centre 32 x 32 at
/// offset 2, which the Python side repeats exactly.
fn synthetic_images(root: &Path, classes: usize, per_class: usize) -> PathBuf {
    synth::generate(root, &SynthOptions { classes, per_class, image_size: 37, seed: 3 }).unwrap();
    root.join("images")
}

/// A run folder made through the library (no training): random weights and random
/// BatchNorm statistics and affine parameters, so that an export that dropped or mis-folded
/// BatchNorm could not match.
fn make_run(dir: &Path, arch: Arch, data_root: &Path) -> RunConfig {
    let mut cfg = RunConfig::default();
    cfg.dataset = DatasetKind::Folder;
    cfg.data_root = data_root.to_path_buf();
    cfg.arch = arch;
    cfg.embed_dim = 8;
    cfg.image_size = 32;
    cfg.not_pretrained = true;
    cfg.bs = 8;
    cfg.samples_per_class = 2;
    cfg.train_val_split = 1.0;
    cfg.device = "cpu".into();
    cfg.seed = 0;
    std::fs::create_dir_all(dir).unwrap();
    tch::manual_seed(7);
    let vs = nn::VarStore::new(Device::Cpu);
    let _model = EmbeddingNet::new(&vs.root(), arch, cfg.embed_dim);
    tch::no_grad(|| {
        for (name, mut v) in vs.variables() {
            let c = v.size()[0];
            let u = |lo: f64, hi: f64| Tensor::rand([c], (Kind::Float, Device::Cpu)) * (hi - lo) + lo;
            if name.ends_with("running_mean") {
                v.copy_(&u(-0.3, 0.3));
            } else if name.ends_with("running_var") {
                v.copy_(&u(0.5, 2.0));
            } else if v.dim() == 1 && !name.starts_with("last_linear") && name.ends_with(".weight") {
                v.copy_(&u(0.5, 1.5));
            } else if v.dim() == 1 && !name.starts_with("last_linear") && name.ends_with(".bias") {
                v.copy_(&u(-0.2, 0.2));
            }
        }
    });
    let mut ck = Checkpoint::new(serde_json::json!({}));
    ck.add_group("model", varstore_tensors(&vs));
    ck.save(&dir.join("checkpoint_best.safetensors")).unwrap();
    ck.save(&dir.join("checkpoint_last.safetensors")).unwrap();
    std::fs::write(dir.join("config.toml"), cfg.to_toml()).unwrap();
    cfg
}

/// Loads paths.txt's images as preprocess.json describes, runs model.pt (and, when given,
/// torchvision's resnet50 with fc = Linear(2048, D), or pretrainedmodels' bninception with
/// num_classes = D, on model.safetensors) and asserts the largest absolute difference to
/// embeddings.npy stays below the tolerances.
const CHECK_PY: &str = r#"
import sys, json, numpy as np, torch, torchvision
from PIL import Image
exp, emb_dir, peer = sys.argv[1], sys.argv[2], sys.argv[3]
pre = json.load(open(f"{exp}/preprocess.json"))
assert pre["channel_order"] in ("RGB", "BGR") and pre["mean_std_channel_order"] == "RGB" and pre["layout"] == "NCHW", pre
paths = open(f"{emb_dir}/paths.txt").read().split("\n")[:-1]
ref = np.load(f"{emb_dir}/embeddings.npy")
S, R = pre["center_crop"][0], pre["resize_shorter_side"]
mean = np.array(pre["mean"], np.float32)[:, None, None]
std = np.array(pre["std"], np.float32)[:, None, None]
xs = []
for p in paths:
    a = np.asarray(Image.open(p).convert("RGB"))
    assert a.shape[:2] == (R, R), a.shape
    o = (R - S) // 2
    a = a[o:o + S, o:o + S].transpose(2, 0, 1).astype(np.float32) * np.float32(pre["scale"])
    a = (a - mean) / std
    xs.append(a[::-1] if pre["channel_order"] == "BGR" else a)
x = torch.from_numpy(np.stack(xs).copy())
m = torch.jit.load(f"{exp}/model.pt")
with torch.no_grad():
    e = m(x).numpy()
    e3 = m(x[:3]).numpy()
assert e.shape == ref.shape, (e.shape, ref.shape)
d = float(np.abs(e - ref).max())
print("torchscript max abs diff", d)
assert d < 1e-5, d
assert float(np.abs(e3 - ref[:3]).max()) < 1e-5, "another batch size"
assert abs(np.linalg.norm(e, axis=1) - 1).max() < 1e-5
if peer != "none":
    from safetensors.torch import load_file
    sd = load_file(f"{exp}/model.safetensors")
    if peer == "bninception":
        import pretrainedmodels
        net = pretrainedmodels.bninception(num_classes=sd["last_linear.weight"].shape[0], pretrained=None)
        # Its AvgPool2d(7) fits 224 px only; pads averages the whole map at any size.
        net.global_pool = torch.nn.AdaptiveAvgPool2d(1)
    else:
        assert "layer4.2.bn3.running_var" in sd and "layer1.0.downsample.1.num_batches_tracked" in sd
        net = torchvision.models.resnet50()
        net.fc = torch.nn.Linear(2048, sd["fc.weight"].shape[0])
    net.load_state_dict(sd, strict=True)
    net.eval()
    with torch.no_grad():
        e2 = torch.nn.functional.normalize(net(x), dim=1).numpy()
    d2 = float(np.abs(e2 - ref).max())
    print(peer, "max abs diff", d2)
    assert d2 < 1e-5, d2
"#;

#[test]
fn export_resnet50_torchscript_and_torchvision_weights_match_pads_embed() {
    let tmp = tempfile::tempdir().unwrap();
    let images = synthetic_images(&tmp.path().join("syn"), 3, 4);
    let run = tmp.path().join("run");
    make_run(&run, Arch::Resnet50, &images);
    let exp = tmp.path().join("exp");
    let (ok, out, err) = pads(&["export", "--run", run.to_str().unwrap(), "--checkpoint", "last", "--out", exp.to_str().unwrap()]);
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("checkpoint_last"), "{out}");
    for f in ["model.pt", "model.safetensors", "preprocess.json"] {
        assert!(exp.join(f).is_file(), "{f} missing");
    }
    let emb = tmp.path().join("emb");
    let (ok, out, err) = pads(&["embed", "--run", run.to_str().unwrap(), "--images", images.to_str().unwrap(), "--out", emb.to_str().unwrap()]);
    assert!(ok && out.contains("wrote 12 embeddings"), "{out}\n{err}");
    common::run_python(CHECK_PY, &[exp.to_str().unwrap(), emb.to_str().unwrap(), "resnet50"]);
}

#[test]
fn export_small_cnn_is_torchscript_only_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let images = synthetic_images(&tmp.path().join("syn"), 3, 3);
    let run = tmp.path().join("run");
    make_run(&run, Arch::Small, &images);
    let exp = tmp.path().join("exp");
    // A model.safetensors of an earlier export into the same folder is removed, and said so.
    std::fs::create_dir_all(&exp).unwrap();
    std::fs::write(exp.join("model.safetensors"), "old").unwrap();
    let (ok, out, err) = pads(&["export", "--run", run.to_str().unwrap(), "--out", exp.to_str().unwrap()]);
    assert!(ok, "{out}\n{err}");
    assert!(exp.join("model.pt").is_file() && exp.join("preprocess.json").is_file());
    assert!(!exp.join("model.safetensors").exists());
    assert!(err.contains("model.safetensors not written") && err.contains("small CNN"), "{err}");
    assert!(err.contains("left by an earlier export"), "{err}");
    let pre: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(exp.join("preprocess.json")).unwrap()).unwrap();
    assert_eq!(pre["resize_shorter_side"], 37);
    assert_eq!(pre["mean"][0], 0.485);
    assert_eq!(pre["std"][2], 0.225);
    let emb = tmp.path().join("emb");
    let (ok, out, err) = pads(&["embed", "--run", run.to_str().unwrap(), "--images", images.to_str().unwrap(), "--out", emb.to_str().unwrap()]);
    assert!(ok, "{out}\n{err}");
    common::run_python(CHECK_PY, &[exp.to_str().unwrap(), emb.to_str().unwrap(), "none"]);
}

/// BN-Inception: preprocess.json states the original's mean and std and BGR; model.pt and
/// pretrainedmodels' own BNInception on model.safetensors give pads embed's numbers.
#[test]
fn export_bninception_says_bgr_and_matches_pretrainedmodels() {
    let tmp = tempfile::tempdir().unwrap();
    let images = synthetic_images(&tmp.path().join("syn"), 2, 3);
    let run = tmp.path().join("run");
    make_run(&run, Arch::Bninception, &images);
    let exp = tmp.path().join("exp");
    let (ok, out, err) = pads(&["export", "--run", run.to_str().unwrap(), "--out", exp.to_str().unwrap()]);
    assert!(ok, "{out}\n{err}");
    let pre: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(exp.join("preprocess.json")).unwrap()).unwrap();
    assert_eq!(pre["channel_order"], "BGR");
    assert_eq!(pre["mean_std_channel_order"], "RGB");
    assert_eq!(pre["mean"], serde_json::json!([0.502, 0.4588, 0.4078]));
    assert_eq!(pre["std"], serde_json::json!([0.0039, 0.0039, 0.0039]));
    assert_eq!(pre["arch"], "bninception");
    let emb = tmp.path().join("emb");
    let (ok, out, err) = pads(&["embed", "--run", run.to_str().unwrap(), "--images", images.to_str().unwrap(), "--out", emb.to_str().unwrap()]);
    assert!(ok, "{out}\n{err}");
    common::run_python(CHECK_PY, &[exp.to_str().unwrap(), emb.to_str().unwrap(), "bninception"]);
}

#[test]
fn export_refuses_a_missing_checkpoint_and_a_non_run_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let images = synthetic_images(&tmp.path().join("syn"), 2, 2);
    let run = tmp.path().join("run");
    make_run(&run, Arch::Small, &images);
    std::fs::remove_file(run.join("checkpoint_best.safetensors")).unwrap();
    let exp = tmp.path().join("exp");
    let (ok, _, err) = pads(&["export", "--run", run.to_str().unwrap(), "--checkpoint", "best", "--out", exp.to_str().unwrap()]);
    assert!(!ok && err.contains("no best checkpoint"), "{err}");
    let (ok, _, err) = pads(&["export", "--run", images.to_str().unwrap(), "--out", exp.to_str().unwrap()]);
    assert!(!ok && err.contains("not a pads run folder"), "{err}");
}

fn read_lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p).unwrap().lines().map(String::from).collect()
}

#[test]
fn embed_images_recursive_and_list_report_unreadable_files() {
    let tmp = tempfile::tempdir().unwrap();
    let images = synthetic_images(&tmp.path().join("syn"), 2, 3);
    let run = tmp.path().join("run");
    make_run(&run, Arch::Small, &images);
    let run_s = run.to_str().unwrap();
    // A nested folder, a text file (not embedded, counted) and a corrupt image.
    let first_class = std::fs::read_dir(&images).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).min().unwrap();
    let nested = first_class.join("more");
    std::fs::create_dir_all(&nested).unwrap();
    std::fs::copy(first_class.join("0000.png"), nested.join("x.png")).unwrap();
    std::fs::write(images.join("notes.txt"), "hello").unwrap();
    let bad = first_class.join("broken.png");
    std::fs::write(&bad, b"\x89PNG\r\n\x1a\n not really").unwrap();
    let out = tmp.path().join("emb");
    let out_s = out.to_str().unwrap();
    let (ok, _, err) = pads(&["embed", "--run", run_s, "--images", images.to_str().unwrap(), "--out", out_s]);
    assert!(!ok, "a corrupt image must stop the run");
    assert!(err.contains("broken.png") && err.contains("1 of 8 images do not decode") && err.contains("--skip-bad-images"), "{err}");
    let (ok, stdout, err) = pads(&["embed", "--run", run_s, "--images", images.to_str().unwrap(), "--skip-bad-images", "--out", out_s]);
    assert!(ok, "{err}");
    assert!(stdout.contains("wrote 7 embeddings"), "{stdout}");
    assert!(err.contains("1 images do not decode and were left out") && err.contains("1 files without an image extension"), "{err}");
    let paths = read_lines(&out.join("paths.txt"));
    assert_eq!(paths.len(), 7);
    assert!(paths.iter().any(|p| p.ends_with("more/x.png")), "recursive: {paths:?}");
    assert!(!paths.iter().any(|p| p.contains("broken")));
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted, "sorted path order");
    let skipped = read_lines(&out.join("skipped.txt"));
    assert!(skipped.len() == 1 && skipped[0].contains("broken.png"), "{skipped:?}");
    let emb = Tensor::read_npy(out.join("embeddings.npy")).unwrap();
    assert_eq!(emb.size(), vec![7, 8]);

    // --list: relative to the list file's folder; the same image gives the same row.
    let list = images.join("list.txt");
    let class_dir = first_class.file_name().unwrap().to_str().unwrap();
    std::fs::write(&list, format!("# two images\n{class_dir}/more/x.png\n\n{}\n", first_class.join("0001.png").display())).unwrap();
    let out2 = tmp.path().join("emb2");
    let (ok, stdout, err) = pads(&["embed", "--run", run_s, "--list", list.to_str().unwrap(), "--out", out2.to_str().unwrap()]);
    assert!(ok && stdout.contains("wrote 2 embeddings"), "{stdout}\n{err}");
    let emb2 = Tensor::read_npy(out2.join("embeddings.npy")).unwrap();
    let row = paths.iter().position(|p| p.ends_with("more/x.png")).unwrap() as i64;
    let d = (emb2.get(0) - emb.get(row)).abs().max().double_value(&[]);
    assert!(d < 1e-6, "same image, same embedding: {d}");
    std::fs::write(&list, "a.png\nmissing.png\n").unwrap();
    std::fs::copy(first_class.join("0000.png"), images.join("a.png")).unwrap();
    let (ok, _, err) = pads(&["embed", "--run", run_s, "--list", list.to_str().unwrap(), "--out", out2.to_str().unwrap()]);
    assert!(!ok && err.contains("list.txt:2") && err.contains("missing.png"), "{err}");
    let (ok, _, err) = pads(&["embed", "--run", run_s, "--images", tmp.path().join("nope").to_str().unwrap(), "--out", out2.to_str().unwrap()]);
    assert!(!ok && err.contains("not a folder"), "{err}");
}

#[test]
fn embed_split_writes_classes_txt() {
    let tmp = tempfile::tempdir().unwrap();
    let images = synthetic_images(&tmp.path().join("syn"), 4, 2);
    let run = tmp.path().join("run");
    make_run(&run, Arch::Small, &images);
    let out = tmp.path().join("emb");
    let (ok, stdout, err) = pads(&["embed", "--run", run.to_str().unwrap(), "--split", "test", "--out", out.to_str().unwrap()]);
    assert!(ok, "{stdout}\n{err}");
    let classes = read_lines(&out.join("classes.txt"));
    // folder layout, share 0.5: the last two class folders by name are the test split.
    let mut names: Vec<String> = std::fs::read_dir(&images).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(classes, vec![format!("0\t{}", names[2]), format!("1\t{}", names[3])]);
    let labels: Vec<i64> = Vec::try_from(Tensor::read_npy(out.join("labels.npy")).unwrap()).unwrap();
    let paths = read_lines(&out.join("paths.txt"));
    for (l, p) in labels.iter().zip(&paths) {
        assert!(p.contains(&names[2 + *l as usize]), "label {l} is {p}");
    }
}

#[test]
fn search_finds_a_gallery_image_at_rank_1_distance_0() {
    let tmp = tempfile::tempdir().unwrap();
    let images = synthetic_images(&tmp.path().join("syn"), 3, 4);
    let run = tmp.path().join("run");
    make_run(&run, Arch::Small, &images);
    let run_s = run.to_str().unwrap();
    let gallery = tmp.path().join("gallery");
    let (ok, _, err) = pads(&["embed", "--run", run_s, "--images", images.to_str().unwrap(), "--out", gallery.to_str().unwrap()]);
    assert!(ok, "{err}");
    let paths = read_lines(&gallery.join("paths.txt"));
    let query = paths[5].clone();
    let out = tmp.path().join("res");
    let (ok, stdout, err) = pads(&["search", "--run", run_s, "--gallery", gallery.to_str().unwrap(), "--query", &query, "-k", "4", "--json", "--out", out.to_str().unwrap()]);
    assert!(ok, "{stdout}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let nb = v[0]["neighbours"].as_array().unwrap();
    assert_eq!(nb.len(), 4);
    assert_eq!(nb[0]["rank"], 1);
    assert_eq!(nb[0]["path"], query.as_str());
    assert_eq!(nb[0]["index"], 5);
    assert!(nb[0]["distance"].as_f64().unwrap() < 1e-3, "{}", nb[0]);
    let d: Vec<f64> = nb.iter().map(|n| n["distance"].as_f64().unwrap()).collect();
    assert!(d.windows(2).all(|w| w[0] <= w[1]), "nearest first: {d:?}");
    assert!(out.join("grid.png").is_file() && out.join("results.json").is_file());
    // Text output: path, distance, rank; a folder of queries is searched recursively.
    let (ok, stdout, _) = pads(&["search", "--run", run_s, "--gallery", gallery.to_str().unwrap(), "--query", images.to_str().unwrap(), "-k", "1"]);
    assert!(ok);
    assert_eq!(stdout.lines().filter(|l| l.starts_with("query ")).count(), 12);
    let first = stdout.lines().nth(1).unwrap();
    assert!(first.trim_start().starts_with("1 ") && first.ends_with(&paths[0]), "{first}");
    // Mismatches are named.
    std::fs::write(gallery.join("paths.txt"), "only-one\n").unwrap();
    let (ok, _, err) = pads(&["search", "--run", run_s, "--gallery", gallery.to_str().unwrap(), "--query", &query]);
    assert!(!ok && err.contains("paths.txt has 1 lines but embeddings.npy has 12 rows"), "{err}");
    Tensor::zeros([12, 5], (Kind::Float, Device::Cpu)).write_npy(gallery.join("embeddings.npy")).unwrap();
    let (ok, _, err) = pads(&["search", "--run", run_s, "--gallery", gallery.to_str().unwrap(), "--query", &query]);
    assert!(!ok && err.contains("5-d") && err.contains("8-d"), "{err}");
    let (ok, _, err) = pads(&["search", "--run", run_s, "--gallery", gallery.to_str().unwrap(), "--query", "no/such.png"]);
    assert!(!ok && err.contains("no/such.png"), "{err}");
}

#[test]
fn search_skips_bad_queries_on_request_and_warns_about_a_k_above_the_gallery() {
    let tmp = tempfile::tempdir().unwrap();
    let images = synthetic_images(&tmp.path().join("syn"), 2, 2);
    let run = tmp.path().join("run");
    make_run(&run, Arch::Small, &images);
    let run_s = run.to_str().unwrap();
    let gallery = tmp.path().join("gallery");
    let (ok, _, err) = pads(&["embed", "--run", run_s, "--images", images.to_str().unwrap(), "--out", gallery.to_str().unwrap()]);
    assert!(ok, "{err}");
    let good = read_lines(&gallery.join("paths.txt"))[0].clone();
    let bad = tmp.path().join("broken.png");
    std::fs::write(&bad, b"not a png").unwrap();
    let g = gallery.to_str().unwrap();
    let (ok, _, err) = pads(&["search", "--run", run_s, "--gallery", g, "--query", &good, bad.to_str().unwrap()]);
    assert!(!ok && err.contains("broken.png") && err.contains("--skip-bad-images") && !err.contains("skipped.txt"), "{err}");
    let (ok, stdout, err) = pads(&["search", "--run", run_s, "--gallery", g, "--query", &good, bad.to_str().unwrap(), "--skip-bad-images", "-k", "2", "--json"]);
    assert!(ok, "{err}");
    assert!(err.contains("1 of 2 query images do not decode and were left out") && err.contains("broken.png"), "{err}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    // -k above the gallery's 4 items: all 4, and a warning naming both numbers.
    let (ok, stdout, err) = pads(&["search", "--run", run_s, "--gallery", g, "--query", &good, "-k", "10", "--json"]);
    assert!(ok, "{err}");
    assert!(err.contains("-k 10 is larger than the gallery (4 items"), "{err}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v[0]["neighbours"].as_array().unwrap().len(), 4);
    let (ok, _, err) = pads(&["search", "--run", run_s, "--gallery", g, "--query", &good, "-k", "4"]);
    assert!(ok && !err.contains("larger than the gallery"), "{err}");
}

#[test]
fn embed_list_trims_lines_and_split_query_names_the_layout_as_typed() {
    let tmp = tempfile::tempdir().unwrap();
    let images = synthetic_images(&tmp.path().join("syn"), 2, 2);
    let run = tmp.path().join("run");
    make_run(&run, Arch::Small, &images);
    let run_s = run.to_str().unwrap();
    let mut classes: Vec<PathBuf> = std::fs::read_dir(&images).unwrap().map(|e| e.unwrap().path()).collect();
    classes.sort();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&classes[0]).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let list = tmp.path().join("list.txt");
    std::fs::write(&list, format!("  {}  \n\t{}\t\r\n", files[0].display(), files[1].display())).unwrap();
    let out = tmp.path().join("emb");
    let (ok, stdout, err) = pads(&["embed", "--run", run_s, "--list", list.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(ok && stdout.contains("wrote 2 embeddings"), "{stdout}\n{err}");
    let (ok, _, err) = pads(&["embed", "--run", run_s, "--split", "query", "--out", tmp.path().join("q").to_str().unwrap()]);
    assert!(!ok && err.contains("the folder layout has no query/gallery test split"), "{err}");
}

/// File names that a line-based list cannot hold (a newline or tab in the name) are refused
/// by name before anything is embedded, instead of breaking paths.txt.
#[cfg(unix)]
#[test]
fn names_that_break_paths_txt_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let img = image::RgbImage::from_pixel(4, 4, image::Rgb([9, 9, 9]));
    img.save(tmp.path().join("fine.png")).unwrap();
    img.save_with_format(tmp.path().join("two\nlines.png"), image::ImageFormat::Png).unwrap();
    let err = format!("{:#}", pads::inference::embed::images_in_dir(tmp.path()).err().unwrap());
    assert!(err.contains("two\\nlines.png") && err.contains("newline or tab"), "{err}");
    std::fs::remove_file(tmp.path().join("two\nlines.png")).unwrap();
    assert_eq!(pads::inference::embed::images_in_dir(tmp.path()).unwrap().images.len(), 1);
    assert!(pads::util::list_line("a\tb", "class name").is_err() && pads::util::list_line("a b", "class name").is_ok());
}

#[test]
fn search_refuses_a_gallery_embedded_by_another_model_and_warns_when_it_cannot_tell() {
    let tmp = tempfile::tempdir().unwrap();
    let images = synthetic_images(&tmp.path().join("syn"), 2, 3);
    let run = tmp.path().join("run");
    make_run(&run, Arch::Small, &images);
    let run_s = run.to_str().unwrap();
    let gallery = tmp.path().join("gallery");
    let (ok, _, err) = pads(&["embed", "--run", run_s, "--images", images.to_str().unwrap(), "--out", gallery.to_str().unwrap()]);
    assert!(ok, "{err}");
    // pads embed says which model made the embeddings; --images paths are absolute.
    let id: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(gallery.join("model.json")).unwrap()).unwrap();
    assert_eq!(id["checkpoint"], "best");
    assert!(id["run"].as_str().unwrap().ends_with("run") && id["weights_crc32c"].as_str().unwrap().len() == 8, "{id}");
    assert!(read_lines(&gallery.join("paths.txt")).iter().all(|p| std::path::Path::new(p).is_absolute()));
    let query = read_lines(&gallery.join("paths.txt"))[0].clone();
    let g = gallery.to_str().unwrap();
    let (ok, _, err) = pads(&["search", "--run", run_s, "--gallery", g, "--query", &query]);
    assert!(ok && !err.contains("does not say which model"), "{err}");
    // The same split embedded through --split carries it too.
    let split = tmp.path().join("split");
    let (ok, _, err) = pads(&["embed", "--run", run_s, "--split", "test", "--out", split.to_str().unwrap()]);
    assert!(ok && split.join("model.json").is_file(), "{err}");
    // Another model's gallery (other weights): refused, naming both.
    let mut other = id.clone();
    other["weights_crc32c"] = "0badcafe".into();
    other["epoch"] = 9.into();
    std::fs::write(gallery.join("model.json"), other.to_string()).unwrap();
    let (ok, _, err) = pads(&["search", "--run", run_s, "--gallery", g, "--query", &query]);
    assert!(!ok && err.contains("was embedded by another model") && err.contains("epoch 9"), "{err}");
    // No identity (embeddings made elsewhere): searched, with a warning.
    std::fs::remove_file(gallery.join("model.json")).unwrap();
    let (ok, _, err) = pads(&["search", "--run", run_s, "--gallery", g, "--query", &query]);
    assert!(ok && err.contains("does not say which model embedded it"), "{err}");
}
