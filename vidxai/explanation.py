"""The result of an explanation method: per-feature weights plus a pixel map."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ArgumentError, VideoFileError
from .segment import Segmentation

_FORMAT = "vidxai.explanation/1"


@dataclass(frozen=True, eq=False)
class Explanation:
    """What a method found.

    ``weights``: importance of each feature ``(n,)`` (signed for LIME/SHAP/LOCO/Univariate).
    ``segmentation``: the features the weights refer to (``None`` when features overlap, as the
    cuboids of sampled occlusion). ``map``: float32 importance per voxel ``(T, H, W)``.
    ``method``: method name; ``target``: the explained class (or ``None``); ``n_evals``: model
    evaluations spent; ``meta``: JSON-serialisable details (parameters, base scores, ...).
    """

    weights: np.ndarray
    segmentation: Segmentation | None
    map: np.ndarray
    method: str
    target: int | None = None
    n_evals: int = 0
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        weights = np.asarray(self.weights, dtype=np.float32)
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

    def save(self, path) -> Path:
        """Write to one ``.npz`` (arrays, plus the metadata as a JSON string)."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        info = {"format": _FORMAT, "method": self.method, "target": self.target,
                "n_evals": int(self.n_evals), "meta": self.meta}
        arrays = {"weights": self.weights, "map": self.map, "info": np.array(json.dumps(info))}
        if self.segmentation is not None:
            arrays["labels"] = self.segmentation.labels
        try:
            np.savez_compressed(path, **arrays)
        except OSError as err:
            raise VideoFileError(f"path: cannot write {path}: {err}") from err
        return path

    @classmethod
    def load(cls, path) -> "Explanation":
        """Read an explanation written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise VideoFileError(f"path: no such explanation file {path}")
        try:
            data = np.load(path, allow_pickle=False)
            info = json.loads(str(data["info"]))
        except (ValueError, OSError, KeyError, json.JSONDecodeError) as err:
            raise VideoFileError(f"path: {path} is not a vidxai explanation file ({err})") from err
        with data:
            if not isinstance(info, dict) or info.get("format") != _FORMAT:
                raise VideoFileError(f"path: {path} is not a {_FORMAT} file")
            seg = None
            if "labels" in data:
                labels = data["labels"]
                seg = Segmentation(labels, int(labels.max()) + 1)
            return cls(weights=data["weights"], segmentation=seg, map=data["map"],
                       method=info["method"], target=info["target"], n_evals=info["n_evals"],
                       meta=info["meta"])
