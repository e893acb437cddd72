//! The PADS sampler: per anchor a random positive (the anchor itself allowed with
//! `include_same`) and a negative drawn with probability proportional to p[bin(d_an)] over
//! other-class candidates, or over the whole batch with `include_pos`.
use super::distribution::Distribution;
use super::{BatchDistances, Miner, Triplets};
use rand::distributions::{Distribution as _, WeightedIndex};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use tch::Tensor;

pub struct PadsMiner {
    pub distribution: Distribution,
}

impl PadsMiner {
    pub fn new(distribution: Distribution) -> Self {
        PadsMiner { distribution }
    }

    /// The positives drawn from (uniformly) for anchor `a`: its class, the anchor itself
    /// only with `include_same`.
    pub fn positive_candidates(&self, labels: &[i64], a: usize) -> Vec<usize> {
        (0..labels.len()).filter(|&j| labels[j] == labels[a] && (j != a || self.distribution.include_same)).collect()
    }

    /// Normalised negative probabilities of anchor `a` over the batch.
    pub fn negative_probs(&self, d: &BatchDistances, labels: &[i64], a: usize) -> Vec<f64> {
        let dist = &self.distribution;
        let cand = |j: usize| dist.include_pos || labels[j] != labels[a];
        let w: Vec<f64> = (0..labels.len()).map(|j| if cand(j) { dist.weight(d.get(a, j) as f64) } else { 0.0 }).collect();
        let sum: f64 = w.iter().sum();
        if sum > 0.0 && sum.is_finite() {
            return w.iter().map(|x| x / sum).collect();
        }
        // Every candidate out of support: fall back to uniform over the candidates.
        let n = (0..labels.len()).filter(|&j| cand(j)).count() as f64;
        (0..labels.len()).map(|j| if cand(j) { 1.0 / n } else { 0.0 }).collect()
    }
}

impl Miner for PadsMiner {
    fn name(&self) -> &'static str {
        "pads"
    }
    fn mine(&mut self, emb: &Tensor, labels: &[i64], rng: &mut ChaCha8Rng) -> Triplets {
        let d = BatchDistances::new(emb);
        let mut t = Triplets::default();
        for a in 0..labels.len() {
            let pos = self.positive_candidates(labels, a);
            let has_neg = labels.iter().any(|&l| l != labels[a]);
            let (Some(&p), true) = (pos.choose(rng), has_neg) else { continue };
            let probs = self.negative_probs(&d, labels, a);
            let Ok(pick) = WeightedIndex::new(&probs) else { continue };
            t.push(a, p, pick.sample(rng));
        }
        t
    }
}
