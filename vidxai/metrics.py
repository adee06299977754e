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
from .removal import Removal, removed_video
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
    if not isinstance(unit, str):
        raise ArgumentTypeError("unit", "'pixel', 'patch' or a Segmentation", describe(unit))
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
        if np.iscomplexobj(saliency):
            raise TypeError("complex")
        saliency = np.asarray(saliency, dtype=np.float32)
    except (TypeError, ValueError):
        raise ArgumentTypeError("saliency", "a real-valued (T, H, W) map", describe(saliency))
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
    edge_sigma = removed.edge_sigma if isinstance(removed, Removal) else None
    removed = removed_video(removed, video, unit if isinstance(unit, Segmentation) else None)
    scores = run_batches(f, video, removed, _revealed, ks, jnp.asarray(rank_map), game,
                         batch_size=batch_size, edge_sigma=edge_sigma, progress=progress,
                         desc=f"{game} game")
    auc = float(np.trapezoid(scores, x)) if hasattr(np, "trapezoid") else float(np.trapz(scores, x))
    return Curve(game, order, x, scores, auc)


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


# ---------------------------------------------------------------------------------------
# Pointing games: white-box (paper 002, Sec. 4.1), temporal (paper 002, Sec. 4.2) and the
# bounding-box pointing game with a tolerance radius (paper 004, Sec. V-H).
# ---------------------------------------------------------------------------------------
from typing import NamedTuple  # noqa: E402

from .errors import check_float  # noqa: E402


def _finite_map(x, name: str, layout: str) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ArgumentTypeError(name, f"a numeric array {layout}", describe(x))
    if arr.size == 0:
        raise ArgumentError(name, f"a non-empty array {layout}", describe(x))
    if not np.all(np.isfinite(arr)):
        raise ArgumentError(name, "finite values", "NaN or inf entries")
    return arr


def _truth_set(truth, shape) -> np.ndarray:
    """A boolean target set of ``shape`` from a boolean or 0/1 array."""
    truth_arr = np.asarray(truth)
    if truth_arr.shape != shape:
        raise ArgumentError("truth", f"a boolean array of the mask's shape {shape}",
                            describe(truth_arr))
    if truth_arr.dtype != bool:
        if not np.issubdtype(truth_arr.dtype, np.number) or not np.all(
                (truth_arr == 0) | (truth_arr == 1)):
            raise ArgumentTypeError("truth", "a boolean (or 0/1) array", describe(truth_arr))
        truth_arr = truth_arr.astype(bool)
    return truth_arr


def _top_count(top, size: int) -> int:
    """``round(top * size)`` voxels (at least 1) for a fraction ``top`` in (0, 1]."""
    top = check_float(top, "top", 0.0, 1.0, open_low=True)
    return max(1, int(round(top * size)))


def whitebox_pointing_game(mask, truth, threshold=None, top=None) -> float:
    """Pointing game of paper 002, Sec. 4.1 (white-box regressors), in percent.

    ``(highlighted in A - highlighted outside A) / highlighted * 100`` where ``A`` is the
    ground-truth set ``truth`` (boolean, or 0/1, of the same shape as ``mask``, e.g.
    ``(T, H, W)``). Highlighted voxels (a count, not a mass) are either those with
    ``mask > threshold`` (default 0.5) or, with ``top`` in (0, 1], the ``round(top * N)``
    voxels of largest mask value (paper 002 highlights the top 10%, ``top=0.1``); voxels tied
    at the cut-off share the remaining places equally (the mean over all ways to break the
    tie, so the score does not depend on the voxel order). 100 when every highlighted voxel
    lies in ``A``, -100 when none does; a mask that highlights nothing scores 0 (never NaN).
    Pass ``threshold`` or ``top``, not both.
    """
    mask = _finite_map(mask, "mask", "(T, H, W)")
    truth_arr = _truth_set(truth, mask.shape)
    if top is not None:
        if threshold is not None:
            raise ArgumentError("top", "either top or threshold, not both", top)
        k = _top_count(top, mask.size)
        values = mask.ravel()
        cut = np.partition(values, values.size - k)[values.size - k]
        above, tied = values > cut, values == cut
        share = (k - above.sum()) / tied.sum()
        inside = (above & truth_arr.ravel()).sum() + share * (tied & truth_arr.ravel()).sum()
        return float(100.0 * (2.0 * inside - k) / k)
    threshold = check_float(0.5 if threshold is None else threshold, "threshold")
    highlighted = mask > threshold
    total = int(highlighted.sum())
    if total == 0:
        return 0.0
    inside = int((highlighted & truth_arr).sum())
    return 100.0 * (inside - (total - inside)) / total


def whitebox_pointing_ceiling(truth, top) -> float:
    """The best white-box pointing game any map can reach when the top ``top`` of the voxels
    are highlighted: all of ``A`` fits when ``|A| >= k``, else ``|A|`` of the ``k = round(top
    N)`` highlighted voxels are inside, ``100 (2 |A| - k) / k``. A geometric cap: a target
    of 9.5% of the video under ``top=0.1`` caps the game at 90."""
    truth_arr = _truth_set(truth, np.shape(truth))
    if truth_arr.size == 0:
        raise ArgumentError("truth", "a non-empty boolean array", describe(truth_arr))
    k = _top_count(top, truth_arr.size)
    inside = min(int(truth_arr.sum()), k)
    return 100.0 * (2 * inside - k) / k


