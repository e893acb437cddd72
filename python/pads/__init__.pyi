"""Type stubs of `pads` (see __init__.py for the full docstrings).

Defaults shown as `...` are those of `pads train` (`pads.defaults()` lists them all):
policy_n_support 30, policy_support_limit (0.1, 1.4), policy_init_distr 'uniform_low',
self-regularisation on (policy_merge_oobs, policy_include_pos, policy_include_same True;
policy_no_self_reg False), policy_lr 0.01, policy_action_values (0.5, 1.0, 1.5),
policy_size (128, 128), policy_baseline_ema_gamma 0.05, policy_reward_update_w 0.99,
policy_ppo_ratio 0.2, policy_old_update_iter 3, policy_reward_type 2,
policy_metric_history 10, policy_run_avgs (2, 8, 16, 32), policy_parameter_history 1,
margin 0.2; seed and policy_mode as `pads train --help` shows.
"""
from typing import Any, Dict, List, Literal, Optional, Sequence, Tuple, Union

import numpy as np
import torch

ArrayLike = Union[torch.Tensor, np.ndarray, Sequence[Any]]
Triplets = Tuple[torch.Tensor, torch.Tensor, torch.Tensor]
InitDistr = Literal[
    "random", "uniform_low", "uniform_avg", "uniform_high", "uniform_low_and_tight",
    "uniform_lowish_and_tight", "normal_low", "normal_avg", "normal_high", "heavyside_low", "distance",
]

KMEANS_SEED: int
__version__: str

def defaults() -> Dict[str, Any]: ...

def evaluate(
    embeddings: ArrayLike,  # [N, D] float, CPU or CUDA (the queries with gallery_*)
    labels: ArrayLike,  # [N] class ids (int, or whole-number floats)
    gallery_embeddings: Optional[ArrayLike] = None,  # [M, D] float; with gallery_labels (PML's reference)
    gallery_labels: Optional[ArrayLike] = None,  # [M] class ids
    ref_includes_query: bool = False,  # the gallery's first N rows are the queries (PML's rule)
    *,
    k: Union[int, Sequence[int]] = (1, 2, 4, 8),
    nmi: Optional[bool] = None,  # None: True for one set; query/gallery: must stay None/False
    map_at_r: bool = True,
    normalize: bool = True,
    seed: Optional[int] = None,  # None: KMEANS_SEED (1234); one set only
    count_lone_queries: bool = False,  # True: queries with no same-label item are Recall@k misses (the original's rule)
) -> Dict[str, Any]:
    """One set: {'recall@k', 'nmi', 'f1', 'map@r', 'intra', 'inter'} as `pads metrics --json`; None = undefined.
    With gallery_*: {'recall@k', 'map@r', 'queries', 'gallery', 'lone_queries', 'same_set', 'ref_includes_query'} as
    `pads metrics --query-* --gallery-* --json`; same set (self-matches left out) only when the
    very same objects are passed for both."""

class _Miner:
    def __call__(
        self, embeddings: torch.Tensor, labels: ArrayLike, ref_emb: Optional[torch.Tensor] = None, ref_labels: Optional[ArrayLike] = None
    ) -> Triplets:
        """embeddings [B, D] float, labels [B] int (ref_emb [M, D], ref_labels [M]) -> (anchors, positives, negatives): int64 [T]."""
    num_triplets: int
    dropped_triplets: int
    @property
    def valid_triplets_only(self) -> bool: ...
    @property
    def options(self) -> Dict[str, Any]: ...
    def state_dict(self) -> Dict[str, str]: ...
    def load_state_dict(self, state: Dict[str, str]) -> None: ...

class RandomMiner(_Miner):
    def __init__(self, *, seed: Optional[int] = ..., normalize: bool = True, valid_triplets_only: bool = False) -> None: ...

class SemihardMiner(_Miner):
    def __init__(self, *, margin: Optional[float] = ..., seed: Optional[int] = ..., normalize: bool = True, valid_triplets_only: bool = False) -> None: ...

