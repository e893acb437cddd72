"""pads for PyTorch loops: the PADS miner and agent, the margin loss and the exact evaluator.

Five lines add PADS (Policy-Adapted Sampling, Roth, Milbich & Ommer, CVPR 2020) to a
pytorch-metric-learning loop::

    miner = pads.PADSMiner()                      # negatives drawn from a learned distance distribution
    agent = pads.PADSAgent(miner)                 # the RL policy that reshapes it
    loss = loss_fn(emb, y, miner(emb, y))         # PML's TripletMarginLoss or pads.MarginLoss
    if it % 30 == 0: agent.step(val_emb, val_y, progress=it / total)
    pads.evaluate(test_emb, test_y)               # {'recall@1': ..., 'nmi': ..., ...}

Everything is computed by the pads Rust library (the same code as the `pads` CLI) through
the extension module `pads._pads`; this file only converts arguments. Options carry the
original's names (``policy_n_support``, ``policy_lr``, ...) and, when left as None, the
defaults of ``pads train`` (the original's); ``pads.defaults()`` lists them.
"""
import json as _json
import math as _math
import numbers as _numbers
import warnings as _warnings

import torch  # loads libtorch before the extension, which links against it

from . import _pads

__all__ = [
    "evaluate",
    "PADSMiner",
    "RandomMiner",
    "SemihardMiner",
    "SofthardMiner",
    "DistanceMiner",
    "PADSAgent",
    "MarginLoss",
    "defaults",
    "KMEANS_SEED",
]

#: k-means seed of every pads evaluation (NMI and F1), as ``pads metrics``.
KMEANS_SEED = _pads.KMEANS_SEED


def defaults():
    """Every option's default value (the ``pads train`` defaults, the original's), as a dict."""
    return _json.loads(_pads.defaults_json())


def _as_tensor(x, what, device=None):
    """torch.Tensor as given; numpy arrays and lists become tensors (on `device` if given)."""
    if isinstance(x, torch.Tensor):
        return x
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        np = None
    if np is not None and isinstance(x, np.ndarray):
        if x.dtype == object or x.dtype.kind not in "biuf":
            raise TypeError(f"{what}: numpy array of dtype {x.dtype}; expected numbers")
        t = torch.from_numpy(np.ascontiguousarray(x))
    elif isinstance(x, (list, tuple)):
        t = torch.as_tensor(x)
    else:
        raise TypeError(f"{what} must be a torch.Tensor or a numpy array, got {type(x).__name__}")
    return t.to(device) if device is not None else t


def _option_value(key, v):
    """An option value as JSON takes it: numpy scalars and arrays and tensors become Python
    numbers and lists; a float that is not finite is refused, naming the option."""
    if hasattr(v, "tolist") and not isinstance(v, (str, bytes)):
        v = v.tolist()
    if isinstance(v, tuple):
        v = list(v)
    for x in v if isinstance(v, list) else [v]:
        if isinstance(x, float) and not _math.isfinite(x):
            raise ValueError(f"{key} must be a finite number, got {v!r}")
    return v


def _options(values):
    return _json.dumps({k: _option_value(k, v) for k, v in values.items() if v is not None})


