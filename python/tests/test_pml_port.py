"""pytorch-metric-learning's own test cases for AccuracyCalculator and the triplet miners,
re-expressed for pads and run against pads and PML (2.9.0) on the same inputs."""
# PML's tests: KevinMusgrave/pytorch-metric-learning, folder tests/. AccuracyCalculator's
# precision_at_1 is pads' recall@1, mean_average_precision_at_r pads' map@r (PML: k=None,
# knn_func=CustomKNN, no faiss). Ported cases:
# from tests/utils/test_calculate_accuracies.py::TestCalculateAccuraciesAndFaiss::_test_accuracy_calculator_and_faiss
#   (numpy and torch, integer embeddings, float integral labels; its ref_includes_query=True
#   call with a reference that does not start with the query is a ValueError in PML 2.x)
# from tests/utils/test_calculate_accuracies.py::TestCalculateAccuraciesAndFaiss::_test_accuracy_calculator_and_faiss_avg_of_avgs
#   (the global average, avg_of_avgs=False; pads has no per-class average)
# from tests/utils/test_calculate_accuracies.py::TestCalculateAccuracies::test_get_lone_query_labels
#   (its label sets, through get_accuracy: lone queries are left out of every metric)
# from tests/utils/test_calculate_accuracies.py::TestCalculateAccuraciesValidK::test_valid_k
# from tests/utils/test_calculate_accuracies_large_k.py::TestCalculateAccuraciesLargeK::test_accuracy_calculator_large_k
# plus one set (reference None), query inside reference with a duplicate row, all-lone.
# Not ported: test_accuracy_calculator (private _get_accuracy on hand-written knn labels), custom
# label_comparison_fn, multi-dim labels, avg_of_avgs=True, faiss GPU (no such pads options).
# Miners (one triplet per anchor in pads: membership and distribution are compared):
# from tests/miners/test_triplet_margin_miner.py::TestTripletMarginMiner::test_triplet_margin_miner (semihard)
# from tests/miners/test_triplet_margin_miner.py::TestTripletMarginMiner::test_empty_output
# from tests/miners/test_distance_weighted_miner.py::TestDistanceWeightedMiner::test_distance_weighted_miner
# from tests/miners/test_distance_weighted_miner.py::TestDistanceWeightedMiner::test_distance_weighted_miner_with_ref_labels
# from tests/miners/test_distance_weighted_miner.py::TestDistanceWeightedMiner::test_empty_output
# from tests/utils/test_loss_and_miner_utils.py::TestLossAndMinerUtils::test_get_all_pairs_triplets_indices
# from tests/utils/test_loss_and_miner_utils.py::TestLossAndMinerUtils::test_get_random_triplet_indices
#   (not its one-hot `weights` part: pads miners take no weights)
import math
import warnings

import numpy as np
import pytest
import torch
from pytorch_metric_learning.distances import LpDistance
from pytorch_metric_learning.miners import DistanceWeightedMiner, TripletMarginMiner
from pytorch_metric_learning.utils import loss_and_miner_utils as lmu
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
from pytorch_metric_learning.utils.inference import CustomKNN

import pads
import pads.pml

CPU = torch.device("cpu")
MINERS = ["PADSMiner", "RandomMiner", "SemihardMiner", "SofthardMiner", "DistanceMiner"]


# ----------------------------------------------------------------------------- evaluate

def pml_accuracy(query, query_labels, reference=None, reference_labels=None, ref_includes_query=False, *, normalize=True, k=None):
    dist = LpDistance() if normalize else LpDistance(normalize_embeddings=False, power=2)
    calc = AccuracyCalculator(include=("precision_at_1", "mean_average_precision_at_r"), k=k, device=CPU, knn_func=CustomKNN(dist))
    return calc.get_accuracy(query, query_labels, reference, reference_labels, ref_includes_query)


