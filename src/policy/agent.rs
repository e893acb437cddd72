//! The PADS agent: at each policy step it turns validation metrics into a state and a reward,
//! updates the policy on the previous (state, actions) (REINFORCE or PPO, EMA baseline or
//! A2C), then samples one action per bin and applies the multipliers to the distribution.
use super::network::{ema, ppo_loss, reinforce_loss, Policy};
use super::options::AgentOptions;
use super::state::StateMaker;
use crate::miners::distribution::Distribution;
use crate::ops::{load_into_varstore, varstore_tensors};
use crate::options::{PolicyMode, StateMetric};
use std::collections::HashMap;
use crate::eval::Metrics;
use crate::optim::Adam;
use rand::distributions::{Distribution as _, WeightedIndex};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// The metric vector in the order of `policy_state_metrics`.
pub fn state_metric_vector(order: &[StateMetric], m: &Metrics) -> Vec<f64> {
    let mut v = Vec::new();
    for s in order {
        match s {
            StateMetric::Recall => v.extend(m.recall.iter().map(|r| r.1)),
            StateMetric::Dists => v.extend([m.intra, m.inter]),
            StateMetric::Nmi => v.push(m.nmi),
        }
    }
    v
}

pub fn metric_dim(order: &[StateMetric], n_ks: usize) -> usize {
    order
        .iter()
        .map(|s| match s {
            StateMetric::Recall => n_ks,
            StateMetric::Dists => 2,
            StateMetric::Nmi => 1,
        })
        .sum()
}

/// The validation metrics the agent sees, as the trainer computes them: Recall@k (`opts.ks`),
/// NMI, F1 and the class distances (no mAP@R), k-means seeded by `opts.seed` with the
/// original's validation iteration count (`eval::KMEANS_ITERS_VALIDATION`, overriding
/// `opts.kmeans_iters`), k-means++, lone queries and row normalisation as `opts` says (the
/// trainer passes the run's evaluation options, whose model outputs unit rows already), then
/// `policy_view`. Errors as `eval::evaluate`.
pub fn validation_metrics(emb: &Tensor, labels: &[i64], mut opts: crate::eval::EvalOptions) -> anyhow::Result<Metrics> {
    opts.with_map = false;
    opts.kmeans_iters = crate::eval::KMEANS_ITERS_VALIDATION;
    Ok(policy_view(crate::eval::compute_metrics(emb, labels, &opts)?))
}

/// An undefined validation metric (NaN: no validation item has another of its class; the
/// trainer warns before training) enters the state and the reward as 0, the original's
/// Recall@1 there.
pub fn policy_view(mut m: Metrics) -> Metrics {
    let zero_nan = |v: &mut f64| {
        if v.is_nan() {
            *v = 0.0;
        }
    };
    m.recall.iter_mut().for_each(|r| zero_nan(&mut r.1));
    for v in [&mut m.nmi, &mut m.f1, &mut m.map_at_r, &mut m.intra, &mut m.inter] {
        zero_nan(v);
    }
    m
}

/// 0: NMI, 1: Recall@1, 2: mean of Recall@1 and NMI.
pub fn reward_metric(kind: u8, m: &Metrics) -> f64 {
    match kind {
        0 => m.nmi,
        1 => m.recall1(),
        _ => (m.recall1() + m.nmi) / 2.0,
    }
}

/// sign(metric_t - metric_{t-1}), 0 when equal.
pub fn reward_sign(previous: f64, current: f64) -> f64 {
    let d = current - previous;
    if d > 0.0 {
        1.0
    } else if d < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// One policy step, as logged to `pads_progression.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyRecord {
    pub call: usize,
    pub epoch: usize,
    pub iteration: usize,
    pub reward_metric: f64,
    pub reward: Option<f64>,
    pub advantage: Option<f64>,
    pub policy_loss: Option<f64>,
    pub value_loss: Option<f64>,
    pub actions: Vec<i64>,
    pub distribution: Vec<f64>,
    pub val_metrics: Vec<(String, f64)>,
}

/// Checkpoint group names of the agent (`Agent::checkpoint_groups`).
pub const GROUP_POLICY: &str = "policy";
pub const GROUP_OPTIM: &str = "optim_policy";
pub const GROUP_POLICY_OLD: &str = "policy_old";

pub struct Agent {
    pub policy: Policy,
    pub old_policy: Option<Policy>,
    pub optimizer: Adam,
    pub state_maker: StateMaker,
    pub rng: ChaCha8Rng,
    pub call_count: usize,
    pub reward_metrics: Vec<f64>,
    /// Rewards so far (the EMA baseline's input).
    pub rewards: Vec<f64>,
    pub prev_state: Option<Vec<f32>>,
    pub prev_actions: Option<Vec<i64>>,
    state_metrics: Vec<StateMetric>,
    reward_type: u8,
    action_values: Vec<f64>,
    mode: PolicyMode,
    use_a2c: bool,
    ema_alpha: f64,
    reward_update_w: f64,
    ppo_eps: f64,
    old_update_iter: usize,
}

