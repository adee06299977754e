"""Validation and the chunked gradient engine shared by the gradient methods.

:func:`prepare` validates the common arguments once and checks that ``f`` is differentiable
(:func:`vidxai.scoring.check_differentiable`, shared with the extremal methods).
:func:`accumulate` sums per-point gradient terms over ``n`` points (IG's path points,
SmoothGrad's noise samples, Blur IG's blur levels) in chunks of a fixed size: a chunk's
points are generated from their indices inside one jitted step (nothing of size ``n`` is
held), so memory does not grow with ``n``. A pure-JAX ``f`` is differentiated with
``jax.vmap(jax.grad(...))`` in the same jitted step; an eager ``f`` (a bridged torch model)
gets the chunk's points from a jitted step and its gradients from one ``jax.vjp`` (torch
autograd). The last chunk is padded (static shapes, one compilation) and its padding rows
weighted 0; the chunk size is chosen at most ``batch_size`` so that little is padded. With
several local devices a pure-JAX ``f``'s chunks (rounded up to a multiple of the device
count, the extra rows weighted 0) are split over them (:mod:`vidxai._sharding`); the sum is
that of one device up to float32 rounding. An eager ``f`` is not sharded.
"""
from __future__ import annotations

import math
import warnings
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from ... import _sharding, scoring
from ...errors import (ArgumentError, ArgumentTypeError, ExplanationWarning, ScoreFunctionError,
                      check_int, check_video, describe)
from .result import GradientResult

__all__ = ["Setup", "prepare", "with_target", "chunk_size", "accumulate", "sum_valid",
           "channel_map", "completeness", "result", "COMPLETENESS_TOLERANCE"]

COMPLETENESS_TOLERANCE = 0.05   # IG paper: the Riemann sum should be within 5% of the difference


class Setup(NamedTuple):
    """Validated arguments: the score function, the video, ``f(x)``, eager or fused."""

    f: object
    video: np.ndarray
    score: float
    eager: bool


def with_target(f, target):
    """``f`` itself (``target=None``), or the softmax probability of class ``target`` of a
    model ``f`` returning ``(B, K)`` (paper 004's Phi_c)."""
    if not callable(f):
        raise ArgumentTypeError("f", "a score function (B, T, H, W, C) -> (B,)", describe(f))
    if target is None:
        return f
    if getattr(f, "head", None) is not None:
        raise ArgumentError("target", "None: f already scores one class (built by "
                            "vidxai.score); pass the model itself to choose a target", target)
    return scoring.score(f, target, "prob")


def prepare(f, video, target=None) -> Setup:
    """Validate ``f`` (differentiable), ``video`` and ``target``; score the video once."""
    f = with_target(f, target)
    video = check_video(video)
    score, eager = scoring.check_differentiable(f, video)
    return Setup(f, video, score, eager)


