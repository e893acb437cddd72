//! BN-Inception (Ioffe & Szegedy 2015, "Batch Normalization", the Inception-v2 network) as
//! the original builds it: pretrainedmodels 0.7.4's `BNInception` (models/bninception.py),
//! the graph the original's netlib.py `NetworkSuperClass_BNInception` wraps. Same layers,
//! same variable names (`conv1_7x7_s2.weight`, `inception_3a_1x1_bn.running_mean`, ...), so
//! pretrainedmodels' ImageNet file `bn_inception-52deb4733.pth` loads as it is; its 1000-way
//! `last_linear` is not part of this backbone (`EmbeddingNet` owns the head).
//!
//! Every convolution has a bias and is followed by a real BatchNorm (eps 1e-5, momentum
//! 0.1): batch statistics and running-statistic updates in training (`train = true`), the
//! running statistics at evaluation. The original freezes BatchNorm only for ResNet50.
//!
//! One change: pretrainedmodels ends with `AvgPool2d(7, stride=1)`, which is global average
//! pooling only when the last feature map is 7 x 7 (input 223-230 px); at any other size the
//! original crashes. pads averages the whole map (adaptive pooling), the same numbers at 224.
use super::channels_last;
use tch::{nn, Tensor};

/// Width of the features before the head.
pub const FEATURES: i64 = 1024;

/// `nn.Conv2d` with a bias, initialised as torch does by default (weight and bias
/// U(+-1/sqrt(fan_in)), what pretrainedmodels' BNInception gets without pretrained weights).
struct Conv {
    weight: Tensor,
    bias: Tensor,
    stride: i64,
    padding: i64,
}

/// `nn.BatchNorm2d(c)` (eps 1e-5, momentum 0.1): weight 1, bias 0, running mean 0, var 1.
struct Bn {
    weight: Tensor,
    bias: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
}

/// Convolution, BatchNorm, ReLU: pretrainedmodels' `NAME`, `NAME_bn`, `NAME_relu`.
struct Unit {
    conv: Conv,
    bn: Bn,
}

impl Unit {
    fn new(p: &nn::Path, name: &str, c_in: i64, c_out: i64, k: i64, stride: i64, padding: i64) -> Self {
        let bound = 1.0 / ((c_in * k * k) as f64).sqrt();
        let init = nn::Init::Uniform { lo: -bound, up: bound };
        let cp = p / name;
        let mut weight = cp.var("weight", &[c_out, c_in, k, k], init);
        tch::no_grad(|| weight.set_data(&channels_last(&weight)));
        let conv = Conv { weight, bias: cp.var("bias", &[c_out], init), stride, padding };
        let bp = p / format!("{name}_bn");
        let bn = Bn {
            weight: bp.var("weight", &[c_out], nn::Init::Const(1.0)),
            bias: bp.var("bias", &[c_out], nn::Init::Const(0.0)),
            running_mean: bp.zeros_no_train("running_mean", &[c_out]),
            running_var: bp.ones_no_train("running_var", &[c_out]),
        };
        Unit { conv, bn }
    }

    /// In the input's precision (bf16 under --amp: weights cast on the fly, BatchNorm's
    /// parameters and running statistics stay float32, as torch's mixed BatchNorm keeps them).
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let c = &self.conv;
        let k = x.kind();
        let y = x.conv2d(&c.weight.to_kind(k), Some(&c.bias.to_kind(k)), [c.stride, c.stride], [c.padding, c.padding], [1, 1], 1);
        let b = &self.bn;
        y.batch_norm(Some(&b.weight), Some(&b.bias), Some(&b.running_mean), Some(&b.running_var), train, 0.1, 1e-5, true).relu_()
    }
}

/// The pooling branch of a block: `AvgPool2d(3, 1, 1, ceil_mode=True)` + a 1x1 projection,
/// or a bare `MaxPool2d(3, 2, ceil_mode=True)` (3c, 4e), or 5b's `MaxPool2d(3, 1, 1,
/// ceil_mode=True)` + projection.
enum Pool {
    AvgProj(Unit),
    MaxStride2,
    MaxProj(Unit),
}

/// One inception block: 1x1, 3x3 (after a 1x1 reduction), double 3x3 (after a reduction),
/// pooling; outputs concatenated in that order along the channels.
struct Block {
    b1x1: Option<Unit>,
    b3x3: [Unit; 2],
    double: [Unit; 3],
    pool: Pool,
}

