"""Validation and the run shared by the extremal methods of :mod:`vidxai.explain.extremal`.

:func:`prepare` validates every argument once (the public functions call nothing else that
validates), checks that ``f`` is differentiable and scores the whole video
(:func:`vidxai.scoring.check_differentiable`); :func:`solve`
optimises the masks (:mod:`vidxai.explain._extremal_opt`) and builds the
:class:`~vidxai.explain.extremal_result.ExtremalResult`; :func:`solve_tiem` adds TIEM's
time importance scores and per-frame areas (paper 002 Eq. 1-7).
"""
from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
import optax

from .. import masks
from .._filters import gaussian_filter
from ..errors import (ArgumentError, ArgumentTypeError, check_float, check_int, check_video,
                      describe)
from ..scoring import check_differentiable
from . import _extremal_opt as optimisation
from . import tis as time_importance_scores
from .extremal_result import ExtremalResult

MAP_SIGMA = 10.0           # Gaussian blur (px) of the summed masks (paper 004's map)
LINEAR_REWARD_GAIN = 10.0  # linear reward in units of |Phi(X)| / 10 (extremal's docstring)


def check_areas(areas) -> tuple:
    try:
        items = tuple(float(a) for a in np.atleast_1d(np.asarray(areas, dtype=float)))
    except (TypeError, ValueError):
        raise ArgumentTypeError("areas", "a sequence of numbers in (0, 1)", describe(areas))
    if not items:
        raise ArgumentError("areas", "at least one area in (0, 1)", areas)
    for a in items:
        if not 0.0 < a < 1.0:
            raise ArgumentError("areas", "areas strictly inside (0, 1)", areas)
    return items


def check_kernel(kernel, shape):
    if kernel is None:
        return None
    try:
        kernel = tuple(int(k) for k in kernel)
    except (TypeError, ValueError):
        raise ArgumentTypeError("kernel", "a (T_K, H_K, W_K) triple of integers", describe(kernel))
    if len(kernel) != 3 or min(kernel) < 1:
        raise ArgumentError("kernel", "a (T_K, H_K, W_K) triple of positive integers", kernel)
    if any(k > n for k, n in zip(kernel, shape)):
        raise ArgumentError("kernel", f"a kernel no larger than the video {tuple(shape)}", kernel)
    masks.ellipsoid_kernel(*kernel)
    return kernel


class Problem(NamedTuple):
    """The validated arguments of one run, the base score ``Phi(X)`` and the run's meta."""

    video: np.ndarray
    areas: tuple
    cfg: optimisation.Config
    optimizer: optax.GradientTransformation
    eager: bool
    base: float
    scale: float       # the reward is divided by it (1 / reward_scale)
    meta: dict


def prepare(f, video, areas, *, per_frame, iterations, seed_stride, sigma, lr, optimizer,
            lambda1, lambda1_growth, regularizers, output, reward_scale, kernel=None,
            lambda2=0.0, lambda2_start=0) -> Problem:
    """Validate every argument once, then check ``f`` and score the whole video."""
    if not callable(f):
        raise ArgumentTypeError("f", "a score function (B, T, H, W, C) -> (B,)", describe(f))
    video = check_video(video)
    areas = check_areas(areas)
    shape = tuple(video.shape[:3])
    kernel = check_kernel(kernel, shape)
    output = getattr(f, "output", None) if output is None else output
    output = "raw" if output is None else output
    if output not in ("prob", "logit", "raw"):
        raise ArgumentError("output", "one of 'prob', 'logit', 'raw'", repr(output))
    regularizers = tuple(regularizers)
    if not all(callable(r) for r in regularizers):
        raise ArgumentTypeError("regularizers", "a list of functions mask -> scalar", regularizers)
    if optimizer is None:
        optimizer = optimisation.default_optimizer(check_float(lr, "lr", 0.0, open_low=True))
    if not isinstance(optimizer, optax.GradientTransformation):
        raise ArgumentTypeError("optimizer", "an optax.GradientTransformation", describe(optimizer))
    if reward_scale is not None:
        reward_scale = check_float(reward_scale, "reward_scale", 0.0, open_low=True)
    cfg = optimisation.Config(
        shape=shape, seed_stride=check_int(seed_stride, "seed_stride", minimum=1),
        sigma=check_float(sigma, "sigma", 0.0, open_low=True),
        iterations=check_int(iterations, "iterations", minimum=1),
        lambda1=check_float(lambda1, "lambda1", 0.0),
        lambda1_growth=check_float(lambda1_growth, "lambda1_growth", 0.0, open_low=True),
        lambda2=check_float(lambda2, "lambda2", 0.0),
        lambda2_start=check_int(lambda2_start, "lambda2_start", minimum=0), kernel=kernel,
        per_frame=per_frame, reward="log" if output == "prob" else "linear",
        regularizers=regularizers)
    base, eager = check_differentiable(f, video, batch=len(areas))
    if reward_scale is None:
        scale = 1.0 if output == "prob" else max(abs(base), 1e-12) / LINEAR_REWARD_GAIN
    else:
        scale = 1.0 / reward_scale
    meta = {"iterations": cfg.iterations, "seed_stride": cfg.seed_stride, "sigma": cfg.sigma,
            "lambda1": cfg.lambda1, "lambda1_growth": cfg.lambda1_growth, "output": output,
            "reward_scale": 1.0 / scale, "eager": eager}
    if kernel is not None:
        meta.update(kernel=kernel, lambda2=cfg.lambda2, lambda2_start=cfg.lambda2_start)
    return Problem(video, areas, cfg, optimizer, eager, base, scale, meta)


