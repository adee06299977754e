"""Insertion / deletion games, their areas, and minimal explanation masks.

Deletion (Petsiuk et al., as used by "Local Agnostic Video Explanations: a Study on the
Applicability of Removal-Based Explanations to Video" (paper 001) and "Spatio-Temporal
Perturbations for Video Attribution" (paper 004), Eq. 12-18) removes the most important units
first and records the score; insertion starts from the removed video and reveals the most
important units first. Units and their ranking come from :mod:`.units`; the curves are scored
by the same batched engine as the explainers, one row per distinct step.

Schedules (which numbers of units the curve visits):

* ``"units"``: ``steps`` steps uniform in the number of units, ``k_i = round(i n / L)``
  (paper 004's code);
* ``"levels"``: paper 001's code: the unit importances are stretched to [0, 1] and the step
  ``i`` of ``L = steps`` moves every unit whose stretched value is at least ``1 - i / L``
  (``0 < i < L``), the first point moving nothing and the last everything; ``x`` is then
  not uniform and tied units always move together.

Ties (units of equal importance) under the ``"units"`` schedule:

* ``"stable"``: ties keep the unit (raster) order, so a tie group may be cut anywhere;
* ``"group"``: a tie group never splits (paper 004's strict-inequality split, Sec. IV-A):
  each target ``k_i`` moves to the nearest end of a tie group (the lower one when both are
  as near), so every point of the curve lies at a tie-group boundary;
* ``"random"``: the expected curve over uniformly random orders inside each tie group. When
  ``k_i`` falls inside a group ``G = [a, b)``, ``j = k_i - a`` of its units are moved, a
  uniformly random subset. For a score that is additive over the units of ``G`` (any score
  linear in the input, hence in the mask, e.g. a linear model) the expected score of that
  subset is exactly ``s(a) + (j / |G|) (s(b) - s(a))``: each unit is in the subset with
  probability ``j / |G|``. We DEFINE the ``"random"`` curve as this linear interpolation
  between the two whole-group states, and ``x`` likewise (the expected voxel fraction, exact
  for any model). It is the exact expected curve (and so, by linearity, the exact expected
  area under either AUC rule) for scores additive within tie groups; for other models it is
  the straight line between two states the model really saw, computed without sampling. It
  evaluates the model only at tie-group boundaries.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import jax.numpy as jnp
import numpy as np

from ..errors import (ArgumentError, ArgumentTypeError, check_choice, check_int, check_video,
                      describe)
from ..removal import Removal, removed_video
from ..scoring import run_batches
from ..segment import Segmentation
from . import _checks
from .units import tie_boundaries, unit_labels, unit_values

__all__ = ["Curve", "insertion", "deletion", "games", "minimal_mask", "auc", "check_thresholds",
           "ORDERS", "GAMES", "TIES", "SCHEDULES", "AUC_RULES", "LEVELS"]

ORDERS = ("morf", "lerf")
GAMES = ("deletion", "insertion")
TIES = ("stable", "group", "random")
SCHEDULES = ("units", "levels")
AUC_RULES = ("trapezoid", "right")
LEVELS = ("change", "absolute")


@dataclass(frozen=True)
class Curve:
    """A game curve: ``x`` = fraction of voxels inserted (or deleted), ``scores`` at each x.

    ``auc`` is the trapezoid area over the actual ``x`` (paper 001's code; paper 004's
    normalised sum when x is uniform; :func:`auc` integrates over uniform steps instead).
    Lower deletion AUC and higher insertion AUC mean a better explanation (MoRF).
    ``units``: fraction of units moved at each point; ``ties`` and ``schedule`` as computed.
    """

    game: str
    order: str
    x: np.ndarray
    scores: np.ndarray
    auc: float
    units: np.ndarray | None = None
    ties: str = "stable"
    schedule: str = "units"
    meta: dict = field(default_factory=dict)

    def minimal_fraction(self, thresholds, levels: str = "change"):
        """Smallest x at which the score has moved far enough (paper 001's minimal mask).

        ``levels="change"`` (paper 001's text): deletion: first x with score <= score(0) -
        delta; insertion: first x with score >= score(0) + delta. ``levels="absolute"`` (its
        code): the thresholds are score levels: deletion: first x with score <= level;
        insertion: first x with score >= level. Returns ``(fractions, reached)``; unreached
        thresholds report 1.0 with ``reached`` False (never NaN).
        """
        deltas = _checks.thresholds(thresholds)
        check_choice(levels, "levels", LEVELS)
        s = np.asarray(self.scores, np.float64)
        if levels == "change":
            change = (s[0] - s) if self.game == "deletion" else (s - s[0])
            hit = change[None, :] >= deltas[:, None] - 1e-12
        elif self.game == "deletion":
            hit = s[None, :] <= deltas[:, None] + 1e-12
        else:
            hit = s[None, :] >= deltas[:, None] - 1e-12
        reached = hit.any(axis=1)
        first = np.where(reached, hit.argmax(axis=1), len(self.x) - 1)
        return np.where(reached, self.x[first], 1.0), reached


def check_thresholds(thresholds) -> np.ndarray:
    """Validate minimal-mask thresholds: finite, non-negative score changes or levels."""
    return _checks.thresholds(thresholds)


def auc(curves, rule: str = "trapezoid"):
    """Area under curves sampled at uniform steps: ``(..., L + 1) -> (...)`` (float64).

    ``rule="trapezoid"``: ``(sum - first / 2 - last / 2) / L``, paper 004's code
    (``CausalMetric``); ``rule="right"``: ``(1 / L) sum_{l=1..L} s_l``, the right sum without
    step 0 of paper 004's Eq. 19. ``curves`` is an array, a :class:`Curve` or a list of equally
    long curves (their ``scores``); a scalar comes back as a Python float.
    """
    check_choice(rule, "rule", AUC_RULES)
    if isinstance(curves, Curve):
        curves = curves.scores
    elif isinstance(curves, (list, tuple)) and curves and all(isinstance(c, Curve) for c in curves):
        if len({len(c.scores) for c in curves}) != 1:
            raise ArgumentError("curves", "curves of equal length", [len(c.scores) for c in curves])
        curves = np.stack([c.scores for c in curves])
    arr = _checks.real_array(curves, "curves", "(..., L + 1)")
    if arr.ndim < 1 or arr.shape[-1] < 2:
        raise ArgumentError("curves", "an array (..., L + 1) with at least 2 points per curve",
                            describe(arr))
    steps = arr.shape[-1] - 1
    if rule == "trapezoid":
        area = (arr.sum(axis=-1) - 0.5 * arr[..., 0] - 0.5 * arr[..., -1]) / steps
    else:
        area = arr[..., 1:].sum(axis=-1) / steps
    return float(area) if area.ndim == 0 else area


def _trapezoid(y, x) -> float:
    """Trapezoid area of ``y`` over the actual ``x`` (numpy's rule)."""
    return float(np.trapezoid(y, x))


def _level_counts(sorted_values, steps: int, order: str) -> np.ndarray:
    """Paper 001's code schedule: units moved at each of ``steps + 1`` stretched levels."""
    v = np.asarray(sorted_values, np.float64)
    lo, hi = v.min(), v.max()
    s = (v - lo) / (hi - lo) if hi > lo else np.zeros_like(v)
    if order == "lerf":
        s = 1.0 - s
    levels = 1.0 - np.arange(1, steps) / steps
    inner = (s[None, :] >= levels[:, None] - 1e-12).sum(axis=1)  # s is descending
    return np.concatenate([[0], inner, [v.size]]).astype(np.int64)


def _schedule(sorted_values, steps: int, order: str, ties: str, schedule: str):
    """Unit counts to score, and how to turn their scores into the curve's points.

    Returns ``(counts, lo, hi, weight)``: point ``i`` is ``(1 - w_i) s(lo_i) + w_i s(hi_i)``
    with ``lo``/``hi`` indices into ``counts`` (``w = 0`` except inside a random tie group).
    """
    n = len(sorted_values)
    if schedule == "levels":
        if ties != "group":
            raise ArgumentError("ties", "'group' with schedule='levels' (level thresholds never "
                                "split a tie group)", repr(ties))
        targets = _level_counts(sorted_values, steps, order)
        return targets, np.arange(targets.size), np.arange(targets.size), np.zeros(targets.size)
    points = min(steps, n)
    targets = np.round(np.arange(points + 1) * n / points).astype(np.int64)
    if ties == "stable":
        return targets, np.arange(points + 1), np.arange(points + 1), np.zeros(points + 1)
    bounds = tie_boundaries(sorted_values)
    above = np.searchsorted(bounds, targets, side="left")      # bounds[above] >= target
    below = np.where(bounds[np.minimum(above, bounds.size - 1)] == targets, above, above - 1)
    a, b = bounds[below], bounds[above]
    if ties == "group":
        snapped = np.where(targets - a <= b - targets, a, b)
        return snapped, np.arange(points + 1), np.arange(points + 1), np.zeros(points + 1)
    weight = np.where(b > a, (targets - a) / np.maximum(b - a, 1), 0.0)
    counts, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
    return counts, inverse[: points + 1], inverse[points + 1:], weight


def _revealed_of(params, ranks, static):
    """Masks for rows ``(map index, units shown)`` over stacked rank maps ``(M, T, H, W)``:
    the original where the row's map ranks the unit below the count (insertion), or at or
    above it (deletion)."""
    shown = params[:, 1][:, None, None, None] > ranks[params[:, 0]]
    if static == "deletion":
        shown = ~shown
    return shown.astype(jnp.float32)


class _Plan:
    """One map's game: the unit counts to score and how their scores become the curve."""

    def __init__(self, saliency, labels, n_units, *, steps, order, ties, schedule, aggregate):
        values, sizes = unit_values(saliency, labels, n_units, aggregate)
        sequence = np.argsort(-values if order == "morf" else values, kind="stable")
        rank = np.empty(n_units, dtype=np.int32)
        rank[sequence] = np.arange(n_units, dtype=np.int32)
        self.rank_map = rank[labels]
        self.counts, self.lo, self.hi, self.weight = _schedule(values[sequence], steps, order,
                                                               ties, schedule)
        self.voxels = np.concatenate([[0], np.cumsum(sizes[sequence])])[self.counts] / labels.size
        self.unique, self.inverse = np.unique(self.counts, return_inverse=True)
        self.n_units, self.random = n_units, ties == "random" and schedule == "units"

    def curve(self, game, order, ties, schedule, scored_unique) -> Curve:
        scored = scored_unique[self.inverse]
        lo, hi, counts = self.lo, self.hi, self.counts
        if self.random:
            w = self.weight.astype(np.float64)
            scores = (1 - w) * scored[lo].astype(np.float64) + w * scored[hi]
            x = (1 - w) * self.voxels[lo] + w * self.voxels[hi]
            moved = ((1 - w) * counts[lo] + w * counts[hi]) / self.n_units
        else:
            scores, x, moved = scored[lo], self.voxels[lo], counts[lo] / self.n_units
        meta = {"n_units": int(self.n_units), "model_calls": int(self.unique.size)}
        return Curve(game, order, x, scores, _trapezoid(scores, x), moved, ties, schedule, meta)


def games(game, f, video, saliencies, *, steps=128, unit="pixel", removed=None, order="morf",
          batch_size=32, progress=False, patch=16, cells=16, aggregate="mean", ties="stable",
          schedule="units", split_frames=False) -> list[Curve]:
    """The ``game`` curve of each map of ``saliencies`` (a sequence of ``(T, H, W)`` maps)
    on one video, scored in ONE pass of the evaluation engine: the rows of every map share
    the fixed-size chunks, so comparing M methods costs the rows, not M partly empty last
    chunks. Arguments as :func:`insertion`; the curves equal M separate calls."""
    if not callable(f):
        raise ArgumentTypeError("f", "a score function (B, T, H, W, C) -> (B,)", describe(f))
    video = check_video(video)
    if isinstance(saliencies, np.ndarray) and saliencies.ndim == 3:
        raise ArgumentError("saliencies", "a sequence of (T, H, W) maps (use insertion / "
                            "deletion for one)", describe(saliencies))
    maps = [_checks.saliency_map(s, video.shape[:3]) for s in saliencies]
    if not maps:
        raise ArgumentError("saliencies", "at least one map", "none")
    steps = check_int(steps, "steps", minimum=1)
    check_choice(order, "order", ORDERS)
    check_choice(ties, "ties", TIES)
    check_choice(schedule, "schedule", SCHEDULES)
    labels, n_units = unit_labels(unit, video.shape[:3], patch, cells, bool(split_frames))
    plans = [_Plan(m, labels, n_units, steps=steps, order=order, ties=ties, schedule=schedule,
                   aggregate=aggregate) for m in maps]
    rows = np.concatenate([np.stack([np.full(p.unique.size, i), p.unique], axis=1)
                           for i, p in enumerate(plans)]).astype(np.int32)
    edge_sigma = removed.edge_sigma if isinstance(removed, Removal) else None
    removed = removed_video(removed, video, unit if isinstance(unit, Segmentation) else None)
    ranks = jnp.asarray(np.stack([p.rank_map for p in plans]))
    scored = run_batches(f, video, removed, _revealed_of, rows, ranks, game,
                         batch_size=batch_size, edge_sigma=edge_sigma, progress=progress,
                         desc=f"{game} game")
    splits = np.cumsum([p.unique.size for p in plans])[:-1]
    return [p.curve(game, order, ties, schedule, part)
            for p, part in zip(plans, np.split(scored, splits))]


def _game(game, f, video, saliency, **kwargs) -> Curve:
    return games(game, f, video, [saliency], **kwargs)[0]


def insertion(f, video, saliency, *, steps=128, unit="pixel", removed=None, order="morf",
              batch_size=32, progress=False, patch=16, cells=16, aggregate="mean",
              ties="stable", schedule="units", split_frames=False) -> Curve:
    """Insertion game: reveal units of ``video`` over the ``removed`` state, most salient first.

    ``removed`` is a :class:`~vidxai.removal.Removal` (default black) or a video.
    ``order="lerf"`` reveals the least relevant first. ``unit``: ``"pixel"``, ``"cells"``
    (``cells`` x ``cells`` per frame, paper 004's unit), ``"patch"`` (``patch``-pixel squares)
    or a :class:`~vidxai.Segmentation` (``split_frames=True``: (frame, segment) units);
    ``aggregate`` ranks units by the mean or sum of the map; ``ties`` and ``schedule`` are
    described in the module. Returns the whole :class:`Curve`. For paper presets use
    :func:`vidxai.metrics.protocol`.
    """
    return _game("insertion", f, video, saliency, steps=steps, unit=unit, removed=removed,
                 order=order, batch_size=batch_size, progress=progress, patch=patch,
                 cells=cells, aggregate=aggregate, ties=ties, schedule=schedule,
                 split_frames=split_frames)


def deletion(f, video, saliency, *, steps=128, unit="pixel", removed=None, order="morf",
             batch_size=32, progress=False, patch=16, cells=16, aggregate="mean",
             ties="stable", schedule="units", split_frames=False) -> Curve:
    """Deletion game: replace units by the ``removed`` state, most salient first (arguments
    as :func:`insertion`)."""
    return _game("deletion", f, video, saliency, steps=steps, unit=unit, removed=removed,
                 order=order, batch_size=batch_size, progress=progress, patch=patch,
                 cells=cells, aggregate=aggregate, ties=ties, schedule=schedule,
                 split_frames=split_frames)


def minimal_mask(f, video, saliency, *, thresholds=(0.1, 0.2, 0.3, 0.4, 0.5), game="deletion",
                 levels="change", **kwargs):
    """Minimal explanation mask (paper 001, Sec. 5.1): for each threshold, the smallest
    fraction of voxels whose deletion lowers the score (or whose insertion raises it) by that
    much (``levels="change"``, the paper's text) or to that score level (``"absolute"``, its
    code). Other keyword arguments go to the game. Returns ``(fractions, reached, curve)``."""
    check_choice(game, "game", GAMES)
    check_choice(levels, "levels", LEVELS)
    _checks.thresholds(thresholds)
    curve = _game(game, f, video, saliency, **kwargs)
    fractions, reached = curve.minimal_fraction(thresholds, levels)
    return fractions, reached, curve

