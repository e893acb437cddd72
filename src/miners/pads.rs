//! The PADS sampler: per anchor a random positive (the anchor itself allowed with
//! `include_same`) and a negative drawn with probability proportional to p[bin(d_an)] over
//! other-class candidates, or over the whole batch with `include_pos`.
use super::distribution::Distribution;
use super::{Miner, MiningInput, Triplets};
use rand::distributions::{Distribution as _, WeightedIndex};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

pub struct PadsMiner {
    pub distribution: Distribution,
}

impl PadsMiner {
    pub fn new(distribution: Distribution) -> Self {
        PadsMiner { distribution }
    }

    /// The positives drawn from (uniformly) for anchor `a`: the candidates of its class, the
    /// anchor itself only with `include_same`.
    pub fn positive_candidates(&self, input: &MiningInput, a: usize) -> Vec<usize> {
        let (labels, ref_labels) = (input.labels, input.ref_labels);
        (0..ref_labels.len()).filter(|&j| ref_labels[j] == labels[a] && (!input.is_self(a, j) || self.distribution.include_same)).collect()
    }

    /// Normalised negative probabilities of anchor `a` over the candidates.
    pub fn negative_probs(&self, input: &MiningInput, a: usize) -> Vec<f64> {
        let dist = &self.distribution;
        let (labels, ref_labels) = (input.labels, input.ref_labels);
        let cand = |j: usize| dist.include_pos || ref_labels[j] != labels[a];
        let w: Vec<f64> = (0..ref_labels.len()).map(|j| if cand(j) { dist.weight(input.d.get(a, j) as f64) } else { 0.0 }).collect();
        let sum: f64 = w.iter().sum();
        if sum > 0.0 && sum.is_finite() {
            return w.iter().map(|x| x / sum).collect();
        }
        // Every candidate out of support: fall back to uniform over the candidates.
        let n = (0..ref_labels.len()).filter(|&j| cand(j)).count() as f64;
        (0..ref_labels.len()).map(|j| if cand(j) { 1.0 / n } else { 0.0 }).collect()
    }
}

impl Miner for PadsMiner {
    fn name(&self) -> &'static str {
        "pads"
    }
    fn mine_input(&mut self, input: &MiningInput, rng: &mut ChaCha8Rng) -> Triplets {
        let mut t = Triplets::default();
        for a in 0..input.labels.len() {
            let pos = self.positive_candidates(input, a);
            let (Some(&p), true) = (pos.choose(rng), input.has_negative(a)) else { continue };
            let probs = self.negative_probs(input, a);
            let Ok(pick) = WeightedIndex::new(&probs) else { continue };
            t.push(a, p, pick.sample(rng));
        }
        t
    }
}
