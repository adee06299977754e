"""The settings of the extremal methods (papers 004 and 002) in one place: :class:`Settings`.

One frozen dataclass holds every setting of EP-2D, EP-3D, STEP, TIEM and TIEM + L_K: its
default, its documentation (the methods' signatures and docstrings are built from them,
:mod:`.methods`), its validation (:meth:`Settings.resolve`), the values derived from the
video's ``(T, H, W)`` and the ``meta`` record of a run (:meth:`Settings.meta`).

Derived defaults. STEP's pixel constants are given at its input size, 16 frames of 112 x 112 (paper 004 Sec.
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

import functools
import math
import textwrap
import warnings
from dataclasses import dataclass, field, fields, replace

import numpy as np
import optax

from ... import masks
from ...errors import (ArgumentError, ArgumentTypeError, ExplanationWarning, ScoreFunctionError,
                       check_choice, check_float, check_int, check_video, describe)

__all__ = ["Settings", "default_optimizer", "derived_settings", "derived_kernel",
           "kernel_stride", "spatial_scale", "check_alpha", "check_switches", "PAPER_SHAPE",
           "PAPER_SETTINGS", "LINEAR_REWARD_GAIN", "MAP_SIGMA", "WINDOW_SPANS",
           "NEGATIVE_DROPS"]

PAPER_SHAPE = (16, 112, 112)     # STEP's input: frames, height, width (paper 004)
PAPER_SETTINGS = {"seed_stride": 7, "sigma": 11.0, "kernel": (8, 11, 11),
                  "kernel_stride": (1, 11, 11), "blur_sigma": 20.0, "map_sigma": 10.0}
MAP_SIGMA = PAPER_SETTINGS["map_sigma"]  # map blur (px) at 112 px (paper 004)
LINEAR_REWARD_GAIN = 10.0  # linear reward in units of |Phi(X)| / 10 (see :mod:`.methods`)
WINDOW_SPANS = ("w", "w+1")                     # TIS Eq. 1 / Algorithm 1 (:mod:`.windows`)
NEGATIVE_DROPS = ("clip", "signed", "shift")    # default / Algorithm 1 / vidxai 0.2


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


def default_optimizer(lr: float = 0.05, momentum: float = 0.9, dampening: float = 0.9):
    """torch-style SGD(lr, momentum, dampening) as optax, as in the STEP reference code (see
    :mod:`vidxai.explain.extremal.methods` on the first step). The same settings give the
    same object, so the jitted optimisation, which takes the optimiser as a static argument,
    is reused."""
    return _sgd(float(lr), float(momentum), float(dampening))


@functools.lru_cache(maxsize=16)
def _sgd(lr: float, momentum: float, dampening: float):
    return optax.sgd(lr * (1.0 - dampening), momentum=momentum)


# ---------------------------------------------------------------------------- validation
def check_alpha(alpha) -> float:
    """The window-size filter ratio ``alpha`` of TIS Eq. 3 (paper 002), in [0, 1)."""
    return check_float(alpha, "alpha", 0.0, 1.0, open_high=True)


def check_switches(window_span, negative_drops) -> tuple[str, str]:
    """``window_span`` in ``WINDOW_SPANS`` and ``negative_drops`` in ``NEGATIVE_DROPS``."""
    return (check_choice(window_span, "window_span", WINDOW_SPANS),
            check_choice(negative_drops, "negative_drops", NEGATIVE_DROPS))


def check_areas(areas) -> tuple:
    try:
        items = tuple(float(a) for a in np.atleast_1d(np.asarray(areas, dtype=float)))
    except (TypeError, ValueError):
        raise ArgumentTypeError("areas", "a sequence of numbers in (0, 1)", describe(areas))
    if not items:
        raise ArgumentError("areas", "at least one area in (0, 1)", areas)
    for a in items:
        if not 0.0 < a < 1.0:
            raise ArgumentError("areas", "areas strictly inside (0, 1)", areas)
    return items


def check_kernel(kernel, shape):
    try:
        kernel = tuple(int(k) for k in kernel)
    except (TypeError, ValueError):
        raise ArgumentTypeError("kernel", "a (T_K, H_K, W_K) triple of integers", describe(kernel))
    if len(kernel) != 3 or min(kernel) < 1:
        raise ArgumentError("kernel", "a (T_K, H_K, W_K) triple of positive integers", kernel)
    if any(k > n for k, n in zip(kernel, shape)):
        raise ArgumentError("kernel", f"a kernel no larger than the video {tuple(shape)}", kernel)
    masks.ellipsoid_kernel(*kernel)
    return kernel


def check_stride(stride) -> tuple:
    try:
        stride = tuple(int(k) for k in stride)
    except (TypeError, ValueError):
        raise ArgumentTypeError("kernel_stride", "a (1, S_H, S_W) triple of integers",
                                describe(stride))
    if len(stride) != 3 or min(stride) < 1:
        raise ArgumentError("kernel_stride", "a triple of positive integers", stride)
    return stride


def check_reward(reward, output: str) -> str:
    """``"log"`` (``-log p``) or ``"linear"``; ``None`` picks ``"log"`` for probabilities."""
    if reward is None:
        return "log" if output == "prob" else "linear"
    reward = check_choice(reward, "reward", ("log", "linear"))
    if reward == "log" and output != "prob":
        raise ArgumentError("reward", f"'linear' for output {output!r} (-log needs a "
                            "probability; pass output='prob' if f returns one)", repr(reward))
    return reward


def check_base(base: float, output: str):
    """``Phi(X)`` must be finite (the rewards and the linear reward's scale read it), and a
    probability when ``output="prob"``."""
    if not np.isfinite(base):
        raise ScoreFunctionError(f"f: expected a finite score of the video, got {base}")
    if output == "prob" and not 0.0 <= base <= 1.0:
        raise ArgumentError("output", "'logit' or 'raw' for a score outside [0, 1] "
                            "(output='prob' says f returns a probability)", base)


# ---------------------------------------------------------------------------- the settings
def _setting(default, group: str, doc: str):
    """A field of :class:`Settings`: its default, the methods that take it (``group``) and
    its line in their docstrings."""
    return field(default=default, metadata={"group": group, "doc": doc})


GROUPS = ("areas", "tis", "kernel", "base")   # the order of a method's keyword arguments
FOOTER = {"base": "Every derived value is listed in ``meta[\"derived\"]``; an explicit value "
                  "always wins."}


@dataclass(frozen=True, eq=False)
class Settings:
    """Every setting of an extremal run. Group ``"areas"`` and ``"base"``: all five
    methods; ``"tis"``: TIEM and TIEM + L_K; ``"kernel"``: STEP and TIEM + L_K. A method's
    public signature is its groups' fields with these defaults (:mod:`.methods`);
    :meth:`resolve` validates them and derives the ``None`` pixel settings from the video."""

    areas: tuple = _setting((0.05, 0.1, 0.15, 0.2), "areas",
                            "``areas``: the area levels ``a`` in (0, 1), one mask each.")
    alpha: float = _setting(0.8, "tis", "``alpha``: window-size filter ratio of the TIS in "
                            "[0, 1) (paper 002 Eq. 3; 0.8).")
    window_span: str = _setting("w", "tis", "``window_span``, ``negative_drops``: the TIS "
                                "switches of :func:`~vidxai.explain.time_importance` (``\"w\"`` "
                                "and ``\"clip\"``; the paper's Algorithm 1 is ``\"w+1\"`` and "
                                "``\"signed\"``).")
    negative_drops: str = _setting("clip", "tis", "")
    tis: object = _setting(None, "tis", "``tis``: precomputed time importance scores (a "
                           "``TimeImportance`` or a ``(T,)`` array) instead of computing them.")
    removed: object = _setting(None, "tis", "``removed``: what hidden frames show (default "
                               "black).")
    batch_size: int = _setting(32, "tis", "``batch_size``: videos per chunk of the window "
                               "maskings (32).")
    kernel: tuple | None = _setting(None, "kernel", "``kernel``: the ellipsoid ``(T_K, H_K, "
                                    "W_K)`` of L_K (paper 004 Eq. 9-10); ``None`` derives it: "
                                    "``(round(8 T / 16), round(11 s), round(11 s))``, STEP's 8 x "
                                    "11 x 11 at 16 x 112 x 112 (at most the video's size).")
    kernel_stride: tuple | None = _setting(None, "kernel", "``kernel_stride``: stride of L_K's "
                                           "convolution; ``None``: ``(1, H_K, W_K)`` (STEP's "
                                           "(1, 11, 11)).")
    lambda2: float = _setting(300.0, "kernel", "``lambda2``: weight of L_K (300) from iteration "
                              "``lambda2_start`` (100) on, 0 before.")
    lambda2_start: int = _setting(100, "kernel", "")
    iterations: int = _setting(1200, "base", "``iterations``: optimiser steps (1200).")
    seed_stride: int | None = _setting(None, "base", "``seed_stride``: pixels between two seeds "
                                       "of the smooth-max mask generator; ``None`` derives it "
                                       "from the frame: ``round(7 s)`` with ``s = sqrt(H W) / "
                                       "112`` (7 at 112 px).")
    sigma: float | None = _setting(None, "base", "``sigma``: radius in pixels of each seed's "
                                   "bump; ``None``: ``11 s`` (11 at 112 px).")
    blur_sigma: float | None = _setting(None, "base", "``blur_sigma``: sigma in pixels of the "
                                        "most blurred level of the perturbation's blur pyramid; "
                                        "``None``: ``20 s`` (20 at 112 px).")
    map_sigma: float | None = _setting(None, "base", "``map_sigma``: sigma in pixels of the "
                                       "Gaussian that smooths the summed masks into ``map``; "
                                       "``None``: ``10 s`` (paper 004's 10 px at 112 px).")
    area_on: str = _setting("frame", "base", "``area_on``: where the area loss counts the mask: "
                            "``\"frame\"`` (default; the papers' ``|M| = T H W``, so the frame "
                            "keeps the requested area) or ``\"full\"`` (the STEP and TorchRay "
                            "code: the uncropped mask with its sigma-wide border, which keeps "
                            "1.4-2x more; the mean-area term then counts the uncropped mask too: "
                            "add ``mean_area_weight=0``).")
    mean_area_weight: float = _setting(100.0, "base", "``mean_area_weight``: weight ``w`` of the "
                                       "mean-area term ``lambda1_i w huber(mean(M) - a)`` (per "
                                       "frame for per-frame areas; :mod:`.methods`), paper 004 "
                                       "Eq. 3's ``||M||_1 = a T H W``, which the sorted template "
                                       "alone misses by 1-1.6 points with soft masks (100; ``0`` "
                                       "is the papers' objective exactly, L_S alone).")
    mean_area_start: int | None = _setting(None, "base", "``mean_area_start``: the iteration it "
                                           "counts from (``None``: half the iterations; from the "
                                           "all-ones start it would dim the whole mask).")
    lr: float = _setting(0.05, "base", "``lr``: learning rate of :func:`default_optimizer` "
                         "(0.05); unused with ``optimizer``.")
    optimizer: object = _setting(None, "base", "``optimizer``: any ``optax.GradientTransformation``"
                                 " instead of the default SGD.")
    lambda1: float = _setting(300.0, "base", "``lambda1``: weight of the area loss at iteration "
                              "0 (300).")
    lambda1_growth: float = _setting(1.0008668, "base", "``lambda1_growth``: factor applied to "
                                     "``lambda1`` after every iteration (1.0008668).")
    regularizers: tuple = _setting((), "base", "``regularizers``: functions ``mask (T, H, W) -> "
                                   "scalar`` added to each area's objective.")
    output: str | None = _setting(None, "base", "``output``: ``\"prob\"``, ``\"logit\"`` or "
                                  "``\"raw\"``: what ``f`` returns; ``None`` reads ``f.output``, "
                                  "else ``\"raw\"``.")
    reward: str | None = _setting(None, "base", "``reward``: ``\"log\"`` (``-log p``, the STEP "
                                  "code) or ``\"linear\"`` (``-score``, papers 002 Eq. 7 and 004 "
                                  "Eq. 5); ``None``: ``\"log\"`` for ``output=\"prob\"``, else "
                                  "``\"linear\"`` (:mod:`.methods`).")
    reward_scale: float | None = _setting(None, "base", "``reward_scale``: factor on the reward "
                                          "(default 1 for ``-log p``, ``10 / |Phi(X)|`` for the "
                                          "linear reward).")
    progress: bool = _setting(False, "base", "``progress``: show a progress bar of the "
                              "iterations (and of TIEM's window maskings).")

    # -------------------------------------------------------------- signatures and docs
    @classmethod
    def names(cls, groups) -> tuple:
        """The fields of ``groups``, in signature order (:data:`GROUPS`)."""
        return tuple(f.name for g in GROUPS if g in groups for f in fields(cls)
                     if f.metadata["group"] == g)

    @classmethod
    def doc(cls, groups) -> str:
        """The docstring block of ``groups``: each field's line, wrapped, 4 spaces in."""
        lines = [f.metadata["doc"] for g in GROUPS if g in groups for f in fields(cls)
                 if f.metadata["group"] == g and f.metadata["doc"]]
        lines += [FOOTER[g] for g in GROUPS if g in groups and g in FOOTER]
        return "\n".join(textwrap.fill(line, 92, initial_indent="    ",
                                       subsequent_indent="    ") for line in lines)

    # -------------------------------------------------------------- validation
    def resolve(self, f, video, *, kernel: bool, tis: bool):
        """``(video, settings, derived)``: every setting validated once (the methods call
        nothing else that validates), the ``None`` pixel settings derived from the video's
        ``(T, H, W)`` (``derived`` holds those), ``mean_area_start``, ``output``, ``reward``
        and ``optimizer`` filled in. ``kernel``: the method has L_K; ``tis``: it is TIEM."""
        changes = {}
        if tis:
            changes["alpha"] = check_alpha(self.alpha)
            changes["window_span"], changes["negative_drops"] = check_switches(
                self.window_span, self.negative_drops)
        if not callable(f):
            raise ArgumentTypeError("f", "a score function (B, T, H, W, C) -> (B,)", describe(f))
        video = check_video(video)
        changes["areas"] = check_areas(self.areas)
        shape = tuple(video.shape[:3])
        pixels, derived = self._geometry(shape, kernel)
        output = getattr(f, "output", None) if self.output is None else self.output
        output = "raw" if output is None else output
        check_choice(output, "output", ("prob", "logit", "raw"))
        reward = check_reward(self.reward, output)
        check_choice(self.area_on, "area_on", ("frame", "full", "crop"))
        regularizers = tuple(self.regularizers)
        if not all(callable(r) for r in regularizers):
            raise ArgumentTypeError("regularizers", "a list of functions mask -> scalar",
                                    regularizers)
        optimizer = self.optimizer
        if optimizer is None:
            optimizer = default_optimizer(check_float(self.lr, "lr", 0.0, open_low=True))
        if not isinstance(optimizer, optax.GradientTransformation):
            raise ArgumentTypeError("optimizer", "an optax.GradientTransformation",
                                    describe(optimizer))
        reward_scale = self.reward_scale
        if reward_scale is not None:
            reward_scale = check_float(reward_scale, "reward_scale", 0.0, open_low=True)
        iterations = check_int(self.iterations, "iterations", minimum=1)
        start = (iterations // 2 if self.mean_area_start is None
                 else check_int(self.mean_area_start, "mean_area_start", minimum=0))
        changes.update(
            pixels, output=output, reward=reward, regularizers=regularizers, optimizer=optimizer,
            reward_scale=reward_scale, iterations=iterations, mean_area_start=start,
            lambda1=check_float(self.lambda1, "lambda1", 0.0),
            lambda1_growth=check_float(self.lambda1_growth, "lambda1_growth", 0.0,
                                       open_low=True))
        if kernel:
            changes.update(lambda2=check_float(self.lambda2, "lambda2", 0.0),
                           lambda2_start=check_int(self.lambda2_start, "lambda2_start",
                                                   minimum=0))
            if changes["lambda2"] > 0 and changes["lambda2_start"] >= iterations:
                warnings.warn(f"L_K never switches on: lambda2_start ({changes['lambda2_start']})"
                              f" >= iterations ({iterations}), so the masks are those of the "
                              "method without L_K; lower lambda2_start", ExplanationWarning,
                              stacklevel=4)
        changes["mean_area_weight"] = check_float(self.mean_area_weight, "mean_area_weight", 0.0)
        return video, replace(self, **changes), derived

    def _geometry(self, shape, kernel: bool) -> tuple[dict, dict]:
        """The pixel settings: the user's where given, else derived from ``(T, H, W)``;
        with ``kernel=False`` (no L_K) the kernel is ``None``. ``(settings, derived)``."""
        given = dict(seed_stride=self.seed_stride, sigma=self.sigma, blur_sigma=self.blur_sigma,
                     map_sigma=self.map_sigma)
        if kernel:
            given.update(kernel=self.kernel, kernel_stride=self.kernel_stride)
        auto = derived_settings(shape)
        derived = {name: auto[name] for name, value in given.items() if value is None}
        settings = {**given, **derived}
        settings.update(seed_stride=check_int(settings["seed_stride"], "seed_stride", minimum=1),
                        sigma=check_float(settings["sigma"], "sigma", 0.0, open_low=True),
                        blur_sigma=check_float(settings["blur_sigma"], "blur_sigma", 0.0,
                                               open_low=True),
                        map_sigma=check_float(settings["map_sigma"], "map_sigma", 0.0))
        if not kernel:
            return {**settings, "kernel": None, "kernel_stride": None}, derived
        settings["kernel"] = check_kernel(settings["kernel"], shape)
        if self.kernel_stride is None:     # follows the kernel actually used
            settings["kernel_stride"] = derived["kernel_stride"] = kernel_stride(
                settings["kernel"])
        else:
            settings["kernel_stride"] = check_stride(self.kernel_stride)
        return settings, derived

    # -------------------------------------------------------------- the record
    def meta(self, derived: dict, *, eager: bool, reward_scale: float) -> dict:
        """The run's ``meta`` from resolved settings: the values used, ``derived`` (the ones
        computed from the video), whether ``f`` ran eagerly and the reward's factor."""
        meta = {"iterations": self.iterations, "seed_stride": self.seed_stride,
                "sigma": self.sigma, "blur_sigma": self.blur_sigma, "map_sigma": self.map_sigma,
                "area_on": self.area_on, "mean_area_weight": self.mean_area_weight,
                "mean_area_start": self.mean_area_start, "lambda1": self.lambda1,
                "lambda1_growth": self.lambda1_growth, "output": self.output,
                "reward": self.reward, "reward_scale": reward_scale, "eager": eager,
                "derived": {k: _json(v) for k, v in derived.items()}}
        if self.kernel is not None:
            meta.update(kernel=list(self.kernel), kernel_stride=list(self.kernel_stride),
                        lambda2=self.lambda2, lambda2_start=self.lambda2_start)
        return meta


def _json(value):
    return list(value) if isinstance(value, tuple) else value
