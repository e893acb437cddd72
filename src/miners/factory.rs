//! The miner factory: a sampler from its options (`MinerOptions`), the one place that knows
//! both the fixed miners and the PADS sampler.
use super::distribution::Distribution;
use super::pads::PadsMiner;
use super::{fixed, Miner, MiningInput, Triplets};
use crate::options::{opt, InitDistr, Sampling};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// What a sampler needs: which one, the seed of its generator, and for PADS its
/// distribution (pads-spec.md section 4). Field names are the original's argparse names;
/// `Default` is the original's values. config/ builds it from a RunConfig; the Python
/// extension deserialises it from the keyword arguments (unknown keys refused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MinerOptions {
    /// The sampler.
    pub sampling: Sampling,
    /// Seed of the miner's generator (`miner_rng`).
    pub seed: u64,
    /// The loss margin (checked here; no sampler reads it).
    pub margin: f64,
    /// The semihard sampler's window d_ap < d_an < d_ap + `semihard_margin`; the original
    /// keeps it at 0.2 (`fixed::SEMIHARD_MARGIN`) whatever the loss margin.
    pub semihard_margin: f64,
    /// Support points of the PADS distribution (bins = points - 1).
    pub policy_n_support: usize,
    /// Distance range LOW, HIGH the bins cover.
    pub policy_support_limit: Vec<f64>,
    /// Initial PADS distribution.
    pub policy_init_distr: InitDistr,
    /// Out-of-support distances fall into the edge bins (else probability 0).
    pub policy_merge_oobs: bool,
    /// Negatives drawn over the whole batch, positives included (self-regularisation).
    pub policy_include_pos: bool,
    /// The anchor may be its own positive.
    pub policy_include_same: bool,
    /// Turns include_pos and include_same off (the original's flag; merge_oobs stays).
    pub policy_no_self_reg: bool,
}

impl Default for MinerOptions {
    fn default() -> Self {
        MinerOptions {
            sampling: Sampling::Pads,
            seed: 1,
            margin: 0.2,
            semihard_margin: 0.2,
            policy_n_support: 30,
            policy_support_limit: vec![0.1, 1.4],
            policy_init_distr: InitDistr::UniformLow,
            policy_merge_oobs: true,
            policy_include_pos: true,
            policy_include_same: true,
            policy_no_self_reg: false,
        }
    }
}

impl From<&MinerOptions> for MinerOptions {
    fn from(o: &MinerOptions) -> Self {
        o.clone()
    }
}

impl MinerOptions {
    /// (include_pos, include_same, merge_oobs) after `policy_no_self_reg`, which clears
    /// include_pos and include_same as the original's flag does (its `policy_include_merge`
    /// is a name its sampler never reads, so merging out-of-support distances stays).
    pub fn effective_self_reg(&self) -> (bool, bool, bool) {
        if self.policy_no_self_reg {
            (false, false, self.policy_merge_oobs)
        } else {
            (self.policy_include_pos, self.policy_include_same, self.policy_merge_oobs)
        }
    }

    /// Range checks; each message names the option (`options::spell`) and what it allows.
    pub fn validate(&self) -> anyhow::Result<()> {
        if !(self.margin >= 0.0 && self.margin.is_finite()) {
            anyhow::bail!("{} must be a number >= 0, got {}", opt("margin"), self.margin);
        }
        if !(self.semihard_margin >= 0.0 && self.semihard_margin.is_finite()) {
            anyhow::bail!("{} must be a number >= 0, got {}", opt("semihard_margin"), self.semihard_margin);
        }
        // The upper bound keeps a mistyped count an error, not an allocation that aborts.
        if !(3..=10_000).contains(&self.policy_n_support) {
            anyhow::bail!("{} must be from 3 (two bins) to 10000, got {}", opt("policy_n_support"), self.policy_n_support);
        }
        let lim = &self.policy_support_limit;
        if lim.len() != 2 || !(lim[0] >= 0.0 && lim[0] < lim[1] && lim[1].is_finite()) {
            anyhow::bail!("{} takes two increasing distances 0 <= LOW < HIGH, got {lim:?}", opt("policy_support_limit"));
        }
        Ok(())
    }
}

/// The miner's generator for `seed`: the stream the trainer mines with (and the Python
/// miners), independent of the other seeded streams of a run.
pub fn miner_rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(crate::util::mix(seed, 0x313E4, 0))
}

/// The negative sampler of a run: a fixed miner, or the PADS sampler whose distribution the
/// agent updates between iterations.
pub enum Mining {
    Fixed(Box<dyn Miner>),
    Pads(PadsMiner),
}

impl Mining {
    /// The sampler `opts.sampling` names (PADS starts from `Distribution::from_config`).
    pub fn new(opts: impl Into<MinerOptions>) -> Self {
        let o: MinerOptions = opts.into();
        match o.sampling {
            Sampling::Pads => Mining::Pads(PadsMiner::new(Distribution::from_config(&o))),
            _ => Mining::Fixed(build_miner(&o)),
        }
    }

    /// One triplet per usable anchor of the batch (`emb` `[B, D]`, `labels` `[B]`).
    pub fn mine(&mut self, emb: &Tensor, labels: &[i64], rng: &mut ChaCha8Rng) -> Triplets {
        self.mine_input(&MiningInput::batch(emb, labels), rng)
    }

    /// One triplet per usable anchor of `input` (the batch against itself or a reference set).
    pub fn mine_input(&mut self, input: &MiningInput, rng: &mut ChaCha8Rng) -> Triplets {
        match self {
            Mining::Fixed(m) => m.mine_input(input, rng),
            Mining::Pads(m) => m.mine_input(input, rng),
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
pub fn build_miner(opts: impl Into<MinerOptions>) -> Box<dyn Miner> {
    let o: MinerOptions = opts.into();
    match o.sampling {
        Sampling::Random => Box::new(fixed::RandomMiner),
        Sampling::Semihard => Box::new(fixed::SemihardMiner { margin: o.semihard_margin as f32 }),
        Sampling::Softhard => Box::new(fixed::SofthardMiner),
        Sampling::Distance => Box::new(fixed::DistanceMiner { lower_cutoff: 0.5 }),
        Sampling::Pads => Box::new(PadsMiner::new(Distribution::from_config(&o))),
    }
}
