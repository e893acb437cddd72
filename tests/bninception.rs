//! `--arch bninception` against the original's network: pretrainedmodels 0.7.4's BNInception
//! with `last_linear` replaced and L2 normalisation (netlib.py), on the same weights and
//! inputs, made by bench/reference/make_bninception_fixture.py at test time (its weights file
//! is ~45 MB, too big to commit). Also: its ImageNet-format file loads with --pretrained, its
//! BatchNorm trains and the running statistics reach the checkpoint, the sizes its graph runs.
mod common;
use pads::model::bninception::feature_side;
use pads::model::import::load_pretrained;
use pads::model::EmbeddingNet;
use pads::options::Arch;
use pads::run::checkpoint::Checkpoint;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use tch::{nn, Device, Tensor};

/// The fixture folder under target/, regenerated when the script changes (a stamp holds the
/// script's text).
fn fixture() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/reference/make_bninception_fixture.py");
        let text = std::fs::read_to_string(&script).unwrap();
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pads-bninception-fixture");
        let stamp = dir.join("script.py");
        if std::fs::read_to_string(&stamp).ok().as_deref() != Some(text.as_str()) {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let out = Command::new(common::python()).arg(&script).arg(&dir).output().expect("the project venv's python runs (make setup)");
            assert!(out.status.success(), "{} failed:\n{}", script.display(), String::from_utf8_lossy(&out.stderr));
            std::fs::write(&stamp, &text).unwrap();
        }
        dir
    })
}

fn npy(name: &str) -> Tensor {
    Tensor::read_npy(fixture().join(name)).unwrap()
}

fn max_abs(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

/// pads' BN-Inception with the fixture's weights: the pretrainedmodels-format file through
/// --pretrained's loader (its 1000-way last_linear dropped), then the fixture's head.
fn loaded_model() -> (nn::VarStore, EmbeddingNet) {
    tch::manual_seed(0);
    let mut vs = nn::VarStore::new(Device::Cpu);
    let model = EmbeddingNet::new(&vs.root(), Arch::Bninception, 128);
    let head_before = vs.variables()["last_linear.weight"].copy();
    let copied = load_pretrained(&mut vs, &fixture().join("imagenet.pth")).unwrap();
    let vars = vs.variables();
    // Every variable but the head (weight, bias): 69 convolutions (weight, bias) and 69
    // BatchNorms (weight, bias, running mean, running variance).
    assert_eq!(copied, vars.len() - 2);
    assert_eq!(copied, 69 * 6);
    assert!(vars["last_linear.weight"].equal(&head_before), "the 1000-way ImageNet classifier must not reach the head");
    let head = Tensor::read_safetensors(fixture().join("head.safetensors")).unwrap();
    tch::no_grad(|| {
        for (name, t) in head {
            vars[&name].shallow_clone().copy_(&t);
        }
    });
    (vs, model)
}

#[test]
fn forward_equals_pretrainedmodels_bninception_in_eval_and_train_mode() {
    let (vs, model) = loaded_model();
    // Evaluation mode (model.eval(): running statistics), at 224 px.
    let got = tch::no_grad(|| model.forward(&npy("x_eval.npy")));
    let d_eval = max_abs(&got, &npy("emb_eval.npy"));
    println!("eval mode, 224 px: max |pads - pretrainedmodels| = {d_eval:.3e}");
    assert!(d_eval < 1e-4, "eval: {d_eval}");
    // At 64 px the original crashes (AvgPool2d(7) on a 2 x 2 map); pads averages the map.
    let got = tch::no_grad(|| model.forward(&npy("x_64.npy")));
    let d_64 = max_abs(&got, &npy("emb_64.npy"));
    println!("eval mode, 64 px (global average pool): max diff = {d_64:.3e}");
    assert!(d_64 < 1e-4, "64 px: {d_64}");
    // The running statistics decide the eval output: a batch-statistics forward differs.
    let x = npy("x_train.npy");
    let eval_out = tch::no_grad(|| model.forward(&x));
    // Training mode (model.train(): batch statistics, running statistics updated).
    let got = tch::no_grad(|| model.forward_t(&x, true));
    let d_train = max_abs(&got, &npy("emb_train.npy"));
    println!("train mode, 224 px: max diff = {d_train:.3e}");
    assert!(d_train < 1e-4, "train: {d_train}");
    assert!(max_abs(&eval_out, &got) > 1e-2, "train and eval mode gave the same embeddings");
    let want = Tensor::read_safetensors(fixture().join("stats_after_train.safetensors")).unwrap();
    let vars = vs.variables();
    assert_eq!(want.len(), 2 * 69);
    let mut worst = 0f64;
    for (name, w) in &want {
        let rel = ((&vars[name] - w).abs() / (w.abs() + 1.0)).max().double_value(&[]);
        worst = worst.max(rel);
    }
    println!("running statistics after one train-mode forward: max |diff| / (|value| + 1) = {worst:.3e}");
    assert!(worst < 1e-4, "{worst}");
}

#[test]
fn feature_side_is_where_pretrainedmodels_graph_runs() {
    let sizes: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(fixture().join("sizes.json")).unwrap()).unwrap();
    assert!(sizes.len() > 100);
    for (side, want) in &sizes {
        let side: usize = side.parse().unwrap();
        assert_eq!(feature_side(side), want.as_u64().map(|v| v as usize), "input side {side}");
    }
    assert_eq!(feature_side(224), Some(7));
}

