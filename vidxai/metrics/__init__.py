"""Evaluation stage: how faithful is an explanation, and how far can a metric be trusted.

Modules: :mod:`.curves` (insertion / deletion games, ``auc``, minimal masks), :mod:`.units`
(what moves together in a game, and in which order), :mod:`.protocols` (the papers' settings
as named presets), :mod:`.reliability` (paper 004's alpha), :mod:`.pointing` (pointing games
against known regions or boxes), :mod:`.studies` (methods x videos: :func:`study`), with
:mod:`.summary` (means, intervals, beating random, alpha per metric) and :mod:`.report`
(plots and the HTML page); sanity and robustness: :mod:`.sanity` (model-parameter
randomisation, random logit, infidelity, max-sensitivity), :mod:`.road_curves` (ROAD with
spatio-temporal imputation), :mod:`.frames` (frame discarding), and :mod:`.map_metrics` (the
study's per-map metrics). ``from vidxai import metrics; metrics.insertion(...)``
reaches every public name below.
"""
from __future__ import annotations

from .curves import (AUC_RULES, GAMES, LEVELS, ORDERS, SCHEDULES, TIES, Curve, auc, games,
                     check_thresholds, deletion, insertion, minimal_mask)
from .pointing import (PointingResult, pointing_game, temporal_pointing_game,
                       whitebox_pointing_ceiling, whitebox_pointing_game)
from .protocols import PROTOCOLS, STEP_MEAN_RGB, Protocol, ProtocolScore, protocol
from .reliability import CONVENTIONS, NO_WEIGHT, reliability
from .studies import CURVE_METRICS, STUDY_METRICS, StudyResult, format_summary, study
from .summary import bootstrap_interval, reliability_by_metric, summarise
from .frames import (FRAME_ORDERS, FrameDiscarding, discarding, drop_order, frame_totals,
                     subset_value)
from .map_metrics import DIRECTIONS, MAP_METRICS, MapContext
from .road_curves import ROAD_FRACTIONS, ROAD_ORDERS, RoadCurve, RoadResult, removal_masks, road
from .sanity import (RANDOMISATION_ORDERS, SIMILARITIES, RandomisationResult, RandomLogitResult,
                     explainer, infidelity, max_sensitivity, plot_randomisation, random_logit,
                     randomisation, randomise, spearman, ssim)
from .units import (AGGREGATES, UNITS, per_frame, rank_units, tie_boundaries, unit_labels,
                    unit_values)

__all__ = ["Curve", "insertion", "deletion", "games", "minimal_mask", "auc", "check_thresholds",
           "ORDERS", "GAMES", "TIES", "SCHEDULES", "AUC_RULES", "LEVELS",
           "UNITS", "AGGREGATES", "unit_labels", "unit_values", "rank_units", "per_frame",
           "tie_boundaries",
           "Protocol", "ProtocolScore", "protocol", "PROTOCOLS", "STEP_MEAN_RGB",
           "reliability", "CONVENTIONS", "study", "StudyResult", "STUDY_METRICS",
           "CURVE_METRICS", "format_summary", "summarise", "reliability_by_metric",
           "bootstrap_interval", "NO_WEIGHT",
           "randomisation", "randomise", "random_logit", "RandomisationResult",
           "RandomLogitResult", "explainer", "plot_randomisation", "spearman", "ssim",
           "SIMILARITIES", "RANDOMISATION_ORDERS", "infidelity", "max_sensitivity",
           "road", "RoadResult", "RoadCurve", "ROAD_FRACTIONS", "ROAD_ORDERS", "removal_masks",
           "discarding", "FrameDiscarding", "FRAME_ORDERS", "frame_totals", "drop_order",
           "subset_value", "MAP_METRICS", "MapContext", "DIRECTIONS",
           "PointingResult", "pointing_game", "temporal_pointing_game",
           "whitebox_pointing_game", "whitebox_pointing_ceiling"]