# ---------------------------------------------------------------------------- the run
def final_map(kept: np.ndarray) -> np.ndarray:
    """Sum of the area masks, blurred per frame (sigma 10 px), divided by its max (paper 004)."""
    total = gaussian_filter(jnp.asarray(kept).sum(0), MAP_SIGMA, axes=(1, 2), mode="reflect")
    total = np.asarray(total)
    peak = total.max()
    return total / peak if peak > 0 else total


def solve(method, f, problem: Problem, progress, areas_t=None, *, tis=None, windows=None,
          extra_evals=0, **meta) -> ExtremalResult:
    """Optimise the masks of a validated problem; ``areas_t (A, T)`` for per-frame losses."""
    cfg, n_areas = problem.cfg, len(problem.areas)
    grid = masks.seed_grid_shape(cfg.shape[1:], cfg.seed_stride, cfg.sigma)
    seeds = jnp.ones((n_areas, cfg.shape[0]) + grid, jnp.float32)  # STEP starts from all ones
    pyramid = masks.blur_pyramid(jnp.asarray(problem.video))
    areas = jnp.asarray(problem.areas, jnp.float32)
    per_frame = jnp.repeat(areas[:, None], cfg.shape[0], 1) if areas_t is None else areas_t
    run = optimisation.optimise_eager if problem.eager else optimisation.optimise_jax
    seeds, history = run(f, seeds, pyramid, areas, jnp.asarray(per_frame, jnp.float32), cfg,
                         problem.optimizer, progress=progress, scale=problem.scale)
    _, kept = optimisation.masks_from_seeds(seeds, cfg)
    scores = np.asarray(f(masks.apply_pyramid(pyramid, kept)), np.float32)
    kept = np.asarray(kept, np.float32)
    n_evals = cfg.iterations * n_areas + 1 + n_areas + extra_evals
    return ExtremalResult(
        weights=np.zeros(0, np.float32), segmentation=None, map=final_map(kept), method=method,
        target=getattr(f, "target", None), n_evals=n_evals, meta={**problem.meta, **meta},
        masks=kept, areas=problem.areas, scores=scores, base_score=problem.base,
        history=history, tis=tis, areas_t=areas_t, windows=windows)


def frame_areas(areas, tis) -> np.ndarray:
    """Per-frame areas ``(A, T)``: ``a * l_t * T`` clipped to [0, 1] (paper 002 Eq. 7)."""
    t = tis.shape[0]
    return np.clip(np.asarray(areas, np.float32)[:, None] * tis[None, :] * t, 0.0, 1.0)


def check_tis(tis, t: int):
    """``(tis summing to 1, windows or None)`` from a ``TimeImportance`` or a ``(T,)`` array."""
    windows = None
    if isinstance(tis, time_importance_scores.TimeImportance):
        windows, tis = np.asarray(tis.windows, np.float32), tis.tis
    try:
        tis = np.asarray(tis, np.float32)
    except (TypeError, ValueError):
        raise ArgumentTypeError("tis", f"({t},) time importance scores", describe(tis))
    if tis.shape != (t,) or not np.all(np.isfinite(tis)) or tis.min() < 0 or tis.sum() <= 0:
        raise ArgumentError("tis", f"({t},) non-negative finite scores with a positive sum",
                            describe(tis))
    return tis / tis.sum(), windows


def solve_tiem(method, f, problem: Problem, progress, *, alpha, tis, removed, batch_size):
    """TIEM on a validated problem: TIS (computed unless given), per-frame areas, masks."""
    spent = 0
    if tis is None:
        tis = time_importance_scores.scored_time_importance(
            f, problem.video, alpha, removed=removed, batch_size=batch_size, progress=progress)
        spent = tis.n_evals
    tis, windows = check_tis(tis, problem.video.shape[0])
    return solve(method, f, problem, progress, frame_areas(problem.areas, tis), tis=tis,
                 windows=windows, extra_evals=spent, alpha=alpha)
