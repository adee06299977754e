"""Named evaluation protocols: the papers' insertion / deletion settings as presets.

``protocol("step")`` and ``protocol("revex")`` return a :class:`Protocol`; every setting can
be overridden by keyword (``protocol("step", unit="superpixel", rule="right")``) or later with
:meth:`Protocol.replace`. ``ties="group"`` (tied units move in the same step) is the default
of every protocol.

``"step"``: "Spatio-Temporal Perturbations for Video Attribution" (paper 004, Sec. IV-A and
V-C, and its released code). MoRF insertion and deletion; units a 16 x 16 grid of cells per
frame (``unit="cells"``: 7 x 7-pixel patches at 112 px, its text; the saliency averaged into
16 x 16 cells, its code), or ``unit="superpixel"``: (frame, segment) pairs of SLIC supervoxels
of the clip (its code: ``n_segments=100, sigma=1, slic_zero=True``; the text's "about 256
2-D superpixels per frame" can be had with ``slic=`` options or a Segmentation as ``unit``)
ranked by the SUM of the map; removal towards the training mean colour RGB (0.43216,
0.394666, 0.37645), which is zero after the models' normalisation; 128 steps uniform in the
number of units; the area by ``rule="trapezoid"`` (default, its code) or ``"right"`` (its
Eq. 19: the right sum without step 0).

``"revex"``: "Local Agnostic Video Explanations: a Study on the Applicability of
Removal-Based Explanations to Video" (paper 001, Sec. 5.1, and its released code). Pixels; the
map prepared as the code displays it (negative values dropped, the most important voxels kept
until ``top`` = 30% of the total importance, the rest 0), stretched to [0, 1] and cut at 200
levels (``schedule="levels"``): tied voxels move together and x is not uniform, so the area
is the trapezoid over the actual x (the code's ``sklearn.metrics.auc``). Removal black
(default, the paper's text) or ``removal=removal.blur(8.0)`` (its code blurs). Minimal masks
at score changes (``minimal="change"``, default, its text) or at absolute score levels
(``minimal="absolute"``, its code, levels 0.8, 0.9, 0.95, 0.99).
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, check_choice, check_float, check_int, describe
from ..removal import Removal, black, constant
from ..segment import Segmentation, slic
from ..viz import top_fraction
from . import _checks
from .curves import AUC_RULES, GAMES, LEVELS, ORDERS, SCHEDULES, TIES, Curve, auc, games
from .units import AGGREGATES

__all__ = ["Protocol", "ProtocolScore", "protocol", "PROTOCOLS", "STEP_MEAN_RGB"]

STEP_MEAN_RGB = (0.43216, 0.394666, 0.37645)
"""Paper 004's training mean colour (the Kinetics mean its models normalise with)."""
STEP_SLIC = {"n_segments": 100, "compactness": 10.0, "spacing": (1.0, 1.0, 1.0), "sigma": 1,
             "slic_zero": True}


class ProtocolScore(NamedTuple):
    """One game under a protocol: its area ``value`` and the whole ``curve``."""

    value: float
    curve: Curve


