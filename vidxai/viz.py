"""Visualisation stage: turn explanations into pictures and videos.

Every function here returns uint8 frames ``(T, H, W, 3)`` (one uint8 image for
:func:`frame_grid`) that :func:`vidxai.io.write_video` can save, except the numeric helpers
:func:`stretch` and :func:`top_fraction`. Inputs are never modified. Videos may be float in
``[0, 1]`` (the library convention) or uint8; saliency maps are ``(T, H, W)``.
"""
from __future__ import annotations

import math

import numpy as np

from .errors import (ArgumentError, ArgumentTypeError, check_float, check_int, check_video,
                     describe)

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_RED = np.array([1.0, 0.0, 0.0], dtype=np.float32)
_BLUE = np.array([0.0, 0.0, 1.0], dtype=np.float32)


# -------------------------------------------------------------------------------- helpers
def _float_video(video, name: str = "video") -> np.ndarray:
    """float32 RGB ``(T, H, W, 3)`` in [0, 1] from a float or uint8 video (new array)."""
    if hasattr(video, "dtype") and np.dtype(video.dtype) == np.uint8:
        arr = np.asarray(video)
        if arr.ndim != 4 or arr.shape[-1] not in (1, 3) or min(arr.shape) < 1:
            raise ArgumentError(name, "a non-empty (T, H, W, 3) video", describe(video))
        arr = arr.astype(np.float32) / 255.0
    else:
        arr = np.array(check_video(video, name), dtype=np.float32, copy=True)
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    return arr


def _finite_array(x, name: str) -> np.ndarray:
    if not hasattr(x, "shape") and not isinstance(x, (list, tuple)):
        raise ArgumentTypeError(name, "an array of real numbers", describe(x))
    arr = np.asarray(x)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer)
                                 or np.issubdtype(arr.dtype, np.floating)):
        raise ArgumentTypeError(name, "an array of real numbers", describe(arr))
    if arr.size and not np.all(np.isfinite(arr)):
        raise ArgumentError(name, "finite values", "NaN or inf entries")
    return arr


def _saliency(saliency, video: np.ndarray) -> np.ndarray:
    """Validate a ``(T, H, W)`` map matching ``video``; float32 copy."""
    arr = _finite_array(saliency, "saliency")
    if arr.shape != video.shape[:3]:
        raise ArgumentError("saliency", f"a map of shape {video.shape[:3]} (the video's T, H, W)",
                            describe(arr))
    return arr.astype(np.float32)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)


def _fraction(fraction) -> float:
    return check_float(fraction, "fraction", 0.0, 1.0, open_low=True)


# ------------------------------------------------------------------------- numeric helpers
def stretch(x) -> np.ndarray:
    """Linearly map ``x`` onto ``[0, 1]`` (min → 0, max → 1); float32, same shape.

    A constant input (including an empty one) gives zeros, never NaN. Used to display
    saliency maps of any method (papers 000 and 001) on a common scale.
    """
    arr = _finite_array(x, "x").astype(np.float32)
    if arr.size == 0:
        return arr
    lo, hi = float(arr.min()), float(arr.max())
    if not hi > lo:
        return np.zeros_like(arr)
    return ((arr - lo) / (hi - lo)).astype(np.float32)


def top_fraction(weights, fraction=0.3) -> np.ndarray:
    """Keep the most important entries until ``fraction`` of total ``|importance|`` is covered.

    Paper 001 (REVEX) displays an explanation by sorting features by absolute weight,
    descending, and keeping them until their cumulated ``|w|`` reaches ``fraction`` of
    ``sum |w|``; everything else is shown as unimportant. The entry that crosses the
    threshold is kept; ties are broken by position (first index first). Works on a 1-D
    weight vector or an array of any shape (e.g. a pixel map); returns a new array of the
    same shape and dtype with the kept entries unchanged (sign included) and the others 0.
    An all-zero input gives zeros.
    """
    w = _finite_array(weights, "weights")
    fraction = _fraction(fraction)
    flat = w.reshape(-1)
    mag = np.abs(flat.astype(np.float64))
    total = mag.sum()
    out = np.zeros_like(flat)
    if total <= 0:
        return out.reshape(w.shape)
    order = np.argsort(-mag, kind="stable")
    cumulated = np.cumsum(mag[order])
    # the tolerance absorbs rounding in the cumulative sum (e.g. 0.3 * 10 > 3.0 in floats)
    target = fraction * total * (1.0 - 1e-9)
    count = min(int(np.searchsorted(cumulated, target, side="left")) + 1, flat.size)
    keep = order[:count]
    out[keep] = flat[keep]
    return out.reshape(w.shape)