def evaluate(
    embeddings,
    labels,
    k=(1, 2, 4, 8),
    *,
    nmi=None,
    map_at_r=True,
    normalize=True,
    seed=None,
    gallery_embeddings=None,
    gallery_labels=None,
    count_lone_queries=False,
):
    """Every retrieval and clustering metric of ``pads metrics``, on tensors or arrays.

    Without ``gallery_*``: one set, every item a query against all the others (``pads
    metrics --embeddings E --labels L``). With ``gallery_embeddings`` and ``gallery_labels``:
    ``embeddings``/``labels`` are the queries, ranked against the gallery (``pads metrics
    --query-embeddings Q --query-labels QL --gallery-embeddings G --gallery-labels GL``, the
    In-Shop protocol), with pytorch-metric-learning's reference-set semantics: every gallery
    item is a candidate, an identical vector included, except when query and gallery are the
    same set, i.e. the very same objects are passed (``gallery_embeddings is embeddings and
    gallery_labels is labels``; equal copies count as two sets): then each query's own row is
    left out of its neighbours and of its relevant count (``ref_includes_query``).

    Args:
        embeddings: ``[N, D]`` (the queries with ``gallery_*``) float16/bfloat16/float32/float64,
            torch (CPU or CUDA) or numpy. Must be finite.
        labels: ``[N]`` integer class ids, torch (on the embeddings' device) or numpy/list.
        k: Recall@k values (int or sequence of ints >= 1); default (1, 2, 4, 8). Single set:
            a k above N - 1 retrieves every other item (warned). Query/gallery: k must be at
            most the gallery size (less one for the same set), else ValueError, as the CLI.
        nmi: compute k-means (k = number of classes), NMI and pairwise F1 (the costly part);
            default (None) True for one set. Not defined for query/gallery (ValueError if True).
        map_at_r: compute mAP@R (Musgrave et al. 2020).
        normalize: L2-normalise the rows first (default True, as ``pads metrics``; a warning
            says how many rows were not unit-norm, per set). False keeps raw Euclidean distances.
        seed: k-means seed; default ``KMEANS_SEED`` (1234), the seed of every pads evaluation.
            One set only.
        gallery_embeddings: ``[M, D]`` float, torch (on the embeddings' device) or numpy, same D
            as ``embeddings``; default None (one set). Give it with ``gallery_labels``.
        gallery_labels: ``[M]`` integer class ids; default None.
        count_lone_queries: count queries with no other item of their class (query/gallery:
            no same-label gallery item) as Recall@k misses, as the original PADS code does.
            Default False: they are left out of Recall@k, as pytorch-metric-learning does.
            mAP@R leaves them out either way; a warning gives their number.

    Returns:
        One set: dict ``{'recall@k': float, ..., 'nmi', 'f1', 'map@r', 'intra', 'inter'}``, the
        names and numbers of ``pads metrics --json``. A metric that is undefined for these
        labels is None (and a warning says why); 'nmi'/'f1' are absent with ``nmi=False``,
        'map@r' with ``map_at_r=False``.

        Query/gallery: dict ``{'recall@k': float, ..., 'map@r': float, 'queries': N,
        'gallery': M, 'lone_queries': int, 'same_set': bool}`` as ``pads metrics --json`` in
        that mode. Queries whose label has no (other) gallery item ('lone_queries') are left
        out of mAP@R and (unless ``count_lone_queries``) of Recall@k, with a warning.

    Raises:
        ValueError / TypeError: wrong shapes or dtypes, label count != rows (either set),
            NaN/Inf rows, labels on another device, k < 1, N < 2, an all-zero row with
            normalize; only one of ``gallery_embeddings``/``gallery_labels``; one of them the
            query object and the other not; query and gallery of different D; no query with a
            same-label gallery item; a yes/no option (nmi, map_at_r, normalize,
            count_lone_queries) that is not True or False (TypeError).
    """
    if gallery_embeddings is not None or gallery_labels is not None:
        return _evaluate_query_gallery(embeddings, labels, k, nmi, map_at_r, normalize, seed, gallery_embeddings, gallery_labels, count_lone_queries)
    emb = _as_tensor(embeddings, "embeddings")
    lab = _as_tensor(labels, "labels", device=emb.device)
    ks = _ks(k)
    if seed is not None and (not isinstance(seed, int) or seed < 0):
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    nmi = True if nmi is None else _flag(nmi, "nmi")
    text, warns = _pads.evaluate(
        emb, lab, ks, nmi, _flag(map_at_r, "map_at_r"), _flag(normalize, "normalize"), seed, _flag(count_lone_queries, "count_lone_queries")
    )
    for w in warns:
        _warnings.warn(w, stacklevel=2)
    return _json.loads(text)


def _flag(value, name):
    """A yes/no option: True/False (or a numpy bool), never another truthy value read as yes."""
    if isinstance(value, bool) or (type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_")):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {value!r}")


def _ks(k):
    ks = [k] if isinstance(k, _numbers.Integral) else list(k)
    if not all(isinstance(kk, _numbers.Integral) and not isinstance(kk, bool) and kk >= 1 for kk in ks):
        raise ValueError(f"k values must be integers >= 1, got {k!r}")
    return [int(kk) for kk in ks]


