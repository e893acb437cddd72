//! Negative sampling. A miner takes the batch embeddings and labels and returns one
//! (anchor, positive, negative) triplet per anchor (random: bs triplets drawn uniformly).
//! Selection works on the batch's distance matrix on the host (bs x bs floats); the loss
//! then gathers rows in a few batched tensor ops.
pub mod fixed;

use crate::config::{RunConfig, Sampling};
use crate::pads::distribution::Distribution;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Triplets {
    pub anchors: Vec<i64>,
    pub positives: Vec<i64>,
    pub negatives: Vec<i64>,
}

impl Triplets {
    pub fn len(&self) -> usize {
        self.anchors.len()
    }
    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }
    pub fn push(&mut self, a: usize, p: usize, n: usize) {
        self.anchors.push(a as i64);
        self.positives.push(p as i64);
        self.negatives.push(n as i64);
    }
    pub fn to_tensors(&self, device: Device) -> (Tensor, Tensor, Tensor) {
        let t = |v: &Vec<i64>| Tensor::from_slice(v).to_device(device);
        (t(&self.anchors), t(&self.positives), t(&self.negatives))
    }
}

/// Pairwise Euclidean distances of the (detached) batch, row-major `[B*B]`.
pub struct BatchDistances {
    pub n: usize,
    pub d: Vec<f32>,
}

impl BatchDistances {
    pub fn new(emb: &Tensor) -> Self {
        let e = emb.detach().to_device(Device::Cpu).to_kind(Kind::Float);
        let n = e.size()[0] as usize;
        let sq = (&e * &e).sum_dim_intlist([1i64].as_slice(), true, Kind::Float);
        let d2 = (&sq + sq.transpose(0, 1) - e.matmul(&e.transpose(0, 1)) * 2.0).clamp_min(0.0);
        // The diagonal is exactly 0 in exact arithmetic; remove rounding noise.
        let d = d2.sqrt().fill_diagonal_(0.0, false);
        BatchDistances { n, d: Vec::<f32>::try_from(d.flatten(0, -1)).expect("f32 distances") }
    }
    pub fn get(&self, i: usize, j: usize) -> f32 {
        self.d[i * self.n + j]
    }
    pub fn row(&self, i: usize) -> &[f32] {
        &self.d[i * self.n..(i + 1) * self.n]
    }
}

pub trait Miner: Send {
    fn name(&self) -> &'static str;
    fn mine(&mut self, emb: &Tensor, labels: &[i64], rng: &mut ChaCha8Rng) -> Triplets;
    /// The PADS sampler exposes its distribution so the agent can update it.
    fn distribution_mut(&mut self) -> Option<&mut Distribution> {
        None
    }
    fn distribution(&self) -> Option<&Distribution> {
        None
    }
}

pub fn build_miner(cfg: &RunConfig) -> Box<dyn Miner> {
    match cfg.sampling {
        Sampling::Random => Box::new(fixed::RandomMiner),
        Sampling::Semihard => Box::new(fixed::SemihardMiner { margin: fixed::SEMIHARD_MARGIN }),
        Sampling::Softhard => Box::new(fixed::SofthardMiner),
        Sampling::Distance => Box::new(fixed::DistanceMiner { lower_cutoff: 0.5 }),
        Sampling::Pads => Box::new(crate::pads::miner::PadsMiner::new(Distribution::from_config(cfg))),
    }
}
