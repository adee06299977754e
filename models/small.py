"""Tiny Flax video classifiers of the two families STEP explains (paper 004, Sec. IV-A).

STEP evaluates its spatio-temporal extremal masks on a 3D-CNN, R(2+1)D, and on a CNN-RNN,
ResNet50-LSTM. We keep the two structures at toy scale (tens of thousands of parameters)
and train them on the keyed synthetic clips of :mod:`models.synthetic`, so that their
evidence is known pixel by pixel:

``r2plus1d_temporal`` -- (2+1)D CNN on the ``"temporal"`` kind (direction of motion).
    Each block factorises a 3-D convolution into a spatial ``1 x 3 x 3`` convolution and a
    temporal ``3 x 1 x 1`` one with a ReLU between them, as R(2+1)D does (Tran et al.
    2018); global average pooling and a dense layer give the logits.
``cnnlstm_signature`` -- CNN-LSTM on the ``"signature"`` kind (colour of a disc shown in a
    few consecutive frames only; TIEM's signature-frame setting, paper 002 Sec. 4.2). A
    small per-frame CNN ends in global max pooling; an LSTM runs over the frame features
    and the final hidden state gives the logits.
``cnnlstm_spatial`` -- the same CNN-LSTM on the ``"spatial"`` kind (which shape moves).
    Telling a disc from a square on the 2x2-pooled frames is the hardest of the three
    tasks: it needs about 1000 training steps (the (2+1)D CNN stayed near 80% at 300).

No batch normalisation or dropout: ``apply`` is a pure function of the input. Inputs are
pixel-space float32 ``(B, T, 64, 64, 3)`` in [0, 1]; the model average-pools them 2x2
and centres them itself (part of ``apply``, so gradients reach every input pixel).
Weights are committed in ``models/weights/<name>.msgpack`` (flax.serialization) with a
``<name>.json`` record of how they were trained; ``python -m models.train`` remakes them.
"""
from __future__ import annotations

import functools
import json
import os
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import serialization

from vidxai.errors import ArgumentError, ArgumentTypeError, VidxaiError, describe
from vidxai.layers import flax_model

from models.base import Model
from models.synthetic import CLASSES, DEFAULT_SHAPE

WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")


class WeightsNotFoundError(VidxaiError, FileNotFoundError):
    """The weight file of a small model is missing (train it with ``python -m models.train``)."""


class WeightsMismatchError(VidxaiError, ValueError):
    """A weight file does not match the architecture it is loaded into."""


POOL = 2  # fixed average pooling of the input (64x64 -> 32x32): the models are cheap on a CPU


