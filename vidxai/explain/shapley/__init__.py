"""Element Shapley Values of the frames of a video (paper 003, "Play Fair: Frame
Attributions in Video Models").

:func:`esv` (exact up to 16 frames, else sampled), :func:`esv_exact`, :func:`esv_sampled`
(:mod:`.values`); the frame-value models ``v(S)`` they explain, :func:`frame_average_value`
and TRN's multi-scale :func:`multiscale` (:mod:`.value_models`); Algorithm 1's sampling
(:mod:`.sampling`); the result :class:`ESVResult` and :func:`contrastive` (:mod:`.result`).
"""
from .result import ESVResult, contrastive
from .value_models import MultiScale, frame_average_value, multiscale
from .values import esv, esv_exact, esv_sampled, lattice, subset_scores

__all__ = ["esv", "esv_exact", "esv_sampled", "multiscale", "frame_average_value",
           "contrastive", "ESVResult", "MultiScale", "lattice", "subset_scores"]
