"""Shared pieces of the benchmarks: a small flax 3-D CNN, a real clip, a timer."""
from __future__ import annotations

import time

import flax.linen as nn
import jax
import jax.numpy as jnp

from vidxai.io import read_video, sample_video


class Small3DCNN(nn.Module):
    """A small 3-D CNN classifier (10 classes) standing in for a video model."""

    @nn.compact
    def __call__(self, x):
        x = x * 2.0 - 1.0
        for feats, stride in ((16, (1, 2, 2)), (32, (2, 2, 2)), (64, (2, 2, 2))):
            x = nn.relu(nn.Conv(feats, (3, 3, 3), strides=stride)(x))
        return nn.Dense(10)(x.mean(axis=(1, 2, 3)))


def small_model(shape=(16, 112, 112)):
    """``(apply, video)``: a jittable ``(B,T,H,W,3) -> (B,10)`` model and a real 16-frame clip."""
    net = Small3DCNN()
    params = net.init(jax.random.key(0), jnp.zeros((1,) + shape + (3,)))
    video = read_video(sample_video("bikes"), num_frames=shape[0], size=shape[1], stride=2)
    return (lambda x: net.apply(params, x)), video


def timed(fn, repeat=1):
    """Best wall time of ``repeat`` calls of ``fn`` (results blocked on)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - start)
    return best
