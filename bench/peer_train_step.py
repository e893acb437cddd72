"""PyTorch peer of `pads bench train-step`: the same iteration (model forward, distance-weighted
miner in the original's per-anchor Python style, margin loss with per-class beta, backward,
Adam with L2 weight decay and a separate beta group), served over stdin: `run K` -> K times in ms."""
import argparse, sys, time
import numpy as np
import torch
from peer_models import make_model, pdist, loop_distance, loop_pads, margin_loss, pads_uniform_low

ap = argparse.ArgumentParser()
ap.add_argument("--arch", default="small")
ap.add_argument("--image-size", type=int, default=64)
ap.add_argument("--bs", type=int, default=112)
ap.add_argument("--device", default="cpu")
ap.add_argument("--sampling", default="distance", choices=["distance", "pads"])
ap.add_argument("--amp", default="off", choices=["off", "bf16"])
a = ap.parse_args()
torch.manual_seed(0)
dev = torch.device(a.device)
model = make_model(a.arch).to(dev)
labels = np.arange(a.bs) // 4
labels_t = torch.from_numpy(labels).to(dev)
beta = torch.nn.Parameter(torch.full((a.bs // 4,), 1.2, device=dev))
opt = torch.optim.Adam([{"params": model.parameters(), "lr": 1e-5, "weight_decay": 4e-4},
                        {"params": [beta], "lr": 5e-4, "weight_decay": 0.0}])
x = torch.randn(a.bs, 3, a.image_size, a.image_size, device=dev)
rng = np.random.default_rng(0)


distr, support = pads_uniform_low()


def step():
    with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.amp == "bf16"):
        feats = model.model(x) if a.arch == "resnet50" else None
    if a.arch == "resnet50":
        e = torch.nn.functional.normalize(model.last_linear(feats.float()), dim=1)
    else:
        e = model(x)
    d = pdist(e.detach()).cpu().numpy()
    trip = loop_distance(d, labels, rng) if a.sampling == "distance" else loop_pads(d, labels, rng, distr, support)
    t = torch.tensor(trip, device=dev)
    loss = margin_loss(e, t[:, 0], t[:, 1], t[:, 2], beta, labels_t)
    opt.zero_grad()
    loss.backward()
    opt.step()
    if dev.type == "cuda":
        torch.cuda.synchronize()


print("ready", flush=True)
for line in sys.stdin:
    parts = line.split()
    if parts[:1] == ["run"]:
        times = []
        for _ in range(int(parts[1])):
            t0 = time.perf_counter()
            step()
            times.append((time.perf_counter() - t0) * 1e3)
        print(" ".join(f"{t:.3f}" for t in times), flush=True)
    elif parts[:1] == ["quit"]:
        break
