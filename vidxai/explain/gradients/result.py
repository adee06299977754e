"""The result of a gradient or activation method (paper 004's baselines): the map plus the
raw attribution it was reduced from."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...explanation import Explanation

__all__ = ["GradientResult"]


@dataclass(frozen=True, eq=False, kw_only=True)
class GradientResult(Explanation, kind="gradient"):
    """A gradient-family :class:`~vidxai.Explanation`.

    ``map (T, H, W)``: the method's map (input-gradient methods: the sum over colour
    channels of the absolute attribution, paper 004's display; Grad-CAM and Excitation
    Backprop: the layer map up-sampled to the video; XRAI: the gain of the region that
    covered each voxel). ``attributions``: what the map was reduced from, kept raw:
    ``(T, H, W, C)`` per channel for the input-gradient methods (signed), the layer-resolution
    map ``(T', H', W')`` for Grad-CAM and Excitation Backprop, the IG attributions for XRAI.
    ``weights`` are empty and ``segmentation`` is ``None``, except for XRAI (the regions in
    the order they were added, with their gains). ``n_evals``: gradient (forward + backward)
    passes plus extra forward passes. ``meta``: the settings, ``score`` (``f(x)``) and, for
    path methods, ``baseline_score`` and ``completeness`` (sum of the attributions against
    ``f(x) - f(baseline)``).
    """

    attributions: np.ndarray | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.attributions is not None:
            raw = np.array(self.attributions, dtype=np.float32)
            raw.setflags(write=False)
            object.__setattr__(self, "attributions", raw)
