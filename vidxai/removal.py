"""Feature removal stage: what a removed feature is replaced with (paper 001, Sec. 3.3).

A :class:`Removal` builds the fully *removed* video once per explanation (black, gray, a
constant colour, each segment's mean colour, or a Gaussian-blurred copy); a coalition then
shows the original where its mask is 1 and the removed video where it is 0 (:func:`compose`).
Optional soft edges blur the binary mask per frame before blending, as paper 001's
reference code does (sigma 3.5 on a 3-D-blurred video with sigma 8: :func:`reference`).

This module also holds the pixel-mask generators of the removal-based methods: segment
masks, RISE's upsampled random grids and sampled-occlusion cuboids.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ._filters import gaussian_filter
from .errors import ArgumentError, ArgumentTypeError, check_float, check_key, describe


def compose(video, removed, mask):
    """``m * x + (1 - m) * removed``: the one place a mask is applied to a video.

    ``mask`` is ``(..., T, H, W)`` in [0, 1]; videos are ``(T, H, W, C)``; broadcasts over batch.
    """
    m = mask[..., None]
    return m * video + (1.0 - m) * removed


def soften(mask, sigma: float | None):
    """Blur masks ``(..., T, H, W)`` per frame with a 2-D Gaussian (soft region edges)."""
    if not sigma:
        return mask
    nd = mask.ndim
    return gaussian_filter(mask, sigma, axes=(nd - 2, nd - 1), mode="reflect")


@dataclass(frozen=True)
class Removal:
    """How removed features look: ``fill(video, segmentation) -> removed video``.

    ``edge_sigma``: if set, masks are softened per frame by a Gaussian of that sigma (pixels).
    Build one with :func:`black`, :func:`gray`, :func:`constant`, :func:`mean_color`,
    :func:`blur` or :func:`reference`, or pass your own ``fill``.
    """

    name: str
    fill: Callable
    edge_sigma: float | None = None

    def __post_init__(self):
        if not callable(self.fill):
            raise ArgumentTypeError("fill", "a callable (video, segmentation) -> removed video",
                                    describe(self.fill))
        if self.edge_sigma is not None:
            check_float(self.edge_sigma, "edge_sigma", 0.0)

    def removed(self, video, segmentation=None) -> jax.Array:
        """The fully removed video ``(T, H, W, C)`` for ``video`` (for :func:`imputed`, the
        per-mask fill the engine applies to each perturbed video)."""
        out = self.fill(jnp.asarray(video), segmentation)
        if callable(out):               # a per-mask fill: the engine calls it on each chunk
            return out
        out = jnp.asarray(out, dtype=jnp.float32)
        if out.shape != tuple(video.shape):
            raise ArgumentError("removal", f"a fill returning shape {tuple(video.shape)}", out.shape)
        return out


def _edge(edge_sigma):
    return None if edge_sigma is None else check_float(edge_sigma, "edge_sigma", 0.0)


def constant(value, edge_sigma: float | None = None) -> Removal:
    """Replace removed pixels with a constant grey level or RGB colour in [0, 1]."""
    if isinstance(value, (str, bytes, bool, np.bool_)):
        raise ArgumentTypeError("value", "a level or an RGB triple in [0, 1]", describe(value))
    try:
        colour = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise ArgumentTypeError("value", "a level or an RGB triple in [0, 1]", describe(value))
    if colour.ndim > 1 or colour.size not in (1, 3) or not np.all((colour >= 0) & (colour <= 1)):
        raise ArgumentError("value", "a level or an RGB triple in [0, 1]", describe(value))
    colour = colour.reshape(-1)

    def fill(video, _seg):
        return jnp.broadcast_to(jnp.asarray(colour[: video.shape[-1]] if colour.size == 3
                                            else colour), video.shape)

    return Removal(f"constant{tuple(colour.tolist())}", fill, _edge(edge_sigma))


def black(edge_sigma: float | None = None) -> Removal:
    """Black (0) removal: paper 001's headline setting and RISE's."""
    return Removal("black", lambda v, _s: jnp.zeros_like(v), _edge(edge_sigma))


def gray(value: float = 0.5, edge_sigma: float | None = None) -> Removal:
    """Uniform grey removal (occlusion sensitivity's choice)."""
    r = constant(value, edge_sigma)
    return Removal("gray", r.fill, r.edge_sigma)


def mean_color(edge_sigma: float | None = None) -> Removal:
    """Each removed segment takes its own mean colour (lime_image's default)."""

    def fill(video, seg):
        if seg is None:
            raise ArgumentError("segmentation", "a Segmentation for mean_color removal", None)
        labels = jnp.asarray(seg.labels).reshape(-1)
        flat = video.reshape(-1, video.shape[-1])
        sums = jax.ops.segment_sum(flat, labels, num_segments=seg.n)
        counts = jnp.bincount(labels, length=seg.n)[:, None]
        return (sums / counts)[labels].reshape(video.shape)

    return Removal("mean_color", fill, _edge(edge_sigma))


def blur(sigma: float = 8.0, temporal: bool = True, edge_sigma: float | None = None) -> Removal:
    """Gaussian-blurred copy: 3-D (time too) by default, per-frame 2-D with ``temporal=False``."""
    sigma = check_float(sigma, "sigma", 0.0, open_low=True)
    axes = (0, 1, 2) if temporal else (1, 2)
    name = f"blur{'3d' if temporal else '2d'}(sigma={sigma:g})"
    return Removal(name, lambda v, _s: gaussian_filter(v, sigma, axes), _edge(edge_sigma))


def reference() -> Removal:
    """Paper 001's reference-code removal: 3-D blur (sigma 8), mask edges softened (3.5)."""
    return blur(8.0, temporal=True, edge_sigma=3.5)


def removed_video(removed, video, segmentation=None) -> jax.Array:
    """The fully removed state of ``video``: ``removed`` is a :class:`Removal` (``None`` =
    black), whose fill is built for ``video`` (and ``segmentation``, for :func:`mean_color`),
    or a video of the same shape used as it is."""
    from .errors import check_video

    if removed is None:
        removed = black()
    if isinstance(removed, Removal):
        return removed.removed(video, segmentation)
    arr = check_video(removed, "removed")
    if arr.shape != tuple(video.shape):
        raise ArgumentError("removed", f"a Removal or a video of shape {tuple(video.shape)}",
                            arr.shape)
    return jnp.asarray(arr)


# ---- pixel-mask generators: fn(params (B, ...), aux arrays, static hashable) -> (B, T, H, W) ----

def segment_mask(z, labels, static=None):
    """Coalition rows ``(B, n)`` to pixel masks via the segmentation labels ``(T, H, W)``."""
    return jnp.take(z.astype(jnp.float32), labels, axis=1)


def _linear_weights(out_len: int, in_len: int, scale: float, offset):
    """Rows of linear-interpolation weights ``(B, out_len, in_len)``: output voxel u samples
    the input at (u + offset + 0.5) * scale - 0.5 (half-pixel centres), clamped to the ends
    (the same sampling as ``jax.image.resize(..., "linear")``)."""
    u = jnp.arange(out_len, dtype=jnp.float32)[None, :] + offset[:, None]
    x = jnp.clip((u + 0.5) * scale - 0.5, 0.0, in_len - 1.0)
    return jnp.maximum(0.0, 1.0 - jnp.abs(x[..., None] - jnp.arange(in_len, dtype=jnp.float32)))


def coalition_mask(params, labels, static=None):
    """Like :func:`segment_mask`, for parameter rows ``z`` or ``(z, row weights)``."""
    return segment_mask(params[0] if isinstance(params, tuple) else params, labels, static)


def rise_mask(params, aux, static):
    """RISE masks: a random cell grid, trilinearly upsampled, optionally shifted (paper 001).

    ``params = (bits (B, ct, ch, cw), shifts (B, 3) in [0, 1))``; ``static = ((T, H, W),
    shift)``. With ``shift``, the grid gets one extra (edge-repeated) cell per axis, is
    upsampled to (c+1) cells of ceil(size / c) voxels and cropped at a random offset within one
    cell (Petsiuk et al.); without, the grid is stretched exactly over the video (paper 001's
    reference code). Upsampling is separable: one interpolation matrix per axis and sample.
    """
    dims, shift = static
    bits, shifts = params
    grid = bits.astype(jnp.float32)
    mats = []
    for axis, d in enumerate(dims):
        c = bits.shape[axis + 1]
        if shift:
            cell = -(-d // c)
            grid = jnp.concatenate([grid, jax.lax.slice_in_dim(grid, c - 1, c, axis=axis + 1)],
                                   axis=axis + 1)
            offset = jnp.floor(shifts[:, axis] * cell)
            mats.append(_linear_weights(d, c + 1, 1.0 / cell, offset))
        else:
            mats.append(_linear_weights(d, c, c / d, jnp.zeros(bits.shape[0], jnp.float32)))
    return jnp.einsum("btc,bhd,bwe,bcde->bthw", *mats, grid)


def cuboid_mask(starts, aux, static):
    """Sampled-occlusion masks: 0 inside the cuboid starting at ``starts (B, 3)``, else 1.

    ``static = ((T, H, W), (st, sh, sw))`` gives the video and cuboid sizes.
    """
    dims, size = static
    inside = None
    for axis, (d, k) in enumerate(zip(dims, size)):
        idx = jnp.arange(d)
        lo = starts[:, axis][:, None]
        hit = (idx[None, :] >= lo) & (idx[None, :] < lo + k)
        shape = [starts.shape[0], 1, 1, 1]
        shape[axis + 1] = d
        hit = hit.reshape(shape)
        inside = hit if inside is None else inside & hit
    return 1.0 - inside.astype(jnp.float32)


def imputed(neighbours: int = 6, noise: float = 0.01, key=None, tol: float | None = None,
            maxiter: int = 2000, edge_sigma: float | None = None) -> Removal:
    """ROAD's noisy linear imputation as a removal every removal-based method and curve
    takes: each perturbed video's removed voxels (mask below 0.5) are filled by
    :func:`imputation` of that very mask - a CG solve per perturbed video inside the
    engine's jitted step (vmapped over the chunk), so it costs about one solve per model
    evaluation (on 16 x 224 x 224 and a CPU, 1-2 I3D forwards each). ``key``: the
    noise's (default ``jax.random.key(0)``); one coalition always gets the same noise.
    ("A Consistent and Efficient Evaluation Strategy for Attribution Methods", Rong et al.,
    ICML 2022, extended to space-time.)"""
    from ._imputation import TOL, MaskFill, settings

    noise, tol, maxiter = settings(neighbours, noise, TOL if tol is None else tol, maxiter)
    key = jax.random.key(0) if key is None else check_key(key)
    fill = MaskFill(key, int(neighbours), noise, tol, maxiter)
    return Removal(f"imputed({int(neighbours)})", lambda _v, _s: fill, _edge(edge_sigma))


def imputation(video, removed, *, neighbours: int = 6, noise: float = 0.01, key=None, x0=None,
               tol: float | None = None, maxiter: int = 2000):
    """ROAD's noisy linear imputation in space-time: each ``removed`` voxel ``(T, H, W)``
    becomes the mean of its 6 (or 26) spatio-temporal neighbours plus Gaussian ``noise``, the
    kept voxels fixed ("A Consistent and Efficient Evaluation Strategy for Attribution
    Methods", Rong et al., ICML 2022). Unlike the fills above the result depends on the mask,
    so it is a function of (video, mask), not a :class:`Removal`. ``tol``: the CG tolerance
    relative to the right-hand side (default :data:`vidxai._imputation.TOL`). Returns
    :class:`vidxai._imputation.Imputed` ``(video, residual, solution)``; see
    :func:`vidxai._imputation.impute` for the system, borders and solver."""
    from ._imputation import TOL, impute

    return impute(video, removed, neighbours=neighbours, noise=noise, key=key, x0=x0,
                  tol=TOL if tol is None else tol, maxiter=maxiter)