def pads_accuracy(*args, **kwargs):
    """pads.evaluate and the text of every warning it gave."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = pads.evaluate(*args, **kwargs)
    return out, [str(w.message) for w in rec]


def assert_same(pml_out, pads_out, abs_tol=None):
    for pml_key, pads_key in [("precision_at_1", "recall@1"), ("mean_average_precision_at_r", "map@r")]:
        want, got = pml_out[pml_key], pads_out[pads_key]
        if math.isnan(want):
            assert got is None, (pads_key, got, pml_out)
        else:
            assert got == pytest.approx(want, rel=1e-6, abs=abs_tol), (pads_key, got, want)


def clustered(n_classes, per_class, dim, seed, noise=0.6):
    g = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_classes), per_class)
    emb = g.normal(size=(n_classes, dim))[labels] + noise * g.normal(size=(len(labels), dim))
    return emb.astype(np.float32), labels.astype(np.int64)


@pytest.mark.parametrize("as_torch", [False, True])
def test_faiss_case_identity_and_half_steps(as_torch):
    # from tests/utils/test_calculate_accuracies.py::TestCalculateAccuraciesAndFaiss::_test_accuracy_calculator_and_faiss
    conv = torch.as_tensor if as_torch else np.asarray
    query, query_labels = conv(np.arange(10)[:, None]), conv(np.arange(10))  # integer embeddings
    pml = pml_accuracy(query, query_labels, query, query_labels, False, normalize=False)
    assert pml["precision_at_1"] == 1 and pml["mean_average_precision_at_r"] == 1
    got, warned = pads_accuracy(query, query_labels, conv(np.arange(10)[:, None]), conv(np.arange(10)), False, k=(1,), normalize=False)
    assert_same(pml, got)
    assert any("float" in w.lower() for w in warned), warned  # integer embeddings become float, with a note

    ref = conv((np.arange(20) / 2.0)[:, None])
    ref_labels = np.zeros(20)  # float labels, integral
    ref_labels[::2], ref_labels[1::2] = np.arange(10), 1
    ref_labels = conv(ref_labels)
    pml = pml_accuracy(query, query_labels, ref, ref_labels, False, normalize=False)
    assert pml["precision_at_1"] == 1 and pml["mean_average_precision_at_r"] < 1
    got, _ = pads_accuracy(query, query_labels, ref, ref_labels, False, k=(1,), normalize=False)
    assert_same(pml, got)
    assert got["lone_queries"] == 0 and got["queries"] == 10 and got["gallery"] == 20
    # PML 1.x ran this reference with embeddings_come_from_same_source=True; 2.x's
    # ref_includes_query needs the reference to start with the query, and so does pads
    with pytest.raises(ValueError):
        pml_accuracy(query, query_labels, ref, ref_labels, True, normalize=False)
    with pytest.raises(ValueError):
        pads.evaluate(query, query_labels, ref, ref_labels, True, k=(1,), normalize=False)


def test_non_integral_float_labels_are_refused():
    emb, labels = clustered(3, 4, 5, seed=0)
    with pytest.raises(ValueError):
        pads.evaluate(emb, labels.astype(np.float64) + 0.5, nmi=False)


@pytest.mark.parametrize("as_torch", [False, True])
def test_faiss_case_far_outliers_global_average(as_torch):
    # from tests/utils/test_calculate_accuracies.py::TestCalculateAccuraciesAndFaiss::_test_accuracy_calculator_and_faiss_avg_of_avgs
    conv = torch.as_tensor if as_torch else np.asarray
    query, ref = np.arange(10)[:, None].copy(), np.arange(10)[:, None].copy()
    query[-1], ref[0] = 100, -100
    query_labels, ref_labels = np.array([0] * 9 + [1]), np.array([1] + [0] * 9)
    args = [conv(x) for x in (query, query_labels, ref, ref_labels)]
    pml = pml_accuracy(*args, False, normalize=False)
    assert pml["precision_at_1"] == pytest.approx(0.9) and pml["mean_average_precision_at_r"] == pytest.approx(0.9)
    got, _ = pads_accuracy(*args, False, k=(1,), normalize=False)
    assert_same(pml, got)


@pytest.mark.parametrize("normalize", [True, False])
def test_one_set_reference_none(normalize):
    emb, labels = clustered(7, 6, 12, seed=1)
    labels[-2:] = [40, 41]  # two lone items: PML leaves them out, so does pads by default
    pml = pml_accuracy(emb, labels, normalize=normalize)
    got, warned = pads_accuracy(emb, labels, nmi=False, normalize=normalize)
    assert_same(pml, got)
    assert 0 < got["recall@1"] < 1 and 0 < got["map@r"] < 1
    # the same numbers with the set passed as its own reference (same objects, ref_includes_query)
    got2, _ = pads_accuracy(emb, labels, emb, labels, True, normalize=normalize)
    assert_same(pml, got2)
    assert got2["lone_queries"] == 2 and got2["same_set"] is True


@pytest.mark.parametrize("normalize", [True, False])
def test_separate_query_and_reference(normalize):
    q, ql = clustered(6, 5, 10, seed=2)
    r, rl = clustered(6, 9, 10, seed=2)  # same centres (same seed), more items
    r = r + 0.3 * np.random.default_rng(9).normal(size=r.shape).astype(np.float32)
    pml = pml_accuracy(q, ql, r, rl, False, normalize=normalize)
    got, _ = pads_accuracy(q, ql, r, rl, False, normalize=normalize)
    assert_same(pml, got)
    assert got["same_set"] is False and got["lone_queries"] == 0
    # torch tensors give the same numbers
    got_t, _ = pads_accuracy(*(torch.as_tensor(x) for x in (q, ql, r, rl)), False, normalize=normalize)
    assert got_t == got


def test_same_objects_without_ref_includes_query_count_self():
    # PML: ref_includes_query=False means every reference row is a candidate, the query's
    # own row included, whatever object is passed
    emb, labels = clustered(5, 4, 8, seed=3)
    pml = pml_accuracy(emb, labels, emb, labels, False)
    assert pml["precision_at_1"] == 1.0  # each row finds itself
    got, _ = pads_accuracy(emb, labels, emb, labels, False)
    assert_same(pml, got)


def test_query_inside_reference_with_a_duplicate_row():
    q, ql = clustered(5, 4, 8, seed=4)
    extra, el = clustered(5, 3, 8, seed=5)
    # a copy of query row 0 (same label) in the reference: only the query's own row is left out
    ref = np.concatenate([q, extra, q[:1]])
    rl = np.concatenate([ql, el, ql[:1]])
    pml = pml_accuracy(q, ql, ref, rl, True)
    got, _ = pads_accuracy(q, ql, ref, rl, True)
    assert_same(pml, got)
    assert got["ref_includes_query"] is True and got["same_set"] is False and got["gallery"] == len(ref)
    # and it differs from the separate-sets reading (self matches counted)
    pml_sep = pml_accuracy(q, ql, ref, rl, False)
    got_sep, _ = pads_accuracy(q, ql, ref, rl, False)
    assert_same(pml_sep, got_sep)
    assert got_sep["recall@1"] == 1.0 and got["recall@1"] < 1.0


def test_ref_includes_query_labels_must_match_too():
    q, ql = clustered(4, 3, 6, seed=6)
    extra, el = clustered(4, 2, 6, seed=7)
    ref, rl = np.concatenate([q, extra]), np.concatenate([ql[::-1], el])  # rows equal, labels not
    with pytest.raises(ValueError):
        pml_accuracy(q, ql, ref, rl, True)
    with pytest.raises(ValueError):
        pads.evaluate(q, ql, ref, rl, True)


@pytest.mark.parametrize("ref_includes_query", [False, True])
def test_lone_query_labels(ref_includes_query):
    # from tests/utils/test_calculate_accuracies.py::TestCalculateAccuracies::test_get_lone_query_labels
    # PML's labels: query 0..6, reference [0,0,0,1,2,2,3,4,5]: lone {6} for separate sets,
    # {1,3,4,5,6} when the reference holds the queries (here: query rows + [0,0,2]).
    g = np.random.default_rng(8)
    ql = np.arange(7)
    q = g.normal(size=(7, 6)).astype(np.float32)
    if ref_includes_query:
        rl = np.concatenate([ql, [0, 0, 2]])
        ref = np.concatenate([q, q[[0, 0, 2]] + 0.2 * g.normal(size=(3, 6)).astype(np.float32)])
        lone = 5
    else:
        rl = np.array([0, 0, 0, 1, 2, 2, 3, 4, 5])
        ref = q[rl] + 0.2 * g.normal(size=(9, 6)).astype(np.float32)
        lone = 1
    pml = pml_accuracy(q, ql, ref, rl, ref_includes_query)
    got, warned = pads_accuracy(q, ql, ref, rl, ref_includes_query, k=(1,))
    assert_same(pml, got)
    assert got["lone_queries"] == lone
    assert any(f"{lone} of 7 queries" in w for w in warned), warned
    # the original's reading counts them as misses: recall@1 changes, mAP@R does not
    counted, _ = pads_accuracy(q, ql, ref, rl, ref_includes_query, k=(1,), count_lone_queries=True)
    assert counted["recall@1"] == pytest.approx(got["recall@1"] * (7 - lone) / 7)
    assert counted["map@r"] == got["map@r"]


@pytest.mark.parametrize("mode", ["one_set", "query_reference", "ref_includes_query"])
def test_all_queries_lone(mode):
    g = np.random.default_rng(10)
    q = g.normal(size=(6, 4)).astype(np.float32)
    ql = np.arange(6)
    if mode == "one_set":
        args = (q, ql)
    elif mode == "query_reference":
        args = (q, ql, g.normal(size=(8, 4)).astype(np.float32), np.arange(10, 18), False)
    else:
        args = (q, ql, np.concatenate([q, g.normal(size=(3, 4)).astype(np.float32)]), np.arange(9), True)
    pml = pml_accuracy(*args)
    assert math.isnan(pml["precision_at_1"]) and math.isnan(pml["mean_average_precision_at_r"])
    kw = {"nmi": False} if mode == "one_set" else {}
    got, warned = pads_accuracy(*args, k=(1, 2), **kw)
    assert_same(pml, got)
    assert got["recall@2"] is None and warned


@pytest.mark.parametrize("k", [-1, 0, 1.5, "max"])
def test_valid_k(k):
    # from tests/utils/test_calculate_accuracies.py::TestCalculateAccuraciesValidK::test_valid_k
    with pytest.raises(ValueError):
        AccuracyCalculator(k=k, device=CPU, knn_func=CustomKNN(LpDistance()))
    emb, labels = clustered(3, 4, 5, seed=0)
    with pytest.raises(ValueError):
        pads.evaluate(emb, labels, k=k, nmi=False)


@pytest.mark.parametrize("num_embeddings", [1000, 2100])
@pytest.mark.parametrize("ecfss", [False, True])
def test_large_k(num_embeddings, ecfss):
    # from tests/utils/test_calculate_accuracies_large_k.py::TestCalculateAccuraciesLargeK::test_accuracy_calculator_large_k
    g = np.random.default_rng(493)
    for num_classes in [2, 11, 103]:
        encs = g.random((num_embeddings, 5)).astype(np.float32)
        labels = g.integers(0, num_classes, size=num_embeddings)
        max_bin = int(np.bincount(labels).max())
        got, _ = pads_accuracy(encs, labels, encs.copy(), labels.copy(), ecfss, k=(1,), normalize=False)
        for max_k in [None, 98, "max_bin_count"]:
            if max_k == 98 and max_k < max_bin:
                continue  # PML's own warning: mAP@R is wrong when k < max bin count
            pml = pml_accuracy(encs, labels, encs, labels, ecfss, normalize=False, k=max_k)
            # PML ranks float32 distances: near-ties within float32 rounding flip a few items
            # (differences ~5e-8 here; PML's own test compares to 5 places)
            assert_same(pml, got, abs_tol=1e-6)


# ----------------------------------------------------------------------------- miners

def triplets(t):
    a, p, n = t
    assert a.dtype == p.dtype == n.dtype == torch.int64 and len(a) == len(p) == len(n)
    return list(zip(a.tolist(), p.tolist(), n.tolist()))


def circle(n_points, offset=0.0):
    """PML's test embeddings: points at 0, 1, ..., n-1 degrees (+ offset) on the unit circle."""
    ang = np.radians(np.arange(n_points) + offset)
    return torch.tensor(np.stack([np.cos(ang), np.sin(ang)], axis=1), dtype=torch.float32)


