"""`pads.evaluate(queries, labels, gallery_embeddings=..., gallery_labels=...)` gives the numbers
of `pads metrics --query-* --gallery-* --json` on the same .npy files (pytorch-metric-learning
reference-set semantics: self-matches left out only for the same set), and refuses bad input
with a ValueError that says what is wrong."""
import json

import numpy as np
import pytest
import torch

import pads
from conftest import run_pads


def _sets(tmp_path):
    """Queries and gallery of 5 classes, rows not unit-norm; queries of class 7 have no gallery
    item (lone)."""
    g = np.random.default_rng(3)
    centers = g.normal(size=(5, 12))
    gl = np.repeat(np.arange(5), 9)
    ql = np.concatenate([g.integers(0, 5, size=20), [7, 7]])
    ge = (centers[gl] + 0.8 * g.normal(size=(len(gl), 12))) * g.uniform(0.5, 3.0, size=(len(gl), 1))
    qe = (np.concatenate([centers, centers[:1]])[np.minimum(ql, 5)] + 0.8 * g.normal(size=(len(ql), 12))) * 2.0
    qe, ge = qe.astype(np.float32), ge.astype(np.float32)
    for name, a in [("q", qe), ("ql", ql.astype(np.int64)), ("g", ge), ("gl", gl.astype(np.int64))]:
        np.save(tmp_path / f"{name}.npy", a)
    return qe, ql.astype(np.int64), ge, gl.astype(np.int64)


def _cli(tmp_path, q, ql, g, gl, *flags):
    out = run_pads(
        "metrics", "--query-embeddings", tmp_path / q, "--query-labels", tmp_path / ql,
        "--gallery-embeddings", tmp_path / g, "--gallery-labels", tmp_path / gl, "--json", *flags,
    )
    return json.loads(out.stdout), out.stderr


@pytest.mark.parametrize("normalize", [True, False])
def test_query_gallery_equals_pads_metrics(tmp_path, normalize):
    qe, ql, ge, gl = _sets(tmp_path)
    flags = ["--k", "1,2,4,8,45"] + ([] if normalize else ["--no-normalize"])
    cli, err = _cli(tmp_path, "q.npy", "ql.npy", "g.npy", "gl.npy", *flags)
    assert cli["same_set"] is False and cli["lone_queries"] == 2, cli
    with pytest.warns(UserWarning) as rec:
        py = pads.evaluate(qe, ql, k=(1, 2, 4, 8, 45), normalize=normalize, gallery_embeddings=ge, gallery_labels=gl)
    assert py == cli  # bit for bit, both print shortest round-trip floats
    warned = [str(w.message) for w in rec]
    assert (
        "2 of 22 queries have no same-label item in the gallery: mAP@R leaves them out, Recall@k too "
        "(count_lone_queries=True counts them as misses, as the original does)" in warned
    ), warned
    unit_norm = [w for w in warned if "unit-norm" in w]
    if normalize:
        assert unit_norm and all("normalize=False keeps raw Euclidean distances" in w for w in unit_norm), warned
        assert "--no-normalize" not in " ".join(warned)
        assert "rows were not unit-norm" in err  # the CLI warned too
    else:
        assert not unit_norm
    # the same from torch tensors, map@r dropped on request
    with pytest.warns(UserWarning):
        t = pads.evaluate(
            torch.from_numpy(qe), torch.from_numpy(ql), k=(1, 2, 4, 8, 45), normalize=normalize,
            gallery_embeddings=torch.from_numpy(ge), gallery_labels=torch.from_numpy(gl), map_at_r=False,
        )
    assert t == {k: v for k, v in cli.items() if k != "map@r"}


@pytest.mark.parametrize("normalize", [True, False])
def test_same_set_leaves_self_matches_out_like_pads_metrics(tmp_path, normalize):
    _, _, ge, gl = _sets(tmp_path)
    flags = ["--k", "1,4"] + ([] if normalize else ["--no-normalize"])
    cli, _ = _cli(tmp_path, "g.npy", "gl.npy", "g.npy", "gl.npy", *flags)
    assert cli["same_set"] is True
    with pytest.warns(UserWarning) if normalize else _no_warning():
        py = pads.evaluate(ge, gl, ge, gl, True, k=(1, 4), normalize=normalize)
    assert py == cli
    assert py["recall@1"] < 1.0  # not each item finding itself
    # Without ref_includes_query every gallery row is a candidate (PML's rule), the same
    # objects or equal copies alike: each query finds its own identical vector first.
    for g, l in [(ge, gl), (ge.copy(), gl.copy())]:
        with pytest.warns(UserWarning) if normalize else _no_warning():
            two = pads.evaluate(ge, gl, g, l, k=1, normalize=normalize)
        assert two["same_set"] is False and two["recall@1"] == 1.0 and two["gallery"] == len(gl)


class _no_warning:
    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("error")

    def __exit__(self, *exc):
        return self._w.__exit__(*exc)