def _prepare(x):
    """Pixel space [0, 1] -> centred model input, average-pooled ``POOL x POOL`` per frame."""
    b, t, h, w, c = x.shape
    x = x.astype(jnp.float32).reshape(b, t, h // POOL, POOL, w // POOL, POOL, c).mean((3, 5))
    return (x - 0.5) * 4.0


class SpatialConv(nn.Module):
    """The ``1 x k x k`` convolution of a (2+1)D block, run as a 2-D conv on every frame."""

    features: int
    k: int = 3
    stride: int = 1

    @nn.compact
    def __call__(self, x):
        b, t = x.shape[:2]
        y = nn.Conv(self.features, (self.k, self.k), (self.stride, self.stride), padding="SAME",
                    name="conv")(x.reshape(b * t, *x.shape[2:]))
        return y.reshape(b, t, *y.shape[1:])


class TemporalConv(nn.Module):
    """The ``k x 1 x 1`` convolution of a (2+1)D block (zero 'SAME' padding in time).

    Written as ``k`` shifted per-pixel matrix products, which XLA runs several times
    faster on a CPU than a 3-D convolution with a ``k x 1 x 1`` kernel; same result.
    """

    features: int
    k: int = 3
    stride: int = 1

    @nn.compact
    def __call__(self, x):
        t, cin = x.shape[1], x.shape[-1]
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (self.k, cin, self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        lo = (self.k - 1) // 2
        xp = jnp.pad(x, ((0, 0), (lo, self.k - 1 - lo), (0, 0), (0, 0), (0, 0)))
        y = sum(jnp.einsum("bthwc,cd->bthwd", xp[:, i:i + t], kernel[i]) for i in range(self.k))
        return y[:, ::self.stride] + bias


class R2Plus1D(nn.Module):
    """Tiny R(2+1)D: blocks of spatial ``1x3x3`` conv -> ReLU -> temporal ``3x1x1`` conv -> ReLU,
    then global average pooling over (T, H, W) and a dense layer."""

    num_classes: int
    widths: Sequence[int] = (8, 16, 24)
    spatial_strides: Sequence[int] = (2, 2, 1)
    temporal_strides: Sequence[int] = (1, 2, 2)

    @nn.compact
    def __call__(self, x):
        x = _prepare(x)
        for i, (c, ss, ts) in enumerate(zip(self.widths, self.spatial_strides, self.temporal_strides)):
            x = nn.relu(SpatialConv(c, stride=ss, name=f"spatial{i}")(x))
            x = nn.relu(TemporalConv(c, stride=ts, name=f"temporal{i}")(x))
        return nn.Dense(self.num_classes, name="head")(x.mean(axis=(1, 2, 3)))


class FrameCNN(nn.Module):
    """Per-frame 2-D CNN ending in global max pooling: ``(B, H, W, C) -> (B, widths[-1])``."""

    widths: Sequence[int] = (8, 16, 32)

    @nn.compact
    def __call__(self, x):
        for i, c in enumerate(self.widths):
            x = nn.relu(nn.Conv(c, (3, 3), (2, 2), padding="SAME", name=f"conv{i}")(x))
        return x.max(axis=(1, 2))


class CNNLSTM(nn.Module):
    """Per-frame CNN features, an LSTM over time, logits from the last hidden state."""

    num_classes: int
    hidden: int = 32

    @nn.compact
    def __call__(self, x):
        x = _prepare(x)
        b, t = x.shape[:2]
        feats = FrameCNN(name="cnn")(x.reshape(b * t, *x.shape[2:])).reshape(b, t, -1)
        rnn = nn.RNN(nn.OptimizedLSTMCell(self.hidden), return_carry=True, name="lstm")
        (_, h_last), _ = rnn(feats)
        return nn.Dense(self.num_classes, name="head")(h_last)


# name -> (architecture, synthetic kind)
SPECS = {
    "r2plus1d_temporal": ("r2plus1d", "temporal"),
    "cnnlstm_signature": ("cnnlstm", "signature"),
    "cnnlstm_spatial": ("cnnlstm", "spatial"),
}
NAMES = tuple(SPECS)


def check_name(name) -> str:
    if not isinstance(name, str) or name not in SPECS:
        raise ArgumentError("name", f"one of {list(NAMES)}", repr(name))
    return name


def build(name: str) -> nn.Module:
    """The (untrained) Flax module of small model ``name``."""
    arch, kind = SPECS[check_name(name)]
    k = len(CLASSES[kind])
    return R2Plus1D(num_classes=k) if arch == "r2plus1d" else CNNLSTM(num_classes=k)


def init_variables(name: str, key: jax.Array, shape=DEFAULT_SHAPE) -> dict:
    """Fresh variables of model ``name`` for clips of ``shape`` ``(T, H, W)``."""
    return build(name).init(key, jnp.zeros((1, *shape, 3), jnp.float32))


def weight_paths(name: str, directory: str | None = None) -> tuple[str, str]:
    """``(msgpack, json)`` paths of the committed weights of ``name``."""
    d = WEIGHTS_DIR if directory is None else directory
    return os.path.join(d, f"{name}.msgpack"), os.path.join(d, f"{name}.json")


def _strict_restore(template: dict, state: dict, path: str) -> dict:
    """Restore ``state`` into ``template``: same tree, same shapes, or a clear error."""
    flat_t = {"/".join(map(str, k)): v for k, v in
              jax.tree_util.tree_flatten_with_path(template)[0]}
    try:
        restored = serialization.from_state_dict(template, state)
    except (ValueError, KeyError, TypeError) as err:
        raise WeightsMismatchError(f"{path}: the stored variables do not match the architecture "
                                   f"({err}); retrain with `python -m models.train`") from None
    flat_r = {"/".join(map(str, k)): v for k, v in
              jax.tree_util.tree_flatten_with_path(restored)[0]}
    for k, v in flat_t.items():
        got = getattr(flat_r.get(k), "shape", None)
        if got != v.shape:
            raise WeightsMismatchError(f"{path}: variable {k} has shape {got}, expected {v.shape}; "
                                       "retrain with `python -m models.train`")
    return jax.tree_util.tree_map(lambda v: jnp.asarray(v, jnp.float32), restored)


def _check_batch(video, shape) -> None:
    """Static (traceable) checks of a ``(B, T, H, W, 3)`` input."""
    dims, dtype = getattr(video, "shape", None), getattr(video, "dtype", None)
    if dims is None or dtype is None:
        raise ArgumentTypeError("video", "an array of shape (B, T, H, W, 3)", type(video).__name__)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ArgumentTypeError("video", "a floating-point video in [0, 1]", describe(video))
    if len(dims) != 5 or dims[-1] != 3 or dims[0] < 1 or dims[1] < 1:
        raise ArgumentError("video", "a non-empty batch of RGB videos (B, T, H, W, 3)", describe(video))
    if tuple(dims[2:4]) != tuple(shape[1:]):
        raise ArgumentError("video", f"frames of {shape[1]}x{shape[2]} pixels", describe(video))


def load_small(name: str, directory: str | None = None) -> Model:
    """Load the trained small model ``name`` (one of :data:`NAMES`) as a :class:`Model`.

    ``apply``: ``(B, T, 64, 64, 3)`` in [0, 1] -> ``(B, K)`` logits, jitted and
    differentiable, a :class:`vidxai.layers.FlaxModel` (its layers can be tapped). ``meta`` holds the training record (held-out accuracy, steps, keys)
    and ``kind``, the synthetic dataset the model reads. A missing weight file raises
    :class:`WeightsNotFoundError` (a ``FileNotFoundError``); a file that does not fit the
    architecture raises :class:`WeightsMismatchError`.
    """
    name = check_name(name)
    arch, kind = SPECS[name]
    path, record_path = weight_paths(name, directory)
    if not os.path.isfile(path):
        raise WeightsNotFoundError(f"{path}: weights of the small model {name!r} not found; "
                                   f"create them with `python -m models.train --name {name}`")
    record = {}
    if os.path.isfile(record_path):
        with open(record_path) as fh:
            record = json.load(fh)
    shape = tuple(record.get("shape", DEFAULT_SHAPE))
    module = build(name)
    template = jax.eval_shape(lambda: init_variables(name, jax.random.key(0), shape))
    with open(path, "rb") as fh:
        try:
            state = serialization.msgpack_restore(fh.read())
        except Exception as err:  # corrupt file: say which one
            raise WeightsMismatchError(f"{path}: not a flax msgpack file ({err})") from None
    variables = _strict_restore(template, state, path)
    # a layered, jitted model: Grad-CAM and Excitation Backprop can read its layers
    apply = flax_model(module, variables, check=functools.partial(_check_batch, shape=shape))
    apply.__doc__ = f"(B, T, {shape[1]}, {shape[2]}, 3) video in [0, 1] -> (B, {len(CLASSES[kind])}) logits."
    return Model(
        name=name,
        apply=apply,
        num_frames=shape[0],
        size=(shape[1], shape[2]),
        class_names=CLASSES[kind],
        differentiable=True,
        min_frames=1,
        meta={**record, "kind": kind, "architecture": arch, "weights": path,
              "variables": variables, "module": module},
    )