/// The agent's plain-data state, for checkpoints (the networks go separately).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentState {
    pub call_count: usize,
    pub reward_metrics: Vec<f64>,
    pub rewards: Vec<f64>,
    pub prev_state: Option<Vec<f32>>,
    pub prev_actions: Option<Vec<i64>>,
    pub state_maker: StateMaker,
    pub rng: ChaCha8Rng,
}

impl Agent {
    /// A fresh agent for a distribution of `policy_n_support - 1` bins whose state holds
    /// `n_ks` Recall@k values (`opts.recall_ks().len()` in training). Its networks are
    /// initialised from libtorch's global generator (callers seed it), its action draws from
    /// `opts.seed`.
    pub fn new(opts: impl Into<AgentOptions>, n_ks: usize) -> Self {
        let cfg: AgentOptions = opts.into();
        let n_bins = cfg.policy_n_support - 1;
        let state_maker = StateMaker::new(
            cfg.policy_metric_history,
            &cfg.policy_run_avgs,
            cfg.policy_parameter_history,
            metric_dim(&cfg.policy_state_metrics, n_ks),
            n_bins,
        );
        let use_a2c = !cfg.policy_dont_use_a2c;
        let policy = Policy::new(state_maker.state_dim(), &cfg.policy_size, n_bins, use_a2c);
        let old_policy = (cfg.policy_mode == PolicyMode::Ppo).then(|| {
            let mut old = Policy::new(state_maker.state_dim(), &cfg.policy_size, n_bins, use_a2c);
            old.copy_from(&policy);
            old
        });
        let optimizer = Adam::new(&policy.vs, cfg.policy_lr, 0.0);
        Agent {
            policy,
            old_policy,
            optimizer,
            state_maker,
            rng: ChaCha8Rng::seed_from_u64(crate::util::mix(cfg.seed, 0xA6E47, 0)),
            call_count: 0,
            reward_metrics: Vec::new(),
            rewards: Vec::new(),
            prev_state: None,
            prev_actions: None,
            state_metrics: cfg.policy_state_metrics.clone(),
            reward_type: cfg.policy_reward_type,
            action_values: cfg.policy_action_values.clone(),
            mode: cfg.policy_mode,
            use_a2c,
            ema_alpha: cfg.policy_baseline_ema_gamma,
            reward_update_w: cfg.policy_reward_update_w,
            ppo_eps: cfg.policy_ppo_ratio,
            old_update_iter: cfg.policy_old_update_iter,
        }
    }

    /// The agent's tensors as checkpoint groups: `policy` (the network), `optim_policy` (its
    /// Adam state) and, under PPO, `policy_old` (the old policy). `load_groups` reads them.
    pub fn checkpoint_groups(&self) -> Vec<(&'static str, Vec<(String, Tensor)>)> {
        let mut groups = vec![(GROUP_POLICY, varstore_tensors(&self.policy.vs)), (GROUP_OPTIM, self.optimizer.state())];
        if let Some(old) = &self.old_policy {
            groups.push((GROUP_POLICY_OLD, varstore_tensors(&old.vs)));
        }
        groups
    }

    /// Loads the groups `checkpoint_groups` wrote; `group(name)` returns a group's tensors
    /// (an error names what is missing). Errors: a missing group or variable, a shape that
    /// does not fit this agent.
    pub fn load_groups(&mut self, group: impl Fn(&str) -> anyhow::Result<HashMap<String, Tensor>>) -> anyhow::Result<()> {
        load_into_varstore(&self.policy.vs, &group(GROUP_POLICY)?, "policy")?;
        self.optimizer.load_state(&group(GROUP_OPTIM)?)?;
        if let Some(old) = &self.old_policy {
            load_into_varstore(&old.vs, &group(GROUP_POLICY_OLD)?, "old policy")?;
        }
        Ok(())
    }

    pub fn snapshot(&self) -> AgentState {
        AgentState {
            call_count: self.call_count,
            reward_metrics: self.reward_metrics.clone(),
            rewards: self.rewards.clone(),
            prev_state: self.prev_state.clone(),
            prev_actions: self.prev_actions.clone(),
            state_maker: self.state_maker.clone(),
            rng: self.rng.clone(),
        }
    }

    pub fn restore(&mut self, s: AgentState) {
        self.call_count = s.call_count;
        self.reward_metrics = s.reward_metrics;
        self.rewards = s.rewards;
        self.prev_state = s.prev_state;
        self.prev_actions = s.prev_actions;
        self.state_maker = s.state_maker;
        self.rng = s.rng;
    }

    fn state_tensor(state: &[f32]) -> Tensor {
        Tensor::from_slice(state).view([1, -1])
    }

    /// One policy step with this validation's metrics; mutates `distribution`.
    pub fn step(&mut self, val: &Metrics, distribution: &mut Distribution, progress: f64, epoch: usize, iteration: usize) -> anyhow::Result<PolicyRecord> {
        self.step_with_actions(val, distribution, progress, epoch, iteration, None)
    }

