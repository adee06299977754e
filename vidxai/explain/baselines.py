"""The random baseline: a map that knows nothing about the model.

Paper 004 ("Spatio-Temporal Perturbations for Video Attribution", Sec. V-C and Eq. 20-21)
scores every metric against a random attribution: a method "beats random" on a video when
its metric value is better than the random map's, and its reliability alpha weights each
video by the share of methods that do. :func:`random_map` is that map, reproducible from
its key, at voxel resolution or at the resolution of a segmentation (one value per segment,
painted on it) so it can stand beside the supervoxel methods on their own units.
"""
from __future__ import annotations

import jax
import numpy as np

from ..errors import ArgumentTypeError, check_video, describe
from ..explanation import Explanation
from ..segment import Segmentation

__all__ = ["random_map"]


def random_map(f, video, *, key, segmentation=None) -> Explanation:
    """Uniform [0, 1) importance drawn from ``key``: per voxel ``(T, H, W)``, or one value per
    segment of ``segmentation`` (then ``weights`` holds them). The model is never called
    (``n_evals`` = 0); ``f`` is taken only so the method is called like every other one.

    The same key gives the same map bit for bit; a different key an independent one.
    """
    if not callable(f):
        raise ArgumentTypeError("f", "a score function (B, T, H, W, C) -> (B,)", describe(f))
    video = check_video(video)
    shape = video.shape[:3]
    if segmentation is None:
        values = np.asarray(jax.random.uniform(key, shape), np.float32)
        return Explanation(weights=np.zeros(0, np.float32), segmentation=None, map=values,
                           method="random", target=getattr(f, "target", None), n_evals=0,
                           meta={"resolution": "voxel"})
    if not isinstance(segmentation, Segmentation):
        raise ArgumentTypeError("segmentation", "a vidxai.Segmentation", describe(segmentation))
    segmentation.check_matches(video)
    weights = np.asarray(jax.random.uniform(key, (segmentation.n,)), np.float32)
    return Explanation(weights=weights, segmentation=segmentation,
                       map=weights[segmentation.labels], method="random",
                       target=getattr(f, "target", None), n_evals=0,
                       meta={"resolution": "segments"})
