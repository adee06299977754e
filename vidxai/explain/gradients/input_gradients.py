"""Input-gradient baselines of paper 004 (Sec. V-A, Eq. 22-27) for JAX and torch models.

:func:`gradient` (G, Eq. 22), :func:`gradient_x_input` (G*I, Eq. 23),
:func:`integrated_gradients` (IG, Eq. 24), :func:`smoothgrad` (SG, Eq. 25),
:func:`smoothgrad_squared` (SG2, Eq. 26) and :func:`blur_ig` (Blur IG, Eq. 27). Each needs
the gradient of the score with respect to the input: ``jax.grad`` for a JAX function,
torch autograd for a model bridged with :func:`vidxai.bridge.from_torch`; a plain numpy
function is refused with an error saying so. Path points and noise samples go through the
chunked engine of :mod:`.engine` (``batch_size`` points at a time,
memory flat in their number). Every method returns a
:class:`~.result.GradientResult` whose ``map`` is the sum over colour
channels of the absolute attribution and whose ``attributions`` keep the signed
``(T, H, W, C)`` values.

``f`` is a score function ``(B, T, H, W, C) -> (B,)`` (e.g. ``vidxai.score(model, c)``), or a
model returning ``(B, K)`` together with ``target=c`` (its softmax probability is explained,
paper 004's Phi_c).

References
----------
Z. Li, W. Wang, Z. Li, Y. Huang, Y. Sato. Spatio-Temporal Perturbations for Video
Attribution. IEEE TCSVT, 2021 (paper 004).
K. Simonyan, A. Vedaldi, A. Zisserman. Deep Inside Convolutional Networks: Visualising Image
Classification Models and Saliency Maps. ICLR Workshop, 2014.
P.-J. Kindermans, K. Schuett, K.-R. Mueller, S. Daehne. Investigating the Influence of Noise
and Distractors on the Interpretation of Neural Networks. arXiv:1611.07270, 2016.
M. Sundararajan, A. Taly, Q. Yan. Axiomatic Attribution for Deep Networks. ICML, 2017.
D. Smilkov, N. Thorat, B. Kim, F. Viegas, M. Wattenberg. SmoothGrad: Removing Noise by
Adding Noise. arXiv:1706.03825, 2017.
S. Hooker, D. Erhan, P.-J. Kindermans, B. Kim. A Benchmark for Interpretability Methods in
Deep Neural Networks. NeurIPS, 2019.
S. Xu, S. Venugopalan, M. Sundararajan. Attribution in Scale and Space. CVPR, 2020.
"""
from __future__ import annotations

import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np

from ...errors import ArgumentError, check_float, check_int, check_key, describe
from . import engine as run
from .result import GradientResult

__all__ = ["gradient", "gradient_x_input", "integrated_gradients", "smoothgrad",
           "smoothgrad_squared", "blur_ig", "GradientResult"]

STEPS = 50                 # paper 004: m = 50 path points (IG, Blur IG), n = 50 noise samples
NOISE = 0.15               # SmoothGrad: sigma of 10-20% of the input range
SIGMA_MAX = 50.0           # Blur IG: sigma_max = 50 px, for 224-px frames
SIGMA_MAX_SIZE = 224
BATCH = 10                 # points per chunk


# ----------------------------------------------------------------------------- G and G*I

def _the_point(idx, data, static):
    (video,) = data
    return jnp.broadcast_to(video, idx.shape + video.shape), None


def _input_gradient(setup, progress):
    return run.accumulate(setup, _the_point, run.sum_valid, (setup.video,), None, 1, 1,
                          progress=progress)


def gradient(f, video, *, target=None, progress=False) -> GradientResult:
    """G (paper 004 Eq. 22): the gradient of the score with respect to every input value,
    ``dPhi_c / dX``; the map is ``sum_c |G|`` per voxel. ``n_evals`` = 2 (the score of the
    video and one gradient pass).

    References: Simonyan et al., ICLR Workshop 2014; paper 004 (Li et al., TCSVT 2021).
    """
    setup = run.prepare(f, video, target)
    grads = _input_gradient(setup, progress)
    return run.result("gradient", setup, run.channel_map(grads), grads, 2)


def gradient_x_input(f, video, *, target=None, progress=False) -> GradientResult:
    """G*I (paper 004 Eq. 23): ``X (.) dPhi_c / dX``, the gradient times the input value.

    References: Kindermans et al., arXiv:1611.07270, 2016; paper 004 (Li et al., TCSVT 2021).
    """
    setup = run.prepare(f, video, target)
    attributions = setup.video * _input_gradient(setup, progress)
    return run.result("gradient_x_input", setup, run.channel_map(attributions), attributions, 2)


# ----------------------------------------------------------------------------- IG

