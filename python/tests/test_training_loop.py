"""examples/pml_pads.py: PML's TripletMarginLoss with pads.pml.PADSMiner, pads.PADSAgent every M
steps and pads.evaluate, on pads' synthetic set; test Recall@1 must rise above untrained."""
import importlib.util

import pytest
import torch

import pads
from conftest import ROOT, run_pads


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("pml_pads", ROOT / "examples" / "pml_pads.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def one_torch_thread():
    # A tiny model: one thread is as fast, and avoids OpenMP spin-waits on a loaded machine.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_pml_loop_with_pads_learns(example, tmp_path, one_torch_thread):
    data = tmp_path / "synthetic"
    run_pads("synth", "--out", data, "--classes", "24", "--per-class", "16", "--image-size", "32", "--seed", "0")
    before, after, agent = example.train(data, steps=120, every=20, seed=0)
    assert after["recall@1"] > before["recall@1"] + 0.05, (before, after)
    assert len(agent.history) == 6
    assert agent.history[0]["reward"] is None and agent.history[-1]["reward"] in (-1.0, 0.0, 1.0)
    initial = pads.PADSMiner(seed=0).distribution
    assert agent.distribution != initial  # the policy moved the distribution
