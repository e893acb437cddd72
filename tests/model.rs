//! The ResNet50 against torchvision's, and weight import.
mod common;
use pads::options::Arch;
use pads::model::{import::load_pretrained, EmbeddingNet};
use tch::{nn, Device, Kind, Tensor};

const TORCHVISION_SCRIPT: &str = r#"
import sys, torch, torchvision, numpy as np
from safetensors.torch import save_file
out = sys.argv[1]
torch.manual_seed(0)
m = torchvision.models.resnet50(weights=None)
for mod in m.modules():
    if isinstance(mod, torch.nn.BatchNorm2d):
        # Non-trivial frozen statistics and affine parameters.
        mod.running_mean.uniform_(-0.2, 0.2)
        mod.running_var.uniform_(0.5, 1.5)
        mod.weight.data.uniform_(0.5, 1.5)
        mod.bias.data.uniform_(-0.1, 0.1)
head = torch.nn.Linear(2048, 128)
m.eval()
x = torch.randn(2, 3, 224, 224)
with torch.no_grad():
    feats = torch.nn.Sequential(*list(m.children())[:-1])(x).flatten(1)
    emb = torch.nn.functional.normalize(head(feats), dim=1)
sd = {k: v.contiguous() for k, v in m.state_dict().items()}
torch.save(m.state_dict(), out + "/resnet50.pth")
sd["last_linear.weight"] = head.weight.data.contiguous()
sd["last_linear.bias"] = head.bias.data.contiguous()
save_file(sd, out + "/resnet50_head.safetensors")
np.save(out + "/x.npy", x.numpy())
np.save(out + "/emb.npy", emb.numpy())
"#;

#[test]
fn resnet50_matches_torchvision_and_imports_both_formats() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    common::run_python(TORCHVISION_SCRIPT, &[dir]);
    let mut vs = nn::VarStore::new(Device::Cpu);
    let model = EmbeddingNet::new(&vs.root(), Arch::Resnet50, 128);
    let copied = load_pretrained(&mut vs, &tmp.path().join("resnet50_head.safetensors")).unwrap();
    // 53 convs/bns * params + head: every variable was copied.
    assert_eq!(copied, vs.variables().len());
    let x = Tensor::read_npy(tmp.path().join("x.npy")).unwrap();
    let want = Tensor::read_npy(tmp.path().join("emb.npy")).unwrap();
    let got = tch::no_grad(|| model.forward(&x));
    let diff = (&got - &want).abs().max().double_value(&[]);
    assert!(diff < 1e-4, "max |pads - torchvision| = {diff}");
    // Norms are 1.
    let norms = got.norm_scalaropt_dim(2, [1i64].as_slice(), false);
    assert!((norms - 1.0).abs().max().double_value(&[]) < 1e-5);

    // The .pth state dict (torch.save) loads the same backbone; its fc.* is ignored.
    let mut vs2 = nn::VarStore::new(Device::Cpu);
    let model2 = EmbeddingNet::new(&vs2.root(), Arch::Resnet50, 128);
    load_pretrained(&mut vs2, &tmp.path().join("resnet50.pth")).unwrap();
    let a = vs.variables();
    let b = vs2.variables();
    for (k, v) in &a {
        if !k.starts_with("last_linear") {
            assert!(v.equal(&b[k]), "{k} differs between .pth and .safetensors import");
        }
    }
    let _ = model2;
}

#[test]
fn frozen_batchnorm_keeps_running_stats_but_trains_affine() {
    tch::manual_seed(1);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = EmbeddingNet::new(&vs.root(), Arch::Small, 16);
    let vars = vs.variables();
    let mean_before = vars["bn1.running_mean"].copy();
    let mut opt = pads::optim::Adam::new(&vs, 0.1, 0.0);
    let x = Tensor::randn([8, 3, 32, 32], (Kind::Float, Device::Cpu)) * 3.0 + 1.0;
    let loss = model.forward(&x).sum(Kind::Float);
    opt.zero_grad();
    loss.backward();
    let g = vars["bn1.weight"].grad();
    assert!(g.defined() && g.abs().sum(Kind::Float).double_value(&[]) > 0.0, "BN weight gets gradients");
    opt.step();
    assert!(vars["bn1.running_mean"].equal(&mean_before), "running statistics stay frozen");
    assert!(!vars["bn1.running_mean"].requires_grad());
}

#[test]
fn mismatched_weights_list_the_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bad.safetensors");
    let t = Tensor::zeros([3], (Kind::Float, Device::Cpu));
    Tensor::write_safetensors(&[("conv1.weight", &t), ("mystery.weight", &t)], &path).unwrap();
    let mut vs = nn::VarStore::new(Device::Cpu);
    let _m = EmbeddingNet::new(&vs.root(), Arch::Resnet50, 128);
    let err = format!("{:#}", load_pretrained(&mut vs, &path).err().unwrap());
    assert!(err.contains("mystery.weight"), "{err}");
    assert!(err.contains("layer4.2.bn3.weight") || err.contains("missing"), "{err}");
    let err = format!("{:#}", load_pretrained(&mut vs, &tmp.path().join("none.pth")).err().unwrap());
    assert!(err.contains("does not exist"), "{err}");
    std::fs::write(tmp.path().join("w.txt"), b"x").unwrap();
    let err = format!("{:#}", load_pretrained(&mut vs, &tmp.path().join("w.txt")).err().unwrap());
    assert!(err.contains(".safetensors or .pth"), "{err}");
}

#[test]
fn bf16_backbone_stays_close_to_f32_and_trains_f32_weights() {
    tch::manual_seed(7);
    let vs = nn::VarStore::new(Device::Cpu);
    let mut model = EmbeddingNet::new(&vs.root(), Arch::Small, 32);
    let x = Tensor::randn([4, 3, 32, 32], (Kind::Float, Device::Cpu));
    let full = tch::no_grad(|| model.forward(&x));
    model.amp_bf16 = true;
    let mixed = model.forward(&x);
    assert_eq!(mixed.kind(), Kind::Float, "the head's output stays float32");
    let diff = (&mixed.detach() - &full).abs().max().double_value(&[]);
    assert!(diff > 0.0 && diff < 0.05, "bf16 vs f32 embedding difference {diff}");
    mixed.sum(Kind::Float).backward();
    let w = &vs.variables()["layer1.conv1.weight"];
    assert_eq!(w.kind(), Kind::Float);
    assert!(w.grad().defined() && w.grad().kind() == Kind::Float);
}
