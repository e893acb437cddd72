"""SOP-sized clustered embeddings: 60,000 x 128 float32 in 11,316 classes (5-6 per class),
unit-normalised, with class centres on the sphere and per-sample noise."""
import sys
import numpy as np

out = sys.argv[1]
n, d, c = 60000, 128, 11316
rng = np.random.default_rng(0)
labels = np.concatenate([np.arange(c), rng.integers(0, c, n - c)])
rng.shuffle(labels)
centres = rng.standard_normal((c, d)).astype(np.float32)
centres /= np.linalg.norm(centres, axis=1, keepdims=True)
emb = centres[labels] + 0.08 * rng.standard_normal((n, d)).astype(np.float32)
emb /= np.linalg.norm(emb, axis=1, keepdims=True)
np.save(f"{out}/embeddings.npy", emb.astype(np.float32))
np.save(f"{out}/labels.npy", labels.astype(np.int64))