def make(name, pml, **kw):
    return getattr(pads.pml if pml else pads, name)(**kw)


@pytest.mark.parametrize("with_ref", [False, True])
@pytest.mark.parametrize("margin", [0.05 * i for i in range(1, 11)])
def test_semihard_negatives_are_pml_semihard(margin, with_ref):
    # from tests/miners/test_triplet_margin_miner.py::TestTripletMarginMiner::test_triplet_margin_miner
    g = torch.Generator().manual_seed(int(margin * 100))
    emb, labels = circle(16), torch.randint(0, 2, (16,), generator=g)
    ref, ref_labels = (circle(20, offset=0.4), torch.randint(0, 2, (20,), generator=g)) if with_ref else (None, None)
    pml_semi = set(triplets(TripletMarginMiner(margin, type_of_triplets="semihard")(emb, labels, ref, ref_labels)))
    pml_all = set(triplets(lmu.get_all_triplets_indices(labels, ref_labels)))
    assert pml_semi <= pml_all
    r = emb if ref is None else ref
    d = torch.cdist(emb.double(), r.double())
    # (a, p) with a negative clearly inside (d_ap, d_ap + margin); near-ties skipped
    clear = {(a, p) for a, p, n in pml_all if 1e-5 < d[a, n] - d[a, p] < margin - 1e-5}
    # near-ties, and distances below 0.01 (pads reads them as 0.01, the original's clamp)
    near = {(a, p, n) for a, p, n in pml_all if min(abs(d[a, n] - d[a, p]), abs(d[a, n] - d[a, p] - margin)) <= 1e-5 or min(d[a, p], d[a, n]) < 0.01 + 1e-5}
    for miner in (pads.SemihardMiner(margin=margin, seed=1), pads.pml.SemihardMiner(margin=margin, seed=1)):
        checked = 0
        for _ in range(10):
            for t in triplets(miner(emb, labels, ref, ref_labels)):
                assert t in pml_all, t
                if t[:2] in clear and t not in near:
                    assert t in pml_semi, (t, float(d[t[0], t[1]]), float(d[t[0], t[2]]))
                    checked += 1
        assert checked >= 10


