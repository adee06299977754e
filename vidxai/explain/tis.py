"""Time importance scores (TIS) of TIEM (paper 002, Sec. 3.1, Eq. 1-4).

Temporal perturbation by window masking: for every window size ``w = 1..T`` and every start
``t' = 0..T-w`` the frames ``[t', t' + w)`` are replaced by the removed state (black in the
paper, Eq. 1), giving the masked video ``O^{w,t'}``. Then

* Eq. 2: ``p^{w,t'} = Phi(X) - Phi(O^{w,t'})``, the drop of the score when the window is
  hidden, normalised per window size by its sum over the starts (``p^w / sum(p^w)``, the
  appendix's Algorithm 1, line 13);
* Eq. 3: ``theta^w = sum_{t'} |p^{w,t'+1} - p^{w,t'}|`` (the total variation of the row; a
  size with a single start, ``w = T``, has ``theta = 0``), and the valid sizes
  ``C = {w : theta^w > alpha * max(theta)}``;
* Eq. 4: ``l_t`` = the mean of ``p^{w,t'}`` over the valid windows that contain frame ``t``;
  ``l`` is finally divided by its sum (Sec. 3.1, after Eq. 4).

All ``T (T + 1) / 2`` masked videos and the unmasked one are scored by the shared batched
engine :func:`vidxai.scoring.run_batches` (``T (T + 1) / 2 + 1`` evaluations in all).

Guards (the paper divides by sums that can vanish; we never return NaN or inf):

* **Window rows** (Eq. 2 normalisation). Let ``d`` be the raw drops of one window size.
  If every ``|d|`` is at most ``1e-6`` times the score scale (``max |Phi|`` over all rows,
  at least 1e-12), the model does not react to these windows: the row becomes uniform
  ``1 / (T - w + 1)`` (hence ``theta^w = 0``). Otherwise the row is shifted by its most
  negative drop, ``d' = d - min(0, min d)``, and divided by its sum, ``d' / sum(d')``. When
  every drop is non-negative (hiding frames never raises the score, the case the paper
  describes) this is exactly the paper's ``p^w / sum(p^w)``. When some drops are negative
  (hiding those frames raises the score), dividing by the signed sum could flip the ranking
  (a negative sum) or blow the row up (a sum near 0); the shift keeps the order of the
  windows (a larger drop = more important), makes the row non-negative with a positive sum,
  and is continuous in ``d`` (a tiny negative drop from rounding changes the row by a tiny
  amount). A row whose shifted values are all 0 (all drops equal) becomes uniform.
* **No valid size** (``max(theta) = 0``: no window size shows any temporal variation, e.g. a
  model that ignores the video or one that is invariant to which frames are hidden): the
  TIS is uniform ``1 / T`` and ``valid_sizes`` is empty.
* **TIS normalisation**: the window rows are non-negative, so ``l`` is non-negative and,
  over valid sizes (``theta > 0``), not all 0; ``l / sum(l)`` is taken as in the paper, with
  the same shift / uniform fallback as a window row should the sum vanish anyway. ``tis``
  therefore always sums to 1, is non-negative and finite (ready for TIEM's per-frame areas
  ``a * l_t * T * H * W``, Eq. 7).
"""
from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from ..errors import ArgumentTypeError, check_float, check_video, describe
from ..removal import removed_video
from ..scoring import run_batches

FLAT_TOL = 1e-6    # drops below FLAT_TOL * score scale count as no reaction at all


@dataclass(frozen=True)
class TimeImportance:
    """Result of :func:`time_importance` (paper 002, Eq. 1-4).

    ``tis``: ``(T,)`` time importance score ``l`` of every frame, summing to 1.
    ``windows``: ``(T, T)`` window importances; ``windows[w - 1, t']`` is the normalised
    ``p^{w,t'}`` of the window of size ``w`` starting at frame ``t'`` (0-based), and 0 where
    that window does not exist (``t' > T - w``).
    ``theta``: ``(T,)`` total variation ``theta^w`` of each window size (index ``w - 1``).
    ``valid_sizes``: the window sizes ``w`` (1-based lengths) in ``C``, ascending.
    ``alpha``: the filtering ratio used. ``n_evals``: model evaluations, ``T (T+1)/2 + 1``.
    """

    tis: np.ndarray
    windows: np.ndarray
    theta: np.ndarray
    valid_sizes: tuple
    alpha: float
    n_evals: int


def window_rows(t: int) -> np.ndarray:
    """``(1 + T (T+1)/2, 2)`` int32 rows ``(start, stop)`` of the hidden frames: first the
    empty window (the unmasked video), then every window ordered by size, then by start."""
    rows = [(0, 0)]
    for w in range(1, t + 1):
        rows.extend((s, s + w) for s in range(t - w + 1))
    return np.asarray(rows, dtype=np.int32)


