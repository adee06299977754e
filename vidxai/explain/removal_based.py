"""The six removal-based video explainers of paper 001 (REVEX), each a short composition of
the stages: segmentation -> feature selection -> removal -> model scores -> summary.

Every method takes a score function ``f`` (``(B, T, H, W, C) -> (B,)``, see
:func:`vidxai.score`), a float video ``(T, H, W, C)`` in [0, 1], and returns an
:class:`~vidxai.Explanation` whose positive weights mark evidence *for* the score.
"""
from __future__ import annotations

import itertools
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .. import sampling, surrogate
from ..errors import (ArgumentError, check_float, check_int, check_key, check_probability,
                      check_shape3)
from ..removal import coalition_mask, cuboid_mask, rise_mask
from ..scoring import (chunks, index_chunks, run_batches, score_checked_coalitions, score_stream,
                       stream_chunks)
from ..segment import grid
from ._common import (ScoreSpread, explanation, fit_stream, heldout_count, heldout_key,
                      heldout_meta, prepare, row_mask, trust, with_rows)


def _with_ends(idx, sampled):
    """Row 0 keeps everything (the video), row 1 nothing (the fully removed video); every
    other row ``i`` is ``sampled`` (drawn for sample ``i - 2``)."""
    first = (idx == 0)[:, None]
    second = (idx == 1)[:, None]
    return jnp.where(first, True, jnp.where(second, False, sampled))


@partial(jax.jit, static_argnames=("n",))
def lime_rows(key, idx, n: int, p):
    """LIME's coalition rows ``idx``: the video, the removed video, then sample ``i - 2``
    from ``fold_in(key, i - 2)``."""
    return _with_ends(idx, sampling.bernoulli_rows(key, jnp.maximum(idx, 2) - 2, n, p))


@partial(jax.jit, static_argnames=("n",))
def lime_stream_rows(key, held_key, idx, n: int, p, first):
    """:func:`lime_rows` below row ``first``; row ``i >= first`` is held-out coalition
    ``i - first``, drawn (Bernoulli(p), like the samples) from ``fold_in(held_key, i - first)``."""
    held = idx >= first
    fitted = lime_rows(key, jnp.where(held, 0, idx), n, p)
    extra = sampling.bernoulli_rows(held_key, jnp.where(held, idx - first, 0), n, p)
    return jnp.where(held[:, None], extra, fitted)


def _coalition_stream(f, video, segmentation, removal, chunk_iter, n_rows, batch_size,
                      progress):
    """Scores of every coalition chunk; yields ``(rows, z, y, offset)`` with the chunk's
    first global row index ``offset``."""
    offset = 0
    for rows, params, y in score_stream(
            f, video, removal.removed(video, segmentation), coalition_mask, chunk_iter,
            jnp.asarray(segmentation.labels), n_rows=n_rows, batch_size=batch_size,
            edge_sigma=removal.edge_sigma, progress=progress):
        yield rows, params, y, offset
        offset += rows


