"""Resolution-aware defaults of the extremal methods (papers 004 and 002).

STEP's pixel constants are given at its input size, 16 frames of 112 x 112 (paper 004 Sec.
V-A and its reference code): seed stride 7 (``H = 7 H_bar``), seed radius ``sigma = 11``,
the L_K ellipsoid ``8 x 11 x 11`` with spatial stride 11 (and 1 in time), the blur pyramid's
largest sigma 20 and the map's Gaussian of 10 px. Used unchanged on another frame size they
describe another mask: at 56 px a seed blob covers four times its share of the frame, at
224 px a quarter. :func:`derived_settings` scales every one of them with the input, so that
each keeps the size it has at 112 px relative to the frame:

* spatial lengths are multiplied by ``s = sqrt(H W) / 112`` (one isotropic scale, the
  geometric mean of the two sides, so a non-square frame keeps round blobs and a round
  ellipsoid): ``seed_stride = max(1, round(7 s))``, ``sigma = 11 s``,
  ``H_K = W_K = max(3, round(11 s))`` (at most the frame's height and width),
  ``blur_sigma = 20 s``, ``map_sigma = 10 s``;
* the kernel's length in time is ``T_K = max(1, round(8 T / 16))`` (at most ``T``): the
  same share of the clip as 8 of STEP's 16 frames;
* the L_K stride is the kernel's spatial size, ``(1, H_K, W_K)``: STEP's stride 11 for its
  11 x 11 kernel, i.e. non-overlapping ellipsoids in space.

``round`` rounds halves up. At 16 x 112 x 112 every value is the paper's constant.
"""
from __future__ import annotations

import math

PAPER_SHAPE = (16, 112, 112)     # STEP's input: frames, height, width (paper 004)
PAPER_SETTINGS = {"seed_stride": 7, "sigma": 11.0, "kernel": (8, 11, 11),
                  "kernel_stride": (1, 11, 11), "blur_sigma": 20.0, "map_sigma": 10.0}


def _round(x: float) -> int:
    """Round half up (Python's ``round`` rounds halves to even)."""
    return int(math.floor(x + 0.5))


def spatial_scale(h: int, w: int) -> float:
    """``sqrt(H W) / 112``: the frame's linear size relative to STEP's 112 x 112."""
    return math.sqrt(h * w) / PAPER_SHAPE[1]


def derived_kernel(shape) -> tuple:
    """L_K's ellipsoid ``(T_K, H_K, W_K)`` for a ``(T, H, W)`` video (module docstring).
    The spatial side is at least 3 pixels (a 2 x 2 ellipsoid section holds no voxel) and at
    most the frame's height or width (1 for a frame narrower than 3)."""
    t, h, w = (int(n) for n in shape)
    side = max(3, _round(PAPER_SETTINGS["kernel"][1] * spatial_scale(h, w)))
    frames = max(1, _round(PAPER_SETTINGS["kernel"][0] * t / PAPER_SHAPE[0]))
    fit = [min(side, n) if n >= 3 else 1 for n in (h, w)]
    return (min(frames, t), fit[0], fit[1])


def kernel_stride(kernel) -> tuple:
    """L_K's stride ``(1, H_K, W_K)``: STEP's (1, 11, 11) for its 11 x 11 kernel."""
    return (1, int(kernel[1]), int(kernel[2]))


def derived_settings(shape) -> dict:
    """Every pixel constant of STEP scaled to a ``(T, H, W)`` video (module docstring)."""
    t, h, w = (int(n) for n in shape)
    s = spatial_scale(h, w)
    kernel = derived_kernel((t, h, w))
    return {"seed_stride": max(1, _round(PAPER_SETTINGS["seed_stride"] * s)),
            "sigma": PAPER_SETTINGS["sigma"] * s,
            "kernel": kernel,
            "kernel_stride": kernel_stride(kernel),
            "blur_sigma": PAPER_SETTINGS["blur_sigma"] * s,
            "map_sigma": PAPER_SETTINGS["map_sigma"] * s}


def resolve(shape, given: dict) -> tuple[dict, dict]:
    """``(settings, derived)``: the user's values where given (not ``None``), the derived
    ones elsewhere; ``derived`` holds only the latter (recorded in the result's meta)."""
    auto = derived_settings(shape)
    derived = {name: auto[name] for name, value in given.items() if value is None}
    return {**given, **derived}, derived
