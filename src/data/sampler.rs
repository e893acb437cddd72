//! Class-balanced batches as in the original: groups of `samples_per_class` images of one
//! class, each group's class differing from the two classes used just before. As in the
//! original (image index = random index modulo the class size), a group's images are drawn
//! with replacement, so a group may hold one image twice; `without_replacement` (flag
//! `--batch-without-replacement`) draws distinct images instead.
use super::Split;
use anyhow::{bail, Result};
use rand::seq::SliceRandom;
use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub struct ClassBalancedSampler {
    by_class: Vec<Vec<usize>>,
    n_items: usize,
    bs: usize,
    samples_per_class: usize,
    without_replacement: bool,
}

impl ClassBalancedSampler {
    /// Groups drawn with replacement (the original). Errors: `bs` not a multiple of
    /// `samples_per_class`, a class without images, fewer than 2 classes or than `bs` images.
    pub fn new(split: &Split, bs: usize, samples_per_class: usize) -> Result<Self> {
        Self::with_options(split, bs, samples_per_class, false)
    }

    /// As `new`; `without_replacement` draws each group's images distinct, and then every
    /// class needs at least `samples_per_class` images.
    pub fn with_options(split: &Split, bs: usize, samples_per_class: usize, without_replacement: bool) -> Result<Self> {
        if samples_per_class == 0 || bs % samples_per_class != 0 {
            bail!("--bs ({bs}) must be a multiple of --samples-per-class ({samples_per_class})");
        }
        let by_class = split.by_class();
        for (c, idx) in by_class.iter().enumerate() {
            if idx.is_empty() {
                bail!("class {:?} has no training image", split.classes[c]);
            }
            if without_replacement && idx.len() < samples_per_class {
                bail!(
                    "class {:?} has {} training image(s), fewer than --samples-per-class {} \
                     (--batch-without-replacement); lower --samples-per-class or remove the class",
                    split.classes[c],
                    idx.len(),
                    samples_per_class
                );
            }
        }
        if by_class.len() < 2 {
            bail!("the training split has {} class(es); class-balanced batches need at least 2", by_class.len());
        }
        if split.len() < bs {
            bail!("the training split has {} images, fewer than one batch (--bs {bs})", split.len());
        }
        Ok(ClassBalancedSampler { by_class, n_items: split.len(), bs, samples_per_class, without_replacement })
    }

    pub fn batches_per_epoch(&self) -> usize {
        self.n_items / self.bs
    }

    /// The batches of one epoch (item indices), a function of (seed, epoch) alone.
    pub fn epoch(&self, seed: u64, epoch: usize) -> Vec<Vec<usize>> {
        let mut rng = ChaCha8Rng::seed_from_u64(crate::util::mix(seed, 0xBA7C4, epoch as u64));
        let n_classes = self.by_class.len();
        // With only 2 classes, avoiding two previous classes is impossible: avoid one.
        let avoid = 2.min(n_classes - 1);
        let mut recent: Vec<usize> = Vec::with_capacity(avoid + 1);
        let groups = self.bs / self.samples_per_class;
        (0..self.batches_per_epoch())
            .map(|_| {
                let mut batch = Vec::with_capacity(self.bs);
                for _ in 0..groups {
                    let class = loop {
                        let c = rng.gen_range(0..n_classes);
                        if !recent.contains(&c) {
                            break c;
                        }
                    };
                    recent.push(class);
                    if recent.len() > avoid {
                        recent.remove(0);
                    }
                    let images = &self.by_class[class];
                    if self.without_replacement {
                        batch.extend(images.choose_multiple(&mut rng, self.samples_per_class).copied());
                    } else {
                        batch.extend((0..self.samples_per_class).map(|_| images[rng.gen_range(0..images.len())]));
                    }
                }
                batch
            })
            .collect()
    }
}