def test_query_gallery_bad_input_raises_clear_value_errors():
    q = torch.randn(6, 4)
    ql = torch.tensor([0, 0, 1, 1, 2, 2])
    g = torch.randn(9, 4)
    gl = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2])
    with pytest.raises(ValueError, match=r"evaluate \(gallery\): 5 labels for 9 embedding rows"):
        pads.evaluate(q, ql, gallery_embeddings=g, gallery_labels=gl[:5])
    with pytest.raises(ValueError, match="gallery_embeddings given without gallery_labels"):
        pads.evaluate(q, ql, gallery_embeddings=g)
    with pytest.raises(ValueError, match="gallery_labels given without gallery_embeddings"):
        pads.evaluate(q, ql, gallery_labels=gl)
    # ref_includes_query: the gallery must start with the queries, labels included (PML's check).
    with pytest.raises(ValueError, match="first 6 rows"):
        pads.evaluate(q, ql, q, ql + 1, True)
    with pytest.raises(ValueError, match="first 6 rows"):
        pads.evaluate(q, ql, g, gl, True)
    with pytest.raises(ValueError, match="embeddings \\(queries\\) is 4-d but gallery_embeddings is 3-d"):
        pads.evaluate(q, ql, gallery_embeddings=g[:, :3], gallery_labels=gl)
    with pytest.raises(ValueError, match=r"k=10: Recall@k needs 1 <= k <= 9"):
        pads.evaluate(q, ql, k=10, gallery_embeddings=g, gallery_labels=gl)
    with pytest.raises(ValueError, match="nmi"):
        pads.evaluate(q, ql, nmi=True, gallery_embeddings=g, gallery_labels=gl)
    z = g.clone()
    z[3] = 0
    # An all-zero row stays the zero vector (torch's F.normalize, as PML's distances), with a
    # warning: the same numbers as normalising that way by hand.
    with pytest.warns(UserWarning, match=r"gallery_embeddings: 1 of 9 rows are all zero"):
        kept = pads.evaluate(q, ql, k=(1, 2), gallery_embeddings=z, gallery_labels=gl)
    by_hand = pads.evaluate(
        torch.nn.functional.normalize(q, dim=1), ql, k=(1, 2), normalize=False,
        gallery_embeddings=torch.nn.functional.normalize(z, dim=1), gallery_labels=gl,
    )
    assert kept == by_hand
    bad = g.clone()
    bad[2, 1] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        pads.evaluate(q, ql, gallery_embeddings=bad, gallery_labels=gl)
    # Every query lone: undefined (None, with a warning), as PML's AccuracyCalculator.
    with pytest.warns(UserWarning, match="none of the .* queries has a same-label item"):
        lone = pads.evaluate(q, ql + 10, gallery_embeddings=g, gallery_labels=gl)
    assert lone["recall@1"] is None and lone["map@r"] is None


def test_count_lone_queries_counts_them_as_misses_in_recall_only(tmp_path):
    """The original's rule: the 2 lone queries of 22 are Recall@k misses (hits / 22 instead of
    hits / 20); mAP@R leaves them out either way. CLI and Python agree."""
    qe, ql, ge, gl = _sets(tmp_path)
    skip, _ = _cli(tmp_path, "q.npy", "ql.npy", "g.npy", "gl.npy", "--k", "1,8")
    count, err = _cli(tmp_path, "q.npy", "ql.npy", "g.npy", "gl.npy", "--k", "1,8", "--count-lone-queries")
    for k in ("recall@1", "recall@8"):
        assert count[k] == pytest.approx(skip[k] * 20 / 22, abs=1e-12), (k, skip, count)
    assert count["map@r"] == skip["map@r"] and count["lone_queries"] == 2
    assert "counts them as misses (the original's rule)" in err
    with pytest.warns(UserWarning, match="counts them as misses"):
        py = pads.evaluate(qe, ql, k=(1, 8), gallery_embeddings=ge, gallery_labels=gl, count_lone_queries=True)
    assert py == count
    # One set: labels with one lone item (class 9) among 30.
    e = np.random.default_rng(5).normal(size=(30, 6)).astype(np.float32)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    lab = np.concatenate([np.repeat(np.arange(7), 4), [0, 11]]).astype(np.int64)
    with pytest.warns(UserWarning, match="1 of 30 items are the only item of their class"):
        a = pads.evaluate(e, lab, k=(1, 4), nmi=False)
    with pytest.warns(UserWarning, match="counts them as misses"):
        b = pads.evaluate(e, lab, k=(1, 4), nmi=False, count_lone_queries=True)
    for k in ("recall@1", "recall@4"):
        assert b[k] == pytest.approx(a[k] * 29 / 30, abs=1e-12)
    assert a["map@r"] == b["map@r"]


@pytest.mark.parametrize("option", ["count_lone_queries", "normalize", "map_at_r", "nmi"])
def test_yes_no_options_take_only_true_or_false(option):
    """A string such as "no" is truthy; read as yes it would silently apply the other rule."""
    e = np.eye(4, dtype=np.float32)
    lab = np.array([0, 0, 1, 1])
    with pytest.raises(TypeError, match=f"{option} must be True or False, got 'no'"):
        pads.evaluate(e, lab, k=1, **{option: "no"})
    assert pads.evaluate(e, lab, k=1, **{option: np.bool_(False)})["recall@1"] == 0.5  # ties to the lower index: 0<->1 hit, 2, 3 -> 0 miss
