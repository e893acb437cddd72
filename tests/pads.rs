//! PADS: distribution, sampler, state, policy updates, rewards.
use pads::config::RunConfig;
use pads::options::{InitDistr, PolicyMode, StateMetric};
use pads::eval::Metrics;
use pads::miners::{Miner, MiningInput};
use pads::policy::agent::{reward_metric, reward_sign, state_metric_vector, Agent};
use pads::miners::distribution::{initial_weights, linspace, Distribution};
use pads::miners::pads::PadsMiner;
use pads::policy::network::{ema, ppo_loss, reinforce_loss, Policy};
use pads::policy::state::StateMaker;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

fn default_dist() -> Distribution {
    Distribution::new(30, (0.1, 1.4), InitDistr::Random, (true, true, true))
}

#[test]
fn bin_assignment_at_and_around_every_edge() {
    let d = default_dist();
    assert_eq!(d.n_bins(), 29);
    let s = d.support.clone();
    assert_eq!(s.len(), 30);
    // Below the second point: bin 0, the first point and below included.
    assert_eq!(d.bin(-1.0), 0);
    assert_eq!(d.bin(0.0), 0);
    assert_eq!(d.bin(s[0]), 0);
    assert_eq!(d.bin(s[1]), 0);
    for i in 1..29 {
        // At an interior point: not exceeded yet; just above it: the next bin.
        assert_eq!(d.bin(s[i]), i - 1, "at support point {i}");
        assert_eq!(d.bin(s[i] + 1e-9), i, "just above support point {i}");
        assert_eq!(d.bin(s[i] - 1e-9), i - 1, "just below support point {i}");
    }
    assert_eq!(d.bin(s[29]), 28);
    assert_eq!(d.bin(2.0), 28);
}

/// A second implementation of the original's initial weights, for comparison.
fn reference_init(kind: InitDistr) -> Vec<f64> {
    let s = linspace(0.1, 1.4, 30);
    let x: Vec<f64> = s[..29].iter().map(|v| v + 2.0 / 30.0).collect();
    let (mode, mu, sig) = match kind {
        InitDistr::Random => return vec![1.0 / 29.0; 29],
        InitDistr::UniformLow => ("u", 0.5, 0.2),
        InitDistr::UniformAvg => ("u", 1.0, 0.2),
        InitDistr::UniformHigh => ("u", 1.5, 0.2),
        InitDistr::UniformLowAndTight => ("u", 0.4, 0.1),
        InitDistr::UniformLowishAndTight => ("u", 0.6, 0.1),
        InitDistr::NormalLow => ("g", 0.5, 0.05),
        InitDistr::NormalAvg => ("g", 1.1, 0.04),
        InitDistr::NormalHigh => ("g", 1.6, 0.04),
        InitDistr::HeavysideLow => ("h", 0.5, 0.0),
        InitDistr::Distance => ("d", 0.5, 0.0),
    };
    let raw: Vec<f64> = x
        .iter()
        .map(|&v| match mode {
            "u" => ((mu - sig..=mu + sig).contains(&v) as u8) as f64,
            "g" => (-(v - mu) * (v - mu) / (2.0 * sig * sig)).exp() / (2.0 * std::f64::consts::PI * sig).sqrt(),
            "h" => (v <= mu) as u8 as f64,
            _ => (v < mu) as u8 as f64,
        })
        .map(|w: f64| w.clamp(1e-15, 1.0))
        .collect();
    let total: f64 = raw.iter().sum();
    raw.iter().map(|w| w / total).collect()
}