def _evaluate_query_gallery(embeddings, labels, k, nmi, map_at_r, normalize, seed, gallery_embeddings, gallery_labels, count_lone_queries):
    if gallery_embeddings is None or gallery_labels is None:
        given, missing = ("gallery_embeddings", "gallery_labels") if gallery_labels is None else ("gallery_labels", "gallery_embeddings")
        raise ValueError(f"evaluate: {given} given without {missing}; give both (query/gallery evaluation) or neither (one set)")
    if nmi:
        raise ValueError("evaluate: nmi (k-means clustering) is computed on one set only; leave nmi unset with gallery_embeddings")
    if seed is not None:
        raise ValueError("evaluate: seed (the k-means seed) applies to one set only; leave it unset with gallery_embeddings")
    same_emb, same_lab = gallery_embeddings is embeddings, gallery_labels is labels
    if same_emb != same_lab:
        raise ValueError(
            "evaluate: gallery_embeddings {} the query embeddings object but gallery_labels {} the query labels object: "
            "pass the same objects for both (one set, self-matches left out) or two separate sets".format(
                "is" if same_emb else "is not", "is" if same_lab else "is not"
            )
        )
    emb = _as_tensor(embeddings, "embeddings")
    lab = _as_tensor(labels, "labels", device=emb.device)
    ks = _ks(k)
    if same_emb:
        g, gl = None, None
    else:
        g = _as_tensor(gallery_embeddings, "gallery_embeddings", device=emb.device)
        gl = _as_tensor(gallery_labels, "gallery_labels", device=emb.device)
    text, warns = _pads.evaluate_query_gallery(
        emb, lab, g, gl, ks, _flag(map_at_r, "map_at_r"), _flag(normalize, "normalize"), _flag(count_lone_queries, "count_lone_queries")
    )
    for w in warns:
        _warnings.warn(w, stacklevel=3)
    return _json.loads(text)


class _Miner:
    """Common call of the miners: ``miner(embeddings, labels) -> (anchors, positives, negatives)``."""

    _sampling = ""

    def __init__(self, normalize, options):
        self._m = _pads.Miner(self._sampling, _options(options), _flag(normalize, "normalize"))

    def __call__(self, embeddings, labels, ref_emb=None, ref_labels=None):
        """One triplet per anchor that has a positive and a negative.

        Args:
            embeddings: ``[B, D]`` float tensor (any device; gradients are not needed and not
                touched).
            labels: ``[B]`` integer tensor on the same device (numpy/list accepted).

        Returns:
            ``(anchors, positives, negatives)``: int64 ``[T]`` tensors on the embeddings'
            device, PML's triplet ``indices_tuple``.
        """
        if ref_emb is not None or ref_labels is not None:
            raise NotImplementedError("pads miners mine within the batch; ref_emb/ref_labels are not supported")
        emb = _as_tensor(embeddings, "embeddings")
        lab = _as_tensor(labels, "labels", device=emb.device)
        return self._m.mine(emb, lab)

    @property
    def options(self):
        """The miner's options and the agent defaults a PADSAgent over it starts from (the
        original's names), as a dict."""
        return _json.loads(self._m.options_json())

    def state_dict(self):
        """The miner's generator (and PADS distribution), for a checkpoint."""
        return {"miner": self._m.state_json()}

    def load_state_dict(self, state):
        self._m.load_state_json(state["miner"])

    def __repr__(self):
        return f"pads.{type(self).__name__}(seed={self.options['seed']})"


class RandomMiner(_Miner):
    """The random sampler of the original (pads ``--sampling random``).

    Args:
        seed: generator seed (default: ``pads train``'s seed default).
        normalize: mine on L2-normalised rows (default True); pads' sampler works on unit vectors.
    """

    _sampling = "random"

    def __init__(self, *, seed=None, normalize=True):
        super().__init__(normalize, {"seed": seed})


class SemihardMiner(_Miner):
    """Semi-hard negatives (``--sampling semihard``): d_ap < d_an < d_ap + margin, else any.

    Args:
        margin: default 0.2 (the original's ``--margin``).
        seed, normalize: as :class:`RandomMiner`.
    """

    _sampling = "semihard"

    def __init__(self, *, margin=None, seed=None, normalize=True):
        super().__init__(normalize, {"margin": margin, "seed": seed})


class SofthardMiner(_Miner):
    """Soft-hard mining (``--sampling softhard``). Args as :class:`RandomMiner`."""

    _sampling = "softhard"

    def __init__(self, *, seed=None, normalize=True):
        super().__init__(normalize, {"seed": seed})