def test_semihard_margin_changes_the_triplets():
    emb, labels = clustered(4, 8, 8, seed=11, noise=1.0)
    emb, labels = torch.from_numpy(emb), torch.from_numpy(labels)
    out = {m: triplets(pads.SemihardMiner(margin=m, seed=0)(emb, labels)) for m in (0.05, 0.2, 5.0)}
    assert out[0.05] != out[0.2] != out[5.0] != out[0.05]
    # margin 5 covers every distance: each negative is farther than the positive when one is
    d = torch.cdist(*(torch.nn.functional.normalize(emb, dim=1),) * 2)
    for a, p, n in out[5.0]:
        farther = [j for j in range(len(labels)) if labels[j] != labels[a] and d[a, j] > d[a, p]]
        assert not farther or d[a, n] > d[a, p]


@pytest.mark.parametrize("pml", [False, True])
@pytest.mark.parametrize("name", MINERS)
def test_empty_output(name, pml):
    # from tests/miners/test_triplet_margin_miner.py::TestTripletMarginMiner::test_empty_output
    # from tests/miners/test_distance_weighted_miner.py::TestDistanceWeightedMiner::test_empty_output
    emb, labels = torch.randn(32, 64, generator=torch.Generator().manual_seed(0)), torch.arange(32)
    assert len(triplets(TripletMarginMiner(0.5, type_of_triplets="all")(emb, labels))) == 0
    assert len(triplets(DistanceWeightedMiner(0.1, 0.5)(emb, labels))) == 0
    # (the original's PADS sampling, valid_triplets_only=False, draws (a, a, n) even here)
    miner = make(name, pml, seed=0) if pml else make(name, pml, seed=0, valid_triplets_only=True)
    assert triplets(miner(emb, labels)) == []
    assert miner.num_triplets == 0
    assert miner.dropped_triplets == (32 if name == "PADSMiner" else 0)


