"""User guidance for SAM 2 masklets: points, boxes or binary masks per object, on any frame.

Paper 000 (Sec. VII) names user-given regions as a way to steer the masklets towards what
matters; here each prompt becomes one masklet that SAM 2 tracks through the video.

A prompt is a dict with ``frame`` (default 0) and at least one of ``points`` (``[[x, y],
...]`` in pixels, ``x`` the column), ``labels`` (1 = on the object, 0 = not; default all 1),
``box`` (``[x0, y0, x1, y1]`` in pixels) or ``mask`` (a boolean ``(H, W)`` array; not
together with points or a box). On the command line an object is ``box:X0,Y0,X1,Y1`` or
``point:X,Y`` (``+`` joins several for one object, ``@F`` puts it on frame F), or a JSON file
holding the list of dicts (``mask`` there: a ``.npy`` file path).

References
----------
D. M. Paiva, J. M. X. N. Teixeira, V. Teichrieb, "Here comes the SAM: bringing light to
black box models applied to video content", UFPE, 2024 (paper 000), Sec. VII (future work:
user-given first-frame regions).
"""
from __future__ import annotations

import json
import numbers
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, check_int, describe

KEYS = {"frame", "points", "labels", "box", "mask"}


@dataclass(frozen=True)
class Prompt:
    """One object's prompt on one frame, validated against the video's ``(T, H, W)``."""

    frame: int
    points: np.ndarray | None = None   # (k, 2) float32, (x, y) pixels
    labels: np.ndarray | None = None   # (k,) int32, 1 positive / 0 negative
    box: np.ndarray | None = None      # (4,) float32, x0 y0 x1 y1 pixels
    mask: np.ndarray | None = None     # (H, W) bool


def _coords(value, name: str, shape, width: int, height: int) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ArgumentTypeError(name, "numbers in pixels", describe(value)) from None
    if arr.ndim == 1 and shape == (None, 2) and arr.size == 2:
        arr = arr[None]
    if arr.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, arr.shape)) \
            or arr.size == 0:
        layout = "[[x, y], ...]" if shape == (None, 2) else "[x0, y0, x1, y1]"
        raise ArgumentError(name, f"pixel coordinates {layout}", describe(value))
    xs, ys = arr.reshape(-1, 2)[:, 0], arr.reshape(-1, 2)[:, 1]
    if not (np.all(np.isfinite(arr)) and xs.min() >= 0 and ys.min() >= 0
            and xs.max() <= width and ys.max() <= height):
        raise ArgumentError(name, f"coordinates inside the {width}x{height} frame "
                            f"(0 <= x <= {width}, 0 <= y <= {height})", arr.tolist())
    return arr.astype(np.float32)


def _one(spec, i: int, shape) -> Prompt:
    t, h, w = shape
    name = f"prompts[{i}]"
    if not isinstance(spec, dict):
        raise ArgumentTypeError(name, "a dict with 'points', 'box' or 'mask' (and 'frame')",
                                describe(spec))
    unknown = set(spec) - KEYS
    if unknown:
        raise ArgumentError(name, f"keys among {sorted(KEYS)}", sorted(unknown))
    frame = check_int(spec.get("frame", 0), f"{name}.frame", minimum=0, maximum=t - 1)
    points = labels = box = mask = None
    if spec.get("points") is not None:
        points = _coords(spec["points"], f"{name}.points", (None, 2), w, h)
        labels = np.ones(len(points), np.int32)
        if spec.get("labels") is not None:
            raw = np.asarray(spec["labels"])
            if raw.shape != (len(points),) or not np.isin(raw, (0, 1)).all():
                raise ArgumentError(f"{name}.labels", f"{len(points)} values, each 0 or 1",
                                    describe(spec["labels"]))
            labels = raw.astype(np.int32)
    elif spec.get("labels") is not None:
        raise ArgumentError(f"{name}.labels", "labels only together with points", "no points")
    if spec.get("box") is not None:
        box = _coords(spec["box"], f"{name}.box", (4,), w, h)
        if box[2] <= box[0] or box[3] <= box[1]:
            raise ArgumentError(f"{name}.box", "x0 < x1 and y0 < y1", box.tolist())
    if spec.get("mask") is not None:
        mask = np.asarray(spec["mask"])
        if mask.shape != (h, w):
            raise ArgumentError(f"{name}.mask", f"a boolean array of the frame's shape {(h, w)}",
                                describe(spec["mask"]))
        if not (mask.dtype == bool or np.isin(mask, (0, 1)).all()):
            raise ArgumentTypeError(f"{name}.mask", "a boolean (or 0/1) array", describe(mask))
        mask = mask.astype(bool)
        if not mask.any():
            raise ArgumentError(f"{name}.mask", "a mask with at least one pixel set", "all False")
        if points is not None or box is not None:
            raise ArgumentError(name, "a mask or points / a box, not both", sorted(spec))
    if points is None and box is None and mask is None:
        raise ArgumentError(name, "at least one of 'points', 'box' or 'mask'", sorted(spec))
    return Prompt(frame, points, labels, box, mask)


