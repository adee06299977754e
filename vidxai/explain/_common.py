"""Shared set-up of the removal-based methods: validation, trust measures (including the
surrogate's fit on held-out coalitions), the Explanation."""
from __future__ import annotations

import math
import warnings

import jax
import numpy as np

from .. import surrogate
from ..errors import ArgumentTypeError, ExplanationWarning, check_int, check_video, describe
from ..explanation import Explanation
from ..removal import Removal, black
from ..segment import Segmentation


def prepare(f, video, segmentation=None, removal=None, *, segmented=True):
    """Validate the common arguments; returns ``(video float32, removal)``.

    ``segmented=False`` for methods without a segmentation (RISE, occlusion).
    """
    if not callable(f):
        raise ArgumentTypeError("f", "a score function (B, T, H, W, C) -> (B,)", describe(f))
    video = check_video(video)
    if segmented:
        if not isinstance(segmentation, Segmentation):
            raise ArgumentTypeError("segmentation", "a vidxai.Segmentation", describe(segmentation))
        segmentation.check_matches(video)
    removal = black() if removal is None else removal
    if not isinstance(removal, Removal):
        raise ArgumentTypeError("removal", "a vidxai.removal.Removal (e.g. removal.black())",
                                describe(removal))
    return video, removal


def with_rows(z, *extra) -> np.ndarray:
    """Append constant rows (True = all kept, False = all removed) to a coalition matrix."""
    z = np.asarray(z, dtype=bool)
    rows = [np.full((1, z.shape[1]), bool(v)) for v in extra]
    return np.concatenate([z] + rows)


def explanation(method, weights, segmentation, f, n_evals, removal, pixel_map=None, **meta):
    """Build the :class:`Explanation`; the map defaults to the weights painted on segments."""
    weights = np.asarray(weights, dtype=np.float32)
    if pixel_map is None:
        pixel_map = weights[segmentation.labels]
    meta = {k: (float(v) if isinstance(v, (np.floating, np.ndarray)) and np.ndim(v) == 0 else v)
            for k, v in meta.items()}
    meta["removal"] = removal.name
    if removal.edge_sigma:
        meta["edge_sigma"] = removal.edge_sigma
    return Explanation(weights=weights, segmentation=segmentation, map=np.asarray(pixel_map),
                       method=method, target=getattr(f, "target", None), n_evals=int(n_evals),
                       meta=meta)


POOR_FIT_R2 = 0.1       # weighted R^2 of the surrogate below this: the map explains little
FLAT_SPREAD = 0.01      # sampled scores spanning less than 1% of the score: no signal

# Held-out coalitions (LIME and Kernel SHAP). The in-sample R^2 of a surrogate with about as
# many weights as samples is near 1 whatever the model does (it interpolates), so the fit is
# also scored on fresh coalitions it did not use. Their number, by default 10% of the
# samples, at least 16 (an R^2 from fewer rows says little) and at most 64 (the extra model
# evaluations stay small: 6.4% of LIME's 1000 samples), rounded up to an even number (Kernel
# SHAP draws them as complement pairs). A held-out R^2 below 0.5 (the weights predict less
# than half of the scores' variation on new coalitions) is reported as poor.
HELDOUT_SHARE, HELDOUT_MIN, HELDOUT_MAX = 0.1, 16, 64
POOR_HELDOUT_R2 = 0.5
HELDOUT_TAG = 2**32 - 1  # fold_in datum of the held-out key; sample indices stay below 2^31


def heldout_key(key):
    """The key of the held-out coalitions: ``fold_in(key, 2^32 - 1)``, a datum no sample
    index reaches, so the fitted rows (``fold_in(key, i)``) are those of a run without
    held-out rows and the held-out ones are independent of them."""
    return jax.random.fold_in(key, HELDOUT_TAG)


def heldout_count(n_samples: int, n_heldout=None) -> int:
    """The number of held-out rows: ``n_heldout`` if given (0: none), else
    ``min(64, max(16, ceil(0.1 n_samples)))``; rounded up to an even number."""
    if n_heldout is None:
        h = min(HELDOUT_MAX, max(HELDOUT_MIN, math.ceil(HELDOUT_SHARE * n_samples)))
    else:
        h = check_int(n_heldout, "n_heldout", minimum=0, maximum=2**30)
    return h + h % 2


def row_mask(rows: int, offset: int, batch_size: int, start, stop) -> np.ndarray:
    """0/1 per chunk row: its global index ``offset + i`` lies in ``[start, stop)`` and it is
    a real row, not padding."""
    idx = offset + np.arange(batch_size)
    return ((idx >= start) & (idx < stop) & (np.arange(batch_size) < rows)).astype(np.float32)


def fit_stream(stream, gram, n_fit: int, batch_size: int, weigh, solve):
    """Fit a surrogate on a scored coalition stream, chunk by chunk.

    ``stream`` yields ``(rows, params, scores, offset)``; global row 0 is the video, row 1 the
    fully removed video (both kept in ``ends``, not fitted), rows ``2 .. n_fit + 1`` are the
    fitted samples (added to ``gram``) and any later rows are held out: once the first one
    arrives the fit ``solve(gram, ends)`` is made and scored on them
    (:class:`~vidxai.surrogate.HeldOut`). ``weigh(params)`` gives a chunk's ``(z, w)``.
    Returns ``(fit, ends, spread, heldout or None)``.
    """
    spread, ends, held = ScoreSpread(), {}, None
    for rows, params, y, offset in stream:
        z, w = weigh(params)
        w = np.asarray(w, np.float64)
        ends.update({offset + i: float(y[i]) for i in range(min(rows, 2 - offset))})
        y_full = np.zeros(batch_size, np.float32)
        y_full[:rows] = y
        keep = row_mask(rows, offset, batch_size, 2, 2 + n_fit)
        if keep.any():
            gram.add(z, y_full, w * keep)
            spread.add(y_full[keep > 0])
        out = row_mask(rows, offset, batch_size, 2 + n_fit, np.inf) > 0
        if out.any():
            if held is None:
                held = surrogate.HeldOut(solve(gram, ends))
            held.add(np.asarray(z)[out], y_full[out], w[out])
    return (held.fit if held else solve(gram, ends)), ends, spread, held


