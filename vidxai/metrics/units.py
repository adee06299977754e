"""Units of the insertion / deletion games: which voxels move together, and in what order.

A unit is a set of voxels inserted or deleted at once:

* ``"pixel"``: single voxels;
* ``"cells"``: a grid of ``cells`` x ``cells`` cells per frame. This is the unit of
  "Spatio-Temporal Perturbations for Video Attribution" (paper 004, Sec. V-C): 7 x 7-pixel
  patches at 112 px in its text, the saliency average-pooled into a 16 x 16 grid in its code;
  the two agree at 112 px. Cell borders are ``floor(i * cells / size)``, so sizes that do not
  divide spread the remainder over the cells;
* ``"patch"``: squares of ``patch`` pixels per frame (16 px by default), border squares
  cropped to the frame. A fixed pixel size, NOT paper 004's unit (use ``"cells"``);
* a :class:`~vidxai.Segmentation`: its segments, or with ``per_frame=True`` every
  (frame, segment) pair, paper 004's superpixel unit (its code runs SLIC on the whole clip
  and moves each segment's part in each frame separately).

Units are ranked by the ``"mean"`` or the ``"sum"`` of the map over their voxels (paper
004's code: the mean for cells, the sum for superpixels).
"""
from __future__ import annotations

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, check_choice, check_int, describe
from ..segment import Segmentation

__all__ = ["unit_labels", "unit_values", "rank_units", "per_frame", "tie_boundaries",
           "UNITS", "AGGREGATES"]

UNITS = ("pixel", "cells", "patch")
AGGREGATES = ("mean", "sum")
_EXPECTED = "'pixel', 'cells', 'patch' or a Segmentation"


def per_frame(labels, n: int | None = None):
    """Split every segment of ``labels (T, H, W)`` into its frames: ids of the (frame,
    segment) pairs present, numbered in (frame, segment) order. Returns ``(labels, n)``."""
    labels = np.asarray(labels)
    n = int(labels.max()) + 1 if n is None else n
    pairs = np.arange(labels.shape[0])[:, None, None] * n + labels
    present, inverse = np.unique(pairs, return_inverse=True)
    return inverse.reshape(labels.shape).astype(np.int32), int(present.size)


def unit_labels(unit, shape, patch: int = 16, cells: int = 16, split_frames: bool = False):
    """Per-voxel unit ids ``(T, H, W)`` and their count for ``unit`` (see the module)."""
    t, h, w = shape
    patch = check_int(patch, "patch", minimum=1)     # checked whatever the unit: a bad value
    if isinstance(unit, Segmentation):               # is a mistake even where it is unused
        if unit.shape != tuple(shape):
            raise ArgumentError("unit", f"a segmentation of shape {tuple(shape)}", unit.shape)
        return per_frame(unit.labels, unit.n) if split_frames else (unit.labels, unit.n)
    if not isinstance(unit, str):
        raise ArgumentTypeError("unit", _EXPECTED, describe(unit))
    check_choice(unit, "unit", UNITS)
    if unit == "pixel":
        return np.arange(t * h * w, dtype=np.int32).reshape(shape), t * h * w
    if unit == "cells":
        cells = check_int(cells, "cells", minimum=1, maximum=min(h, w))
        rows, cols = np.arange(h) * cells // h, np.arange(w) * cells // w
        nh = nw = cells
    else:
        rows, cols = np.arange(h) // patch, np.arange(w) // patch
        nh, nw = -(-h // patch), -(-w // patch)
    ids = (np.arange(t)[:, None, None] * nh + rows[None, :, None]) * nw + cols[None, None, :]
    return ids.astype(np.int32), t * nh * nw


def unit_values(saliency, labels, n_units: int, aggregate: str = "mean"):
    """Each unit's importance (float64 ``(n,)``: mean or sum of the map) and voxel count."""
    check_choice(aggregate, "aggregate", AGGREGATES)
    flat = labels.ravel()
    counts = np.bincount(flat, minlength=n_units)
    sums = np.bincount(flat, weights=saliency.ravel().astype(np.float64), minlength=n_units)
    return (sums if aggregate == "sum" else sums / np.maximum(counts, 1)), counts


def _sequence(values, order: str):
    """Units from first to last moved (stable: ties keep the unit order)."""
    return np.argsort(-values if order == "morf" else values, kind="stable")


def rank_units(saliency, labels, n_units: int, order: str = "morf", aggregate: str = "mean"):
    """Rank of every voxel's unit (0 = first to insert/delete) and pixels per ranked unit.

    A unit's importance is the ``aggregate`` (mean by default: average pooling for patches)
    of the map over its voxels; ties keep the unit order, so the ranking is deterministic.
    """
    values, counts = unit_values(saliency, labels, n_units, aggregate)
    sequence = _sequence(values, order)
    rank = np.empty(n_units, dtype=np.int32)
    rank[sequence] = np.arange(n_units, dtype=np.int32)
    return rank[labels], counts[sequence]


def tie_boundaries(sorted_values) -> np.ndarray:
    """Unit counts at which a tie group ends: ``0``, every ``i + 1`` where the sorted
    importance changes, and ``n`` (exact equality: paper 004 splits the units with a strict
    inequality, so equal values belong to the same step)."""
    v = np.asarray(sorted_values)
    inner = np.flatnonzero(v[1:] != v[:-1]) + 1
    return np.concatenate([[0], inner, [v.size]]).astype(np.int64)
