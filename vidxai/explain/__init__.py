"""Explanation methods. Removal-based (paper 001): :func:`lime`, :func:`kernel_shap`,
:func:`rise`, :func:`loco`, :func:`univariate`, :func:`occlusion`."""
from .removal_based import kernel_shap, lime, loco, occlusion, rise, univariate

__all__ = ["lime", "kernel_shap", "rise", "loco", "univariate", "occlusion"]
