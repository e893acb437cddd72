//! What the agent observes at a policy step beyond the validation `Metrics`: the `svd` state
//! metric, the training split's metrics (`policy_include_train_metrics`), the sub-episode
//! reward points (`policy_sup_metric_collect`) and the gradient norms of a set of parameters.
use crate::eval::Metrics;
use crate::options::StateMetric;
use anyhow::{ensure, Result};
use tch::{Device, Kind, Tensor};

/// One split's state metrics: `metrics` (Recall@k, NMI, class distances) and `svd` (NaN when
/// `svd` is not a state metric).
#[derive(Debug, Clone)]
pub struct Observed {
    pub metrics: Metrics,
    pub svd: f64,
}

impl Observed {
    /// Metrics without the svd value (NaN: the state refuses it if `svd` is a state metric).
    pub fn new(metrics: Metrics) -> Self {
        Observed { metrics, svd: f64::NAN }
    }
}

/// A policy step's input: the validation split's metrics (state and reward) and, with
/// `policy_include_train_metrics`, the training split's (state only).
#[derive(Debug, Clone)]
pub struct Observation {
    pub val: Observed,
    pub train: Option<Observed>,
}

impl Observation {
    /// Validation metrics only.
    pub fn val(metrics: Metrics) -> Self {
        Observation { val: Observed::new(metrics), train: None }
    }

    /// The state's metric vector: the validation metrics in `order`, then the training
    /// split's in the same order (the original's Compute_Complete_Metrics).
    pub fn vector(&self, order: &[StateMetric]) -> Vec<f64> {
        let mut v = observed_vector(order, &self.val);
        if let Some(t) = &self.train {
            v.extend(observed_vector(order, t));
        }
        v
    }
}

fn observed_vector(order: &[StateMetric], o: &Observed) -> Vec<f64> {
    let mut v = Vec::new();
    for s in order {
        match s {
            StateMetric::Recall => v.extend(o.metrics.recall.iter().map(|r| r.1)),
            StateMetric::Dists => v.extend([o.metrics.intra, o.metrics.inter]),
            StateMetric::Nmi => v.push(o.metrics.nmi),
            StateMetric::Svd => v.push(o.svd),
        }
    }
    v
}

/// The original's `svd` state metric of embeddings `[N, D]`: the top D - 1 singular values s
/// (clipped below at 1e-6), p = s / sum(s), and the KL divergence of p from the uniform
/// distribution over D - 1 values, sum p ln(p (D - 1)) (scipy's entropy(p, uniform)).
/// The original takes s from sklearn's randomized TruncatedSVD(D - 1, n_iter=7,
/// random_state=42); pads takes the exact singular values of the same matrix (float64),
/// which that algorithm approximates (tests/reference_options.rs measures the difference).
/// With fewer than D - 1 rows the missing singular values are 0 (then 1e-6); the original
/// stops there (entropy of arrays of two lengths).
pub fn svd_metric(emb: &Tensor) -> Result<f64> {
    let size = emb.size();
    ensure!(size.len() == 2 && size[1] >= 2, "svd state metric: embeddings must be [N, D] with D >= 2, got {size:?}");
    let n_comp = (size[1] - 1) as usize;
    let e = emb.detach().to_device(Device::Cpu).to_kind(Kind::Double);
    let (_, s, _) = e.f_svd(true, false)?;
    let mut s = Vec::<f64>::try_from(s)?;
    s.sort_by(|a, b| b.total_cmp(a));
    s.resize(n_comp, 0.0);
    let s: Vec<f64> = s.into_iter().map(|x| x.max(1e-6)).collect();
    let total: f64 = s.iter().sum();
    Ok(s.iter().map(|x| x / total).map(|p| p * (p * n_comp as f64).ln()).sum())
}

/// The value of the original's per-period counter (`train_iter_before_update`) that
/// PADS.update sees at its `calls`-th call (1-based, counted from the delay on): 0, 1, ...,
/// M up to the first step at call M + 1, then 1, ..., M in every later period.
pub fn period_counter(calls: usize, sample_freq: usize) -> usize {
    if calls <= sample_freq + 1 {
        calls.saturating_sub(1)
    } else {
        (calls - 2) % sample_freq.max(1) + 1
    }
}

/// The counter values at which the original collects a sub-episode reward:
/// M // (S + 1) * j for j = 1..=S (`policy_sup_metric_collect` = S; none when S <= 0).
pub fn sub_collect_points(sample_freq: usize, sup_metric_collect: usize) -> Vec<usize> {
    (1..=sup_metric_collect).map(|j| sample_freq / (sup_metric_collect + 1) * j).filter(|&v| v != sample_freq).collect()
}

/// Whether the `calls`-th call collects a sub-episode reward (`sub_collect_points` of its
/// `period_counter`).
pub fn is_sub_collect(calls: usize, sample_freq: usize, sup_metric_collect: usize) -> bool {
    sup_metric_collect > 0 && sub_collect_points(sample_freq, sup_metric_collect).contains(&period_counter(calls, sample_freq))
}

/// The reward metric of a period with sub-episode rewards r_0..r_{n-1} (the last is the
/// policy step's own): sum 0.7^(n - 1 - i) r_i, as the original.
pub fn discounted_reward(rewards: &[f64]) -> f64 {
    let n = rewards.len();
    rewards.iter().enumerate().map(|(i, r)| 0.7f64.powi((n - 1 - i) as i32) * r).sum()
}
