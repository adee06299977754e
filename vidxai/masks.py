"""Mask machinery of extremal perturbation (Fong et al. 2019; STEP, paper 004; TIEM, paper 002).

Pure, jittable functions, composed by :mod:`vidxai.explain.extremal`:

* :func:`smooth_max_upsample`: low-resolution seed grid -> smooth full-resolution mask;
* :func:`blur_pyramid` / :func:`apply_pyramid`: the blur perturbation ``M (x) X``;
* :func:`sorted_area_loss` (L_S, paper 004 Eq. 6) and :func:`per_frame_area_loss`
  (TIEM, paper 002 Eq. 7);
* :func:`ellipsoid_kernel` (paper 004 Eq. 9-10) and :func:`kernel_smoothness_loss`
  (L_K, paper 004 Eq. 7-8, with the top-k rule of the STEP reference code);
* :func:`kth_largest`: the exact selection the sorted losses need, without a sort.

The generator and the pyramid interpolation carry hand-written gradients and the losses
avoid sorting, so an optimisation iteration costs little more than the model's own forward
+ backward pass (measured by ``benchmarks/extremal_speed.py``; see the README).

Masks are ``(T, H, W)`` floats in [0, 1], 1 = preserved. Leading batch axes are allowed where
stated; vmap the rest.
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._filters import gaussian_filter
from ._selection import kth_largest
from .errors import ArgumentError, check_int

COLDNESS = 20.0      # softmax temperature of the smooth max
ELLIPSOID_FILL = 0.5236  # ~pi/6, volume of an ellipsoid relative to its bounding box


@functools.lru_cache(maxsize=64)
def smooth_max_geometry(h: int, w: int, step: int, sigma: float):
    """Static layout of the smooth-max generator for an ``h x w`` frame.

    Returns ``(pad, taps, grid, out, weight, tail)``: seed padding ``P = 1 + ceil(2 sigma /
    step)``, ``taps = 2R + 1`` with ``R = 1 + ceil(sigma / step)``, the seed grid
    ``(ceil(h/step), ceil(w/step))``, the full (uncropped) output size, the tap weights
    ``(taps, taps, step, step)`` and ``tail``, the extra zero seeds needed after the padded
    grid.

    Output pixel ``u`` lies in block ``u // step`` at position ``r = u mod step``; its tap
    ``k`` reads padded seed ``u // step + k`` (seed ``u // step + k - P`` of the grid), whose
    centre is ``sigma + step * (u // step + k - P)``. The distance from ``u`` to that centre,
    ``r - sigma - step * (k - P)``, depends only on ``(k, r)``, so one weight
    ``exp(-2 max(delta/sigma - 1/2, 0)^2)`` per tap and block position serves every block.

    The full size is the reference's ``step * (grid + 2P - 2R - 1) + 1``, except that it is
    extended (reading zero seeds beyond the grid) when that would not hold the crop
    ``[floor(sigma), floor(sigma) + n)``: for some ratios ``sigma / step`` (e.g. step 4,
    sigma 6) the reference size falls one or more pixels short of the frame.
    """
    pad = 1 + math.ceil(2 * sigma / step)
    radius = 1 + math.ceil(sigma / step)
    taps = 2 * radius + 1
    grid, out, tail = [], [], []
    for n in (h, w):
        g = math.ceil(n / step)
        size = max(step * (g + 2 * pad - 2 * radius) - step + 1, math.floor(sigma) + n)
        blocks = math.ceil(size / step)
        tail.append(max(0, blocks + taps - 1 - (g + 2 * pad)))  # block b's last tap: b+taps-1
        grid.append(g)
        out.append(size)
    r = np.arange(step)
    offset = r[None, :] - sigma - step * (np.arange(taps)[:, None] - pad)  # (taps, step)
    dist = np.sqrt(offset[:, None, :, None] ** 2 + offset[None, :, None, :] ** 2)
    weight = np.exp(-2.0 * np.maximum(dist / sigma - 0.5, 0.0) ** 2).astype(np.float32)
    return pad, taps, tuple(grid), tuple(out), weight, tuple(tail)


def _tap_values(padded, weight, blocks, k):
    """Weighted seed that tap ``k`` (row-major, may be traced) gives every output pixel, in
    the position-major block layout ``(step, step, ..., blocks_y, blocks_x)``."""
    taps = math.isqrt(weight.shape[0])
    start = (0,) * (padded.ndim - 2) + (k // taps, k % taps)
    seed = lax.dynamic_slice(padded, start, padded.shape[:-2] + blocks)
    return seed * weight[k].reshape(weight.shape[1:] + (1,) * padded.ndim)


@functools.lru_cache(maxsize=64)
def _smooth_max_blocks(step: int, sigma: float, blocks: tuple):
    """The softmax-weighted mean of each pixel's weighted taps, in block layout, with a
    hand-written VJP (Fong et al. 2019's generator; its formula in :func:`smooth_max_upsample`).

    Forward: a max pass, then ``Z = sum e_k`` and ``sum v_k e_k`` with ``e_k = exp(c (v_k -
    max))``, looping over the taps so only pixel-sized arrays exist (autodiff of the stacked
    form would store ``taps^2`` copies of the mask). Backward:
    ``d mean / d v_k = e_k / Z * (1 + c (v_k - mean))``, recomputed one block position at a
    time for all taps and summed over the ``step x step`` pixels that read each seed. The
    loops keep XLA's fusion choices stable: fully unrolled, they depend on the surrounding
    graph and can be much slower.
    """
    pad, taps, _, _, weight_np, _ = smooth_max_geometry(step, step, step, sigma)
    weight_np = weight_np.reshape(taps * taps, step, step)
    n = taps * taps

    def forward(padded):
        weight = jnp.asarray(weight_np)
        vals = functools.partial(_tap_values, padded, weight, blocks)
        top = functools.reduce(jnp.maximum, (vals(k) for k in range(n)))

        def accumulate(k, sums):
            v = vals(k)
            e = jnp.exp(COLDNESS * (v - top))
            return sums[0] + e, sums[1] + v * e
        # one row of taps per iteration: fully unrolled, XLA stored every e_k
        z, num = lax.fori_loop(0, n, accumulate, (jnp.zeros_like(top),) * 2, unroll=taps)
        mean = num / z
        return mean, (padded, top, z, mean)

    @jax.custom_vjp
    def smooth_max(padded):
        return forward(padded)[0]

    def backward(res, g):
        padded, top, z, mean = res
        scale = g / z
        windows = jnp.stack([padded[..., k // taps:k // taps + blocks[0],
                                    k % taps:k % taps + blocks[1]] for k in range(n)])
        w = jnp.asarray(weight_np.reshape((n, step * step) + (1,) * padded.ndim))
        flat = lambda a: a.reshape((step * step,) + a.shape[2:])
        scale, top, mean = flat(scale), flat(top), flat(mean)

        def accumulate(r, per_seed):   # pixels at block position r, every tap at once
            wr = lax.dynamic_index_in_dim(w, r, 1, keepdims=False)
            v = windows * wr
            dv = scale[r] * jnp.exp(COLDNESS * (v - top[r])) * (1.0 + COLDNESS * (v - mean[r]))
            return per_seed + dv * wr
        # (n, ..., blocks_y, blocks_x): tap k's gradient for padded seed b + k
        per_seed = lax.fori_loop(0, step * step, accumulate, jnp.zeros_like(windows), unroll=step)
        grad = 0.0
        for k in range(n):
            before = (k // taps, k % taps)
            after = [m - b - o for m, b, o in zip(padded.shape[-2:], blocks, before)]
            widths = ((0, 0),) * (padded.ndim - 2) + tuple(zip(before, after))
            grad = grad + jnp.pad(per_seed[k], widths)
        return (grad,)

    smooth_max.defvjp(forward, backward)
    return smooth_max


CHUNK_PIXELS = 1 << 19   # generator working set per chunk (~2 MB per float32 array)


def _chunked(generator, padded, pixels_per_frame):
    """Run the block generator on ``padded (frames, Py, Px)`` in chunks of frames that keep
    each of its pixel-sized arrays near ``CHUNK_PIXELS`` (the largest divisor of the frame
    count that fits), so that they stay in the CPU cache (many area levels x frames in one
    piece spill out of it and run slower than separate calls). Returns
    ``(frames, step, step, by, bx)``."""
    frames = padded.shape[0]
    per_chunk = max(1, CHUNK_PIXELS // pixels_per_frame)
    size = max(d for d in range(1, min(per_chunk, frames) + 1) if frames % d == 0)
    if size == frames:
        return jnp.moveaxis(generator(padded), 2, 0)
    out = lax.map(generator, padded.reshape((frames // size, size) + padded.shape[1:]))
    out = jnp.moveaxis(out, 3, 1)     # (chunks, size, step, step, by, bx)
    return out.reshape((frames,) + out.shape[2:])


def seed_grid_shape(shape, step: int = 7, sigma: float = 11) -> tuple[int, int]:
    """Seed grid ``(ceil(H/step), ceil(W/step))`` for frames of ``shape = (H, W)``."""
    return smooth_max_geometry(int(shape[0]), int(shape[1]), int(step), float(sigma))[2]


@functools.partial(jax.jit, static_argnames=("shape", "step", "sigma"))
def smooth_max_upsample(seeds, shape, step: int = 7, sigma: float = 11):
    """Smooth-max upsampling of a seed grid (Fong et al. 2019, as used by STEP, paper 004).

    ``seeds (..., ceil(H/step), ceil(W/step))`` -> ``(full, mask)``: each output pixel takes a
    soft maximum (softmax with coldness 20) over the ``(2R+1)^2`` nearest seeds, each seed
    value first attenuated by a radial weight of its distance to the pixel; the result is
    clamped to [0, 1]. ``full`` has a margin of ``sigma`` pixels on every side (the area
    losses read it); ``mask = full[..., sigma:sigma+H, sigma:sigma+W]`` is what perturbs the
    video. Seeds outside the grid count as 0.
    """
    h, w = int(shape[0]), int(shape[1])
    pad, _, grid, out, _, tail = smooth_max_geometry(h, w, int(step), float(sigma))
    if tuple(seeds.shape[-2:]) != grid:
        raise ArgumentError("seeds", f"a (..., {grid[0]}, {grid[1]}) seed grid", seeds.shape)
    lead = seeds.ndim - 2
    padded = jnp.pad(seeds, ((0, 0),) * lead + ((pad, pad + tail[0]), (pad, pad + tail[1])))
    blocks = tuple(math.ceil(n / step) for n in out)
    frames = _chunked(_smooth_max_blocks(int(step), float(sigma), blocks),
                      padded.reshape((-1,) + padded.shape[-2:]), blocks[0] * blocks[1] * step**2)
    full = jnp.moveaxis(frames, (1, 2), (-3, -1))   # (frames, by, step, bx, step)
    full = full.reshape(seeds.shape[:-2] + (blocks[0] * step, blocks[1] * step))
    full = jnp.clip(full[..., :out[0], :out[1]], 0.0, 1.0)
    s = int(math.floor(sigma))
    return full, full[..., s:s + h, s:s + w]


@functools.partial(jax.jit, static_argnames=("levels", "max_sigma"))
def blur_pyramid(video, levels: int = 8, max_sigma: float = 20.0):
    """Blur pyramid ``(levels, T, H, W, C)`` of a video (Fong et al. 2019; paper 004).

    Level ``l`` is every frame blurred by a 2-D Gaussian of ``sigma_l = (1 - l/(levels-1)) *
    max_sigma`` with zero padding, so level 0 is the most blurred and the last level is the
    video itself.
    """
    if levels < 2:
        raise ArgumentError("levels", "at least 2 pyramid levels", levels)
    out = []
    for level in range(levels):
        s = (1.0 - level / (levels - 1)) * float(max_sigma)
        out.append(gaussian_filter(video, s, axes=(-3, -2), mode="constant") if s > 0 else video)
    return jnp.stack(out)


def _pyramid_levels(pyramid, mask):
    """Per pixel: the lower level ``k``, the interpolation fraction, and the values of
    levels ``k`` and ``k + 1``, as one select chain over the levels (no gather)."""
    levels = pyramid.shape[0]
    pos = jnp.clip(mask, 0.0, 1.0) * (levels - 1)
    k = jnp.minimum(jnp.floor(pos), levels - 2)
    lo = hi = jnp.zeros(mask.shape + pyramid.shape[-1:], pyramid.dtype)
    for level in range(levels - 1):
        here = (k == level)[..., None]
        lo = jnp.where(here, pyramid[level], lo)
        hi = jnp.where(here, pyramid[level + 1], hi)
    return k, (pos - k)[..., None], lo, hi


@jax.custom_vjp
def apply_pyramid(pyramid, mask):
    """Perturbed video ``M (x) X``: ``mask (..., T, H, W)`` picks a pyramid level per pixel.

    ``m * (levels - 1)`` is split into a level ``k`` (at most ``levels - 2``) and a fraction;
    the output interpolates linearly between levels ``k`` and ``k + 1``. ``m = 1`` returns the
    video, ``m = 0`` the most blurred level. Returns ``(..., T, H, W, C)``.

    The gradient is hand-written: w.r.t. the mask it is ``(levels - 1) * sum over channels of
    g * (level k+1 - level k)``, for ``0 <= m <= 1`` inclusive (as a clamp in torch, so the
    optimisation's starting mask of ones gets the full gradient); autodiff of the select chain
    costs XLA's CPU backend several times the forward pass.
    """
    _, frac, lo, hi = _pyramid_levels(pyramid, mask)
    return lo + frac * (hi - lo)


def _apply_pyramid_fwd(pyramid, mask):
    return apply_pyramid(pyramid, mask), (pyramid, mask)


def _apply_pyramid_bwd(res, g):
    pyramid, mask = res
    levels = pyramid.shape[0]
    k, frac, lo, hi = _pyramid_levels(pyramid, mask)
    inside = (mask >= 0.0) & (mask <= 1.0)
    g_mask = jnp.where(inside, (levels - 1) * jnp.sum(g * (hi - lo), axis=-1), 0.0)
    g_pyr = jnp.stack([g * (jnp.where((k == level)[..., None], 1.0 - frac, 0.0)
                            + jnp.where((k == level - 1)[..., None], frac, 0.0))
                       for level in range(levels)])
    lead = g_pyr.ndim - pyramid.ndim      # mask batch axes the pyramid was broadcast over
    g_pyr = jnp.sum(g_pyr, axis=tuple(range(1, 1 + lead))) if lead else g_pyr
    return g_pyr.astype(pyramid.dtype), g_mask.astype(mask.dtype)


apply_pyramid.defvjp(_apply_pyramid_fwd, _apply_pyramid_bwd)
apply_pyramid = jax.jit(apply_pyramid)


def _sorted_template_loss(values, ones):
    """Mean squared distance of ascending-sorted ``values`` (last axis) from a template of
    ``n - ones`` zeros then ``ones`` ones (L_S / L_K of paper 004 Eq. 6-8), without sorting.

    With ``tau`` the ``ones``-th largest value, the sorted template puts 1 on every value
    above ``tau`` and on ``m = ones - #(values > tau)`` of the values tied at ``tau``. The
    loss is the same whichever tied values get them; the gradient ``2 (x - t) / n`` gives each
    tied value the share ``m / #ties`` (a sort would pick ``m`` of them arbitrarily).
    ``sum (x - t)^2`` then misses ``m (1 - share)``, added back, so the value equals the
    sorted form exactly.
    """
    n = values.shape[-1]
    tau = lax.stop_gradient(kth_largest(values, ones))[..., None]
    above = jnp.sum(values > tau, axis=-1)
    ties = jnp.sum(values == tau, axis=-1)
    m = jnp.where(ones > 0, ones - above, 0.0)
    share = m / jnp.maximum(ties, 1)
    template = jnp.where(values > tau, 1.0, jnp.where(values == tau, share[..., None], 0.0))
    template = lax.stop_gradient(jnp.where(ones[..., None] > 0, template, 0.0))
    sq = jnp.sum((values - template) ** 2, axis=-1)
    return (sq + lax.stop_gradient(m * (1.0 - share))) / n


@functools.partial(jax.jit, static_argnames=("size",))
def sorted_area_loss(mask, area, size=None):
    """Area loss L_S (paper 004 Eq. 6), whole volume.

    All values of ``mask`` (any shape) sorted against a template of ``round(area * size)``
    ones, as a squared error divided by ``size`` (Eq. 6's squared norm divided by N, which
    only rescales lambda). ``size`` defaults to the number of values. 0 for a binary mask of
    exactly that area. Given the uncropped generator output and ``size = T H W``, the frame
    is asked to keep ``area`` of its voxels and the generator's border to stay at 0 (the
    extremal methods' default, ``area_on="frame"``); given it with ``size=None``, the border
    counts as frame (the STEP code, ``"full"``).
    """
    flat = mask.reshape(-1)
    size = flat.size if size is None else size
    ones = jnp.round(jnp.asarray(area, flat.dtype) * size)
    return _sorted_template_loss(flat, ones) * (flat.size / size)


@functools.partial(jax.jit, static_argnames=("size",))
def per_frame_area_loss(mask, areas_t, size=None):
    """TIEM's per-frame area loss (paper 002 Eq. 7).

    ``mask (T, ...)`` and per-frame areas ``areas_t (T,)`` (``a * l_t * T`` clipped to [0, 1]):
    each frame's sorted values against its own template of ``round(areas_t[t] * size)`` ones
    (``size``: the pixels of a frame the areas refer to; default all values of a frame, see
    :func:`sorted_area_loss`). Returns the mean over frames of the per-frame squared errors
    divided by ``size`` (Eq. 7's sum of squared norms up to the constant factor T*H*W,
    absorbed in lambda), so lambda means the same as for :func:`sorted_area_loss`.
    """
    t = mask.shape[0]
    flat = mask.reshape(t, -1)
    size = flat.shape[1] if size is None else size
    ones = jnp.round(jnp.clip(jnp.asarray(areas_t, flat.dtype), 0.0, 1.0) * size)
    return jnp.mean(_sorted_template_loss(flat, ones)) * (flat.shape[1] / size)


def ellipsoid_kernel(t: int, h: int, w: int) -> np.ndarray:
    """Normalised binary ellipsoid kernel ``K (t, h, w)`` of STEP (paper 004 Eq. 9-10).

    A voxel is 1 when ``sum over axes of (2 i / (n - 1) - 1)^2 <= 1`` (an axis of length 1
    contributes 0); the kernel is divided by its number of ones ``Z``.
    """
    sizes = [check_int(v, name, minimum=1) for v, name in ((t, "t"), (h, "h"), (w, "w"))]
    grids = np.meshgrid(*[(2.0 * np.arange(n) / (n - 1) - 1.0) if n > 1 else np.zeros(1)
                          for n in sizes], indexing="ij")
    inside = sum(g ** 2 for g in grids) <= 1.0 + 1e-9
    if not inside.any():
        raise ArgumentError("kernel", "a shape whose ellipsoid contains a voxel", tuple(sizes))
    k = inside.astype(np.float32)
    return k / k.sum()


def kernel_top_k(area, shape, kernel_shape):
    """Number of convolution responses L_K pulls to 1 (STEP reference code):
    ``ceil(area * T * H * W / int(T_K * H_K * W_K * 0.5236))``."""
    t, h, w = shape
    tk, hk, wk = kernel_shape
    denom = max(int(tk * hk * wk * ELLIPSOID_FILL), 1)
    return jnp.ceil(jnp.asarray(area, jnp.float32) * (t * h * w) / denom)


def _strided_conv3d(volume, kernel, stride):
    """Valid 3-D correlation of ``volume (T, H, W)`` with ``kernel (T_K, H_K, W_K)``.

    Computed as one strided 2-D convolution of every frame with the ``T_K`` kernel slices
    (as output channels), then a sum along the diagonal ``t + j``: much faster than XLA's CPU
    3-D convolution, forward and backward.
    """
    tk, st = kernel.shape[0], stride[0]
    planes = lax.conv_general_dilated(volume[:, None], kernel[:, None], stride[1:], "VALID")
    t_out = (volume.shape[0] - tk) // st + 1
    return sum(planes[j:j + st * (t_out - 1) + 1:st, j] for j in range(tk))


@functools.partial(jax.jit, static_argnames=("stride",))
def kernel_smoothness_loss(mask, kernel, area, stride=(1, 11, 11)):
    """Spatio-temporal smoothness loss L_K (paper 004 Eq. 7-8).

    ``mask (T, H, W)`` is convolved with ``kernel (T_K, H_K, W_K)`` (divided by its sum) with
    ``stride`` and no padding; the sorted responses are compared with a template whose top
    ``k`` (:func:`kernel_top_k`) entries are 1 and the rest 0 (mean squared). As in the STEP
    reference code, this top-k rule replaces Eq. 8's beta.
    """
    kernel = jnp.asarray(kernel, mask.dtype)
    if mask.ndim != 3 or kernel.ndim != 3:
        raise ArgumentError("mask", "a (T, H, W) mask and a (T_K, H_K, W_K) kernel",
                            (mask.shape, kernel.shape))
    if any(k > m for k, m in zip(kernel.shape, mask.shape)):
        raise ArgumentError("kernel", f"a kernel no larger than the mask {mask.shape}",
                            tuple(kernel.shape))
    kernel = kernel / jnp.sum(kernel)
    resp = _strided_conv3d(mask, kernel, tuple(stride)).reshape(-1)
    k = jnp.clip(kernel_top_k(area, mask.shape, kernel.shape), 0, resp.size)
    return _sorted_template_loss(resp, k)
