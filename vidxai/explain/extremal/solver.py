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
from ..errors import (ArgumentError, ArgumentTypeError, ScoreFunctionError, check_choice,
                      check_float, check_int, check_video, describe)
from ..scoring import check_differentiable
from . import _extremal_defaults as defaults
from . import _extremal_opt as optimisation
from . import tis as time_importance_scores
from .extremal_result import ExtremalResult

MAP_SIGMA = defaults.PAPER_SETTINGS["map_sigma"]  # map blur (px) at 112 px (paper 004)
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


def check_stride(stride) -> tuple:
    try:
        stride = tuple(int(k) for k in stride)
    except (TypeError, ValueError):
        raise ArgumentTypeError("kernel_stride", "a (1, S_H, S_W) triple of integers",
                                describe(stride))
    if len(stride) != 3 or min(stride) < 1:
        raise ArgumentError("kernel_stride", "a triple of positive integers", stride)
    return stride


def check_reward(reward, output: str) -> str:
    """``"log"`` (``-log p``) or ``"linear"``; ``None`` picks ``"log"`` for probabilities."""
    if reward is None:
        return "log" if output == "prob" else "linear"
    reward = check_choice(reward, "reward", ("log", "linear"))
    if reward == "log" and output != "prob":
        raise ArgumentError("reward", f"'linear' for output {output!r} (-log needs a "
                            "probability; pass output='prob' if f returns one)", repr(reward))
    return reward


def geometry(shape, seed_stride, sigma, blur_sigma, map_sigma, kernel=False,
             kernel_stride=None):
    """The pixel settings of a run: the user's where given, else derived from the video's
    ``(T, H, W)`` (:mod:`~vidxai.explain._extremal_defaults`); ``kernel=False`` for the
    methods without L_K. Returns ``(settings, derived)``."""
    given = dict(seed_stride=seed_stride, sigma=sigma, blur_sigma=blur_sigma,
                 map_sigma=map_sigma)
    if kernel is not False:
        given.update(kernel=kernel, kernel_stride=kernel_stride)
    settings, derived = defaults.resolve(shape, given)
    settings.update(seed_stride=check_int(settings["seed_stride"], "seed_stride", minimum=1),
                    sigma=check_float(settings["sigma"], "sigma", 0.0, open_low=True),
                    blur_sigma=check_float(settings["blur_sigma"], "blur_sigma", 0.0,
                                           open_low=True),
                    map_sigma=check_float(settings["map_sigma"], "map_sigma", 0.0))
    if kernel is not False:
        settings["kernel"] = check_kernel(settings["kernel"], shape)
        if kernel_stride is None:     # follows the kernel actually used
            settings["kernel_stride"] = derived["kernel_stride"] = defaults.kernel_stride(
                settings["kernel"])
        else:
            settings["kernel_stride"] = check_stride(kernel_stride)
    return settings, derived


def _json(value):
    return list(value) if isinstance(value, tuple) else value


def check_base(base: float, output: str):
    """``Phi(X)`` must be finite (the rewards and the linear reward's scale read it), and a
    probability when ``output="prob"``."""
    if not np.isfinite(base):
        raise ScoreFunctionError(f"f: expected a finite score of the video, got {base}")
    if output == "prob" and not 0.0 <= base <= 1.0:
        raise ArgumentError("output", "'logit' or 'raw' for a score outside [0, 1] "
                            "(output='prob' says f returns a probability)", base)


def prepare(f, video, areas, *, per_frame, iterations, seed_stride, sigma, blur_sigma,
            map_sigma, area_on, mean_area_weight, mean_area_start, lr, optimizer, lambda1,
            lambda1_growth, regularizers, output, reward, reward_scale, kernel=False,
            kernel_stride=None, lambda2=0.0, lambda2_start=0) -> Problem:
    """Validate every argument once, then check ``f`` and score the whole video.
    ``kernel=False``: no L_K (EP-2D, EP-3D, TIEM); ``None``: L_K with the derived kernel."""
    if not callable(f):
        raise ArgumentTypeError("f", "a score function (B, T, H, W, C) -> (B,)", describe(f))
    video = check_video(video)
    areas = check_areas(areas)
    shape = tuple(video.shape[:3])
    settings, derived = geometry(shape, seed_stride, sigma, blur_sigma, map_sigma, kernel,
                                 kernel_stride)
    output = getattr(f, "output", None) if output is None else output
    output = "raw" if output is None else output
    check_choice(output, "output", ("prob", "logit", "raw"))
    reward = check_reward(reward, output)
    check_choice(area_on, "area_on", ("frame", "full", "crop"))
    regularizers = tuple(regularizers)
    if not all(callable(r) for r in regularizers):
        raise ArgumentTypeError("regularizers", "a list of functions mask -> scalar", regularizers)
    if optimizer is None:
        optimizer = optimisation.default_optimizer(check_float(lr, "lr", 0.0, open_low=True))
    if not isinstance(optimizer, optax.GradientTransformation):
        raise ArgumentTypeError("optimizer", "an optax.GradientTransformation", describe(optimizer))
    if reward_scale is not None:
        reward_scale = check_float(reward_scale, "reward_scale", 0.0, open_low=True)
    iterations = check_int(iterations, "iterations", minimum=1)
    mean_area_start = (iterations // 2 if mean_area_start is None
                       else check_int(mean_area_start, "mean_area_start", minimum=0))
    cfg = optimisation.Config(
        shape=shape, seed_stride=settings["seed_stride"], sigma=settings["sigma"],
        max_sigma=settings["blur_sigma"],
        iterations=iterations,
        lambda1=check_float(lambda1, "lambda1", 0.0),
        lambda1_growth=check_float(lambda1_growth, "lambda1_growth", 0.0, open_low=True),
        lambda2=check_float(lambda2, "lambda2", 0.0),
        lambda2_start=check_int(lambda2_start, "lambda2_start", minimum=0),
        kernel=settings.get("kernel"), kernel_stride=settings.get("kernel_stride", (1, 11, 11)),
        per_frame=per_frame, reward=reward, area_on=area_on,
        mean_area_weight=check_float(mean_area_weight, "mean_area_weight", 0.0),
        mean_area_start=mean_area_start, regularizers=regularizers)
    base, eager = check_differentiable(f, video, batch=len(areas))
    check_base(base, output)
    if reward_scale is None:
        scale = 1.0 if reward == "log" else max(abs(base), 1e-12) / LINEAR_REWARD_GAIN
    else:
        scale = 1.0 / reward_scale
    meta = {"iterations": cfg.iterations, "seed_stride": cfg.seed_stride, "sigma": cfg.sigma,
            "blur_sigma": cfg.max_sigma, "map_sigma": settings["map_sigma"],
            "area_on": area_on, "mean_area_weight": cfg.mean_area_weight,
            "mean_area_start": cfg.mean_area_start, "lambda1": cfg.lambda1,
            "lambda1_growth": cfg.lambda1_growth,
            "output": output, "reward": reward, "reward_scale": 1.0 / scale, "eager": eager,
            "derived": {k: _json(v) for k, v in derived.items()}}
    if cfg.kernel is not None:
        meta.update(kernel=list(cfg.kernel), kernel_stride=list(cfg.kernel_stride),
                    lambda2=cfg.lambda2, lambda2_start=cfg.lambda2_start)
    return Problem(video, areas, cfg, optimizer, eager, base, scale, meta)