@pytest.mark.parametrize("pml", [False, True])
@pytest.mark.parametrize("name", MINERS)
def test_repeated_labels_all_triplets(name, pml):
    # from tests/utils/test_loss_and_miner_utils.py::TestLossAndMinerUtils::test_get_all_pairs_triplets_indices
    miner = make(name, pml, seed=0) if pml else make(name, pml, seed=0, valid_triplets_only=True)
    gen = torch.Generator().manual_seed(1)
    for i in range(1, 11):
        labels = torch.arange(10).repeat(i)
        emb = torch.randn(len(labels), 8, generator=gen)
        every = set(triplets(lmu.get_all_triplets_indices(labels)))
        assert len(every) == len(labels) * (i - 1) * (len(labels) - i)
        got = triplets(miner(emb, labels))
        assert set(got) <= every
        if i == 1:
            assert got == []
        elif name == "RandomMiner":
            assert len(got) == len(labels)  # batch-size many, as the original
        elif name != "PADSMiner":  # PADS drops what is not label-valid
            assert sorted(a for a, _, _ in got) == list(range(len(labels)))


@pytest.mark.parametrize("labels_dtype", [torch.int64, torch.float32])
@pytest.mark.parametrize("name", MINERS)
def test_random_triplet_indices_cases(name, labels_dtype):
    # from tests/utils/test_loss_and_miner_utils.py::TestLossAndMinerUtils::test_get_random_triplet_indices
    gen = torch.Generator().manual_seed(2)
    miner = make(name, True, seed=0)
    for _ in range(5):
        labels = torch.randint(0, 5, (100,), generator=gen).to(labels_dtype)
        emb = torch.randn(100, 6, generator=gen)
        for a, p, n in triplets(miner(emb, labels)):
            assert a != p and labels[a] == labels[p] and labels[p] != labels[n]
        ref_labels = torch.randint(0, 5, (50,), generator=gen).to(labels_dtype)
        ref = torch.randn(50, 6, generator=gen)
        got = triplets(miner(emb, labels, ref, ref_labels))
        assert got and set(got) <= set(triplets(lmu.get_all_triplets_indices(labels, ref_labels)))
    emb, ref = torch.randn(100, 6, generator=gen), torch.randn(100, 6, generator=gen)
    zeros, ones = torch.zeros(100, dtype=labels_dtype), torch.ones(100, dtype=labels_dtype)
    assert triplets(miner(emb, torch.arange(100).to(labels_dtype))) == []
    assert triplets(miner(emb, zeros)) == []
    assert triplets(miner(emb, zeros, ref, ones)) == []
    assert triplets(miner(emb, zeros, ref, zeros.clone())) == []
    mixed = ones.clone()
    mixed[0] = 0
    got = triplets(miner(emb, zeros, ref, mixed))
    # PML: 100 triplets, positive ref 0 for every anchor; pads: one per anchor (PADS keeps the
    # label-valid ones of its draws)
    assert all(p == 0 and n != 0 for _, p, n in got)
    assert len(got) == 100 if name != "PADSMiner" else 0 < len(got) <= 100
    assert miner.num_triplets == len(got)


