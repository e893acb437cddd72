//! Small tensor operations shared across layers: row L2 normalisation, the batch distance
//! matrix the miners select from, torch.nn.Linear's initialisation, and a VarStore as named
//! tensors (checkpoint groups). Layer 0.
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use tch::nn;
use tch::{Device, Kind, Tensor};

/// Rows of `x` `[N, D]` scaled to unit L2 norm (norms clamped at 1e-12, as
/// torch.nn.functional.normalize).
pub fn l2_normalize(x: &Tensor) -> Tensor {
    let norm = x.norm_scalaropt_dim(2, [1i64].as_slice(), true).clamp_min(1e-12);
    x / norm
}

/// A linear layer initialised as torch.nn.Linear's `reset_parameters` does (the original builds
/// its `last_linear` head and every PADS policy layer with torch.nn.Linear and keeps that
/// init): weight and bias both U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = `in_dim`.
/// (tch's default `nn::linear` draws the weight from U(+-sqrt(6/fan_in)), 2.45 times wider.)
/// Weight `[out_dim, in_dim]`, bias `[out_dim]`, under the names `weight` and `bias`.
pub fn torch_linear<'a, T: std::borrow::Borrow<nn::Path<'a>>>(p: T, in_dim: i64, out_dim: i64) -> nn::Linear {
    let bound = 1.0 / (in_dim.max(1) as f64).sqrt();
    let init = nn::Init::Uniform { lo: -bound, up: bound };
    nn::linear(p, in_dim, out_dim, nn::LinearConfig { ws_init: init, bs_init: Some(init), bias: true })
}

/// Euclidean distances from each anchor row to each candidate row (detached, on the host),
/// row-major `[rows * cols]`: the batch against itself (`new`) or against a reference set
/// (`between`).
pub struct BatchDistances {
    /// Anchor rows.
    pub n: usize,
    /// Candidate columns (= `n` for the batch against itself).
    pub cols: usize,
    pub d: Vec<f32>,
}

impl BatchDistances {
    /// The batch `emb` `[B, D]` against itself, `[B, B]`, diagonal exactly 0.
    pub fn new(emb: &Tensor) -> Self {
        let e = emb.detach().to_device(Device::Cpu).to_kind(Kind::Float);
        let n = e.size()[0] as usize;
        let sq = (&e * &e).sum_dim_intlist([1i64].as_slice(), true, Kind::Float);
        let d2 = (&sq + sq.transpose(0, 1) - e.matmul(&e.transpose(0, 1)) * 2.0).clamp_min(0.0);
        // The diagonal is exactly 0 in exact arithmetic; remove rounding noise.
        let d = d2.sqrt().fill_diagonal_(0.0, false);
        BatchDistances { n, cols: n, d: Vec::<f32>::try_from(d.flatten(0, -1)).expect("f32 distances") }
    }

    /// Anchors `emb` `[B, D]` against candidates `reference` `[M, D]` (same D), `[B, M]`
    /// (pytorch-metric-learning's `ref_emb`). Panics on a D mismatch: callers check shapes.
    pub fn between(emb: &Tensor, reference: &Tensor) -> Self {
        let e = emb.detach().to_device(Device::Cpu).to_kind(Kind::Float);
        let r = reference.detach().to_device(Device::Cpu).to_kind(Kind::Float);
        let (n, cols) = (e.size()[0] as usize, r.size()[0] as usize);
        let se = (&e * &e).sum_dim_intlist([1i64].as_slice(), true, Kind::Float);
        let sr = (&r * &r).sum_dim_intlist([1i64].as_slice(), true, Kind::Float);
        let d2 = (&se + sr.transpose(0, 1) - e.matmul(&r.transpose(0, 1)) * 2.0).clamp_min(0.0);
        BatchDistances { n, cols, d: Vec::<f32>::try_from(d2.sqrt().flatten(0, -1)).expect("f32 distances") }
    }

    pub fn get(&self, i: usize, j: usize) -> f32 {
        self.d[i * self.cols + j]
    }
    pub fn row(&self, i: usize) -> &[f32] {
        &self.d[i * self.cols..(i + 1) * self.cols]
    }
}

/// Copies named tensors into the variables of `vs` (same names and shapes required).
pub fn load_into_varstore(vs: &tch::nn::VarStore, tensors: &HashMap<String, Tensor>, what: &str) -> Result<()> {
    let vars = vs.variables();
    tch::no_grad(|| -> Result<()> {
        for (name, var) in vars {
            let src = tensors.get(&name).with_context(|| format!("checkpoint lacks {what} variable {name}"))?;
            if src.size() != var.size() {
                bail!("checkpoint {what} variable {name} has shape {:?}, expected {:?}", src.size(), var.size());
            }
            let mut dst = var;
            dst.copy_(&src.to_device(dst.device()).to_kind(dst.kind()));
        }
        Ok(())
    })
}

/// Every variable of `vs` by name, detached copies (what a checkpoint group holds).
pub fn varstore_tensors(vs: &tch::nn::VarStore) -> Vec<(String, Tensor)> {
    vs.variables().into_iter().map(|(k, v)| (k, v.detach().copy())).collect()
}

/// The original's gradient numbers over every element g of every defined gradient of `vars`:
/// (sqrt(mean g^2), max |g|), as two 0-d float tensors on the gradients' device (no host
/// sync). None when no variable has a gradient.
pub fn grad_norms(vars: &[Tensor]) -> Option<(Tensor, Tensor)> {
    let grads: Vec<Tensor> = vars.iter().map(|v| v.grad()).filter(|g| g.defined() && g.numel() > 0).collect();
    if grads.is_empty() {
        return None;
    }
    tch::no_grad(|| {
        let count: i64 = grads.iter().map(|g| g.numel() as i64).sum();
        let sq: Vec<Tensor> = grads.iter().map(|g| g.to_kind(Kind::Float).square().sum(Kind::Float)).collect();
        let mx: Vec<Tensor> = grads.iter().map(|g| g.to_kind(Kind::Float).abs().max()).collect();
        let l2 = (Tensor::stack(&sq, 0).sum(Kind::Float) / count as f64).sqrt();
        let max = Tensor::stack(&mx, 0).max();
        Some((l2, max))
    })
}
