"""The PADS agent (the policy that reshapes a PADS miner's distribution) and the margin
loss, for PyTorch loops."""
import json as _json
import math

import torch

from . import _convert, _pads
from ._miners import PADSMiner


def _record(text):
    r = _json.loads(text)
    r["val_metrics"] = dict(r["val_metrics"])
    return r


def _progress(value):
    """Share of training done: a number in [0, 1] (True/False refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise TypeError(f"progress must be a number in [0, 1], got {value!r}")
    return float(value)


def _metrics(metrics, ks):
    """The metrics dict of step_metrics, checked: recall@k for each k, nmi, intra and inter;
    None or NaN = undefined; Recall@k and NMI in [0, 1], the distances >= 0."""
    if not isinstance(metrics, dict):
        raise TypeError(f"metrics must be a dict of metric names to numbers, got {type(metrics).__name__}")
    need = [f"recall@{k}" for k in ks] + ["nmi", "intra", "inter"]
    missing = [k for k in need if k not in metrics]
    if missing:
        raise ValueError(f"metrics lack {', '.join(missing)}; expected {', '.join(need)}")
    clean = {}
    for k, v in metrics.items():
        if v is None or (isinstance(v, float) and math.isnan(v)):
            clean[k] = None
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) and not hasattr(v, "__float__"):
            raise TypeError(f"metrics[{k!r}] must be a number or None, got {v!r}")
        v = float(v)
        high = 1.0 if (k.startswith("recall@") or k == "nmi") else math.inf
        if k in need and not 0.0 <= v <= high:
            raise ValueError(f"metrics[{k!r}] must be in [0, {high:g}], got {v}")
        clean[k] = v
    return clean


class PADSAgent:
    """The PADS policy over a :class:`PADSMiner`'s distribution (the trainer's agent).

    Call :meth:`step` every M iterations (the original: ``policy_sample_freq`` = 30) with
    validation embeddings; it computes the validation metrics, the reward (sign of the change
    of the reward metric), updates the policy (PPO or REINFORCE) and multiplies the miner's
    bin weights by the sampled actions, exactly as ``pads train`` does.

    Options (the original's names; None = its default, see ``pads.defaults()``): seed
    (default: the miner's), k_vals (Recall@k of the state; default 1, 2, 4, 8), policy_lr
    (0.01), policy_action_values ((0.5, 1, 1.5)), policy_size ((128, 128)),
    policy_dont_use_a2c (False), policy_baseline_ema_gamma (0.05), policy_reward_update_w
    (0.99), policy_mode ('ppo' or 'reinforce'; pads train's default), policy_ppo_ratio (0.2),
    policy_old_update_iter (3), policy_reward_type (2: mean of Recall@1 and NMI; 0: NMI;
    1: Recall@1), policy_state_metrics (of 'recall', 'nmi', 'dists'; all three), policy_metric_history
    (10), policy_run_avgs ((2, 8, 16, 32)), policy_parameter_history (1; -1: policy_metric_history),
    policy_run_avgs_no_avg (False: each running-average slot holds its window's mean; True: the
    oldest vector of the window, the original's option), policy_winit_type ('none': torch.nn.Linear's
    init; 'base', 'he_n').

    The policy's initial weights come from torch's global generator (call
    ``torch.manual_seed`` first for a reproducible run); its actions from its own generator
    seeded by ``seed``.
    """

    def __init__(
        self,
        miner,
        *,
        seed=None,
        k_vals=None,
        policy_lr=None,
        policy_action_values=None,
        policy_size=None,
        policy_dont_use_a2c=None,
        policy_baseline_ema_gamma=None,
        policy_reward_update_w=None,
        policy_mode=None,
        policy_ppo_ratio=None,
        policy_old_update_iter=None,
        policy_reward_type=None,
        policy_state_metrics=None,
        policy_metric_history=None,
        policy_run_avgs=None,
        policy_parameter_history=None,
        policy_run_avgs_no_avg=None,
        policy_winit_type=None,
    ):
        core = getattr(miner, "core", miner)
        if not isinstance(core, PADSMiner):
            raise TypeError(f"PADSAgent needs a pads.PADSMiner or pads.pml.PADSMiner, got {type(miner).__name__}")
        opts = dict(locals())
        for key in ("self", "miner", "core", "__class__"):
            opts.pop(key, None)
        self._init(miner, {k: v for k, v in opts.items() if v is not None})

    def _init(self, miner, options):
        self.miner = miner
        self._core = getattr(miner, "core", miner)
        self._given = options
        self._a = _pads.Agent(self._core._m, _convert.options(options))

    def step(self, val_embeddings, val_labels, progress, *, normalize=True, epoch=0, iteration=0):
        """One policy step from validation embeddings.

        Args:
            val_embeddings: ``[N, D]`` float tensor or array (any device).
            val_labels: ``[N]`` integer class ids.
            progress: share of training done, in [0, 1] (part of the policy's state).
            normalize: L2-normalise the rows before the metrics (default True; pads' own
                model outputs unit rows, so this equals the trainer's evaluation there).
            epoch, iteration: recorded in the history only.

        Returns:
            the step's record: dict with 'distribution', 'actions', 'reward' (None at the first
            step), 'advantage', 'policy_loss', 'value_loss', 'reward_metric', 'val_metrics'.
        """
        emb = _convert.embeddings(val_embeddings, "val_embeddings")
        lab = _convert.labels(val_labels, "val_labels", emb.device)
        return _record(self._a.step(emb, lab, _progress(progress), _convert.flag(normalize, "normalize"), _convert.whole(epoch, "epoch"), _convert.whole(iteration, "iteration")))

    def step_metrics(self, metrics, progress, *, epoch=0, iteration=0):
        """One policy step from metrics computed elsewhere.

        Args:
            metrics: dict with 'recall@k' for every k of k_vals, 'nmi', 'intra' and 'inter'
                (e.g. the dict of :func:`evaluate`; None = undefined enters as 0, as in
                the trainer).
            progress: share of training done, in [0, 1].

        Returns:
            the step's record, as :meth:`step`.
        """
        return _record(self._a.step_metrics(_json.dumps(_metrics(metrics, self.options["k_vals"])), _progress(progress), _convert.whole(epoch, "epoch"), _convert.whole(iteration, "iteration")))

    @property
    def distribution(self):
        """The miner's current bin probabilities."""
        return self._core.distribution

    @property
    def steps(self):
        """Policy steps taken so far."""
        return self._a.steps

    @property
    def history(self):
        """Every step's record so far (list of dicts, see :meth:`step`), for plotting."""
        return [_record(_json.dumps(r)) for r in _json.loads(self._a.history_json())]

    @property
    def options(self):
        """The agent's options (the original's names), as a dict; the miner's are
        ``agent.miner.options``. k_vals shows the Recall@k values in use (default 1, 2, 4, 8)."""
        o = _json.loads(self._a.options_json())
        o["k_vals"] = o["k_vals"] or [1, 2, 4, 8]
        return o

    def state_dict(self):
        """Policy, its optimiser, the PPO old policy, generator, history and the miner's
        distribution: strings and tensors, so ``torch.save`` can hold it."""
        plain, groups = self._a.state()
        out = {"state": plain}
        out.update(groups)
        return out

    def load_state_dict(self, state):
        if not isinstance(state, dict) or not isinstance(state.get("state"), str):
            raise ValueError(f"PADSAgent.load_state_dict: not a PADSAgent state_dict (expected a dict with 'state' and the policy's tensor groups, got {type(state).__name__}{' with keys ' + str(sorted(map(str, state))) if isinstance(state, dict) else ''})")
        groups = {k: v for k, v in state.items() if k != "state"}
        self._a.load_state(state["state"], groups)

    # Pickling: the miner (pickled with it, identity kept within one pickle), the given
    # options and the state; rebuilding draws the policy's initial weights, so it runs on a
    # forked torch generator to leave the caller's stream as it was.
    def __getstate__(self):
        return {"miner": self.miner, "options": self._given, "state": self.state_dict()}

    def __setstate__(self, st):
        with torch.random.fork_rng(devices=[]):
            self._init(st["miner"], st["options"])
        self.load_state_dict(st["state"])

    def __repr__(self):
        o = self.options
        return f"pads.PADSAgent(steps={self.steps}, policy_mode={o['policy_mode']!r}, policy_lr={o['policy_lr']!r}, seed={o['seed']!r})"


class MarginLoss(torch.nn.Module):
    """Margin loss (Wu et al. 2017) with a learnable beta per class, pads' ``--loss margin``:
    sum over triplets of relu(d_ap - beta[y_a] + margin) + relu(beta[y_a] - d_an + margin),
    divided by the number of triplets with a non-zero term (d = sqrt(|x - y|^2 + 1e-8)).

    Args:
        n_classes: number of classes; labels must be 0 .. n_classes - 1.
        margin: default 0.2.  beta: initial beta, default 1.2.
        beta_constant: keep beta fixed (default False: ``self.beta`` is a Parameter; the
            original trains it with its own learning rate, ``beta_lr`` 5e-4).

    ``forward(embeddings [B, D], labels [B], indices_tuple)`` -> scalar tensor; gradients flow
    into the embeddings and beta. ``indices_tuple`` is a miner's (anchors, positives, negatives).
    """

    def __init__(self, n_classes, margin=0.2, beta=1.2, beta_constant=False):
        super().__init__()
        if not isinstance(n_classes, int) or n_classes < 1:
            raise ValueError(f"n_classes must be a positive integer, got {n_classes!r}")
        for name, v in (("margin", margin), ("beta", beta)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0.0 <= float(v) < float("inf")):
                raise ValueError(f"MarginLoss: {name} must be a finite number >= 0, got {v!r}")
        self.margin = float(margin)
        self.beta = torch.nn.Parameter(torch.full((n_classes,), float(beta)), requires_grad=not beta_constant)

    def forward(self, embeddings, labels, indices_tuple):
        if not (isinstance(indices_tuple, (tuple, list)) and len(indices_tuple) == 3):
            raise ValueError("indices_tuple must be (anchors, positives, negatives)")
        embeddings = _convert.as_tensor(embeddings, "embeddings")
        a, p, n = (_convert.as_tensor(t, name, device=embeddings.device) for t, name in zip(indices_tuple, ("anchors", "positives", "negatives")))
        lab = _convert.labels(labels, "labels", embeddings.device)
        return _pads.margin_loss(embeddings, a, p, n, lab, self.beta, self.margin)
