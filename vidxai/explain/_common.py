"""Shared set-up of the removal-based methods: validation, base scores, the Explanation."""
from __future__ import annotations

import numpy as np

from ..errors import ArgumentTypeError, check_video, describe
from ..explanation import Explanation
from ..removal import Removal, black
from ..segment import Segmentation


def prepare(f, video, segmentation=None, removal=None, *, segmented=True):
    """Validate the common arguments; returns ``(video float32, removal)``.

    ``segmented=False`` for methods without a segmentation (RISE, occlusion).
    """
    if not callable(f):
        raise ArgumentTypeError("f", "a score function (B, T, H, W, C) -> (B,)", describe(f))
    video = check_video(video)
    if segmented:
        if not isinstance(segmentation, Segmentation):
            raise ArgumentTypeError("segmentation", "a vidxai.Segmentation", describe(segmentation))
        segmentation.check_matches(video)
    removal = black() if removal is None else removal
    if not isinstance(removal, Removal):
        raise ArgumentTypeError("removal", "a vidxai.removal.Removal (e.g. removal.black())",
                                describe(removal))
    return video, removal


def with_rows(z, *extra) -> np.ndarray:
    """Append constant rows (True = all kept, False = all removed) to a coalition matrix."""
    z = np.asarray(z, dtype=bool)
    rows = [np.full((1, z.shape[1]), bool(v)) for v in extra]
    return np.concatenate([z] + rows)


def explanation(method, weights, segmentation, f, n_evals, removal, pixel_map=None, **meta):
    """Build the :class:`Explanation`; the map defaults to the weights painted on segments."""
    weights = np.asarray(weights, dtype=np.float32)
    if pixel_map is None:
        pixel_map = weights[segmentation.labels]
    meta = {k: (float(v) if isinstance(v, (np.floating, np.ndarray)) and np.ndim(v) == 0 else v)
            for k, v in meta.items()}
    meta["removal"] = removal.name
    if removal.edge_sigma:
        meta["edge_sigma"] = removal.edge_sigma
    return Explanation(weights=weights, segmentation=segmentation, map=np.asarray(pixel_map),
                       method=method, target=getattr(f, "target", None), n_evals=int(n_evals),
                       meta=meta)
