"""Summary stage: turn (coalition, score) pairs into feature importances (paper 001, Sec. 3.5).

LIME's weighted ridge, Kernel SHAP's weighted least squares under the efficiency constraint,
RISE's mean-when-kept and plain differences. The two regressions are solved from their
sufficient statistics: the weighted Gram matrix ``A' W A`` of the columns ``A = [z, 1, y]``
(:class:`Gram`), accumulated chunk by chunk (float32 on the device per chunk, float64 across
chunks), so the number of samples never sets the memory: ``O(features^2)``.
:class:`HeldOut` scores a fitted surrogate on coalitions it did not use, from running sums.
"""
from __future__ import annotations

from dataclasses import dataclass
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


@jax.jit
def chunk_gram(z, y, w):
    """Weighted Gram matrix ``A' diag(w) A`` of one chunk, ``A = [z, 1, y]`` ``(n+2, n+2)``."""
    a = jnp.concatenate([z.astype(jnp.float32), jnp.ones((z.shape[0], 1), jnp.float32),
                         y.astype(jnp.float32)[:, None]], axis=1)
    return (a * w.astype(jnp.float32)[:, None]).T @ a


class Gram:
    """Running float64 sum of :func:`chunk_gram` over chunks; :meth:`add` one chunk."""

    def __init__(self, n_features: int):
        self.n = int(n_features)
        self.matrix = np.zeros((self.n + 2, self.n + 2))

    def add(self, z, y, w) -> None:
        y = jnp.asarray(np.asarray(y, np.float32))
        self.matrix += np.asarray(chunk_gram(jnp.asarray(z), y, jnp.asarray(w)), np.float64)

    @classmethod
    def of(cls, z, y, w) -> "Gram":
        z = np.asarray(z)
        gram = cls(z.shape[1])
        gram.add(z, y, w)
        return gram

    def total_sum_of_squares(self) -> float:
        """``sum w (y - weighted mean of y)^2``."""
        g, n = self.matrix, self.n
        return float(g[n + 1, n + 1] - g[n, n + 1] ** 2 / g[n, n]) if g[n, n] > 0 else 0.0


@dataclass(frozen=True)
class Fit:
    """A fitted surrogate: ``coef (n,)``, ``intercept``, the weighted R^2 of the fit on its
    samples (``None`` when the scores have no weighted variance), and whether the samples
    left some coefficients undetermined (``rank_deficient``: the minimum-norm solution is
    returned)."""

    coef: np.ndarray
    intercept: float
    r2: float | None
    rank_deficient: bool = False


RCOND = 1e-6   # the Gram matrix sums float32 chunk products: smaller singular values are noise


def _solve(lhs, rhs):
    """Minimum-norm least-squares solution of the normal equations, and whether they were
    singular (singular values below ``RCOND`` times the largest count as zero)."""
    solution, _, rank, _ = np.linalg.lstsq(lhs, rhs, rcond=RCOND)
    return solution, rank < lhs.shape[0]


def _r2(gram: Gram, beta, design) -> float | None:
    """Weighted R^2 of ``y ~ A_design beta`` from the Gram matrix (``design``: columns of A)."""
    g, y = gram.matrix, gram.n + 1
    sst = gram.total_sum_of_squares()
    if not sst > 1e-12 * max(abs(g[y, y]), 1e-30):
        return None
    gd = g[np.ix_(design, design)]
    ssr = g[y, y] - 2.0 * beta @ g[design, y] + beta @ gd @ beta
    return float(1.0 - max(ssr, 0.0) / sst)


def ridge_fit(gram: Gram, alpha: float = 1.0) -> Fit:
    """Weighted ridge with an unpenalised intercept from the Gram matrix (LIME):
    minimises ``sum_i w_i (y_i - b - z_i . c)^2 + alpha |c|^2``."""
    n = gram.n
    design = list(range(n + 1))                       # z columns and the ones column
    lhs = gram.matrix[np.ix_(design, design)] + np.diag([alpha] * n + [0.0])
    beta, deficient = _solve(lhs, gram.matrix[design, n + 1])
    return Fit(coef=beta[:n], intercept=float(beta[n]), r2=_r2(gram, beta, design),
               rank_deficient=deficient)


def ridge(z, y, sample_weight=None, alpha: float = 1.0):
    """Weighted ridge regression with an unpenalised intercept (LIME's surrogate).

    Minimises sum_i w_i (y_i - b - z_i . c)^2 + alpha |c|^2 with the raw weights, the same
    problem as scikit-learn's ``Ridge(alpha).fit(z, y, sample_weight=w)``.
    Returns ``(coef (n,), intercept)``.
    """
    alpha = check_float(alpha, "alpha", 0.0)
    x = np.asarray(z, np.float32)
    y = np.asarray(y, np.float32)
    w = np.ones(len(y), np.float32) if sample_weight is None else np.asarray(sample_weight, np.float32)
    if y.ndim != 1 or x.ndim != 2 or x.shape[0] != y.shape[0] or w.shape != y.shape or len(y) == 0:
        raise ArgumentError("y", f"one score per coalition row ({x.shape[0]},)", y.shape)
    fit = ridge_fit(Gram.of(x, y, w), alpha)
    return fit.coef.astype(np.float32), np.float32(fit.intercept)


