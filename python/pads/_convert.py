"""Argument conversion shared by pads' Python classes and functions: tensors from numpy
arrays and lists, checks that refuse what the extension cannot read (sparse layouts, the meta
device) with a clear TypeError/ValueError, yes/no flags, Recall@k lists and option values."""
import math as _math
import numbers as _numbers
import warnings as _warnings

import torch


def as_tensor(x, what, device=None):
    """torch.Tensor as given; numpy arrays and lists become tensors (on `device` if given).

    Raises TypeError for other types, numpy arrays of non-numbers and sparse tensors;
    ValueError for tensors on the meta device (they hold no values)."""
    if isinstance(x, torch.Tensor):
        t = x
    else:
        try:
            import numpy as np
        except ImportError:  # pragma: no cover
            np = None
        if np is not None and isinstance(x, np.ndarray):
            if x.dtype == object or x.dtype.kind not in "biuf":
                raise TypeError(f"{what}: numpy array of dtype {x.dtype}; expected numbers")
            t = torch.from_numpy(np.ascontiguousarray(x))
        elif isinstance(x, (list, tuple)):
            try:
                t = torch.as_tensor(x)
            except (TypeError, ValueError, RuntimeError) as e:
                raise TypeError(f"{what}: cannot read the list as numbers ({e})") from None
        else:
            raise TypeError(f"{what} must be a torch.Tensor or a numpy array, got {type(x).__name__}")
        if device is not None:
            t = t.to(device)
    if t.layout != torch.strided:
        raise TypeError(f"{what}: a {t.layout} tensor; pads reads dense tensors (call .to_dense() first)")
    if t.is_meta:
        raise ValueError(f"{what}: a tensor on the meta device holds no values; move it to cpu or cuda")
    if t.dtype.is_complex:
        raise TypeError(f"{what}: complex dtype {t.dtype}; expected real numbers")
    return t


def embeddings(x, what="embeddings"):
    """Float embeddings: integer (and bool) rows are converted to float32 with a warning, as
    pytorch-metric-learning's AccuracyCalculator converts everything to float."""
    t = as_tensor(x, what)
    if not t.dtype.is_floating_point:
        _warnings.warn(f"{what}: {t.dtype} values converted to float32", stacklevel=3)
        t = t.to(torch.float32)
    return t


def labels(x, what, device):
    """Integer class ids: float labels that are whole numbers are accepted (converted to
    int64, as the CLI reads a float .npy of labels); any other float is a ValueError."""
    t = as_tensor(x, what, device=device)
    if t.dtype.is_floating_point:
        if t.numel() and not bool(torch.isfinite(t).all() and (t == t.round()).all()):
            bad = t[~(torch.isfinite(t) & (t == t.round()))].flatten()[0].item()
            raise ValueError(f"{what}: float labels must be whole numbers (class ids), got {bad}")
        t = t.to(torch.int64)
    return t


def flag(value, name):
    """A yes/no option: True/False (or a numpy bool), never another truthy value read as yes."""
    if isinstance(value, bool) or (type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_")):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {value!r}")


def ks(k):
    """Recall@k values: an int or a sequence of ints >= 1."""
    if isinstance(k, _numbers.Integral):
        out = [k]
    elif isinstance(k, (list, tuple, range)) or (hasattr(k, "__iter__") and not isinstance(k, (str, bytes))):
        out = list(k)
    else:
        raise ValueError(f"k values must be integers >= 1, got {k!r}")
    if not all(isinstance(kk, _numbers.Integral) and not isinstance(kk, bool) and kk >= 1 for kk in out):
        raise ValueError(f"k values must be integers >= 1, got {k!r}")
    return [int(kk) for kk in out]


def option_value(key, v):
    """An option value as JSON takes it: numpy scalars and arrays and tensors become Python
    numbers and lists; a float that is not finite is refused, naming the option."""
    if hasattr(v, "tolist") and not isinstance(v, (str, bytes)):
        v = v.tolist()
    if isinstance(v, tuple):
        v = list(v)
    for x in v if isinstance(v, list) else [v]:
        if isinstance(x, float) and not _math.isfinite(x):
            raise ValueError(f"{key} must be a finite number, got {v!r}")
    return v


def options(values):
    """The JSON object of the given (not None) options."""
    import json

    return json.dumps({k: option_value(k, v) for k, v in values.items() if v is not None})
