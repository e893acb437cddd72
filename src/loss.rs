//! DML objectives on gathered triplet rows (pads-spec.md section 2); a handful of batched ops.
//! Layer 1: `Objective` (a run's loss, owning the margin loss's learnable beta and its optimiser).
use crate::miners::Triplets;
use crate::ops::{load_into_varstore, varstore_tensors};
use crate::optim::Adam;
use crate::options::LossKind;
use std::collections::HashMap;
use tch::{nn, Device, Kind, Tensor};

/// `sqrt(|x - y|^2 + 1e-8)` row-wise, as the original margin loss.
fn pair_distance(x: &Tensor, y: &Tensor) -> Tensor {
    ((x - y).pow_tensor_scalar(2).sum_dim_intlist([1i64].as_slice(), false, Kind::Float) + 1e-8).sqrt()
}

/// Margin loss (Wu et al. 2017) with per-class `beta` (indexed by the anchor's class):
/// sum(relu(d_ap - beta + m) + relu(beta - d_an + m)) / (#triplets with a non-zero term),
/// or the plain sum when no term is non-zero.
pub fn margin_loss(emb: &Tensor, t: &Triplets, anchor_classes: &Tensor, beta: &Tensor, margin: f64) -> Tensor {
    let dev = emb.device();
    let (a, p, n) = t.to_tensors(dev);
    let (ea, ep, en) = (emb.index_select(0, &a), emb.index_select(0, &p), emb.index_select(0, &n));
    let b = beta.index_select(0, anchor_classes);
    let pos = (pair_distance(&ea, &ep) - &b + margin).relu();
    let neg = (&b - pair_distance(&ea, &en) + margin).relu();
    let active = pos.gt(0.0).logical_or(&neg.gt(0.0)).sum(Kind::Float);
    let total = (&pos + &neg).sum(Kind::Float);
    let denom = active.clamp_min(1.0);
    // active == 0 implies total == 0, so dividing by 1 gives the plain sum.
    total / denom
}

/// `margin_loss` with beta indexed by the class of each triplet's anchor, taken from the batch
/// labels `labels` `[B]` (`beta` `[n_classes]` on `emb`'s device).
pub fn margin_loss_for_labels(emb: &Tensor, t: &Triplets, labels: &[i64], beta: &Tensor, margin: f64) -> Tensor {
    let anchor_classes: Vec<i64> = t.anchors.iter().map(|&a| labels[a as usize]).collect();
    let ac = Tensor::from_slice(&anchor_classes).to_device(emb.device());
    margin_loss(emb, t, &ac, beta, margin)
}

/// Triplet loss: sum over triplets of relu(|a - p|^2 - |a - n|^2 + margin).
pub fn triplet_loss(emb: &Tensor, t: &Triplets, margin: f64) -> Tensor {
    let dev = emb.device();
    let (a, p, n) = t.to_tensors(dev);
    let (ea, ep, en) = (emb.index_select(0, &a), emb.index_select(0, &p), emb.index_select(0, &n));
    let d_ap = (&ea - ep).pow_tensor_scalar(2).sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
    let d_an = (&ea - en).pow_tensor_scalar(2).sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
    (d_ap - d_an + margin).relu().sum(Kind::Float)
}

/// What the objective of a run needs. `Default` is the original's (triplet loss, margin 0.2,
/// beta 1.2 learnt at 5e-4).
#[derive(Debug, Clone, PartialEq)]
pub struct LossOptions {
    pub loss: LossKind,
    /// Margin of the margin or triplet loss [distance].
    pub margin: f64,
    /// Initial per-class beta of the margin loss [distance].
    pub beta: f64,
    /// Learning rate of beta (Adam) [per step].
    pub beta_lr: f64,
    /// Keep beta fixed.
    pub beta_constant: bool,
}

impl Default for LossOptions {
    fn default() -> Self {
        LossOptions { loss: LossKind::Triplet, margin: 0.2, beta: 1.2, beta_lr: 0.0005, beta_constant: false }
    }
}