    /// `step`, with the new actions given instead of drawn from the policy when `actions` is
    /// Some (one index in 0..3 per bin). For equivalence tests that replay another
    /// program's draws (tests/reference.rs); training always draws.
    pub fn step_with_actions(
        &mut self,
        val: &Metrics,
        distribution: &mut Distribution,
        progress: f64,
        epoch: usize,
        iteration: usize,
        actions: Option<Vec<i64>>,
    ) -> anyhow::Result<PolicyRecord> {
        let metric_vec = state_metric_vector(&self.state_metrics, val);
        let reward_metric = reward_metric(self.reward_type, val);
        self.reward_metrics.push(reward_metric);
        let state = self.state_maker.push(&metric_vec, &distribution.probs, progress);
        if state.iter().any(|x| !x.is_finite()) {
            anyhow::bail!("PADS state holds NaN or Inf (validation metrics {metric_vec:?})");
        }
        let s_t = Self::state_tensor(&state);
        let mut record = PolicyRecord {
            call: self.call_count,
            epoch,
            iteration,
            reward_metric,
            reward: None,
            advantage: None,
            policy_loss: None,
            value_loss: None,
            actions: Vec::new(),
            distribution: Vec::new(),
            val_metrics: val.named(),
        };
        if let (Some(prev_state), Some(prev_actions)) = (self.prev_state.clone(), self.prev_actions.clone()) {
            let n = self.reward_metrics.len();
            let reward = reward_sign(self.reward_metrics[n - 2], self.reward_metrics[n - 1]);
            let s_prev = Self::state_tensor(&prev_state);
            let (value_prev, _) = self.policy.forward(&s_prev);
            let advantage = if self.use_a2c {
                let v_t = self.policy.value(&s_t).unwrap_or(0.0);
                let v_prev = value_prev.as_ref().map(|v| v.double_value(&[0])).unwrap_or(0.0);
                reward + self.reward_update_w * v_t - v_prev
            } else {
                self.rewards.push(reward);
                reward - ema(&self.rewards[..self.rewards.len() - 1], self.ema_alpha)
            };
            let log_probs = self.policy.log_probs_of(&s_prev, &prev_actions);
            let mut loss = match (&self.mode, &self.old_policy) {
                (PolicyMode::Ppo, Some(old)) => {
                    let old_lp = tch::no_grad(|| old.log_probs_of(&s_prev, &prev_actions));
                    ppo_loss(&log_probs, &old_lp, advantage, self.ppo_eps)
                }
                _ => reinforce_loss(&log_probs, advantage),
            };
            record.policy_loss = Some(loss.double_value(&[]));
            if let Some(v) = value_prev {
                let target = Tensor::from_slice(&[reward_metric as f32]);
                let value_loss = (v - target).pow_tensor_scalar(2).mean(Kind::Float) * 0.5;
                record.value_loss = Some(value_loss.double_value(&[]));
                loss = loss + value_loss;
            }
            if !loss.double_value(&[]).is_finite() {
                anyhow::bail!("PADS policy loss is NaN or Inf at policy call {}", self.call_count);
            }
            self.optimizer.zero_grad();
            loss.backward();
            self.optimizer.step();
            record.reward = Some(reward);
            record.advantage = Some(advantage);
        }
        let actions = match actions {
            Some(a) => {
                anyhow::ensure!(
                    a.len() == distribution.n_bins() && a.iter().all(|&x| (0..3).contains(&x)),
                    "given actions: expected {} indices in 0..3, got {a:?}",
                    distribution.n_bins()
                );
                a
            }
            None => self.act(&s_t)?,
        };
        let multipliers: Vec<f64> = actions.iter().map(|&a| self.action_values[a as usize]).collect();
        distribution.update(&multipliers);
        if let (PolicyMode::Ppo, Some(old)) = (&self.mode, &mut self.old_policy) {
            if self.call_count % self.old_update_iter == 0 && self.call_count > 1 {
                old.copy_from(&self.policy);
            }
        }
        self.call_count += 1;
        self.prev_state = Some(state);
        self.prev_actions = Some(actions.clone());
        record.actions = actions;
        record.distribution = distribution.probs.clone();
        Ok(record)
    }

    /// One action index per bin, drawn from pi(. | s).
    pub fn act(&mut self, state: &Tensor) -> anyhow::Result<Vec<i64>> {
        let probs = self.policy.probs(state);
        let n_bins = probs[0].len();
        let mut actions = Vec::with_capacity(n_bins);
        for b in 0..n_bins {
            let p = [probs[0][b], probs[1][b], probs[2][b]];
            if p.iter().any(|x| !x.is_finite()) {
                anyhow::bail!("PADS policy output is NaN or Inf at policy call {}", self.call_count);
            }
            let pick = WeightedIndex::new(p)?.sample(&mut self.rng);
            actions.push(pick as i64);
        }
        Ok(actions)
    }
}
