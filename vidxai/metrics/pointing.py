"""Pointing games: white-box (paper 002, Sec. 4.1), temporal (paper 002, Sec. 4.2) and the
bounding-box pointing game with a tolerance radius (paper 004, Sec. V-H).

Paper 002 is "TIEM: Enhancing Explanation of Video Prediction via Temporal Dynamics-Focused
Dual Perturbation"; paper 004 is "Spatio-Temporal Perturbations for Video Attribution".
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, check_float, describe
from . import _checks

__all__ = ["whitebox_pointing_game", "whitebox_pointing_ceiling", "temporal_pointing_game",
           "PointingResult", "pointing_game"]


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
    mask = _checks.real_array(mask, "mask", "(T, H, W)")
    truth_arr = _checks.truth_set(truth, mask.shape)
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
    truth_arr = _checks.truth_set(truth, np.shape(truth))
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
    mask = _checks.real_array(mask, "mask", "(T, H, W)")
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
    sal = _checks.real_array(saliency, "saliency", "(T, H, W)")
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
