"""Separable Gaussian filtering in JAX, shared by removal (blur), soft mask edges and the
extremal blur pyramid. One implementation, any set of axes, reflect or zero padding."""
from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from jax import lax


def gaussian_kernel(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """Normalised 1-D Gaussian taps with half-width ``ceil(truncate * sigma)``."""
    radius = max(int(math.ceil(truncate * sigma)), 0)
    if sigma <= 0 or radius == 0:
        return np.ones(1, dtype=np.float32)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return (k / k.sum()).astype(np.float32)


def _filter_axis(x, kernel: np.ndarray, axis: int, mode: str):
    radius = (kernel.size - 1) // 2
    if radius == 0:
        return x
    moved = jnp.moveaxis(x, axis, -1)
    shape = moved.shape
    flat = moved.reshape(-1, 1, shape[-1])
    pad = ((0, 0), (0, 0), (radius, radius))
    flat = jnp.pad(flat, pad, mode="symmetric") if mode == "reflect" else jnp.pad(flat, pad)
    out = lax.conv_general_dilated(flat, jnp.asarray(kernel)[None, None, :], (1,), "VALID")
    return jnp.moveaxis(out.reshape(shape), -1, axis)


def gaussian_filter(x, sigma, axes, mode: str = "reflect", truncate: float = 4.0):
    """Gaussian blur of ``x`` along ``axes`` (one sigma per axis, or one for all).

    ``mode="reflect"`` mirrors the border (a constant image stays constant); ``"constant"``
    pads with zeros (TorchRay's pyramid convention).
    """
    axes = tuple(axes)
    sigmas = tuple(sigma) if np.ndim(sigma) else (sigma,) * len(axes)
    for axis, s in zip(axes, sigmas):
        x = _filter_axis(x, gaussian_kernel(float(s), truncate), axis, mode)
    return x
