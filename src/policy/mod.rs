//! The PADS agent (pads-spec.md section 5; Roth, Milbich & Ommer, CVPR 2020), layer 2: an RL
//! policy that re-weights the bins of the PADS miner's distribution (miners::distribution)
//! from validation-metric rewards. agent.rs: state, reward, updates and its checkpoint
//! groups; network.rs: the policy network and its losses; state.rs: the state vector;
//! options.rs: `AgentOptions`.
pub mod agent;
pub mod network;
pub mod observe;
pub mod options;
pub mod state;

pub use options::AgentOptions;

/// Whether the policy acts after the `calls`-th training iteration since PADS became active
/// (1-based, counted from epoch `--policy-training-delay` on), with M = `sample_freq`.
/// As the original's counter (it compares before incrementing and restarts at 0, then 1):
/// the first step after iteration M + 1, then every M iterations (2M + 1, 3M + 1, ...).
pub fn is_policy_step(calls: usize, sample_freq: usize) -> bool {
    sample_freq > 0 && calls > sample_freq && (calls - 1) % sample_freq == 0
}