def lime(f, video, segmentation, *, key, n_samples=1000, p=0.5, kernel_width=0.25, alpha=1.0,
         removal=None, sampler=None, n_heldout=None, batch_size=32, progress=False):
    """3D LIME (paper 001): ridge surrogate on random coalitions of supervoxels.

    Each feature is kept with probability ``p``; sample ``i`` is drawn from
    ``fold_in(key, i)``, chunk by chunk, and the ridge's sufficient statistics accumulate as
    the chunks are scored, so memory does not grow with ``n_samples`` (at most 2^31).
    ``sampler(key, n_samples, n)`` may supply the rows instead (then held whole). Rows are
    weighted by sqrt(exp(-d^2 / kernel_width^2)) with d the cosine distance to the full
    coalition; the weights are the coefficients of a ridge fit (``alpha``) with intercept.
    The unperturbed and the fully removed video are scored too (``meta["score"]``,
    ``meta["empty_score"]``) but not fitted; ``meta["fit"]`` has the weighted R^2 and the
    spread of the sampled scores, ``meta["warnings"]`` says when the map carries little signal.

    Held-out fit: ``n_heldout`` more coalitions (default ``min(64, max(16, ceil(0.1 *
    n_samples)))``, rounded up to even; 0: none) are drawn the same way from
    ``fold_in(key, 2^32 - 1)`` (so the fitted rows, hence the weights, are those of a run
    without them), scored after the samples by the same engine and counted in ``n_evals``;
    the fitted ridge is scored on them: ``meta["fit"]["heldout_r2"]`` is their R^2 weighted
    by the same kernel (or None, with ``heldout_note`` saying why: constant scores, no
    held-out rows), ``meta["fit"]["heldout_n"]`` their number. It warns
    (:class:`~vidxai.errors.ExplanationWarning`, ``meta["warnings"]``) when ``n_samples``
    does not exceed the number of features (the ridge can interpolate: the in-sample R^2 is
    near 1 whatever the model) or the held-out R^2 is below 0.5. With a ``sampler`` no rows
    are held out (``n_heldout`` must be None or 0: its distribution is unknown).

    References:
      F. X. Gaya-Morey, J. M. Buades-Rubio, C. Manresa-Yee. Local Agnostic Video Explanations:
      a Study on the Applicability of Removal-Based Explanations to Video. Preprint, 2024
      (Sec. 4.4 and Table 2: the video adaptation and its settings).
      M. T. Ribeiro, S. Singh, C. Guestrin. "Why Should I Trust You?": Explaining the
      Predictions of Any Classifier. KDD, 2016.
    """
    video, removal = prepare(f, video, segmentation, removal)
    key = check_key(key)
    n_samples = sampling.check_samples(n_samples)
    p = check_probability(p, "p")
    kernel_width = check_float(kernel_width, "kernel_width", 0.0, open_low=True)
    alpha = check_float(alpha, "alpha", 0.0)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    n = segmentation.n
    if sampler is None:
        h = heldout_count(n_samples, n_heldout)
        chunk_iter = index_chunks(partial(lime_stream_rows, key, heldout_key(key), n=n, p=p,
                                          first=jnp.uint32(n_samples + 2)),
                                  n_samples + 2 + h, batch_size)
    else:
        if n_heldout is not None and heldout_count(n_samples, n_heldout):
            raise ArgumentError("n_heldout", "None or 0 with a custom sampler", n_heldout)
        h = 0
        z = np.asarray(sampler(key, n_samples, n), dtype=bool)
        if z.shape != (n_samples, n):
            raise ArgumentError("sampler", f"a function returning ({n_samples}, {n}) coalitions",
                                z.shape)
        chunk_iter = chunks(with_rows(z, True, False)[np.r_[n_samples, n_samples + 1,
                                                             :n_samples]], n_samples + 2,
                            batch_size)
    stream = _coalition_stream(f, video, segmentation, removal, chunk_iter, n_samples + 2 + h,
                               batch_size, progress)
    fit, ends, spread, held = fit_stream(
        stream, surrogate.Gram(n), n_samples, batch_size,
        lambda z: (z, surrogate.lime_kernel(z, kernel_width)),
        lambda gram, _: surrogate.ridge_fit(gram, alpha))
    heldout = heldout_meta(held, h, "n_heldout = 0: no coalitions are held out" if sampler is None
                           else "a custom sampler: no coalitions are held out")
    return explanation("lime", fit.coef, segmentation, f, n_samples + 2 + h, removal,
                       **trust(ends[0], ends[1], spread, fit.r2, fit.rank_deficient, heldout, n),
                       intercept=fit.intercept,
                       n_samples=n_samples, p=p, kernel_width=kernel_width, alpha=alpha)


