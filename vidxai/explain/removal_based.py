"""The six removal-based video explainers of paper 001 (REVEX), each a short composition of
the stages: segmentation -> feature selection -> removal -> model scores -> summary.

Every method takes a score function ``f`` (``(B, T, H, W, C) -> (B,)``, see
:func:`vidxai.score`), a float video ``(T, H, W, C)`` in [0, 1], and returns an
:class:`~vidxai.Explanation` whose positive weights mark evidence *for* the score.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .. import sampling, surrogate
from ..errors import (ArgumentError, check_float, check_int, check_key, check_probability,
                      check_shape3)
from ..removal import cuboid_mask, rise_mask
from ..scoring import evaluate, run_batches
from ..segment import grid
from ._common import explanation, prepare, with_rows


def lime(f, video, segmentation, *, key, n_samples=1000, p=0.5, kernel_width=0.25, alpha=1.0,
         removal=None, sampler=None, batch_size=32, progress=False):
    """3D LIME (paper 001): ridge surrogate on random coalitions of supervoxels.

    Each feature is kept with probability ``p`` (or rows come from ``sampler(key, n_samples,
    n)``); rows are weighted by sqrt(exp(-d^2 / kernel_width^2)) with d the cosine distance to
    the full coalition; the weights are the coefficients of a ridge fit (``alpha``) with
    intercept. The unperturbed video is scored once for ``meta["score"]`` but not fitted.
    """
    video, removal = prepare(f, video, segmentation, removal)
    key = check_key(key)
    n_samples = check_int(n_samples, "n_samples", minimum=1)
    p = check_probability(p, "p")
    kernel_width = check_float(kernel_width, "kernel_width", 0.0, open_low=True)
    alpha = check_float(alpha, "alpha", 0.0)
    draw = sampler or (lambda k, n_rows, n: sampling.bernoulli(k, n_rows, n, p))
    z = np.asarray(draw(key, n_samples, segmentation.n), dtype=bool)
    y = evaluate(f, video, segmentation, with_rows(z, True), removal, batch_size=batch_size,
                 progress=progress)
    coef, intercept = surrogate.ridge(z, y[:-1], surrogate.lime_kernel(z, kernel_width), alpha)
    return explanation("lime", coef, segmentation, f, len(y), removal, score=y[-1],
                       intercept=float(intercept), n_samples=n_samples, p=p,
                       kernel_width=kernel_width, alpha=alpha)


def kernel_shap(f, video, segmentation, *, key, n_samples=1000, removal=None, batch_size=32,
                progress=False):
    """3D Kernel SHAP (paper 001): Shapley values by kernel-weighted least squares.

    Coalitions from :func:`vidxai.sampling.shapley_kernel` (complete small/large sizes, then
    paired samples); the full and empty videos are scored and enforced exactly, so the
    weights sum to ``f(x) - f(removed)`` (efficiency). With ``n_samples >= 2^n - 2`` every
    coalition is used and the result is the exact Shapley value vector.
    """
    video, removal = prepare(f, video, segmentation, removal)
    z, w = sampling.shapley_kernel(key, n_samples, segmentation.n)
    y = evaluate(f, video, segmentation, with_rows(z, True, False), removal,
                 batch_size=batch_size, progress=progress)
    full, empty = y[-2], y[-1]
    phi = surrogate.shapley_wls(z, y[:-2], w, full, empty)
    return explanation("kernel_shap", phi, segmentation, f, len(y), removal, score=full,
                       empty_score=empty, n_samples=int(len(z)))


def loco(f, video, segmentation, *, removal=None, batch_size=32, progress=False):
    """LV-LOCO (paper 001): weight_i = f(x) - f(x without feature i)."""
    video, removal = prepare(f, video, segmentation, removal)
    z = sampling.leave_one_out(segmentation.n)
    y = evaluate(f, video, segmentation, with_rows(z, True), removal, batch_size=batch_size,
                 progress=progress)
    weights = -surrogate.difference(y[:-1], y[-1])
    return explanation("loco", weights, segmentation, f, len(y), removal, score=y[-1])


def univariate(f, video, segmentation, *, removal=None, batch_size=32, progress=False):
    """LV-Univariate (paper 001): weight_i = f(only feature i kept) - f(all removed)."""
    video, removal = prepare(f, video, segmentation, removal)
    z = sampling.keep_one(segmentation.n)
    y = evaluate(f, video, segmentation, with_rows(z, True, False), removal,
                 batch_size=batch_size, progress=progress)
    weights = surrogate.difference(y[:-2], y[-1])
    return explanation("univariate", weights, segmentation, f, len(y), removal, score=y[-2],
                       empty_score=y[-1])


def rise(f, video, *, key, cells=(4, 7, 7), n_samples=1000, p=0.5, shift=True, removal=None,
         batch_size=32, progress=False):
    """3D RISE (paper 001): random T x H x W cell grids, upsampled trilinearly to soft masks.

    The map is the mean score over samples weighted by how much each voxel was kept
    (sum_i y_i M_i / sum_i M_i); ``weights`` are the same mean per grid cell (over the
    samples whose cell bit was on), with ``segmentation`` the ``cells`` grid. ``shift=True``
    adds RISE's random sub-cell shift; ``False`` stretches the grid exactly (paper 001's code).
    """
    video, removal = prepare(f, video, None, removal, segmented=False)
    key = check_key(key)
    n_samples = check_int(n_samples, "n_samples", minimum=1)
    p = check_probability(p, "p")
    cells = check_shape3(cells, "cells")
    dims = tuple(video.shape[:3])
    seg = grid(dims, cells)  # also validates cells against the video size
    k_bits, k_shift = jax.random.split(key)
    bits = np.asarray(sampling.bernoulli(k_bits, n_samples, seg.n, p)).reshape((-1,) + cells)
    shifts = np.asarray(jax.random.uniform(k_shift, (n_samples, 3)), np.float32)
    params = (np.concatenate([bits, np.ones((1,) + cells, bool)]),
              np.concatenate([shifts, np.zeros((1, 3), np.float32)]))
    removed = removal.removed(video)
    static = (dims, bool(shift))
    y = run_batches(f, video, removed, rise_mask, params, (), static, batch_size=batch_size,
                    edge_sigma=removal.edge_sigma, progress=progress)
    pixel_map = surrogate.mask_weighted_mean(rise_mask, (bits, shifts), y[:-1], (), static,
                                             shape=dims, batch_size=batch_size)
    weights = surrogate.kept_mean(jnp.asarray(bits.reshape(n_samples, -1)), jnp.asarray(y[:-1]))
    return explanation("rise", weights, seg, f, len(y), removal, pixel_map=pixel_map,
                       score=y[-1], cells=list(cells), n_samples=n_samples, p=p, shift=shift)


def occlusion_starts(dims, size, stride) -> np.ndarray:
    """Cuboid start positions per axis, stepped by ``stride``; a last position flush with the
    end is added when the stride would leave the far border uncovered."""
    axes = []
    for d, k, s in zip(dims, size, stride):
        starts = list(range(0, d - k + 1, s))
        if starts[-1] != d - k:
            starts.append(d - k)
        axes.append(starts)
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1).astype(np.int32)


def cuboid_cover(starts, aux, static):
    """1 inside each cuboid, 0 elsewhere (the voxels an occlusion position covers)."""
    return 1.0 - cuboid_mask(starts, aux, static)


def occlusion(f, video, *, size=None, stride=None, removal=None, batch_size=32, progress=False):
    """3D Sampled Occlusion Sensitivity (paper 001): slide a removed cuboid over the video.

    ``size`` defaults to 1/4 of T and 1/7 of H and W, ``stride`` to half the size (7 x 13 x 13
    = 1183 positions on 16 x 112 x 112). ``weights`` are the score drops f(x) - f(occluded)
    per position (so positive = important, the opposite sign of the raw occluded score);
    the map averages, per voxel, the drops of the cuboids covering it.
    """
    video, removal = prepare(f, video, None, removal, segmented=False)
    dims = tuple(video.shape[:3])
    if size is None:
        size = tuple(max(1, d // k) for d, k in zip(dims, (4, 7, 7)))
    size = check_shape3(size, "size")
    for axis, (k, d) in enumerate(zip(size, dims)):
        if k > d:
            raise ArgumentError(f"size[{axis}]", f"at most {d} (the video's size)", k)
    stride = tuple(max(1, k // 2) for k in size) if stride is None else check_shape3(stride, "stride")
    starts = occlusion_starts(dims, size, stride)
    static = (dims, size)
    y = run_batches(f, video, removal.removed(video), cuboid_mask,
                    np.concatenate([starts, np.asarray([dims], np.int32)]), (), static,
                    batch_size=batch_size, edge_sigma=removal.edge_sigma, progress=progress)
    drops = y[-1] - y[:-1]
    pixel_map = surrogate.mask_weighted_mean(cuboid_cover, starts, drops, (), static, shape=dims,
                                             batch_size=batch_size)
    return explanation("occlusion", drops, None, f, len(y), removal, pixel_map=pixel_map,
                       score=y[-1], size=list(size), stride=list(stride),
                       starts=starts.tolist())
