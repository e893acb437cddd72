"""Writes tests/fixtures/transform/ from torchvision 0.26 + Pillow (what the original's
datasets.py runs): small input images, and what torchvision makes of them.
tests/transform.rs reads it (no Python at test time).

    python bench/reference/make_transform_fixture.py

- inputs: PNGs (RGB, grayscale L, RGBA) and JPEGs (RGB, 4:2:0 as Pillow saves them) of odd
  sizes, photo-like content;
- eval/<name>_<size>.png: `Resize(round(size*256/224))` + `CenterCrop(size)` on
  `Image.open(p).convert("RGB")` (the original's evaluation transform), uint8 before ToTensor;
  sizes that shrink and that enlarge each input;
- crop/<name>_<k>.png: `F.resized_crop(img, top, left, h, w, [s, s])` (RandomResizedCrop's
  pixels for a given box), for boxes with odd offsets;
- cases.json: the boxes above, RandomResizedCrop.get_params draws replayed from torch's
  generator (each try's scale and aspect, the offsets, the box torchvision returned, checked
  against the replay), CenterCrop offsets, Resize output sizes.
"""
import json
import math
import pathlib

import numpy as np
import torch
import torchvision
import torchvision.transforms as T
import torchvision.transforms.functional as F
from PIL import Image, ImageDraw, ImageFilter

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "transform"


def photo(w, h, seed):
    """Smooth gradient, a few shapes, a little noise (small PNGs, realistic JPEG blocks)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    a = (xx / w + yy / h)[..., None] / 2
    img = Image.fromarray(np.clip(c0 * (1 - a) + c1 * a, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(4):
        x0, y0 = rng.uniform(-0.2, 0.9) * w, rng.uniform(-0.2, 0.9) * h
        box = [x0, y0, x0 + rng.uniform(0.1, 0.6) * w, y0 + rng.uniform(0.1, 0.6) * h]
        colour = tuple(int(v) for v in rng.uniform(0, 255, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(1.0))
    arr = np.asarray(img).astype(np.float32) + rng.normal(0, 3, (h, w, 3)).astype(np.float32)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def inputs():
    """name -> (file name, writer)."""
    rgb = photo(61, 47, 1)
    gray = photo(40, 90, 2).convert("L")
    rgba = photo(53, 37, 3).convert("RGBA")
    rgba.putalpha(Image.fromarray(np.tile(np.linspace(0, 255, 53).astype(np.uint8), (37, 1))))
    return {
        "rgb_png": ("rgb.png", lambda p: rgb.save(p)),
        "gray_png": ("gray.png", lambda p: gray.save(p)),
        "rgba_png": ("rgba.png", lambda p: rgba.save(p)),
        "wide_jpg": ("wide.jpg", lambda p: photo(163, 117, 4).save(p, quality=85)),
        "tall_jpg": ("tall.jpg", lambda p: photo(95, 141, 5).save(p, quality=85)),
    }


def crop_draws(width, height, seed):
    """RandomResizedCrop.get_params on a width x height image under torch.manual_seed(seed),
    and the same generator replayed: every try's (scale, aspect) and the offsets drawn."""
    dummy = torch.zeros(1, height, width)
    torch.manual_seed(seed)
    i, j, h, w = T.RandomResizedCrop.get_params(dummy, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3))
    torch.manual_seed(seed)
    log_ratio = torch.log(torch.tensor((3 / 4, 4 / 3)))
    tries, replay = [], None
    for _ in range(10):
        s = torch.empty(1).uniform_(0.08, 1.0).item()
        a = torch.exp(torch.empty(1).uniform_(log_ratio[0], log_ratio[1])).item()
        tries.append([s, a])
        ww = int(round(math.sqrt(width * height * s * a)))
        hh = int(round(math.sqrt(width * height * s / a)))
        if 0 < ww <= width and 0 < hh <= height:
            top = torch.randint(0, height - hh + 1, size=(1,)).item()
            left = torch.randint(0, width - ww + 1, size=(1,)).item()
            replay = (top, left, hh, ww)
            break
    if replay is not None:
        assert replay == (i, j, h, w), (replay, (i, j, h, w))
    return {"width": width, "height": height, "tries": tries, "fallback": replay is None, "box": [j, i, w, h]}


def main():
    for sub in ["eval", "crop"]:
        (OUT / sub).mkdir(parents=True, exist_ok=True)
    cases = {"torchvision": torchvision.__version__, "pillow": Image.__version__, "images": [], "draws": [],
             "center_offsets": [], "resize_sizes": []}
    for name, (fname, write) in inputs().items():
        path = OUT / fname
        write(path)
        img = Image.open(path).convert("RGB")
        w, h = img.size
        entry = {"name": name, "file": fname, "eval": [], "crops": []}
        for size in [24, 37, 112]:  # shrink, shrink with odd crop offsets, enlarge
            tf = T.Compose([T.Resize(round(size * 256 / 224)), T.CenterCrop(size)])
            tf(img).save(OUT / "eval" / f"{name}_{size}.png")
            entry["eval"].append(size)
        boxes = [[1, 2, w - 3, h - 5, 32], [w // 3, h // 4, w // 2 + 1, h // 2, 40], [3, 1, 17, 13, 48], [0, 0, w, h, 29]]
        for k, (x, y, bw, bh, s) in enumerate(boxes):
            F.resized_crop(img, y, x, bh, bw, [s, s], T.InterpolationMode.BILINEAR).save(OUT / "crop" / f"{name}_{k}.png")
            entry["crops"].append({"box": [x, y, bw, bh], "size": s})
        cases["images"].append(entry)
    for seed, (w, h) in enumerate([(500, 375), (375, 500), (61, 47), (1024, 683), (4, 300), (300, 4), (9, 40), (120, 20)]):
        for k in range(4):
            cases["draws"].append(crop_draws(w, h, seed * 10 + k))
    for n in [224, 225, 226, 227, 255, 256, 257, 300, 301, 341, 343]:
        row = torch.arange(n).view(1, 1, n)
        cases["center_offsets"].append([n, 224, int(F.center_crop(row, [1, 224])[0, 0, 0])])
    for w, h, short in [(500, 375, 256), (375, 500, 256), (1024, 683, 256), (333, 250, 73), (61, 47, 27), (7, 1000, 256), (256, 256, 256), (640, 480, 42)]:
        nw, nh = F.resize(Image.new("RGB", (w, h)), short).size
        cases["resize_sizes"].append([w, h, short, nw, nh])
    (OUT / "cases.json").write_text(json.dumps(cases, indent=1) + "\n")


if __name__ == "__main__":
    main()