@pytest.mark.parametrize("name", MINERS)
def test_ref_emb_semantics(name):
    """Anchors index the batch, positives and negatives the reference; the same labels object
    as reference means one set (an anchor is never its own positive), a copy a second set."""
    emb, labels = clustered(4, 4, 6, seed=12)
    emb, labels = torch.from_numpy(emb), torch.from_numpy(labels)
    ref, ref_labels = clustered(4, 5, 6, seed=13)
    ref, ref_labels = torch.from_numpy(ref)[:18], torch.from_numpy(ref_labels)[:18]
    for miner in (make(name, True, seed=3), make(name, False, seed=3, valid_triplets_only=True)):
        seen_self = 0
        for _ in range(20):
            same = triplets(miner(emb, labels, emb, labels))
            assert set(same) <= set(triplets(lmu.get_all_triplets_indices(labels))), name
            assert all(a != p for a, p, _ in same)
            copy = triplets(miner(emb, labels, emb.clone(), labels.clone()))
            assert set(copy) <= set(triplets(lmu.get_all_triplets_indices(labels, labels.clone())))
            seen_self += sum(a == p for a, p, _ in copy)
            other = triplets(miner(emb, labels, ref, ref_labels))
            assert other and set(other) <= set(triplets(lmu.get_all_triplets_indices(labels, ref_labels)))
            assert max(a for a, _, _ in other) < 16 and max(max(p, n) for _, p, n in other) < 18
        assert seen_self > 0, "a copy of the batch is a second set: PML lets an anchor pick its own copy"


def pml_distance_weights(monkeypatch, emb, labels, ref, ref_labels):
    """The negative weights PML's DistanceWeightedMiner(cutoff=0.5, nonzero_loss_cutoff=4)
    hands to lmu.get_random_triplet_indices for this batch."""
    seen = {}
    original = lmu.get_random_triplet_indices

    def spy(labels, ref_labels=None, t_per_anchor=None, weights=None):
        seen["w"] = weights.clone()
        return original(labels, ref_labels=ref_labels, t_per_anchor=t_per_anchor, weights=weights)

    monkeypatch.setattr(lmu, "get_random_triplet_indices", spy)
    DistanceWeightedMiner(cutoff=0.5, nonzero_loss_cutoff=4.0)(emb, labels, ref, ref_labels)
    monkeypatch.undo()
    return seen["w"].double()


def chi2_critical(df, z=4.75):
    """Wilson-Hilferty upper quantile of chi-square(df) at about p = 1e-6."""
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