def chunk_size(n: int, batch_size) -> int:
    """Points per chunk: at most ``batch_size``, and among ``batch_size / 2 .. batch_size``
    the largest that pads least (50 points at batch_size 8 -> chunks of 5, none padded)."""
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    top = min(batch_size, n)
    candidates = range(max(1, (top + 1) // 2), top + 1)
    return min(candidates, key=lambda c: (math.ceil(n / c) * c, -c))


def _per_point_gradients(f, inputs):
    return jax.vmap(jax.grad(lambda v: f(v[None])[0]))(inputs)


@partial(jax.jit, static_argnames=("f", "make", "combine", "static"))
def _fused_chunk(total, idx, valid, data, *, f, make, combine, static):
    inputs, extra = make(idx, data, static)
    grads = _per_point_gradients(f, inputs)
    return total + combine(grads, extra, valid, static)


@partial(jax.jit, static_argnames=("make", "static"))
def _points(idx, data, *, make, static):
    return make(idx, data, static)


@partial(jax.jit, static_argnames=("combine", "static"))
def _add(total, grads, extra, valid, *, combine, static):
    return total + combine(grads, extra, valid, static)


def accumulate(setup: Setup, make, combine, data, static, n: int, batch_size,
               progress=False, desc="gradient passes") -> np.ndarray:
    """``sum over points i < n of combine(grad f(point_i), extra_i)``, float32 on the host.

    ``make(idx (c,) uint32, data, static) -> (points (c, T, H, W, C), extra)`` builds a
    chunk's points; ``combine(grads, extra, valid (c,), static) -> (T, H, W, C)`` sums their
    terms (``valid`` is 0 on padding rows). Both are module-level functions (jit keys);
    ``static`` is hashable configuration, ``data`` a pytree of arrays.
    """
    size = chunk_size(n, batch_size)
    total = jnp.zeros(setup.video.shape, jnp.float32)
    data = jax.tree_util.tree_map(jnp.asarray, data)
    spread = None if setup.eager else _sharding.plan(size)
    if spread is not None:
        size = spread.rows
        total, data = spread.replicate((total, data))
    with tqdm(total=n, desc=desc, unit="point", disable=scoring.bar_disabled(progress),
              leave=False) as bar:
        for start in range(0, n, size):
            rows = min(size, n - start)
            idx = jnp.asarray(np.minimum(np.arange(start, start + size), n - 1), jnp.uint32)
            valid = jnp.asarray(np.arange(size) < rows, jnp.float32)
            if setup.eager:
                inputs, extra = _points(idx, data, make=make, static=static)
                out, vjp = jax.vjp(setup.f, inputs)
                (grads,) = vjp(jnp.ones_like(out))
                total = _add(total, grads, extra, valid, combine=combine, static=static)
            elif spread is None:
                total = _fused_chunk(total, idx, valid, data, f=setup.f, make=make,
                                     combine=combine, static=static)
            else:
                idx, valid = spread.split_rows((idx, valid), "gradients")
                total = spread.note("gradients", _fused_chunk(
                    total, idx, valid, data, f=setup.f, make=make, combine=combine,
                    static=static))
            bar.update(rows)
    total = np.asarray(total, np.float32)
    if not np.all(np.isfinite(total)):
        raise ScoreFunctionError(f"f: its gradient is NaN or inf at some of the {n} points")
    return total


def sum_valid(grads, extra, valid, static):
    """``combine`` of the plain sum of gradients (IG, SmoothGrad, the gradient itself)."""
    return jnp.tensordot(valid, grads, axes=1)


def channel_map(attributions) -> np.ndarray:
    """Paper 004's display of an input attribution: sum over colour channels of |a|."""
    return np.abs(np.asarray(attributions, np.float32)).sum(-1)


def completeness(attributions, score: float, baseline_score: float) -> dict:
    """Sum of the attributions against ``f(x) - f(baseline)`` (IG's completeness axiom)."""
    total = float(np.sum(attributions, dtype=np.float64))
    difference = float(score) - float(baseline_score)
    gap = total - difference
    relative = abs(gap) / abs(difference) if abs(difference) > 1e-12 else None
    return {"sum": total, "difference": difference, "gap": gap, "relative_gap": relative}


def result(method, setup: Setup, pixel_map, attributions, n_evals, *, weights=None,
           segmentation=None, notes=(), **meta) -> GradientResult:
    """The :class:`GradientResult`, with ``meta["score"]`` and the warnings (``notes``, then
    a map that is 0 everywhere: no signal; a completeness gap above 5%: too few points)."""
    meta = {"score": setup.score, "eager": setup.eager, **meta, "warnings": list(notes)}
    if not np.any(np.asarray(pixel_map)):
        meta["warnings"].append("the map is 0 everywhere (the gradient vanishes, e.g. a "
                                "saturated probability): it carries no signal")
    gap = (meta.get("completeness") or {}).get("relative_gap")
    if gap is not None and gap > COMPLETENESS_TOLERANCE:
        meta["warnings"].append(f"completeness gap {gap:.1%} of f(x) - f(baseline) (> "
                                f"{COMPLETENESS_TOLERANCE:.0%}): use more path points (steps)")
    for message in meta["warnings"]:
        warnings.warn(message, ExplanationWarning, stacklevel=3)
    weights = np.zeros(0, np.float32) if weights is None else weights
    return GradientResult(weights=weights, segmentation=segmentation,
                          map=np.asarray(pixel_map, np.float32), method=method,
                          target=getattr(setup.f, "target", None), n_evals=int(n_evals),
                          meta=meta, attributions=attributions)
