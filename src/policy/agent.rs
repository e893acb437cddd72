//! The PADS agent: at each policy step it turns validation metrics into a state and a reward,
//! updates the policy on the previous (state, actions) (REINFORCE or PPO, EMA baseline or
//! A2C), then samples one action per bin and applies the multipliers to the distribution.
use super::network::{ema, ppo_loss, reinforce_loss, Policy};
use super::observe::{discounted_reward, Observation};
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

/// The metric vector in the order of `policy_state_metrics` (`svd` NaN: it needs the
/// embeddings, see `observe::Observation`).
pub fn state_metric_vector(order: &[StateMetric], m: &Metrics) -> Vec<f64> {
    Observation::val(m.clone()).vector(order)
}

/// Length of one split's metric vector (`Observation::vector` holds two with training metrics).
pub fn metric_dim(order: &[StateMetric], n_ks: usize) -> usize {
    order
        .iter()
        .map(|s| match s {
            StateMetric::Recall => n_ks,
            StateMetric::Dists => 2,
            StateMetric::Nmi | StateMetric::Svd => 1,
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
    /// None where not known: a step imported from the original's distr_progression.pkl,
    /// which records only the distributions (`pads import`).
    pub epoch: Option<usize>,
    pub iteration: Option<usize>,
    pub reward_metric: Option<f64>,
    pub reward: Option<f64>,
    pub advantage: Option<f64>,
    pub policy_loss: Option<f64>,
    pub value_loss: Option<f64>,
    pub actions: Vec<i64>,
    pub distribution: Vec<f64>,
    pub val_metrics: Vec<(String, f64)>,
    /// Reward metrics of this period's sub-episode collections (`policy_sup_metric_collect`),
    /// before the step's own; `reward_metric` is then their discounted sum.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_rewards: Vec<f64>,
    /// The policy's gradient numbers of this step's update (sqrt(mean g^2), max |g|); None
    /// without an update. Not in pads_progression.jsonl (metrics.csv has their epoch means).
    #[serde(skip)]
    pub grad_norms: Option<(f64, f64)>,
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
    /// Reward metrics collected so far in this policy period (`policy_sup_metric_collect`).
    pub sub_rewards: Vec<f64>,
    state_metrics: Vec<StateMetric>,
    needs_embeddings: bool,
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
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_rewards: Vec<f64>,
}

impl Agent {
    /// A fresh agent for a distribution of `policy_n_support - 1` bins whose state holds
    /// `n_ks` Recall@k values (`opts.recall_ks().len()` in training). Its networks are
    /// initialised from libtorch's global generator (callers seed it), its action draws from
    /// `opts.seed`.
    pub fn new(opts: impl Into<AgentOptions>, n_ks: usize) -> Self {
        let cfg: AgentOptions = opts.into();
        let n_bins = cfg.policy_n_support - 1;
        let splits = if cfg.policy_include_train_metrics { 2 } else { 1 };
        let state_maker = StateMaker::new(
            cfg.policy_metric_history,
            &cfg.policy_run_avgs,
            cfg.parameter_history(),
            splits * metric_dim(&cfg.policy_state_metrics, n_ks),
            n_bins,
        )
        .with_no_avg(cfg.policy_run_avgs_no_avg);
        let use_a2c = !cfg.policy_dont_use_a2c;
        let policy = Policy::with_init(state_maker.state_dim(), &cfg.policy_size, n_bins, use_a2c, cfg.policy_winit_type);
        let old_policy = (cfg.policy_mode == PolicyMode::Ppo).then(|| {
            let mut old = Policy::with_init(state_maker.state_dim(), &cfg.policy_size, n_bins, use_a2c, cfg.policy_winit_type);
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
            sub_rewards: Vec::new(),
            needs_embeddings: cfg.policy_include_train_metrics || cfg.policy_state_metrics.contains(&StateMetric::Svd),
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
            sub_rewards: self.sub_rewards.clone(),
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
        self.sub_rewards = s.sub_rewards;
    }

    /// A sub-episode collection inside a policy period (`policy_sup_metric_collect`): keeps
    /// this validation's reward metric for the period's next step.
    pub fn collect_sub_reward(&mut self, val: &Metrics) {
        self.sub_rewards.push(reward_metric(self.reward_type, val));
    }

    /// Whether a step needs more than the validation `Metrics` (the `svd` state metric or the
    /// training split's metrics): then only `step_observed` can take it.
    pub fn needs_embeddings(&self) -> bool {
        self.needs_embeddings
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
        anyhow::ensure!(
            !self.needs_embeddings,
            "the svd state metric and the training split's metrics need the embeddings: use Agent::step_observed"
        );
        self.step_observed(&Observation::val(val.clone()), distribution, progress, epoch, iteration, actions)
    }

    /// `step_with_actions` with everything a step may observe (validation metrics, svd
    /// values, the training split's metrics).
    pub fn step_observed(
        &mut self,
        obs: &Observation,
        distribution: &mut Distribution,
        progress: f64,
        epoch: usize,
        iteration: usize,
        actions: Option<Vec<i64>>,
    ) -> anyhow::Result<PolicyRecord> {
        let val = &obs.val.metrics;
        let metric_vec = obs.vector(&self.state_metrics);
        let mut reward_metric = reward_metric(self.reward_type, val);
        let sub_rewards = std::mem::take(&mut self.sub_rewards);
        if !sub_rewards.is_empty() {
            let mut all = sub_rewards.clone();
            all.push(reward_metric);
            reward_metric = discounted_reward(&all);
        }
        self.reward_metrics.push(reward_metric);
        let state = self.state_maker.push(&metric_vec, &distribution.probs, progress);
        if state.iter().any(|x| !x.is_finite()) {
            anyhow::bail!("PADS state holds NaN or Inf (validation metrics {metric_vec:?})");
        }
        let s_t = Self::state_tensor(&state);
        let mut record = PolicyRecord {
            call: self.call_count,
            epoch: Some(epoch),
            iteration: Some(iteration),
            reward_metric: Some(reward_metric),
            reward: None,
            advantage: None,
            policy_loss: None,
            value_loss: None,
            actions: Vec::new(),
            distribution: Vec::new(),
            val_metrics: val.named(),
            sub_rewards,
            grad_norms: None,
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
            record.grad_norms = crate::ops::grad_norms(&self.policy.vs.trainable_variables()).map(|(l2, max)| (l2.double_value(&[]), max.double_value(&[])));
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
