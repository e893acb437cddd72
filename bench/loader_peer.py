"""Loader benchmark: `pads bench loader` against torchvision's DataLoader on the same files.

    python bench/loader_peer.py make DIR            # photo-like JPEGs (DIR/synthetic/images/...)
    python bench/loader_peer.py run --pads BIN --data-root DIR [--threads 1,2] [--rounds 2]

`make` writes 48 classes x 10 JPEGs (quality 90) whose sizes cycle through 500x375, 375x500,
640x480, 1024x683, 333x250 and 300x400 (CUB200-like photos); content: smooth colour
gradients, a few blurred shapes and sensor-like noise. pads' synthetic layout takes the first
24 classes as its training split: those 240 images are what both loaders read.

`run` measures, for each transform (train: RandomResizedCrop + flip + normalise; eval:
Resize(size*256/224) + CenterCrop + normalise), each thread count and with and without
cached decoded images, pads and torchvision alternately (A B A B, `--rounds` times each) and
prints one JSON line per case with the medians and the ratio pads / torchvision.
The peer: a torchvision DataLoader over PIL images, num_workers = threads, batches of --bs,
the same index plan as pads (batch b holds items (b*bs + i) mod n); with --cache, every image
is decoded once (PIL, convert('RGB')) before the workers fork, as pads' --cache-images
decodes every image once before timing.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

SIZES = [(500, 375), (375, 500), (640, 480), (1024, 683), (333, 250), (300, 400)]


def photo(w, h, rng):
    """A photo-like RGB array: gradient background, blurred shapes, noise."""
    from PIL import Image, ImageDraw, ImageFilter

    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    c0, c1, c2 = (rng.uniform(0, 255, 3) for _ in range(3))
    a = xx / w
    b = yy / h
    base = c0[None, None] * (1 - a)[..., None] + c1[None, None] * a[..., None]
    base = base * (1 - b)[..., None] * 0.6 + c2[None, None] * b[..., None] * 0.6 + base * 0.4
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(rng.integers(4, 10)):
        x0, y0 = rng.uniform(-0.2, 1.0) * w, rng.uniform(-0.2, 1.0) * h
        x1, y1 = x0 + rng.uniform(0.05, 0.6) * w, y0 + rng.uniform(0.05, 0.6) * h
        colour = tuple(int(v) for v in rng.uniform(0, 255, 3))
        if rng.random() < 0.5:
            draw.ellipse([x0, y0, x1, y1], fill=colour)
        else:
            draw.rectangle([x0, y0, x1, y1], fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.8, 2.5))))
    arr = np.asarray(img).astype(np.float32)
    arr += rng.normal(0, 6, arr.shape).astype(np.float32)
    return np.clip(arr, 0, 255).astype(np.uint8)


def make(root, classes=48, per_class=10):
    from PIL import Image

    images = os.path.join(root, "synthetic", "images")
    done = os.path.join(root, ".complete")
    if os.path.exists(done):
        return
    rng = np.random.default_rng(0)
    k = 0
    for c in range(classes):
        d = os.path.join(images, f"{c + 1:03d}.class{c + 1}")
        os.makedirs(d, exist_ok=True)
        for i in range(per_class):
            w, h = SIZES[k % len(SIZES)]
            k += 1
            Image.fromarray(photo(w, h, rng)).save(os.path.join(d, f"{i:03d}.jpg"), quality=90)
    open(done, "w").close()


def train_files(root):
    images = os.path.join(root, "synthetic", "images")
    dirs = sorted(os.listdir(images), key=lambda n: int(n.split(".")[0]))
    files = []
    for d in dirs[: len(dirs) // 2]:
        files += [os.path.join(images, d, f) for f in sorted(os.listdir(os.path.join(images, d)))]
    return files


class Files:
    """PIL dataset: decode (or take the cached image), convert('RGB'), transform."""

    def __init__(self, files, tf, cached):
        self.files, self.tf, self.cached = files, tf, cached

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        from PIL import Image

        img = self.cached[i] if self.cached is not None else Image.open(self.files[i]).convert("RGB")
        return self.tf(img), 0


def peer(files, mode, size, threads, bs, batches, cache):
    import torch
    import torchvision.transforms as T
    from PIL import Image

    norm = T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    if mode == "train":
        tf = T.Compose([T.RandomResizedCrop(size), T.RandomHorizontalFlip(0.5), T.ToTensor(), norm])
    else:
        tf = T.Compose([T.Resize(round(size * 256 / 224)), T.CenterCrop(size), T.ToTensor(), norm])
    cached = [Image.open(f).convert("RGB") for f in files] if cache else None
    n = len(files)
    plan = [(b * bs + i) % n for b in range(batches + 1) for i in range(bs)]
    loader = torch.utils.data.DataLoader(Files(files, tf, cached), batch_size=bs, sampler=plan, num_workers=threads, prefetch_factor=4 if threads else None)
    it = iter(loader)
    next(it)  # workers started, first batch (page cache warm), as pads' warm-up batch
    t0 = time.perf_counter()
    images = 0
    for x, _ in it:
        images += x.shape[0]
    return images / (time.perf_counter() - t0)


def pads(bin_, root, mode, size, threads, bs, batches, cache):
    cmd = [bin_, "bench", "loader", "--dataset", "synthetic", "--data-root", root, "--image-size", str(size),
           "--bs", str(bs), "--threads", str(threads), "--batches", str(batches), "--transform", mode]
    if cache:
        cmd.append("--cache-images")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])[str(threads)]


def run(args):
    files = train_files(args.data_root)
    for cache in [False, True] if args.cache == "both" else [args.cache == "on"]:
        for mode in args.transforms.split(","):
            for t in [int(x) for x in args.threads.split(",")]:
                a, b = [], []
                for _ in range(args.rounds):
                    a.append(pads(args.pads, args.data_root, mode, args.image_size, t, args.bs, args.batches, cache))
                    b.append(peer(files, mode, args.image_size, t, args.bs, args.batches, cache))
                ma, mb = float(np.median(a)), float(np.median(b))
                print(json.dumps({"transform": mode, "threads": t, "cache_images": cache, "images": len(files),
                                  "pads_img_s": round(ma, 1), "torchvision_img_s": round(mb, 1), "ratio": round(ma / mb, 2),
                                  "pads_runs": [round(v, 1) for v in a], "torchvision_runs": [round(v, 1) for v in b]}), flush=True)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("dir")
    r = sub.add_parser("run")
    r.add_argument("--pads", required=True)
    r.add_argument("--data-root", required=True)
    r.add_argument("--image-size", type=int, default=224)
    r.add_argument("--bs", type=int, default=112)
    r.add_argument("--batches", type=int, default=6)
    r.add_argument("--threads", default="1,2")
    r.add_argument("--transforms", default="train,eval")
    r.add_argument("--cache", choices=["off", "on", "both"], default="both")
    r.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    if args.cmd == "make":
        make(args.dir)
    else:
        run(args)


if __name__ == "__main__":
    sys.exit(main())
