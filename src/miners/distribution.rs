//! The sampling distribution over distance bins. `n_support` points evenly spaced over the
//! support limits give `n_support - 1` bins; a distance's bin is the number of interior
//! support points it exceeds.
use crate::options::InitDistr;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    pub support: Vec<f64>,
    /// Weights before normalisation; the policy's multipliers act on these.
    pub unnormalised: Vec<f64>,
    /// Normalised bin probabilities.
    pub probs: Vec<f64>,
    /// Out-of-support distances share the edge bins (else they get probability 0).
    pub merge_oobs: bool,
    /// Negatives drawn over the whole batch, positives and the anchor included.
    pub include_pos: bool,
    /// The anchor may be its own positive.
    pub include_same: bool,
}

pub fn linspace(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    (0..n).map(|i| lo + (hi - lo) * i as f64 / (n - 1) as f64).collect()
}

fn normalise(w: &[f64]) -> Vec<f64> {
    let s: f64 = w.iter().sum();
    w.iter().map(|x| x / s).collect()
}

/// The original's initial weights: evaluated at each bin's left support point + 2/n_support,
/// clipped to [1e-15, 1] (except `random`, all ones), then normalised.
pub fn initial_weights(kind: InitDistr, support: &[f64]) -> Vec<f64> {
    let n = support.len();
    let xs: Vec<f64> = support[..n - 1].iter().map(|s| s + 2.0 / n as f64).collect();
    let uniform = |mu: f64, sig: f64| -> Vec<f64> {
        xs.iter().map(|&x| if x >= mu - sig && x <= mu + sig { 1.0 } else { 0.0 }).collect()
    };
    let gaussian = |mu: f64, sig: f64| -> Vec<f64> {
        xs.iter()
            .map(|&x| 1.0 / (2.0 * std::f64::consts::PI * sig).sqrt() * (-(x - mu).powi(2) / (2.0 * sig * sig)).exp())
            .collect()
    };
    let below = |lim: f64, inclusive: bool| -> Vec<f64> {
        xs.iter().map(|&x| if x < lim || (inclusive && x == lim) { 1.0 } else { 0.0 }).collect()
    };
    let raw = match kind {
        InitDistr::Random => return normalise(&vec![1.0; n - 1]),
        InitDistr::UniformLow => uniform(0.5, 0.2),
        InitDistr::UniformAvg => uniform(1.0, 0.2),
        InitDistr::UniformHigh => uniform(1.5, 0.2),
        InitDistr::UniformLowAndTight => uniform(0.4, 0.1),
        InitDistr::UniformLowishAndTight => uniform(0.6, 0.1),
        InitDistr::NormalLow => gaussian(0.5, 0.05),
        InitDistr::NormalAvg => gaussian(1.1, 0.04),
        InitDistr::NormalHigh => gaussian(1.6, 0.04),
        // heavyside: x <= 0.5 is 1; distance: x < 0.5 is 1 (the original sets x == 0.5 to 0).
        InitDistr::HeavysideLow => below(0.5, true),
        InitDistr::Distance => below(0.5, false),
    };
    normalise(&raw.iter().map(|w| w.clamp(1e-15, 1.0)).collect::<Vec<_>>())
}

impl Distribution {
    pub fn new(n_support: usize, limits: (f64, f64), init: InitDistr, self_reg: (bool, bool, bool)) -> Self {
        let support = linspace(limits.0, limits.1, n_support);
        let w = initial_weights(init, &support);
        let (include_pos, include_same, merge_oobs) = self_reg;
        Distribution { probs: normalise(&w), unnormalised: w, support, merge_oobs, include_pos, include_same }
    }

    /// The initial distribution a PADS miner with `opts` starts from (its support, initial
    /// weights and self-regularisation switches after `policy_no_self_reg`).
    pub fn from_config(opts: impl Into<super::MinerOptions>) -> Self {
        let o: super::MinerOptions = opts.into();
        let lim = &o.policy_support_limit;
        Distribution::new(o.policy_n_support, (lim[0], lim[1]), o.policy_init_distr, o.effective_self_reg())
    }

    pub fn n_bins(&self) -> usize {
        self.probs.len()
    }

    pub fn limits(&self) -> (f64, f64) {
        (self.support[0], *self.support.last().unwrap())
    }

    /// Number of interior support points that `d` exceeds.
    pub fn bin(&self, d: f64) -> usize {
        let interior = &self.support[1..self.support.len() - 1];
        interior.iter().filter(|&&s| d > s).count()
    }

    /// Sampling weight of a candidate at distance `d`.
    pub fn weight(&self, d: f64) -> f64 {
        let (lo, hi) = self.limits();
        if !self.merge_oobs && (d < lo || d > hi) {
            return 0.0;
        }
        self.probs[self.bin(d)]
    }

    /// Multiplies the unnormalised weights by per-bin factors, clips to [1e-25, 1e25] and
    /// renormalises.
    pub fn update(&mut self, multipliers: &[f64]) {
        assert_eq!(multipliers.len(), self.n_bins(), "one multiplier per bin");
        for (w, m) in self.unnormalised.iter_mut().zip(multipliers) {
            *w = (*w * m).clamp(1e-25, 1e25);
        }
        self.probs = normalise(&self.unnormalised);
    }
}
