"""Subsequence sampling for approximate ESVs (paper 003, Sec. 2.3, Eq. 10, Algorithm 1).

Each iteration walks the sizes s = 1..n. The candidate pool at size s is every subset sampled
at size s-1 grown by one frame it lacks (Eq. 10); at most ``m`` distinct candidates are drawn
uniformly without replacement. A multi-scale ``f^ms`` at size s uses the mean of ``f^ms``
over the *sampled* size-(s-1) subsets contained in it (Algorithm 1, lines 5-11: every drawn
subset has at least one, its parent). Per size and frame, the sums and counts of scores of
sampled subsets with / without the frame are pooled over iterations (lines 12-13) and turned
into phi by Eq. 7 (line 15).

When a (size, frame) term has no sample on one side (possible only when ``m`` is small
compared with ``n``) it is left out and phi_i is the mean of that frame's available terms.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .value_models import MultiScale, check_logits, estimate_multiscale, score_level, softmax

__all__ = ["run_algorithm1", "score_sampled", "grow", "combine", "parents_mean",
           "unique_rows", "pack_words", "numpy_rng"]


def numpy_rng(key) -> np.random.Generator:
    """A NumPy generator seeded from a ``jax.random`` key (same key, same stream).

    Candidate pools change size at every step, so drawing on the host avoids one XLA
    compilation per pool size.
    """
    return np.random.default_rng(np.asarray(jax.random.bits(key, (4,), jnp.uint32)))


def grow(parents: np.ndarray) -> np.ndarray:
    """Eq. 10: distinct subsets made by adding one unused frame to a row of ``parents``."""
    p, n = parents.shape
    cand = parents[:, None, :] | np.eye(n, dtype=bool)[None]
    cand = cand[~parents]                      # (sum of unused frames, n)
    return cand[unique_rows(cand)]


def pack_words(rows: np.ndarray) -> np.ndarray:
    """Boolean rows ``(N, n)`` packed into big-endian 64-bit words ``(N, ceil(n / 64))``."""
    packed = np.packbits(rows, axis=1)
    pad = (-packed.shape[1]) % 8
    if pad:
        packed = np.concatenate([packed, np.zeros((packed.shape[0], pad), np.uint8)], axis=1)
    return np.ascontiguousarray(packed).view(">u8").astype(np.uint64)


def unique_rows(rows: np.ndarray) -> np.ndarray:
    """Indices of the distinct rows of a boolean ``(N, n)`` array, in lexicographic order
    of their packed bits (sorted with ``lexsort`` on 64-bit words, no BLAS or void sorts)."""
    words = pack_words(rows)
    order = np.lexsort(words.T[::-1])
    sorted_words = words[order]
    first = np.ones(order.size, bool)
    first[1:] = np.any(sorted_words[1:] != sorted_words[:-1], axis=1)
    return order[first]


def combine(s_with, n_with, s_without, n_without) -> np.ndarray:
    """Eq. 7 from pooled sums / counts (Algorithm 1, line 15): phi ``(n, K)``."""
    ok = (n_with[1:] > 0) & (n_without[:-1] > 0)                       # (n, n_frames)
    with_mean = s_with[1:] / np.maximum(n_with[1:], 1)[..., None]
    without_mean = s_without[:-1] / np.maximum(n_without[:-1], 1)[..., None]
    terms = np.where(ok[..., None], with_mean - without_mean, 0.0)
    return terms.sum(0) / np.maximum(ok.sum(0), 1)[:, None]


def parents_mean(parents, prev, pool) -> np.ndarray:
    """Mean ``f^ms`` (``prev``) of the sampled size-(s-1) subsets inside each candidate."""
    pw, qw = pack_words(parents), pack_words(pool)
    # parent k lies inside candidate j <=> k keeps no frame that j lacks
    inside = ~np.any((pw[None, :, :] & ~qw[:, None, :]) != 0, axis=2)  # (q, p)
    return (inside.astype(np.float64) @ prev) / inside.sum(1)[:, None]


def score_sampled(value, s, pool, parents, prev, ctx):
    """``(logits, v)`` of the size-``s`` candidates ``pool``: the recursion of Eq. 9 over the
    sampled parents, or with ``ctx["draws"]`` the direct estimate of Eq. 8."""
    empty, classes, apply_softmax, batch_size = (ctx[k] for k in
                                                 ("empty", "classes", "softmax", "batch_size"))
    if isinstance(value, MultiScale) and ctx["draws"] is not None:
        logits = check_logits(estimate_multiscale(value, pool, ctx["draws"], ctx["rng"],
                                                  batch_size), empty.size)
        return logits, (softmax(logits) if apply_softmax else logits)[:, classes]
    parent_mean = None
    if isinstance(value, MultiScale) and s >= 2:
        parent_mean = parents_mean(parents, prev, pool)
    return score_level(value, s, pool, parent_mean, empty.size, batch_size, classes,
                       apply_softmax)


def run_algorithm1(value, n, empty, classes, key, m, iterations, apply_softmax, batch_size,
                   draws=None):
    """Algorithm 1 of paper 003; returns ``history (iterations, n, K)``, ``full (K,)``,
    ``n_evals``."""
    rng = numpy_rng(key)
    ctx = dict(empty=empty, classes=classes, softmax=apply_softmax, batch_size=batch_size,
               draws=draws, rng=rng)
    k = classes.size
    s_with, s_without = np.zeros((n + 1, n, k)), np.zeros((n + 1, n, k))
    n_with, n_without = np.zeros((n + 1, n)), np.zeros((n + 1, n))
    s_without[0], n_without[0] = empty[classes], 1.0
    history, full, n_evals = [], np.zeros(k), 0
    for _ in range(iterations):
        parents, prev = np.zeros((1, n), bool), None
        for s in range(1, n + 1):
            pool = grow(parents)
            if pool.shape[0] > m:
                pool = pool[np.sort(rng.choice(pool.shape[0], size=m, replace=False))]
            logits, v = score_sampled(value, s, pool, parents, prev, ctx)
            mf = pool.astype(np.float64)
            s_with[s] += mf.T @ v
            n_with[s] += mf.sum(0)
            if s < n:
                s_without[s] += (1.0 - mf).T @ v
                n_without[s] += (1.0 - mf).sum(0)
            n_evals += pool.shape[0]
            parents, prev = pool, logits
        full += v[0]
        history.append(combine(s_with, n_with, s_without, n_without))
    return {"history": np.stack(history), "full": full / iterations, "n_evals": n_evals}
