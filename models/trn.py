"""A TRN-style multi-scale frame model for Element Shapley Values (paper 003, Sec. 2.2, 3).

As in the paper's TRN setup, a *frozen* per-frame encoder turns each frame into a feature
vector and ``n_max = 8`` single-scale heads ``f^s`` (one-hidden-layer MLPs) each classify an
*ordered* subsequence of ``s`` frames from their concatenated features. The multi-scale model
``f^ms`` (paper 003, Eq. 8) averages the heads' logits over scales and subsequences; it is what
:func:`vidxai.explain.multiscale` builds from :meth:`TRN.heads`.

The encoder is parameter-free and fixed (it stands in for a pretrained backbone): each frame
is average-pooled to a 3 x 3 grid of RGB cells and the frame's mean colour is subtracted, so a
feature says where, and in which colour, a frame departs from its background. The heads are
trained by :mod:`models.train_trn` on :mod:`models.order_data` clips, whose class is the order
of two coloured evidence frames; weights live in ``models/weights/trn_order.msgpack`` with the
training record (held-out accuracy) in ``trn_order.json``.

    trn = load_trn()
    feats = trn.features(video)                       # (T, D), video (T, 24, 24, 3)
    value = multiscale(trn.heads(feats), trn.n_max)   # vidxai.explain.multiscale
    result = esv_exact(value, feats.shape[0], empty=trn.prior)

``trn.frame_value(video)`` returns that ``(value, prior)`` pair in one call; the zoo model
exposes it as ``meta["frame_value"]`` for ``vidxai.explain.esv`` (``--method esv``).
"""
from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass, field
from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from vidxai.errors import ArgumentError, ArgumentTypeError, describe
from vidxai.explain.shapley import MultiScale, multiscale

from .order_data import CLASSES

NAME = "trn-order"
N_MAX = 8
GRID = 3
SIZE = 24
NUM_FRAMES = 8
HIDDEN = 64
FEATURE_DIM = GRID * GRID * 3
WEIGHTS_DIR = os.path.join(os.path.dirname(__file__), "weights")


