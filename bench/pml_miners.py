"""The Python miners on one batch (112 x 128, 28 classes of 4, unit rows): pads' miners (plain
and as pytorch-metric-learning miners, pads.pml) against PML's own DistanceWeightedMiner and
TripletMarginMiner, alternating A B A B in one process. Median ms per call and the ratio
peer / pads per pair (above 1: pads is faster). Usage: python bench/pml_miners.py [reps]."""
import json
import statistics
import sys
import time

import torch
from pytorch_metric_learning import miners as pml_miners

import pads
import pads.pml

reps = int(sys.argv[1]) if len(sys.argv) > 1 else 30
torch.manual_seed(0)
bs, dim = 112, 128
labels = torch.arange(bs) // 4
emb = torch.nn.functional.normalize(torch.randn(bs, dim), dim=1)

# (name, pads miner, PML peer): the same method where PML has it (distance-weighted), else
# PML's triplet miner of the same kind (semihard), and for PADS the two PML miners a user
# would otherwise pick.
pairs = [
    ("distance-weighted", pads.DistanceMiner(), pml_miners.DistanceWeightedMiner(cutoff=0.5, nonzero_loss_cutoff=1.4)),
    ("semihard", pads.SemihardMiner(), pml_miners.TripletMarginMiner(margin=0.2, type_of_triplets="semihard")),
    ("pads vs DistanceWeightedMiner", pads.PADSMiner(), pml_miners.DistanceWeightedMiner(cutoff=0.5, nonzero_loss_cutoff=1.4)),
    ("pads vs TripletMarginMiner", pads.PADSMiner(), pml_miners.TripletMarginMiner(margin=0.2)),
    ("pads.pml vs TripletMarginMiner", pads.pml.PADSMiner(), pml_miners.TripletMarginMiner(margin=0.2)),
]


def once(miner):
    t0 = time.perf_counter()
    miner(emb, labels)
    return (time.perf_counter() - t0) * 1e3


# Warm every miner up first (first calls load kernels and allocate).
for _, mine, peer in pairs:
    for _ in range(10):
        once(mine), once(peer)

rows = []
for name, mine, peer in pairs:
    a, b = [], []
    for i in range(reps + 3):
        ta, tb = once(mine), once(peer)
        if i >= 3:
            a.append(ta)
            b.append(tb)
    ms_pads, ms_peer = statistics.median(a), statistics.median(b)
    rows.append({"pair": name, "pads": type(mine).__module__.replace("pads._miners", "pads") + "." + type(mine).__name__,
                 "peer": "pml." + type(peer).__name__, "pads_ms": round(ms_pads, 3), "peer_ms": round(ms_peer, 3),
                 "ratio_peer_over_pads": round(ms_peer / ms_pads, 1)})
print(json.dumps({"batch": [bs, dim], "threads": torch.get_num_threads(), "reps": reps, "rows": rows}, indent=1))