# ------------------------------------------------------------------------------- pictures
def overlay(video, saliency, cmap="jet", alpha=0.5, positive_only=False,
            weighted=False) -> np.ndarray:
    """Heat map of a ``(T, H, W)`` saliency map blended over the video; uint8 frames.

    The map is stretched to ``[0, 1]`` over the whole clip (one scale for all frames, so
    frames compare), coloured with a matplotlib colormap (a name from
    ``matplotlib.colormaps`` or a ``Colormap``) and blended:
    ``(1 - alpha) * video + alpha * heat``. ``positive_only=True`` clips negative importance
    to 0 first. ``weighted=True`` scales the blend per pixel by the stretched saliency, so
    unimportant pixels show the plain video. Serves the saliency videos of papers 000 and 001.
    """
    import matplotlib

    frames = _float_video(video)
    sal = _saliency(saliency, frames)
    alpha = check_float(alpha, "alpha", 0.0, 1.0)
    if isinstance(cmap, str):
        try:
            colormap = matplotlib.colormaps[cmap]
        except KeyError:
            raise ArgumentError("cmap", "a matplotlib colormap name such as 'jet' or 'viridis'",
                                repr(cmap)) from None
    elif isinstance(cmap, matplotlib.colors.Colormap):
        colormap = cmap
    else:
        raise ArgumentTypeError("cmap", "a colormap name or matplotlib Colormap", describe(cmap))
    if positive_only:
        sal = np.maximum(sal, 0.0)
    level = stretch(sal)
    heat = colormap(level)[..., :3].astype(np.float32)
    a = alpha * level[..., None] if weighted else alpha
    return _to_uint8((1.0 - a) * frames + a * heat)


def posneg(video, saliency, alpha=0.6) -> np.ndarray:
    """Positive importance in red, negative in blue, over a grey copy of the video; uint8.

    The intensity of a pixel is ``|s| / max|s|`` over the clip; a pixel is blended as
    ``grey * (1 - alpha * I) + alpha * I * colour`` so unimportant pixels stay grey and the
    strongest ones are ``alpha`` of pure red / blue. Shows signed explanations such as
    paper 001's LIME / Kernel SHAP weights mapped to pixels.
    """
    frames = _float_video(video)
    sal = _saliency(saliency, frames)
    alpha = check_float(alpha, "alpha", 0.0, 1.0)
    grey = np.repeat((frames @ _LUMA)[..., None], 3, axis=-1)
    peak = float(np.abs(sal).max())
    if peak <= 0:
        return _to_uint8(grey)
    strength = (alpha * np.abs(sal) / peak)[..., None]
    colour = np.where((sal > 0)[..., None], _RED, _BLUE)
    return _to_uint8(grey * (1.0 - strength) + strength * colour)


def keep_important(video, segmentation, weights, fraction=0.3, darken=0.2) -> np.ndarray:
    """Show only the most important segments, darken the rest; uint8 frames (paper 000).

    Paper 000 displays 3D LIME on SAM 2 masklets by keeping the masklets with the largest
    positive weights visible. The positive part of ``weights`` (``(n,)``, one per segment)
    goes through :func:`top_fraction` with ``fraction``; selected segments keep their
    pixels, every other pixel is multiplied by ``darken`` (0 = black, 1 = unchanged).
    Without any positive weight everything is darkened.
    """
    from .segment import Segmentation

    frames = _float_video(video)
    if not isinstance(segmentation, Segmentation):
        raise ArgumentTypeError("segmentation", "a vidxai.segment.Segmentation",
                                describe(segmentation))
    segmentation.check_matches(frames)
    w = _finite_array(weights, "weights")
    if w.shape != (segmentation.n,):
        raise ArgumentError("weights", f"one weight per segment, shape ({segmentation.n},)",
                            describe(w))
    fraction = _fraction(fraction)
    darken = check_float(darken, "darken", 0.0, 1.0)
    selected = top_fraction(np.maximum(w.astype(np.float64), 0.0), fraction) > 0
    factor = np.where(selected[segmentation.labels], 1.0, darken).astype(np.float32)
    return _to_uint8(frames * factor[..., None])


def segments(video, segmentation, alpha=0.5, unassigned=None) -> np.ndarray:
    """Colour-coded segments over the video: each label its own colour (golden-ratio hues),
    blended with ``alpha``, boundaries dark; the label ``unassigned`` (e.g. a
    :class:`~vidxai.segment.Masklets`' extra segment) stays uncoloured. uint8 frames."""
    import colorsys

    from .segment import Segmentation

    frames = _float_video(video)
    if not isinstance(segmentation, Segmentation):
        raise ArgumentTypeError("segmentation", "a vidxai.segment.Segmentation",
                                describe(segmentation))
    segmentation.check_matches(frames)
    alpha = check_float(alpha, "alpha", 0.0, 1.0)
    hues = (np.arange(segmentation.n) * 0.618034) % 1.0
    palette = np.array([colorsys.hsv_to_rgb(hue, 0.85, 1.0) for hue in hues], np.float32)
    labels = segmentation.labels
    weight = np.full(labels.shape, alpha, np.float32)
    if unassigned is not None:
        weight[labels == unassigned] = 0.0
    shown = frames * (1 - weight[..., None]) + palette[labels] * weight[..., None]
    edge = np.zeros(labels.shape, bool)
    edge[:, :-1, :] |= labels[:, :-1, :] != labels[:, 1:, :]
    edge[:, :, :-1] |= labels[:, :, :-1] != labels[:, :, 1:]
    shown[edge] *= 0.25
    return _to_uint8(shown)


