"""BN-Inception as the original builds it, on fixed weights and inputs, for tests/bninception.rs.

The original's netlib.py `NetworkSuperClass_BNInception` is pretrainedmodels 0.7.4's
`bninception` with `last_linear` replaced by Linear(1024, embed_dim), then L2 normalisation;
its datasets.py feeds it ToTensor, Normalize(mean [0.502, 0.4588, 0.4078], std [0.0039] * 3),
channels reversed to BGR. This script builds that network (pretrained=None, seeded), gives its
BatchNorm running statistics realistic values (one pass in train mode with cumulative
averaging, then perturbed, so that evaluation mode depends on them), and writes into OUT:

  imagenet.pth        the network's state_dict as pretrainedmodels has it (1000-way
                      last_linear), i.e. in the format of bn_inception-52deb4733.pth (~45 MB)
  head.safetensors    the embedding head last_linear.weight [D, 1024], last_linear.bias [D]
  x_eval.npy, emb_eval.npy     [2, 3, 224, 224] input, eval-mode L2-normalised embeddings
  x_train.npy, emb_train.npy   [4, 3, 224, 224] input, one train-mode forward (batch
                               statistics) of the same network
  stats_after_train.safetensors  every running_mean / running_var after that forward
                               (momentum 0.1, unbiased variance, as torch updates them)
  x_64.npy, emb_64.npy  [3, 3, 64, 64] in eval mode, with the final AvgPool2d(7) replaced by
                        global average pooling (the original crashes at 64 px: its last map is
                        2 x 2); pads' fix
  sizes.json          {input side: side of the last feature map, or null where
                       pretrainedmodels' features() raises}, for sides 16-135 and 222, 223,
                       230, 231

Usage: python make_bninception_fixture.py OUT [EMBED_DIM]   (needs torch, pretrainedmodels,
safetensors, numpy; the test suite runs it at test time into a temporary folder).
"""
import json
import sys

import numpy as np
import pretrainedmodels
import torch
from safetensors.torch import save_file

MEAN = [0.502, 0.4588, 0.4078]
STD = [0.0039, 0.0039, 0.0039]


def images(n, side, gen):
    """Random 8-bit RGB images as the original's datasets.py turns them into a batch."""
    pixels = torch.randint(0, 256, (n, 3, side, side), generator=gen, dtype=torch.uint8)
    x = pixels.float().div(255)  # ToTensor
    x = (x - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]  # Normalize
    return x[:, [2, 1, 0]].contiguous()  # out_img[range(3)[::-1], :]


def embed(model, x):
    return torch.nn.functional.normalize(model(x), dim=-1)


def main():
    out = sys.argv[1]
    dim = int(sys.argv[2]) if len(sys.argv) > 2 else 128
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    model = pretrainedmodels.bninception(num_classes=1000, pretrained=None)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]

    # Realistic running statistics: cumulative averages over one batch, then perturbed, and
    # non-trivial affine parameters.
    model.train()
    for bn in bns:
        bn.momentum = None
    with torch.no_grad():
        model.features(images(8, 224, gen))
        for bn in bns:
            bn.momentum = 0.1
            bn.running_mean.add_(torch.randn(bn.num_features, generator=gen) * 0.1 * bn.running_var.sqrt())
            bn.running_var.mul_(torch.empty(bn.num_features).uniform_(0.7, 1.3, generator=gen))
            bn.weight.uniform_(0.5, 1.5, generator=gen)
            bn.bias.uniform_(-0.2, 0.2, generator=gen)
    torch.save(model.state_dict(), f"{out}/imagenet.pth")

    # The original's embedding network: last_linear replaced, then L2 normalisation.
    model.last_linear = torch.nn.Linear(1024, dim)
    save_file({"last_linear.weight": model.last_linear.weight.detach().contiguous(),
               "last_linear.bias": model.last_linear.bias.detach().contiguous()}, f"{out}/head.safetensors")

    model.eval()
    x = images(2, 224, gen)
    with torch.no_grad():
        np.save(f"{out}/x_eval.npy", x.numpy())
        np.save(f"{out}/emb_eval.npy", embed(model, x).numpy())

        x = images(3, 64, gen)
        pooled = torch.nn.functional.adaptive_avg_pool2d(model.features(x), 1).flatten(1)
        np.save(f"{out}/x_64.npy", x.numpy())
        np.save(f"{out}/emb_64.npy", torch.nn.functional.normalize(model.last_linear(pooled), dim=-1).numpy())

        sizes = {}
        for side in list(range(16, 136)) + [222, 223, 230, 231]:
            try:
                sizes[side] = model.features(torch.zeros(1, 3, side, side)).shape[-1]
            except RuntimeError:
                sizes[side] = None
        json.dump(sizes, open(f"{out}/sizes.json", "w"))

    model.train()
    x = images(4, 224, gen)
    with torch.no_grad():
        emb = embed(model, x)
    np.save(f"{out}/x_train.npy", x.numpy())
    np.save(f"{out}/emb_train.npy", emb.numpy())
    stats = {k: v.contiguous() for k, v in model.state_dict().items() if k.endswith(("running_mean", "running_var"))}
    save_file(stats, f"{out}/stats_after_train.safetensors")


if __name__ == "__main__":
    main()