@dataclasses.dataclass(frozen=True)
class Protocol:
    """An insertion / deletion protocol; see the module for the presets and their papers.

    ``unit``: ``"pixel"``, ``"cells"``, ``"patch"``, ``"superpixel"`` or a Segmentation
    (moved per (frame, segment) when ``split_frames``); ``aggregate``: ``"mean"``, ``"sum"``
    or ``"auto"`` (sum for superpixels / segmentations, mean otherwise); ``top``: keep only
    the most important voxels covering that share of the positive importance before ranking
    (``None``: the map as it is).
    """

    name: str
    paper: str
    games: tuple = ("insertion", "deletion")
    order: str = "morf"
    unit: object = "cells"
    cells: int = 16
    patch: int = 16
    aggregate: str = "auto"
    split_frames: bool = True
    slic: dict = dataclasses.field(default_factory=lambda: dict(STEP_SLIC))
    removal: object = None
    steps: int = 128
    schedule: str = "units"
    ties: str = "group"
    rule: str = "trapezoid"
    top: float | None = None
    minimal: str = "change"
    thresholds: tuple | None = None

    def __post_init__(self):
        if not isinstance(self.games, tuple) or not self.games:
            raise ArgumentTypeError("games", "a non-empty tuple of game names", describe(self.games))
        for g in self.games:
            check_choice(g, "games", GAMES)
        check_choice(self.order, "order", ORDERS)
        if not isinstance(self.unit, Segmentation):
            check_choice(self.unit, "unit", ("pixel", "cells", "patch", "superpixel"))
        check_int(self.cells, "cells", minimum=1)
        check_int(self.patch, "patch", minimum=1)
        check_choice(self.aggregate, "aggregate", AGGREGATES + ("auto",))
        check_int(self.steps, "steps", minimum=1)
        check_choice(self.schedule, "schedule", SCHEDULES)
        check_choice(self.ties, "ties", TIES)
        if self.schedule == "levels" and self.ties != "group":
            raise ArgumentError("ties", "'group' with schedule='levels'", repr(self.ties))
        check_choice(self.rule, "rule", AUC_RULES)
        check_choice(self.minimal, "minimal", LEVELS)
        if self.top is not None:
            check_float(self.top, "top", 0.0, 1.0, open_low=True)
        if self.thresholds is not None:
            _checks.thresholds(self.thresholds)
        if self.removal is not None and not isinstance(self.removal, Removal):
            raise ArgumentTypeError("removal", "a vidxai.removal.Removal", describe(self.removal))
        if not isinstance(self.slic, dict):
            raise ArgumentTypeError("slic", "a dict of vidxai.segment.slic options", describe(self.slic))

    def replace(self, **overrides) -> "Protocol":
        """A copy with some settings changed (validated like the preset)."""
        unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ArgumentError(unknown[0], "a setting of Protocol: " + ", ".join(
                f.name for f in dataclasses.fields(self)), repr(unknown[0]))
        return dataclasses.replace(self, **overrides)

    def prepare(self, saliency) -> np.ndarray:
        """The map the games rank: with ``top``, negatives dropped and the voxels covering
        ``top`` of the importance kept (:func:`vidxai.viz.top_fraction`), others 0."""
        sal = np.asarray(saliency, np.float32)
        if self.top is None:
            return sal
        return top_fraction(np.maximum(_checks.real_array(sal, "saliency", "(T, H, W)"), 0.0),
                            self.top).astype(np.float32)

    def _unit(self, video):
        if self.unit == "superpixel":
            return slic(video, **self.slic)
        return self.unit

    def curve(self, f, video, saliency, game: str = "insertion", *, batch_size: int = 32,
              progress: bool = False, unit=None) -> Curve:
        """The ``game`` curve of ``saliency`` on ``video`` under this protocol. ``unit``: a
        precomputed unit (e.g. the superpixels of ``video``, to reuse over many maps)."""
        return self.curves(f, video, [saliency], game, batch_size=batch_size,
                           progress=progress, unit=unit)[0]

    def curves(self, f, video, saliencies, game: str = "insertion", *, batch_size: int = 32,
               progress: bool = False, unit=None) -> list:
        """:meth:`curve` of several maps of one video, scored in one engine pass
        (:func:`vidxai.metrics.games`)."""
        check_choice(game, "game", GAMES)
        unit = self._unit(video) if unit is None else unit
        segmented = isinstance(unit, Segmentation)
        aggregate = self.aggregate if self.aggregate != "auto" else ("sum" if segmented else "mean")
        return games(game, f, video, [self.prepare(s) for s in saliencies], steps=self.steps,
                     unit=unit, removed=self.removal if self.removal is not None else black(),
                     order=self.order, batch_size=batch_size, progress=progress,
                     patch=self.patch, cells=self.cells, aggregate=aggregate, ties=self.ties,
                     schedule=self.schedule, split_frames=segmented and self.split_frames)

    def evaluate_many(self, f, video, saliencies, *, batch_size: int = 32,
                      progress: bool = False, unit=None) -> list:
        """:meth:`evaluate` for several maps of one video: one dict per map, each game's
        curves of all maps scored in one engine pass."""
        unit = self._unit(video) if unit is None else unit
        out = [{} for _ in saliencies]
        for game in self.games:
            for scores, c in zip(out, self.curves(f, video, saliencies, game,
                                                  batch_size=batch_size, progress=progress,
                                                  unit=unit)):
                scores[game] = ProtocolScore(self.area(c), c)
        return out

    def unit_name(self) -> str:
        """A short name of the unit for tables (``cells16``, ``superpixel``, ``pixel``...)."""
        if isinstance(self.unit, Segmentation):
            return "segments"
        return {"cells": f"cells{self.cells}", "patch": f"patch{self.patch}"}.get(self.unit,
                                                                                  self.unit)

    def area(self, curve: Curve) -> float:
        """The protocol's number for a curve: ``auc(scores, rule)`` over uniform steps, or the
        trapezoid over the actual x under the ``"levels"`` schedule."""
        return curve.auc if self.schedule == "levels" else auc(curve.scores, self.rule)

    def evaluate(self, f, video, saliency, *, batch_size: int = 32, progress: bool = False,
                 unit=None) -> dict:
        """Every game of the protocol: ``{game: ProtocolScore(value, curve)}``."""
        return self.evaluate_many(f, video, [saliency], batch_size=batch_size,
                                  progress=progress, unit=unit)[0]

    def minimal_mask(self, f, video, saliency, game: str = "deletion", **kwargs):
        """Minimal explanation masks (paper 001) at the protocol's thresholds and levels:
        ``(fractions, reached, curve)``."""
        c = self.curve(f, video, saliency, game, **kwargs)
        default = (0.8, 0.9, 0.95, 0.99) if self.minimal == "absolute" else (0.1, 0.2, 0.3, 0.4, 0.5)
        fractions, reached = c.minimal_fraction(self.thresholds or default, self.minimal)
        return fractions, reached, c


def _step():
    return Protocol("step", "004", removal=constant(STEP_MEAN_RGB))


def _revex():
    return Protocol("revex", "001", unit="pixel", aggregate="mean", removal=black(),
                    steps=200, schedule="levels", top=0.3)


_PRESETS = {"step": _step, "revex": _revex}
PROTOCOLS = tuple(_PRESETS)


def protocol(name, **overrides) -> Protocol:
    """The named preset (``"step"`` or ``"revex"``; see the module) with ``overrides``."""
    check_choice(name, "protocol", PROTOCOLS)
    return _PRESETS[name]().replace(**overrides) if overrides else _PRESETS[name]()
