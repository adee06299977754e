"""The run shared by the extremal methods of :mod:`vidxai.explain.extremal`.

:func:`explain` is every method's body: the method's :data:`SPECS` row says what kind of
objective it is; :func:`prepare` resolves the :class:`~.settings.Settings` (validation and
the values derived from the video), checks that ``f`` is differentiable and scores the whole
video (:func:`vidxai.scoring.check_differentiable`); :func:`solve` optimises the masks
(:mod:`.objective`) and builds the :class:`~.result.ExtremalResult`; :func:`solve_tiem` adds
TIEM's time importance scores (:mod:`.windows`) and per-frame areas (paper 002 Eq. 1-7).
"""
from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
import optax

from ... import masks
from ..._filters import gaussian_filter
from ...errors import ArgumentError, ArgumentTypeError, ScoreFunctionError, describe
from ...scoring import check_differentiable
from . import objective as optimisation
from . import windows
from .result import ExtremalResult, TimeImportance
from .settings import LINEAR_REWARD_GAIN, MAP_SIGMA, Settings, check_base

__all__ = ["Spec", "SPECS", "explain", "prepare", "solve", "solve_tiem", "final_map"]


class Spec(NamedTuple):
    """What kind of objective a method optimises."""

    label: str        # ExtremalResult.method
    per_frame: bool   # per-frame sorted area losses (paper 002 Eq. 7) instead of the volume's
    kernel: bool      # STEP's L_K (paper 004 Eq. 7-10)
    tis: bool         # TIEM's per-frame areas from the time importance scores

    @property
    def groups(self) -> tuple:
        """The :class:`~.settings.Settings` groups the method takes."""
        return ("areas", "base") + ("tis",) * self.tis + ("kernel",) * self.kernel


SPECS = {"ep2d": Spec("ep2d", True, False, False), "ep3d": Spec("ep3d", False, False, False),
         "step": Spec("step", False, True, False), "tiem": Spec("tiem", True, False, True),
         "tiem_lk": Spec("tiem+lk", True, True, True)}


class Problem(NamedTuple):
    """The resolved settings of one run, the base score ``Phi(X)`` and the run's meta."""

    video: np.ndarray
    settings: Settings
    cfg: optimisation.Config
    optimizer: optax.GradientTransformation
    eager: bool
    base: float
    scale: float       # the reward is divided by it (1 / reward_scale)
    meta: dict

    @property
    def areas(self) -> tuple:
        return self.settings.areas


def prepare(f, video, settings: Settings, spec: Spec) -> Problem:
    """Resolve ``settings`` for ``video`` (every argument validated once), then check ``f``
    and score the whole video."""
    video, settings, derived = settings.resolve(f, video, kernel=spec.kernel, tis=spec.tis)
    cfg = optimisation.Config.of(settings, video.shape[:3], spec.per_frame)
    base, eager = check_differentiable(f, video, batch=len(settings.areas))
    check_base(base, settings.output)
    if settings.reward_scale is None:
        scale = 1.0 if settings.reward == "log" else max(abs(base), 1e-12) / LINEAR_REWARD_GAIN
    else:
        scale = 1.0 / settings.reward_scale
    meta = settings.meta(derived, eager=eager, reward_scale=1.0 / scale)
    return Problem(video, settings, cfg, settings.optimizer, eager, base, scale, meta)


def explain(name: str, f, video, settings: Settings) -> ExtremalResult:
    """Run the method ``name`` (a key of :data:`SPECS`) with ``settings``."""
    spec = SPECS[name]
    problem = prepare(f, video, settings, spec)
    if spec.tis:
        return solve_tiem(spec.label, f, problem)
    same_area = None
    if spec.per_frame:      # EP-2D: every frame keeps the area
        same_area = np.repeat(np.asarray(problem.areas, np.float32)[:, None],
                              problem.cfg.shape[0], 1)
    return solve(spec.label, f, problem, same_area)


# ---------------------------------------------------------------------------- the run
def final_map(kept: np.ndarray, sigma: float = MAP_SIGMA) -> np.ndarray:
    """Sum of the area masks, blurred per frame (sigma 10 px at 112 px), divided by its max
    (paper 004)."""
    total = gaussian_filter(jnp.asarray(kept).sum(0), sigma, axes=(1, 2), mode="reflect")
    total = np.asarray(total)
    peak = total.max()
    return total / peak if peak > 0 else total


def solve(method, f, problem: Problem, areas_t=None, *, tis=None, windows=None,
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
                         problem.optimizer, progress=problem.settings.progress,
                         scale=problem.scale)
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
    if isinstance(tis, TimeImportance):
        windows, tis = np.asarray(tis.windows, np.float32), tis.tis
    try:
        tis = np.asarray(tis, np.float32)
    except (TypeError, ValueError):
        raise ArgumentTypeError("tis", f"({t},) time importance scores", describe(tis))
    if tis.shape != (t,) or not np.all(np.isfinite(tis)) or tis.min() < 0 or tis.sum() <= 0:
        raise ArgumentError("tis", f"({t},) non-negative finite scores with a positive sum",
                            describe(tis))
    return tis / tis.sum(), windows


def solve_tiem(method, f, problem: Problem):
    """TIEM on a resolved problem: TIS (computed unless given), per-frame areas, masks."""
    s = problem.settings
    spent, how = 0, {"tis_given": True}
    tis = s.tis
    if tis is None:
        tis = windows.scored_time_importance(
            f, problem.video, s.alpha, removed=s.removed, batch_size=s.batch_size,
            progress=s.progress, window_span=s.window_span, negative_drops=s.negative_drops)
        spent, how = tis.n_evals, {"window_span": s.window_span,
                                   "negative_drops": s.negative_drops}
    tis, found = check_tis(tis, problem.video.shape[0])
    return solve(method, f, problem, frame_areas(problem.areas, tis), tis=tis, windows=found,
                 extra_evals=spent, alpha=s.alpha, **how)