#[test]
fn initial_distributions_match_hand_computed_values() {
    let s = linspace(0.1, 1.4, 30);
    let all = [
        InitDistr::Random,
        InitDistr::UniformLow,
        InitDistr::UniformAvg,
        InitDistr::UniformHigh,
        InitDistr::UniformLowAndTight,
        InitDistr::UniformLowishAndTight,
        InitDistr::NormalLow,
        InitDistr::NormalAvg,
        InitDistr::NormalHigh,
        InitDistr::HeavysideLow,
        InitDistr::Distance,
    ];
    for kind in all {
        let got = initial_weights(kind, &s);
        let want = reference_init(kind);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-12, "{kind:?}: {got:?} vs {want:?}");
        }
        assert!((got.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
    // Worked by hand: bin b is represented at x_b = 1/6 + 1.3 b / 29.
    let heavy = |kind| -> Vec<usize> {
        initial_weights(kind, &s).iter().enumerate().filter(|(_, &p)| p > 1e-6).map(|(b, _)| b).collect()
    };
    assert_eq!(heavy(InitDistr::UniformLow), (3..=11).collect::<Vec<_>>()); // [0.3, 0.7]
    assert_eq!(heavy(InitDistr::UniformAvg), (15..=23).collect::<Vec<_>>()); // [0.8, 1.2]
    assert_eq!(heavy(InitDistr::UniformHigh), (26..=28).collect::<Vec<_>>()); // [1.3, 1.7]
    assert_eq!(heavy(InitDistr::UniformLowAndTight), (3..=7).collect::<Vec<_>>()); // [0.3, 0.5]
    assert_eq!(heavy(InitDistr::UniformLowishAndTight), (8..=11).collect::<Vec<_>>()); // [0.5, 0.7]
    assert_eq!(heavy(InitDistr::HeavysideLow), (0..=7).collect::<Vec<_>>()); // x <= 0.5
    let u = initial_weights(InitDistr::UniformLow, &s);
    assert!((u[3] - 1.0 / (9.0 + 20.0 * 1e-15)).abs() < 1e-12);
    // normal_low: the Gaussian exceeds 1 at bins 7 and 8 (clipped to 1, equal weights),
    // 0.779 at bin 6.
    let n = initial_weights(InitDistr::NormalLow, &s);
    assert_eq!(n[7], n[8]);
    let x6: f64 = 1.0 / 6.0 + 1.3 * 6.0 / 29.0;
    let g6 = (-(x6 - 0.5f64).powi(2) / (2.0 * 0.0025)).exp() / (2.0 * std::f64::consts::PI * 0.05f64).sqrt();
    assert!((n[6] / n[7] - g6).abs() < 1e-12 && (g6 - 0.779).abs() < 0.01);
}

#[test]
fn updates_multiply_clip_and_renormalise() {
    let mut d = default_dist();
    let mut m = vec![1.0; 29];
    m[0] = 2.0;
    m[1] = 0.5;
    d.update(&m);
    let total = 1.0 / 29.0 * (27.0 + 2.0 + 0.5);
    assert!((d.probs[0] - (2.0 / 29.0) / total).abs() < 1e-12);
    assert!((d.probs[1] - (0.5 / 29.0) / total).abs() < 1e-12);
    for _ in 0..100 {
        let mut m = vec![1.0; 29];
        m[0] = 1e6;
        m[1] = 1e-6;
        d.update(&m);
    }
    assert_eq!(d.unnormalised[0], 1e25);
    assert_eq!(d.unnormalised[1], 1e-25);
    assert!((d.probs.iter().sum::<f64>() - 1.0).abs() < 1e-9);
}

/// Anchor 0 at the origin; others on the x-axis at known distances.
fn line_batch(xs: &[f32]) -> Tensor {
    let mut flat = Vec::new();
    for &x in xs {
        flat.extend([x, 0.0]);
    }
    Tensor::from_slice(&flat).view([xs.len() as i64, 2])
}

fn empirical(miner: &mut PadsMiner, e: &Tensor, labels: &[i64], draws: usize) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut counts = vec![0usize; labels.len()];
    for _ in 0..draws {
        let t = miner.mine(e, labels, &mut rng);
        assert_eq!(t.anchors[0], 0);
        counts[t.negatives[0] as usize] += 1;
    }
    counts.iter().map(|&c| c as f64 / draws as f64).collect()
}

#[test]
fn negative_frequencies_follow_the_distribution() {
    // Distances from anchor 0: positive 0.2; negatives 0.35, 0.5, 0.9, 1.3, 1.6 (out of support).
    let xs = [0.0f32, 0.2, 0.35, 0.5, 0.9, 1.3, 1.6];
    let labels = [0i64, 0, 1, 1, 2, 2, 3];
    let e = line_batch(&xs);
    let h = 1.3 / 29.0;
    let bin = |d: f64| (((d - 0.1) / h).ceil() as i64 - 1).clamp(0, 28) as usize;
    for (include_pos, merge_oobs) in [(false, true), (true, true), (false, false)] {
        let mut dist = Distribution::new(30, (0.1, 1.4), InitDistr::Random, (include_pos, false, merge_oobs));
        let mut m = vec![1.0; 29];
        m[bin(0.35)] = 4.0;
        m[bin(0.9)] = 2.0;
        m[bin(0.2)] = 3.0;
        dist.update(&m);
        let probs = dist.probs.clone();
        let mut want: Vec<f64> = xs
            .iter()
            .enumerate()
            .map(|(j, &x)| {
                let candidate = include_pos || labels[j] != labels[0];
                let in_support = (0.1..=1.4).contains(&(x as f64));
                if !candidate || (!merge_oobs && !in_support) {
                    0.0
                } else {
                    probs[bin(x as f64)]
                }
            })
            .collect();
        let total: f64 = want.iter().sum();
        want.iter_mut().for_each(|w| *w /= total);
        let mut miner = PadsMiner::new(dist);
        // The miner's own probabilities equal the independent ones...
        let own = miner.negative_probs(&MiningInput::batch(&e, &labels), 0);
        for (a, b) in own.iter().zip(&want) {
            assert!((a - b).abs() < 1e-6, "include_pos {include_pos}, merge {merge_oobs}: {own:?} vs {want:?}");
        }
        // ...and the draws follow them.
        let freq = empirical(&mut miner, &e, &labels, 20000);
        let tv: f64 = freq.iter().zip(&want).map(|(f, w)| (f - w).abs()).sum::<f64>() / 2.0;
        assert!(tv < 0.02, "include_pos {include_pos}, merge {merge_oobs}: freq {freq:?} want {want:?}");
        if !merge_oobs {
            assert_eq!(freq[6], 0.0, "out-of-support negative drawn without merge_oobs");
        }
        if !include_pos {
            assert_eq!(freq[0] + freq[1], 0.0, "same-class element drawn as negative");
        }
    }
}

