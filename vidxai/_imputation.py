"""Noisy linear imputation of removed voxels (ROAD, extended to space-time).

"A Consistent and Efficient Evaluation Strategy for Attribution Methods" (Rong, Leemann,
Borisov, Kasneci, Kasneci; ICML 2022, Sec. 4, "noisy linear imputation") fills each removed
pixel with the weighted mean of its neighbours: the removed values ``y`` solve one sparse
linear system in which every removed pixel equals the weighted mean of its neighbours, known
(kept) neighbours entering the right-hand side; small Gaussian noise is then added to the
filled pixels. Here the neighbourhood is spatio-temporal:

* ``neighbours=6``: the face neighbours (t +- 1, h +- 1, w +- 1), weight 1 each;
* ``neighbours=26``: the whole 3 x 3 x 3 cube, weight ``1 / m`` for an offset with ``m``
  non-zero components (faces 1, edges 1/2, corners 1/3).

When ``T = 1`` the temporal neighbours do not exist, so the system is exactly the 2-D one of
a single frame: 4 neighbours, or with 26 the 8 in-frame ones weighted 1 and 1/2, i.e. ROAD's
own 2-D weights 1/6 and 1/12 after normalisation.

Borders: a neighbour outside the volume is absent; a voxel's value is the mean over the
neighbours that exist (its degree counts only those). Channels are solved independently.

The system ``(D - W) y = W_kept x`` on the removed voxels (``D`` the degree, ``W`` the
symmetric neighbour weights) is symmetric positive definite whenever every connected set of
removed voxels touches a kept voxel. It is solved matrix-free with
``jax.scipy.sparse.linalg.cg`` (the operator is a stencil over the whole volume: kept voxels
carry the identity, so shapes stay static), with a Jacobi preconditioner, optionally warm-
started from a previous solution. A removed set with no kept neighbour at all is singular; its
voxels keep their starting value (the mean kept colour unless ``x0`` is given), which CG never
changes because the residual there is zero.
"""
from __future__ import annotations

import functools
import itertools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .errors import (ArgumentError, ArgumentTypeError, check_float, check_int, check_key,
                     check_video, describe)

__all__ = ["NEIGHBOURS", "Imputed", "impute", "offsets"]

NEIGHBOURS = (6, 26)


class Imputed(NamedTuple):
    """An imputed video: ``video`` (T, H, W, C) float32 (kept voxels untouched, removed ones
    filled), the solver's relative ``residual`` ``||b - A y|| / ||b||`` (before the noise) and
    ``solution``, the noise-free filled video, to warm-start the next solve."""

    video: np.ndarray
    residual: float
    solution: jax.Array


def offsets(neighbours: int) -> tuple:
    """``((dt, dh, dw), weight)`` pairs of a neighbourhood (see the module docstring)."""
    if isinstance(neighbours, bool) or neighbours not in NEIGHBOURS:
        raise ArgumentError("neighbours", "6 or 26", repr(neighbours))
    found = []
    for off in itertools.product((-1, 0, 1), repeat=3):
        m = sum(o != 0 for o in off)
        if m == 0 or (neighbours == 6 and m > 1):
            continue
        found.append((off, 1.0 / m))
    return tuple(found)


def _shift(x, off):
    """``out[i] = x[i + off]`` over the first three axes, zero where ``i + off`` is outside."""
    pads = [(max(-o, 0), max(o, 0)) for o in off] + [(0, 0)] * (x.ndim - 3)
    padded = jnp.pad(x, pads)
    starts = [max(o, 0) for o in off] + [0] * (x.ndim - 3)
    return jax.lax.dynamic_slice(padded, starts, x.shape)


def _neighbour_sum(x, offs):
    return sum(w * _shift(x, off) for off, w in offs)


@functools.partial(jax.jit, static_argnames=("neighbours", "tol", "maxiter"))
def _solve(video, removed, x0, *, neighbours, tol, maxiter):
    offs = offsets(neighbours)
    r = removed[..., None].astype(jnp.float32)
    kept = 1.0 - r
    degree = _neighbour_sum(jnp.ones(video.shape[:3] + (1,), jnp.float32), offs)

    def operator(y):
        return r * (degree * y - _neighbour_sum(r * y, offs)) + kept * y

    b = r * _neighbour_sum(kept * video, offs)
    diagonal = r * degree + kept
    y, _ = jax.scipy.sparse.linalg.cg(operator, b, x0=r * x0, tol=tol, maxiter=maxiter,
                                      M=lambda v: v / diagonal)
    norm = jnp.maximum(jnp.linalg.norm(b), 1e-30)
    residual = jnp.linalg.norm(b - operator(y)) / norm
    return kept * video + r * y, residual


def impute(video, removed, *, neighbours: int = 6, noise: float = 0.01, key=None, x0=None,
           tol: float = 1e-6, maxiter: int = 2000) -> Imputed:
    """Fill the ``removed`` voxels of ``video`` by noisy linear imputation (ROAD, space-time).

    Args:
      video: float ``(T, H, W, C)`` in [0, 1]; never modified.
      removed: bool ``(T, H, W)``, ``True`` = removed (to be imputed).
      neighbours: 6 (faces) or 26 (the 3 x 3 x 3 cube); see the module docstring.
      noise: standard deviation of the Gaussian noise added to the filled voxels (ROAD's
        code: 0.01); 0 for the plain linear imputation. The result is clipped to [0, 1].
      key: a ``jax.random`` key (required when ``noise > 0``).
      x0: warm start, a video ``(T, H, W, C)`` (e.g. the previous curve step's
        ``solution``); default: every removed voxel at the mean colour of the kept ones.
      tol, maxiter: conjugate-gradient tolerance (relative) and iteration cap.

    Returns an :class:`Imputed` (video, residual, solution).
    """
    video = check_video(video)
    mask = np.asarray(removed)
    if mask.shape != video.shape[:3]:
        raise ArgumentError("removed", f"a boolean mask of shape {video.shape[:3]}",
                            describe(mask))
    if mask.dtype != bool:
        raise ArgumentTypeError("removed", "a boolean mask (True = removed)", describe(mask))
    offsets(neighbours)
    noise = check_float(noise, "noise", 0.0)
    tol = check_float(tol, "tol", 0.0, open_low=True)
    maxiter = check_int(maxiter, "maxiter", minimum=1)
    if noise > 0:
        key = check_key(key)
    if x0 is None:
        kept = ~mask
        colour = video[kept].mean(0) if kept.any() else np.full(video.shape[-1], 0.5, np.float32)
        start = jnp.broadcast_to(jnp.asarray(colour, jnp.float32), video.shape)
    else:
        start = jnp.asarray(x0, jnp.float32)
        if start.shape != video.shape:
            raise ArgumentError("x0", f"a warm start of the video's shape {video.shape}",
                                describe(x0))
    solution, residual = _solve(jnp.asarray(video), jnp.asarray(mask), start,
                                neighbours=int(neighbours), tol=tol, maxiter=maxiter)
    out = solution
    if noise > 0:
        eps = jax.random.normal(key, video.shape, jnp.float32)
        out = jnp.clip(solution + noise * eps * jnp.asarray(mask)[..., None], 0.0, 1.0)
    return Imputed(np.asarray(out), float(residual), solution)
