"""Search benchmark data: a gallery of ROWS x DIM and QUERIES x DIM query rows, float32,
L2-normalised Gaussian vectors (seeded), written as gallery.npy and queries.npy."""
import argparse, os
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--rows", type=int, default=1_000_000)
ap.add_argument("--dim", type=int, default=128)
ap.add_argument("--queries", type=int, default=1000)
ap.add_argument("--seed", type=int, default=0)
a = ap.parse_args()
os.makedirs(a.out, exist_ok=True)
rng = np.random.default_rng(a.seed)
g = np.lib.format.open_memmap(os.path.join(a.out, "gallery.npy"), mode="w+", dtype=np.float32, shape=(a.rows, a.dim))
for s in range(0, a.rows, 100_000):
    x = rng.standard_normal((min(100_000, a.rows - s), a.dim), dtype=np.float32)
    g[s:s + len(x)] = x / np.linalg.norm(x, axis=1, keepdims=True)
g.flush()
q = rng.standard_normal((a.queries, a.dim), dtype=np.float32)
np.save(os.path.join(a.out, "queries.npy"), q / np.linalg.norm(q, axis=1, keepdims=True))
