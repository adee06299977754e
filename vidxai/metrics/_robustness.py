"""Infidelity and max-sensitivity ("On the (In)fidelity and Sensitivity of Explanations",
Yeh, Hsieh, Suggala, Inouye, Ravikumar; NeurIPS 2019), with Captum's definitions
(``captum.metrics.infidelity``, ``captum.metrics.sensitivity_max``). Public through
:mod:`vidxai.metrics.sanity`.

Infidelity (Yeh et al. Eq. 1) of an attribution ``Phi`` for perturbations ``I``:
``E_I[(I . Phi - (f(x) - f(x - I)))^2]``, estimated as the mean over ``n`` perturbations.
With ``normalize=True`` the attribution is first rescaled by the least-squares factor
``beta = E[(I . Phi)(f(x) - f(x - I))] / E[(I . Phi)^2]`` (``E[...]`` replaced by 1 when 0),
Captum's normalisation, so the value no longer depends on the map's scale.

Max-sensitivity (Yeh et al. Eq. 3): ``max_{||y - x||_inf <= r} ||Phi(y) - Phi(x)||`` over ``n``
points drawn uniformly in the L-inf ball of radius ``r``; as Captum, the norm is the
Frobenius (L2) norm of the flattened difference, divided by the norm of ``Phi(x)`` (by 1 when
that is 0).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import (ArgumentError, ArgumentTypeError, ScoreFunctionError, check_float,
                      check_int, check_key, check_video, describe)

__all__ = ["infidelity", "max_sensitivity"]


def _attribution(attribution, shape) -> jnp.ndarray:
    arr = np.asarray(getattr(attribution, "map", attribution), dtype=np.float32)
    if arr.shape == tuple(shape[:3]):
        arr = arr[..., None]
    elif arr.shape != tuple(shape):
        raise ArgumentError("attribution", f"a map of shape {tuple(shape[:3])} or "
                            f"{tuple(shape)}", describe(arr))
    if not np.all(np.isfinite(arr)):
        raise ArgumentError("attribution", "finite values", "NaN or inf entries")
    return jnp.asarray(arr)


@functools.partial(jax.jit, static_argnames=("shape",))
def _gaussian(key, idx, sigma, *, shape):
    return jax.vmap(lambda i: sigma * jax.random.normal(jax.random.fold_in(key, i), shape))(idx)


@functools.partial(jax.jit, static_argnames=("shape",))
def _uniform(key, idx, radius, *, shape):
    return jax.vmap(lambda i: jax.random.uniform(jax.random.fold_in(key, i), shape,
                                                 minval=-radius, maxval=radius))(idx)


@jax.jit
def _dots(attr, perturb):
    return jnp.sum((attr * perturb).reshape(perturb.shape[0], -1), axis=1)


def _scores(f, batch, rows) -> np.ndarray:
    out = np.asarray(f(batch), dtype=np.float64)
    if out.shape != (batch.shape[0],):
        raise ScoreFunctionError(f"f: expected scores of shape ({batch.shape[0]},), got "
                                 f"{out.shape}")
    if not np.all(np.isfinite(out[:rows])):
        raise ScoreFunctionError("f: non-finite scores on the perturbed videos")
    return out[:rows]


def infidelity(f, video, attribution, *, key=None, n: int = 10, perturbations=None,
               normalize: bool = False, sigma: float = 0.003, batch_size: int = 16) -> float:
    """Infidelity of ``attribution`` for ``f`` at ``video`` (Yeh et al. Eq. 1; Captum's).

    Args:
      f: score function ``(B, T, H, W, C) -> (B,)``; called on ``video - I`` (not clipped).
      video: float ``(T, H, W, C)`` in [0, 1].
      attribution: ``(T, H, W, C)``, or ``(T, H, W)`` (the same value for every channel of a
        voxel), or an Explanation (its ``map``).
      key: ``jax.random`` key for the perturbations (sample ``i`` from ``fold_in(key, i)``);
        not needed with explicit ``perturbations``.
      n: number of Gaussian perturbations ``I ~ N(0, sigma^2)`` per voxel and channel
        (``sigma`` 0.003, the noise of Captum's documented example).
      perturbations: explicit ``I``, an array ``(N, T, H, W, C)`` (then ``n = N``).
      normalize: Captum's ``normalize`` (the optimal rescaling ``beta``, see the module).
      batch_size: perturbed videos per call of ``f`` (the last chunk is padded).
    """
    video = check_video(video)
    attr = _attribution(attribution, video.shape)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    if perturbations is not None:
        pert = np.asarray(perturbations, dtype=np.float32)
        if pert.ndim != 5 or pert.shape[1:] != video.shape or pert.shape[0] < 1:
            raise ArgumentError("perturbations", f"an array (N, {', '.join(map(str, video.shape))})",
                                describe(perturbations))
        if not np.all(np.isfinite(pert)):
            raise ArgumentError("perturbations", "finite values", "NaN or inf entries")
        n = pert.shape[0]
    else:
        n = check_int(n, "n", minimum=1)
        key = check_key(key)
        sigma = check_float(sigma, "sigma", 0.0, open_low=True)
    x = jnp.asarray(video)
    fx = float(_scores(f, x[None], 1)[0])
    sums = np.zeros(4)                       # sum a^2, sum ab, sum b^2, sum (a - b)^2
    for start in range(0, n, batch_size):
        rows = min(batch_size, n - start)
        idx = np.arange(start, start + batch_size)
        if perturbations is not None:
            chunk = np.zeros((batch_size,) + video.shape, np.float32)
            chunk[:rows] = pert[start:start + rows]
            chunk = jnp.asarray(chunk)
        else:
            chunk = _gaussian(key, jnp.asarray(idx), jnp.float32(sigma), shape=video.shape)
        a = np.asarray(_dots(attr, chunk), np.float64)[:rows]
        b = fx - _scores(f, x[None] - chunk, rows)
        sums += [np.sum(a * a), np.sum(a * b), np.sum(b * b), np.sum((a - b) ** 2)]
    if normalize:
        beta = sums[1] / (sums[0] if sums[0] != 0 else 1.0)
        return float((beta * beta * sums[0] - 2 * beta * sums[1] + sums[2]) / n)
    return float(sums[3] / n)


def max_sensitivity(explain_fn, video, *, key, radius: float = 0.02, n: int = 10,
                    clip: bool = True, batched: bool = False, batch_size: int = 8) -> float:
    """Max-sensitivity of ``explain_fn`` at ``video`` (Yeh et al. Eq. 3; Captum's
    ``sensitivity_max``: relative Frobenius norm, maximum over ``n`` uniform draws).

    Args:
      explain_fn: ``video -> map`` (any array, or an Explanation's ``map``); with
        ``batched=True``, ``(B, T, H, W, C) -> (B, ...)`` maps, called per chunk.
      video: float ``(T, H, W, C)`` in [0, 1].
      key: ``jax.random`` key (draw ``i`` from ``fold_in(key, i)``).
      radius: half-width of the L-inf ball (Captum's default 0.02).
      n: number of perturbed inputs.
      clip: clip the perturbed video to [0, 1] (our convention, so any vidxai explainer
        accepts it); ``False`` is Captum's unclipped noise.
    """
    video = check_video(video)
    key = check_key(key)
    radius = check_float(radius, "radius", 0.0)
    n = check_int(n, "n", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    if not callable(explain_fn):
        raise ArgumentTypeError("explain_fn", "a function video -> map", describe(explain_fn))

    def maps(batch):
        if batched:
            return np.asarray(explain_fn(batch), np.float64).reshape(batch.shape[0], -1)
        return np.stack([np.asarray(getattr(m, "map", m), np.float64).ravel()
                         for m in (explain_fn(v) for v in batch)])

    base = maps(jnp.asarray(video)[None])[0]
    norm = np.linalg.norm(base)
    norm = norm if norm != 0 else 1.0
    worst = 0.0
    for start in range(0, n, batch_size):
        rows = min(batch_size, n - start)
        noise = _uniform(key, jnp.arange(start, start + rows), jnp.float32(radius),
                         shape=video.shape)
        batch = jnp.asarray(video)[None] + noise
        if clip:
            batch = jnp.clip(batch, 0.0, 1.0)
        got = maps(batch)
        if got.shape[1] != base.size:
            raise ArgumentError("explain_fn", f"maps of one size {base.size}", got.shape[1])
        worst = max(worst, float(np.max(np.linalg.norm(got - base[None], axis=1)) / norm))
    return worst
