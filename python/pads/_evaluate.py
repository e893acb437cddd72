"""`pads.evaluate`: every metric of ``pads metrics`` on tensors, with the argument order and
the reference-set rules of pytorch-metric-learning's ``AccuracyCalculator.get_accuracy``."""
import json as _json
import numbers as _numbers
import warnings as _warnings

import torch

from . import _convert, _pads


def evaluate(
    embeddings,
    labels,
    gallery_embeddings=None,
    gallery_labels=None,
    ref_includes_query=False,
    *,
    k=(1, 2, 4, 8),
    nmi=None,
    map_at_r=True,
    normalize=True,
    seed=None,
    count_lone_queries=False,
):
    """Every retrieval and clustering metric of ``pads metrics``, on tensors or arrays.

    The positional order is ``AccuracyCalculator.get_accuracy(query, query_labels, reference,
    reference_labels, ref_includes_query)``'s (pytorch-metric-learning), and so are the rules:

    - no gallery: one set, every item a query against all the others (``pads metrics
      --embeddings E --labels L``), with NMI, F1 and the class distances too;
    - a gallery: ``embeddings``/``labels`` are the queries, ranked against it (the In-Shop
      protocol, ``pads metrics --query-* --gallery-*``); every gallery item is a candidate, an
      identical vector included;
    - ``ref_includes_query=True``: the gallery's first len(queries) rows are the queries
      (ValueError otherwise, as PML); each query's own row is left out of its neighbours and
      of its relevant count. Without it every gallery row is a candidate, even when the
      gallery is the query set itself (PML's rule).

    Args:
        embeddings: ``[N, D]`` float, torch (CPU or CUDA) or numpy, finite. Integer values are
            converted to float32 with a warning.
        labels: ``[N]`` class ids: integers, or floats that are whole numbers.
        gallery_embeddings: ``[M, D]`` (same D), on the embeddings' device; default None.
        gallery_labels: ``[M]`` class ids; give it with ``gallery_embeddings``.
        ref_includes_query: the gallery starts with the queries (PML's rule); default False.
        k: Recall@k values (int or sequence of ints >= 1); default (1, 2, 4, 8). One set: a k
            above N - 1 retrieves every other item (warned). Gallery: k at most the gallery
            size (less one with ref_includes_query), else ValueError.
        nmi: k-means (k = number of classes), NMI and pairwise F1; default True for one set.
            Not defined with a gallery (ValueError if True).
        map_at_r: compute mAP@R (Musgrave et al. 2020).
        normalize: L2-normalise the rows first (default True; a warning counts the rows that
            were not unit-norm). An all-zero row stays the zero vector, as
            ``torch.nn.functional.normalize`` (and PML) leaves it, with a warning. False keeps
            raw Euclidean distances.
        seed: k-means seed (one set only); default ``KMEANS_SEED`` (1234).
        count_lone_queries: count queries with no other item of their class as Recall@k
            misses, as the original PADS code does. Default False: left out, as PML does.

    Returns:
        dict: one set ``{'recall@k': ..., 'nmi', 'f1', 'map@r', 'intra', 'inter'}`` (the names
        of ``pads metrics --json``); with a gallery ``{'recall@k': ..., 'map@r', 'queries',
        'gallery', 'lone_queries', 'same_set', 'ref_includes_query'}``. A metric that is
        undefined (e.g. every query lone) is None, with a warning saying why.

    Raises:
        ValueError / TypeError: wrong shapes or dtypes, label counts, NaN/Inf rows, sparse or
            meta tensors, labels on another device, k < 1, N < 2, only one of the gallery
            arguments, a gallery that does not start with the queries under
            ref_includes_query, a yes/no option that is not True or False (TypeError).
    """
    if isinstance(gallery_embeddings, (_numbers.Integral, tuple)) or (
        isinstance(gallery_embeddings, list) and all(isinstance(x, _numbers.Integral) for x in gallery_embeddings)
    ):
        raise TypeError(
            "evaluate: the third argument is gallery_embeddings (AccuracyCalculator.get_accuracy's order: "
            "query, query_labels, reference, reference_labels, ref_includes_query); pass Recall@k values as k=..."
        )
    ref_includes_query = _convert.flag(ref_includes_query, "ref_includes_query")
    if gallery_embeddings is not None or gallery_labels is not None:
        if gallery_embeddings is None or gallery_labels is None:
            given, missing = ("gallery_embeddings", "gallery_labels") if gallery_labels is None else ("gallery_labels", "gallery_embeddings")
            raise ValueError(f"evaluate: {given} given without {missing}; give both (query/gallery evaluation) or neither (one set)")
    # The query set itself as the gallery, its own rows left out (PML: reference = query with
    # ref_includes_query=True); without ref_includes_query every row is a candidate, itself too.
    same = ref_includes_query and gallery_embeddings is embeddings and gallery_labels is labels
    emb = _convert.embeddings(embeddings, "embeddings")
    lab = _convert.labels(labels, "labels", emb.device)
    kk = _convert.ks(k)
    normalize = _convert.flag(normalize, "normalize")
    count_lone = _convert.flag(count_lone_queries, "count_lone_queries")
    map_at_r = _convert.flag(map_at_r, "map_at_r")
    if gallery_embeddings is None:
        if seed is not None:
            seed = _convert.whole(seed, "seed", 0, 2**64 - 1)
        nmi = True if nmi is None else _convert.flag(nmi, "nmi")
        emb, normalize, notes = _zero_rows([("embeddings", emb)], normalize)
        text, warns = _pads.evaluate(emb[0], lab, kk, nmi, map_at_r, normalize, seed, count_lone)
        return _result(text, notes + list(warns))
    if nmi:
        raise ValueError("evaluate: nmi (k-means clustering) is computed on one set only; leave nmi unset with gallery_embeddings")
    if seed is not None:
        raise ValueError("evaluate: seed (the k-means seed) applies to one set only; leave it unset with gallery_embeddings")
    if same:
        (q,), normalize, notes = _zero_rows([("embeddings", emb)], normalize)
        text, warns = _pads.evaluate_query_gallery(q, lab, None, None, True, kk, map_at_r, normalize, count_lone)
        return _result(text, notes + list(warns))
    g = _convert.embeddings(gallery_embeddings, "gallery_embeddings")
    if g.device != emb.device:
        g = _convert.as_tensor(gallery_embeddings, "gallery_embeddings", device=emb.device)
    gl = _convert.labels(gallery_labels, "gallery_labels", emb.device)
    (q, g), normalize, notes = _zero_rows([("embeddings", emb), ("gallery_embeddings", g)], normalize)
    text, warns = _pads.evaluate_query_gallery(q, lab, g, gl, ref_includes_query, kk, map_at_r, normalize, count_lone)
    return _result(text, notes + list(warns))