def encode(videos: jax.Array) -> jax.Array:
    """Frozen frame encoder: ``(..., T, H, W, 3)`` -> ``(..., T, 27)`` colour-contrast cells."""
    *lead, h, w, c = videos.shape
    cells = videos.reshape(*lead, GRID, h // GRID, GRID, w // GRID, c).mean(axis=(-4, -2))
    contrast = cells - videos.mean(axis=(-3, -2))[..., None, None, :]
    return 4.0 * contrast.reshape(*lead, GRID * GRID * c)


class ScaleHead(nn.Module):
    """``f^s``: one hidden layer over the concatenated features of ``s`` ordered frames."""

    hidden: int = HIDDEN
    classes: int = len(CLASSES)

    @nn.compact
    def __call__(self, feats):  # (B, s, D) -> (B, C)
        x = feats.reshape(feats.shape[0], -1)
        return nn.Dense(self.classes)(nn.relu(nn.Dense(self.hidden)(x)))


HEAD = ScaleHead()


def init_params(key: jax.Array) -> dict:
    """Parameters of the ``n_max`` heads: ``{"1": ..., ..., "8": ...}``."""
    keys = jax.random.split(key, N_MAX)
    return {str(s): HEAD.init(keys[s - 1], jnp.zeros((1, s, FEATURE_DIM)))["params"]
            for s in range(1, N_MAX + 1)}


def head_logits(params: dict, s: int, feats: jax.Array) -> jax.Array:
    """``f^s`` on ordered frame features ``(B, s, D)`` -> ``(B, C)`` logits."""
    return HEAD.apply({"params": params[str(s)]}, feats)


def multiscale_logits(params: dict, feats: jax.Array) -> jax.Array:
    """``f^ms`` of whole clips by its definition (paper 003, Eq. 8): ``(B, T, D)`` -> ``(B, C)``.

    Every ordered subsequence of every size ``s <= min(T, n_max)`` is scored (``2^T - 1``
    subsets for ``T <= 8``)."""
    t = feats.shape[1]
    per_scale = []
    for s in range(1, min(t, N_MAX) + 1):
        combos = jnp.asarray(list(itertools.combinations(range(t), s)), jnp.int32)  # (K, s)
        sub = feats[:, combos]                                             # (B, K, s, D)
        flat = sub.reshape(-1, s, feats.shape[-1])
        per_scale.append(head_logits(params, s, flat).reshape(feats.shape[0], -1,
                                                              len(CLASSES)).mean(1))
    return jnp.mean(jnp.stack(per_scale), axis=0)


def weight_paths(directory: str | None = None) -> tuple[str, str]:
    d = WEIGHTS_DIR if directory is None else directory
    return os.path.join(d, "trn_order.msgpack"), os.path.join(d, "trn_order.json")


@dataclass(frozen=True, eq=False)
class TRN:
    """The trained multi-scale model. ``prior``: training-set class frequencies (v(empty))."""

    params: dict
    class_names: tuple = CLASSES
    n_max: int = N_MAX
    prior: np.ndarray = field(default_factory=lambda: np.full(len(CLASSES), 1 / len(CLASSES)))
    record: dict = field(default_factory=dict)

    def features(self, video) -> jax.Array:
        """Frozen features of one clip ``(T, 24, 24, 3)`` in [0, 1] -> ``(T, 27)``."""
        if not hasattr(video, "shape") or len(video.shape) != 4 or tuple(video.shape[1:]) != (
                SIZE, SIZE, 3):
            raise ArgumentError("video", f"one clip (T, {SIZE}, {SIZE}, 3)", describe(video))
        return _encode_jit(jnp.asarray(video, jnp.float32))

    def heads(self, feats) -> list:
        """Single-scale heads over one clip's features ``(T, D)``: head ``s`` maps ordered
        frame indices int32 ``(N, s)`` to logits ``(N, C)`` (the form ``multiscale`` takes)."""
        feats = jnp.asarray(feats, jnp.float32)
        if feats.ndim != 2 or feats.shape[1] != FEATURE_DIM:
            raise ArgumentError("feats", f"frame features (T, {FEATURE_DIM})", describe(feats))
        return [_bind(self.params, s, feats) for s in range(1, self.n_max + 1)]

    def frame_value(self, video) -> tuple[MultiScale, np.ndarray]:
        """The ESV game of one clip ``(T, 24, 24, 3)``: ``(value, empty)`` with ``value`` the
        multi-scale ``f^ms`` over its frames (paper 003, Eq. 8) and ``empty`` = v(empty), the
        training-set class prior (paper 003, Sec. 2.1). Pass them to
        :func:`vidxai.explain.esv` with ``n = T``."""
        return multiscale(self.heads(self.features(video)), self.n_max), self.prior

    def logits(self, videos) -> jax.Array:
        """``f^ms`` over all frames of a batch ``(B, T, 24, 24, 3)`` (Eq. 8) -> ``(B, C)``."""
        if not hasattr(videos, "shape") or len(videos.shape) != 5:
            raise ArgumentError("videos", f"a batch (B, T, {SIZE}, {SIZE}, 3)", describe(videos))
        return _fms_jit(self.params, jnp.asarray(videos, jnp.float32))


@partial(jax.jit, static_argnums=1)
def _head_on_indices(params, s, feats, idx):
    return head_logits(params, s, feats[idx])


def _bind(params, s, feats):
    # a partial of one jitted function: every clip reuses the same compiled heads
    return partial(_head_on_indices, params, s, feats)


_encode_jit = jax.jit(encode)
_fms_jit = jax.jit(lambda p, v: multiscale_logits(p, encode(v)))


def load_trn(directory: str | None = None) -> TRN:
    """Load the trained TRN-style model (weights from :mod:`models.train_trn`)."""
    path, record_path = weight_paths(directory)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: TRN weights not found; create them with "
                                "`python -m models.train_trn`")
    template = jax.eval_shape(init_params, jax.random.key(0))   # shapes only, no compute
    with open(path, "rb") as fh:
        try:
            state = serialization.msgpack_restore(fh.read())
        except Exception as err:  # corrupt file: say which one
            raise ValueError(f"{path}: not a flax msgpack file ({err})") from None
    want = jax.tree_util.tree_structure(template)
    if jax.tree_util.tree_structure(state) != want or any(
            np.shape(a) != t.shape for a, t in zip(jax.tree_util.tree_leaves(state),
                                                   jax.tree_util.tree_leaves(template))):
        raise ValueError(f"{path}: weights do not fit the TRN heads of models.trn")
    params = jax.tree_util.tree_map(jnp.asarray, state)
    record = {}
    if os.path.isfile(record_path):
        with open(record_path) as fh:
            record = json.load(fh)
    prior = np.asarray(record.get("prior", [1 / len(CLASSES)] * len(CLASSES)), np.float64)
    return TRN(params=params, prior=prior, record=record)


def load_trn_model(**kwargs):
    """The TRN as a zoo :class:`models.base.Model` (``apply``: ``f^ms`` over all frames)."""
    from .base import Model

    trn = load_trn(**kwargs)

    def apply(videos):
        if not hasattr(videos, "shape"):
            raise ArgumentTypeError("video", "an array (B, T, 24, 24, 3)", describe(videos))
        return trn.logits(videos)

    return Model(NAME, apply, num_frames=NUM_FRAMES, size=(SIZE, SIZE), class_names=CLASSES,
                 differentiable=True, min_frames=1,
                 meta={**trn.record, "trn": trn, "n_max": trn.n_max,
                       "frame_value": trn.frame_value,
                       "note": "f^ms of paper 003 Eq. 8; explain with vidxai.explain.esv"})
