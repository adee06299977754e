"""Validation shared by the evaluation modules: every metric checks its inputs here, once."""
from __future__ import annotations

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, describe

__all__ = ["real_array", "saliency_map", "thresholds", "truth_set"]


def _real(x, name: str, layout: str, dtype) -> np.ndarray:
    """``x`` as a real array of ``dtype``; complex, string or object input is a type error."""
    try:
        if np.iscomplexobj(x):
            raise TypeError("complex")
        return np.asarray(x, dtype=dtype)
    except (TypeError, ValueError):
        raise ArgumentTypeError(name, f"a real-valued array {layout}", describe(x))


def _finite(arr: np.ndarray, name: str) -> np.ndarray:
    if not np.all(np.isfinite(arr)):
        raise ArgumentError(name, "finite values", "NaN or inf entries")
    return arr


def real_array(x, name: str, layout: str, dtype=np.float64) -> np.ndarray:
    """A non-empty, finite, real-valued array (``layout`` names the expected shape in errors).

    Complex, string or object input is an :class:`ArgumentTypeError`; an empty array or NaN /
    inf entries an :class:`ArgumentError`. The input is never modified.
    """
    arr = _real(x, name, layout, dtype)
    if arr.size == 0:
        raise ArgumentError(name, f"a non-empty array {layout}", describe(x))
    return _finite(arr, name)


def saliency_map(saliency, shape) -> np.ndarray:
    """A finite real ``(T, H, W)`` map of exactly ``shape``, as float32 (the games' input)."""
    arr = _real(saliency, "saliency", "(T, H, W)", np.float32)
    if arr.shape != tuple(shape):
        raise ArgumentError("saliency", f"a map of shape {tuple(shape)}", arr.shape)
    return _finite(arr, "saliency")


def thresholds(values) -> np.ndarray:
    """Minimal-mask thresholds: a non-empty vector of finite, non-negative numbers."""
    try:
        deltas = np.atleast_1d(np.asarray(values, dtype=np.float64))
    except (TypeError, ValueError):
        raise ArgumentTypeError("thresholds", "numbers (score changes)", describe(values))
    if deltas.ndim != 1 or deltas.size == 0 or np.any(deltas < 0) or not np.all(np.isfinite(deltas)):
        raise ArgumentError("thresholds", "finite non-negative score changes", values)
    return deltas


def truth_set(truth, shape) -> np.ndarray:
    """A boolean target set of ``shape`` from a boolean or 0/1 array."""
    truth_arr = np.asarray(truth)
    if truth_arr.shape != tuple(shape):
        raise ArgumentError("truth", f"a boolean array of the mask's shape {tuple(shape)}",
                            describe(truth_arr))
    if truth_arr.dtype != bool:
        if not np.issubdtype(truth_arr.dtype, np.number) or not np.all(
                (truth_arr == 0) | (truth_arr == 1)):
            raise ArgumentTypeError("truth", "a boolean (or 0/1) array", describe(truth_arr))
        truth_arr = truth_arr.astype(bool)
    return truth_arr