def _result(text, warns):
    for w in warns:
        _warnings.warn(w, stacklevel=3)
    return _json.loads(text)


def _zero_rows(sets, normalize):
    """With normalize and an all-zero row in some set: every set normalised here as
    torch.nn.functional.normalize does (a zero row stays zero, as PML's distances see it),
    with the warnings the library gives, and normalize=False for the library. Otherwise the
    sets as given (the library normalises, refusing nothing)."""
    tensors = [t for _, t in sets]
    if not normalize:
        return tensors, normalize, []
    finite = all(bool(torch.isfinite(t).all()) for t in tensors if t.dim() == 2 and t.numel())
    # Exactly zero rows (a tiny row whose squared norm underflows is not one).
    zeros = [int((t == 0).all(dim=1).sum()) if t.dim() == 2 and t.numel() and finite else 0 for t in tensors]
    if not any(zeros):
        return tensors, normalize, []
    notes, out = [], []
    for (name, t), z in zip(sets, zeros):
        t = t.detach().to(torch.float64)
        # Scaled by each row's largest |value| first, so that a tiny row keeps its direction.
        scale = t.abs().amax(dim=1, keepdim=True)
        unit = t / scale.clamp_min(torch.finfo(torch.float64).tiny)
        norms = unit.norm(dim=1) * scale.squeeze(1)
        off = int(((norms - 1).abs() > 1e-3).sum()) - z
        if z:
            notes.append(f"{name}: {z} of {len(t)} rows are all zero: kept as zero vectors (torch.nn.functional.normalize's rule, as PML); they have no direction")
        if off > 0:
            notes.append(f"{name}: {off} of {len(t)} rows were not unit-norm and were L2-normalised before every metric (normalize=False keeps raw Euclidean distances)")
        out.append(torch.nn.functional.normalize(unit, dim=1).to(torch.float32))
    return out, False, notes
