"""Cluster collapse: frames where tracked segments suddenly vanish (paper 000, Sec. VI).

Paper 000 observes that SAM 2 masklets "collapse" after a camera cut or fast motion: the
tracked objects are lost and a few segments (or the unassigned one) take over the frame. It
proposes, as future work, to detect a per-frame drop in the number of segments and
re-segment there. :func:`collapse_frames` is that detector; ``segment.masklets(...,
resegment=True)`` runs SAM 2's mask generator again at each frame it returns.

References
----------
D. M. Paiva, J. M. X. N. Teixeira, V. Teichrieb, "Here comes the SAM: bringing light to
black box models applied to video content", UFPE, 2024 (paper 000), Sec. VI (Discussion:
cluster collapse).
"""
from __future__ import annotations

import numpy as np

from ..errors import ArgumentError, check_float, check_int, describe

MEASURES = ("count", "area")


def frame_measure(labels, measure: str = "count", ignore=None) -> np.ndarray:
    """Per frame: the number of distinct segments visible (``"count"``) or the share of
    pixels they cover (``"area"``), not counting the label ``ignore`` (e.g. unassigned)."""
    labels = np.asarray(labels)
    if labels.ndim != 3 or labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
        raise ArgumentError("labels", "a non-empty integer (T, H, W) label volume",
                            describe(labels))
    if measure not in MEASURES:
        raise ArgumentError("measure", f"one of {MEASURES}", repr(measure))
    flat = labels.reshape(labels.shape[0], -1)
    claimed = np.ones_like(flat, bool) if ignore is None else flat != ignore
    if measure == "area":
        return claimed.mean(axis=1)
    return np.array([np.unique(row[keep]).size for row, keep in zip(flat, claimed)], float)


def collapse_frames(labels, *, drop: float = 0.5, window: int = 8, measure: str = "count",
                    ignore=None) -> np.ndarray:
    """Frames where the segments collapse: the measure falls below ``drop`` x its running
    median.

    The reference of frame ``t`` is the median over the previous ``window`` frames, counted
    only from the last collapse on: after a cut the new scene becomes the baseline, so a
    lasting drop is reported once, at the frame where it starts. Frame 0 has no history and
    is never reported. ``measure``: ``"count"`` (segments visible in the frame) or
    ``"area"`` (share of pixels they cover); ``ignore``: a label that does not count (the
    unassigned segment). Returns the frame indices, ascending.
    """
    drop = check_float(drop, "drop", 0.0, 1.0, open_low=True, open_high=True)
    window = check_int(window, "window", minimum=1)
    values = frame_measure(labels, measure, ignore)
    found, since = [], 0
    for t in range(1, len(values)):
        history = values[max(since, t - window):t]
        if history.size and values[t] < drop * np.median(history):
            found.append(t)
            since = t
    return np.array(found, dtype=np.int64)


__all__ = ["collapse_frames", "frame_measure"]
