"""XRAI on video (paper 004, Sec. V-A): IG attributions summed over 3-D SLIC supervoxels at
several levels, regions ranked greedily by their gain per voxel.

References
----------
Z. Li, W. Wang, Z. Li, Y. Huang, Y. Sato. Spatio-Temporal Perturbations for Video
Attribution. IEEE TCSVT, 2021 (paper 004).
A. Kapishnikov, T. Bolukbasi, F. Viegas, M. Terry. XRAI: Better Attributions Through
Regions. ICCV, 2019.
M. Sundararajan, A. Taly, Q. Yan. Axiomatic Attribution for Deep Networks. ICML, 2017.
"""
from __future__ import annotations

import warnings

import numpy as np

from ... import segment
from ...errors import ArgumentError, ArgumentTypeError, check_int, check_video, describe
from ...segment import Segmentation
from . import engine as run
from .result import GradientResult
from .input_gradients import BATCH, STEPS, integrated_gradients

__all__ = ["xrai", "rank_regions", "LEVELS"]

LEVELS = (50, 100, 150, 250, 500, 1200)   # paper 004: SLIC levels (segment counts asked for)


class _Level:
    """One segmentation level: per-region attribution sums and sizes of the voxels not yet
    covered, and each region's voxels (sorted by label)."""

    def __init__(self, labels: np.ndarray, n: int, attr: np.ndarray):
        self.labels, self.n = labels, n
        self.sums = np.bincount(labels, attr, minlength=n)
        self.counts = np.bincount(labels, minlength=n).astype(np.float64)
        self.order = np.argsort(labels, kind="stable")
        self.starts = np.concatenate([[0], np.cumsum(self.counts).astype(np.int64)])

    def voxels(self, j: int) -> np.ndarray:
        return self.order[self.starts[j]:self.starts[j + 1]]

    def remove(self, voxels: np.ndarray, attr: np.ndarray) -> None:
        labs = self.labels[voxels]
        self.sums -= np.bincount(labs, attr[voxels], minlength=self.n)
        self.counts -= np.bincount(labs, minlength=self.n)

    def gains(self) -> np.ndarray:
        """Attribution per uncovered voxel of each region (-inf once fully covered)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.counts > 0.5, self.sums / np.maximum(self.counts, 1.0), -np.inf)


def rank_regions(attribution, segmentations) -> tuple[np.ndarray, np.ndarray]:
    """XRAI's greedy ranking: repeatedly add the region (of any level) whose voxels not yet
    covered have the highest mean attribution, until every voxel is covered.

    ``attribution (T, H, W)``; ``segmentations``: :class:`Segmentation` of the same shape
    (ties go to the earlier level, then the lower label). Returns ``(order (T, H, W) int32,
    gains (n,))``: ``order`` is the position in the ranking of the region that first covered
    each voxel, ``gains[k]`` the mean attribution over the voxels region ``k`` added.
    """
    attr = np.asarray(attribution, np.float64).reshape(-1)
    levels = [_Level(s.labels.reshape(-1), s.n, attr) for s in segmentations]
    offsets = np.concatenate([[0], np.cumsum([lv.n for lv in levels])])
    covered = np.zeros(attr.size, bool)
    order = np.full(attr.size, -1, np.int32)
    gains = []
    current = np.concatenate([lv.gains() for lv in levels])
    while not covered.all():
        best = int(np.argmax(current))
        which = int(np.searchsorted(offsets, best, side="right") - 1)
        region = levels[which].voxels(best - offsets[which])
        new = region[~covered[region]]
        gains.append(current[best])
        order[new] = len(gains) - 1
        covered[new] = True
        for i, lv in enumerate(levels):
            lv.remove(new, attr)
            current[offsets[i]:offsets[i + 1]] = lv.gains()
    return order.reshape(np.shape(attribution)), np.asarray(gains, np.float32)


def _check_segmentations(segmentations, video):
    if isinstance(segmentations, Segmentation) or not hasattr(segmentations, "__iter__"):
        raise ArgumentTypeError("segmentations", "a list of vidxai.Segmentation",
                                describe(segmentations))
    items = list(segmentations)
    if not items:
        raise ArgumentError("segmentations", "at least one segmentation", "an empty list")
    for i, s in enumerate(items):
        if not isinstance(s, Segmentation):
            raise ArgumentTypeError(f"segmentations[{i}]", "a vidxai.Segmentation", describe(s))
        s.check_matches(video, f"segmentations[{i}]")
    return items


def _ig(f, video, baselines, steps, batch_size, target, progress):
    """IG averaged over the baselines; the completeness and warnings of each run."""
    if not baselines:
        raise ArgumentError("baselines", "at least one baseline", baselines)
    total, runs, notes = 0.0, [], []
    for b in baselines:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            e = integrated_gradients(f, video, baseline=b, steps=steps, batch_size=batch_size,
                                     target=target, progress=progress)
        total = total + e.attributions
        runs.append({"baseline": e.meta["baseline"], **e.meta["completeness"]})
        notes += [str(w.message) for w in caught]
    return total / len(baselines), runs, notes, e.meta["score"], e.meta["eager"]


def xrai(f, video, *, levels=LEVELS, segmentations=None, baselines=(0.0,), steps: int = STEPS,
         batch_size: int = BATCH, attributions=None, target=None,
         progress=False) -> GradientResult:
    """XRAI (paper 004's video version): IG attributions (Eq. 24, ``steps`` m = 50, averaged
    over ``baselines``: black by default as paper 004's IG; ``(0.0, 1.0)`` is the XRAI
    paper's black-and-white pair), summed per voxel over the colour channels (signed), then
    regions from 3-D SLIC supervoxels at every level of ``levels`` (segment counts asked of
    :func:`vidxai.segment.slic`, paper 004: 50, 100, 150, 250, 500, 1200; or give
    ``segmentations``) ranked by :func:`rank_regions`.

    ``attributions``: precomputed ``(T, H, W, C)`` attributions (or a result holding them)
    instead of IG; ``f`` is then not called. Returns a :class:`GradientResult` whose
    ``segmentation`` numbers the regions in the order they were added, ``weights`` their
    gains, ``map`` the gain of each voxel's region, ``attributions`` the IG values; ``meta``:
    ``levels`` (segments SLIC returned), ``ig_runs`` (baseline and completeness of each
    IG run). Unlike the XRAI
    paper's image version, segments are not dilated (supervoxels already follow edges).

    References: Kapishnikov et al., ICCV 2019; paper 004 (Li et al., TCSVT 2021).
    """
    if attributions is None:
        setup = run.prepare(f, video, target)
        steps = check_int(steps, "steps", minimum=1)
        ig, runs, notes, score, eager = _ig(setup.f, setup.video, tuple(baselines), steps,
                                            batch_size, None, progress)
        n_evals = len(runs) * (steps + 2)
    else:
        setup = run.Setup(f, check_video(video), None, False)
        ig = np.asarray(getattr(attributions, "attributions", attributions), np.float32)
        if ig.shape != setup.video.shape:
            raise ArgumentError("attributions", f"an array of the video's shape {setup.video.shape}",
                                describe(ig))
        runs, notes, score, eager, n_evals = None, [], None, False, 0
    if segmentations is None:
        counts = [check_int(n, "levels", minimum=1) for n in levels]
        segmentations = [segment.slic(setup.video, n_segments=n) for n in counts]
    segmentations = _check_segmentations(segmentations, setup.video)
    order, gains = rank_regions(ig.sum(-1), segmentations)
    regions = Segmentation(order, len(gains))
    return run.result("xrai", run.Setup(setup.f, setup.video, score, eager), gains[order], ig,
                      n_evals, weights=gains, segmentation=regions, notes=notes,
                      levels=[int(s.n) for s in segmentations], ig_runs=runs)
