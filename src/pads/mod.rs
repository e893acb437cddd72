//! PADS, policy-adapted sampling (pads-spec.md sections 4 and 5): a binned distribution over
//! anchor-negative distances, a sampler drawing from it, and an RL agent whose policy
//! re-weights the bins from validation-metric rewards.
pub mod agent;
pub mod distribution;
pub mod miner;
pub mod policy;
pub mod state;