def _window_masks(rows, aux, static):
    """Masks ``(B, T, H, W)``: 0 on the frames ``[start, stop)`` of each row, 1 elsewhere."""
    del aux
    t, h, w = static
    frame = jnp.arange(t)
    hidden = (frame[None, :] >= rows[:, :1]) & (frame[None, :] < rows[:, 1:2])
    keep = (~hidden).astype(jnp.float32)
    return jnp.broadcast_to(keep[:, :, None, None], (rows.shape[0], t, h, w))


def _normalise(d: np.ndarray, flat_scale: float) -> np.ndarray:
    """Shift a vector to a non-negative minimum (only if it has negative entries) and divide
    by its sum; uniform when it is flat (see the module docstring)."""
    n = d.size
    if np.max(np.abs(d)) <= FLAT_TOL * flat_scale:
        return np.full(n, 1.0 / n)
    shifted = d - min(0.0, float(d.min()))
    total = shifted.sum()
    if total <= 0.0:
        return np.full(n, 1.0 / n)
    return shifted / total


def importance_from_scores(phi0: float, masked: np.ndarray, t: int, alpha: float):
    """TIS, window table, theta and valid sizes from the scores (Eq. 2-4).

    ``masked`` holds ``Phi(O^{w,t'})`` in the order of :func:`window_rows` (without the
    unmasked row). Pure NumPy (float64); used by :func:`time_importance`.
    """
    masked = np.asarray(masked, dtype=np.float64)
    scale = max(abs(float(phi0)), float(np.max(np.abs(masked))) if masked.size else 0.0, 1e-12)
    windows = np.zeros((t, t))
    theta = np.zeros(t)
    pos = 0
    for w in range(1, t + 1):
        n = t - w + 1
        drops = float(phi0) - masked[pos:pos + n]
        pos += n
        row = _normalise(drops, scale)
        windows[w - 1, :n] = row
        theta[w - 1] = np.abs(np.diff(row)).sum()
    top = theta.max()
    valid = tuple(int(w) for w in np.flatnonzero(theta > alpha * top) + 1) if top > 0 else ()
    if not valid:
        return np.full(t, 1.0 / t), windows, theta, ()
    sums, counts = np.zeros(t), np.zeros(t)
    for w in valid:
        for start in range(t - w + 1):
            sums[start:start + w] += windows[w - 1, start]
            counts[start:start + w] += 1
    tis = _normalise(sums / counts, 1.0)
    return tis, windows, theta, valid


def check_alpha(alpha) -> float:
    """The window-size filter ratio ``alpha`` of Eq. 3, in [0, 1)."""
    return check_float(alpha, "alpha", 0.0, 1.0, open_high=True)


def time_importance(f, video, *, alpha=0.8, removed=None, batch_size=32,
                    progress=False) -> TimeImportance:
    """Time importance scores of TIEM (paper 002, Eq. 1-4) for the score function ``f``.

    Every window of consecutive frames is hidden (Eq. 1), the score drops are normalised per
    window size (Eq. 2), the sizes whose drops vary most along time are kept (Eq. 3) and
    each frame's score is the mean normalised drop of the kept windows containing it (Eq. 4).

    ``f`` maps ``(B, T, H, W, C)`` to ``(B,)``; ``video`` is ``(T, H, W, C)`` in [0, 1].
    ``alpha`` in [0, 1) filters the window sizes (Eq. 3; 0.8 in the paper). ``removed`` is
    what hidden frames show: a :class:`~vidxai.removal.Removal` or a video of the same shape
    (default black, Eq. 1). The ``T (T + 1) / 2`` masked videos and the original are scored
    in chunks of ``batch_size``; ``progress`` shows a progress bar. See the module docstring
    for the guards against vanishing or negative normalising sums (never NaN). Returns a
    :class:`TimeImportance`.

    References:

    * Anonymous authors. TIEM: Enhancing Explanation of Video Prediction via Temporal
      Dynamics-Focused Dual Perturbation. Under double-blind review, 2024.
    """
    if not callable(f):
        raise ArgumentTypeError("f", "a score function (B, T, H, W, C) -> (B,)", describe(f))
    return scored_time_importance(f, check_video(video), check_alpha(alpha), removed=removed,
                                  batch_size=batch_size, progress=progress)


def scored_time_importance(f, video, alpha: float, *, removed, batch_size,
                           progress) -> TimeImportance:
    """:func:`time_importance` for an already validated float32 ``video`` and ``alpha`` (the
    callers that validated them, such as TIEM, use this; ``removed`` and ``batch_size`` are
    checked here, where they are used)."""
    removed = removed_video(removed, video)
    t, h, w = video.shape[:3]
    rows = window_rows(t)
    scores = run_batches(f, video, removed, _window_masks, rows, (), (t, h, w),
                         batch_size=batch_size, progress=progress, desc="TIS window maskings")
    tis, windows, theta, valid = importance_from_scores(float(scores[0]), scores[1:], t, alpha)
    return TimeImportance(
        tis=tis.astype(np.float32),
        windows=windows.astype(np.float32),
        theta=theta.astype(np.float32),
        valid_sizes=valid,
        alpha=alpha,
        n_evals=int(len(rows)),
    )