def frame_grid(frames, cols=None, pad=2) -> np.ndarray:
    """Tile ``T`` frames into one uint8 image of ``rows x cols`` cells on a white background.

    ``cols`` defaults to ``ceil(sqrt(T))`` (at most ``T`` columns are used) and
    ``rows = ceil(T / cols)``; ``pad`` white pixels separate the cells and frame the border,
    so the image is ``(rows * H + (rows + 1) * pad, cols * W + (cols + 1) * pad, 3)``.
    Frames are uint8 or float in ``[0, 1]``, ``(T, H, W, 1|3)``. Used for figures of
    papers 000 and 001 (a clip and its explanation at a glance).
    """
    tiles = _to_uint8(_float_video(frames, "frames"))
    t, h, w, _ = tiles.shape
    cols = math.ceil(math.sqrt(t)) if cols is None else check_int(cols, "cols", minimum=1)
    cols = min(cols, t)
    pad = check_int(pad, "pad", minimum=0)
    rows = math.ceil(t / cols)
    image = np.full((rows * h + (rows + 1) * pad, cols * w + (cols + 1) * pad, 3), 255,
                    dtype=np.uint8)
    for i in range(t):
        r, c = divmod(i, cols)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        image[top:top + h, left:left + w] = tiles[i]
    return image


def heat(saliency, cmap="jet") -> np.ndarray:
    """A ``(T, H, W)`` map alone as coloured uint8 frames (stretched over the whole clip)."""
    sal = _finite_array(saliency, "saliency")
    if sal.ndim != 3:
        raise ArgumentError("saliency", "a (T, H, W) map", describe(sal))
    return overlay(np.zeros(sal.shape + (3,), np.float32), sal, cmap=cmap, alpha=1.0)


def caption(frames, text: str, height: int = 14) -> np.ndarray:
    """uint8 frames with ``text`` written in a black band under each frame (new array)."""
    from PIL import Image, ImageDraw

    tiles = _to_uint8(_float_video(frames, "frames"))
    t, h, w, _ = tiles.shape
    band = Image.new("RGB", (w, height), (0, 0, 0))
    ImageDraw.Draw(band).text((2, 1), str(text), fill=(255, 255, 255))
    strip = np.broadcast_to(np.asarray(band)[None], (t, height, w, 3))
    return np.concatenate([tiles, strip], axis=1)


class Clip:
    """uint8 frames ``(T, H, W, 3)`` that a notebook shows as an animated GIF.

    ``frames``, ``fps`` and ``caption`` are plain attributes; :meth:`save` writes ``.mp4`` or
    ``.gif`` (:func:`vidxai.io.write_video`); ``np.asarray(clip)`` gives the frames.
    """

    def __init__(self, frames, fps: float = 8, caption: str | None = None):
        self.frames = _to_uint8(_float_video(frames, "frames"))
        self.fps = check_float(fps, "fps", 0.0, open_low=True)
        self.caption = caption

    def __len__(self) -> int:
        return len(self.frames)

    def __array__(self, dtype=None, copy=None):
        return self.frames if dtype is None else self.frames.astype(dtype)

    def save(self, path):
        """Write the clip (``.mp4`` or ``.gif``); returns the path."""
        from .io import write_video

        return write_video(path, self.frames, fps=self.fps)

    def _repr_html_(self) -> str:
        import base64
        import io as _io

        from PIL import Image

        images = [Image.fromarray(f) for f in self.frames]
        buf = _io.BytesIO()
        images[0].save(buf, format="GIF", save_all=True, append_images=images[1:],
                       duration=max(1, round(1000.0 / self.fps)), loop=0)
        data = base64.b64encode(buf.getvalue()).decode("ascii")
        text = f"<figcaption>{self.caption}</figcaption>" if self.caption else ""
        return f'<figure><img src="data:image/gif;base64,{data}"/>{text}</figure>'

    def __repr__(self) -> str:
        t, h, w, _ = self.frames.shape
        return f"Clip({t} frames of {h}x{w} at {self.fps:g} fps)"


__all__ = ["stretch", "top_fraction", "overlay", "posneg", "keep_important", "segments", "frame_grid",
           "heat", "caption", "Clip"]