# ---------------------------------------------------------------------------- the run
def final_map(kept: np.ndarray, sigma: float = MAP_SIGMA) -> np.ndarray:
    """Sum of the area masks, blurred per frame (sigma 10 px at 112 px), divided by its max
    (paper 004)."""
    total = gaussian_filter(jnp.asarray(kept).sum(0), sigma, axes=(1, 2), mode="reflect")
    total = np.asarray(total)
    peak = total.max()
    return total / peak if peak > 0 else total


def solve(method, f, problem: Problem, progress, areas_t=None, *, tis=None, windows=None,
          extra_evals=0, **meta) -> ExtremalResult:
    """Optimise the masks of a validated problem; ``areas_t (A, T)`` for per-frame losses."""
    cfg, n_areas = problem.cfg, len(problem.areas)
    grid = masks.seed_grid_shape(cfg.shape[1:], cfg.seed_stride, cfg.sigma)
    seeds = jnp.ones((n_areas, cfg.shape[0]) + grid, jnp.float32)  # STEP starts from all ones
    pyramid = masks.blur_pyramid(jnp.asarray(problem.video), levels=cfg.levels,
                                 max_sigma=cfg.max_sigma)
    areas = jnp.asarray(problem.areas, jnp.float32)
    per_frame = jnp.repeat(areas[:, None], cfg.shape[0], 1) if areas_t is None else areas_t
    run = optimisation.optimise_eager if problem.eager else optimisation.optimise_jax
    seeds, history = run(f, seeds, pyramid, areas, jnp.asarray(per_frame, jnp.float32), cfg,
                         problem.optimizer, progress=progress, scale=problem.scale)
    check_history(history, problem.areas)
    _, kept = optimisation.masks_from_seeds(seeds, cfg)
    scores = np.asarray(f(masks.apply_pyramid(pyramid, kept)), np.float32)
    kept = np.asarray(kept, np.float32)
    n_evals = cfg.iterations * n_areas + 1 + n_areas + extra_evals
    meta = {**problem.meta, **meta, "kept_area": [float(m.mean()) for m in kept]}
    return ExtremalResult(
        weights=np.zeros(0, np.float32), segmentation=None,
        map=final_map(kept, problem.meta["map_sigma"]), method=method,
        target=getattr(f, "target", None), n_evals=n_evals, meta=meta,
        masks=kept, areas=problem.areas, scores=scores, base_score=problem.base,
        history=history, tis=tis, areas_t=areas_t, windows=windows)


def check_history(history, areas):
    """The objective must stay finite: a NaN or inf reward (the model's score of a masked
    video) would leave the masks meaningless."""
    bad = np.argwhere(~np.isfinite(np.asarray(history)))
    if bad.size:
        it, a = (int(v) for v in bad[0])
        raise ScoreFunctionError(
            f"f: expected finite scores of the masked videos, but the objective became "
            f"{np.asarray(history)[it, a]} at iteration {it} (area {areas[a]}); check the "
            "model for NaN / inf outputs on blurred inputs")


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


def solve_tiem(method, f, problem: Problem, progress, *, alpha, tis, removed, batch_size,
               window_span, negative_drops):
    """TIEM on a validated problem: TIS (computed unless given), per-frame areas, masks."""
    spent, how = 0, {"tis_given": True}
    if tis is None:
        tis = time_importance_scores.scored_time_importance(
            f, problem.video, alpha, removed=removed, batch_size=batch_size, progress=progress,
            window_span=window_span, negative_drops=negative_drops)
        spent, how = tis.n_evals, {"window_span": window_span, "negative_drops": negative_drops}
    tis, windows = check_tis(tis, problem.video.shape[0])
    return solve(method, f, problem, progress, frame_areas(problem.areas, tis), tis=tis,
                 windows=windows, extra_evals=spent, alpha=alpha, **how)
