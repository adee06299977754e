"""Synthetic clips whose class depends on *which* frames carry evidence and in *what order*.

Each clip of ``T`` frames (default 8) of ``size x size`` pixels (default 24) shows a grey
"actor" disc moving along a random straight path over a per-clip grey background with pixel
noise. Exactly two *evidence frames* (distinct, random positions) also show a saturated
square, red or blue; the class is the ordered pair of colours:

``red_then_blue``, ``blue_then_red``, ``red_twice``, ``blue_twice``.

A single evidence frame narrows the class down to two or three candidates; only both evidence
frames, in order, identify it (classes 0 and 1 differ by order alone), so a frame model's
Element Shapley Values (paper 003) should concentrate on the two evidence frames. Labels are
balanced (``i % 4`` shuffled by the key); everything comes from the ``jax.random`` key.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from vidxai.errors import check_int, check_key

CLASSES = ("red_then_blue", "blue_then_red", "red_twice", "blue_twice")
RED = jnp.array([0.92, 0.12, 0.10])
BLUE = jnp.array([0.12, 0.25, 0.95])
NOISE_SIGMA = 0.04


class OrderBatch(NamedTuple):
    """``videos`` float32 ``(N, T, H, W, 3)`` in [0, 1]; ``labels`` int32 ``(N,)``;
    ``evidence`` bool ``(N, T)``: the two frames showing a coloured square."""

    videos: jax.Array
    labels: jax.Array
    evidence: jax.Array


def _clip(key, label, t, size):
    k = jax.random.split(key, 6)
    coords = jnp.arange(size, dtype=jnp.float32) + 0.5
    yy, xx = coords[:, None], coords[None, :]
    background = jax.random.uniform(k[0], (), minval=0.25, maxval=0.45)
    frames = jnp.full((t, size, size, 3), background)
    # grey actor disc on a straight path through every frame (no class information)
    ends = jax.random.uniform(k[1], (2, 2), minval=4.0, maxval=size - 4.0)
    path = ends[0] + jnp.linspace(0.0, 1.0, t)[:, None] * (ends[1] - ends[0])
    disc = (yy - path[:, 0, None, None]) ** 2 + (xx - path[:, 1, None, None]) ** 2 <= 9.0
    frames = jnp.where(disc[..., None], 0.7, frames)
    # two evidence frames with a coloured square
    where = jnp.sort(jax.random.permutation(k[2], t)[:2])
    first_red = (label == 0) | (label == 2)
    second_red = (label == 1) | (label == 2)
    colours = jnp.stack([jnp.where(first_red, RED, BLUE), jnp.where(second_red, RED, BLUE)])
    centres = jax.random.uniform(k[3], (2, 2), minval=4.0, maxval=size - 4.0)
    square = (jnp.abs(yy - centres[:, 0, None, None]) <= 3.0) & (
        jnp.abs(xx - centres[:, 1, None, None]) <= 3.0)                     # (2, H, W)
    for j in range(2):
        on = (jnp.arange(t) == where[j])[:, None, None] & square[j][None]
        frames = jnp.where(on[..., None], colours[j], frames)
    noise = NOISE_SIGMA * jax.random.normal(k[4], frames.shape)
    evidence = jnp.zeros((t,), bool).at[where].set(True)
    return jnp.clip(frames + noise, 0.0, 1.0), evidence


@partial(jax.jit, static_argnums=(1, 2, 3))
def _generate(key, n, t, size):
    k_lab, k_clip = jax.random.split(key)
    labels = jax.random.permutation(k_lab, jnp.arange(n) % len(CLASSES)).astype(jnp.int32)
    videos, evidence = jax.vmap(lambda k, y: _clip(k, y, t, size))(
        jax.random.split(k_clip, n), labels)
    return OrderBatch(videos.astype(jnp.float32), labels, evidence)


def make_order_dataset(key, n: int, num_frames: int = 8, size: int = 24) -> OrderBatch:
    """``n`` labelled clips of ``num_frames`` frames (see the module docstring)."""
    key = check_key(key)
    n = check_int(n, "n", minimum=1)
    num_frames = check_int(num_frames, "num_frames", minimum=2)
    size = check_int(size, "size", minimum=12)
    return _generate(key, n, num_frames, size)
