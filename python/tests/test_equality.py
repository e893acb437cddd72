"""`import pads` gives the Rust library's numbers: miners' triplets and the agent's
distributions (against the fixture tests/python_reference.rs writes), `pads.evaluate`
against `pads metrics` on the same .npy files, and the margin loss against plain torch."""
import json
import math

import numpy as np
import pytest
import torch

import pads
from conftest import ROOT, run_pads

FIXTURE = ROOT / "target" / "tmp" / "python_reference.json"
MINERS = {
    "random": pads.RandomMiner,
    "semihard": pads.SemihardMiner,
    "softhard": pads.SofthardMiner,
    "distance": pads.DistanceMiner,
    "pads": pads.PADSMiner,
}


@pytest.fixture(scope="module")
def ref():
    if not FIXTURE.exists():
        pytest.fail(f"{FIXTURE} is missing: run `cargo test --release --test python_reference` first (make test does)")
    return json.loads(FIXTURE.read_text())


def test_miners_give_the_librarys_triplets(ref):
    emb = torch.tensor(ref["embeddings"], dtype=torch.float32)
    labels = torch.tensor(ref["labels"])
    for case in ref["miners"]:
        miner = MINERS[case["sampling"]](normalize=False, **case["options"])
        for call, expected in enumerate(case["calls"]):
            a, p, n = miner(emb, labels)
            assert a.dtype == torch.int64 and a.device == emb.device
            got = [a.tolist(), p.tolist(), n.tolist()]
            assert got == expected, f"{case['sampling']} {case['options']} call {call}"


def test_normalize_default_mines_unit_rows(ref):
    # normalize=True (default) mines the L2-normalised rows: scaling the batch changes nothing.
    emb = torch.tensor(ref["embeddings"], dtype=torch.float32)
    labels = torch.tensor(ref["labels"])
    a = pads.PADSMiner(seed=7)(emb * 3.0, labels)
    b = pads.PADSMiner(seed=7)(emb * 0.5, labels)
    assert [t.tolist() for t in a] == [t.tolist() for t in b]
    # Raw rows scaled by 0.2 sit at distances ~0.3 (other bins than the unit rows' ~1.4): other draws.
    raw = pads.PADSMiner(seed=7, normalize=False)(emb * 0.2, labels)
    assert [t.tolist() for t in raw] != [t.tolist() for t in a]


def test_agent_gives_the_librarys_distributions(ref):
    r = ref["agent"]
    torch.manual_seed(r["torch_seed"])
    miner = pads.PADSMiner(normalize=False, **r["miner_options"])
    agent = pads.PADSAgent(miner, **r["agent_options"])
    for metrics, expected in zip(r["metrics"], r["steps"]):
        rec = agent.step_metrics(metrics, expected["progress"])
        assert rec["actions"] == expected["actions"]
        assert rec["distribution"] == expected["distribution"]
        assert rec["reward"] == expected["reward"]
        assert miner.distribution == expected["distribution"]
    v = r["val_step"]
    rec = agent.step(np.array(v["embeddings"], dtype=np.float32), np.array(v["labels"]), v["progress"])
    # mAP@R is not a validation metric (never computed there): the record leaves it out.
    assert rec["val_metrics"] == {k: x for k, x in v["val_metrics"] if k != "map@r"} and "map@r" not in rec["val_metrics"]
    assert rec["actions"] == v["actions"]
    assert rec["distribution"] == v["distribution"]
    assert len(agent.history) == len(r["steps"]) + 1


def test_agent_state_dict_round_trip(ref, tmp_path):
    r = ref["agent"]
    torch.manual_seed(r["torch_seed"])
    miner = pads.PADSMiner(normalize=False, **r["miner_options"])
    agent = pads.PADSAgent(miner, **r["agent_options"])
    for metrics, step in list(zip(r["metrics"], r["steps"]))[:3]:
        agent.step_metrics(metrics, step["progress"])
    torch.save({"agent": agent.state_dict(), "miner": miner.state_dict()}, tmp_path / "ck.pt")
    # A fresh agent (other initial weights) restored from the checkpoint continues identically.
    torch.manual_seed(12345)
    miner2 = pads.PADSMiner(normalize=False, **r["miner_options"])
    agent2 = pads.PADSAgent(miner2, **r["agent_options"])
    ck = torch.load(tmp_path / "ck.pt")
    agent2.load_state_dict(ck["agent"])
    miner2.load_state_dict(ck["miner"])
    assert miner2.distribution == miner.distribution
    for metrics, step in list(zip(r["metrics"], r["steps"]))[3:]:
        a = agent.step_metrics(metrics, step["progress"])
        b = agent2.step_metrics(metrics, step["progress"])
        assert a["actions"] == b["actions"] == step["actions"]
        assert b["distribution"] == step["distribution"]
    assert len(agent2.history) == len(r["steps"])


def _npy_case(tmp_path, n=300, d=24, classes=12, seed=0, singletons=0):
    g = np.random.default_rng(seed)
    centers = g.normal(size=(classes, d))
    labels = g.integers(0, classes, size=n)
    emb = (centers[labels] + 0.9 * g.normal(size=(n, d))) * g.uniform(0.5, 3.0, size=(n, 1))
    if singletons:
        labels[:singletons] = np.arange(1000, 1000 + singletons)
    emb = emb.astype(np.float32)
    np.save(tmp_path / "e.npy", emb)
    np.save(tmp_path / "l.npy", labels.astype(np.int64))
    return emb, labels