def _path_points(idx, data, static):
    video, baseline, steps = data
    alpha = (idx.astype(jnp.float32) + 1.0) / steps       # k / m, k = 1..m
    return baseline + alpha[:, None, None, None, None] * (video - baseline), None


def check_baseline(baseline, video) -> tuple[np.ndarray, str]:
    """A finite baseline broadcast to the video's shape, and a description for ``meta``."""
    if isinstance(baseline, numbers.Real) and not isinstance(baseline, bool):
        value = check_float(baseline, "baseline")
        return np.full(video.shape, value, np.float32), f"constant {value:g}"
    try:
        arr = np.broadcast_to(np.asarray(baseline, np.float32), video.shape)
    except (TypeError, ValueError):
        raise ArgumentError("baseline", f"a number or an array broadcastable to the video "
                            f"{video.shape}", describe(baseline)) from None
    if not np.all(np.isfinite(arr)):
        raise ArgumentError("baseline", "finite values", "NaN or inf entries")
    return np.array(arr), "video"


def integrated_gradients(f, video, *, baseline=0.0, steps: int = STEPS, batch_size: int = BATCH,
                         target=None, progress=False) -> GradientResult:
    """IG (paper 004 Eq. 24): ``(X - Xbar) (.) (1/m) sum_{k=1..m} grad Phi_c(Xbar + k/m (X - Xbar))``.

    ``baseline`` Xbar: a constant (default 0, black, as in paper 004) or a video (any array
    broadcastable to the video's shape). ``steps`` m = 50 path points, ``batch_size`` of them
    per chunk. ``meta["completeness"]``: the sum of the attributions against
    ``f(x) - f(baseline)`` (``gap``, ``relative_gap``; a gap over 5% is warned about).
    ``n_evals`` = m gradient passes + 2 forward passes.

    References: Sundararajan et al., ICML 2017; paper 004 (Li et al., TCSVT 2021).
    """
    setup = run.prepare(f, video, target)
    steps = check_int(steps, "steps", minimum=1)
    base, described = check_baseline(baseline, setup.video)
    data = (setup.video, base, jnp.float32(steps))
    total = run.accumulate(setup, _path_points, run.sum_valid, data, None, steps, batch_size,
                           progress=progress, desc="IG path points")
    attributions = (setup.video - base) * total / steps
    base_score = float(np.asarray(setup.f(jnp.asarray(base)[None]))[0])
    return run.result("integrated_gradients", setup, run.channel_map(attributions), attributions,
                      steps + 2, steps=steps, baseline=described, baseline_score=base_score,
                      completeness=run.completeness(attributions, setup.score, base_score))


# ----------------------------------------------------------------------------- SmoothGrad

def _noisy_points(idx, data, static):
    video, key, std = data
    noise = jax.vmap(lambda i: jax.random.normal(jax.random.fold_in(key, i), video.shape))(idx)
    return video + std * noise, None


def _sum_squares(grads, extra, valid, static):
    return jnp.tensordot(valid, grads * grads, axes=1)


def _smooth(name, combine, f, video, key, n_samples, sigma, batch_size, target, progress):
    setup = run.prepare(f, video, target)
    key = check_key(key)
    n_samples = check_int(n_samples, "n_samples", minimum=1)
    sigma = check_float(sigma, "sigma", 0.0)
    spread = float(setup.video.max() - setup.video.min())
    std = sigma * (spread if spread > 0 else 1.0)
    data = (setup.video, key, jnp.float32(std))
    total = run.accumulate(setup, _noisy_points, combine, data, None, n_samples, batch_size,
                           progress=progress, desc="noise samples")
    attributions = total / n_samples
    return run.result(name, setup, run.channel_map(attributions), attributions, n_samples + 1,
                      n_samples=n_samples, sigma=sigma, noise_std=std)


def smoothgrad(f, video, *, key, n_samples: int = STEPS, sigma: float = NOISE,
               batch_size: int = BATCH, target=None, progress=False) -> GradientResult:
    """SG (paper 004 Eq. 25): the mean gradient over ``n_samples`` (n = 50) noisy copies
    ``X + N(0, s^2)``, ``s = sigma * (max X - min X)`` (``sigma`` a fraction of the input's
    range, 0.15 by default: SmoothGrad's 10-20%; the pixel range 1 for a constant video).
    Sample ``i``'s noise comes from ``fold_in(key, i)``: the same key gives the same map for
    any ``batch_size``. Noisy values are not clipped to [0, 1].

    References: Smilkov et al., arXiv:1706.03825, 2017; paper 004 (Li et al., TCSVT 2021).
    """
    return _smooth("smoothgrad", run.sum_valid, f, video, key, n_samples, sigma, batch_size,
                   target, progress)


