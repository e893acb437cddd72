"""pads' miners as pytorch-metric-learning miners (needs ``pytorch-metric-learning``).

``pads.pml.PADSMiner`` etc. subclass ``pytorch_metric_learning.miners.BaseMiner``, so every
PML mechanism works unchanged: ``ref_emb`` / ``ref_labels`` (CrossBatchMemory),
``num_triplets`` (the MNIST notebook's loop), ``DistributedMinerWrapper``, ``nn.ModuleDict``,
pickling. Each wraps the plain pads miner of the same name (``.core``) with the same keyword
options, and returns only label-valid triplets by default (``valid_triplets_only=True``:
a != p, label(p) == label(a), label(n) != label(a)), which PML's pair losses assume; the
PADS sampler's self-regularised draws are dropped and counted in ``dropped_triplets``,
never re-drawn, so the distribution PADS learns is the same. ``pads.PADSAgent(miner)``
accepts these miners.
"""
from pytorch_metric_learning.miners import BaseMiner as _BaseMiner

from . import _miners


class _PMLMiner(_BaseMiner):
    _core_class = None

    def __init__(self, *, valid_triplets_only=True, collect_stats=None, **options):
        super().__init__(collect_stats=collect_stats)
        self.core = self._core_class(valid_triplets_only=valid_triplets_only, **options)

    def mine(self, embeddings, labels, ref_emb, ref_labels):
        """PML's mining step: anchors index ``embeddings``, positives and negatives
        ``ref_emb`` (BaseMiner.forward passes the batch itself when no reference is given)."""
        return self.core(embeddings, labels, ref_emb, ref_labels)

    def __copy__(self):
        # A copy mines on its own generator (as copy.copy of a pads miner), not the original's.
        import copy

        new = self.__class__.__new__(self.__class__)
        new.__dict__.update(self.__dict__)
        new.core = copy.copy(self.core)
        return new

    @property
    def dropped_triplets(self):
        """Label-invalid triplets the last call dropped."""
        return self.core.dropped_triplets

    @property
    def options(self):
        return self.core.options

    # The miner's generator and distribution travel in the module's state_dict as its extra
    # state (`<prefix>_extra_state`), so a model holding several miners checkpoints each.
    def get_extra_state(self):
        return self.core.state_dict()

    def set_extra_state(self, state):
        self.core.load_state_dict(state)

    @property
    def distribution(self):
        return self.core.distribution

    def extra_repr(self):
        text = repr(self.core)
        return text[text.index("(") + 1 : -1]


class RandomMiner(_PMLMiner):
    """:class:`pads.RandomMiner` as a PML miner."""

    _core_class = _miners.RandomMiner


class SemihardMiner(_PMLMiner):
    """:class:`pads.SemihardMiner` as a PML miner (``margin`` is the semihard window)."""

    _core_class = _miners.SemihardMiner


class SofthardMiner(_PMLMiner):
    """:class:`pads.SofthardMiner` as a PML miner."""

    _core_class = _miners.SofthardMiner


class DistanceMiner(_PMLMiner):
    """:class:`pads.DistanceMiner` as a PML miner."""

    _core_class = _miners.DistanceMiner


class PADSMiner(_PMLMiner):
    """:class:`pads.PADSMiner` as a PML miner, label-valid triplets only by default."""

    _core_class = _miners.PADSMiner

    @property
    def support(self):
        return self.core.support


__all__ = ["RandomMiner", "SemihardMiner", "SofthardMiner", "DistanceMiner", "PADSMiner"]
