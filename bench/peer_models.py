"""PyTorch peers of pads' networks, miners and loss (same architecture, same formulas)."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


class Basic(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        skip = x if self.downsample is None else self.downsample(x)
        return F.relu(y + skip)


class Small(nn.Module):
    """pads' `--arch small`."""
    def __init__(self, embed_dim=128):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.layers = nn.Sequential(Basic(32, 64, 2), Basic(64, 128, 2), Basic(128, 256, 2))
        self.last_linear = nn.Linear(256, embed_dim)

    def forward(self, x):
        y = self.layers(F.relu(self.bn1(self.conv1(x))))
        return F.normalize(self.last_linear(F.adaptive_avg_pool2d(y, 1).flatten(1)), dim=1)


class ResNet50(nn.Module):
    """torchvision ResNet50 + linear head, as the original netlib."""
    def __init__(self, embed_dim=128):
        super().__init__()
        self.model = torchvision.models.resnet50(weights=None)
        self.model.fc = nn.Identity()
        self.last_linear = nn.Linear(2048, embed_dim)

    def forward(self, x):
        return F.normalize(self.last_linear(self.model(x)), dim=1)


def make_model(arch, embed_dim=128):
    m = Small(embed_dim) if arch == "small" else ResNet50(embed_dim)
    m.eval()  # frozen BatchNorm statistics; weight and bias still train
    return m


def pdist(e):
    prod = e @ e.t()
    norm = prod.diag().unsqueeze(1)
    return (norm + norm.t() - 2 * prod).clamp(min=0).sqrt()


# ---------- the original's style: a Python loop over anchors, numpy choices ----------

def loop_random(d, labels, rng):
    bs = len(labels)
    trip = [(a, p, n) for a in range(bs) for p in range(bs) for n in range(bs)
            if a != p and labels[a] == labels[p] and labels[a] != labels[n]]
    idx = rng.choice(len(trip), bs)
    return [trip[i] for i in idx]


def loop_semihard(d, labels, rng, margin=0.2):
    out = []
    for a in range(len(labels)):
        pos = np.where((labels == labels[a]) & (np.arange(len(labels)) != a))[0]
        neg = np.where(labels != labels[a])[0]
        p = rng.choice(pos)
        semi = neg[(d[a, neg] > d[a, p]) & (d[a, neg] < d[a, p] + margin)]
        n = rng.choice(semi) if len(semi) else rng.choice(neg)
        out.append((a, p, n))
    return out


def loop_softhard(d, labels, rng):
    out = []
    for a in range(len(labels)):
        pos = np.where((labels == labels[a]) & (np.arange(len(labels)) != a))[0]
        neg = np.where(labels != labels[a])[0]
        hn = neg[d[a, neg] < d[a, pos].max()]
        hp = pos[d[a, pos] > d[a, neg].min()]
        out.append((a, rng.choice(hp) if len(hp) else rng.choice(pos), rng.choice(hn) if len(hn) else rng.choice(neg)))
    return out


def loop_distance(d, labels, rng, dim=128, cutoff=0.5):
    out = []
    for a in range(len(labels)):
        pos = np.where((labels == labels[a]) & (np.arange(len(labels)) != a))[0]
        dist = np.maximum(d[a], cutoff)
        logw = (2.0 - dim) * np.log(dist) - ((dim - 3) / 2) * np.log(np.maximum(1.0 - 0.25 * dist ** 2, 1e-8))
        logw[labels == labels[a]] = -np.inf
        w = np.exp(logw - logw[np.isfinite(logw)].max())
        w[labels == labels[a]] = 0
        out.append((a, rng.choice(pos), rng.choice(len(labels), p=w / w.sum())))
    return out


def loop_pads(d, labels, rng, distr, support):
    bins = np.sum(d.reshape(-1) > support[1:-1].reshape(-1, 1), axis=0).reshape(d.shape)
    ps = distr[bins]
    out = []
    for a in range(len(labels)):
        pos = np.where(labels == labels[a])[0]
        p_row = ps[a] / ps[a].sum()
        out.append((a, rng.choice(pos), rng.choice(len(labels), p=p_row)))
    return out


# ---------- vectorised torch versions ----------

def _pick(mask_weights, gen):
    return torch.multinomial(mask_weights, 1, generator=gen).squeeze(1)


def vec_mine(kind, d, labels_t, gen, distr=None, support=None, dim=128, margin=0.2):
    bs = len(labels_t)
    same = labels_t[:, None] == labels_t[None, :]
    eye = torch.eye(bs, dtype=torch.bool)
    pos = (same & ~eye).float()
    neg = (~same).float()
    a = torch.arange(bs)
    if kind == "random":
        counts = pos.sum(1) * neg.sum(1)
        a = torch.multinomial(counts, bs, replacement=True, generator=gen)
        return a, _pick(pos[a], gen), _pick(neg[a], gen)
    if kind == "pads":
        bins = torch.bucketize(d, support[1:-1], right=False)
        w = distr[bins]
        return a, _pick(same.float(), gen), _pick(w, gen)
    p = _pick(pos, gen)
    d_ap = d[a, p]
    if kind == "semihard":
        w = neg * (d > d_ap[:, None]) * (d < d_ap[:, None] + margin)
    elif kind == "softhard":
        w = neg * (d < (d * pos).max(1).values[:, None])
        hp = pos * (d > (d + 1e9 * (1 - neg)).min(1).values[:, None])
        hp = torch.where(hp.sum(1, keepdim=True) > 0, hp, pos)
        p = _pick(hp, gen)
    else:  # distance
        dist = d.clamp(min=0.5)
        logw = (2.0 - dim) * dist.log() - ((dim - 3) / 2) * (1.0 - 0.25 * dist ** 2).clamp(min=1e-8).log()
        logw = logw.masked_fill(same, float("-inf"))
        w = (logw - logw.max(1, keepdim=True).values).exp()
    w = torch.where(w.sum(1, keepdim=True) > 0, w, neg)
    return a, p, _pick(w, gen)


def margin_loss(e, a, p, n, beta, labels_t, margin=0.2):
    d_ap = ((e[a] - e[p]).pow(2).sum(1) + 1e-8).sqrt()
    d_an = ((e[a] - e[n]).pow(2).sum(1) + 1e-8).sqrt()
    b = beta[labels_t[a]]
    pos = F.relu(d_ap - b + margin)
    neg = F.relu(b - d_an + margin)
    count = ((pos > 0) | (neg > 0)).sum()
    total = (pos + neg).sum()
    return total / count if count > 0 else total


def pads_uniform_low(n_support=30, lo=0.1, hi=1.4):
    support = np.linspace(lo, hi, n_support)
    x = support[:-1] + 2 / n_support
    w = np.clip(((x >= 0.3) & (x <= 0.7)).astype(float), 1e-15, 1)
    return w / w.sum(), support
