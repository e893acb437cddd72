//! Negative sampling (layer 1): the `Miner` trait, the fixed miners (fixed.rs), the PADS
//! sampler and its distribution (pads.rs, distribution.rs) and the factory (factory.rs).
//! A miner takes the batch embeddings and labels and returns one
//! (anchor, positive, negative) triplet per anchor (random: bs triplets drawn uniformly).
//! Selection works on the distance matrix on the host (`MiningInput`: bs x bs floats, or bs
//! x M against a reference set as pytorch-metric-learning's `ref_emb`); the loss then
//! gathers rows in a few batched tensor ops.
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

impl Triplets {
    /// The label-valid triplets of `self` (a != p within one set, label(p) == label(a),
    /// label(n) != label(a)) and how many were dropped. Drops, never re-draws, so the
    /// sampling distribution of the kept ones is the miner's own.
    pub fn label_valid(&self, input: &MiningInput) -> (Triplets, usize) {
        let mut kept = Triplets::default();
        for i in 0..self.len() {
            let (a, p, n) = (self.anchors[i] as usize, self.positives[i] as usize, self.negatives[i] as usize);
            let la = input.labels[a];
            if !input.is_self(a, p) && input.ref_labels[p] == la && input.ref_labels[n] != la {
                kept.push(a, p, n);
            }
        }
        let dropped = self.len() - kept.len();
        (kept, dropped)
    }
}

/// What one mining call sees: the distances from each anchor (a batch row) to each candidate
/// (a batch row, or a row of a reference set), the anchors' and candidates' labels, and
/// whether the candidates are the anchors themselves (then candidate `a` is anchor `a`).
/// Triplet indices: anchors index the batch, positives and negatives the candidates, as
/// pytorch-metric-learning's miners with `ref_emb` / `ref_labels`.
pub struct MiningInput<'a> {
    pub d: BatchDistances,
    pub labels: &'a [i64],
    pub ref_labels: &'a [i64],
    pub same_set: bool,
    /// Embedding dimension (the distance-weighted miner's weights need it).
    pub dim: usize,
}

impl<'a> MiningInput<'a> {
    /// The batch `emb` `[B, D]` against itself (`labels` `[B]`).
    pub fn batch(emb: &Tensor, labels: &'a [i64]) -> Self {
        MiningInput { d: BatchDistances::new(emb), labels, ref_labels: labels, same_set: true, dim: emb.size()[1] as usize }
    }

    /// Anchors `emb` `[B, D]` (`labels` `[B]`) against candidates `reference` `[M, D]`
    /// (`ref_labels` `[M]`), a set other than the batch (no candidate is an anchor).
    pub fn with_reference(emb: &Tensor, labels: &'a [i64], reference: &Tensor, ref_labels: &'a [i64]) -> Self {
        MiningInput { d: BatchDistances::between(emb, reference), labels, ref_labels, same_set: false, dim: emb.size()[1] as usize }
    }

    /// A batch's own distances (tests and fixtures that hold a `BatchDistances`).
    pub fn from_distances(d: BatchDistances, labels: &'a [i64], dim: usize) -> Self {
        MiningInput { d, labels, ref_labels: labels, same_set: true, dim }
    }

    /// Whether candidate `j` is anchor `a` itself.
    pub fn is_self(&self, a: usize, j: usize) -> bool {
        self.same_set && a == j
    }

    /// Number of candidates.
    pub fn n_candidates(&self) -> usize {
        self.ref_labels.len()
    }

    /// Whether some candidate has a label other than anchor `a`'s.
    pub fn has_negative(&self, a: usize) -> bool {
        self.ref_labels.iter().any(|&l| l != self.labels[a])
    }
}

pub trait Miner: Send {
    fn name(&self) -> &'static str;
    /// Triplets of `input` (anchors index the batch, positives and negatives the candidates).
    fn mine_input(&mut self, input: &MiningInput, rng: &mut ChaCha8Rng) -> Triplets;
    /// Triplets of the batch `emb` `[B, D]` (labels `[B]`) against itself.
    fn mine(&mut self, emb: &Tensor, labels: &[i64], rng: &mut ChaCha8Rng) -> Triplets {
        self.mine_input(&MiningInput::batch(emb, labels), rng)
    }
}
