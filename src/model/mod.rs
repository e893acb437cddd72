//! Embedding networks: a backbone (ResNet50 with torchvision's variable names,
//! BN-Inception with pretrainedmodels' (bninception.rs), or a small residual CNN for CPU
//! runs), a linear head `last_linear` (the original's name), and L2 normalisation.
//! ResNet50's and the small CNN's BatchNorm runs in inference mode, as the original freezes
//! ResNet50's: running statistics stay frozen while its weight and bias are trained.
//! BN-Inception's BatchNorm trains (`EmbeddingNet::forward_t` with `train`), as the
//! original's does.
pub mod bninception;
pub mod embed;
pub mod import;
pub mod pth;
pub mod torchfile;
pub mod weights;

use crate::ops::{l2_normalize, torch_linear};
use crate::options::Arch;
use tch::nn::{self, Module};
use tch::Tensor;

/// A bias-free convolution with torchvision's variable name (`weight`), initialised as
/// torchvision does (Kaiming normal, fan-out).
struct Conv {
    weight: Tensor,
    stride: i64,
    padding: i64,
}

fn conv(p: nn::Path, c_in: i64, c_out: i64, k: i64, stride: i64, padding: i64) -> Conv {
    let init = nn::Init::Kaiming {
        dist: nn::init::NormalOrUniform::Normal,
        fan: nn::init::FanInOut::FanOut,
        non_linearity: nn::init::NonLinearity::ReLU,
    };
    let mut weight = p.var("weight", &[c_out, c_in, k, k], init);
    tch::no_grad(|| weight.set_data(&channels_last(&weight)));
    Conv { weight, stride, padding }
}

/// The same 4-D tensor stored channels-last (NHWC strides; shape and values unchanged).
/// oneDNN's NHWC convolutions skip the reorders that the default NCHW layout needs on every
/// call, and element-wise ops keep the layout, so weights and the input batch are stored
/// this way and every activation follows (docs/benchmarks.md: training step).
pub(crate) fn channels_last(t: &Tensor) -> Tensor {
    t.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}

/// BatchNorm with frozen running statistics (always the inference path) and a trainable
/// affine weight and bias, under torchvision's names.
struct FrozenBn {
    weight: Tensor,
    bias: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
}

fn bn(p: nn::Path, c: i64) -> FrozenBn {
    FrozenBn {
        weight: p.var("weight", &[c], nn::Init::Const(1.0)),
        bias: p.var("bias", &[c], nn::Init::Const(0.0)),
        running_mean: p.zeros_no_train("running_mean", &[c]),
        running_var: p.ones_no_train("running_var", &[c]),
    }
}

/// Convolution followed by frozen BatchNorm, folded into one convolution, computed in the
/// input's precision (under --amp bf16 the f32 parameters are cast on the fly, so gradients
/// and Adam stay f32). With
/// s = weight / sqrt(running_var + eps), conv(x, W) then BN equals conv(x, W * s) + (bias -
/// running_mean * s). Same function and gradients for W, weight and bias, and one memory
/// pass over the activations fewer in each direction (the BN pass), which is most of what
/// separates a CPU training step from its convolutions.
fn conv_bn(c: &Conv, bn: &FrozenBn, x: &Tensor) -> Tensor {
    let scale = &bn.weight * (&bn.running_var + 1e-5).rsqrt();
    let w = &c.weight * scale.view([-1, 1, 1, 1]);
    let b = &bn.bias - &bn.running_mean * &scale;
    let k = x.kind();
    x.conv2d(&w.to_kind(k), Some(&b.to_kind(k)), [c.stride, c.stride], [c.padding, c.padding], [1, 1], 1)
}

/// The residual path: identity, or a strided 1x1 convolution + BN (`downsample.0/1`) when
/// the shape changes.
struct Shortcut(Option<(Conv, FrozenBn)>);

impl Shortcut {
    fn new(p: &nn::Path, c_in: i64, c_out: i64, stride: i64) -> Self {
        Shortcut((stride != 1 || c_in != c_out).then(|| (conv(p / "downsample" / "0", c_in, c_out, 1, stride, 0), bn(p / "downsample" / "1", c_out))))
    }

    /// y += shortcut(x), in place.
    fn add_to(&self, y: &mut Tensor, x: &Tensor) {
        match &self.0 {
            Some((c, b)) => *y += conv_bn(c, b, x),
            None => *y += x,
        }
    }
}

struct Bottleneck {
    conv1: Conv,
    bn1: FrozenBn,
    conv2: Conv,
    bn2: FrozenBn,
    conv3: Conv,
    bn3: FrozenBn,
    downsample: Shortcut,
}