/// The margin loss's learnable per-class beta `[n_classes]`, with its own VarStore and Adam
/// (as pytorch-metric-learning's MarginLoss owns its beta). Checkpoint groups `beta` and
/// `optim_beta`.
pub struct MarginLoss {
    pub vs: nn::VarStore,
    pub beta: Tensor,
    pub optimizer: Adam,
    margin: f64,
    base_lr: f64,
    constant: bool,
}

impl MarginLoss {
    /// Beta `[n_classes]` at `opts.beta` on `device` (no random draw).
    pub fn new(opts: &LossOptions, n_classes: usize, device: Device) -> Self {
        let vs = nn::VarStore::new(device);
        let beta = vs.root().var("beta", &[n_classes as i64], nn::Init::Const(opts.beta));
        if opts.beta_constant {
            let _ = beta.set_requires_grad(false);
        }
        let optimizer = Adam::new(&vs, opts.beta_lr, 0.0);
        MarginLoss { vs, beta, optimizer, margin: opts.margin, base_lr: opts.beta_lr, constant: opts.beta_constant }
    }

    /// `margin_loss` of `t` over `emb` `[B, D]`, beta indexed by each anchor's label.
    pub fn forward(&self, emb: &Tensor, t: &Triplets, labels: &[i64]) -> Tensor {
        margin_loss_for_labels(emb, t, labels, &self.beta, self.margin)
    }

    /// Mean of beta (metrics.csv's `beta_mean`).
    pub fn beta_mean(&self) -> f64 {
        self.beta.mean(Kind::Float).double_value(&[])
    }
}

/// A run's objective: the margin loss or the triplet loss. The beta block exists for both
/// (metrics.csv's beta_mean, the checkpoint's groups) and only the margin loss trains it.
pub struct Objective {
    pub kind: LossKind,
    pub margin_loss: MarginLoss,
}

impl Objective {
    pub fn new(opts: &LossOptions, n_classes: usize, device: Device) -> Self {
        Objective { kind: opts.loss, margin_loss: MarginLoss::new(opts, n_classes, device) }
    }

    /// The loss of triplets `t` over `emb` `[B, D]` with batch labels `labels` `[B]`.
    pub fn loss(&self, emb: &Tensor, t: &Triplets, labels: &[i64]) -> Tensor {
        match self.kind {
            LossKind::Margin => self.margin_loss.forward(emb, t, labels),
            LossKind::Triplet => triplet_loss(emb, t, self.margin_loss.margin),
        }
    }

    /// Sets beta's learning rate to the base rate times `factor` (the schedule's).
    pub fn set_lr_factor(&mut self, factor: f64) {
        self.margin_loss.optimizer.lr = self.margin_loss.base_lr * factor;
    }

    pub fn zero_grad(&mut self) {
        self.margin_loss.optimizer.zero_grad();
    }

    /// One Adam step of beta, unless it is constant.
    pub fn step(&mut self) {
        if !self.margin_loss.constant {
            self.margin_loss.optimizer.step();
        }
    }

    pub fn beta_mean(&self) -> f64 {
        self.margin_loss.beta_mean()
    }

    /// Checkpoint groups: `beta` (the values) and `optim_beta` (its Adam state).
    pub fn checkpoint_groups(&self) -> Vec<(&'static str, Vec<(String, Tensor)>)> {
        vec![("beta", varstore_tensors(&self.margin_loss.vs)), ("optim_beta", self.margin_loss.optimizer.state())]
    }

    /// Loads what `checkpoint_groups` wrote (`group(name)` gives a group's tensors).
    pub fn load_groups(&mut self, group: impl Fn(&str) -> anyhow::Result<HashMap<String, Tensor>>) -> anyhow::Result<()> {
        load_into_varstore(&self.margin_loss.vs, &group("beta")?, "beta")?;
        self.margin_loss.optimizer.load_state(&group("optim_beta")?)
    }
}
