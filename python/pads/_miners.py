"""The miners: pads' samplers on a batch (or against a reference set, as PML's ``ref_emb``),
picklable through their state, with reprs that show their options."""
import json as _json
import math
import warnings as _warnings

from . import _convert, _pads


class _Miner:
    """Common call of the miners: ``miner(embeddings, labels) -> (anchors, positives, negatives)``."""

    _sampling = ""

    def __init__(self, normalize, valid_triplets_only, options):
        self._init(dict(options), _convert.flag(normalize, "normalize"), _convert.flag(valid_triplets_only, "valid_triplets_only"))

    def _init(self, options, normalize, valid_only):
        self._given = {k: v for k, v in options.items() if v is not None}
        self._m = _pads.Miner(self._sampling, _convert.options(self._to_core(self._given)), normalize)
        self._valid_only = valid_only
        self.num_triplets = 0
        self.dropped_triplets = 0

    @staticmethod
    def _to_core(options):
        return options

    def __call__(self, embeddings, labels, ref_emb=None, ref_labels=None):
        """Triplets of the batch: one per anchor that has a positive and a negative candidate
        (the random miner: batch-size triplets drawn from all valid ones).

        Args:
            embeddings: ``[B, D]`` float tensor (any device; gradients are not touched).
            labels: ``[B]`` class ids on the same device (numpy/list accepted).
            ref_emb, ref_labels: optional reference set ``[M, D]`` / ``[M]`` (PML's rule:
                anchors come from the batch, positives and negatives from the reference; an
                anchor is left out as its own positive only when ``ref_labels is labels``).

        Returns:
            ``(anchors, positives, negatives)``: int64 ``[T]`` tensors on the embeddings'
            device, PML's triplet ``indices_tuple``. Which triplets come back: see the class.
            ``num_triplets`` and ``dropped_triplets`` hold this call's counts.
        """
        emb = _convert.as_tensor(embeddings, "embeddings")
        lab = _convert.labels(labels, "labels", emb.device)
        if (ref_emb is None) != (ref_labels is None):
            raise ValueError("give ref_emb and ref_labels together, or neither")
        same_set = ref_labels is None or ref_labels is labels
        if ref_emb is None or (ref_emb is embeddings and ref_labels is labels):
            a, p, n, dropped = self._m.mine(emb, lab, None, None, True, self._valid_only)
        else:
            r = _convert.as_tensor(ref_emb, "ref_emb", device=emb.device)
            rl = _convert.labels(ref_labels, "ref_labels", emb.device)
            a, p, n, dropped = self._m.mine(emb, lab, r, rl, same_set, self._valid_only)
        self.num_triplets, self.dropped_triplets = len(a), dropped
        if dropped and not len(a):
            _warnings.warn(
                f"{type(self).__name__}: all {dropped} sampled triplets of this batch were label-invalid and dropped "
                "(valid_triplets_only): the loss gets no triplets from it", stacklevel=2)
        return a, p, n

    @property
    def valid_triplets_only(self):
        """Whether label-invalid triplets are dropped (counted in ``dropped_triplets``)."""
        return self._valid_only

    @property
    def options(self):
        """The options this sampler reads (the original's names), as a dict."""
        return _json.loads(self._m.options_json())

    def state_dict(self):
        """The miner's generator (and PADS distribution), for a checkpoint."""
        return {"miner": self._m.state_json()}

    def load_state_dict(self, state):
        if not isinstance(state, dict) or not isinstance(state.get("miner"), str):
            raise ValueError(f"{type(self).__name__}.load_state_dict: not a miner state_dict (expected {{'miner': str}}, got {state!r:.80})")
        self._m.load_state_json(state["miner"])

    # Pickling (spawned DataLoader workers, multiprocessing, deepcopy, torch.save): the given
    # options rebuild the miner, then its state (generator, distribution) is restored, so a
    # copy continues with the same next triplets.
    def __getstate__(self):
        return {"options": self._given, "normalize": self._m.normalize, "valid_triplets_only": self._valid_only, "state": self.state_dict()}

    def __setstate__(self, st):
        self._init(st["options"], st["normalize"], st["valid_triplets_only"])
        self.load_state_dict(st["state"])

    def __repr__(self):
        shown = dict(self.options)
        shown.update(normalize=self._m.normalize, valid_triplets_only=self._valid_only)
        return f"pads.{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


