//! The policy network and its losses: an MLP (`policy_size`, ReLU), an action head of
//! 3 x n_bins logits (softmax over the 3 actions of each bin), an optional value head (A2C).
//! Every layer is initialised as torch.nn.Linear (U(+-1/sqrt(fan_in)) for weight and bias),
//! as the original's policy (`--policy_winit_type none`); `base` and `he_n` then re-draw
//! every layer as the original's netlib.initialize_weights does (weight N(0, 0.01^2) /
//! Kaiming normal N(0, 2 / fan_in), bias 0), from the same libtorch generator, after it.
use crate::options::WinitType;
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

pub struct Policy {
    pub vs: nn::VarStore,
    layers: Vec<nn::Linear>,
    action_head: nn::Linear,
    value_head: Option<nn::Linear>,
    pub n_bins: i64,
}

impl Policy {
    pub fn new(state_dim: usize, sizes: &[usize], n_bins: usize, use_a2c: bool) -> Self {
        Self::with_init(state_dim, sizes, n_bins, use_a2c, WinitType::None)
    }

    /// `new` with the layers' weights initialised as `winit` says.
    pub fn with_init(state_dim: usize, sizes: &[usize], n_bins: usize, use_a2c: bool, winit: WinitType) -> Self {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let root = vs.root();
        let mut layers = Vec::new();
        let mut d_in = state_dim as i64;
        for (i, &h) in sizes.iter().enumerate() {
            layers.push(crate::ops::torch_linear(&root / format!("network{i}"), d_in, h as i64));
            d_in = h as i64;
        }
        let action_head = crate::ops::torch_linear(&root / "action_weights", d_in, 3 * n_bins as i64);
        let value_head = use_a2c.then(|| crate::ops::torch_linear(&root / "value", d_in, 1));
        let policy = Policy { vs, layers, action_head, value_head, n_bins: n_bins as i64 };
        policy.reinit(winit);
        policy
    }

    /// The original's initialize_weights over every Linear, in module order (the MLP's layers,
    /// the action head, the value head); `none` leaves torch.nn.Linear's init.
    fn reinit(&self, winit: WinitType) {
        if winit == WinitType::None {
            return;
        }
        let heads = [Some(&self.action_head), self.value_head.as_ref()];
        tch::no_grad(|| {
            for l in self.layers.iter().chain(heads.into_iter().flatten()) {
                let fan_in = l.ws.size()[1].max(1) as f64;
                let std = match winit {
                    WinitType::Base => 0.01,
                    _ => (2.0 / fan_in).sqrt(),
                };
                let mut w = l.ws.shallow_clone();
                let _ = w.normal_(0.0, std);
                if let Some(b) = &l.bs {
                    let _ = b.shallow_clone().zero_();
                }
            }
        });
    }

    /// (value `[1]` if A2C, action logits `[1, 3, n_bins]`) for a state `[1, S]`.
    pub fn forward(&self, state: &Tensor) -> (Option<Tensor>, Tensor) {
        let mut x = state.shallow_clone();
        for l in &self.layers {
            x = l.forward(&x).relu();
        }
        let logits = self.action_head.forward(&x).view([-1, 3, self.n_bins]);
        let value = self.value_head.as_ref().map(|v| v.forward(&x).view([-1]));
        (value, logits)
    }

    /// log pi(a_b | s) for each bin's action `[n_bins]`.
    pub fn log_probs_of(&self, state: &Tensor, actions: &[i64]) -> Tensor {
        let (_, logits) = self.forward(state);
        let logp = logits.log_softmax(1, Kind::Float);
        let idx = Tensor::from_slice(actions).view([1, 1, -1]);
        logp.gather(1, &idx, false).view([-1])
    }

    /// Action probabilities `[3, n_bins]` (rows: reduce, keep, increase).
    pub fn probs(&self, state: &Tensor) -> Vec<Vec<f64>> {
        tch::no_grad(|| {
            let (_, logits) = self.forward(state);
            let p = logits.softmax(1, Kind::Double).squeeze_dim(0);
            (0..3).map(|a| Vec::<f64>::try_from(p.get(a)).unwrap()).collect()
        })
    }

    pub fn value(&self, state: &Tensor) -> Option<f64> {
        tch::no_grad(|| self.forward(state).0.map(|v| v.double_value(&[0])))
    }

    pub fn copy_from(&mut self, other: &Policy) {
        self.vs.copy(&other.vs).expect("policies of one shape");
    }
}

/// REINFORCE: -mean(A * log pi(a|s)).
pub fn reinforce_loss(log_probs: &Tensor, advantage: f64) -> Tensor {
    -(log_probs * advantage).mean(Kind::Float)
}

/// PPO: ratio = exp(log pi - log pi_old); -mean(min(ratio A, clip(ratio, 1 +- eps) A)).
pub fn ppo_loss(log_probs: &Tensor, old_log_probs: &Tensor, advantage: f64, eps: f64) -> Tensor {
    let ratio = (log_probs - old_log_probs.detach()).exp();
    let unclipped = &ratio * advantage;
    let clipped = ratio.clamp(1.0 - eps, 1.0 + eps) * advantage;
    -unclipped.minimum(&clipped).mean(Kind::Float)
}

/// The original's exponential moving average: starts at the first value; 0 when empty.
pub fn ema(values: &[f64], alpha: f64) -> f64 {
    match values.split_first() {
        None => 0.0,
        Some((first, rest)) => rest.iter().fold(*first, |e, x| (1.0 - alpha) * e + alpha * x),
    }
}
