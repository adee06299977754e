"""Explanation methods, and :func:`run`, the front door that calls any of them by name.

Removal-based (paper 001): :func:`lime`, :func:`kernel_shap`, :func:`rise`, :func:`loco`,
:func:`univariate`, :func:`occlusion`. Extremal masks (papers 004 and 002): :func:`ep2d`,
:func:`ep3d`, :func:`step`, :func:`tiem`, :func:`tiem_lk`, :func:`smallest_area` (results:
:class:`ExtremalResult`); TIEM's :func:`time_importance`. Frame Shapley values (paper 003):
:func:`esv` (exact or sampled), :func:`esv_exact`, :func:`esv_sampled`, :func:`multiscale`.
Gradient and activation baselines (paper 004): :func:`gradient`, :func:`gradient_x_input`,
:func:`integrated_gradients`, :func:`smoothgrad`, :func:`smoothgrad_squared`,
:func:`blur_ig`, :func:`xrai`, :func:`grad_cam`, :func:`excitation_backprop` (results:
:class:`GradientResult`).
"""
from .extremal import (ExtremalResult, ep2d, ep3d, smallest_area, step, tiem, tiem_lk,
                       time_importance)
from .baselines import random_map
from .frontdoor import Subject, run, subject
from .gradients import (GradientResult, blur_ig, excitation_backprop, grad_cam, gradient,
                        gradient_x_input, integrated_gradients, smoothgrad, smoothgrad_squared,
                        xrai)
from .removal_based import kernel_shap, lime, loco, occlusion, rise, univariate
from .shapley import (ESVResult, contrastive, esv, esv_exact, esv_sampled, frame_average_value,
                      multiscale)

__all__ = ["run", "subject", "Subject", "random_map", "lime", "kernel_shap", "rise", "loco",
           "univariate", "occlusion", "ep2d", "ep3d", "step", "tiem", "tiem_lk", "smallest_area",
           "ExtremalResult", "time_importance", "esv", "esv_exact", "esv_sampled", "multiscale",
           "frame_average_value", "contrastive", "ESVResult", "gradient", "gradient_x_input",
           "integrated_gradients", "smoothgrad", "smoothgrad_squared", "blur_ig", "xrai",
           "grad_cam", "excitation_backprop", "GradientResult"]
