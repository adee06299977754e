"""Shared set-up of the removal-based methods: validation, trust measures, the Explanation."""
from __future__ import annotations

import warnings

import numpy as np

from ..errors import ArgumentTypeError, ExplanationWarning, check_video, describe
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
          rank_deficient: bool = False) -> dict:
    """Meta entries saying how much to trust a map: the scores of the full and the fully
    removed video, the surrogate's weighted R^2, the spread of the sampled scores, and
    ``warnings`` (also issued as :class:`~vidxai.errors.ExplanationWarning`) when the fit is
    poor (R^2 < 0.1), the scores hardly vary (all within 1% of the score's magnitude) or the
    samples do not determine every feature's weight (``rank_deficient``)."""
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
    for message in meta["warnings"]:
        warnings.warn(message, ExplanationWarning, stacklevel=3)
    return meta
