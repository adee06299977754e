"""Insertion / deletion games and minimal explanation masks.

Deletion (Petsiuk et al., as used by "Local Agnostic Video Explanations: a Study on the
Applicability of Removal-Based Explanations to Video" and "Spatio-Temporal Perturbations for
Video Attribution") removes the most important units first and records the score; insertion
starts from the removed video and reveals the most important units first. Units come from
:mod:`.units`. The curves are scored by the same batched engine as the explainers, one row
per step.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from ..errors import ArgumentTypeError, check_choice, check_int, check_video, describe
from ..removal import Removal, removed_video
from ..scoring import run_batches
from ..segment import Segmentation
from . import _checks
from .units import rank_units, unit_labels

__all__ = ["Curve", "insertion", "deletion", "minimal_mask", "check_thresholds", "ORDERS",
           "GAMES"]

ORDERS = ("morf", "lerf")
GAMES = ("deletion", "insertion")


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
        deltas = _checks.thresholds(thresholds)
        change = (self.scores[0] - self.scores) if self.game == "deletion" else (self.scores - self.scores[0])
        hit = change[None, :] >= deltas[:, None] - 1e-12
        reached = hit.any(axis=1)
        first = np.where(reached, hit.argmax(axis=1), len(self.x) - 1)
        return np.where(reached, self.x[first], 1.0), reached


def check_thresholds(thresholds) -> np.ndarray:
    """Validate minimal-mask thresholds: finite, non-negative score changes."""
    return _checks.thresholds(thresholds)


def _revealed(k, rank_map, static):
    """Masks showing the original where the unit's rank is below ``k`` (insertion), or at or
    above it (deletion, ``static == "deletion"``)."""
    shown = k[:, None, None, None] > rank_map[None]
    if static == "deletion":
        shown = ~shown
    return shown.astype(jnp.float32)


def _trapezoid(y, x) -> float:
    """Trapezoid area of ``y`` over the actual ``x`` (numpy's rule, summed as numpy does)."""
    return float(np.trapezoid(y, x))


def _game(game, f, video, saliency, steps, unit, removed, order, batch_size, progress, patch):
    if not callable(f):
        raise ArgumentTypeError("f", "a score function (B, T, H, W, C) -> (B,)", describe(f))
    video = check_video(video)
    saliency = _checks.saliency_map(saliency, video.shape[:3])
    steps = check_int(steps, "steps", minimum=1)
    check_choice(order, "order", ORDERS)
    labels, n_units = unit_labels(unit, video.shape[:3], check_int(patch, "patch", minimum=1))
    rank_map, counts = rank_units(saliency, labels, n_units, order)
    points = min(steps, n_units)
    ks = np.round(np.arange(points + 1) * n_units / points).astype(np.int32)
    x = np.concatenate([[0], np.cumsum(counts)])[ks] / labels.size
    edge_sigma = removed.edge_sigma if isinstance(removed, Removal) else None
    removed = removed_video(removed, video, unit if isinstance(unit, Segmentation) else None)
    scores = run_batches(f, video, removed, _revealed, ks, jnp.asarray(rank_map), game,
                         batch_size=batch_size, edge_sigma=edge_sigma, progress=progress,
                         desc=f"{game} game")
    return Curve(game, order, x, scores, _trapezoid(scores, x))


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
    check_choice(game, "game", GAMES)
    _checks.thresholds(thresholds)
    curve = (deletion if game == "deletion" else insertion)(f, video, saliency, **kwargs)
    fractions, reached = curve.minimal_fraction(thresholds)
    return fractions, reached, curve
