"""Keyed synthetic videos whose class evidence is known pixel by pixel.

Three kinds of labelled clips, each a batch of float32 videos ``(N, T, H, W, 3)`` in
[0, 1] (default ``(T, H, W) = (16, 64, 64)``) with its labels ``(N,)`` and a boolean
ground-truth mask ``(N, T, H, W)`` of the pixels that carry the class evidence:

``"spatial"`` -- *which shape* moves across the frame. Classes ``square``, ``disc``,
    ``cross``, ``triangle``; the object has a random saturated colour and moves along a
    random straight path. Mask: the object in every frame.
``"temporal"`` -- *which way* one disc moves. Classes ``left_to_right``,
    ``right_to_left``, ``upward``, ``downward``. Every clip shows the same shape with a
    random colour, so a single frame cannot tell the class; only motion does (the
    setting of the spatio-temporal masks of STEP, paper 004). Mask: the disc in every frame.
``"signature"`` -- a coloured disc is visible in only a few consecutive *signature
    frames* (3 to 5 of them) and absent elsewhere; its colour is the class: ``red``,
    ``green``, ``blue``, ``yellow``. This mirrors the "signature frames" of TIEM's
    real-video study (paper 002, Sec. 4.2), where the distinctive movement appears in a
    short segment only, and feeds its temporal pointing game. A grey "actor" disc moves
    through every frame without telling the class. Mask: the coloured disc in the
    signature frames only.

Every kind adds label-free distractors (small grey squares on straight paths) and a
per-video grey background with uniform i.i.d. pixel noise (std 0.04). Class objects are
saturated colours, distractors and the actor are grey, so the evidence is visible by
colour while the distractors still share its motion statistics.

Randomness only comes from the ``key`` (``jax.random``): the same key, ``n`` and shape
give the same batch bit for bit on a given backend (the pixel noise comes from XLA's
RngBitGenerator seeded by the key, whose stream may differ between CPU and GPU; a
different ``n`` gives a different batch). Labels are balanced (``i % K`` shuffled by the key).
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from vidxai.errors import ArgumentError, check_int, check_key, check_shape3

DEFAULT_SHAPE = (16, 64, 64)
CLASSES = {
    "spatial": ("square", "disc", "cross", "triangle"),
    "temporal": ("left_to_right", "right_to_left", "upward", "downward"),
    "signature": ("red", "green", "blue", "yellow"),
}
KINDS = tuple(CLASSES)
SIGNATURE_COLOURS = np.array(
    [[0.95, 0.12, 0.12], [0.12, 0.90, 0.20], [0.20, 0.35, 1.00], [0.95, 0.90, 0.12]], np.float32
)
NOISE_SIGMA = 0.04
NUM_DISTRACTORS = 2
SIGNATURE_LENGTHS = (3, 5)  # inclusive range of the number of signature frames
MIN_T, MIN_HW = 6, 16


class SyntheticBatch(NamedTuple):
    """A labelled batch of synthetic clips.

    ``videos`` float32 ``(N, T, H, W, 3)`` in [0, 1]; ``labels`` int32 ``(N,)`` indexing
    :data:`CLASSES` ``[kind]``; ``masks`` bool ``(N, T, H, W)``, True where the class
    evidence is drawn; ``frames`` bool ``(N, T)``, True for the frames that hold evidence
    (the signature frames of the ``"signature"`` kind, every frame for the other kinds).
    """

    videos: jax.Array
    labels: jax.Array
    masks: jax.Array
    frames: jax.Array

    def signature_frames(self, i: int) -> np.ndarray:
        """Indices of the evidence frames of clip ``i`` (TIEM's signature frames)."""
        return np.flatnonzero(np.asarray(self.frames[i]))


# ----------------------------------------------------------------------------- drawing
def _shape_mask(shape_id, cy, cx, r, h, w):
    """Boolean ``(H, W)`` silhouette of shape ``shape_id`` (index into spatial classes)."""
    yy = jnp.arange(h, dtype=jnp.float32)[:, None] + 0.5
    xx = jnp.arange(w, dtype=jnp.float32)[None, :] + 0.5
    dy, dx = yy - cy, xx - cx
    ay, ax = jnp.abs(dy), jnp.abs(dx)
    square = (ay <= 0.85 * r) & (ax <= 0.85 * r)
    disc = dy * dy + dx * dx <= r * r
    arm = r / 3.0
    cross = ((ay <= r) & (ax <= arm)) | ((ax <= r) & (ay <= arm))
    triangle = (dy >= -r) & (dy <= 0.8 * r) & (ax <= 0.62 * (dy + r))  # apex up
    return jnp.stack([square, disc, cross, triangle])[shape_id]


def _draw(canvas, mask, colour):
    """Paint ``colour (3,)`` over ``canvas (H, W, 3)`` where ``mask (H, W)``."""
    return jnp.where(mask[..., None], colour, canvas)


def _path(p0, p1, t):
    """Linear path of centres ``(T, 2)`` from ``p0`` to ``p1`` over ``t`` frames."""
    s = jnp.linspace(0.0, 1.0, t)[:, None]
    return p0[None] + s * (p1 - p0)[None]


class _Draws:
    """Hands out the per-clip uniforms in [0, 1) one after the other.

    Every random number of a clip comes from one ``jax.random.bits`` call for the whole
    batch (see ``_generate``).
    """

    def __init__(self, u):
        self.u, self.i = u, 0

    def __call__(self, lo=0.0, hi=1.0):
        if self.i >= self.u.shape[0]:  # trace-time guard: raise NUM_DRAWS if this fires
            raise RuntimeError("synthetic clip used more than NUM_DRAWS random numbers")
        self.i += 1
        return lo + self.u[self.i - 1] * (hi - lo)

    def point(self, margin, h, w):
        return jnp.array([self(margin, h - margin), self(margin, w - margin)])


NUM_DRAWS = 24  # uniforms per clip (the clip functions use at most this many)


def _hue_colour(hue):
    """A saturated colour (channel range 0.8) of ``hue`` in [0, 1)."""
    h = hue * 6.0
    rgb = jnp.clip(jnp.array([jnp.abs(h - 3.0) - 1.0, 2.0 - jnp.abs(h - 2.0),
                              2.0 - jnp.abs(h - 4.0)]), 0.0, 1.0)
    return 0.12 + 0.8 * rgb


def _background_and_distractors(draw, shape):
    """Flat grey background with grey square distractors: frames ``(T, H, W, 3)``
    (the pixel noise is added to the whole batch afterwards)."""
    t, h, w = shape
    frames = jnp.broadcast_to(draw(0.10, 0.35), (t, h, w, 3))
    half = 0.05 * min(h, w)
    for _ in range(NUM_DISTRACTORS):
        centres = _path(draw.point(half + 1, h, w), draw.point(half + 1, h, w), t)
        grey = jnp.full((3,), draw(0.55, 0.85))
        masks = _object_masks(0, centres, half / 0.85, h, w)
        frames = jnp.where(masks[..., None], grey, frames)
    return frames


def _object_masks(shape_id, centres, r, h, w):
    return jax.vmap(lambda c: _shape_mask(shape_id, c[0], c[1], r, h, w))(centres)


def _radius(shape):
    return 0.11 * min(shape[1], shape[2])


# ----------------------------------------------------------------------------- one clip per kind
def _spatial_clip(draw, label, shape):
    t, h, w = shape
    r = _radius(shape)
    frames = _background_and_distractors(draw, shape)
    m = r + 1.0
    centres = _path(draw.point(m, h, w), draw.point(m, h, w), t)
    masks = _object_masks(label, centres, r, h, w)
    frames = jnp.where(masks[..., None], _hue_colour(draw()), frames)
    return frames, masks, jnp.ones((t,), bool)


def _temporal_clip(draw, label, shape):
    t, h, w = shape
    r = _radius(shape)
    frames = _background_and_distractors(draw, shape)
    m = r + 1.0
    horizontal = label < 2
    extent = jnp.where(horizontal, w, h) - 2 * m        # room along the motion axis
    other = jnp.where(horizontal, h, w) - 2 * m         # room across it
    travel = extent * draw(0.5, 1.0)
    start = m + draw() * (extent - travel)
    side = m + draw() * other
    forward = (label == 0) | (label == 3)               # towards larger x (right) or y (down)
    a0 = jnp.where(forward, start, start + travel)
    a1 = jnp.where(forward, start + travel, start)
    p0 = jnp.where(horizontal, jnp.array([side, a0]), jnp.array([a0, side]))
    p1 = jnp.where(horizontal, jnp.array([side, a1]), jnp.array([a1, side]))
    masks = _object_masks(1, _path(p0, p1, t), r, h, w)
    frames = jnp.where(masks[..., None], _hue_colour(draw()), frames)
    return frames, masks, jnp.ones((t,), bool)


def _signature_clip(draw, label, shape):
    t, h, w = shape
    r = _radius(shape)
    frames = _background_and_distractors(draw, shape)
    m = r + 1.0
    actor = _object_masks(1, _path(draw.point(m, h, w), draw.point(m, h, w), t), r, h, w)
    frames = jnp.where(actor[..., None], jnp.full((3,), draw(0.5, 0.8)), frames)
    lo, hi = SIGNATURE_LENGTHS
    hi = min(hi, t - 1)
    length = jnp.minimum(lo + jnp.floor(draw() * (hi - lo + 1)).astype(jnp.int32), hi)
    start = jnp.minimum(jnp.floor(draw() * (t - length + 1)).astype(jnp.int32), t - length)
    tt = jnp.arange(t)
    on = (tt >= start) & (tt < start + length)
    centre = draw.point(m, h, w)
    blob = _shape_mask(1, centre[0], centre[1], r, h, w)
    masks = on[:, None, None] & blob[None]
    frames = jnp.where(masks[..., None], jnp.asarray(SIGNATURE_COLOURS)[label], frames)
    return frames, masks, on


_CLIP = {"spatial": _spatial_clip, "temporal": _temporal_clip, "signature": _signature_clip}


@partial(jax.jit, static_argnums=(0, 2, 3))
def _generate(kind, key, n, shape):
    # One threefry call feeds everything (many small ones compile slowly on the CPU):
    # per-clip uniforms, the label shuffle and the seed of the pixel-noise generator.
    words = jax.random.bits(key, (n * (NUM_DRAWS + 1) + 4,), jnp.uint32)
    u = (words[: n * (NUM_DRAWS + 1)] >> 8).astype(jnp.float32) * (1.0 / (1 << 24))
    u = u.reshape(n, NUM_DRAWS + 1)
    labels = (jnp.argsort(u[:, 0]) % len(CLASSES[kind])).astype(jnp.int32)  # balanced
    clip = lambda draws, label: _CLIP[kind](_Draws(draws), label, shape)
    videos, masks, frames = jax.vmap(clip)(u[:, 1:], labels)
    noise = _pixel_noise(words[-4:], videos.shape)
    return SyntheticBatch(jnp.clip(videos + noise, 0.0, 1.0), labels, masks, frames)


def _pixel_noise(seed, shape):
    """I.i.d. uniform pixel noise with standard deviation ``NOISE_SIGMA``, ``shape (..., 3)``.

    Three bytes of each 32-bit word of XLA's RngBitGenerator (an ``rbg`` key made of the
    four uint32 words ``seed``) give the three channels of a pixel: several times cheaper
    on the CPU than threefry normals for millions of values, and still a pure function of
    the seed on a given backend.
    """
    words = jax.random.bits(jax.random.wrap_key_data(seed, impl="rbg"), shape[:-1], jnp.uint32)
    u = jnp.stack([(words >> (8 * c)) & 255 for c in range(3)], axis=-1)
    return (NOISE_SIGMA * 12.0 ** 0.5) * (u.astype(jnp.float32) * (1.0 / 255.0) - 0.5)


# ----------------------------------------------------------------------------- public API
def check_kind(kind) -> str:
    """Validate a synthetic kind name (``ArgumentError`` naming ``kind`` otherwise)."""
    if not isinstance(kind, str) or kind not in CLASSES:
        raise ArgumentError("kind", f"one of {list(KINDS)}", repr(kind))
    return kind


def _check_shape(shape) -> tuple[int, int, int]:
    t, h, w = check_shape3(shape, "shape")
    if t < MIN_T or min(h, w) < MIN_HW:
        raise ArgumentError("shape", f"(T, H, W) with T >= {MIN_T} and H, W >= {MIN_HW}", shape)
    return t, h, w


def make_dataset(kind: str, key: jax.Array, n: int, shape=DEFAULT_SHAPE) -> SyntheticBatch:
    """A batch of ``n`` synthetic clips of ``kind`` (``"spatial"``, ``"temporal"`` or
    ``"signature"``; see the module docstring for their classes), drawn from ``key``.

    Returns a :class:`SyntheticBatch` ``(videos, labels, masks, frames)``.
    """
    kind = check_kind(kind)
    key = check_key(key)
    n = check_int(n, "n", minimum=1)
    return _generate(kind, key, n, _check_shape(shape))


def spatial(key: jax.Array, n: int, shape=DEFAULT_SHAPE) -> SyntheticBatch:
    """Clips whose class is the shape of the one coloured moving object (spatial evidence)."""
    return make_dataset("spatial", key, n, shape)


def temporal(key: jax.Array, n: int, shape=DEFAULT_SHAPE) -> SyntheticBatch:
    """Clips whose class is the direction of motion of one coloured disc (temporal evidence)."""
    return make_dataset("temporal", key, n, shape)


def signature(key: jax.Array, n: int, shape=DEFAULT_SHAPE) -> SyntheticBatch:
    """Clips whose class is the colour of a disc shown only in a few consecutive frames
    (TIEM's signature-frame setting, paper 002 Sec. 4.2); ``frames`` marks those frames."""
    return make_dataset("signature", key, n, shape)