def heldout_meta(held, n_heldout: int, why_none: str | None = None) -> dict:
    """The held-out entries of ``meta["fit"]``: ``heldout_r2`` (float or None),
    ``heldout_n`` (rows scored) and ``heldout_note`` (why ``heldout_r2`` is None, else None)."""
    r2, note = held.r2() if held is not None else (None, why_none)
    return {"heldout_r2": r2, "heldout_n": int(held.n if held is not None else 0),
            "heldout_note": note}


class ScoreSpread:
    """Running summary (float64) of the sampled scores: count, min, max, mean, std."""

    def __init__(self):
        self.n, self.total, self.squares = 0, 0.0, 0.0
        self.low, self.high = np.inf, -np.inf

    def add(self, y) -> None:
        y = np.asarray(y, np.float64)
        if y.size:
            self.n += y.size
            self.total += float(y.sum())
            self.squares += float((y * y).sum())
            self.low, self.high = min(self.low, float(y.min())), max(self.high, float(y.max()))

    def summary(self) -> dict:
        if not self.n:
            return {"samples": 0}
        mean = self.total / self.n
        return {"samples": self.n, "min": self.low, "max": self.high, "mean": mean,
                "std": float(np.sqrt(max(self.squares / self.n - mean * mean, 0.0)))}


def trust(full: float, empty: float, spread: ScoreSpread | None = None, r2=None,
          rank_deficient: bool = False, heldout: dict | None = None,
          features: int | None = None) -> dict:
    """Meta entries saying how much to trust a map: the scores of the full and the fully
    removed video, the surrogate's weighted R^2, the spread of the sampled scores, the
    held-out entries of :func:`heldout_meta` (``heldout``), and ``warnings`` (also issued as
    :class:`~vidxai.errors.ExplanationWarning`) when the fit is poor (R^2 < 0.1), the scores
    hardly vary (all within 1% of the score's magnitude), the samples do not determine every
    feature's weight (``rank_deficient``), the fitted samples do not exceed the ``features``
    (while held-out rows exist, i.e. the fit is not exhaustive), or the held-out R^2 is
    below 0.5."""
    meta = {"score": float(full), "empty_score": float(empty), "warnings": []}
    if r2 is not None or spread is not None:
        meta["fit"] = {"r2": None if r2 is None else float(r2)}
    if spread is not None:
        meta["fit"].update(spread.summary())
        scale = max(abs(float(full)), abs(float(empty)), 1e-12)
        values = [float(full), float(empty)] + ([spread.low, spread.high] if spread.n else [])
        width = max(values) - min(values)
        if width < FLAT_SPREAD * scale:
            meta["warnings"].append(
                f"scores hardly vary: all {spread.n + 2} lie within {width:.3g} "
                f"(< {FLAT_SPREAD:.0%} of the score {scale:.3g}); the map carries no signal")
    if r2 is not None and r2 < POOR_FIT_R2:
        meta["warnings"].append(f"poor surrogate fit: weighted R^2 = {r2:.3f} < {POOR_FIT_R2} "
                                "(more samples or fewer features may help)")
    if rank_deficient:
        meta["warnings"].append("the samples do not determine every feature's weight "
                                "(rank-deficient design; minimum-norm weights): use more samples")
    if heldout is not None:
        meta.setdefault("fit", {}).update(heldout)
        meta["warnings"].extend(_heldout_warnings(heldout, r2, spread, features))
    for message in meta["warnings"]:
        warnings.warn(message, ExplanationWarning, stacklevel=3)
    return meta


def _heldout_warnings(heldout: dict, r2, spread, features) -> list:
    found, h2, n = [], heldout["heldout_r2"], heldout["heldout_n"]
    fitted = spread.n if spread is not None else 0
    shown = "none" if r2 is None else f"{r2:.3f}"
    if features is not None and n and fitted <= features:
        found.append(f"{fitted} samples for {features} features: the surrogate can fit them "
                     f"exactly, so its in-sample R^2 ({shown}) says nothing about the map; "
                     f"judge it by the held-out R^2 and use more than {features} samples")
    if h2 is not None and h2 < POOR_HELDOUT_R2:
        found.append(f"poor held-out fit: weighted R^2 = {h2:.3f} < {POOR_HELDOUT_R2} on {n} "
                     f"coalitions the fit did not use (in-sample {shown}): the weights do not "
                     "predict the model's scores on new coalitions; use more samples")
    return found


__all__ = ["prepare", "with_rows", "explanation", "trust", "ScoreSpread", "fit_stream",
           "heldout_key", "heldout_count", "heldout_meta", "row_mask", "POOR_FIT_R2",
           "FLAT_SPREAD", "POOR_HELDOUT_R2", "HELDOUT_SHARE", "HELDOUT_MIN", "HELDOUT_MAX"]
