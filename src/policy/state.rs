//! The policy's input state, as the original StateMaker builds it:
//! [last H metric vectors (oldest first) | running means over the last w calls for each w |
//!  last P distributions | progress]. Before H vectors exist, the history is filled with
//! copies of the first one (the original appends copies until it holds max(H, 2)).
//! With `no_avg` (`--policy-run-avgs-no-avg`) each running-average slot holds, instead of the
//! mean, the oldest vector of its window: the original keeps a deque of maxlen w per window
//! and then takes its first element, the metric vector of w - 1 calls ago (the oldest call
//! while fewer than w exist).
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StateMaker {
    pub metric_history: usize,
    pub run_avgs: Vec<usize>,
    pub parameter_history: usize,
    pub metric_dim: usize,
    pub n_bins: usize,
    /// Metric vectors, padded as the original pads them.
    pub metrics: Vec<Vec<f64>>,
    /// Distributions seen at each call, padded likewise.
    pub params: Vec<Vec<f64>>,
    /// Unpadded metric vectors of every call (for the running means).
    pub calls: Vec<Vec<f64>>,
    /// The oldest vector of each window instead of its mean (written only when on, so
    /// checkpoints of runs without it are unchanged).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_avg: bool,
}

impl StateMaker {
    pub fn new(metric_history: usize, run_avgs: &[usize], parameter_history: usize, metric_dim: usize, n_bins: usize) -> Self {
        StateMaker {
            metric_history,
            run_avgs: run_avgs.to_vec(),
            parameter_history,
            metric_dim,
            n_bins,
            metrics: Vec::new(),
            params: Vec::new(),
            calls: Vec::new(),
            no_avg: false,
        }
    }

    /// `new`, with the running-average slots holding the oldest vector of each window.
    pub fn with_no_avg(mut self, no_avg: bool) -> Self {
        self.no_avg = no_avg;
        self
    }

    /// metric_dim * (H + #run_avgs) + P * n_bins + 1.
    pub fn state_dim(&self) -> usize {
        self.metric_dim * (self.metric_history + self.run_avgs.len()) + self.parameter_history * self.n_bins + 1
    }

    /// Records this call's metrics and distribution and returns the state vector.
    pub fn push(&mut self, metrics: &[f64], distribution: &[f64], progress: f64) -> Vec<f32> {
        assert_eq!(metrics.len(), self.metric_dim, "metric vector length");
        assert_eq!(distribution.len(), self.n_bins, "distribution length");
        self.metrics.push(metrics.to_vec());
        while self.metrics.len() < self.metric_history.max(2) {
            self.metrics.push(metrics.to_vec());
        }
        self.params.push(distribution.to_vec());
        while self.params.len() < self.parameter_history {
            self.params.push(distribution.to_vec());
        }
        self.calls.push(metrics.to_vec());
        let mut state: Vec<f64> = Vec::with_capacity(self.state_dim());
        for m in &self.metrics[self.metrics.len() - self.metric_history..] {
            state.extend(m);
        }
        for &w in &self.run_avgs {
            let window = &self.calls[self.calls.len().saturating_sub(w)..];
            if self.no_avg {
                state.extend(&window[0]);
                continue;
            }
            for k in 0..self.metric_dim {
                state.push(window.iter().map(|m| m[k]).sum::<f64>() / window.len() as f64);
            }
        }
        for p in &self.params[self.params.len() - self.parameter_history..] {
            state.extend(p);
        }
        state.push(progress);
        debug_assert_eq!(state.len(), self.state_dim());
        state.into_iter().map(|x| x as f32).collect()
    }
}