def chi2(observed, expected):
    """Pearson statistic and df over cells with expected >= 5, the rest of each row pooled."""
    stat, df = 0.0, 0
    for o_row, e_row in zip(observed, expected):
        if e_row.sum() == 0:
            continue
        big = e_row >= 5
        cells = [(o_row[big], e_row[big]), (o_row[~big].sum(keepdims=True), e_row[~big].sum(keepdims=True))]
        o = np.concatenate([c[0] for c in cells])
        e = np.concatenate([c[1] for c in cells])
        keep = e > 0
        stat += float((((o - e) ** 2)[keep] / e[keep]).sum())
        df += int(keep.sum()) - 1
    return stat, df


def draw_counts(miner, emb, labels, ref, ref_labels, calls):
    m = len(labels) if ref is None else len(ref_labels)
    counts = np.zeros((len(labels), m))
    for _ in range(calls):
        for a, _, n in triplets(miner(emb, labels, ref, ref_labels)):
            counts[a, n] += 1
    return counts


@pytest.mark.parametrize("pml", [False, True])
@pytest.mark.parametrize("with_ref_labels", [False, True])
def test_distance_weighted_frequencies_circle(monkeypatch, with_ref_labels, pml):
    # from tests/miners/test_distance_weighted_miner.py::TestDistanceWeightedMiner::test_distance_weighted_miner
    # (and ::test_distance_weighted_miner_with_ref_labels): 256 points on the circle, 2 labels;
    # negatives' distances pooled into 10 bins, pads' counts against PML's weights
    g = torch.Generator().manual_seed(256)
    emb, labels = circle(256), torch.randint(0, 2, (256,), generator=g)
    ref, ref_labels = (emb.clone(), torch.randint(0, 2, (256,), generator=g)) if with_ref_labels else (None, None)
    w = pml_distance_weights(monkeypatch, emb, labels, ref, ref_labels)
    counts = draw_counts(make("DistanceMiner", pml, seed=5), emb, labels, ref, ref_labels, calls=40)
    d = torch.cdist(emb.double(), (emb if ref is None else ref).double()).numpy()
    bins = np.minimum((d / 0.2).astype(int), 9)
    drawn = counts.sum(axis=1, keepdims=True)
    expected_cells = w.numpy() / w.numpy().sum(axis=1, keepdims=True) * drawn
    obs = np.bincount(bins.ravel(), weights=counts.ravel(), minlength=10)
    exp = np.bincount(bins.ravel(), weights=np.nan_to_num(expected_cells).ravel(), minlength=10)
    stat, df = chi2(obs[None], exp[None])
    assert stat < chi2_critical(df), (stat, df, obs, exp)
    # the same bins under uniform negatives fail: the check can tell them apart
    neg = (labels[:, None] != (labels if ref is None else ref_labels)[None, :]).numpy()
    uni = np.bincount(bins.ravel(), weights=(neg / neg.sum(1, keepdims=True) * drawn).ravel(), minlength=10)
    assert chi2(obs[None], uni[None])[0] > 3 * chi2_critical(df)


@pytest.mark.parametrize("with_ref", [False, True])
def test_distance_weighted_frequencies_per_negative(monkeypatch, with_ref):
    emb, labels = clustered(3, 6, 8, seed=14, noise=0.8)
    emb, labels = torch.from_numpy(emb), torch.from_numpy(labels)
    ref, ref_labels = (None, None)
    if with_ref:
        r, rl = clustered(3, 7, 8, seed=14, noise=0.9)
        ref, ref_labels = torch.from_numpy(r), torch.from_numpy(rl)
    w = pml_distance_weights(monkeypatch, emb, labels, ref, ref_labels).numpy()
    counts = draw_counts(pads.DistanceMiner(seed=6), emb, labels, ref, ref_labels, calls=600)
    expected = w / w.sum(axis=1, keepdims=True) * counts.sum(axis=1, keepdims=True)
    stat, df = chi2(counts, expected)
    assert stat < chi2_critical(df), (stat, df)
    neg = (labels[:, None] != (labels if ref is None else ref_labels)[None, :]).numpy()
    uniform = neg / neg.sum(1, keepdims=True) * counts.sum(axis=1, keepdims=True)
    assert chi2(counts, uniform)[0] > 3 * chi2_critical(chi2(counts, uniform)[1])
