"""The method table: every explainer, what it needs, how to call it, and its paper.

:func:`vidxai.explain.run` (the front door), the command line (``vidxai explain --method``,
``vidxai methods``), the README's method table and the tests read this table. Adding a
method is one function plus one entry here: ``needs`` names the inputs besides the score
function and the video (``segmentation``, ``key``, ``gradients``: a differentiable score
function, ``layers``: a model whose intermediate layers can be read (:mod:`vidxai.layers`),
``frame_value``: a model that scores subsets of frames); ``adapter`` says how the front door
calls the function (one small adapter per calling convention: :func:`on_video`,
:func:`on_supervoxels`, :func:`on_frames`); ``options`` maps the command-line flags that
apply to the method onto its keyword arguments.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

from ..errors import ArgumentError

PAPERS = {
    "000": "D. M. Paiva, J. M. X. N. Teixeira, V. Teichrieb. Here comes the SAM: bringing "
           "light to black box models applied to video content. UFPE, 2024.",
    "001": "F. X. Gaya-Morey, J. M. Buades-Rubio, C. Manresa-Yee. Local Agnostic Video "
           "Explanations: a Study on the Applicability of Removal-Based Explanations to "
           "Video. Preprint, 2024.",
    "002": "Anonymous authors. TIEM: Enhancing Explanation of Video Prediction via Temporal "
           "Dynamics-Focused Dual Perturbation. Under double-blind review, 2024.",
    "003": "W. Price, D. Damen. Play Fair: Frame Attributions in Video Models. Asian "
           "Conference on Computer Vision (ACCV), 2020.",
    "004": "Z. Li, W. Wang, Z. Li, Y. Huang, Y. Sato. Spatio-Temporal Perturbations for "
           "Video Attribution. IEEE Transactions on Circuits and Systems for Video "
           "Technology (TCSVT), 2021.",
}
FAMILIES = ("removal", "extremal", "shapley", "gradient", "baseline")


def on_video(function, call):
    """``function(f, video, **options)``: occlusion, RISE, extremal and gradient methods."""
    return function(call.subject.f, call.video, **call.keywords())


def on_supervoxels(function, call):
    """``function(f, video, segmentation, **options)``: paper 001's supervoxel methods; the
    segmentation is the user's ``segmentation=`` or the front door's default SLIC."""
    segmentation = call.segmentation()
    return function(call.subject.f, call.video, segmentation, **call.keywords())


def on_frames(function, call):
    """``function(value, T, empty=..., target=..., **options)``: paper 003's frame game, from
    the model's frame-value function."""
    value, empty = call.frame_game()
    return function(value, call.video.shape[0], empty=empty, target=call.subject.target,
                    **call.keywords())


@dataclass(frozen=True)
class Method:
    """One row of the method table.

    ``options``: command-line flag -> the function's keyword argument it sets (the flags
    that apply to this method); ``quick``: the command line's own defaults for the method,
    sized for a CPU (the function's defaults are the papers', used by
    :func:`vidxai.explain.run`); ``adapter(function, call)``: how the front door calls it.
    """

    name: str
    target: str          # "module:function", imported on first use (keeps start-up fast)
    family: str
    paper: str
    summary: str
    needs: frozenset = frozenset()
    options: dict = field(default_factory=dict)
    adapter: Callable = on_video
    quick: dict = field(default_factory=dict)

    @property
    def function(self):
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)

    @property
    def reference(self) -> str:
        return PAPERS.get(self.paper, self.paper)


def _removal_rows(at: str) -> list[Method]:
    """Paper 001's six removal-based methods (removal fill and batch size as flags)."""
    seg, key = frozenset({"segmentation"}), frozenset({"key"})
    base = {"removal": "removal", "batch_size": "batch_size"}
    sampled = {"samples": "n_samples", **base}
    fast, few = {"batch_size": 8}, {"n_samples": 120, "batch_size": 8}
    return [
        Method("lime", at + "lime", "removal", "001", "ridge surrogate on random supervoxel "
               "coalitions (3D LIME)", seg | key, sampled, on_supervoxels, few),
        Method("kernel_shap", at + "kernel_shap", "removal", "001", "Shapley values by "
               "kernel-weighted least squares (3D Kernel SHAP)", seg | key, sampled,
               on_supervoxels, few),
        Method("rise", at + "rise", "removal", "001", "mean score under random upsampled cell "
               "grids (3D RISE)", key, {**sampled, "cells": "cells"}, on_video, few),
        Method("loco", at + "loco", "removal", "001", "score drop when one supervoxel is "
               "removed (LV-LOCO)", seg, base, on_supervoxels, fast),
        Method("univariate", at + "univariate", "removal", "001", "score with one supervoxel "
               "kept alone (LV-Univariate)", seg, base, on_supervoxels, fast),
        Method("occlusion", at + "occlusion", "removal", "001", "score drop under a sliding "
               "removed cuboid (3D Sampled Occlusion)", frozenset(), base, on_video, fast),
    ]


