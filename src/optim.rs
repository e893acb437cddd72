//! Adam with PyTorch's semantics (torch.optim.Adam: L2 weight decay added to the gradient,
//! bias-corrected moments), written out so its state can be checkpointed and resumed.
use std::collections::HashMap;
use tch::{nn::VarStore, Kind, Tensor};

pub struct Adam {
    pub lr: f64,
    pub weight_decay: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    pub step: i64,
    names: Vec<String>,
    params: Vec<Tensor>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
}

impl Adam {
    /// Over the trainable variables of `vs`, in name order (deterministic).
    pub fn new(vs: &VarStore, lr: f64, weight_decay: f64) -> Self {
        let vars = vs.variables();
        let mut names: Vec<String> = vars.iter().filter(|(_, t)| t.requires_grad()).map(|(k, _)| k.clone()).collect();
        names.sort();
        let params: Vec<Tensor> = names.iter().map(|n| vars[n].shallow_clone()).collect();
        let m = params.iter().map(|p| p.zeros_like()).collect();
        let v = params.iter().map(|p| p.zeros_like()).collect();
        Adam { lr, weight_decay, betas: (0.9, 0.999), eps: 1e-8, step: 0, names, params, m, v }
    }

    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.detach_().zero_();
            }
        }
    }

    pub fn step(&mut self) {
        self.step += 1;
        let (b1, b2) = self.betas;
        let bc1 = 1.0 - b1.powi(self.step as i32);
        let bc2 = 1.0 - b2.powi(self.step as i32);
        tch::no_grad(|| {
            for i in 0..self.params.len() {
                let p = &mut self.params[i];
                let mut g = p.grad();
                if !g.defined() {
                    continue;
                }
                if self.weight_decay != 0.0 {
                    g = &g + &*p * self.weight_decay;
                }
                // In place where possible: these are full passes over every parameter.
                let _ = self.m[i].lerp_(&g, 1.0 - b1); // m = b1 m + (1 - b1) g
                let _ = self.v[i].g_mul_scalar_(b2).addcmul_(&(&g * (1.0 - b2)), &g);
                let mut denom = self.v[i].sqrt();
                let _ = denom.g_div_scalar_(bc2.sqrt()).g_add_scalar_(self.eps);
                let mut update = &self.m[i] / &denom;
                let _ = update.g_mul_scalar_(self.lr / bc1);
                let _ = p.g_sub_(&update);
            }
        });
    }

    /// Moments and step count as named tensors (for checkpoints).
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![("step".to_string(), Tensor::from_slice(&[self.step]))];
        for (i, n) in self.names.iter().enumerate() {
            out.push((format!("m.{n}"), self.m[i].detach().copy()));
            out.push((format!("v.{n}"), self.v[i].detach().copy()));
        }
        out
    }

    pub fn load_state(&mut self, state: &HashMap<String, Tensor>) -> anyhow::Result<()> {
        let step = state.get("step").ok_or_else(|| anyhow::anyhow!("optimiser state lacks `step`"))?;
        self.step = step.to_kind(Kind::Int64).int64_value(&[0]);
        for (i, n) in self.names.iter().enumerate() {
            for (prefix, dst) in [("m", &mut self.m[i]), ("v", &mut self.v[i])] {
                let key = format!("{prefix}.{n}");
                let src = state.get(&key).ok_or_else(|| anyhow::anyhow!("optimiser state lacks `{key}`"))?;
                tch::no_grad(|| dst.copy_(&src.to_device(dst.device())));
            }
        }
        Ok(())
    }
}
