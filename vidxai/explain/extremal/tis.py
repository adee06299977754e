"""TIEM's time importance scores as a method of their own (paper 002, Sec. 3.1, Eq. 1-4):
:func:`time_importance` validates its arguments and runs the window maskings of
:mod:`.windows`, which TIEM runs too; the result is a :class:`~.result.TimeImportance`.
"""
from __future__ import annotations

from ...errors import ArgumentTypeError, check_video, describe
from .result import TimeImportance
from .settings import Settings, check_alpha, check_switches
from .windows import scored_time_importance

__all__ = ["time_importance", "TimeImportance"]

_D = Settings()     # the defaults, shared with TIEM's


def time_importance(f, video, *, alpha=_D.alpha, window_span=_D.window_span,
                    negative_drops=_D.negative_drops, removed=_D.removed,
                    batch_size=_D.batch_size, progress=_D.progress) -> TimeImportance:
    """Time importance scores of TIEM (paper 002, Eq. 1-4) for the score function ``f``.

    Every window of consecutive frames is hidden (Eq. 1), the score drops are normalised per
    window size (Eq. 2), the sizes whose drops vary most along time are kept (Eq. 3) and
    each frame's score is the mean normalised drop of the kept windows containing it (Eq. 4).

    ``f`` maps ``(B, T, H, W, C)`` to ``(B,)``; ``video`` is ``(T, H, W, C)`` in [0, 1].
    ``alpha`` in [0, 1) filters the window sizes (Eq. 3; 0.8 in the paper).
    ``window_span``: ``"w"`` (default, Eq. 1: a window of size ``w`` hides ``w`` frames) or
    ``"w+1"`` (the appendix's Algorithm 1: ``w + 1`` frames). ``negative_drops``: ``"clip"``
    (default: drops below 0 count as 0), ``"signed"`` (Algorithm 1, line 13: divide the
    signed drops by their sum) or ``"shift"`` (vidxai 0.2: lift the row by its most negative
    drop). ``window_span="w+1", negative_drops="signed"`` is the paper's pseudocode; the
    module docstring of :mod:`.windows` says why the defaults differ. ``removed`` is what hidden frames show: a
    :class:`~vidxai.removal.Removal` or a video of the same shape (default black, Eq. 1).
    The ``T (T + 1) / 2`` masked videos and the original are scored in chunks of
    ``batch_size``; ``progress`` shows a progress bar. See :mod:`.windows` for the
    guards against vanishing or negative normalising sums (never NaN). Returns a
    :class:`TimeImportance`.

    References:

    * Anonymous authors. TIEM: Enhancing Explanation of Video Prediction via Temporal
      Dynamics-Focused Dual Perturbation. Under double-blind review, 2024.
    """
    if not callable(f):
        raise ArgumentTypeError("f", "a score function (B, T, H, W, C) -> (B,)", describe(f))
    video, alpha = check_video(video), check_alpha(alpha)
    window_span, negative_drops = check_switches(window_span, negative_drops)
    return scored_time_importance(f, video, alpha, removed=removed, batch_size=batch_size,
                                  progress=progress, window_span=window_span,
                                  negative_drops=negative_drops)
