"""PADS in a pytorch-metric-learning training loop, on pads' synthetic set.

    python examples/pml_pads.py [--data data/synthetic] [--steps 150] [--every 25]

The set is the one `make demo` writes (data/synthetic); when absent it is made with
`target/release/pads synth` (announced). Half the classes train (every 4th image of each held
out for PADS' validation), the other half test. The model is a small MLP on 16 px pixels, so
the run takes seconds on a CPU.
"""
import argparse
import pathlib
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from pytorch_metric_learning import losses

import pads
import pads.pml


def load_images(root, size=16):
    """(features [N, 3*size*size] float32, labels [N] int64) of root/images/<class>/*.png."""
    feats, labels = [], []
    for c, d in enumerate(sorted(p for p in (pathlib.Path(root) / "images").iterdir() if p.is_dir())):
        for f in sorted(d.glob("*.png")):
            img = Image.open(f).convert("RGB").resize((size, size), Image.BILINEAR)
            feats.append(np.asarray(img, dtype=np.float32).reshape(-1) / 255.0)
            labels.append(c)
    return torch.from_numpy(np.stack(feats)), torch.tensor(labels)


def train(root, steps=150, every=25, classes_per_batch=8, per_class=4, seed=0):
    x, y = load_images(root)
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    n_cls = int(y.max()) + 1
    train_mask, test_mask = y < n_cls // 2, y >= n_cls // 2
    rank = torch.zeros_like(y)
    for c in range(n_cls):
        rank[y == c] = torch.arange(int((y == c).sum()))
    val_mask = train_mask & (rank % 4 == 3)
    fit_mask = train_mask & ~val_mask
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 128), torch.nn.ReLU(), torch.nn.Linear(128, 32))
    embed = lambda v: F.normalize(model(v), dim=1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = losses.TripletMarginLoss(margin=0.2)
    miner = pads.pml.PADSMiner(seed=seed)  # the five lines: miner (a PML miner), agent,
    agent = pads.PADSAgent(miner, seed=seed)
    with torch.no_grad():
        before = pads.evaluate(embed(x[test_mask]), y[test_mask])
    g = torch.Generator().manual_seed(seed)
    fit_idx = {c: torch.nonzero(fit_mask & (y == c)).flatten() for c in range(n_cls // 2)}
    for it in range(1, steps + 1):
        cls = torch.randperm(n_cls // 2, generator=g)[:classes_per_batch].tolist()
        idx = torch.cat([fit_idx[c][torch.randint(len(fit_idx[c]), (per_class,), generator=g)] for c in cls])
        emb = embed(x[idx])
        loss = loss_fn(emb, y[idx], miner(emb, y[idx]))  # mined triplets into PML's loss,
        opt.zero_grad()
        loss.backward()
        opt.step()
        if it % every == 0:  # the policy step every M iterations,
            with torch.no_grad():
                agent.step(embed(x[val_mask]), y[val_mask], progress=it / steps)
    with torch.no_grad():
        after = pads.evaluate(embed(x[test_mask]), y[test_mask])  # and the evaluator.
    return before, after, agent


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="data/synthetic")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--every", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if not (pathlib.Path(a.data) / "images").is_dir():
        binary = pathlib.Path(__file__).resolve().parents[1] / "target" / "release" / "pads"
        print(f"{a.data} has no images/: making a synthetic set there with {binary} synth", file=sys.stderr)
        subprocess.run([str(binary), "synth", "--out", a.data, "--classes", "40", "--per-class", "20", "--image-size", "32"], check=True)
    before, after, agent = train(a.data, a.steps, a.every, seed=a.seed)
    print(f"test Recall@1 untrained {before['recall@1']:.4f} -> trained {after['recall@1']:.4f}")
    print(f"test NMI      untrained {before['nmi']:.4f} -> trained {after['nmi']:.4f}")
    print(f"PADS steps {len(agent.history)}; final distribution (bins by distance):")
    print(" ".join(f"{p:.3f}" for p in agent.distribution))


if __name__ == "__main__":
    main()
