//! DML objectives on gathered triplet rows (pads-spec.md section 2); a handful of batched ops.
use crate::miner::Triplets;
use tch::{Kind, Tensor};

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

/// Triplet loss: sum over triplets of relu(|a - p|^2 - |a - n|^2 + margin).
pub fn triplet_loss(emb: &Tensor, t: &Triplets, margin: f64) -> Tensor {
    let dev = emb.device();
    let (a, p, n) = t.to_tensors(dev);
    let (ea, ep, en) = (emb.index_select(0, &a), emb.index_select(0, &p), emb.index_select(0, &n));
    let d_ap = (&ea - ep).pow_tensor_scalar(2).sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
    let d_an = (&ea - en).pow_tensor_scalar(2).sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
    (d_ap - d_an + margin).relu().sum(Kind::Float)
}
