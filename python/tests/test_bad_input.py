"""Bad input raises a Python exception naming what is wrong; the interpreter never dies."""
import numpy as np
import pytest
import torch

import pads

EMB = torch.nn.functional.normalize(torch.randn(16, 8), dim=1)
LAB = torch.arange(16) // 4


@pytest.mark.parametrize(
    "call",
    [
        lambda f: f(EMB[0], LAB),  # 1-D embeddings
        lambda f: f(EMB.unsqueeze(0), LAB),  # 3-D embeddings
        lambda f: f(EMB, LAB[:10]),  # labels of another length
        lambda f: f(EMB, LAB.view(4, 4)),  # 2-D labels
    ],
)
@pytest.mark.parametrize(
    "fn",
    [pads.evaluate, pads.PADSMiner(), pads.RandomMiner(), pads.SemihardMiner(), pads.DistanceMiner(), pads.SofthardMiner()],
)
def test_shapes(fn, call):
    with pytest.raises(ValueError, match="2-D|labels|1-D"):
        call(fn)


def test_messages_name_the_problem():
    with pytest.raises(ValueError, match=r"10 labels for 16 embedding rows"):
        pads.PADSMiner()(EMB, LAB[:10])
    bad = EMB.clone()
    bad[5, 2] = float("nan")
    with pytest.raises(ValueError, match=r"row 5 \(0-based\) holds NaN or Inf"):
        pads.PADSMiner()(bad, LAB)
    with pytest.raises(ValueError, match=r"row 5"):
        pads.evaluate(bad, LAB)
    bad[5, 2] = float("inf")
    with pytest.raises(ValueError, match=r"row 5"):
        pads.PADSAgent(pads.PADSMiner()).step(bad, LAB, 0.5)
    # Float labels: whole numbers are class ids (as the CLI reads them), others refused.
    with pytest.raises(ValueError, match="whole numbers"):
        pads.PADSMiner()(EMB, LAB.float() + 0.5)
    assert [t.tolist() for t in pads.PADSMiner(seed=3)(EMB, LAB.float())] == [t.tolist() for t in pads.PADSMiner(seed=3)(EMB, LAB)]
    # Integer embeddings are converted to float32, with a note (as PML's AccuracyCalculator).
    with pytest.warns(UserWarning, match="converted to float32"):
        as_int = pads.evaluate((EMB * 10).round().long(), LAB, nmi=False)
    assert as_int == pads.evaluate((EMB * 10).round(), LAB, nmi=False)
    with pytest.raises(TypeError, match="complex"):
        pads.evaluate(EMB.to(torch.complex64), LAB)
    with pytest.raises(TypeError, match="numpy array"):
        pads.evaluate("embeddings.npy", LAB)
    with pytest.raises(ValueError, match="k values"):
        pads.evaluate(EMB, LAB, k=(0, 1))
    with pytest.raises(ValueError, match="at least 2"):
        pads.evaluate(EMB[:1], LAB[:1])


def test_bad_options():
    with pytest.raises(TypeError, match="unexpected keyword"):
        pads.PADSMiner(policy_n_suport=30)
    with pytest.raises(ValueError, match="policy_n_support must be from 3 "):
        pads.PADSMiner(policy_n_support=2)
    with pytest.raises(ValueError, match="unknown variant"):
        pads.PADSMiner(policy_init_distr="gauss")
    with pytest.raises(ValueError, match="policy_support_limit takes two increasing"):
        pads.PADSMiner(policy_support_limit=(1.4, 0.1))
    with pytest.raises(TypeError, match="PADSMiner"):
        pads.PADSAgent(pads.DistanceMiner())
    agent = pads.PADSAgent(pads.PADSMiner())
    with pytest.raises(ValueError, match="progress"):
        agent.step_metrics({"recall@1": 0.1, "recall@2": 0.2, "recall@4": 0.3, "recall@8": 0.4, "nmi": 0.5, "intra": 0.1, "inter": 0.9}, 1.5)
    with pytest.raises(ValueError, match="metrics lack nmi, intra, inter"):
        agent.step_metrics({"recall@1": 0.1, "recall@2": 0.2, "recall@4": 0.3, "recall@8": 0.4}, 0.5)
    other = pads.PADSAgent(pads.PADSMiner(policy_n_support=12))
    with pytest.raises(ValueError, match="policy_n_support"):
        agent.load_state_dict(other.state_dict())


def test_margin_loss_bad_input():
    loss = pads.MarginLoss(n_classes=4)
    a = torch.tensor([0, 1])
    with pytest.raises(ValueError, match="outside the batch"):
        loss(EMB, LAB, (a, torch.tensor([1, 99]), a))
    with pytest.raises(ValueError, match="label 5 outside"):
        loss(EMB, torch.full((16,), 5), (a, a, a))
    with pytest.raises(ValueError, match="lengths"):
        loss(EMB, LAB, (a, a[:1], a))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cpu_cuda_mix():
    with pytest.raises(ValueError, match="labels are on cpu but embeddings on cuda:0"):
        pads.PADSMiner()(EMB.cuda(), LAB)
    with pytest.raises(ValueError, match="labels are on"):
        pads.evaluate(EMB.cuda(), LAB)
    with pytest.raises(ValueError, match="beta must be 1-D .* on the embeddings' device"):
        pads.MarginLoss(4)(EMB.cuda(), LAB.cuda(), pads.PADSMiner()(EMB.cuda(), LAB.cuda()))
    a, p, n = pads.PADSMiner()(EMB.cuda(), LAB.cuda())
    assert a.device.type == "cuda"
    m_gpu = pads.evaluate(EMB.cuda(), LAB.cuda())
    assert m_gpu["recall@1"] == pads.evaluate(EMB, LAB)["recall@1"]


def test_options_take_numpy_values_and_name_the_bad_keyword():
    miner = pads.PADSMiner(policy_n_support=np.int64(10), policy_merge_oobs=np.bool_(False), policy_support_limit=np.array([0.2, 1.6]))
    assert len(miner.distribution) == 9 and miner.support[0] == 0.2 and miner.support[-1] == 1.6
    assert miner.options["policy_merge_oobs"] is False
    with pytest.raises(TypeError, match=r"policy_merge_oobs=0: invalid type"):
        pads.PADSMiner(policy_merge_oobs=0)
    with pytest.raises(ValueError, match=r"policy_init_distr=\"Uniform_Low\": unknown variant"):
        pads.PADSMiner(policy_init_distr="Uniform_Low")
    with pytest.raises(ValueError, match="policy_lr must be a finite number"):
        pads.PADSAgent(pads.PADSMiner(), policy_lr=float("nan"))
    with pytest.raises(ValueError, match=r"policy_run_avgs takes windows of at least 1 policy update, got \[0\]"):
        pads.PADSAgent(pads.PADSMiner(), policy_run_avgs=[0])
