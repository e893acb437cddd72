"""pads for PyTorch loops: the PADS miner and agent, the margin loss and the exact evaluator.

Five lines add PADS (Policy-Adapted Sampling, Roth, Milbich & Ommer, CVPR 2020) to a
pytorch-metric-learning loop::

    miner = pads.pml.PADSMiner()                  # a PML miner; negatives from a learned distance distribution
    agent = pads.PADSAgent(miner)                 # the RL policy that reshapes it
    loss = loss_fn(emb, y, miner(emb, y))         # PML's TripletMarginLoss or pads.MarginLoss
    if it % 30 == 0: agent.step(val_emb, val_y, progress=it / total)
    pads.evaluate(test_emb, test_y)               # {'recall@1': ..., 'nmi': ..., ...}

``pads.pml`` holds the miners as pytorch-metric-learning ``BaseMiner`` subclasses (label-valid
triplets by default; ``ref_emb``, CrossBatchMemory, DistributedMinerWrapper); ``pads.PADSMiner``
etc. work without PML. Miners and agents pickle (spawned workers, deepcopy, torch.save).

Everything is computed by the pads Rust library (the same code as the `pads` CLI) through
the extension module `pads._pads`; this file only converts arguments. Options carry the
original's names (``policy_n_support``, ``policy_lr``, ...) and, when left as None, the
defaults of ``pads train`` (the original's); ``pads.defaults()`` lists them.
"""
import torch  # loads libtorch before the extension, which links against it

from . import _pads
from ._agent import MarginLoss, PADSAgent
from ._evaluate import evaluate
from ._miners import DistanceMiner, PADSMiner, RandomMiner, SemihardMiner, SofthardMiner

__version__ = _pads.__version__

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
    "__version__",
]

#: k-means seed of every pads evaluation (NMI and F1), as ``pads metrics``.
KMEANS_SEED = _pads.KMEANS_SEED


def defaults():
    """Every option's default value (the ``pads train`` defaults, the original's), as a dict."""
    import json

    return json.loads(_pads.defaults_json())


def __getattr__(name):
    # `pads.pml` needs pytorch-metric-learning: imported on first use, not with `import pads`.
    if name == "pml":
        import importlib

        return importlib.import_module(".pml", __name__)
    raise AttributeError(f"module 'pads' has no attribute {name!r}")
