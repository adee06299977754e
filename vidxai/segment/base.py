"""The :class:`Segmentation` every segmenter returns, and :func:`relabel`."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, check_int, describe


@dataclass(frozen=True, eq=False)
class Segmentation:
    """``labels``: int32 ``(T, H, W)`` with every value in ``0..n-1`` used; ``n`` features;
    ``info``: how the segmenter made it (e.g. :func:`~vidxai.segment.slic` records its
    settings), empty when nothing was recorded."""

    labels: np.ndarray
    n: int
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        labels = self.labels
        if not hasattr(labels, "shape") or len(labels.shape) != 3:
            raise ArgumentError("labels", "an integer array of shape (T, H, W)", describe(labels))
        if not np.issubdtype(np.dtype(labels.dtype), np.integer):
            raise ArgumentTypeError("labels", "an integer array", describe(labels))
        n = check_int(self.n, "n", minimum=1)
        if min(labels.shape) < 1:
            raise ArgumentError("labels", "a non-empty (T, H, W) array", describe(labels))
        labels = np.array(labels, dtype=np.int32)  # private copy: the caller's array stays theirs
        present = np.unique(labels)
        if present[0] < 0 or present[-1] >= n:
            raise ArgumentError("labels", f"values in 0..{n - 1}", f"range {present[0]}..{present[-1]}")
        if present.size != n:
            raise ArgumentError(
                "labels", f"contiguous labels using every value 0..{n - 1}",
                f"{present.size} distinct values (use segment.relabel)",
            )
        if not isinstance(self.info, dict):
            raise ArgumentTypeError("info", "a dict", describe(self.info))
        labels.setflags(write=False)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "n", n)
        object.__setattr__(self, "info", dict(self.info))  # the caller's dict stays theirs

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.labels.shape)

    def sizes(self) -> np.ndarray:
        """Number of voxels of each feature, ``(n,)``."""
        return np.bincount(self.labels.ravel(), minlength=self.n)

    def check_matches(self, video, name: str = "segmentation") -> None:
        """Raise if this segmentation does not cover ``video``'s ``(T, H, W)``."""
        if tuple(video.shape[:3]) != self.shape:
            raise ArgumentError(
                name, f"labels of shape {tuple(video.shape[:3])} (the video's T, H, W)", self.shape
            )


def relabel(labels, info: dict | None = None) -> Segmentation:
    """Make arbitrary integer labels contiguous from 0 (order of first label value kept);
    ``info`` is stored as the segmentation's :attr:`~Segmentation.info`."""
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise ArgumentError("labels", "an integer array of shape (T, H, W)", describe(labels))
    values, inverse = np.unique(labels, return_inverse=True)
    return Segmentation(inverse.reshape(labels.shape).astype(np.int32), int(values.size),
                        info=dict(info or {}))
