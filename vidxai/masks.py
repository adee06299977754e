"""Mask machinery of extremal perturbation (Fong et al. 2019; STEP, paper 004; TIEM, paper 002).

Pure, jittable functions, composed by :mod:`vidxai.explain.extremal`:

* :func:`smooth_max_upsample`: low-resolution seed grid -> smooth full-resolution mask;
* :func:`blur_pyramid` / :func:`apply_pyramid`: the blur perturbation ``M (x) X``;
* :func:`sorted_area_loss` (L_S, paper 004 Eq. 6) and :func:`per_frame_area_loss`
  (TIEM, paper 002 Eq. 7);
* :func:`ellipsoid_kernel` (paper 004 Eq. 9-10) and :func:`kernel_smoothness_loss`
  (L_K, paper 004 Eq. 7-8, with the top-k rule of the STEP reference code).

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
from .errors import ArgumentError, check_int

COLDNESS = 20.0      # softmax temperature of the smooth max
ELLIPSOID_FILL = 0.5236  # ~pi/6, volume of an ellipsoid relative to its bounding box


@functools.lru_cache(maxsize=64)
def smooth_max_geometry(h: int, w: int, step: int, sigma: float):
    """Static layout of the smooth-max generator for an ``h x w`` frame.

    Returns ``(pad, taps, grid, out, weight, tail)``: seed padding ``P = 1 + ceil(2 sigma /
    step)``, ``taps = 2R + 1`` with ``R = 1 + ceil(sigma / step)``, the seed grid
    ``(ceil(h/step), ceil(w/step))``, the full (uncropped) output size, the tap weights
    ``(taps*taps, out_h, out_w)`` = ``exp(-2 max(delta/sigma - 1/2, 0)^2)``, where delta is the
    distance from an output pixel to the centre of the seed a tap reads, and ``tail``, the
    extra zero seeds needed after the padded grid.

    The full size is the reference's ``step * (grid + 2P - 2R - 1) + 1``, except that it is
    extended (reading zero seeds beyond the grid) when that would not hold the crop
    ``[floor(sigma), floor(sigma) + n)``: for some ratios ``sigma / step`` (e.g. step 4,
    sigma 6) the reference size falls one or more pixels short of the frame.
    """
    pad = 1 + math.ceil(2 * sigma / step)
    radius = 1 + math.ceil(sigma / step)
    taps = 2 * radius + 1
    grid, out, offsets, tail = [], [], [], []
    for n in (h, w):
        g = math.ceil(n / step)
        mid = g + 2 * pad - 2 * radius
        size = max(step * mid - step + 1, math.floor(sigma) + n)
        # tap k of pixel u reads up[u + k * step]; up holds (g + 2P + tail) * step values
        tail.append(max(0, math.ceil((size + (taps - 1) * step) / step) - (g + 2 * pad)))
        u = np.arange(size)
        seed = u[None, :] // step + np.arange(taps)[:, None] - pad   # (taps, size) seed index
        offsets.append(u[None, :] - (sigma + step * seed))            # distance to its centre
        grid.append(g)
        out.append(size)
    dist = np.sqrt(offsets[0][:, None, :, None] ** 2 + offsets[1][None, :, None, :] ** 2)
    weight = np.exp(-2.0 * np.maximum(dist / sigma - 0.5, 0.0) ** 2)
    weight = weight.reshape(taps * taps, out[0], out[1]).astype(np.float32)
    return pad, taps, tuple(grid), tuple(out), weight, tuple(tail)


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
    pad, taps, grid, out, weight, tail = smooth_max_geometry(h, w, int(step), float(sigma))
    if tuple(seeds.shape[-2:]) != grid:
        raise ArgumentError("seeds", f"a (..., {grid[0]}, {grid[1]}) seed grid", seeds.shape)
    lead = seeds.ndim - 2
    padded = jnp.pad(seeds, ((0, 0),) * lead + ((pad, pad + tail[0]), (pad, pad + tail[1])))
    up = jnp.repeat(jnp.repeat(padded, step, axis=-2), step, axis=-1)  # nearest upsampling
    # Tap (ky, kx) of output pixel u reads seed floor(u/step) + k - pad = up[u + k*step].
    vals = jnp.stack([up[..., ky * step:ky * step + out[0], kx * step:kx * step + out[1]]
                      for ky in range(taps) for kx in range(taps)], axis=-3)
    vals = vals * jnp.asarray(weight)
    full = jnp.sum(vals * jax.nn.softmax(COLDNESS * vals, axis=-3), axis=-3)
    full = jnp.clip(full, 0.0, 1.0)
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


@jax.jit
def apply_pyramid(pyramid, mask):
    """Perturbed video ``M (x) X``: ``mask (..., T, H, W)`` picks a pyramid level per pixel.

    ``m * (levels - 1)`` is split into a level ``k`` (at most ``levels - 2``) and a fraction;
    the output interpolates linearly between levels ``k`` and ``k + 1``. ``m = 1`` returns the
    video, ``m = 0`` the most blurred level. Returns ``(..., T, H, W, C)``.
    """
    levels = pyramid.shape[0]
    pos = jnp.clip(mask, 0.0, 1.0) * (levels - 1)
    k = jnp.minimum(jnp.floor(lax.stop_gradient(pos)), levels - 2)
    frac = (pos - k)[..., None]
    out = 0.0
    for level in range(levels):
        lo = (k == level)[..., None]
        hi = (k == level - 1)[..., None]
        weight = jnp.where(lo, 1.0 - frac, 0.0) + jnp.where(hi, frac, 0.0)
        out = out + weight * pyramid[level]
    return out


def _sorted_template_loss(values, ones):
    """Mean squared distance of ascending-sorted ``values`` (last axis) from a template of
    ``n - ones`` zeros then ``ones`` ones."""
    n = values.shape[-1]
    ref = (jnp.arange(n) >= n - ones[..., None]).astype(values.dtype)
    return jnp.mean((jnp.sort(values, axis=-1) - ref) ** 2, axis=-1)


@jax.jit
def sorted_area_loss(mask, area):
    """Area loss L_S (paper 004 Eq. 6), whole volume.

    All values of ``mask`` (any shape; STEP reads the full uncropped mask) sorted against a
    template of ``round(area * N)`` ones, as a mean squared error (Eq. 6's squared norm
    divided by N, which only rescales lambda). 0 for a binary mask of exactly that area.
    """
    flat = mask.reshape(-1)
    ones = jnp.round(jnp.asarray(area, flat.dtype) * flat.size)
    return _sorted_template_loss(flat, ones)


@jax.jit
def per_frame_area_loss(mask, areas_t):
    """TIEM's per-frame area loss (paper 002 Eq. 7).

    ``mask (T, ...)`` and per-frame areas ``areas_t (T,)`` (``a * l_t * T`` clipped to [0, 1]):
    each frame's sorted values against its own template of ``round(areas_t[t] * HW)`` ones.
    Returns the mean over frames of the per-frame mean squared errors (Eq. 7's sum of squared
    norms up to the constant factor T*H*W, absorbed in lambda), so lambda means the same as
    for :func:`sorted_area_loss`.
    """
    t = mask.shape[0]
    flat = mask.reshape(t, -1)
    ones = jnp.round(jnp.clip(jnp.asarray(areas_t, flat.dtype), 0.0, 1.0) * flat.shape[1])
    return jnp.mean(_sorted_template_loss(flat, ones))


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
    resp = lax.conv_general_dilated(mask[None, None], kernel[None, None], tuple(stride), "VALID")
    resp = resp.reshape(-1)
    k = jnp.clip(kernel_top_k(area, mask.shape, kernel.shape), 0, resp.size)
    return _sorted_template_loss(resp, k)
