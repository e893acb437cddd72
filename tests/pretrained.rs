//! `--pretrained` from the original PADS code's checkpoints (bench/reference/
//! make_torchfile_fixtures.py --resnet50: a torchvision ResNet50 in netlib.py's structure,
//! saved as auxiliaries.set_checkpoint does, in both torch.save formats): the `state_dict`
//! wrapper, the `model.` prefix and the `layer_blocks.*` duplicates are handled and the
//! weights equal the plain torchvision-named state dict, trained head included.
mod common;
use pads::model::import::{load_pretrained, read_state_dict};
use pads::model::EmbeddingNet;
use pads::options::Arch;
use std::path::Path;
use tch::{nn, Device, Kind, Tensor};

const SCRIPT: &str = include_str!("../bench/reference/make_torchfile_fixtures.py");

fn load(path: &Path, embed_dim: usize) -> anyhow::Result<nn::VarStore> {
    let mut vs = nn::VarStore::new(Device::Cpu);
    let _m = EmbeddingNet::new(&vs.root(), Arch::Resnet50, embed_dim);
    load_pretrained(&mut vs, path)?;
    Ok(vs)
}

#[test]
fn the_original_checkpoint_loads_as_pretrained_weights_in_both_formats() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    common::run_python(&format!("import sys; sys.argv = ['x', {dir:?}, '--resnet50', '--embed-dim', '16']\n{SCRIPT}"), &[]);
    let plain = read_state_dict(&tmp.path().join("r50_plain.pth")).unwrap();
    // The file really has the original's layout: model.* and layer_blocks.* twins.
    let raw = pads::model::pth::read_pth(&tmp.path().join("r50_zip.pth.tar")).unwrap();
    assert!(raw.iter().any(|(k, _)| k == "model.conv1.weight") && raw.iter().any(|(k, _)| k == "layer_blocks.3.2.bn3.running_var"));
    // Any file name: the format is told by content (.ckpt is a zip torch.save file here).
    std::fs::copy(tmp.path().join("r50_zip.pth.tar"), tmp.path().join("r50.ckpt")).unwrap();
    for f in ["r50_zip.pth.tar", "r50_legacy.pth.tar", "r50.ckpt"] {
        let path = tmp.path().join(f);
        let got = read_state_dict(&path).unwrap_or_else(|e| panic!("{f}: {e:#}"));
        let mut names: Vec<&String> = got.keys().collect();
        names.sort();
        let mut want: Vec<&String> = plain.keys().collect();
        want.sort();
        assert_eq!(names, want, "{f}: torchvision's names, each once");
        let vs = load(&path, 16).unwrap_or_else(|e| panic!("{f}: {e:#}"));
        let vars = vs.variables();
        for (name, v) in &vars {
            assert!(v.equal(&plain[name]), "{f}: {name}");
        }
        assert!(vars["last_linear.weight"].equal(&plain["last_linear.weight"]), "{f}: the trained head is loaded");
        // Another --embed-dim: the backbone loads, the head stays as initialised.
        let vs = load(&path, 8).unwrap();
        assert_eq!(vs.variables()["last_linear.weight"].size(), vec![8, 2048]);
        assert!(vs.variables()["layer4.2.conv3.weight"].equal(&plain["layer4.2.conv3.weight"]));
    }
}

#[test]
fn a_layer_blocks_entry_that_differs_from_its_twin_is_an_error_naming_both() {
    let tmp = tempfile::tempdir().unwrap();
    let a = Tensor::ones([2], (Kind::Float, Device::Cpu));
    let b = Tensor::zeros([2], (Kind::Float, Device::Cpu));
    let f = tmp.path().join("w.safetensors");
    Tensor::write_safetensors(&[("model.layer2.0.bn1.bias", &a), ("layer_blocks.1.0.bn1.bias", &b), ("model.conv1.weight", &a)], &f).unwrap();
    let err = format!("{:#}", read_state_dict(&f).unwrap_err());
    assert!(err.contains("layer_blocks.1.0.bn1.bias differs from its twin model.layer2.0.bn1.bias"), "{err}");
    // Equal twins: dropped, and the `model.` prefix removed.
    Tensor::write_safetensors(&[("model.layer2.0.bn1.bias", &a), ("layer_blocks.1.0.bn1.bias", &a), ("model.conv1.weight", &a)], &f).unwrap();
    let mut names: Vec<String> = read_state_dict(&f).unwrap().into_keys().collect();
    names.sort();
    assert_eq!(names, vec!["conv1.weight", "layer2.0.bn1.bias"]);
}

