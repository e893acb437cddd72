"""Every option the Python miners and the agent advertise changes what they return (a
keyword that is accepted but ignored is the bug this file guards against: SemihardMiner's
margin once was): on a fixed batch, the triplets (miners) or the distributions after a few
policy steps (agent) differ from the defaults'."""
import math

import pytest
import torch

import pads

G = torch.Generator().manual_seed(5)
# 8 classes of 4, rows of varied norm (normalize matters), spread so that some distances fall
# outside the PADS support (merge_oobs matters).
E = torch.randn(32, 6, generator=G) * torch.linspace(0.3, 3.0, 32).unsqueeze(1)
L = torch.arange(32) // 4


def triplets(miner, calls=6):
    out = []
    for _ in range(calls):
        out.append(tuple(tuple(t.tolist()) for t in miner(E, L)))
    return out


MINER_CASES = [
    (pads.PADSMiner, "policy_n_support", 8),
    (pads.PADSMiner, "policy_support_limit", (0.5, 1.9)),
    (pads.PADSMiner, "policy_init_distr", "uniform_high"),
    (pads.PADSMiner, "policy_merge_oobs", False),
    (pads.PADSMiner, "policy_include_pos", False),
    (pads.PADSMiner, "policy_include_same", False),
    (pads.PADSMiner, "policy_no_self_reg", True),
    (pads.PADSMiner, "seed", 9),
    (pads.PADSMiner, "normalize", False),
    (pads.PADSMiner, "valid_triplets_only", True),
    (pads.SemihardMiner, "margin", 0.02),
    (pads.SemihardMiner, "seed", 9),
    (pads.SemihardMiner, "normalize", False),
    (pads.RandomMiner, "seed", 9),
    (pads.SofthardMiner, "seed", 9),
    (pads.SofthardMiner, "normalize", False),
    (pads.DistanceMiner, "seed", 9),
    (pads.DistanceMiner, "normalize", False),
]


@pytest.mark.parametrize("cls,key,value", MINER_CASES, ids=[f"{c.__name__}-{k}" for c, k, _ in MINER_CASES])
def test_every_miner_option_changes_the_triplets(cls, key, value):
    assert triplets(cls(**{key: value})) != triplets(cls()), f"{cls.__name__}({key}={value!r}) returns the default's triplets"


def test_semihard_margins_give_different_triplets():
    # The case: margins 0.05, 0.2 and 5.0 once gave the same triplets.
    got = [triplets(pads.SemihardMiner(margin=m, seed=1)) for m in (0.05, 0.2, 5.0)]
    assert got[0] != got[1] and got[1] != got[2] and got[0] != got[2]
    assert pads.SemihardMiner(margin=0.05).options["margin"] == 0.05
    with pytest.raises(ValueError, match="^margin must be a finite number >= 0"):
        pads.SemihardMiner(margin=-1.0)


def metric_stream(steps):
    """Validation metrics that move, so that rewards and states differ step to step."""
    out = []
    for i in range(steps):
        r = 0.3 + 0.05 * math.sin(1.3 * i) + 0.01 * i
        out.append({"recall@1": r, "recall@2": r + 0.1, "recall@4": r + 0.2, "recall@8": r + 0.25,
                    "nmi": 0.4 + 0.03 * math.cos(0.7 * i), "intra": 0.5 - 0.01 * i, "inter": 0.9 + 0.02 * math.sin(i)})
    return out


def distributions(steps=10, **options):
    torch.manual_seed(0)
    agent = pads.PADSAgent(pads.PADSMiner(seed=1), **options)
    return [agent.step_metrics(m, progress=i / steps)["distribution"] for i, m in enumerate(metric_stream(steps))]


AGENT_CASES = [
    ("seed", 9),
    ("k_vals", (1, 2)),
    ("policy_lr", 0.5),
    ("policy_action_values", (0.8, 1.0, 1.25)),
    ("policy_size", (16,)),
    ("policy_dont_use_a2c", True),
    # The EMA baseline replaces the critic only without A2C (the original's rule).
    ("policy_baseline_ema_gamma", 0.9, {"policy_dont_use_a2c": True}),
    ("policy_reward_update_w", 0.1),
    ("policy_mode", "reinforce"),
    ("policy_ppo_ratio", 0.01),
    ("policy_old_update_iter", 1),
    ("policy_reward_type", 0),
    ("policy_state_metrics", ("recall",)),
    ("policy_metric_history", 2),
    ("policy_run_avgs", (2, 4)),
    ("policy_parameter_history", 3),
    ("policy_parameter_history", -1),
    ("policy_run_avgs_no_avg", True),
    ("policy_winit_type", "he_n"),
]


@pytest.mark.parametrize("case", AGENT_CASES, ids=[c[0] for c in AGENT_CASES])
def test_every_agent_option_changes_the_policy(case):
    key, value, base = case if len(case) == 3 else (*case, {})
    assert distributions(**base, **{key: value}) != distributions(**base), f"PADSAgent({key}={value!r}) gives the default's distributions"