class DistanceMiner(_Miner):
    """Distance-weighted sampling (Wu et al. 2017; ``--sampling distance``). Args as :class:`RandomMiner`."""

    _sampling = "distance"

    def __init__(self, *, seed=None, normalize=True):
        super().__init__(normalize, {"seed": seed})


class PADSMiner(_Miner):
    """The PADS sampler: per anchor a random positive and a negative drawn with probability
    proportional to the distribution's weight of its distance bin (``--sampling pads``).

    Options (the original's names; None = its default, see ``pads.defaults()``):
        policy_n_support (30): support points; bins = n_support - 1.
        policy_support_limit ((0.1, 1.4)): distance range of the bins.
        policy_init_distr ('uniform_low'): initial distribution (random, uniform_low,
            uniform_avg, uniform_high, uniform_low_and_tight, uniform_lowish_and_tight,
            normal_low, normal_avg, normal_high, heavyside_low, distance).
        policy_merge_oobs (True), policy_include_pos (True), policy_include_same (True):
            the self-regularisation switches (out-of-support distances in the edge bins;
            negatives drawn over the whole batch; the anchor may be its own positive);
            policy_no_self_reg (False) turns all three off.
        seed (pads train's default): generator seed.
        normalize (True): mine on L2-normalised rows (the support assumes unit vectors).

    ``miner.distribution`` is the current bin distribution (list of n_support - 1 floats);
    :class:`PADSAgent` updates it.
    """

    _sampling = "pads"

    def __init__(
        self,
        *,
        policy_n_support=None,
        policy_support_limit=None,
        policy_init_distr=None,
        policy_merge_oobs=None,
        policy_include_pos=None,
        policy_include_same=None,
        policy_no_self_reg=None,
        seed=None,
        normalize=True,
    ):
        opts = dict(locals())
        for key in ("self", "normalize", "__class__"):
            opts.pop(key, None)
        super().__init__(normalize, opts)

    @property
    def distribution(self):
        """Current bin probabilities, n_support - 1 floats summing to 1."""
        return self._m.distribution

    @property
    def support(self):
        """The n_support support points (bin edges)."""
        return self._m.support


def _record(text):
    r = _json.loads(text)
    r["val_metrics"] = dict(r["val_metrics"])
    return r