def check_prompts(prompts, shape) -> list[Prompt]:
    """Validate user prompts for a video of ``shape = (T, H, W)``; one :class:`Prompt` each."""
    if prompts is None:
        return []
    if isinstance(prompts, dict) or not isinstance(prompts, (list, tuple)):
        raise ArgumentTypeError("prompts", "a list of dicts, one per object", describe(prompts))
    if not prompts:
        raise ArgumentError("prompts", "at least one object (or prompts=None)", "an empty list")
    return [_one(spec, i, shape) for i, spec in enumerate(prompts)]


def _numbers(text: str, count: int, flag: str, token: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != count:
        raise ArgumentError(flag, f"{count} comma-separated numbers in {token!r}", repr(text))
    return values


def parse_tokens(tokens, flag: str = "--sam2-points") -> list[dict]:
    """Command-line objects (``box:X0,Y0,X1,Y1``, ``point:X,Y``, ``+`` joining parts of one
    object, ``@F`` for its frame) or one ``.json`` file -> prompt dicts."""
    tokens = list(tokens)
    if len(tokens) == 1 and tokens[0].endswith(".json"):
        return load_json(tokens[0], flag)
    prompts = []
    for token in tokens:
        body, _, frame = token.partition("@")
        spec: dict = {}
        if frame:
            if not frame.isdigit():
                raise ArgumentError(flag, f"a frame index after '@' in {token!r}", repr(frame))
            spec["frame"] = int(frame)
        for part in body.split("+"):
            kind, _, values = part.partition(":")
            if kind == "box" and "box" not in spec:
                spec["box"] = _numbers(values, 4, flag, token)
            elif kind == "point":
                spec.setdefault("points", []).append(_numbers(values, 2, flag, token))
            else:
                raise ArgumentError(flag, "objects like box:X0,Y0,X1,Y1 or point:X,Y (joined "
                                    "by '+', optionally @FRAME), or a prompts .json file",
                                    repr(token))
        prompts.append(spec)
    return prompts


def load_json(path, flag: str = "--sam2-points") -> list[dict]:
    """A JSON list of prompt dicts; a ``mask`` entry there is the path of a ``.npy`` file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as err:
        raise ArgumentError(flag, "a readable prompts .json file", f"{path} ({err.strerror})")
    except json.JSONDecodeError as err:
        raise ArgumentError(flag, "a valid JSON list of prompt objects", f"{path}: {err}")
    if not isinstance(data, list):
        raise ArgumentError(flag, "a JSON list of prompt objects", type(data).__name__)
    for spec in data:
        if isinstance(spec, dict) and isinstance(spec.get("mask"), str):
            mask_path = (path.parent / spec["mask"]).resolve()
            try:
                spec["mask"] = np.load(mask_path)
            except (OSError, ValueError) as err:
                raise ArgumentError(flag, "mask entries naming readable .npy files",
                                    f"{mask_path} ({err})") from err
        if isinstance(spec, dict) and isinstance(spec.get("frame"), numbers.Real) \
                and not isinstance(spec["frame"], bool) and float(spec["frame"]).is_integer():
            spec["frame"] = int(spec["frame"])
    return data


__all__ = ["Prompt", "check_prompts", "parse_tokens", "load_json"]