@pytest.mark.parametrize(
    "flags, kwargs",
    [
        ([], {}),
        (["--no-normalize"], {"normalize": False}),
        (["--k", "1,3,1000", "--seed", "5"], {"k": (1, 3, 1000), "seed": 5}),
    ],
)
def test_evaluate_equals_pads_metrics(tmp_path, flags, kwargs):
    emb, labels = _npy_case(tmp_path, singletons=4)
    cli = json.loads(run_pads("metrics", "--embeddings", tmp_path / "e.npy", "--labels", tmp_path / "l.npy", "--json", *flags).stdout)
    with pytest.warns(UserWarning):
        py = pads.evaluate(emb, labels, **kwargs)
    assert py == cli  # the same numbers, bit for bit (both print shortest round-trip floats)
    # and the same from torch tensors
    with pytest.warns(UserWarning):
        assert pads.evaluate(torch.from_numpy(emb), torch.from_numpy(labels), **kwargs) == cli


def test_evaluate_undefined_is_none(tmp_path):
    emb = np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32)
    labels = np.arange(6)  # every class a single item
    np.save(tmp_path / "e.npy", emb)
    np.save(tmp_path / "l.npy", labels)
    cli = json.loads(run_pads("metrics", "--embeddings", tmp_path / "e.npy", "--labels", tmp_path / "l.npy", "--json").stdout)
    with pytest.warns(UserWarning, match="undefined"):
        py = pads.evaluate(emb, labels)
    assert py == cli
    assert py["recall@1"] is None and py["nmi"] is None and py["map@r"] is None


def test_evaluate_hand_worked():
    # 4 points on a line, classes [0, 0, 1, 1]: nearest neighbours 0->1, 1->0, 2->1, 3->2.
    emb = torch.tensor([[0.0, 1.0], [1.0, 1.0], [2.2, 1.0], [4.0, 1.0]])
    m = pads.evaluate(emb, torch.tensor([0, 0, 1, 1]), k=(1, 2), normalize=False, nmi=False)
    assert m["recall@1"] == 0.75  # point 2's nearest (1) is of the other class
    assert m["recall@2"] == 1.0
    assert m["map@r"] == 0.75  # R = 1 per query: precision@1 = hit@1
    assert "nmi" not in m and "f1" not in m


def test_margin_loss_matches_torch_formula_and_gradients():
    torch.manual_seed(0)
    x = torch.randn(24, 8, requires_grad=True)
    labels = torch.arange(24) // 4
    emb = torch.nn.functional.normalize(x, dim=1)
    idx = pads.DistanceMiner(seed=1)(emb, labels)
    loss_fn = pads.MarginLoss(n_classes=6, margin=0.2, beta=1.2)
    with torch.no_grad():
        loss_fn.beta.add_(torch.linspace(-0.4, 0.3, 6))
    loss = loss_fn(emb, labels, idx)
    gx, gb = torch.autograd.grad(loss, [x, loss_fn.beta])

    x2 = x.detach().clone().requires_grad_(True)
    beta2 = loss_fn.beta.detach().clone().requires_grad_(True)
    e2 = torch.nn.functional.normalize(x2, dim=1)
    a, p, n = idx
    d_ap = ((e2[a] - e2[p]).pow(2).sum(1) + 1e-8).sqrt()
    d_an = ((e2[a] - e2[n]).pow(2).sum(1) + 1e-8).sqrt()
    b = beta2[labels[a]]
    pos, neg = torch.relu(d_ap - b + 0.2), torch.relu(b - d_an + 0.2)
    ref = (pos + neg).sum() / ((pos > 0) | (neg > 0)).sum().clamp_min(1)
    rx, rb = torch.autograd.grad(ref, [x2, beta2])
    assert math.isclose(loss.item(), ref.item(), rel_tol=1e-6)
    assert torch.allclose(gx, rx, atol=1e-6) and torch.allclose(gb, rb, atol=1e-6)
    assert gb.abs().sum() > 0 and gx.abs().sum() > 0


def test_options_are_library_options():
    d = pads.defaults()
    miner = pads.PADSMiner()
    agent = pads.PADSAgent(miner)
    for key in ["policy_n_support", "policy_support_limit", "policy_init_distr", "seed"]:
        assert miner.options[key] == d[key]
    for key in ["policy_n_support", "policy_lr", "policy_mode", "seed"]:
        assert agent.options[key] == d[key]
    # Each object shows its own options, not the whole training configuration.
    assert "policy_lr" not in miner.options and "margin" not in miner.options and "lr" not in agent.options
    assert set(pads.SemihardMiner().options) == {"seed", "margin"} and set(pads.RandomMiner().options) == {"seed"}
    assert len(miner.distribution) == d["policy_n_support"] - 1
    assert math.isclose(sum(miner.distribution), 1.0, rel_tol=1e-12)
    custom = pads.PADSMiner(policy_n_support=12, policy_support_limit=(0.2, 1.6))
    assert len(custom.distribution) == 11 and custom.support[0] == 0.2 and custom.support[-1] == 1.6
