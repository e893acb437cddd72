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

/// Pairwise Euclidean distances of the (detached) batch, row-major `[B*B]`.
pub struct BatchDistances {
    pub n: usize,
    pub d: Vec<f32>,
}

impl BatchDistances {
    pub fn new(emb: &Tensor) -> Self {
        let e = emb.detach().to_device(Device::Cpu).to_kind(Kind::Float);
        let n = e.size()[0] as usize;
        let sq = (&e * &e).sum_dim_intlist([1i64].as_slice(), true, Kind::Float);
        let d2 = (&sq + sq.transpose(0, 1) - e.matmul(&e.transpose(0, 1)) * 2.0).clamp_min(0.0);
        // The diagonal is exactly 0 in exact arithmetic; remove rounding noise.
        let d = d2.sqrt().fill_diagonal_(0.0, false);
        BatchDistances { n, d: Vec::<f32>::try_from(d.flatten(0, -1)).expect("f32 distances") }
    }
    pub fn get(&self, i: usize, j: usize) -> f32 {
        self.d[i * self.n + j]
    }
    pub fn row(&self, i: usize) -> &[f32] {
        &self.d[i * self.n..(i + 1) * self.n]
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
