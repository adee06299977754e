"""Analytic test models whose explanations are known in closed form."""
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np

from vidxai import segment


def toy_video(shape=(4, 12, 12), seed=0):
    return (np.random.RandomState(seed).rand(*shape, 3) * 0.8 + 0.1).astype(np.float32)


def segment_means(video, seg):
    """Per-segment mean intensity (channel mean) of a video: (n,)."""
    grey = np.asarray(video).mean(-1)
    return np.bincount(seg.labels.ravel(), grey.ravel(), seg.n) / seg.sizes()


def additive_model(seg, weights):
    """f(x) = sum_j w_j * mean(x over segment j): black removal zeroes a segment's term."""
    labels = jnp.asarray(seg.labels).ravel()
    sizes = jnp.asarray(seg.sizes(), jnp.float32)
    w = jnp.asarray(weights, jnp.float32)

    def f(x):
        grey = x.mean(-1).reshape(x.shape[0], -1)
        means = jax.vmap(lambda r: jax.ops.segment_sum(r, labels, seg.n))(grey) / sizes
        return means @ w

    return f


def interaction_model(seg, weights):
    """Non-additive: f(x) = (sum_j w_j m_j)^2 + m_0 * m_1 (pairwise interactions)."""
    base = additive_model(seg, weights)
    first_two = additive_model(seg, np.eye(seg.n)[0]), additive_model(seg, np.eye(seg.n)[1])

    def f(x):
        return base(x) ** 2 + first_two[0](x) * first_two[1](x)

    return f


def coalition_value(f, video, seg, kept):
    """f on the video with the segments not in ``kept`` blacked out, computed directly."""
    mask = np.isin(seg.labels, np.flatnonzero(kept))[..., None]
    return float(f(jnp.asarray(video * mask)[None])[0])


def brute_force_shapley(f, video, seg):
    """Shapley values by the subset formula over all 2^n coalitions."""
    n = seg.n
    value = {}
    for bits in itertools.product([False, True], repeat=n):
        value[bits] = coalition_value(f, video, seg, np.array(bits))
    phi = np.zeros(n)
    for i in range(n):
        for bits, v in value.items():
            if bits[i]:
                continue
            s = sum(bits)
            with_i = list(bits)
            with_i[i] = True
            weight = math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n)
            phi[i] += weight * (value[tuple(with_i)] - v)
    return phi


def region_reader(region):
    """White-box score: mean intensity inside a boolean (T, H, W) region, nothing else."""
    r = jnp.asarray(region, jnp.float32)

    def f(x):
        return (x.mean(-1) * r).sum(axis=(1, 2, 3)) / r.sum()

    return f


def small_grid(video, cells=(2, 2, 2)):
    return segment.grid(video, cells)
