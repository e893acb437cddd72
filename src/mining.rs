//! The miner factory, above both miner/ (the fixed miners and the `Miner` trait) and pads/
//! (the PADS sampler and its distribution): miner/ no longer imports pads/, pads/miner
//! implements miner's trait, and only this module knows both.
use crate::config::{RunConfig, Sampling};
use crate::miner::{fixed, Miner, Triplets};
use crate::pads::distribution::Distribution;
use crate::pads::miner::PadsMiner;
use rand_chacha::ChaCha8Rng;
use tch::Tensor;

/// The negative sampler of a run: a fixed miner, or the PADS sampler whose distribution the
/// agent updates between iterations.
pub enum Mining {
    Fixed(Box<dyn Miner>),
    Pads(PadsMiner),
}

impl Mining {
    /// The sampler `cfg.sampling` names (PADS starts from `Distribution::from_config`).
    pub fn new(cfg: &RunConfig) -> Self {
        match cfg.sampling {
            Sampling::Pads => Mining::Pads(PadsMiner::new(Distribution::from_config(cfg))),
            _ => Mining::Fixed(build_miner(cfg)),
        }
    }

    /// One triplet per usable anchor of the batch (`emb` `[B, D]`, `labels` `[B]`).
    pub fn mine(&mut self, emb: &Tensor, labels: &[i64], rng: &mut ChaCha8Rng) -> Triplets {
        match self {
            Mining::Fixed(m) => m.mine(emb, labels, rng),
            Mining::Pads(m) => m.mine(emb, labels, rng),
        }
    }

    /// The sampler's name (`Miner::name`).
    pub fn name(&self) -> &'static str {
        match self {
            Mining::Fixed(m) => m.name(),
            Mining::Pads(m) => m.name(),
        }
    }

    /// The PADS sampling distribution (None for fixed miners).
    pub fn distribution(&self) -> Option<&Distribution> {
        match self {
            Mining::Pads(m) => Some(&m.distribution),
            Mining::Fixed(_) => None,
        }
    }

    pub fn distribution_mut(&mut self) -> Option<&mut Distribution> {
        match self {
            Mining::Pads(m) => Some(&mut m.distribution),
            Mining::Fixed(_) => None,
        }
    }
}

/// Any sampler as a `Miner` trait object (benchmarks time them through one interface).
pub fn build_miner(cfg: &RunConfig) -> Box<dyn Miner> {
    match cfg.sampling {
        Sampling::Random => Box::new(fixed::RandomMiner),
        Sampling::Semihard => Box::new(fixed::SemihardMiner { margin: fixed::SEMIHARD_MARGIN }),
        Sampling::Softhard => Box::new(fixed::SofthardMiner),
        Sampling::Distance => Box::new(fixed::DistanceMiner { lower_cutoff: 0.5 }),
        Sampling::Pads => Box::new(PadsMiner::new(Distribution::from_config(cfg))),
    }
}
