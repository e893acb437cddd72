//! The baseline samplers of pads-spec.md section 3.
use super::{Miner, MiningInput, Triplets};
use rand::distributions::{Distribution as _, WeightedIndex};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Positives (same class, not the anchor itself) and negatives (other class) of anchor `a`
/// among the candidates.
pub fn candidates(input: &MiningInput, a: usize) -> (Vec<usize>, Vec<usize>) {
    let mut pos = Vec::new();
    let mut neg = Vec::new();
    for (j, &l) in input.ref_labels.iter().enumerate() {
        if l != input.labels[a] {
            neg.push(j);
        } else if !input.is_self(a, j) {
            pos.push(j);
        }
    }
    (pos, neg)
}

/// Every valid triplet: (a, p, n) with p != a of a's class and n of another class, in a
/// fixed order (anchor, then positive, then negative ascending).
pub fn all_triplets(input: &MiningInput) -> Vec<(usize, usize, usize)> {
    let mut out = Vec::new();
    for a in 0..input.labels.len() {
        let (pos, neg) = candidates(input, a);
        for &p in &pos {
            out.extend(neg.iter().map(|&n| (a, p, n)));
        }
    }
    out
}

/// As the original's random sampler: `batch size` triplets drawn uniformly *without
/// replacement* from all valid triplets of the batch (`all_triplets`); all of them when the
/// batch has fewer (the original raises ValueError then).
pub struct RandomMiner;

impl Miner for RandomMiner {
    fn name(&self) -> &'static str {
        "random"
    }
    fn mine_input(&mut self, input: &MiningInput, rng: &mut ChaCha8Rng) -> Triplets {
        let all = all_triplets(input);
        let mut t = Triplets::default();
        let amount = input.labels.len().min(all.len());
        for i in rand::seq::index::sample(rng, all.len(), amount) {
            let (a, p, n) = all[i];
            t.push(a, p, n);
        }
        t
    }
}

/// The original's semihard sampler always uses this margin (its `margin=0.2` default is never
/// overridden); pads' `--margin` does not reach it.
pub const SEMIHARD_MARGIN: f32 = 0.2;

/// The original's `pdist(eps=1e-4)` for semihard and softhard: sqrt(max(d^2, 1e-4)), so
/// distances below 0.01 read as 0.01 (the anchor's distance to itself included).
fn clamped(input: &MiningInput, i: usize, j: usize) -> f32 {
    input.d.get(i, j).max(0.01)
}

/// The negatives semihard draws from for anchor `a` and its positive `p`: other-class `n`
/// with d_ap < d_an < margin + d_ap (distances as `clamped`), or every other-class item
/// when there is none.
pub fn semihard_negatives(input: &MiningInput, a: usize, p: usize, margin: f32) -> Vec<usize> {
    let (_, neg) = candidates(input, a);
    let d_ap = clamped(input, a, p);
    let semi: Vec<usize> = neg.iter().copied().filter(|&n| clamped(input, a, n) > d_ap && clamped(input, a, n) < margin + d_ap).collect();
    if semi.is_empty() {
        neg
    } else {
        semi
    }
}

/// The (positives, negatives) softhard draws from for anchor `a`: positives farther than the
/// nearest negative and negatives closer than the farthest positive (distances as
/// `clamped`), each falling back to all positives / negatives when empty.
pub fn softhard_candidates(input: &MiningInput, a: usize) -> (Vec<usize>, Vec<usize>) {
    let d = input;
    let (pos, neg) = candidates(input, a);
    if pos.is_empty() || neg.is_empty() {
        return (pos, neg);
    }
    let max_ap = pos.iter().map(|&p| clamped(d, a, p)).fold(f32::MIN, f32::max);
    let min_an = neg.iter().map(|&n| clamped(d, a, n)).fold(f32::MAX, f32::min);
    let hard_neg: Vec<usize> = neg.iter().copied().filter(|&n| clamped(d, a, n) < max_ap).collect();
    let hard_pos: Vec<usize> = pos.iter().copied().filter(|&p| clamped(d, a, p) > min_an).collect();
    (if hard_pos.is_empty() { pos } else { hard_pos }, if hard_neg.is_empty() { neg } else { hard_neg })
}

