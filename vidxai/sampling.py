"""Feature selection stage: which coalitions of features to keep (paper 001, Sec. 3.2).

A coalition matrix ``Z`` is boolean ``(N, n)``; ``True`` means the feature is kept.

Random coalitions are drawn *per row*: row ``i`` depends only on ``fold_in(key, i)``, so a
method can generate its rows chunk by chunk (:func:`bernoulli_rows`,
:func:`shapley_kernel_chunks`) and never hold the whole matrix, and the rows are the same
whatever the chunk size. (Before version 0.2 one draw of shape ``(N, n)`` was taken from the
key, so the same key now gives other, equally distributed, coalitions.)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from itertools import combinations, islice

import jax
import jax.numpy as jnp
import numpy as np

from .errors import check_int, check_key, check_probability

MAX_SAMPLES = 2**31  # row indices are folded into the key as 32-bit integers


def check_samples(n_samples, name: str = "n_samples") -> int:
    """A sample count in ``1 .. 2^31``."""
    return check_int(n_samples, name, minimum=1, maximum=MAX_SAMPLES)


@partial(jax.jit, static_argnames=("n_features",))
def bernoulli_rows(key, rows, n_features: int, p=0.5):
    """Coalitions for the row indices ``rows (B,)``: feature kept with probability ``p``;
    row ``i`` is drawn from ``fold_in(key, i)`` alone (LIME, RISE)."""
    draw = lambda i: jax.random.bernoulli(jax.random.fold_in(key, i), p, (n_features,))
    return jax.vmap(draw)(rows.astype(jnp.uint32))


def bernoulli(key, n_samples: int, n_features: int, p: float = 0.5) -> jax.Array:
    """Independent coalitions ``(n_samples, n_features)``: each feature kept with
    probability ``p`` (LIME, RISE); the rows of :func:`bernoulli_rows` for ``0..N-1``."""
    key = check_key(key)
    n_samples = check_samples(n_samples)
    n_features = check_int(n_features, "n_features", minimum=1)
    p = check_probability(p, "p")
    return bernoulli_rows(key, jnp.arange(n_samples, dtype=jnp.uint32), n_features, p)


def leave_one_out(n: int) -> np.ndarray:
    """Row i keeps every feature except i (LV-LOCO)."""
    n = check_int(n, "n", minimum=1)
    return ~np.eye(n, dtype=bool)


def keep_one(n: int) -> np.ndarray:
    """Row i keeps only feature i (LV-Univariate)."""
    n = check_int(n, "n", minimum=1)
    return np.eye(n, dtype=bool)


# ------------------------------------------------------------------------- Kernel SHAP
def shapley_size_weights(n_features: int) -> np.ndarray:
    """Total Shapley-kernel mass of each coalition size s = 1..M-1, normalised to sum 1.

    The kernel of Lundberg & Lee gives one coalition of size s the weight
    (M-1) / (C(M,s) s (M-s)), so size s as a whole carries (M-1) / (s (M-s)).
    """
    m = check_int(n_features, "n_features", minimum=1)
    s = np.arange(1, m, dtype=np.float64)
    w = (m - 1) / (s * (m - s))
    return w / w.sum()


@dataclass(frozen=True)
class KernelPlan:
    """Which coalitions Kernel SHAP scores (Lundberg & Lee; shap's KernelExplainer).

    ``sizes``: the coalition sizes enumerated completely, in order, each with the weight of
    one of its coalitions in ``size_weight``; ``pairs``: random coalitions drawn from the
    other sizes (probabilities ``size_probs`` over sizes 1..M-1), each scored together with
    its complement; ``pair_weight``: the weight of each sampled row (the leftover kernel
    mass shared equally). Weights are normalised to sum 1 over all rows.
    """

    m: int
    sizes: tuple
    size_weight: tuple
    pairs: int
    pair_weight: float
    size_probs: tuple

    @property
    def n_enumerated(self) -> int:
        return sum(math.comb(self.m, s) for s in self.sizes)

    @property
    def n_rows(self) -> int:
        return self.n_enumerated + 2 * self.pairs


def kernel_plan(n_samples: int, n_features: int) -> KernelPlan:
    """Coalition sizes are taken from the outside in (1 and M-1, then 2 and M-2, ...): a size
    pair is enumerated completely while the budget allows it in proportion to its kernel
    mass; the remaining budget is spent on complement pairs drawn from the remaining sizes
    (an odd leftover row is dropped). The budget is capped at 2^M - 2 (every coalition)."""
    m = n_features
    if m < 62:
        n_samples = min(n_samples, 2**m - 2)
    size_w = shapley_size_weights(m)
    sizes, left, budget = [], 1.0, n_samples
    for s in range(1, m // 2 + 1):
        pair = [s] if 2 * s == m else [s, m - s]
        mass = sum(size_w[k - 1] for k in pair)
        count = sum(math.comb(m, k) for k in pair)
        if count > budget or budget * mass / left < count * (1 - 1e-8):
            break
        sizes.extend(pair)
        budget -= count
        left -= mass
    left = max(left, 0.0)
    pairs = budget // 2 if left > 0 else 0
    enumerated = sum(size_w[k - 1] for k in sizes)
    total = enumerated + (left if pairs else 0.0)
    rest = np.array([0.0 if s in sizes else size_w[s - 1] for s in range(1, m)])
    probs = tuple((rest / rest.sum()).tolist()) if rest.sum() > 0 else ()
    return KernelPlan(m=m, sizes=tuple(sizes),
                      size_weight=tuple(size_w[k - 1] / math.comb(m, k) / total for k in sizes),
                      pairs=int(pairs), pair_weight=(left / (2 * pairs) / total) if pairs else 0.0,
                      size_probs=probs)


@partial(jax.jit, static_argnames=("m",))
def _pair_rows(key, pairs, probs, m: int):
    """Coalition of each pair index ``(P,)``: a kernel-distributed size, then a uniformly
    random coalition of that size (from ``fold_in(key, pair)``)."""
    def one(i):
        k_size, k_perm = jax.random.split(jax.random.fold_in(key, i))
        size = jax.random.choice(k_size, jnp.arange(1, m), p=probs)
        ranks = jnp.argsort(jnp.argsort(jax.random.uniform(k_perm, (m,))))
        return ranks < size
    return jax.vmap(one)(pairs.astype(jnp.uint32))


def _enumerated_rows(plan: KernelPlan):
    """``(row, weight)`` of every coalition of the enumerated sizes, lazily."""
    for s, weight in zip(plan.sizes, plan.size_weight):
        for idx in combinations(range(plan.m), s):
            row = np.zeros(plan.m, bool)
            row[list(idx)] = True
            yield row, weight


def _sampled_rows(key, plan: KernelPlan, start: int, stop: int, batch_size: int) -> np.ndarray:
    """Sampled rows ``start..stop-1`` (counted from the first sampled row): pair ``j`` gives
    rows ``2j`` (the coalition) and ``2j + 1`` (its complement)."""
    first = start // 2
    block = batch_size // 2 + 2          # covers any chunk's pairs: one shape to compile
    idx = np.minimum(np.arange(first, first + block), plan.pairs - 1)
    z = np.asarray(_pair_rows(key, jnp.asarray(idx), jnp.asarray(plan.size_probs), plan.m))
    rows = np.stack([z, ~z], axis=1).reshape(-1, plan.m)
    return rows[start - 2 * first:stop - 2 * first]


def shapley_kernel_chunks(key, plan: KernelPlan, batch_size: int):
    """``(z (rows, M) bool, w (rows,) float64)`` chunks of at most ``batch_size`` rows:
    first the enumerated sizes, then the complement pairs, in the order of the plan."""
    enumerated = _enumerated_rows(plan)
    n_enum = plan.n_enumerated
    for start in range(0, plan.n_rows, batch_size):
        stop = min(start + batch_size, plan.n_rows)
        parts, w = [], []
        if start < n_enum:
            rows, weights = zip(*islice(enumerated, min(stop, n_enum) - start))
            parts.append(np.stack(rows))
            w.extend(weights)
        if stop > n_enum:
            a, b = max(start, n_enum) - n_enum, stop - n_enum
            parts.append(_sampled_rows(key, plan, a, b, batch_size))
            w.extend([plan.pair_weight] * (b - a))
        yield np.concatenate(parts), np.asarray(w, np.float64)


def shapley_kernel(key, n_samples: int, n_features: int):
    """Coalitions and weights for Kernel SHAP (paper 001's 3D Kernel SHAP; Lundberg & Lee).

    The rows of :func:`kernel_plan` / :func:`shapley_kernel_chunks` in one matrix: complete
    small/large sizes, then complement pairs (coalition, complement, coalition, ...). The
    empty and the full coalition are not rows: they enter the fit as exact constraints.
    ``n_samples`` is capped at 2^M - 2 (every coalition), in which case the fit is exact.
    Returns ``(Z bool (N, M), weights float32 (N,))`` with weights summing to 1.
    """
    key = check_key(key)
    n_samples = check_samples(n_samples)
    m = check_int(n_features, "n_features", minimum=1)
    if m == 1:
        return np.zeros((0, 1), dtype=bool), np.zeros((0,), dtype=np.float32)
    plan = kernel_plan(n_samples, m)
    chunks = list(shapley_kernel_chunks(key, plan, 4096))
    if not chunks:
        return np.zeros((0, m), dtype=bool), np.zeros((0,), dtype=np.float32)
    z = np.concatenate([c[0] for c in chunks])
    w = np.concatenate([c[1] for c in chunks])
    return z, w.astype(np.float32)          # the plan's weights already sum to 1
