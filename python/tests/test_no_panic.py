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


# The newcomer review's cases: each once a crash, a panic, a silent wrong answer or an
# unhelpful error.
def test_sizes_that_would_abort_the_process_are_option_errors():
    with pytest.raises(ValueError, match="policy_n_support must be from 3"):
        pads.PADSMiner(policy_n_support=2**40)
    with pytest.raises(ValueError, match="policy_size takes one or more layer widths from 1 to 65536"):
        pads.PADSAgent(pads.PADSMiner(), policy_size=(10**9, 10**9))
    with pytest.raises(ValueError, match="policy_support_limit takes two increasing distances 0 <= LOW"):
        pads.PADSMiner(policy_support_limit=(-1, 5))


@pytest.mark.parametrize("dtype", [torch.uint16, torch.uint32, torch.uint64])
def test_unsigned_labels_of_every_width_are_class_ids(dtype):
    want = pads.evaluate(E, L, nmi=False)
    assert pads.evaluate(E, L.to(dtype), nmi=False) == want
    assert [t.tolist() for t in pads.PADSMiner(seed=2)(E, L.to(dtype))] == [t.tolist() for t in pads.PADSMiner(seed=2)(E, L)]


def test_float_labels_beyond_exact_whole_numbers_are_refused():
    with pytest.raises(ValueError, match="magnitude at most 2\\*\\*53"):
        pads.evaluate(E[:10], torch.tensor([1e19, 2e19] * 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="magnitude at most 2\\*\\*53"):
        pads.RandomMiner()(E[:10], torch.tensor([1e19, 2e19] * 5, dtype=torch.float64))


def test_integers_out_of_range_name_the_option():
    with pytest.raises(ValueError, match="k values"):
        pads.evaluate(E, L, k=2**70)
    with pytest.raises(ValueError, match="seed must be an integer from 0"):
        pads.evaluate(E, L, seed=2**64)
    with pytest.raises(ValueError, match="seed is out of the 64-bit integer range"):
        pads.PADSMiner(seed=2**64)
    with pytest.raises(ValueError, match="^margin must be a finite number >= 0"):
        pads.SemihardMiner(margin=-0.1)


def test_agent_inputs_are_checked():
    agent = pads.PADSAgent(pads.PADSMiner())
    good = {"recall@1": 0.1, "recall@2": 0.2, "recall@4": 0.3, "recall@8": 0.4, "nmi": 0.5, "intra": 0.1, "inter": 0.9}
    with pytest.raises(ValueError, match=r"metrics\['recall@1'\] must be in \[0, 1\]"):
        agent.step_metrics({**good, "recall@1": 5.0}, 0.5)
    with pytest.raises(TypeError, match="metrics must be a dict"):
        agent.step_metrics(list(good.items()), 0.5)
    with pytest.raises(TypeError, match="progress must be a number"):
        agent.step_metrics(good, True)
    # NaN is undefined, as None: it enters as 0 (the trainer's rule), no JSON error.
    assert agent.step_metrics({**good, "nmi": float("nan")}, 0.5)["reward"] is None
    for bad in ({"a": 1}, None):
        with pytest.raises(ValueError, match="not a PADSAgent state_dict"):
            agent.load_state_dict(bad)
    with pytest.raises(ValueError, match="not a miner state_dict"):
        pads.PADSMiner().load_state_dict({"x": 1})
    assert agent.options["k_vals"] == [1, 2, 4, 8]


def test_tiny_rows_keep_their_direction():
    # A row of 1e-30 (float32) has a squared norm that underflows; its direction is the
    # same as the row's at normal scale, so the metrics are too (not "all zero", not ties).
    want = pads.evaluate(E, L, nmi=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert pads.evaluate(E * 1e-30, L, nmi=False)["recall@1"] == want["recall@1"]
        assert pads.evaluate(E.double() * 1e-310, L, nmi=False)["recall@1"] == want["recall@1"]


def test_a_copy_of_a_pml_miner_mines_on_its_own_generator():
    import copy

    import pads.pml

    m = pads.pml.PADSMiner(seed=4)
    c = copy.copy(m)
    assert c.core is not m.core
    first = [t.tolist() for t in m(E, L)]
    assert [t.tolist() for t in c(E, L)] == first
