"""Units of the insertion / deletion games: which voxels move together, and in what order.

A unit is a set of voxels inserted or deleted at once: single voxels (``"pixel"``), square
patches of ``patch`` pixels per frame (``"patch"``), or the segments of a
:class:`~vidxai.Segmentation`. Units are ranked by an aggregate of the saliency map over
their voxels.
"""
from __future__ import annotations

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, describe
from ..segment import Segmentation

__all__ = ["unit_labels", "rank_units"]

UNITS = "'pixel', 'patch' or a Segmentation"


def unit_labels(unit, shape, patch: int = 16):
    """Per-voxel unit ids ``(T, H, W)`` and their count for ``unit`` = pixel/patch/Segmentation.

    ``"patch"``: squares of ``patch`` x ``patch`` pixels per frame in (frame, row, column)
    order; border patches are cropped to the frame.
    """
    t, h, w = shape
    if isinstance(unit, Segmentation):
        if unit.shape != tuple(shape):
            raise ArgumentError("unit", f"a segmentation of shape {tuple(shape)}", unit.shape)
        return unit.labels, unit.n
    if not isinstance(unit, str):
        raise ArgumentTypeError("unit", UNITS, describe(unit))
    if unit == "pixel":
        return np.arange(t * h * w, dtype=np.int32).reshape(shape), t * h * w
    if unit == "patch":
        nh, nw = -(-h // patch), -(-w // patch)
        ids = (np.arange(t)[:, None, None] * nh + (np.arange(h) // patch)[None, :, None]) * nw
        return (ids + (np.arange(w) // patch)[None, None, :]).astype(np.int32), t * nh * nw
    raise ArgumentError("unit", UNITS, repr(unit))


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