/// A block's widths: input, 1x1 (0: none), 3x3 reduce and out, double reduce, 1 and 2,
/// pool projection (0: max pool without projection, stride 2 as the 3x3s), the stride of the
/// 3x3 and second double 3x3, and whether the pool is a max pool (5b).
struct Spec(&'static str, i64, i64, [i64; 2], [i64; 3], i64, i64, bool);

/// pretrainedmodels' ten blocks.
const BLOCKS: [Spec; 10] = [
    Spec("3a", 192, 64, [64, 64], [64, 96, 96], 32, 1, false),
    Spec("3b", 256, 64, [64, 96], [64, 96, 96], 64, 1, false),
    Spec("3c", 320, 0, [128, 160], [64, 96, 96], 0, 2, true),
    Spec("4a", 576, 224, [64, 96], [96, 128, 128], 128, 1, false),
    Spec("4b", 576, 192, [96, 128], [96, 128, 128], 128, 1, false),
    Spec("4c", 576, 160, [128, 160], [128, 160, 160], 128, 1, false),
    Spec("4d", 608, 96, [128, 192], [160, 192, 192], 128, 1, false),
    Spec("4e", 608, 0, [128, 192], [192, 256, 256], 0, 2, true),
    Spec("5a", 1056, 352, [192, 320], [160, 224, 224], 128, 1, false),
    Spec("5b", 1024, 352, [192, 320], [192, 224, 224], 128, 1, true),
];

impl Block {
    fn new(p: &nn::Path, s: &Spec) -> Self {
        let Spec(id, c_in, n1, [r3, n3], [rd, d1, d2], proj, stride, max) = *s;
        let name = |branch: &str| format!("inception_{id}_{branch}");
        let b1x1 = (n1 > 0).then(|| Unit::new(p, &name("1x1"), c_in, n1, 1, 1, 0));
        let b3x3 = [Unit::new(p, &name("3x3_reduce"), c_in, r3, 1, 1, 0), Unit::new(p, &name("3x3"), r3, n3, 3, stride, 1)];
        let double = [
            Unit::new(p, &name("double_3x3_reduce"), c_in, rd, 1, 1, 0),
            Unit::new(p, &name("double_3x3_1"), rd, d1, 3, 1, 1),
            Unit::new(p, &name("double_3x3_2"), d1, d2, 3, stride, 1),
        ];
        let pool = match (proj, max) {
            (0, _) => Pool::MaxStride2,
            (n, true) => Pool::MaxProj(Unit::new(p, &name("pool_proj"), c_in, n, 1, 1, 0)),
            (n, false) => Pool::AvgProj(Unit::new(p, &name("pool_proj"), c_in, n, 1, 1, 0)),
        };
        Block { b1x1, b3x3, double, pool }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut parts = Vec::with_capacity(4);
        if let Some(u) = &self.b1x1 {
            parts.push(u.forward_t(x, train));
        }
        parts.push(self.b3x3[1].forward_t(&self.b3x3[0].forward_t(x, train), train));
        let d = self.double.iter().fold(None::<Tensor>, |y, u| Some(u.forward_t(y.as_ref().unwrap_or(x), train)));
        parts.extend(d);
        parts.push(match &self.pool {
            Pool::AvgProj(u) => u.forward_t(&x.avg_pool2d([3, 3], [1, 1], [1, 1], true, true, None), train),
            Pool::MaxStride2 => x.max_pool2d([3, 3], [2, 2], [0, 0], [1, 1], true),
            Pool::MaxProj(u) => u.forward_t(&x.max_pool2d([3, 3], [1, 1], [1, 1], [1, 1], true), train),
        });
        Tensor::cat(&parts, 1)
    }
}

/// The BN-Inception feature extractor (pretrainedmodels' `features` + global average pool).
pub struct BnInception {
    stem: [Unit; 3],
    blocks: Vec<Block>,
}

impl BnInception {
    /// The network under `p`, with pretrainedmodels' variable names at its root.
    pub fn new(p: &nn::Path) -> Self {
        let stem = [
            Unit::new(p, "conv1_7x7_s2", 3, 64, 7, 2, 3),
            Unit::new(p, "conv2_3x3_reduce", 64, 64, 1, 1, 0),
            Unit::new(p, "conv2_3x3", 64, 192, 3, 1, 1),
        ];
        BnInception { stem, blocks: BLOCKS.iter().map(|s| Block::new(p, s)).collect() }
    }

    /// `[B, 3, S, S]` (BGR, the original's BN-Inception normalisation) -> `[B, 1024]`
    /// features, averaged over the last map. `train`: BatchNorm on batch statistics, updating
    /// the running ones (momentum 0.1); otherwise on the running statistics. S must be one
    /// the graph can run (`feature_side`); config validation refuses the others.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let pool = |y: Tensor| y.max_pool2d([3, 3], [2, 2], [0, 0], [1, 1], true);
        let y = pool(self.stem[0].forward_t(x, train));
        let y = self.stem[2].forward_t(&self.stem[1].forward_t(&y, train), train);
        let mut y = pool(y);
        for block in &self.blocks {
            y = block.forward_t(&y, train);
        }
        y.adaptive_avg_pool2d([1, 1]).flatten(1, -1)
    }
}

/// torch's pooling output size (`pooling_output_shape`): `n` in, kernel `k`, stride `s`,
/// padding `p`, ceil mode; None where torch refuses (an output below 1).
fn pooled(n: i64, k: i64, s: i64, p: i64) -> Option<i64> {
    let mut out = (n + 2 * p - (k - 1) - 1 + (s - 1)).div_euclid(s) + 1;
    if (out - 1) * s >= n + p {
        out -= 1;
    }
    (out >= 1).then_some(out)
}

/// The side of BN-Inception's last feature map for a `side` x `side` input [pixels], or None
/// where pretrainedmodels' graph cannot run it: at the stride-2 blocks (3c, 4e) the 3x3
/// convolutions (floor) and the ceil-mode max pool must give the same side to be
/// concatenated, which holds for even maps only. Valid inputs: 32k - 1 to 32k + 6 pixels
/// (k >= 1); 224 gives 7, the original's only working size.
pub fn feature_side(side: usize) -> Option<usize> {
    let conv = |n: i64, k: i64, s: i64, p: i64| (n + 2 * p >= k).then(|| (n + 2 * p - k) / s + 1);
    let n = conv(side as i64, 7, 2, 3)?;
    let n = pooled(n, 3, 2, 0)?;
    let mut n = pooled(n, 3, 2, 0)?;
    for _ in 0..2 {
        // Each stride-2 block: the 3x3s and the max pool; the stride-1 blocks keep the side.
        let c = conv(n, 3, 2, 1)?;
        if pooled(n, 3, 2, 0)? != c {
            return None;
        }
        n = c;
    }
    Some(n as usize)
}
