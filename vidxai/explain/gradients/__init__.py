"""Gradient and activation baselines of paper 004 ("Spatio-Temporal Perturbations for Video
Attribution").

Input gradients (:mod:`.input_gradients`): :func:`gradient`, :func:`gradient_x_input`,
:func:`integrated_gradients`, :func:`smoothgrad`, :func:`smoothgrad_squared`, :func:`blur_ig`;
regions of integrated gradients (:mod:`.regions`): :func:`xrai`; layer activations
(:mod:`.activations`, with :mod:`.excitation`'s probability propagation):
:func:`grad_cam`, :func:`excitation_backprop`. All run on the chunked engine of
:mod:`.engine` and return a :class:`GradientResult` (:mod:`.result`).
"""
from .activations import excitation_backprop, grad_cam
from .input_gradients import (blur_ig, gradient, gradient_x_input, integrated_gradients,
                              smoothgrad, smoothgrad_squared)
from .regions import xrai
from .result import GradientResult

__all__ = ["gradient", "gradient_x_input", "integrated_gradients", "smoothgrad",
           "smoothgrad_squared", "blur_ig", "xrai", "grad_cam", "excitation_backprop",
           "GradientResult"]
