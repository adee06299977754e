"""The method table: every explainer, what it needs, and the paper it comes from.

The command line (``vidxai explain --method``, ``vidxai methods``), the README's method
table and the tests read this table. Adding a method is one function plus one entry here:
``options`` maps the command-line options that apply to the method onto its keyword
arguments, ``needs`` names the inputs the caller must supply besides the score function
and the video (``segmentation``, ``key``, ``gradients``: a differentiable score function,
``layers``: a model whose intermediate layers can be read (:mod:`vidxai.layers`),
``frame_value``: a model that scores subsets of frames).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

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
FAMILIES = ("removal", "extremal", "shapley", "gradient")


@dataclass(frozen=True)
class Method:
    """One row of the method table."""

    name: str
    target: str          # "module:function", imported on first use (keeps start-up fast)
    family: str
    paper: str
    summary: str
    needs: frozenset = frozenset()
    options: dict = field(default_factory=dict)

    @property
    def function(self):
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)

    @property
    def reference(self) -> str:
        return PAPERS.get(self.paper, self.paper)


def _table() -> dict[str, Method]:
    rb, ext = "vidxai.explain.removal_based:", "vidxai.explain.extremal:"
    seg_key = frozenset({"segmentation", "key"})
    samples = {"samples": "n_samples"}
    masks = {"areas": "areas", "iterations": "iterations"}
    grads = frozenset({"gradients"})
    gr, act = "vidxai.explain.gradients:", "vidxai.explain.activations:"
    steps, noise = {"samples": "steps"}, {"samples": "n_samples"}
    layers = frozenset({"gradients", "layers"})
    rows = [
        Method("lime", rb + "lime", "removal", "001", "ridge surrogate on random supervoxel "
               "coalitions (3D LIME)", seg_key, samples),
        Method("kernel_shap", rb + "kernel_shap", "removal", "001", "Shapley values by "
               "kernel-weighted least squares (3D Kernel SHAP)", seg_key, samples),
        Method("rise", rb + "rise", "removal", "001", "mean score under random upsampled cell "
               "grids (3D RISE)", frozenset({"key"}), {"samples": "n_samples", "cells": "cells"}),
        Method("loco", rb + "loco", "removal", "001", "score drop when one supervoxel is "
               "removed (LV-LOCO)", frozenset({"segmentation"})),
        Method("univariate", rb + "univariate", "removal", "001", "score with one supervoxel "
               "kept alone (LV-Univariate)", frozenset({"segmentation"})),
        Method("occlusion", rb + "occlusion", "removal", "001", "score drop under a sliding "
               "removed cuboid (3D Sampled Occlusion)"),
        Method("ep2d", ext + "ep2d", "extremal", "004", "per-frame extremal perturbation, every "
               "frame keeps the same area", grads, masks),
        Method("ep3d", ext + "ep3d", "extremal", "004", "extremal perturbation with one "
               "whole-volume area loss (EP-3D)", grads, masks),
        Method("step", ext + "step", "extremal", "004", "EP-3D plus the ellipsoid smoothness "
               "loss L_K (STEP)", grads, masks),
        Method("tiem", ext + "tiem", "extremal", "002", "per-frame areas from time importance "
               "scores (TIEM)", grads, masks),
        Method("tiem_lk", ext + "tiem_lk", "extremal", "002", "TIEM plus STEP's smoothness "
               "loss L_K", grads, masks),
        Method("esv", "vidxai.explain.esv:esv", "shapley", "003", "Element Shapley Values of the frames "
               "(exact up to 16 frames, else sampled)", frozenset({"frame_value", "key"})),
        Method("gradient", gr + "gradient", "gradient", "004", "gradient of the score with "
               "respect to the input (G)", grads),
        Method("gradient_x_input", gr + "gradient_x_input", "gradient", "004", "gradient times "
               "input (G*I)", grads),
        Method("ig", gr + "integrated_gradients", "gradient", "004", "integrated gradients from "
               "a black video, 50 path points (IG)", grads, steps),
        Method("smoothgrad", gr + "smoothgrad", "gradient", "004", "mean gradient over 50 noisy "
               "copies of the video (SG)", grads | {"key"}, noise),
        Method("smoothgrad_squared", gr + "smoothgrad_squared", "gradient", "004", "mean squared "
               "gradient over 50 noisy copies (SG2)", grads | {"key"}, noise),
        Method("blur_ig", gr + "blur_ig", "gradient", "004", "integrated gradients along "
               "per-frame Gaussian blurs (Blur IG)", grads, steps),
        Method("xrai", "vidxai.explain.xrai:xrai", "gradient", "004", "IG summed over SLIC "
               "supervoxels at 6 levels, regions ranked by gain (XRAI)", grads, steps),
        Method("grad_cam", act + "grad_cam", "gradient", "004", "gradient-weighted activations "
               "of a layer, up-sampled (Grad-CAM)", layers, {"layer": "layer"}),
        Method("excitation_backprop", act + "excitation_backprop", "gradient", "004", "marginal "
               "winning probabilities at a layer of a ReLU network (EB)", layers,
               {"layer": "layer"}),
    ]
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


__all__ = ["Method", "PAPERS", "FAMILIES", "methods", "get", "register"]