def _extremal_rows(at: str) -> list[Method]:
    """Papers 004 and 002's extremal masks (300 iterations on the command line)."""
    grads = frozenset({"gradients"})
    masks, quick = {"areas": "areas", "iterations": "iterations"}, {"iterations": 300}
    tis = {**masks, "batch_size": "batch_size"}
    return [
        Method("ep2d", at + "ep2d", "extremal", "004", "per-frame extremal perturbation, every "
               "frame keeps the same area", grads, masks, on_video, quick),
        Method("ep3d", at + "ep3d", "extremal", "004", "extremal perturbation with one "
               "whole-volume area loss (EP-3D)", grads, masks, on_video, quick),
        Method("step", at + "step", "extremal", "004", "EP-3D plus the ellipsoid smoothness "
               "loss L_K (STEP)", grads, masks, on_video, quick),
        Method("tiem", at + "tiem", "extremal", "002", "per-frame areas from time importance "
               "scores (TIEM)", grads, tis, on_video, quick),
        Method("tiem_lk", at + "tiem_lk", "extremal", "002", "TIEM plus STEP's smoothness "
               "loss L_K", grads, tis, on_video, quick),
    ]


def _gradient_rows(at: str) -> list[Method]:
    """Paper 004's gradient and activation baselines."""
    grads, layers = frozenset({"gradients"}), frozenset({"gradients", "layers"})
    steps = {"samples": "steps", "batch_size": "batch_size"}
    noise = {"samples": "n_samples", "batch_size": "batch_size"}
    fast = {"batch_size": 8}
    return [
        Method("gradient", at + "gradient", "gradient", "004", "gradient of the score with "
               "respect to the input (G)", grads),
        Method("gradient_x_input", at + "gradient_x_input", "gradient", "004", "gradient times "
               "input (G*I)", grads),
        Method("ig", at + "integrated_gradients", "gradient", "004", "integrated gradients from "
               "a black video, 50 path points (IG)", grads, steps, on_video, fast),
        Method("smoothgrad", at + "smoothgrad", "gradient", "004", "mean gradient over 50 noisy "
               "copies of the video (SG)", grads | {"key"}, noise, on_video, fast),
        Method("smoothgrad_squared", at + "smoothgrad_squared", "gradient", "004", "mean squared "
               "gradient over 50 noisy copies (SG2)", grads | {"key"}, noise, on_video, fast),
        Method("blur_ig", at + "blur_ig", "gradient", "004", "integrated gradients along "
               "per-frame Gaussian blurs (Blur IG)", grads, steps, on_video, fast),
        Method("xrai", at + "xrai", "gradient", "004", "IG summed over SLIC supervoxels at 6 "
               "levels, regions ranked by gain (XRAI)", grads, steps, on_video, fast),
        Method("grad_cam", at + "grad_cam", "gradient", "004", "gradient-weighted activations "
               "of a layer, up-sampled (Grad-CAM)", layers, {"layer": "layer"}),
        Method("excitation_backprop", at + "excitation_backprop", "gradient", "004", "marginal "
               "winning probabilities at a layer of a ReLU network (EB)", layers,
               {"layer": "layer"}),
    ]


def _table() -> dict[str, Method]:
    at = "vidxai.explain:"      # public names: stable across module moves
    esv = Method("esv", at + "esv", "shapley", "003", "Element Shapley Values of the frames "
                 "(exact up to 16 frames, else sampled)", frozenset({"frame_value", "key"}),
                 {"batch_size": "batch_size"}, on_frames)
    random = Method("random", at + "random_map", "baseline", "004", "uniform random map from "
                    "the key: the reference every metric is compared with (reliability)",
                    frozenset({"key"}))
    rows = [*_removal_rows(at), *_extremal_rows(at), esv, *_gradient_rows(at), random]
    return {m.name: m for m in rows}


_METHODS: dict[str, Method] = {}


def methods() -> dict[str, Method]:
    """The method table, name -> :class:`Method` (in display order)."""
    if not _METHODS:
        _METHODS.update(_table())
    return dict(_METHODS)


def get(name: str) -> Method:
    """The table entry of ``name``; a clear error lists the valid names."""
    table = methods()
    if name not in table:
        raise ArgumentError("method", f"one of {list(table)}", repr(name))
    return table[name]


def register(method: Method) -> None:
    """Add a method to the table (for a user's own method; the CLI picks it up)."""
    if method.family not in FAMILIES:
        raise ArgumentError("family", f"one of {FAMILIES}", repr(method.family))
    methods()
    _METHODS[method.name] = method


__all__ = ["Method", "PAPERS", "FAMILIES", "methods", "get", "register", "on_video",
           "on_supervoxels", "on_frames"]