class PADSAgent:
    """The PADS policy over a :class:`PADSMiner`'s distribution (the trainer's agent).

    Call :meth:`step` every M iterations (the original: ``policy_sample_freq`` = 30) with
    validation embeddings; it computes the validation metrics, the reward (sign of the change
    of the reward metric), updates the policy (PPO or REINFORCE) and multiplies the miner's
    bin weights by the sampled actions, exactly as ``pads train`` does.

    Options (the original's names; None = its default, see ``pads.defaults()``): seed
    (default: the miner's), k_vals (Recall@k of the state; default 1, 2, 4, 8), policy_lr
    (0.01), policy_action_values ((0.5, 1, 1.5)), policy_size ((128, 128)),
    policy_dont_use_a2c (False), policy_baseline_ema_gamma (0.05), policy_reward_update_w
    (0.99), policy_mode ('ppo' or 'reinforce'; pads train's default), policy_ppo_ratio (0.2),
    policy_old_update_iter (3), policy_reward_type (2: mean of Recall@1 and NMI; 0: NMI;
    1: Recall@1), policy_state_metrics (of 'recall', 'nmi', 'dists'; all three), policy_metric_history
    (10), policy_run_avgs ((2, 8, 16, 32)), policy_parameter_history (1).

    The policy's initial weights come from torch's global generator (call
    ``torch.manual_seed`` first for a reproducible run); its actions from its own generator
    seeded by ``seed``.
    """

    def __init__(
        self,
        miner,
        *,
        seed=None,
        k_vals=None,
        policy_lr=None,
        policy_action_values=None,
        policy_size=None,
        policy_dont_use_a2c=None,
        policy_baseline_ema_gamma=None,
        policy_reward_update_w=None,
        policy_mode=None,
        policy_ppo_ratio=None,
        policy_old_update_iter=None,
        policy_reward_type=None,
        policy_state_metrics=None,
        policy_metric_history=None,
        policy_run_avgs=None,
        policy_parameter_history=None,
    ):
        if not isinstance(miner, PADSMiner):
            raise TypeError(f"PADSAgent needs a pads.PADSMiner, got {type(miner).__name__}")
        opts = dict(locals())
        for key in ("self", "miner", "__class__"):
            opts.pop(key, None)
        self.miner = miner
        self._a = _pads.Agent(miner._m, _options(opts))

    def step(self, val_embeddings, val_labels, progress, *, normalize=True, epoch=0, iteration=0):
        """One policy step from validation embeddings.

        Args:
            val_embeddings: ``[N, D]`` float tensor or array (any device).
            val_labels: ``[N]`` integer class ids.
            progress: share of training done, in [0, 1] (part of the policy's state).
            normalize: L2-normalise the rows before the metrics (default True; pads' own
                model outputs unit rows, so this equals the trainer's evaluation there).
            epoch, iteration: recorded in the history only.

        Returns:
            the step's record: dict with 'distribution', 'actions', 'reward' (None at the first
            step), 'advantage', 'policy_loss', 'value_loss', 'reward_metric', 'val_metrics'.
        """
        emb = _as_tensor(val_embeddings, "val_embeddings")
        lab = _as_tensor(val_labels, "val_labels", device=emb.device)
        return _record(self._a.step(emb, lab, float(progress), _flag(normalize, "normalize"), int(epoch), int(iteration)))

    def step_metrics(self, metrics, progress, *, epoch=0, iteration=0):
        """One policy step from metrics computed elsewhere.

        Args:
            metrics: dict with 'recall@k' for every k of k_vals, 'nmi', 'intra' and 'inter'
                (e.g. the dict of :func:`evaluate`; None = undefined enters as 0, as in
                the trainer).
            progress: share of training done, in [0, 1].

        Returns:
            the step's record, as :meth:`step`.
        """
        clean = {k: (None if v is None else float(v)) for k, v in dict(metrics).items()}
        return _record(self._a.step_metrics(_json.dumps(clean), float(progress), int(epoch), int(iteration)))

    @property
    def distribution(self):
        """The miner's current bin probabilities."""
        return self.miner.distribution

    @property
    def history(self):
        """Every step's record so far (list of dicts, see :meth:`step`), for plotting."""
        return [_record(_json.dumps(r)) for r in _json.loads(self._a.history_json())]

    @property
    def options(self):
        """The agent's options and its miner's (the original's names), as a dict."""
        return _json.loads(self._a.options_json())

    def state_dict(self):
        """Policy, its optimiser, the PPO old policy, generator, history and the miner's
        distribution: strings and tensors, so ``torch.save`` can hold it."""
        plain, groups = self._a.state()
        out = {"state": plain}
        out.update(groups)
        return out

    def load_state_dict(self, state):
        groups = {k: v for k, v in state.items() if k != "state"}
        self._a.load_state(state["state"], groups)


class MarginLoss(torch.nn.Module):
    """Margin loss (Wu et al. 2017) with a learnable beta per class, pads' ``--loss margin``:
    sum over triplets of relu(d_ap - beta[y_a] + margin) + relu(beta[y_a] - d_an + margin),
    divided by the number of triplets with a non-zero term (d = sqrt(|x - y|^2 + 1e-8)).

    Args:
        n_classes: number of classes; labels must be 0 .. n_classes - 1.
        margin: default 0.2.  beta: initial beta, default 1.2.
        beta_constant: keep beta fixed (default False: ``self.beta`` is a Parameter; the
            original trains it with its own learning rate, ``beta_lr`` 5e-4).

    ``forward(embeddings [B, D], labels [B], indices_tuple)`` -> scalar tensor; gradients flow
    into the embeddings and beta. ``indices_tuple`` is a miner's (anchors, positives, negatives).
    """

    def __init__(self, n_classes, margin=0.2, beta=1.2, beta_constant=False):
        super().__init__()
        if not isinstance(n_classes, int) or n_classes < 1:
            raise ValueError(f"n_classes must be a positive integer, got {n_classes!r}")
        self.margin = float(margin)
        self.beta = torch.nn.Parameter(torch.full((n_classes,), float(beta)), requires_grad=not beta_constant)

    def forward(self, embeddings, labels, indices_tuple):
        if not (isinstance(indices_tuple, (tuple, list)) and len(indices_tuple) == 3):
            raise ValueError("indices_tuple must be (anchors, positives, negatives)")
        a, p, n = indices_tuple
        lab = _as_tensor(labels, "labels", device=embeddings.device)
        return _pads.margin_loss(embeddings, a, p, n, lab, self.beta, self.margin)