def shapley_fit(gram: Gram, full: float, empty: float) -> Fit:
    """Kernel SHAP's weighted least squares ``y - empty ~ z . phi`` with ``sum(phi) = full -
    empty`` (efficiency) from the Gram matrix. The constraint is eliminated by writing the
    last feature's value as ``delta - sum(others)``: regress ``y - empty - z_last delta`` on
    ``z_j - z_last``. With every coalition and exact kernel weights the solution is the
    exact Shapley value vector (Lundberg & Lee, Theorem 2)."""
    n, delta = gram.n, float(full) - float(empty)
    if n == 1:
        return Fit(coef=np.array([delta]), intercept=float(empty), r2=None)
    t = np.zeros((n + 2, n - 1))                  # reduced columns z_j - z_last = A t
    t[np.arange(n - 1), np.arange(n - 1)] = 1.0
    t[n - 1] = -1.0
    u = np.zeros(n + 2)                           # reduced target y - empty - z_last delta
    u[n + 1], u[n], u[n - 1] = 1.0, -float(empty), -delta
    g = gram.matrix
    phi, deficient = _solve(t.T @ g @ t, t.T @ g @ u)
    coef = np.concatenate([phi, [delta - phi.sum()]])
    beta = np.concatenate([coef, [float(empty)]])    # y ~ z . coef + empty
    return Fit(coef=coef, intercept=float(empty), r2=_r2(gram, beta, list(range(n + 1))),
               rank_deficient=deficient)


class HeldOut:
    """Weighted R^2 of a fitted surrogate (:class:`Fit`) on held-out rows: coalitions drawn
    like the fitted ones but not used by the fit.

    ``R^2 = 1 - sum_j w_j (y_j - b - z_j . c)^2 / sum_j w_j (y_j - ybar)^2`` with ``ybar``
    the weighted mean of the held-out scores and ``w_j`` the weights the fit gives such a
    row (the out-of-sample counterpart of the fit's own weighted R^2). It is 1 for a perfect
    prediction, 0 for one no better than the held-out mean, and has no lower bound. Rows are
    added chunk by chunk into float64 sums (the scores shifted by the first one, so a constant
    score leaves exactly zero variation): memory does not grow with their number.
    """

    def __init__(self, fit: Fit):
        self.fit = fit
        self.n, self.shift = 0, None
        self.sums = np.zeros(4)       # sum w, sum w d, sum w d^2, sum w r^2 (d = y - shift)

    def add(self, z, y, w) -> None:
        y = np.asarray(y, np.float64)
        if not y.size:
            return
        w = np.asarray(w, np.float64)
        residual = y - self.fit.intercept - np.asarray(z, np.float64) @ self.fit.coef
        self.shift = y[0] if self.shift is None else self.shift
        d = y - self.shift
        self.sums += [w.sum(), w @ d, w @ (d * d), w @ (residual * residual)]
        self.n += y.size

    def r2(self) -> tuple[float | None, str | None]:
        """``(R^2, None)``, or ``(None, why)`` when it is undefined (never NaN)."""
        total, first, second, squares = self.sums
        if self.n == 0:
            return None, "no held-out rows were scored"
        if not total > 0:
            return None, "the held-out rows carry no weight under the fit's kernel"
        variation = second - first * first / total
        if not variation > 1e-12 * max(second, abs(self.shift) ** 2 * total, 1e-30):
            return None, "the held-out scores are constant: there is no variation to explain"
        return float(1.0 - squares / variation), None


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


@partial(jax.jit, static_argnames=("mask_fn", "static"), donate_argnums=(0, 1))
def accumulate_masks(num, den, params, values, valid, aux, *, mask_fn, static):
    """Add one chunk to the sums ``sum_i v_i M_i`` (``num``) and ``sum_i M_i`` (``den``) of
    the masks ``mask_fn(params, aux, static)``; rows with ``valid = 0`` add nothing."""
    weights = jnp.stack([values * valid, valid])   # one contraction for both sums
    both = jnp.tensordot(weights, mask_fn(params, aux, static), 1)
    return num + both[0], den + both[1]


def mask_weighted_mean(mask_fn, params, values, aux=(), static=None, *, shape, batch_size=32):
    """Per-voxel weighted mean ``sum_i v_i M_i / sum_i M_i`` over generated masks.

    Masks are regenerated chunk by chunk (fixed-shape chunks, the last one padded with zero
    weight) by :func:`accumulate_masks`, so memory stays at one chunk and nothing
    recompiles for a new number of rows. Voxels no mask covers get 0. Used by sampled
    occlusion (masks = the cuboids' coverage).
    """
    from .scoring import chunks

    params = jax.tree_util.tree_map(np.asarray, params)
    values = np.asarray(values, np.float32)
    num, den = jnp.zeros(tuple(shape), jnp.float32), jnp.zeros(tuple(shape), jnp.float32)
    for (rows, chunk), start in zip(chunks(params, len(values), batch_size),
                                    range(0, len(values), batch_size)):
        v = np.zeros(batch_size, np.float32)
        v[:rows] = values[start:start + rows]
        num, den = accumulate_masks(num, den, chunk, jnp.asarray(v),
                                    jnp.asarray(np.arange(batch_size) < rows, jnp.float32), aux,
                                    mask_fn=mask_fn, static=static)
    return safe_ratio(num, den)


@jax.jit
def safe_ratio(num, den):
    """``num / den`` where ``den > 0``, else 0 (no evidence is 0, never NaN)."""
    return jnp.where(den > 0, num / jnp.where(den > 0, den, 1.0), 0.0)


__all__ = ["lime_kernel_distance", "lime_kernel", "chunk_gram", "Gram", "Fit", "RCOND",
           "ridge_fit", "ridge", "shapley_fit", "HeldOut", "kept_mean", "difference",
           "accumulate_masks", "mask_weighted_mean", "safe_ratio"]