class SofthardMiner(_Miner):
    def __init__(self, *, seed: Optional[int] = ..., normalize: bool = True, valid_triplets_only: bool = False) -> None: ...

class DistanceMiner(_Miner):
    def __init__(self, *, seed: Optional[int] = ..., normalize: bool = True, valid_triplets_only: bool = False) -> None: ...

class PADSMiner(_Miner):
    def __init__(
        self,
        *,
        policy_n_support: Optional[int] = ...,
        policy_support_limit: Optional[Tuple[float, float]] = ...,
        policy_init_distr: Optional[InitDistr] = ...,
        policy_merge_oobs: Optional[bool] = ...,
        policy_include_pos: Optional[bool] = ...,
        policy_include_same: Optional[bool] = ...,
        policy_no_self_reg: Optional[bool] = ...,
        seed: Optional[int] = ...,
        normalize: bool = True,
        valid_triplets_only: bool = False,
    ) -> None: ...
    @property
    def distribution(self) -> List[float]:
        """n_support - 1 bin probabilities, summing to 1."""
    @property
    def support(self) -> List[float]:
        """n_support support points."""

class PADSAgent:
    miner: Any  # the PADSMiner or pads.pml.PADSMiner given
    def __init__(
        self,
        miner: Any,  # PADSMiner or pads.pml.PADSMiner
        *,
        seed: Optional[int] = ...,  # default: the miner's
        k_vals: Optional[Sequence[int]] = ...,  # default (1, 2, 4, 8)
        policy_lr: Optional[float] = ...,
        policy_action_values: Optional[Tuple[float, float, float]] = ...,
        policy_size: Optional[Sequence[int]] = ...,
        policy_dont_use_a2c: Optional[bool] = ...,
        policy_baseline_ema_gamma: Optional[float] = ...,
        policy_reward_update_w: Optional[float] = ...,
        policy_mode: Optional[Literal["ppo", "reinforce"]] = ...,
        policy_ppo_ratio: Optional[float] = ...,
        policy_old_update_iter: Optional[int] = ...,
        policy_reward_type: Optional[Literal[0, 1, 2]] = ...,
        policy_state_metrics: Optional[Sequence[Literal["recall", "nmi", "dists"]]] = ...,
        policy_metric_history: Optional[int] = ...,
        policy_run_avgs: Optional[Sequence[int]] = ...,
        policy_parameter_history: Optional[int] = ...,  # -1: policy_metric_history
        policy_run_avgs_no_avg: Optional[bool] = ...,
        policy_winit_type: Optional[Literal["none", "base", "he_n"]] = ...,
    ) -> None: ...
    def step(
        self, val_embeddings: ArrayLike, val_labels: ArrayLike, progress: float, *,
        normalize: bool = True, epoch: int = 0, iteration: int = 0,
    ) -> Dict[str, Any]:
        """Validation metrics, reward, policy update, new distribution; returns the step's record."""
    def step_metrics(self, metrics: Dict[str, Optional[float]], progress: float, *, epoch: int = 0, iteration: int = 0) -> Dict[str, Any]: ...
    @property
    def distribution(self) -> List[float]: ...
    @property
    def history(self) -> List[Dict[str, Any]]: ...
    @property
    def options(self) -> Dict[str, Any]: ...
    @property
    def steps(self) -> int: ...
    def state_dict(self) -> Dict[str, Any]: ...
    def load_state_dict(self, state: Dict[str, Any]) -> None: ...

class MarginLoss(torch.nn.Module):
    margin: float
    beta: torch.nn.Parameter  # [n_classes] float32
    def __init__(self, n_classes: int, margin: float = 0.2, beta: float = 1.2, beta_constant: bool = False) -> None: ...
    def forward(self, embeddings: torch.Tensor, labels: ArrayLike, indices_tuple: Triplets) -> torch.Tensor:
        """embeddings [B, D] float, labels [B] int in 0..n_classes-1 -> scalar loss with autograd."""