// ------------------------------------------------------------ which weights a run starts from

use pads::model::weights::{describe_with, recognise, sha256_file, KnownWeights, KNOWN_WEIGHTS};

/// SHA-256 by Python's hashlib (independent of the Rust crate).
fn python_sha256(path: &Path) -> String {
    let out = std::process::Command::new(common::python())
        .args(["-c", "import sys, hashlib; print(hashlib.sha256(open(sys.argv[1], 'rb').read()).hexdigest())", path.to_str().unwrap()])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn weights_files_are_recognised_by_the_hash_of_their_bytes_not_their_name() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("resnet50-0676ba61.pth"); // a known name, other bytes
    std::fs::write(&f, b"not the ImageNet weights").unwrap();
    let sha = python_sha256(&f);
    assert_eq!(sha256_file(&f).unwrap(), sha);
    // Unknown content under a known name: unrecognised, with the full hash.
    assert_eq!(describe_with(&f, &KNOWN_WEIGHTS).unwrap(), format!("unrecognised (sha256 {sha})"));
    // A table entry holding this file's prefix: recognised under any name.
    let table = [KnownWeights { sha256_prefix: Box::leak(sha[..8].to_string().into_boxed_str()), file: "test-weights.pth", description: "a test file" }];
    let renamed = tmp.path().join("anything.bin");
    std::fs::copy(&f, &renamed).unwrap();
    assert_eq!(describe_with(&renamed, &table).unwrap(), format!("test-weights.pth: a test file (sha256 {sha})"));
    assert_eq!(recognise(&sha, &table), Some(&table[0]));
    assert_eq!(recognise("ffff", &table), None);
    // The known table: each prefix is the hex in its published name (torch.hub's convention).
    for k in KNOWN_WEIGHTS {
        assert!(k.file.contains(&format!("-{}.", k.sha256_prefix)) && k.sha256_prefix.chars().all(|c| c.is_ascii_hexdigit()), "{k:?}");
    }
    let unreadable = describe_with(&tmp.path().join("gone.pth"), &KNOWN_WEIGHTS).unwrap_err();
    assert!(format!("{unreadable:#}").contains("gone.pth"));
}

#[test]
fn a_run_from_the_original_checkpoint_says_which_weights_it_starts_from_and_reads_back() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    common::run_python(&format!("import sys; sys.argv = ['x', {dir:?}, '--resnet50', '--embed-dim', '16']\n{SCRIPT}"), &[]);
    let weights = tmp.path().join("r50_legacy.pth.tar");
    let sha = python_sha256(&weights);
    let data = tmp.path().join("data");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(common::pads_bin()).args(args).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{args:?}: {text}");
        text
    };
    run(&["synth", "--out", data.join("synthetic").to_str().unwrap(), "--classes", "10", "--per-class", "8", "--image-size", "32"]);
    // Beside, not inside, the fixture folder: it holds hypa.pkl and checkpoint_Class.pth.tar,
    // an original run folder, which pads never writes into.
    let runs = tempfile::tempdir().unwrap();
    let out_dir = runs.path().join("run");
    let text = run(&[
        "train", "--dataset", "synthetic", "--data-root", data.to_str().unwrap(), "--out", out_dir.to_str().unwrap(), "--n-epochs", "1",
        "--image-size", "32", "--bs", "8", "--embed-dim", "16", "--pretrained", weights.to_str().unwrap(), "--device", "cpu", "--sampling", "distance",
    ]);
    let line = format!("unrecognised (sha256 {sha}) at {}", weights.display());
    assert!(text.contains(&format!("weights   {line}")), "start-up summary: {text}");
    assert!(text.contains("every name starts with `model.`") && text.contains("312 `layer_blocks.*` entries"), "the renaming is announced: {text}");
    let config = std::fs::read_to_string(out_dir.join("config.toml")).unwrap();
    assert!(config.contains(&format!("# pretrained_weights: {line}")), "{config}");
    let cfg = pads::config::RunConfig::from_toml_file(&out_dir.join("config.toml")).unwrap();
    assert_eq!(cfg.pretrained.as_deref(), Some(weights.as_path()));
}