def _frame_selection(frames, t: int, name: str) -> np.ndarray:
    """A boolean ``(T,)`` vector from a boolean ``(T,)`` vector or frame indices."""
    arr = np.asarray(frames)
    if arr.dtype == bool:
        if arr.shape != (t,):
            raise ArgumentError(name, f"a boolean vector of shape ({t},) or frame indices",
                                describe(arr))
        return arr
    arr = np.atleast_1d(arr)
    if arr.size == 0:
        return np.zeros(t, bool)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ArgumentTypeError(name, f"frame indices in 0..{t - 1} or a boolean ({t},) vector",
                                describe(arr))
    if arr.min() < 0 or arr.max() >= t:
        raise ArgumentError(name, f"frame indices in 0..{t - 1}", arr.tolist())
    out = np.zeros(t, bool)
    out[arr] = True
    return out


def temporal_pointing_game(mask, signature_frames) -> float:
    """Temporal pointing game of paper 002, Sec. 4.2, in percent.

    The share of the unmasked (kept) region that lies in the signature frames:
    ``sum of mask over the signature frames / sum of mask * 100``, with the mask's values
    as the kept mass (a binary mask counts kept voxels). ``mask`` is ``(T, ...)`` with
    non-negative values (``(T, H, W)`` preservation mask, or a ``(T,)`` per-frame mass);
    ``signature_frames`` is a boolean ``(T,)`` vector or 0-based frame indices. 100 when
    everything kept lies in the signature frames, 0 when nothing does; an empty mask
    scores 0 (never NaN).
    """
    mask = _finite_map(mask, "mask", "(T, H, W)")
    if mask.ndim < 1:
        raise ArgumentError("mask", "an array (T, ...) with a leading frame axis", describe(mask))
    if np.any(mask < 0):
        raise ArgumentError("mask", "non-negative values (kept mass)", f"minimum {mask.min():.3g}")
    t = mask.shape[0]
    selected = _frame_selection(signature_frames, t, "signature_frames")
    per_frame = mask.reshape(t, -1).sum(axis=1)
    total = float(per_frame.sum())
    if total <= 0.0:
        return 0.0
    return 100.0 * float(per_frame[selected].sum()) / total


class PointingResult(NamedTuple):
    """Bounding-box pointing game: ``rate`` (percent of annotated frames hit), per-frame
    ``hits`` (bool ``(T,)``, False on frames without annotation) and ``annotated``."""

    rate: float
    hits: np.ndarray
    annotated: np.ndarray


def pointing_game(saliency, boxes, tolerance=7) -> PointingResult:
    """Pointing game with a tolerance radius (paper 004, Sec. V-H; Zhang et al.'s metric).

    ``saliency`` is ``(T, H, W)`` (or one ``(H, W)`` frame with one box); ``boxes`` is
    ``(T, 4)`` rows ``[y0, x0, y1, x1]`` in pixel indices, both corners inclusive; a row that
    contains NaN or equals ``[-1, -1, -1, -1]`` marks a frame without annotation. On each
    annotated frame the maximum of the map (the first one in row-major order when several
    pixels tie) is a hit when its Euclidean distance to the box is at most ``tolerance``
    pixels (0 inside the box), i.e. a circle of that radius around it touches the box.
    Returns a :class:`PointingResult`; the rate is over annotated frames only, and a clip
    with no annotated frame is an error.
    """
    sal = _finite_map(saliency, "saliency", "(T, H, W)")
    try:
        box = np.asarray(boxes, dtype=np.float64)
    except (TypeError, ValueError):
        raise ArgumentTypeError("boxes", "a numeric (T, 4) array [y0, x0, y1, x1]", describe(boxes))
    if sal.ndim == 2 and box.shape == (4,):
        sal, box = sal[None], box[None]
    if sal.ndim != 3:
        raise ArgumentError("saliency", "a map of shape (T, H, W)", describe(sal))
    t, h, w = sal.shape
    if box.shape != (t, 4):
        raise ArgumentError("boxes", f"an array of shape ({t}, 4) [y0, x0, y1, x1]", describe(box))
    tolerance = check_float(tolerance, "tolerance", 0.0)
    annotated = ~(np.isnan(box).any(axis=1) | np.all(box == -1, axis=1))
    if not annotated.any():
        raise ArgumentError("boxes", "at least one annotated frame", "no annotated rows")
    good = box[annotated]
    if np.any(np.isinf(good)) or np.any(good[:, 2] < good[:, 0]) or np.any(good[:, 3] < good[:, 1]):
        raise ArgumentError("boxes", "finite rows [y0, x0, y1, x1] with y0 <= y1 and x0 <= x1",
                            good.tolist()[:4])
    flat = sal.reshape(t, -1).argmax(axis=1)
    y, x = np.divmod(flat, w)
    safe = np.where(annotated[:, None], box, 0.0)
    dy = np.maximum.reduce([safe[:, 0] - y, np.zeros(t), y - safe[:, 2]])
    dx = np.maximum.reduce([safe[:, 1] - x, np.zeros(t), x - safe[:, 3]])
    hits = annotated & (np.hypot(dy, dx) <= tolerance)
    rate = 100.0 * float(hits.sum()) / float(annotated.sum())
    return PointingResult(rate, hits, annotated)
