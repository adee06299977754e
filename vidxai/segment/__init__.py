"""Segmentation stage: split a video into features (supervoxels) (paper 001, Sec. 3.1).

A :class:`Segmentation` maps every voxel ``(t, h, w)`` to one of ``n`` features; removal-based
methods keep or remove whole features. Segmenters: :func:`grid` (cuboid cells), :func:`slic`
(skimage SLIC supervoxels), :func:`frames` (one feature per frame) and :func:`masklets`
(SAM 2 masklets, paper 000; module :mod:`.masklets`), with :func:`collapse_frames` (module
:mod:`.collapse`) to find where tracked segments collapse.
"""
from __future__ import annotations

import numpy as np

from ..errors import ArgumentError, check_float, check_int, check_shape3, check_video
from .base import Segmentation, relabel


def _shape_of(shape_or_video) -> tuple[int, int, int]:
    if hasattr(shape_or_video, "shape") and len(shape_or_video.shape) == 4:
        return tuple(int(s) for s in shape_or_video.shape[:3])
    return check_shape3(shape_or_video, "shape")


def grid(shape, cells) -> Segmentation:
    """Regular ``cells = (ct, ch, cw)`` cuboid grid over a ``(T, H, W)`` volume (or a video).

    Cell boundaries are spread evenly (``floor(i * c / size)``), so unequal remainders are
    distributed rather than piled on the last cell. Cells may not outnumber voxels per axis.
    """
    dims = _shape_of(shape)
    cells = check_shape3(cells, "cells")
    for axis, (c, d) in enumerate(zip(cells, dims)):
        if c > d:
            raise ArgumentError(f"cells[{axis}]", f"at most {d} (the video's size on that axis)", c)
    idx = [np.arange(d) * c // d for c, d in zip(cells, dims)]
    labels = (idx[0][:, None, None] * cells[1] + idx[1][None, :, None]) * cells[2] + idx[2][None, None, :]
    return Segmentation(labels.astype(np.int32), int(np.prod(cells)))


def frames(shape) -> Segmentation:
    """One feature per frame (the temporal segmentation used for frame attributions)."""
    t, h, w = _shape_of(shape)
    labels = np.broadcast_to(np.arange(t, dtype=np.int32)[:, None, None], (t, h, w))
    return Segmentation(labels, t)


def slic(video, n_segments: int = 200, compactness: float = 20.0, spacing=(0.2, 1.0, 1.0),
         **kwargs) -> Segmentation:
    """SLIC supervoxels of the whole ``(T, H, W, 3)`` volume with skimage (paper 001, Sec. 4).

    Defaults follow the paper's code: 200 segments, compactness 20 and a temporal spacing of
    0.2 (time distances count less, so supervoxels extend through frames). Extra keyword
    arguments go to :func:`skimage.segmentation.slic`. Labels are made contiguous from 0.
    The settings used are recorded in the result's ``info`` (``segmenter``, ``n_segments``,
    ``compactness``, ``spacing`` and ``options``, the extra keyword arguments); SLIC returns
    about, not exactly, ``n_segments`` supervoxels: ``n`` is the count it gave.
    """
    from skimage.segmentation import slic as _slic

    video = check_video(video)
    n_segments = check_int(n_segments, "n_segments", minimum=1)
    compactness = check_float(compactness, "compactness", 0.0, open_low=True)
    spacing = tuple(check_float(s, f"spacing[{i}]", 0.0, open_low=True)
                    for i, s in enumerate(spacing))
    if len(spacing) != 3:
        raise ArgumentError("spacing", "a (t, h, w) triple", spacing)
    labels = _slic(video, n_segments=n_segments, compactness=compactness,
                   spacing=np.asarray(spacing), channel_axis=-1, start_label=0, **kwargs)
    return relabel(labels, info={"segmenter": "slic", "n_segments": n_segments,
                                 "compactness": compactness, "spacing": list(spacing),
                                 "options": dict(kwargs)})


from .collapse import collapse_frames  # noqa: E402  (modules below use Segmentation)
from .masklets import Masklets, masklets  # noqa: E402

__all__ = ["Segmentation", "relabel", "grid", "frames", "slic", "masklets", "Masklets",
           "collapse_frames"]