impl Bottleneck {
    fn new(p: nn::Path, c_in: i64, width: i64, stride: i64) -> Self {
        let c_out = width * 4;
        let downsample = Shortcut::new(&p, c_in, c_out, stride);
        Bottleneck {
            conv1: conv(&p / "conv1", c_in, width, 1, 1, 0),
            bn1: bn(&p / "bn1", width),
            conv2: conv(&p / "conv2", width, width, 3, stride, 1),
            bn2: bn(&p / "bn2", width),
            conv3: conv(&p / "conv3", width, c_out, 1, 1, 0),
            bn3: bn(&p / "bn3", c_out),
            downsample,
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        // In place where autograd allows (a convolution's output is not needed for its own
        // backward), as torchvision does: fewer large allocations per step.
        let y = conv_bn(&self.conv1, &self.bn1, x).relu_();
        let y = conv_bn(&self.conv2, &self.bn2, &y).relu_();
        let mut y = conv_bn(&self.conv3, &self.bn3, &y);
        self.downsample.add_to(&mut y, x);
        y.relu_()
    }
}

struct BasicBlock {
    conv1: Conv,
    bn1: FrozenBn,
    conv2: Conv,
    bn2: FrozenBn,
    downsample: Shortcut,
}

impl BasicBlock {
    fn new(p: nn::Path, c_in: i64, c_out: i64, stride: i64) -> Self {
        let downsample = Shortcut::new(&p, c_in, c_out, stride);
        BasicBlock {
            conv1: conv(&p / "conv1", c_in, c_out, 3, stride, 1),
            bn1: bn(&p / "bn1", c_out),
            conv2: conv(&p / "conv2", c_out, c_out, 3, 1, 1),
            bn2: bn(&p / "bn2", c_out),
            downsample,
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let y = conv_bn(&self.conv1, &self.bn1, x).relu_();
        let mut y = conv_bn(&self.conv2, &self.bn2, &y);
        self.downsample.add_to(&mut y, x);
        y.relu_()
    }
}

enum Backbone {
    ResNet50 { conv1: Conv, bn1: FrozenBn, layers: Vec<Vec<Bottleneck>> },
    Small { conv1: Conv, bn1: FrozenBn, layers: Vec<BasicBlock> },
    BnInception(bninception::BnInception),
}

impl Backbone {
    fn resnet50(p: &nn::Path) -> (Self, i64) {
        let conv1 = conv(p / "conv1", 3, 64, 7, 2, 3);
        let bn1 = bn(p / "bn1", 64);
        let mut c_in = 64;
        let mut layers = Vec::new();
        for (li, (blocks, width, stride)) in [(3, 64, 1), (4, 128, 2), (6, 256, 2), (3, 512, 2)].into_iter().enumerate() {
            let lp = p / format!("layer{}", li + 1);
            let mut layer = Vec::new();
            for b in 0..blocks {
                layer.push(Bottleneck::new(&lp / b.to_string(), c_in, width, if b == 0 { stride } else { 1 }));
                c_in = width * 4;
            }
            layers.push(layer);
        }
        (Backbone::ResNet50 { conv1, bn1, layers }, 2048)
    }

    fn small(p: &nn::Path) -> (Self, i64) {
        // Stride-2 stem: the CPU demo's 64 px inputs become 32 px maps at once.
        let conv1 = conv(p / "conv1", 3, 32, 3, 2, 1);
        let bn1 = bn(p / "bn1", 32);
        let mut layers = Vec::new();
        let mut c_in = 32;
        for (i, c_out) in [64, 128, 256].into_iter().enumerate() {
            layers.push(BasicBlock::new(p / format!("layer{}", i + 1), c_in, c_out, 2));
            c_in = c_out;
        }
        (Backbone::Small { conv1, bn1, layers }, c_in)
    }

    /// `train` matters to BN-Inception only (the others' BatchNorm is frozen).
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let x = &channels_last(x);
        match self {
            Backbone::BnInception(net) => net.forward_t(x, train),
            Backbone::ResNet50 { conv1, bn1, layers } => {
                let mut y = conv_bn(conv1, bn1, x).relu_().max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
                for layer in layers {
                    for block in layer {
                        y = block.forward(&y);
                    }
                }
                y.adaptive_avg_pool2d([1, 1]).flatten(1, -1)
            }
            Backbone::Small { conv1, bn1, layers } => {
                let mut y = conv_bn(conv1, bn1, x).relu_();
                for block in layers {
                    y = block.forward(&y);
                }
                y.adaptive_avg_pool2d([1, 1]).flatten(1, -1)
            }
        }
    }
}

/// Backbone + `last_linear` + L2 normalisation.
pub struct EmbeddingNet {
    backbone: Backbone,
    head: nn::Linear,
    pub arch: Arch,
    pub embed_dim: i64,
    /// Run the backbone in bfloat16 (mixed precision); head and output stay float32.
    pub amp_bf16: bool,
}

impl EmbeddingNet {
    pub fn new(p: &nn::Path, arch: Arch, embed_dim: usize) -> Self {
        let (backbone, features) = match arch {
            Arch::Resnet50 => Backbone::resnet50(p),
            Arch::Small => Backbone::small(p),
            Arch::Bninception => (Backbone::BnInception(bninception::BnInception::new(p)), bninception::FEATURES),
        };
        let head = torch_linear(p / "last_linear", features, embed_dim as i64);
        EmbeddingNet { backbone, head, arch, embed_dim: embed_dim as i64, amp_bf16: false }
    }