def smoothgrad_squared(f, video, *, key, n_samples: int = STEPS, sigma: float = NOISE,
                       batch_size: int = BATCH, target=None, progress=False) -> GradientResult:
    """SG2 (paper 004 Eq. 26): as :func:`smoothgrad` with the gradients squared before the
    mean (``attributions`` are non-negative).

    References: Hooker et al., NeurIPS 2019; paper 004 (Li et al., TCSVT 2021).
    """
    return _smooth("smoothgrad_squared", _sum_squares, f, video, key, n_samples, sigma,
                   batch_size, target, progress)


# ----------------------------------------------------------------------------- Blur IG

def blur_matrix(n: int, sigma, radius: int):
    """``(n, n)`` matrix of a 1-D Gaussian blur of std ``sigma`` (taps within ``radius``,
    normalised, mirrored at the borders), differentiable in ``sigma``; the identity at 0."""
    offsets = np.arange(-radius, radius + 1)
    source = (np.arange(n)[:, None] + offsets[None, :]) % (2 * n)
    source = np.where(source < n, source, 2 * n - 1 - source)          # mirror, any distance
    s = jnp.maximum(sigma, 1e-3)                                       # 1e-3: a delta kernel
    taps = jnp.exp(-0.5 * (jnp.asarray(offsets, jnp.float32) / s) ** 2)
    taps = taps / taps.sum()
    rows = np.broadcast_to(np.arange(n)[:, None], source.shape)
    return jnp.zeros((n, n), jnp.float32).at[rows, source].add(
        jnp.broadcast_to(taps, source.shape))


def frame_blur(video, sigma, radius: int):
    """Every frame of ``(T, H, W, C)`` blurred by a 2-D Gaussian of std ``sigma``."""
    rows = blur_matrix(video.shape[1], sigma, radius)
    cols = blur_matrix(video.shape[2], sigma, radius)
    return jnp.einsum("ij,tjwc,kw->tikc", rows, video, cols)


def _blur_points(idx, data, static):
    video, steps, sigma_max = data
    sigmas = idx.astype(jnp.float32) * (sigma_max / steps)             # (k - 1) sigma_max / m

    def level(s):
        return jax.jvp(lambda v: frame_blur(video, v, static), (s,), (jnp.ones_like(s),))

    return jax.vmap(level)(sigmas)                                     # g(X, s_k), dg/ds


def _along_blur(grads, extra, valid, static):
    return jnp.tensordot(valid, grads * extra, axes=1)


def blur_ig(f, video, *, steps: int = STEPS, sigma_max: float | None = None,
            batch_size: int = BATCH, target=None, progress=False) -> GradientResult:
    """Blur IG (paper 004 Eq. 27): IG along the path of per-frame 2-D Gaussian blurs from
    ``g(X, sigma_max)`` to ``X``: ``-(sigma_max / m) sum_{k=1..m} grad Phi_c(g(X, s_k))
    (.) dg/ds (X, s_k)``, ``s_k = (k - 1) sigma_max / m``.

    ``sigma_max``: paper 004's 50 px for 224-px frames, scaled with the frame (``50 *
    min(H, W) / 224``: 25 px at 112 px) unless given. ``dg/ds`` is exact (forward-mode
    derivative of the blur, whose borders are mirrored). The sign: the path runs from the
    blurred video (large sigma) to the video (sigma 0), so the sum over increasing sigma is
    negated (Eq. 27 as printed leaves the direction implicit); with it the attributions sum
    to about ``f(x) - f(g(X, sigma_max))`` (``meta["completeness"]``).

    References: Xu et al., CVPR 2020; paper 004 (Li et al., TCSVT 2021).
    """
    setup = run.prepare(f, video, target)
    steps = check_int(steps, "steps", minimum=1)
    if sigma_max is None:
        sigma_max = SIGMA_MAX * min(setup.video.shape[1:3]) / SIGMA_MAX_SIZE
    sigma_max = check_float(sigma_max, "sigma_max", 0.0, open_low=True)
    radius = int(math.ceil(4 * sigma_max))
    data = (setup.video, jnp.float32(steps), jnp.float32(sigma_max))
    total = run.accumulate(setup, _blur_points, _along_blur, data, radius, steps, batch_size,
                           progress=progress, desc="blur levels")
    attributions = -(sigma_max / steps) * total
    blurred = frame_blur(jnp.asarray(setup.video), jnp.float32(sigma_max), radius)
    base_score = float(np.asarray(setup.f(blurred[None]))[0])
    return run.result("blur_ig", setup, run.channel_map(attributions), attributions, steps + 2,
                      steps=steps, sigma_max=sigma_max, baseline_score=base_score,
                      completeness=run.completeness(attributions, setup.score, base_score))