class RandomMiner(_Miner):
    """The random sampler of the original (pads ``--sampling random``): batch-size triplets
    drawn uniformly without replacement from all valid triplets.

    Args:
        seed: generator seed (default: ``pads train``'s seed default).
        normalize: mine on L2-normalised rows (default True).
        valid_triplets_only: drop label-invalid triplets (default False; this sampler
            returns none).
    """

    _sampling = "random"

    def __init__(self, *, seed=None, normalize=True, valid_triplets_only=False):
        super().__init__(normalize, valid_triplets_only, {"seed": seed})


class SemihardMiner(_Miner):
    """Semi-hard negatives (``--sampling semihard``): a random positive, a negative with
    d_ap < d_an < d_ap + margin (distances below 0.01 read as 0.01, as the original's pdist),
    else any negative.

    Args:
        margin: the window (default 0.2, the original's fixed value; the CLI's
            ``--semihard-margin``).
        seed, normalize, valid_triplets_only: as :class:`RandomMiner`.
    """

    _sampling = "semihard"

    def __init__(self, *, margin=None, seed=None, normalize=True, valid_triplets_only=False):
        if margin is not None and (isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 <= margin < math.inf):
            raise ValueError(f"margin must be a finite number >= 0, got {margin!r}")
        super().__init__(normalize, valid_triplets_only, {"margin": margin, "seed": seed})

    @staticmethod
    def _to_core(options):
        out = dict(options)
        if "margin" in out:
            out["semihard_margin"] = out.pop("margin")
        return out

    @property
    def options(self):
        o = super().options
        o["margin"] = o.pop("semihard_margin")
        return o


class SofthardMiner(_Miner):
    """Soft-hard mining (``--sampling softhard``). Args as :class:`RandomMiner`."""

    _sampling = "softhard"

    def __init__(self, *, seed=None, normalize=True, valid_triplets_only=False):
        super().__init__(normalize, valid_triplets_only, {"seed": seed})


class DistanceMiner(_Miner):
    """Distance-weighted sampling (Wu et al. 2017; ``--sampling distance``): negatives drawn
    with weight q(d)^-1, d clamped below at 0.5. Args as :class:`RandomMiner`."""

    _sampling = "distance"

    def __init__(self, *, seed=None, normalize=True, valid_triplets_only=False):
        super().__init__(normalize, valid_triplets_only, {"seed": seed})


class PADSMiner(_Miner):
    """The PADS sampler (Roth, Milbich & Ommer, CVPR 2020; ``--sampling pads``): per anchor a
    random positive and a negative drawn with probability proportional to the distribution's
    weight of its distance bin.

    Which triplets it returns, and why: by default it samples as the original does, with its
    self-regularisation (``policy_include_pos``, ``policy_include_same``): negatives are drawn
    over the whole batch, so some share the anchor's label or are the anchor itself (n == a, at
    distance 0, the first bin: with a distribution that weights small distances, e.g.
    ``policy_init_distr='distance'``, most negatives can be), and the anchor may be its own
    positive (a == p). These are not label-valid triplets: losses that assert valid pairs
    (PML's MultiSimilarityLoss) refuse them and pair losses read same-label "negatives" as
    negatives. ``valid_triplets_only=True`` (the default of :mod:`pads.pml`) drops them after
    sampling and counts them in ``dropped_triplets``; the distribution PADS learns is
    unchanged. ``policy_no_self_reg=True`` instead samples without the self-regularisation
    (a different sampler than the paper's).

    Options (the original's names; None = its default, see ``pads.defaults()``):
        policy_n_support (30): support points; bins = n_support - 1.
        policy_support_limit ((0.1, 1.4)): distance range of the bins.
        policy_init_distr ('uniform_low'): initial distribution (random, uniform_low,
            uniform_avg, uniform_high, uniform_low_and_tight, uniform_lowish_and_tight,
            normal_low, normal_avg, normal_high, heavyside_low, distance).
        policy_merge_oobs (True), policy_include_pos (True), policy_include_same (True):
            the self-regularisation switches; policy_no_self_reg (False) turns include_pos and
            include_same off (the original's flag; merge_oobs stays).
        seed (pads train's default): generator seed.
        normalize (True): mine on L2-normalised rows (the support assumes unit vectors).
        valid_triplets_only (False): drop label-invalid triplets (see above).

    ``miner.distribution`` is the current bin distribution (n_support - 1 floats);
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
        valid_triplets_only=False,
    ):
        opts = dict(locals())
        for key in ("self", "normalize", "valid_triplets_only", "__class__"):
            opts.pop(key, None)
        super().__init__(normalize, valid_triplets_only, opts)

    @property
    def distribution(self):
        """Current bin probabilities, n_support - 1 floats summing to 1."""
        return self._m.distribution

    @property
    def support(self):
        """The n_support support points (bin edges)."""
        return self._m.support
