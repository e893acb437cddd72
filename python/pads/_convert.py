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


_UNSIGNED = tuple(getattr(torch, n) for n in ("uint16", "uint32", "uint64") if hasattr(torch, n))
# Whole numbers a float64 holds exactly; beyond them two class ids could read as one.
_FLOAT_EXACT = 2**53


def labels(x, what, device):
    """Integer class ids as int64: float labels that are whole numbers of at most 2**53 in
    magnitude are accepted (as the CLI reads a float .npy of labels), other floats are a
    ValueError; unsigned labels of any width are converted (values above int64's range are a
    ValueError)."""
    t = as_tensor(x, what, device=device)
    if t.dtype.is_floating_point:
        ok = torch.isfinite(t) & (t == t.round()) & (t.abs() <= _FLOAT_EXACT)
        if t.numel() and not bool(ok.all()):
            bad = t[~ok].flatten()[0].item()
            raise ValueError(f"{what}: float labels must be whole numbers (class ids) of magnitude at most 2**53, got {bad}")
        t = t.to(torch.int64)
    elif t.dtype in _UNSIGNED:
        # torch has no max for these widths; a uint64 above 2**63 - 1 reads negative as int64.
        as_int = t.contiguous().view(torch.int64) if t.dtype == torch.uint64 else t.to(torch.int64)
        if t.numel() and bool((as_int < 0).any()):
            raise ValueError(f"{what}: a label is above the int64 range of class ids (2**63 - 1)")
        t = as_int
    return t


def flag(value, name):
    """A yes/no option: True/False (or a numpy bool), never another truthy value read as yes."""
    if isinstance(value, bool) or (type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_")):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {value!r}")


def whole(value, name, low=0, high=2**63 - 1):
    """An integer option in [low, high] (bools refused): ValueError naming it otherwise."""
    if isinstance(value, bool) or not isinstance(value, _numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if not low <= int(value) <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}, got {value}")
    return int(value)


def ks(k):
    """Recall@k values: an int or a sequence of ints >= 1."""
    if isinstance(k, _numbers.Integral):
        out = [k]
    elif isinstance(k, (list, tuple, range)) or (hasattr(k, "__iter__") and not isinstance(k, (str, bytes))):
        out = list(k)
    else:
        raise ValueError(f"k values must be integers >= 1, got {k!r}")
    if not all(isinstance(kk, _numbers.Integral) and not isinstance(kk, bool) and 1 <= kk <= 2**62 for kk in out):
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
        # JSON would carry a larger integer as a float, and the message would say so.
        if isinstance(x, int) and not isinstance(x, bool) and not -(2**63) <= x <= 2**64 - 1:
            raise ValueError(f"{key} is out of the 64-bit integer range, got {x}")
    return v


def options(values):
    """The JSON object of the given (not None) options."""
    import json

    return json.dumps({k: option_value(k, v) for k, v in values.items() if v is not None})
