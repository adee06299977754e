"""ROAD for video: remove voxels by rank, impute them, score (protocol ``"road"``).

"A Consistent and Efficient Evaluation Strategy for Attribution Methods" (Rong, Leemann,
Borisov, Kasneci, Kasneci; ICML 2022): removing pixels by painting them a constant leaks the
shape of the removed set (the model can read the mask itself), so ROAD ("RemOve And Debias")
replaces them by noisy linear imputation, which keeps the removed set hard to detect, and
records the score at a fixed list of removal fractions in two orders:

* MoRF (most relevant first): remove the top ``p`` of the voxels; a faithful map makes the
  score fall fast (lower is better);
* LeRF (least relevant first): remove the bottom ``p``; the score should stay high (higher
  is better).

Fractions: ROAD's experiments and released code use 10%, 20%, ..., 90%
(:data:`ROAD_FRACTIONS`). Voxels are ranked by the map ``(T, H, W)`` (all channels of a
voxel move together; ties broken by raster order, stable), ``round(p * T * H * W)`` voxels are
removed at fraction ``p``. The imputation is :func:`vidxai.removal.imputation` (6 or 26
spatio-temporal neighbours, noise 0.01 by default, as ROAD's code); each step's solve is
warm-started from the previous step's solution (one compiled solver for all steps of a
video shape, the video moved to the device once), and its relative residual is reported. With
``T = 1`` it is ROAD's 2-D setting. The summary numbers are the mean score over the fractions
per order, and ``gap = LeRF - MoRF`` (larger is better), ROAD's recommended combination of the
two orders.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from .._imputation import TOL, fill, settings as imputation_settings
from ..errors import ArgumentError, ScoreFunctionError, check_choice, check_int, check_key, \
    check_video, describe
from . import _checks

__all__ = ["ROAD_FRACTIONS", "ROAD_ORDERS", "RoadCurve", "RoadResult", "road", "removal_masks"]

ROAD_FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
ROAD_ORDERS = ("morf", "lerf")


@dataclass(frozen=True)
class RoadCurve:
    """One ROAD curve: ``scores[i]`` of the video with ``fractions[i]`` of its voxels removed
    in ``order`` and imputed; ``residuals[i]`` the imputation's relative CG residual;
    ``value`` the mean score over the fractions."""

    order: str
    fractions: np.ndarray
    scores: np.ndarray
    residuals: np.ndarray

    @property
    def value(self) -> float:
        return float(np.mean(self.scores))


@dataclass(frozen=True)
class RoadResult:
    """Both orders' curves (``curves[order]``), the unperturbed ``score`` and the settings."""

    curves: dict
    score: float
    settings: dict = field(default_factory=dict)

    @property
    def gap(self) -> float | None:
        """Mean LeRF score minus mean MoRF score (``None`` unless both were computed)."""
        if not all(o in self.curves for o in ROAD_ORDERS):
            return None
        return self.curves["lerf"].value - self.curves["morf"].value

    def rows(self) -> list[dict]:
        """Tidy rows ``{"order", "fraction", "score", "residual"}``, one per curve point."""
        return [{"order": c.order, "fraction": float(p), "score": float(s), "residual": float(r)}
                for c in self.curves.values()
                for p, s, r in zip(c.fractions, c.scores, c.residuals)]


def _fractions(values) -> np.ndarray:
    arr = _checks.real_array(values, "fractions", "(L,)")
    if arr.ndim != 1 or np.any(arr <= 0) or np.any(arr >= 1) or np.any(np.diff(arr) <= 0):
        raise ArgumentError("fractions", "increasing fractions strictly inside (0, 1)",
                            describe(values))
    return arr


def removal_masks(saliency, fractions, order: str) -> np.ndarray:
    """Boolean ``(L, T, H, W)``: the voxels removed at each fraction (see the module)."""
    check_choice(order, "order", ROAD_ORDERS)
    sal = np.asarray(saliency, np.float32)
    flat = sal.ravel()
    rank = np.argsort(-flat if order == "morf" else flat, kind="stable")
    position = np.empty(flat.size, np.int64)
    position[rank] = np.arange(flat.size)
    counts = np.rint(np.asarray(fractions) * flat.size).astype(np.int64)
    return (position[None, :] < counts[:, None]).reshape((len(counts),) + sal.shape)


def _scores(f, batch) -> np.ndarray:
    out = np.asarray(f(jnp.asarray(batch)))
    if out.shape != (len(batch),):
        raise ScoreFunctionError(f"f: expected scores of shape ({len(batch)},), got {out.shape}")
    if not np.all(np.isfinite(out)):
        raise ScoreFunctionError("f: non-finite scores on the imputed videos")
    return out.astype(np.float64)


def road(f, video, saliency, *, key, fractions=ROAD_FRACTIONS, orders=ROAD_ORDERS,
         neighbours: int = 6, noise: float = 0.01, batch_size: int = 8, tol: float = TOL,
         maxiter: int = 2000) -> RoadResult:
    """ROAD MoRF / LeRF curves of ``saliency`` on ``video`` (see the module docstring).

    Args:
      f: score function ``(B, T, H, W, C) -> (B,)``.
      video: float ``(T, H, W, C)`` in [0, 1].
      saliency: ``(T, H, W)`` map (or an Explanation, whose ``map`` is used).
      key: ``jax.random`` key for the imputation noise (step ``i`` of order ``j`` uses
        ``fold_in(fold_in(key, j), i)``).
      fractions: increasing removal fractions in (0, 1); default ROAD's 10%..90%.
      orders: any of ``"morf"``, ``"lerf"``.
      neighbours, noise, tol, maxiter: the imputation's (:func:`vidxai.removal.imputation`).
      batch_size: imputed videos scored per call of ``f``.

    Returns a :class:`RoadResult`; its ``rows()`` are the study's tidy rows.
    """
    video = check_video(video)
    key = check_key(key)
    sal = _checks.saliency_map(getattr(saliency, "map", saliency), video.shape[:3])
    fracs = _fractions(fractions)
    if isinstance(orders, str) or not orders:
        raise ArgumentError("orders", "a non-empty tuple of 'morf' / 'lerf'", repr(orders))
    for o in orders:
        check_choice(o, "orders", ROAD_ORDERS)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    noise, tol, maxiter = imputation_settings(neighbours, noise, tol, maxiter)
    on_device = jnp.asarray(video)          # checked and copied once, not per step
    curves = {}
    for j, order in enumerate(orders):
        masks = removal_masks(sal, fracs, order)
        videos, residuals, start = [], [], None
        scores = []
        for i, mask in enumerate(masks):
            step_key = jax.random.fold_in(jax.random.fold_in(key, j), i)
            done = fill(on_device, mask, start, neighbours=int(neighbours), noise=noise,
                        key=step_key, tol=tol, maxiter=maxiter)
            start = done.solution
            videos.append(done.video)
            residuals.append(done.residual)
            if len(videos) == batch_size:
                scores.append(_scores(f, np.stack(videos)))
                videos = []
        if videos:
            scores.append(_scores(f, np.stack(videos)))
        curves[order] = RoadCurve(order, fracs.copy(), np.concatenate(scores),
                                  np.asarray(residuals))
    base = float(_scores(f, video[None])[0])
    settings = {"protocol": "road", "neighbours": int(neighbours), "noise": float(noise),
                "fractions": fracs.tolist()}
    return RoadResult(curves, base, settings)
