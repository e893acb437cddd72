"""No Rust panic reaches Python: tensors the extension cannot read (sparse, meta, 0-d, 3-d,
empty, no columns) are a ValueError or TypeError naming the argument, from every entry point
(miners with and without a reference set, the agent, the evaluator, the loss). pyo3's
PanicException is a BaseException, so `pytest.raises((ValueError, TypeError))` fails on it."""
import warnings

import pytest
import torch

import pads

E = torch.randn(16, 4, generator=torch.Generator().manual_seed(0))
L = torch.arange(16) // 4

BAD = {
    "sparse embeddings": (lambda: E.to_sparse(), lambda: L, TypeError, "sparse"),
    "sparse csr embeddings": (lambda: E.to_sparse_csr(), lambda: L, TypeError, "sparse"),
    "sparse labels": (lambda: E, lambda: L.to_sparse(), TypeError, "sparse"),
    "meta embeddings": (lambda: E.to("meta"), lambda: L, ValueError, "meta device"),
    "meta labels": (lambda: E, lambda: L.to("meta"), ValueError, "meta device"),
    "0-d embeddings": (lambda: torch.tensor(1.0), lambda: L, ValueError, "2-D"),
    "0-d labels": (lambda: E, lambda: torch.tensor(1), ValueError, "1-D"),
    "3-d embeddings": (lambda: E.view(16, 2, 2), lambda: L, ValueError, "2-D"),
    "3-d labels": (lambda: E, lambda: L.view(4, 2, 2), ValueError, "1-D"),
    "no columns": (lambda: torch.zeros(16, 0), lambda: L, ValueError, "0 columns"),
    "complex embeddings": (lambda: E.to(torch.complex64), lambda: L, TypeError, "complex"),
}

CALLS = {
    "PADSMiner": lambda e, l: pads.PADSMiner()(e, l),
    "SemihardMiner": lambda e, l: pads.SemihardMiner()(e, l),
    "DistanceMiner": lambda e, l: pads.DistanceMiner()(e, l),
    "RandomMiner": lambda e, l: pads.RandomMiner()(e, l),
    "reference set": lambda e, l: pads.PADSMiner()(E, L, e, l),
    "PADSAgent.step": lambda e, l: pads.PADSAgent(pads.PADSMiner()).step(e, l, 0.5),
    "evaluate": lambda e, l: pads.evaluate(e, l),
    "evaluate gallery": lambda e, l: pads.evaluate(E.clone(), L.clone(), e, l),
    "MarginLoss": lambda e, l: pads.MarginLoss(4)(e, l, (torch.tensor([0]), torch.tensor([1]), torch.tensor([4]))),
}


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("case", list(BAD))
def test_bad_tensors_raise_python_errors_not_panics(call, case):
    make_e, make_l, kind, text = BAD[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(kind, match=text):
            CALLS[call](make_e(), make_l())


@pytest.mark.parametrize("call", ["PADSMiner", "SemihardMiner", "DistanceMiner", "RandomMiner", "reference set"])
def test_empty_batches_give_no_triplets(call):
    a, p, n = CALLS[call](torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))
    assert len(a) == len(p) == len(n) == 0 and a.dtype == torch.int64


def test_empty_sets_cannot_be_evaluated():
    with pytest.raises(ValueError, match="at least 2"):
        pads.evaluate(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match="at least one query"):
        pads.evaluate(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), E, L)
    with pytest.raises(ValueError, match="at least 2"):
        pads.PADSAgent(pads.PADSMiner()).step(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), 0.5)