fn pads(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(common::pads_bin()).args(args).env("PADS_LOG", "warn").output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn trains_from_the_imagenet_format_file_with_batchnorm_in_train_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (ok, _, err) = pads(&["synth", "--out", data.join("synthetic").to_str().unwrap(), "--classes", "6", "--per-class", "8", "--image-size", "72", "--seed", "0"]);
    assert!(ok, "{err}");
    let run = tmp.path().join("run");
    let weights = fixture().join("imagenet.pth");
    let (run_s, data_s, weights_s) = (run.to_str().unwrap(), data.to_str().unwrap(), weights.to_str().unwrap());
    let common = ["--dataset", "synthetic", "--data-root", data_s, "--arch", "bninception", "--pretrained", weights_s];
    // A size the graph cannot run is refused before anything starts, naming the nearest ones.
    let mut args = vec!["train", "--out", run_s, "--image-size", "80"];
    args.extend(common);
    let (ok, _, err) = pads(&args);
    assert!(!ok && err.contains("--image-size 80") && err.contains("70 or 95"), "{err}");
    assert!(!run.exists());
    let train_args = |out: &'static str, extra: &[&'static str]| {
        let dir = tmp.path().join(out);
        let mut args: Vec<String> = ["train", "--out", dir.to_str().unwrap(), "--image-size", "64", "--bs", "8", "--samples-per-class", "2", "--embed-dim", "16"].map(String::from).to_vec();
        args.extend(common.map(String::from));
        args.extend(["--n-epochs", "2", "--num-workers", "1", "--device", "cpu", "--sampling", "distance", "--quiet"].map(String::from));
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let run_args = |args: Vec<String>| pads(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let (ok, out, err) = run_args(train_args("run", &[]));
    assert!(ok, "{out}\n{err}");
    // The file's 1000-way last_linear is announced and not loaded.
    assert!(err.contains("last_linear.weight [1000, 1024]") && err.contains("not loaded"), "{err}");
    let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let header: Vec<&str> = metrics.lines().next().unwrap().split(',').collect();
    let last: Vec<&str> = metrics.lines().last().unwrap().split(',').collect();
    for col in ["loss", "recall@1"] {
        let i = header.iter().position(|h| *h == col).unwrap();
        let v: f64 = last[i].parse().unwrap();
        assert!(v.is_finite(), "{col} = {v}");
    }
    // Training moved the running statistics away from the file's (BatchNorm in train mode),
    // and the checkpoint holds them.
    let ck = Checkpoint::load(&run.join("checkpoint_last.safetensors")).unwrap().group("model");
    let file = pads::model::import::read_state_dict(&weights).unwrap();
    for name in ["conv1_7x7_s2_bn.running_mean", "inception_5b_pool_proj_bn.running_var"] {
        assert!(max_abs(&ck[name], &file[name]) > 1e-6, "{name} unchanged by training");
    }
    assert!(ck["last_linear.weight"].size() == [16, 1024]);
    // Stopped after epoch 1 and resumed: the running statistics come back from the
    // checkpoint, and the run ends where the uninterrupted one did, bit for bit.
    let (ok, out, err) = run_args(train_args("stopped", &["--stop-after-epoch", "1"]));
    assert!(ok, "{out}\n{err}");
    let (ok, out, err) = pads(&["train", "--resume", tmp.path().join("stopped").to_str().unwrap(), "--quiet"]);
    assert!(ok, "{out}\n{err}");
    let resumed = Checkpoint::load(&tmp.path().join("stopped/checkpoint_last.safetensors")).unwrap().group("model");
    assert_eq!(resumed.len(), ck.len());
    for (name, t) in &ck {
        assert!(t.equal(&resumed[name]), "{name} differs after stop + resume");
    }
    // Evaluation and embedding use the running statistics: twice the same numbers.
    let emb = |dir: &Path| {
        let (ok, out, err) = pads(&["embed", "--run", run_s, "--images", data.join("synthetic/images").to_str().unwrap(), "--out", dir.to_str().unwrap()]);
        assert!(ok, "{out}\n{err}");
        Tensor::read_npy(dir.join("embeddings.npy")).unwrap()
    };
    let (a, b) = (emb(&tmp.path().join("e1")), emb(&tmp.path().join("e2")));
    assert!(a.equal(&b) && bool::try_from(a.isfinite().all()).unwrap());
    assert_eq!(a.size(), [48, 16]);
}

/// Under --amp bf16 the backbone runs in bfloat16 while BatchNorm's parameters and running
/// statistics stay float32 and are still updated in training mode; evaluation mode leaves
/// them alone. Close to the float32 network.
#[test]
fn bf16_backbone_keeps_float32_batchnorm_and_updates_it_in_training() {
    tch::manual_seed(3);
    let vs = nn::VarStore::new(Device::Cpu);
    let mut model = EmbeddingNet::new(&vs.root(), Arch::Bninception, 16);
    let x = Tensor::randn([4, 3, 32, 32], (tch::Kind::Float, Device::Cpu)) * 50.0;
    let full = tch::no_grad(|| model.forward(&x));
    model.amp_bf16 = true;
    let mean = || vs.variables()["inception_4c_1x1_bn.running_mean"].copy();
    let before = mean();
    let mixed = tch::no_grad(|| model.forward(&x));
    assert!(mean().equal(&before), "evaluation mode must not touch the running statistics");
    let d = max_abs(&mixed, &full);
    assert!(d > 0.0 && d < 0.05, "bf16 vs f32 embedding difference {d}");
    let out = model.forward_t(&x, true);
    assert_eq!(out.kind(), tch::Kind::Float);
    assert_eq!(mean().kind(), tch::Kind::Float);
    assert!(max_abs(&mean(), &before) > 0.0, "training mode updates the running statistics");
    out.sum(tch::Kind::Float).backward();
    let g = vs.variables()["inception_4c_1x1_bn.weight"].grad();
    assert!(g.defined() && g.kind() == tch::Kind::Float);
}
