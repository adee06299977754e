"""Evaluation stage: insertion / deletion games and minimal explanation masks.

Deletion (Petsiuk et al., as used by papers 001 and 004) removes the most important units
first and records the score; insertion starts from the removed video and reveals the most
important units first. Units are voxels, 16 x 16 patches per frame (STEP's evaluation code),
or the segments of a :class:`~vidxai.Segmentation`. The curves are scored by the same batched
engine as the explainers, one row per step.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from .errors import ArgumentError, ArgumentTypeError, check_int, check_video, describe
from .removal import Removal, black
from .scoring import run_batches
from .segment import Segmentation

ORDERS = ("morf", "lerf")


@dataclass(frozen=True)
class Curve:
    """A game curve: ``x`` = fraction of voxels inserted (or deleted), ``scores`` at each x.

    ``auc`` is the trapezoid area over the actual ``x`` (STEP's normalised sum when x is
    uniform). Lower deletion AUC and higher insertion AUC mean a better explanation (MoRF).
    """

    game: str
    order: str
    x: np.ndarray
    scores: np.ndarray
    auc: float

    def minimal_fraction(self, thresholds):
        """Smallest x whose score has moved by each threshold (paper 001's minimal mask).

        Deletion: first x with score <= score(0) - delta; insertion: first x with score >=
        score(0) + delta. Returns ``(fractions, reached)``; unreached thresholds report 1.0
        with ``reached`` False (never NaN).
        """
        deltas = check_thresholds(thresholds)
        change = (self.scores[0] - self.scores) if self.game == "deletion" else (self.scores - self.scores[0])
        hit = change[None, :] >= deltas[:, None] - 1e-12
        reached = hit.any(axis=1)
        first = np.where(reached, hit.argmax(axis=1), len(self.x) - 1)
        return np.where(reached, self.x[first], 1.0), reached


def check_thresholds(thresholds) -> np.ndarray:
    """Validate minimal-mask thresholds: finite, non-negative score changes."""
    try:
        deltas = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    except (TypeError, ValueError):
        raise ArgumentTypeError("thresholds", "numbers (score changes)", describe(thresholds))
    if deltas.ndim != 1 or deltas.size == 0 or np.any(deltas < 0) or not np.all(np.isfinite(deltas)):
        raise ArgumentError("thresholds", "finite non-negative score changes", thresholds)
    return deltas


def unit_labels(unit, shape, patch: int = 16):
    """Per-voxel unit ids ``(T, H, W)`` and their count for ``unit`` = pixel/patch/Segmentation."""
    t, h, w = shape
    if isinstance(unit, Segmentation):
        if unit.shape != tuple(shape):
            raise ArgumentError("unit", f"a segmentation of shape {tuple(shape)}", unit.shape)
        return unit.labels, unit.n
    if unit == "pixel":
        return np.arange(t * h * w, dtype=np.int32).reshape(shape), t * h * w
    if unit == "patch":
        nh, nw = -(-h // patch), -(-w // patch)
        ids = (np.arange(t)[:, None, None] * nh + (np.arange(h) // patch)[None, :, None]) * nw
        return (ids + (np.arange(w) // patch)[None, None, :]).astype(np.int32), t * nh * nw
    raise ArgumentError("unit", "'pixel', 'patch' or a Segmentation", repr(unit))


def rank_units(saliency, labels, n_units: int, order: str = "morf"):
    """Rank of every voxel's unit (0 = first to insert/delete) and pixels per ranked unit.

    A unit's importance is its mean saliency (average pooling for patches); ties keep the
    unit order, so the ranking is deterministic.
    """
    flat = labels.ravel()
    counts = np.bincount(flat, minlength=n_units)
    means = np.bincount(flat, weights=saliency.ravel().astype(np.float64), minlength=n_units)
    means = means / np.maximum(counts, 1)
    sequence = np.argsort(-means if order == "morf" else means, kind="stable")
    rank = np.empty(n_units, dtype=np.int32)
    rank[sequence] = np.arange(n_units, dtype=np.int32)
    return rank[labels], counts[sequence]


def _revealed(k, rank_map, static):
    """Masks showing the original where the unit's rank is below ``k`` (insertion), or at or
    above it (deletion, ``static == "deletion"``)."""
    shown = k[:, None, None, None] > rank_map[None]
    if static == "deletion":
        shown = ~shown
    return shown.astype(jnp.float32)


def _game(game, f, video, saliency, steps, unit, removed, order, batch_size, progress, patch):
    if not callable(f):
        raise ArgumentTypeError("f", "a score function (B, T, H, W, C) -> (B,)", describe(f))
    video = check_video(video)
    try:
        saliency = np.asarray(saliency, dtype=np.float32)
    except (TypeError, ValueError):
        raise ArgumentTypeError("saliency", "a numeric (T, H, W) map", describe(saliency))
    if saliency.shape != video.shape[:3]:
        raise ArgumentError("saliency", f"a map of shape {video.shape[:3]}", saliency.shape)
    if not np.all(np.isfinite(saliency)):
        raise ArgumentError("saliency", "finite values", "NaN or inf entries")
    steps = check_int(steps, "steps", minimum=1)
    if order not in ORDERS:
        raise ArgumentError("order", f"one of {ORDERS}", repr(order))
    labels, n_units = unit_labels(unit, video.shape[:3], check_int(patch, "patch", minimum=1))
    rank_map, counts = rank_units(saliency, labels, n_units, order)
    points = min(steps, n_units)
    ks = np.round(np.arange(points + 1) * n_units / points).astype(np.int32)
    x = np.concatenate([[0], np.cumsum(counts)])[ks] / labels.size
    removed = _removed_video(removed, video)
    scores = run_batches(f, video, removed, _revealed, ks, jnp.asarray(rank_map), game,
                         batch_size=batch_size, progress=progress, desc=f"{game} game")
    auc = float(np.trapezoid(scores, x)) if hasattr(np, "trapezoid") else float(np.trapz(scores, x))
    return Curve(game, order, x, scores, auc)


def _removed_video(removed, video):
    if removed is None:
        removed = black()
    if isinstance(removed, Removal):
        return removed.removed(video)
    arr = check_video(removed, "removed")
    if arr.shape != video.shape:
        raise ArgumentError("removed", f"a Removal or a video of shape {video.shape}", arr.shape)
    return arr


def insertion(f, video, saliency, *, steps=128, unit="pixel", removed=None, order="morf",
              batch_size=32, progress=False, patch=16) -> Curve:
    """Insertion game: reveal units of ``video`` over the ``removed`` state, most salient first.

    ``removed`` is a :class:`~vidxai.removal.Removal` (default black) or a video.
    ``order="lerf"`` reveals the least relevant first. Returns the whole :class:`Curve`.
    """
    return _game("insertion", f, video, saliency, steps, unit, removed, order, batch_size,
                 progress, patch)


def deletion(f, video, saliency, *, steps=128, unit="pixel", removed=None, order="morf",
             batch_size=32, progress=False, patch=16) -> Curve:
    """Deletion game: replace units by the ``removed`` state, most salient first."""
    return _game("deletion", f, video, saliency, steps, unit, removed, order, batch_size,
                 progress, patch)


def minimal_mask(f, video, saliency, *, thresholds=(0.1, 0.2, 0.3, 0.4, 0.5), game="deletion",
                 **kwargs):
    """Minimal explanation mask (paper 001, Sec. 5.1): for each confidence change in
    ``thresholds``, the smallest fraction of voxels whose deletion lowers the score (or whose
    insertion raises it) by that much. Returns ``(fractions, reached, curve)``."""
    if game not in ("deletion", "insertion"):
        raise ArgumentError("game", "'deletion' or 'insertion'", repr(game))
    check_thresholds(thresholds)
    curve = (deletion if game == "deletion" else insertion)(f, video, saliency, **kwargs)
    fractions, reached = curve.minimal_fraction(thresholds)
    return fractions, reached, curve
