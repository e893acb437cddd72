//! Negative sampling (layer 1): the `Miner` trait, the fixed miners (fixed.rs), the PADS
//! sampler and its distribution (pads.rs, distribution.rs) and the factory (factory.rs).
//! A miner takes the batch embeddings and labels and returns one
//! (anchor, positive, negative) triplet per anchor (random: bs triplets drawn uniformly).
//! Selection works on the batch's distance matrix on the host (bs x bs floats); the loss
//! then gathers rows in a few batched tensor ops.
pub mod distribution;
pub mod factory;
pub mod fixed;
pub mod pads;

pub use factory::{build_miner, miner_rng, MinerOptions, Mining};

use rand_chacha::ChaCha8Rng;
use tch::{Device, Tensor};

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

pub use crate::ops::BatchDistances;

pub trait Miner: Send {
    fn name(&self) -> &'static str;
    fn mine(&mut self, emb: &Tensor, labels: &[i64], rng: &mut ChaCha8Rng) -> Triplets;
}
