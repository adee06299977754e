"""The result family of every method: per-feature weights plus a pixel map.

:class:`Explanation` is what the removal-based methods return; the extremal masks
(:class:`~vidxai.explain.extremal.ExtremalResult`) and the frame Shapley values
(:class:`~vidxai.explain.shapley.result.ESVResult`) are subclasses that carry their own arrays
(masks per area, values per frame and class). All of them save to one ``.npz`` (arrays plus
the metadata as JSON) and load back as the class they were saved from. A file names a
stable result *kind* (``"removal"``, ``"extremal"``, ``"esv"``, ``"gradient"``), never a
module path, so moving a class between modules never breaks a saved result; files written by
earlier versions (format 1, removal methods only; format 2 of 0.2.0, which named
``module:class``) still load.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
import numpy as np

from .errors import ArgumentError, VideoFileError
from .segment import Segmentation

_FORMAT = "vidxai.explanation/3"
_READABLE = ("vidxai.explanation/1", "vidxai.explanation/2", _FORMAT)
# result kind -> class, filled by ``class X(Explanation, kind="...")``
_KINDS: dict[str, type] = {}
# what 0.2.0 (format 2) wrote in place of a kind: the class's module path then
_LEGACY_KINDS = {
    "vidxai.explanation:Explanation": "removal",
    "vidxai.explain.extremal_result:ExtremalResult": "extremal",
    "vidxai.explain.esv_result:ESVResult": "esv",
    "vidxai.explain.gradient_result:GradientResult": "gradient",
}


@dataclass(frozen=True, eq=False)
class Explanation:
    """What a method found.

    ``weights``: importance of each feature ``(n,)`` (signed for LIME/SHAP/LOCO/Univariate;
    per cuboid position for occlusion; per frame for ESV; empty for extremal masks, which
    have no discrete features). ``segmentation``: the features the weights refer to
    (``None`` when features overlap or do not exist). ``map``: float32 importance per voxel
    ``(T, H, W)`` (``(T, 1, 1)`` for per-frame values). ``method``: method name; ``target``:
    the explained class (or ``None``); ``n_evals``: model evaluations spent; ``meta``:
    JSON-serialisable details (parameters, base scores, fit quality, ``warnings``).
    """

    weights: np.ndarray
    segmentation: Segmentation | None
    map: np.ndarray
    method: str
    target: int | None = None
    n_evals: int = 0
    meta: dict = field(default_factory=dict)

    kind = "removal"

    def __init_subclass__(cls, kind: str | None = None, **kwargs):
        """``class MyResult(Explanation, kind="mine")`` registers a result kind for files."""
        super().__init_subclass__(**kwargs)
        if kind is not None:
            if kind in _KINDS and _KINDS[kind].__qualname__ != cls.__qualname__:
                raise ArgumentError("kind", "a result kind not yet taken", repr(kind))
            cls.kind = kind
            _KINDS[kind] = cls

    def __post_init__(self):
        weights = np.asarray(self.weights, dtype=np.float32).reshape(-1)
        pixel_map = np.asarray(self.map, dtype=np.float32)
        if pixel_map.ndim != 3:
            raise ArgumentError("map", "a (T, H, W) array", pixel_map.shape)
        if self.segmentation is not None:
            if self.segmentation.shape != pixel_map.shape:
                raise ArgumentError("segmentation", f"shape {pixel_map.shape}", self.segmentation.shape)
            if weights.shape != (self.segmentation.n,):
                raise ArgumentError("weights", f"shape ({self.segmentation.n},)", weights.shape)
        for name, arr in (("weights", weights), ("map", pixel_map)):
            if not np.all(np.isfinite(arr)):
                raise ArgumentError(name, "finite values", "NaN or inf entries")
            arr.setflags(write=False)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "map", pixel_map)

    # ------------------------------------------------------------------ trust
    @property
    def warnings(self) -> list:
        """Reasons to distrust this map (poor fit, flat scores, upscaled input), if any."""
        return list(self.meta.get("warnings", []))

    # ------------------------------------------------------------------ pictures
    def to_video(self, video, *, cmap="jet", alpha=0.5, positive_only=True, fps=8):
        """The map over ``video`` as a :class:`~vidxai.viz.Clip` (shows inline in a notebook,
        ``.save("x.mp4")`` writes it). A ``(T, 1, 1)`` per-frame map is spread over each frame."""
        from . import viz

        frames = np.asarray(video)
        heat = np.broadcast_to(self.map, frames.shape[:3]) if self.map.shape[1:] == (1, 1) \
            else self.map
        over = viz.overlay(video, heat, cmap=cmap, alpha=alpha, positive_only=positive_only)
        return viz.Clip(over, fps=fps, caption=f"{self.method} map")

    def plot(self, video=None, *, cols=None, title=None):
        """A matplotlib Figure: the map over ``video`` frame by frame (or the map alone)."""
        import matplotlib.pyplot as plt

        from . import viz

        if video is None:
            image = viz.frame_grid(viz.heat(self.map), cols=cols)
        else:
            image = viz.frame_grid(self.to_video(video).frames, cols=cols)
        fig, ax = plt.subplots(figsize=(min(16.0, image.shape[1] / 60), image.shape[0] / 60 + 0.6))
        ax.imshow(image)
        ax.set_axis_off()
        ax.set_title(title or f"{self.method}" + ("" if self.target is None else
                                                  f" (target {self.target})"), fontsize=9)
        return fig

    # ------------------------------------------------------------------ files
    def _extra_fields(self):
        base = {f.name for f in dataclasses.fields(Explanation)}
        return [f for f in dataclasses.fields(self) if f.name not in base]

    def save(self, path) -> Path:
        """Write to one ``.npz`` (arrays, plus the metadata as a JSON string)."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        arrays = {"weights": self.weights, "map": self.map}
        if self.segmentation is not None:
            arrays["labels"] = self.segmentation.labels
        scalars, tuples = {}, []
        for f in self._extra_fields():
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, (np.ndarray, list, tuple)):
                arrays[f"field_{f.name}"] = np.asarray(value)
                if isinstance(value, tuple):
                    tuples.append(f.name)
            else:
                scalars[f.name] = value.item() if isinstance(value, np.generic) else value
        info = {"format": _FORMAT, "kind": type(self).kind, "method": self.method,
                "target": self.target, "n_evals": int(self.n_evals), "meta": self.meta,
                "fields": scalars, "tuples": tuples}
        arrays["info"] = np.array(json.dumps(info, default=_jsonable))
        try:
            write_npz(path, arrays)
        except OSError as err:
            raise VideoFileError(f"path: cannot write {path}: {err}") from err
        return path

    @classmethod
    def load(cls, path) -> "Explanation":
        """Read an explanation written by :meth:`save`, as the class it was saved from."""
        path = Path(path)
        if not path.is_file():
            raise VideoFileError(f"path: no such explanation file {path}")
        try:
            data = np.load(path, allow_pickle=False)
            info = json.loads(str(data["info"]))
        except (ValueError, OSError, KeyError, json.JSONDecodeError) as err:
            raise VideoFileError(f"path: {path} is not a vidxai explanation file ({err})") from err
        with data:
            if not isinstance(info, dict) or info.get("format") not in _READABLE:
                raise VideoFileError(f"path: {path} is not a {_FORMAT} file")
            kind = _result_class(info.get("kind"), path)
            seg = None
            if "labels" in data:
                labels = data["labels"]
                seg = Segmentation(labels, int(labels.max()) + 1)
            extra = dict(info.get("fields", {}))
            for name in data.files:
                if name.startswith("field_"):
                    value = data[name]
                    key = name[len("field_"):]
                    extra[key] = tuple(value.tolist()) if key in info.get("tuples", []) else value
            return kind(weights=data["weights"], segmentation=seg, map=data["map"],
                        method=info["method"], target=info["target"], n_evals=info["n_evals"],
                        meta=info["meta"], **extra)


