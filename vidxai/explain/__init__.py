"""Explanation methods.

Removal-based (paper 001): :func:`lime`, :func:`kernel_shap`, :func:`rise`, :func:`loco`,
:func:`univariate`, :func:`occlusion`. Extremal masks (papers 004 and 002): :func:`ep3d`,
:func:`step`, :func:`tiem`, :func:`smallest_area`; TIEM's :func:`time_importance`. Frame Shapley
values (paper 003): :func:`esv_exact`, :func:`esv_sampled`, :func:`multiscale`.
"""
from .esv import (ESVResult, contrastive, esv_exact, esv_sampled, frame_average_value,
                  multiscale)
from .extremal import ep3d, smallest_area, step, tiem
from .removal_based import kernel_shap, lime, loco, occlusion, rise, univariate
from .tis import time_importance

__all__ = ["lime", "kernel_shap", "rise", "loco", "univariate", "occlusion", "ep3d", "step",
           "tiem", "smallest_area", "time_importance", "esv_exact", "esv_sampled", "multiscale",
           "frame_average_value", "contrastive", "ESVResult"]