#[test]
fn include_same_lets_the_anchor_be_its_positive() {
    let e = line_batch(&[0.0, 0.3, 0.6, 0.9]);
    let labels = [0i64, 0, 1, 1];
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for (same, expect_self) in [(false, false), (true, true)] {
        let mut m = PadsMiner::new(Distribution::new(30, (0.1, 1.4), InitDistr::Random, (false, same, true)));
        let mut saw_self = false;
        for _ in 0..200 {
            let t = m.mine(&e, &labels, &mut rng);
            saw_self |= t.anchors.iter().zip(&t.positives).any(|(a, p)| a == p);
            for (a, p) in t.anchors.iter().zip(&t.positives) {
                assert_eq!(labels[*a as usize], labels[*p as usize]);
            }
        }
        assert_eq!(saw_self, expect_self);
    }
}

#[test]
fn state_vector_length_and_layout() {
    for (h, avgs, p, ks, metrics) in [
        (10usize, vec![2usize, 8, 16, 32], 1usize, 4usize, vec![StateMetric::Recall, StateMetric::Dists, StateMetric::Nmi]),
        (20, vec![2, 8, 16, 32], 1, 4, vec![StateMetric::Recall, StateMetric::Dists, StateMetric::Nmi]),
        (3, vec![2], 2, 4, vec![StateMetric::Nmi]),
        (1, vec![], 1, 2, vec![StateMetric::Recall]),
    ] {
        let cfg = RunConfig {
            policy_metric_history: h,
            policy_run_avgs: avgs.clone(),
            policy_parameter_history: p as i64,
            policy_state_metrics: metrics.clone(),
            k_vals: (1..=ks).collect(),
            ..RunConfig::default()
        };
        let agent = Agent::new(&cfg, ks);
        let m: usize = metrics.iter().map(|s| match s {
            StateMetric::Recall => ks,
            StateMetric::Dists => 2,
            StateMetric::Nmi | StateMetric::Svd => 1,
        }).sum();
        assert_eq!(agent.state_maker.state_dim(), m * (h + avgs.len()) + p * 29 + 1);
    }
    // The default: 7 metrics * (10 + 4) + 29 + 1 = 128.
    assert_eq!(Agent::new(&RunConfig::default(), 4).state_maker.state_dim(), 128);

    // Layout: history (padded with the first vector), running means, distributions, progress.
    let mut sm = StateMaker::new(3, &[2], 1, 2, 2);
    let s1 = sm.push(&[1.0, 10.0], &[0.25, 0.75], 0.1);
    assert_eq!(s1, vec![1.0, 10.0, 1.0, 10.0, 1.0, 10.0, 1.0, 10.0, 0.25, 0.75, 0.1]);
    let s2 = sm.push(&[3.0, 30.0], &[0.5, 0.5], 0.2);
    assert_eq!(s2, vec![1.0, 10.0, 1.0, 10.0, 3.0, 30.0, 2.0, 20.0, 0.5, 0.5, 0.2]);
    let s3 = sm.push(&[5.0, 50.0], &[0.5, 0.5], 0.3);
    assert_eq!(&s3[..8], &[1.0, 10.0, 3.0, 30.0, 5.0, 50.0, 4.0, 40.0]);
    // Metric order follows policy_state_metrics.
    let m = Metrics { recall: vec![(1, 0.5), (2, 0.6)], nmi: 0.7, intra: 0.2, inter: 0.9, ..Default::default() };
    assert_eq!(state_metric_vector(&[StateMetric::Nmi, StateMetric::Recall, StateMetric::Dists], &m), vec![0.7, 0.5, 0.6, 0.2, 0.9]);
}

