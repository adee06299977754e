"""How far a faithfulness metric can be trusted: the reliability alpha of "Spatio-Temporal
Perturbations for Video Attribution" (paper 004, Sec. IV-B, Eq. 20-21).

A metric (e.g. the insertion AUC under one protocol) scores ``M`` methods on ``N`` videos,
``A (N, M)``, and a random map on each video, ``r (N,)``. A video's weight ``w_p`` is the
share of methods that beat the random map on it (Axiom 1: a sensible method beats random);
alpha is the ``w_p w_q``-weighted mean, over all pairs of videos ``p < q``, of the Spearman
rank correlation between their rows (Axiom 2: the methods' ranking is consistent across
videos). A reliable metric has alpha near 1.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import rankdata

from ..errors import ArgumentError, ArgumentTypeError, ExplanationWarning, check_choice, describe
from . import _checks

__all__ = ["reliability", "CONVENTIONS", "NO_WEIGHT"]

CONVENTIONS = ("paper", "code")
NO_WEIGHT = -1.0
"""alpha when no pair of videos has a weight above zero (no method beats random anywhere,
or a single video): the least reliable value, as the STEP code's formula also gives."""


def _spearman_matrix(rows: np.ndarray) -> np.ndarray:
    """Spearman correlation between every pair of rows (average ranks for ties; Pearson of
    the ranks). A row whose entries are all equal has no ranking: its correlations are 0."""
    ranks = rankdata(rows, axis=1)
    centred = ranks - ranks.mean(axis=1, keepdims=True)
    norms = np.sqrt((centred ** 2).sum(axis=1))
    safe = np.where(norms > 0, norms, 1.0)
    unit = centred / safe[:, None]
    rho = unit @ unit.T
    rho[(norms == 0)[:, None] | (norms == 0)[None, :]] = 0.0
    return np.clip(rho, -1.0, 1.0)


def reliability(A, r, *, lower_is_better: bool = False, convention: str = "paper") -> float:
    """Reliability alpha of a metric (paper 004, Eq. 20-21).

    ``A``: ``(N videos, M methods)`` values of one metric; ``r``: ``(N,)`` the random map's
    values on the same videos. ``lower_is_better=True`` for metrics where smaller is better
    (deletion AUC): it gives exactly the alpha of ``(-A, -r)``.

    ``convention="paper"`` (default; Eq. 20-21): ``w_p = (1/M) #{m : A_pm > r_p}`` (strictly
    better counts as beating random), ``rho`` over the ``M`` methods only, and
    ``alpha = sum_{p<q} w_p w_q rho_pq / sum_{p<q} w_p w_q``.

    ``convention="code"`` (the STEP authors' released code): the random map is one more
    column of the rows that are correlated (``M + 1`` entries), a method tied with random
    counts as beating it (``w_p = (1/M) #{m : A_pm >= r_p}``, i.e. ``(M - rank of random) /
    M`` with ``M + 1`` columns), the ranking is reversed for lower-is-better metrics (as the
    code does for deletion), and ``alpha = sum w w (rho + 1) / (sum w w + 1e-10) - 1``.

    Spearman's rho uses average ranks for ties; a row with all entries equal has no
    ranking and correlates 0 with every row. When no pair has a weight above zero the
    result is :data:`NO_WEIGHT` (-1) with an :class:`~vidxai.ExplanationWarning`, never NaN.
    """
    check_choice(convention, "convention", CONVENTIONS)
    A = _checks.real_array(A, "A", "(N videos, M methods)")
    r = _checks.real_array(r, "r", "(N,) random-map values")
    if A.ndim != 2:
        raise ArgumentError("A", "a 2-D array (N videos, M methods)", describe(A))
    n, m = A.shape
    if r.shape != (n,):
        raise ArgumentError("r", f"a vector of shape ({n},): one random value per row of A",
                            describe(r))
    if m < (1 if convention == "code" else 2):
        raise ArgumentError("A", "at least 2 methods (columns) to rank", describe(A))
    if not isinstance(lower_is_better, (bool, np.bool_)):
        raise ArgumentTypeError("lower_is_better", "True or False", describe(lower_is_better))
    if lower_is_better:
        A, r = -A, -r
    if convention == "paper":
        w = (A > r[:, None]).mean(axis=1)
        rows = A
    else:
        w = (A >= r[:, None]).mean(axis=1)
        rows = np.concatenate([A, r[:, None]], axis=1)
    rho = _spearman_matrix(rows)
    p, q = np.triu_indices(n, k=1)
    ww = w[p] * w[q]
    total = float(ww.sum())
    if total <= 0.0:
        warnings.warn("reliability: no pair of videos has a weight above zero (no method beats "
                      f"the random map, or fewer than 2 videos); alpha = {NO_WEIGHT}",
                      ExplanationWarning, stacklevel=2)
        return NO_WEIGHT
    if convention == "paper":
        return float((ww * rho[p, q]).sum() / total)
    return float((ww * (rho[p, q] + 1.0)).sum() / (total + 1e-10) - 1.0)
