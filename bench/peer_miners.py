"""Miner + margin loss (forward and backward) at bs 112, 128-d, for each sampler: the
original's per-anchor Python loop and a vectorised torch version. Median ms per call."""
import json, statistics, time
import numpy as np
import torch
import torch.nn.functional as F
from peer_models import pdist, loop_random, loop_semihard, loop_softhard, loop_distance, loop_pads, vec_mine, margin_loss, pads_uniform_low

bs, dim, reps = 112, 128, 30
torch.manual_seed(0)
labels = np.arange(bs) // 4
labels_t = torch.from_numpy(labels)
raw = torch.randn(bs, dim)
distr, support = pads_uniform_low()
distr_t, support_t = torch.from_numpy(distr).float(), torch.from_numpy(support).float()
rng = np.random.default_rng(0)
gen = torch.Generator().manual_seed(0)
loops = {"random": loop_random, "semihard": loop_semihard, "softhard": loop_softhard, "distance": loop_distance,
         "pads": lambda d, l, r: loop_pads(d, l, r, distr, support)}
out = {}
for kind, loop in loops.items():
    res = {}
    for style in ["python_loop", "torch_vectorised"]:
        times = []
        for i in range(reps + 3):
            leaf = raw.clone().requires_grad_(True)
            beta = torch.full((bs // 4,), 1.2, requires_grad=True)
            t0 = time.perf_counter()
            e = F.normalize(leaf, dim=1)
            d = pdist(e.detach())
            if style == "python_loop":
                t = torch.tensor(loop(d.numpy(), labels, rng))
                a, p, n = t[:, 0], t[:, 1], t[:, 2]
            else:
                a, p, n = vec_mine(kind, d, labels_t, gen, distr_t, support_t)
            margin_loss(e, a, p, n, beta, labels_t).backward()
            if i >= 3:
                times.append((time.perf_counter() - t0) * 1e3)
        res[style] = statistics.median(times)
    out[kind] = res
print(json.dumps(out))