#[test]
fn reinforce_step_moves_log_probabilities_with_the_advantage() {
    for advantage in [1.0, -1.0] {
        tch::manual_seed(3);
        let policy = Policy::new(6, &[16], 4, false);
        let mut opt = pads::optim::Adam::new(&policy.vs, 0.01, 0.0);
        let state = Tensor::from_slice(&[0.1f32, -0.2, 0.3, 0.0, 0.5, 1.0]).view([1, 6]);
        let actions = [0i64, 2, 1, 2];
        let before = policy.log_probs_of(&state, &actions).sum(Kind::Float).double_value(&[]);
        let loss = reinforce_loss(&policy.log_probs_of(&state, &actions), advantage);
        opt.zero_grad();
        loss.backward();
        opt.step();
        let after = policy.log_probs_of(&state, &actions).sum(Kind::Float).double_value(&[]);
        if advantage > 0.0 {
            assert!(after > before, "positive advantage: {before} -> {after}");
        } else {
            assert!(after < before, "negative advantage: {before} -> {after}");
        }
    }
}

#[test]
fn ppo_clipping_stops_the_update_outside_the_trust_region() {
    tch::manual_seed(5);
    let policy = Policy::new(4, &[8], 3, false);
    let state = Tensor::from_slice(&[1.0f32, 0.0, -1.0, 0.5]).view([1, 4]);
    let actions = [1i64, 0, 2];
    let grad_norm = |old_shift: f64, adv: f64| -> f64 {
        for (_, v) in policy.vs.variables() {
            let mut g = v.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
        let lp = policy.log_probs_of(&state, &actions);
        let old = lp.detach() - old_shift; // ratio = exp(old_shift)
        ppo_loss(&lp, &old, adv, 0.2).backward();
        policy.vs.trainable_variables().iter().map(|v| v.grad().pow_tensor_scalar(2).sum(Kind::Float).double_value(&[])).sum()
    };
    // ratio 1: inside, gradient flows.
    assert!(grad_norm(0.0, 1.0) > 0.0);
    // ratio e > 1.2 with A > 0, and ratio 1/e < 0.8 with A < 0: clipped, no gradient.
    assert_eq!(grad_norm(1.0, 1.0), 0.0);
    assert_eq!(grad_norm(-1.0, -1.0), 0.0);
    // Outside on the other side the unclipped term is the minimum: gradient flows.
    assert!(grad_norm(1.0, -1.0) > 0.0);
    // Value: -mean(min(r A, clip(r) A)) at r = e, A = 1 is -1.2.
    let lp = policy.log_probs_of(&state, &actions);
    let v = ppo_loss(&lp, &(lp.detach() - 1.0), 1.0, 0.2).double_value(&[]);
    assert!((v + 1.2).abs() < 1e-6);
}

fn metrics(r1: f64, nmi: f64) -> Metrics {
    Metrics { recall: vec![(1, r1), (2, r1 + 0.1)], nmi, intra: 0.3, inter: 0.6, ..Default::default() }
}

#[test]
fn rewards_for_each_reward_type() {
    let a = metrics(0.5, 0.6);
    let b = metrics(0.55, 0.58);
    assert_eq!(reward_metric(0, &a), 0.6);
    assert_eq!(reward_metric(1, &a), 0.5);
    assert!((reward_metric(2, &a) - 0.55).abs() < 1e-12);
    // NMI fell, recall rose, their mean rose.
    assert_eq!(reward_sign(reward_metric(0, &a), reward_metric(0, &b)), -1.0);
    assert_eq!(reward_sign(reward_metric(1, &a), reward_metric(1, &b)), 1.0);
    assert_eq!(reward_sign(reward_metric(2, &a), reward_metric(2, &b)), 1.0);
    assert_eq!(reward_sign(0.3, 0.3), 0.0);
}

#[test]
fn ema_baseline() {
    assert_eq!(ema(&[], 0.05), 0.0);
    assert_eq!(ema(&[1.0], 0.05), 1.0);
    assert!((ema(&[1.0, -1.0, 1.0], 0.05) - 0.905).abs() < 1e-12);
    // In the agent without A2C: advantage = r - EMA(earlier rewards).
    let cfg = RunConfig {
        policy_dont_use_a2c: true,
        policy_mode: PolicyMode::Reinforce,
        k_vals: vec![1, 2],
        policy_n_support: 5,
        ..RunConfig::default()
    };
    let mut agent = Agent::new(&cfg, 2);
    let mut dist = Distribution::from_config(&cfg);
    let seq = [0.5, 0.6, 0.55, 0.7];
    let mut advantages = Vec::new();
    for (i, &r1) in seq.iter().enumerate() {
        let rec = agent.step(&metrics(r1, 0.5), &mut dist, i as f64 / 4.0, 1, i).unwrap();
        advantages.push(rec.advantage);
    }
    assert_eq!(advantages[0], None);
    // rewards (type 2 = mean of r1 and nmi): +1, -1, +1
    assert_eq!(advantages[1], Some(1.0 - 0.0));
    assert_eq!(advantages[2], Some(-1.0 - 1.0));
    assert!((advantages[3].unwrap() - (1.0 - (0.95 * 1.0 + 0.05 * -1.0))).abs() < 1e-12);
}

#[test]
fn a2c_target_and_value_loss() {
    let cfg = RunConfig { k_vals: vec![1, 2], policy_n_support: 5, policy_mode: PolicyMode::Reinforce, ..RunConfig::default() };
    tch::manual_seed(9);
    let mut agent = Agent::new(&cfg, 2);
    let mut dist = Distribution::from_config(&cfg);
    let m1 = metrics(0.4, 0.5);
    let m2 = metrics(0.3, 0.45);
    agent.step(&m1, &mut dist, 0.25, 1, 10).unwrap();
    let s_prev = Tensor::from_slice(agent.prev_state.as_ref().unwrap()).view([1, -1]);
    // Build s_t exactly as the agent will.
    let mut sm = agent.state_maker.clone();
    let s_t_vec = sm.push(&state_metric_vector(&cfg.policy_state_metrics, &m2), &dist.probs, 0.5);
    let s_t = Tensor::from_slice(&s_t_vec).view([1, -1]);
    let v_prev = agent.policy.value(&s_prev).unwrap();
    let v_t = agent.policy.value(&s_t).unwrap();
    let rec = agent.step(&m2, &mut dist, 0.5, 1, 20).unwrap();
    let reward = -1.0; // reward metric (0.4+0.5)/2 -> (0.3+0.45)/2 fell
    assert_eq!(rec.reward, Some(reward));
    let want_adv = reward + 0.99 * v_t - v_prev;
    assert!((rec.advantage.unwrap() - want_adv).abs() < 1e-5, "{:?} vs {want_adv}", rec.advantage);
    let want_value_loss = 0.5 * (v_prev - 0.375).powi(2);
    assert!((rec.value_loss.unwrap() - want_value_loss).abs() < 1e-5);
    // The distribution moved by the chosen multipliers.
    assert_eq!(rec.actions.len(), 4);
}

#[test]
fn ppo_old_policy_refreshes_on_schedule() {
    let cfg = RunConfig {
        k_vals: vec![1, 2],
        policy_n_support: 5,
        policy_mode: PolicyMode::Ppo,
        policy_old_update_iter: 2,
        ..RunConfig::default()
    };
    tch::manual_seed(2);
    let mut agent = Agent::new(&cfg, 2);
    let mut dist = Distribution::from_config(&cfg);
    let same = |a: &Agent| {
        let p = a.policy.vs.variables();
        let o = a.old_policy.as_ref().unwrap().vs.variables();
        p.iter().all(|(k, v)| v.equal(&o[k]))
    };
    assert!(same(&agent));
    let rs = [0.1, 0.3, 0.2, 0.4, 0.5];
    let mut refreshed = Vec::new();
    for (i, &r) in rs.iter().enumerate() {
        agent.step(&metrics(r, r), &mut dist, 0.1 * i as f64, 1, i).unwrap();
        refreshed.push(same(&agent));
    }
    // Calls 0..4: the policy learns from call 1 on; the old copy is refreshed after calls
    // whose index is a multiple of 2 and above 1 (the original's rule): calls 2 and 4.
    assert_eq!(refreshed, vec![true, false, true, false, true]);
}

#[test]
fn nan_in_the_policy_state_is_refused() {
    let cfg = RunConfig { k_vals: vec![1, 2], policy_n_support: 5, ..RunConfig::default() };
    let mut agent = Agent::new(&cfg, 2);
    let mut dist = Distribution::from_config(&cfg);
    let before = dist.clone();
    let err = format!("{:#}", agent.step(&metrics(f64::NAN, 0.5), &mut dist, 0.1, 1, 5).err().unwrap());
    assert!(err.contains("NaN or Inf"), "{err}");
    assert_eq!(dist, before, "the distribution is left as it was");
}