/// Random positive; a negative from `semihard_negatives` (margin `SEMIHARD_MARGIN` in
/// training).
pub struct SemihardMiner {
    pub margin: f32,
}

impl Miner for SemihardMiner {
    fn name(&self) -> &'static str {
        "semihard"
    }
    fn mine_input(&mut self, input: &MiningInput, rng: &mut ChaCha8Rng) -> Triplets {
        let mut t = Triplets::default();
        for a in 0..input.labels.len() {
            let (pos, neg) = candidates(input, a);
            let (Some(&p), false) = (pos.choose(rng), neg.is_empty()) else { continue };
            let negs = semihard_negatives(input, a, p, self.margin);
            let Some(&n) = negs.choose(rng) else { continue };
            t.push(a, p, n);
        }
        t
    }
}

/// Negatives closer than the farthest positive, positives farther than the nearest negative
/// (distances as `clamped`).
pub struct SofthardMiner;

impl Miner for SofthardMiner {
    fn name(&self) -> &'static str {
        "softhard"
    }
    fn mine_input(&mut self, input: &MiningInput, rng: &mut ChaCha8Rng) -> Triplets {
        let mut t = Triplets::default();
        for a in 0..input.labels.len() {
            let (pos, neg) = softhard_candidates(input, a);
            let (Some(&p), Some(&n)) = (pos.choose(rng), neg.choose(rng)) else { continue };
            t.push(a, p, n);
        }
        t
    }
}

/// Distance-weighted sampling (Wu et al. 2017): negative j with weight q(d)^-1,
/// log q(d)^-1 = (2 - dim) log d - ((dim - 3) / 2) log(1 - d^2 / 4), d clamped below at
/// `lower_cutoff`; same-class candidates weight 0; positive at random.
pub struct DistanceMiner {
    pub lower_cutoff: f32,
}

impl DistanceMiner {
    /// Normalised negative weights of anchor `a` over the candidates (0 for its class).
    pub fn weights(&self, input: &MiningInput, a: usize) -> Vec<f64> {
        let dim = input.dim as f64;
        let (labels, ref_labels) = (input.labels, input.ref_labels);
        let log_w: Vec<f64> = (0..ref_labels.len())
            .map(|j| {
                if ref_labels[j] == labels[a] {
                    return f64::NEG_INFINITY;
                }
                let dist = (input.d.get(a, j).max(self.lower_cutoff)) as f64;
                (2.0 - dim) * dist.ln() - ((dim - 3.0) / 2.0) * (1.0 - 0.25 * dist * dist).max(1e-8).ln()
            })
            .collect();
        let max = log_w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let w: Vec<f64> = log_w.iter().map(|&l| if l.is_finite() { (l - max).exp() } else { 0.0 }).collect();
        let sum: f64 = w.iter().sum();
        if sum > 0.0 && sum.is_finite() {
            w.iter().map(|x| x / sum).collect()
        } else {
            let n_neg = ref_labels.iter().filter(|&&l| l != labels[a]).count() as f64;
            ref_labels.iter().map(|&l| if l != labels[a] { 1.0 / n_neg } else { 0.0 }).collect()
        }
    }
}

impl Miner for DistanceMiner {
    fn name(&self) -> &'static str {
        "distance"
    }
    fn mine_input(&mut self, input: &MiningInput, rng: &mut ChaCha8Rng) -> Triplets {
        let mut t = Triplets::default();
        for a in 0..input.labels.len() {
            let (pos, neg) = candidates(input, a);
            let (Some(&p), false) = (pos.choose(rng), neg.is_empty()) else { continue };
            let w = self.weights(input, a);
            let n = WeightedIndex::new(&w).map(|wi| wi.sample(rng)).unwrap_or_else(|_| *neg.choose(rng).unwrap());
            t.push(a, p, n);
        }
        t
    }
}
