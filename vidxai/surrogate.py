"""Summary stage: turn (coalition, score) pairs into feature importances (paper 001, Sec. 3.5).

Closed-form, jitted JAX linear algebra: LIME's weighted ridge, Kernel SHAP's weighted least
squares under the efficiency constraint, RISE's mean-when-kept, and plain differences.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .errors import ArgumentError, check_float


@jax.jit
def lime_kernel_distance(z):
    """Cosine distance between each binary coalition and the all-kept vector.

    For k kept of M features this is 1 - sqrt(k / M); an empty coalition is at distance 1.
    """
    z = z.astype(jnp.float32)
    return 1.0 - jnp.sqrt(z.sum(axis=1) / z.shape[1])


def lime_kernel(z, kernel_width: float = 0.25):
    """LIME sample weights sqrt(exp(-d^2 / width^2)) on the cosine distance (lime_image)."""
    width = check_float(kernel_width, "kernel_width", 0.0, open_low=True)
    d = lime_kernel_distance(jnp.asarray(z))
    return jnp.sqrt(jnp.exp(-(d**2) / width**2))


@partial(jax.jit, static_argnames=())
def _ridge(x, y, w, alpha):
    w = w / jnp.sum(w)
    x_mean = w @ x
    y_mean = w @ y
    xc, yc = x - x_mean, y - y_mean
    gram = (xc * w[:, None]).T @ xc + alpha * jnp.eye(x.shape[1], dtype=x.dtype)
    coef = jnp.linalg.solve(gram, (xc * w[:, None]).T @ yc)
    return coef, y_mean - x_mean @ coef


def ridge(z, y, sample_weight=None, alpha: float = 1.0):
    """Weighted ridge regression with an unpenalised intercept (LIME's surrogate).

    Minimises sum_i w_i (y_i - b - z_i . c)^2 + alpha |c|^2 with the raw weights, the same
    problem as scikit-learn's ``Ridge(alpha).fit(z, y, sample_weight=w)``.
    Returns ``(coef (n,), intercept)``.
    """
    alpha = check_float(alpha, "alpha", 0.0)
    x = jnp.asarray(z, jnp.float32)
    y = jnp.asarray(y, jnp.float32)
    w = jnp.ones(len(y), jnp.float32) if sample_weight is None else jnp.asarray(sample_weight, jnp.float32)
    if y.ndim != 1 or x.shape[0] != y.shape[0] or w.shape != y.shape or len(y) == 0:
        raise ArgumentError("y", f"one score per coalition row ({x.shape[0]},)", y.shape)
    # the solve normalises w to sum 1, which divides the data term by sum(w): scale alpha too
    coef, intercept = _ridge(x, y, w, alpha / jnp.sum(w))
    return coef, intercept


@jax.jit
def _constrained_wls(z, y, w, full, empty):
    delta = full - empty
    x = z.astype(jnp.float32)
    last = x[:, -1:]
    xr = x[:, :-1] - last
    yr = y - empty - last[:, 0] * delta
    sw = jnp.sqrt(w)[:, None]
    phi, *_ = jnp.linalg.lstsq(xr * sw, yr * sw[:, 0], rcond=None)
    return jnp.concatenate([phi, (delta - phi.sum())[None]])


def shapley_wls(z, y, weights, full: float, empty: float):
    """Kernel SHAP: weighted least squares of y on coalitions with sum(phi) = full - empty.

    The constraint (efficiency) is eliminated by expressing the last feature's value as
    ``delta - sum(others)``; with every coalition and exact kernel weights the solution is
    the exact Shapley value vector (Lundberg & Lee, Theorem 2).
    """
    z = jnp.asarray(z)
    if z.shape[1] == 1:
        return jnp.asarray([full - empty], jnp.float32)
    if z.shape[0] == 0:
        raise ArgumentError("n_samples", "at least one coalition besides empty and full", 0)
    return _constrained_wls(z, jnp.asarray(y, jnp.float32), jnp.asarray(weights, jnp.float32),
                            jnp.float32(full), jnp.float32(empty))


@jax.jit
def kept_mean(z, y):
    """Mean score over the rows in which each feature was kept (RISE's importance).

    A feature never kept gets 0 (no evidence) rather than NaN.
    """
    z = z.astype(jnp.float32)
    counts = z.sum(axis=0)
    return jnp.where(counts > 0, (y @ z) / jnp.maximum(counts, 1.0), 0.0)


def difference(y, reference):
    """``y - reference``: LV-Univariate (reference = all removed); LOCO uses base - y."""
    return jnp.asarray(y, jnp.float32) - jnp.float32(reference)


def mask_weighted_mean(mask_fn, params, values, aux=(), static=None, *, shape, batch_size=32):
    """Per-voxel weighted mean ``sum_i v_i M_i / sum_i M_i`` over generated masks.

    Masks are regenerated chunk by chunk (fixed-shape chunks, the last one padded with zero
    weight) by one jitted accumulator, so memory stays at one chunk and nothing recompiles
    for a new number of rows. Voxels no mask covers get 0. Used by RISE (masks = kept
    fraction) and sampled occlusion (masks = the cuboids' coverage).
    """
    from .scoring import chunks

    params = jax.tree_util.tree_map(np.asarray, params)
    values = np.asarray(values, np.float32)
    step = _accumulator(mask_fn, static)
    num, den = jnp.zeros(tuple(shape), jnp.float32), jnp.zeros(tuple(shape), jnp.float32)
    for (rows, chunk), start in zip(chunks(params, len(values), batch_size),
                                    range(0, len(values), batch_size)):
        v = np.zeros(batch_size, np.float32)
        v[:rows] = values[start:start + rows]
        num, den = step(num, den, chunk, jnp.asarray(v),
                        jnp.asarray(np.arange(batch_size) < rows, jnp.float32), aux)
    return _safe_ratio(num, den)


@jax.jit
def _safe_ratio(num, den):
    return jnp.where(den > 0, num / jnp.where(den > 0, den, 1.0), 0.0)


_ACCUMULATORS: dict = {}


def _accumulator(mask_fn, static):
    key = (mask_fn, static)
    if key not in _ACCUMULATORS:
        def add(num, den, params, values, valid, aux):
            # one contraction for both sums: rows (values * valid, valid) against the masks
            weights = jnp.stack([values * valid, valid])
            both = jnp.tensordot(weights, mask_fn(params, aux, static), 1)
            return num + both[0], den + both[1]

        _ACCUMULATORS[key] = jax.jit(add, donate_argnums=(0, 1))
    return _ACCUMULATORS[key]