    /// Unnormalised head output `[B, embed_dim]` of `x` `[B, 3, S, S]`. `train`: the
    /// original's `model.train()` (BN-Inception's BatchNorm on batch statistics, updating
    /// its running statistics); false: `model.eval()`. ResNet50 and the small CNN compute
    /// the same either way (frozen BatchNorm).
    pub fn forward_raw_t(&self, x: &Tensor, train: bool) -> Tensor {
        let features = if self.amp_bf16 {
            self.backbone.forward_t(&x.to_kind(tch::Kind::BFloat16), train).to_kind(tch::Kind::Float)
        } else {
            self.backbone.forward_t(x, train)
        };
        self.head.forward(&features)
    }

    /// Unnormalised head output, evaluation mode.
    pub fn forward_raw(&self, x: &Tensor) -> Tensor {
        self.forward_raw_t(x, false)
    }

    /// L2-normalised embeddings `[B, embed_dim]`; `train` as in [`EmbeddingNet::forward_raw_t`].
    /// The training step passes true, every evaluation and embedding false.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        l2_normalize(&self.forward_raw_t(x, train))
    }

    /// L2-normalised embeddings `[B, embed_dim]`, evaluation mode (`model.eval()`).
    pub fn forward(&self, x: &Tensor) -> Tensor {
        self.forward_t(x, false)
    }

    /// The input normalisation this network was trained with (mean, std, channel order).
    pub fn input_normalization(&self) -> crate::data::transform::Normalization {
        crate::data::transform::Normalization::for_arch(self.arch)
    }
}

/// What building a run's network needs. `Default`: the original's ResNet50 with a 128-d
/// head, which needs `pretrained` weights or `not_pretrained`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelOptions {
    pub arch: Arch,
    /// Size of the embedding [dimensions].
    pub embed_dim: usize,
    /// ImageNet weights to start from (.pth or .safetensors).
    pub pretrained: Option<std::path::PathBuf>,
    /// Start a ResNet50 or BN-Inception from random weights (refused without it when
    /// `pretrained` is None).
    pub not_pretrained: bool,
    /// Run the backbone in bfloat16 (mixed precision).
    pub amp_bf16: bool,
}

impl Default for ModelOptions {
    fn default() -> Self {
        ModelOptions { arch: Arch::Resnet50, embed_dim: 128, pretrained: None, not_pretrained: false, amp_bf16: false }
    }
}

/// A new network on `device`: random initialisation from libtorch's global generator
/// (callers seed it), then `opts.pretrained` loaded (`import::load_pretrained`). Errors:
/// ResNet50 or BN-Inception without weights and without `not_pretrained`, and those of the
/// import.
pub fn build(opts: &ModelOptions, device: tch::Device) -> anyhow::Result<(nn::VarStore, EmbeddingNet)> {
    let (mut vs, model) = empty(opts, device);
    if let Some(path) = &opts.pretrained {
        import::load_pretrained(&mut vs, path)?;
    } else if opts.arch != Arch::Small && !opts.not_pretrained {
        let weights = match opts.arch {
            Arch::Bninception => "pretrainedmodels' ImageNet weights bn_inception-52deb4733.pth",
            _ => "torchvision ImageNet weights, .safetensors or .pth",
        };
        anyhow::bail!(
            "{} needs {} FILE ({weights}) or {}",
            crate::options::spell("arch", Some(opts.arch.as_str())),
            crate::options::opt("pretrained"),
            crate::options::opt("not_pretrained")
        );
    }
    Ok((vs, model))
}

/// The network of `opts` with freshly initialised weights, for loading a checkpoint into.
pub fn empty(opts: &ModelOptions, device: tch::Device) -> (nn::VarStore, EmbeddingNet) {
    let vs = nn::VarStore::new(device);
    let mut model = EmbeddingNet::new(&vs.root(), opts.arch, opts.embed_dim);
    model.amp_bf16 = opts.amp_bf16;
    (vs, model)
}
