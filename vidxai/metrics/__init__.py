"""Evaluation stage: how faithful is an explanation, and how far can a metric be trusted.

Modules: :mod:`.curves` (insertion / deletion games, minimal masks), :mod:`.units` (what moves
together in a game, and in which order), :mod:`.pointing` (pointing games against known
regions or boxes). ``from vidxai import metrics; metrics.insertion(...)`` reaches every
public name below.
"""
from __future__ import annotations

from .curves import GAMES, ORDERS, Curve, check_thresholds, deletion, insertion, minimal_mask
from .pointing import (PointingResult, pointing_game, temporal_pointing_game,
                       whitebox_pointing_ceiling, whitebox_pointing_game)
from .units import rank_units, unit_labels

__all__ = ["Curve", "insertion", "deletion", "minimal_mask", "check_thresholds", "ORDERS",
           "GAMES", "unit_labels", "rank_units", "PointingResult", "pointing_game",
           "temporal_pointing_game", "whitebox_pointing_game", "whitebox_pointing_ceiling"]
