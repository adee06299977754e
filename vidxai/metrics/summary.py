"""What a study's tidy table says: per method and metric the mean over videos with a
bootstrap 95% interval, the share of videos where the method beats the random map, and the
metric's reliability alpha (paper 004, "Spatio-Temporal Perturbations for Video
Attribution", Eq. 20-21).

The tidy table has one row per (video, method, metric, protocol, unit) and a ``value``
column (see :func:`vidxai.metrics.study`). Which direction is better is a property of the
metric (:data:`LOWER_IS_BETTER`): a lower deletion AUC is better, a higher insertion AUC.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..errors import ArgumentError, ExplanationWarning
from .map_metrics import DIRECTIONS

__all__ = ["summarise", "reliability_by_metric", "bootstrap_interval", "LOWER_IS_BETTER",
           "RANDOM", "BOOTSTRAP_RESAMPLES"]

RANDOM = "random"               # the method every metric is compared with
LOWER_IS_BETTER = {"deletion": True, "insertion": False, **DIRECTIONS}
BOOTSTRAP_RESAMPLES = 2000      # percentile bootstrap over videos, fixed seed (reproducible)
KEYS = ["metric", "protocol", "unit"]


def bootstrap_interval(values, *, level: float = 0.95, resamples: int = BOOTSTRAP_RESAMPLES,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (resampling videos with
    replacement; ``seed`` fixes the draws). One value: the interval is that value."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        raise ArgumentError("values", "at least one finite value", "none")
    if x.size == 1:
        return float(x[0]), float(x[0])
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, (resamples, x.size))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def _beats(a: np.ndarray, r: np.ndarray, lower: bool) -> np.ndarray:
    return a < r if lower else a > r


def summarise(table):
    """Per (method, metric, protocol, unit): ``n`` videos, ``mean``, ``ci_low`` /
    ``ci_high`` (bootstrap 95%), and ``beats_random``: the share of videos where the method
    is strictly better than the random map on the same video (paper 004's criterion; empty
    for the random map itself and for metrics without a direction)."""
    import pandas as pd

    rows = []
    for (method, metric, protocol, unit), group in table.groupby(["method", *KEYS], sort=False):
        values = group["value"].to_numpy(np.float64)
        finite = values[np.isfinite(values)]
        low, high = bootstrap_interval(finite) if finite.size else (np.nan, np.nan)
        rows.append({"method": method, "metric": metric, "protocol": protocol, "unit": unit,
                     "n": int(finite.size), "mean": float(finite.mean()) if finite.size else
                     np.nan, "ci_low": low, "ci_high": high,
                     "beats_random": _beats_share(table, group, method, metric)})
    return pd.DataFrame(rows)


def _beats_share(table, group, method, metric):
    if method == RANDOM or metric not in LOWER_IS_BETTER:
        return np.nan
    first = group.iloc[0]
    same = table["method"] == RANDOM
    for column in KEYS:
        same &= table[column] == first[column]
    random_values = table[same].set_index("video")["value"]
    mine = group.set_index("video")["value"]
    both = mine.index.intersection(random_values.index)
    if len(both) == 0:
        return np.nan
    wins = _beats(mine[both].to_numpy(), random_values[both].to_numpy(),
                  LOWER_IS_BETTER[metric])
    return float(np.mean(wins))


def reliability_by_metric(table, *, convention: str = "paper") -> dict:
    """Alpha (paper 004 Eq. 20-21) of every (metric, protocol, unit) with a direction, over
    the videos where every method and the random map have a value; ``None`` (with an
    :class:`~vidxai.errors.ExplanationWarning`) when the table has no random map, fewer than
    two methods besides it, or fewer than two complete videos."""
    from .reliability import reliability

    out = {}
    for keys, group in table.groupby(KEYS, sort=False):
        metric = keys[0]
        if metric not in LOWER_IS_BETTER:
            continue
        wide = group.pivot_table(index="video", columns="method", values="value",
                                 aggfunc="first").dropna()
        methods = [m for m in wide.columns if m != RANDOM]
        name = "/".join(str(k) for k in keys)
        if RANDOM not in wide.columns or len(methods) < 2 or len(wide) < 2:
            warnings.warn(f"reliability of {name}: needs the random map, two other methods "
                          "and two complete videos", ExplanationWarning, stacklevel=2)
            out[name] = None
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            alpha = reliability(wide[methods].to_numpy(), wide[RANDOM].to_numpy(),
                                lower_is_better=LOWER_IS_BETTER[metric], convention=convention)
        for w in caught:
            warnings.warn(f"reliability of {name}: {w.message}", w.category, stacklevel=2)
        out[name] = float(alpha)
    return out
