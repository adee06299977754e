"""Extremal-perturbation masks for video (papers 004 and 002).

The methods :func:`ep2d`, :func:`ep3d`, :func:`step`, :func:`tiem`, :func:`tiem_lk` and
:func:`smallest_area` (:mod:`.methods`); TIEM's time importance scores as a method of their
own, :func:`time_importance` (:mod:`.tis`). Inside: every setting, its default, validation,
derivation from the video's size and ``meta`` record (:mod:`.settings`); the objective and
its optimisation loops (:mod:`.objective`); the run (:mod:`.solver`); the window maskings
of the time importance scores (:mod:`.windows`); the results (:mod:`.result`).
"""
from .methods import ep2d, ep3d, smallest_area, step, tiem, tiem_lk
from .result import ExtremalResult, TimeImportance
from .settings import LINEAR_REWARD_GAIN, MAP_SIGMA, Settings, default_optimizer
from .tis import time_importance

__all__ = ["ep2d", "ep3d", "step", "tiem", "tiem_lk", "smallest_area", "time_importance",
           "ExtremalResult", "TimeImportance", "Settings", "default_optimizer",
           "LINEAR_REWARD_GAIN", "MAP_SIGMA"]
