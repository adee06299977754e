"""Typed errors and boundary validation shared by every stage.

Every public function validates its arguments here, so a wrong shape, dtype, range or
value raises an error that names the argument and says what was expected.
"""
from __future__ import annotations

import numbers

import numpy as np


class VidxaiError(Exception):
    """Base class of every error raised on purpose by vidxai.

    ``argument`` names the argument the error is about (the command line shows the flag
    that set it): given explicitly, or the ``name`` of a message written ``"name: ..."``.
    """

    def __init__(self, *args, argument: str | None = None):
        super().__init__(*args)
        if argument is None and args and isinstance(args[0], str):
            head, sep, _ = args[0].partition(": ")
            if sep and head.partition("[")[0].isidentifier():
                argument = head
        self.argument = argument


class _ArgumentProblem(VidxaiError):
    """An error about one named argument: ``"<name>: expected <what>, got <value>"``."""

    def __init__(self, name: str, expected: str, got: object = None):
        msg = f"{name}: expected {expected}"
        if got is not None:
            msg += f", got {got}"
        super().__init__(msg, argument=name)
        self.expected = expected


class ArgumentError(_ArgumentProblem, ValueError):
    """An argument has the wrong value, shape or range."""


class ArgumentTypeError(_ArgumentProblem, TypeError):
    """An argument has the wrong type or dtype."""


class ScoreFunctionError(VidxaiError, RuntimeError):
    """The score function (or model) returned something unusable (shape, NaN, ...)."""


class VideoFileError(VidxaiError, OSError):
    """A video file is missing, unreadable or cannot be written."""


def describe(x) -> str:
    """Short description of an array-like for error messages."""
    shape = getattr(x, "shape", None)
    dtype = getattr(x, "dtype", None)
    if shape is not None:
        return f"array of shape {tuple(shape)} and dtype {dtype}"
    return f"{type(x).__name__} {x!r}"[:120]


def check_video(video, name: str = "video", batched: bool = False) -> np.ndarray:
    """Validate a float video ``(T, H, W, C)`` (or a batch) in [0, 1]; return it as float32.

    The input is never modified; a copy is made only when the dtype changes.
    """
    if not hasattr(video, "shape") or not hasattr(video, "dtype"):
        raise ArgumentTypeError(name, "an array of shape (T, H, W, C)", type(video).__name__)
    rank = 5 if batched else 4
    layout = "(B, T, H, W, C)" if batched else "(T, H, W, C)"
    if len(video.shape) != rank:
        raise ArgumentError(name, f"a rank-{rank} array {layout}", describe(video))
    if video.shape[-1] not in (1, 3):
        raise ArgumentError(name, f"{layout} with C = 1 or 3 channels last", describe(video))
    if min(video.shape) < 1:
        raise ArgumentError(name, "a non-empty video", describe(video))
    if not np.issubdtype(np.dtype(video.dtype), np.floating):
        raise ArgumentTypeError(
            name, "a floating-point video in [0, 1] (divide uint8 frames by 255)", describe(video)
        )
    arr = np.asarray(video, dtype=np.float32)
    if not np.all(np.isfinite(arr)):
        raise ArgumentError(name, "finite values", "NaN or inf entries")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0.0 or hi > 1.0:
        raise ArgumentError(name, "pixel values in [0, 1]", f"range [{lo:.3g}, {hi:.3g}]")
    return arr


def check_int(value, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """Validate an integer (not bool) within optional bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError(name, "an integer", describe(value))
    value = int(value)
    if minimum is not None and value < minimum:
        raise ArgumentError(name, f"an integer >= {minimum}", value)
    if maximum is not None and value > maximum:
        raise ArgumentError(name, f"an integer <= {maximum}", value)
    return value


def check_float(value, name: str, low=None, high=None, open_low=False, open_high=False) -> float:
    """Validate a finite real number within optional (open or closed) bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(name, "a real number", describe(value))
    value = float(value)
    if not np.isfinite(value):
        raise ArgumentError(name, "a finite number", value)
    lo_bad = low is not None and (value <= low if open_low else value < low)
    hi_bad = high is not None and (value >= high if open_high else value > high)
    if lo_bad or hi_bad:
        left = "(" if open_low else "["
        right = ")" if open_high else "]"
        interval = f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"
        raise ArgumentError(name, f"a number in {interval}", value)
    return value


def check_choice(value, name: str, choices) -> str:
    """Validate one of the string ``choices`` (anything else, a non-string included, is an
    :class:`ArgumentError` listing them)."""
    if not isinstance(value, str) or value not in choices:
        raise ArgumentError(name, "one of " + ", ".join(repr(c) for c in choices), repr(value))
    return value


def check_probability(p, name: str = "p") -> float:
    """Validate a probability strictly inside (0, 1)."""
    return check_float(p, name, 0.0, 1.0, open_low=True, open_high=True)


def check_key(key, name: str = "key"):
    """Validate a JAX PRNG key (new-style typed key or legacy uint32[2])."""
    import jax

    if key is None:
        raise ArgumentTypeError(name, "a jax.random key, e.g. jax.random.key(0)", "None")
    dtype = getattr(key, "dtype", None)
    if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ArgumentError(name, "a single key (shape ())", describe(key))
        return key
    if dtype is not None and np.dtype(dtype) == np.uint32 and tuple(key.shape) == (2,):
        return key
    raise ArgumentTypeError(name, "a jax.random key, e.g. jax.random.key(0)", describe(key))


def check_shape3(value, name: str) -> tuple[int, int, int]:
    """Validate a (T, H, W) triple of positive integers."""
    try:
        items = tuple(value)
    except TypeError:
        raise ArgumentTypeError(name, "a (T, H, W) triple of positive integers", describe(value))
    if len(items) != 3:
        raise ArgumentError(name, "a (T, H, W) triple of positive integers", value)
    return tuple(check_int(v, f"{name}[{i}]", minimum=1) for i, v in enumerate(items))


class ExplanationWarning(UserWarning):
    """An explanation was computed but may carry little signal (poor surrogate fit, scores
    that hardly vary, an upscaled input); the reason is also stored in ``meta["warnings"]``."""


class SegmentationWarning(UserWarning):
    """A segmentation was computed but is degenerate (e.g. SAM 2 found no mask, so the whole
    video is one segment)."""
