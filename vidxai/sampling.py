"""Feature selection stage: which coalitions of features to keep (paper 001, Sec. 3.2).

A coalition matrix ``Z`` is boolean ``(N, n)``; ``True`` means the feature is kept.
"""
from __future__ import annotations

import math
from itertools import combinations

import jax
import jax.numpy as jnp
import numpy as np

from .errors import check_int, check_key, check_probability


def bernoulli(key, n_samples: int, n_features: int, p: float = 0.5) -> jax.Array:
    """Independent coalitions: each feature kept with probability ``p`` (LIME, RISE)."""
    key = check_key(key)
    n_samples = check_int(n_samples, "n_samples", minimum=1)
    n_features = check_int(n_features, "n_features", minimum=1)
    p = check_probability(p, "p")
    return jax.random.bernoulli(key, p, (n_samples, n_features))


def leave_one_out(n: int) -> np.ndarray:
    """Row i keeps every feature except i (LV-LOCO)."""
    n = check_int(n, "n", minimum=1)
    return ~np.eye(n, dtype=bool)


def keep_one(n: int) -> np.ndarray:
    """Row i keeps only feature i (LV-Univariate)."""
    n = check_int(n, "n", minimum=1)
    return np.eye(n, dtype=bool)


def shapley_size_weights(n_features: int) -> np.ndarray:
    """Total Shapley-kernel mass of each coalition size s = 1..M-1, normalised to sum 1.

    The kernel of Lundberg & Lee gives one coalition of size s the weight
    (M-1) / (C(M,s) s (M-s)), so size s as a whole carries (M-1) / (s (M-s)).
    """
    m = n_features
    s = np.arange(1, m, dtype=np.float64)
    w = (m - 1) / (s * (m - s))
    return w / w.sum()


def _subsets(m: int, size: int) -> np.ndarray:
    rows = np.zeros((math.comb(m, size), m), dtype=bool)
    for r, idx in enumerate(combinations(range(m), size)):
        rows[r, list(idx)] = True
    return rows


def _enumerate_sizes(m: int, budget: int):
    """Complete coalition sizes (paired s, M-s) while the remaining budget covers them.

    Returns the enumerated rows, their kernel weights and the kernel mass left to sample.
    """
    size_w = shapley_size_weights(m)
    rows, weights, left = [], [], 1.0
    for s in range(1, m // 2 + 1):
        sizes = [s] if 2 * s == m else [s, m - s]
        mass = sum(size_w[k - 1] for k in sizes)
        count = sum(math.comb(m, k) for k in sizes)
        if count > budget or budget * mass / left < count * (1 - 1e-8):
            break
        for k in sizes:
            block = _subsets(m, k)
            rows.append(block)
            weights.append(np.full(len(block), size_w[k - 1] / len(block)))
        budget -= count
        left -= mass
    return rows, weights, max(left, 0.0), budget


def shapley_kernel(key, n_samples: int, n_features: int):
    """Coalitions and weights for Kernel SHAP (paper 001's 3D Kernel SHAP; Lundberg & Lee).

    Coalition sizes are taken from the outside in (1 and M-1, then 2 and M-2, ...): a size
    pair is enumerated completely while the budget allows it in proportion to its kernel mass;
    the remaining budget is spent on random coalitions drawn from the remaining sizes, each
    added together with its complement (paired sampling), all sharing the remaining mass.
    The empty and the full coalition are not rows: they enter the fit as exact constraints.
    ``n_samples`` is capped at 2^M - 2 (every coalition), in which case the fit is exact.
    Returns ``(Z bool (N, M), weights float32 (N,))`` with weights summing to 1.
    """
    key = check_key(key)
    n_samples = check_int(n_samples, "n_samples", minimum=1)
    m = check_int(n_features, "n_features", minimum=1)
    if m == 1:
        return np.zeros((0, 1), dtype=bool), np.zeros((0,), dtype=np.float32)
    if m < 62:
        n_samples = min(n_samples, 2**m - 2)
    rows, weights, left, budget = _enumerate_sizes(m, n_samples)
    n_pairs = budget // 2
    if n_pairs and left > 0:
        sampled = _paired_draws(key, m, n_pairs, _remaining_sizes(m, rows))
        rows.append(sampled)
        weights.append(np.full(len(sampled), left / len(sampled)))
    z = np.concatenate(rows) if rows else np.zeros((0, m), dtype=bool)
    w = np.concatenate(weights) if weights else np.zeros((0,))
    return z, (w / w.sum()).astype(np.float32) if w.size else w.astype(np.float32)


def _remaining_sizes(m: int, enumerated) -> np.ndarray:
    done = {int(r.sum()) for block in enumerated for r in block[:1]}
    size_w = shapley_size_weights(m)
    return np.array([0.0 if s in done else size_w[s - 1] for s in range(1, m)])


def _paired_draws(key, m: int, n_pairs: int, size_mass: np.ndarray) -> np.ndarray:
    """``n_pairs`` random coalitions of kernel-distributed size, each with its complement."""
    k_size, k_perm = jax.random.split(key)
    probs = jnp.asarray(size_mass / size_mass.sum())
    sizes = jax.random.choice(k_size, jnp.arange(1, m), (n_pairs,), p=probs)
    ranks = jnp.argsort(jnp.argsort(jax.random.uniform(k_perm, (n_pairs, m)), axis=1), axis=1)
    z = np.asarray(ranks < sizes[:, None])
    return np.concatenate([z, ~z])
