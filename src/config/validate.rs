//! Option checks that need no data (`RunConfig::validate`); the miner's and the agent's own
//! checks are theirs (`MinerOptions::validate`, `AgentOptions::validate`).
use super::RunConfig;
use crate::miners::MinerOptions;
use crate::options::{opt, spell, SelectOn};
use crate::policy::AgentOptions;
use anyhow::{bail, Result};

impl RunConfig {
    /// Option checks that need no data; each message names the option (`options::opt`) and
    /// what it allows. The miner's and the agent's options are checked by their own
    /// `validate`.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [("train_val_split", self.train_val_split), ("folder_test_share", self.folder_test_share)] {
            if !(v > 0.0 && v <= 1.0) {
                bail!("{} must be in (0, 1], got {v}", opt(name));
            }
        }
        if self.samples_per_class < 2 {
            bail!(
                "{} must be at least 2, got {}: every sampler draws (anchor, positive, negative) triplets from a batch, and with one image per class no anchor has a positive",
                opt("samples_per_class"),
                self.samples_per_class
            );
        }
        if self.bs < 2 * self.samples_per_class || self.bs % self.samples_per_class != 0 {
            bail!(
                "{} ({}) must be a multiple of {} ({}) holding at least two classes",
                opt("bs"),
                self.bs,
                opt("samples_per_class"),
                self.samples_per_class
            );
        }
        if self.image_size < 16 {
            bail!("{} must be at least 16, got {}", opt("image_size"), self.image_size);
        }
        if self.arch == crate::options::Arch::Bninception && crate::model::bninception::feature_side(self.image_size).is_none() {
            let s = self.image_size;
            let below = (16..s).rev().find(|&t| crate::model::bninception::feature_side(t).is_some());
            let above = (s + 1..s + 64).find(|&t| crate::model::bninception::feature_side(t).is_some());
            let nearest: Vec<String> = below.into_iter().chain(above).map(|t| t.to_string()).collect();
            bail!(
                "{} does not fit {}: its inception blocks 3c and 4e concatenate a strided convolution and a ceil-mode max pool, which agree on even feature maps only, so it runs at 32k - 1 to 32k + 6 pixels (224 as the original; nearest: {})",
                spell("image_size", Some(&s.to_string())),
                spell("arch", Some("bninception")),
                nearest.join(" or ")
            );
        }
        if self.embed_dim < 2 {
            bail!("{} must be at least 2, got {}", opt("embed_dim"), self.embed_dim);
        }
        for (name, v) in [("n_epochs", self.n_epochs), ("policy_sample_freq", self.policy_sample_freq), ("eval_every", self.eval_every)] {
            if v == 0 {
                bail!("{} must be at least 1", opt(name));
            }
        }
        for (name, v) in [("lr", self.lr), ("gamma", self.gamma)] {
            if !(v > 0.0 && v.is_finite()) {
                bail!("{} must be a positive number, got {v}", opt(name));
            }
        }
        // The margin is checked by `MinerOptions::validate` below.
        for (name, v) in [("decay", self.decay), ("beta_lr", self.beta_lr), ("beta", self.beta)] {
            if !(v >= 0.0 && v.is_finite()) {
                bail!("{} must be a number >= 0, got {v}", opt(name));
            }
        }
        if self.pretrained.is_some() && self.not_pretrained {
            bail!("{} FILE and {} contradict each other: give one", opt("pretrained"), opt("not_pretrained"));
        }
        if self.pretrained.is_some() && self.arch == crate::options::Arch::Small {
            bail!(
                "{} loads ImageNet weights for {} or {}; {} has no pretrained weights (drop {})",
                opt("pretrained"),
                spell("arch", Some("resnet50")),
                spell("arch", Some("bninception")),
                spell("arch", Some(self.arch.as_str())),
                opt("pretrained")
            );
        }
        if self.policy_sup_metric_collect > 0 && self.policy_sup_metric_collect as usize >= self.policy_sample_freq {
            bail!(
                "{} ({}) must be below {} ({}): the collection points M // (S + 1) * j would all be 0",
                opt("policy_sup_metric_collect"),
                self.policy_sup_metric_collect,
                opt("policy_sample_freq"),
                self.policy_sample_freq
            );
        }
        if self.policy_scramble_freq == 0 {
            bail!("{} must be at least 1", opt("policy_scramble_freq"));
        }
        if self.policy_scramble_dataloaders && self.sampling == crate::options::Sampling::Pads && self.train_val_split >= 1.0 {
            bail!("{} re-draws the validation split: set {} below 1", opt("policy_scramble_dataloaders"), opt("train_val_split"));
        }
        MinerOptions::from(self).validate()?;
        AgentOptions::from(self).validate()?;
        if self.select_on == SelectOn::Val && !self.takes_val_split() {
            if self.train_val_split >= 1.0 {
                bail!(
                    "{} needs a validation split: set {} below 1 (or {})",
                    spell("select_on", Some("val")),
                    opt("train_val_split"),
                    spell("select_on", Some("test"))
                );
            }
            bail!(
                "{} needs a validation split, and as in the original only {} holds one out; add {} to hold it out for {} too (or {})",
                spell("select_on", Some("val")),
                spell("sampling", Some("pads")),
                opt("val_split_all_samplers"),
                spell("sampling", Some(self.sampling.as_str())),
                spell("select_on", Some("test"))
            );
        }
        // Spelling only: availability is checked where it trains (a sweep may be written
        // on a machine without the GPU its runs will use).
        crate::device::check_device_spec(&self.device)?;
        Ok(())
    }
}