def write_npz(path, arrays: dict) -> None:
    """``arrays`` into one ``.npz`` that :func:`numpy.load` reads: floating-point arrays
    stored as they are (deflate saved about 7% on dense maps at ~30 MB/s, longer than the
    rest of a small model's explanation), integer, boolean and text arrays (labels, info)
    deflated (labels shrink 100-1000x)."""
    with zipfile.ZipFile(path, "w", allowZip64=True) as archive:
        for name, value in arrays.items():
            value = np.asanyarray(value)
            kind = zipfile.ZIP_STORED if value.dtype.kind in "fc" else zipfile.ZIP_DEFLATED
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = kind
            with archive.open(info, "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, value, allow_pickle=False)


def _result_class(kind, path):
    """The class of a file's result kind; files of format 1 have no kind and are plain
    explanations, files of format 2 name the 0.2.0 module path of their class."""
    if not kind:
        return Explanation
    kind = _LEGACY_KINDS.get(str(kind), str(kind))
    if kind != "removal" and kind not in _KINDS:
        importlib.import_module("vidxai.explain")      # registers the library's result kinds
    if kind == "removal":
        return Explanation
    if kind not in _KINDS:
        raise VideoFileError(f"path: {path} holds an unknown result kind {kind!r} (known: "
                             f"{['removal', *sorted(_KINDS)]})")
    return _KINDS[kind]


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
