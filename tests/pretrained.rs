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
