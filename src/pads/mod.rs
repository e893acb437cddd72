//! PADS, policy-adapted sampling (pads-spec.md sections 4 and 5): a binned distribution over
//! anchor-negative distances, a sampler drawing from it, and an RL agent whose policy
//! re-weights the bins from validation-metric rewards.
pub mod agent;
pub mod distribution;
pub mod miner;
pub mod policy;
pub mod state;

/// Whether the policy acts after the `calls`-th training iteration since PADS became active
/// (1-based, counted from epoch `--policy-training-delay` on), with M = `sample_freq`.
/// As the original's counter (it compares before incrementing and restarts at 0, then 1):
/// the first step after iteration M + 1, then every M iterations (2M + 1, 3M + 1, ...).
pub fn is_policy_step(calls: usize, sample_freq: usize) -> bool {
    sample_freq > 0 && calls > sample_freq && (calls - 1) % sample_freq == 0
}