def kernel_shap(f, video, segmentation, *, key, n_samples=1000, n_heldout=None, removal=None,
                batch_size=32, progress=False):
    """3D Kernel SHAP (paper 001): Shapley values by kernel-weighted least squares.

    Coalitions from :func:`vidxai.sampling.kernel_plan` (complete small/large sizes, then
    complement pairs drawn from ``key``), generated and fitted chunk by chunk (memory
    independent of ``n_samples``); the full and empty videos are scored and enforced
    exactly, so the weights sum to ``f(x) - f(removed)`` (efficiency). With ``n_samples >=
    2^n - 2`` every coalition is used and the result is the exact Shapley value vector.
    ``meta["fit"]`` has the weighted R^2 of the fit and the spread of the scores.

    Held-out fit: unless every coalition is in the fit, ``n_heldout`` more complement pairs
    (default ``min(64, max(16, ceil(0.1 * n_samples)))`` rows, rounded up to even; 0: none)
    are drawn like the sampled ones (sizes not enumerated, in proportion to their kernel
    mass) from ``fold_in(key, 2^32 - 1)``, scored after the fitted rows and counted in
    ``n_evals``; the fitted weights are scored on them. Drawn in proportion to the kernel,
    they carry equal weights, so ``meta["fit"]["heldout_r2"]`` estimates the kernel-weighted
    R^2 over the coalitions the fit only sampled (None, with ``heldout_note``, when the
    scores are constant or nothing is held out); ``meta["fit"]["heldout_n"]`` is their
    number. It warns when the fitted rows do not exceed the features, or the held-out R^2 is
    below 0.5 (see :func:`lime`).

    References:
      F. X. Gaya-Morey, J. M. Buades-Rubio, C. Manresa-Yee. Local Agnostic Video Explanations:
      a Study on the Applicability of Removal-Based Explanations to Video. Preprint, 2024
      (Sec. 4.4 and Table 2: the video adaptation and its settings).
      S. M. Lundberg, S.-I. Lee. A Unified Approach to Interpreting Model Predictions.
      NeurIPS, 2017 (Theorem 2: the Shapley kernel).
    """
    video, removal = prepare(f, video, segmentation, removal)
    key = check_key(key)
    n_samples = sampling.check_samples(n_samples)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    n = segmentation.n
    plan = sampling.kernel_plan(n_samples, n)
    if n > 1 and plan.n_rows == 0:
        raise ArgumentError("n_samples", "at least 2 (one complement pair) for Kernel SHAP",
                            n_samples)
    h = heldout_count(n_samples, n_heldout)
    exhaustive = n == 1 or not plan.size_probs
    h = 0 if exhaustive else h
    held_plan = sampling.KernelPlan(m=n, sizes=(), size_weight=(), pairs=h // 2,
                                    pair_weight=1.0, size_probs=plan.size_probs)
    ends = [(np.stack([np.ones(n, bool), np.zeros(n, bool)]), np.zeros(2))]
    pieces = itertools.chain(ends, sampling.shapley_kernel_chunks(key, plan, batch_size)
                             if n > 1 else (),
                             sampling.shapley_kernel_chunks(heldout_key(key), held_plan,
                                                            batch_size) if h else ())
    n_fit = plan.n_rows if n > 1 else 0
    stream = _coalition_stream(f, video, segmentation, removal,
                               stream_chunks(pieces, batch_size), 2 + n_fit + h, batch_size,
                               progress)
    fit, scores, spread, held = fit_stream(
        stream, surrogate.Gram(n), n_fit, batch_size, lambda zw: zw,
        lambda gram, ends: surrogate.shapley_fit(gram, ends[0], ends[1]))
    heldout = heldout_meta(held, h, "every coalition is in the fit: none is left to hold out"
                           if exhaustive else "n_heldout = 0: no coalitions are held out")
    return explanation("kernel_shap", fit.coef, segmentation, f, 2 + n_fit + h, removal,
                       **trust(scores[0], scores[1], spread, fit.r2, fit.rank_deficient,
                               heldout, n),
                       n_samples=int(n_fit))


def loco(f, video, segmentation, *, removal=None, batch_size=32, progress=False):
    """LV-LOCO (paper 001): weight_i = f(x) - f(x without feature i).

    References:
      F. X. Gaya-Morey, J. M. Buades-Rubio, C. Manresa-Yee. Local Agnostic Video Explanations:
      a Study on the Applicability of Removal-Based Explanations to Video. Preprint, 2024
      (Sec. 4.4 and Table 2: the video adaptation and its settings).
      J. Lei, M. G'Sell, A. Rinaldo, R. J. Tibshirani, L. Wasserman. Distribution-free
      Predictive Inference for Regression. JASA, 2018 (leave one covariate out).
    """
    video, removal = prepare(f, video, segmentation, removal)
    z = sampling.leave_one_out(segmentation.n)
    y = score_checked_coalitions(f, video, segmentation, with_rows(z, True), removal,
                                 batch_size=batch_size, progress=progress)
    weights = -surrogate.difference(y[:-1], y[-1])
    return explanation("loco", weights, segmentation, f, len(y), removal, score=y[-1])


def univariate(f, video, segmentation, *, removal=None, batch_size=32, progress=False):
    """LV-Univariate (paper 001): weight_i = f(only feature i kept) - f(all removed).

    References:
      F. X. Gaya-Morey, J. M. Buades-Rubio, C. Manresa-Yee. Local Agnostic Video Explanations:
      a Study on the Applicability of Removal-Based Explanations to Video. Preprint, 2024
      (Sec. 4.4 and Table 2: the video adaptation and its settings).
      I. Guyon, A. Elisseeff. An Introduction to Variable and Feature Selection. JMLR, 2003
      (univariate predictors).
    """
    video, removal = prepare(f, video, segmentation, removal)
    z = sampling.keep_one(segmentation.n)
    y = score_checked_coalitions(f, video, segmentation, with_rows(z, True, False), removal,
                                 batch_size=batch_size, progress=progress)
    weights = surrogate.difference(y[:-2], y[-1])
    return explanation("univariate", weights, segmentation, f, len(y), removal, score=y[-2],
                       empty_score=y[-1])


@partial(jax.jit, static_argnames=("cells",))
def rise_rows(key, idx, cells: tuple, p):
    """RISE's rows ``idx``: row 0 all cells on, row 1 all off; sample ``i - 2``: cell bits and
    a shift in [0, 1)^3 drawn from ``fold_in`` of the key's two halves."""
    k_bits, k_shift = jax.random.split(key)
    i = jnp.maximum(idx, 2) - 2
    bits = _with_ends(idx, sampling.bernoulli_rows(k_bits, i, int(np.prod(cells)), p))
    shift = jax.vmap(lambda j: jax.random.uniform(jax.random.fold_in(k_shift, j), (3,)))(
        i.astype(jnp.uint32))
    return bits.reshape((-1,) + tuple(cells)), jnp.where((idx < 2)[:, None], 0.0, shift)


@jax.jit
def _cell_sums(sums, counts, bits, y, keep):
    flat = bits.reshape(bits.shape[0], -1).astype(jnp.float32) * keep[:, None]
    return sums + y @ flat, counts + flat.sum(0)


def rise(f, video, *, key, cells=(4, 7, 7), n_samples=1000, p=0.5, shift=True, removal=None,
         batch_size=32, progress=False):
    """3D RISE (paper 001): random T x H x W cell grids, upsampled trilinearly to soft masks.

    The map is the mean score over samples weighted by how much each voxel was kept
    (sum_i y_i M_i / sum_i M_i); ``weights`` are the same mean per grid cell (over the
    samples whose cell bit was on), with ``segmentation`` the ``cells`` grid. ``shift=True``
    (default) adds the original RISE's random sub-cell shift (Petsiuk et al.); ``False``
    stretches the grid exactly, as paper 001's reference code does (the paper-faithful
    choice for 3D RISE). We keep the shift by default: without it every sample's cell edges
    fall on the same voxels, so the map is a trilinear blend of the ``cells`` grid and
    cannot place evidence more finely than one cell (a 16 x 112 x 112 video under the 4 x 7 x
    7 grid: 4 frames x 16 x 16 px); the shift moves the edges by up to one cell per sample.
    Sample ``i`` comes from ``fold_in(key, i)``; the sums accumulate chunk by chunk, so memory
    does not grow with ``n_samples``.

    References:
      F. X. Gaya-Morey, J. M. Buades-Rubio, C. Manresa-Yee. Local Agnostic Video Explanations:
      a Study on the Applicability of Removal-Based Explanations to Video. Preprint, 2024
      (Sec. 4.4 and Table 2: the video adaptation and its settings).
      V. Petsiuk, A. Das, K. Saenko. RISE: Randomized Input Sampling for Explanation of
      Black-box Models. BMVC, 2018.
    """
    video, removal = prepare(f, video, None, removal, segmented=False)
    key = check_key(key)
    n_samples = sampling.check_samples(n_samples)
    p = check_probability(p, "p")
    cells = check_shape3(cells, "cells")
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    dims = tuple(video.shape[:3])
    seg = grid(dims, cells)  # also validates cells against the video size
    static = (dims, bool(shift))
    num, den = jnp.zeros(dims, jnp.float32), jnp.zeros(dims, jnp.float32)
    sums, counts = jnp.zeros(seg.n, jnp.float32), jnp.zeros(seg.n, jnp.float32)
    spread, ends, offset = ScoreSpread(), {}, 0
    stream = score_stream(f, video, removal.removed(video), rise_mask,
                          index_chunks(partial(rise_rows, key, cells=cells, p=p), n_samples + 2,
                                       batch_size),
                          (), static, n_rows=n_samples + 2, batch_size=batch_size,
                          edge_sigma=removal.edge_sigma, progress=progress)
    for rows, params, y in stream:
        keep = row_mask(rows, offset, batch_size, 2, n_samples + 2)
        ends.update({offset + i: float(y[i]) for i in range(min(rows, 2 - offset))})
        y_full = jnp.asarray(np.pad(y, (0, batch_size - rows)))
        num, den = surrogate.accumulate_masks(num, den, params, y_full, jnp.asarray(keep), (),
                                              mask_fn=rise_mask, static=static)
        sums, counts = _cell_sums(sums, counts, params[0], y_full, jnp.asarray(keep))
        spread.add(y[keep[:rows] > 0])
        offset += rows
    weights = surrogate.safe_ratio(sums, counts)
    return explanation("rise", weights, seg, f, n_samples + 2, removal,
                       pixel_map=surrogate.safe_ratio(num, den),
                       **trust(ends[0], ends[1], spread), cells=list(cells),
                       n_samples=n_samples, p=p, shift=shift)


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

    References:
      F. X. Gaya-Morey, J. M. Buades-Rubio, C. Manresa-Yee. Local Agnostic Video Explanations:
      a Study on the Applicability of Removal-Based Explanations to Video. Preprint, 2024
      (Sec. 4.4 and Table 2: the video adaptation and its settings).
      M. D. Zeiler, R. Fergus. Visualizing and Understanding Convolutional Networks.
      ECCV, 2014.
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
