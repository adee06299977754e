"""How TIEM's time importance scores (TIS) are computed (paper 002, Sec. 3.1, Eq. 1-4): the
window maskings behind :func:`~vidxai.explain.extremal.tis.time_importance` and TIEM.

Temporal perturbation by window masking: for every window size ``w = 1..T`` and every start
``t' = 0..T-w`` the frames ``[t', t' + w)`` are replaced by the removed state (black in the
paper, Eq. 1), giving the masked video ``O^{w,t'}``. Then

* Eq. 2: ``p^{w,t'} = Phi(X) - Phi(O^{w,t'})``, the drop of the score when the window is
  hidden, normalised per window size by its sum over the starts (``p^w / sum(p^w)``, the
  appendix's Algorithm 1, line 13; negative drops: ``negative_drops`` below);
* Eq. 3: ``theta^w = sum_{t'} |p^{w,t'+1} - p^{w,t'}|`` (the total variation of the row; a
  size with a single start, ``w = T``, has ``theta = 0``), and the valid sizes
  ``C = {w : theta^w > alpha * max(theta)}``;
* Eq. 4: ``l_t`` = the mean of ``p^{w,t'}`` over the valid windows that contain frame ``t``;
  ``l`` is finally divided by its sum (Sec. 3.1, after Eq. 4).

All ``T (T + 1) / 2`` masked videos and the unmasked one are scored by the shared batched
engine :func:`vidxai.scoring.run_batches` (``T (T + 1) / 2 + 1`` evaluations in all).

Two settings where the paper's pseudocode (appendix A, Algorithm 1) and its equations
differ, or where the paper leaves a case open, are switches:

* ``window_span``: ``"w"`` (default) hides the ``w`` frames ``[t', t' + w)`` of Eq. 1 and
  counts a window as containing exactly those frames in Eq. 4; ``"w+1"`` follows Algorithm 1,
  whose loops (lines 8-9 and 21-23) run from ``t'`` to ``t' + w`` inclusive, i.e. hide
  ``w + 1`` frames (clipped at the last frame) and credit them all. The default follows the
  equations: with ``w + 1`` no window hides a single frame, so a one-frame event is never
  measured on its own.
* ``negative_drops``: how a window row with negative drops (hiding those frames *raises*
  the score) is normalised. ``"signed"`` is Algorithm 1, line 13: ``p^w / sum(p^w)`` with
  the signs kept. ``"clip"`` (default) sets negative drops to 0 before that division: a
  window whose removal raises the score counts as unimportant, the positive drops keep their
  proportions, and no division by a small or negative signed sum can flip the ranking or
  blow the row up. ``"shift"`` (vidxai 0.2) subtracts the most negative drop from the whole
  row; it also never flips, but it lifts every window by that amount, so with one strongly
  negative window the irrelevant frames get a large share (drops (.5, .5, -.4, 0, 0) give
  (.35, .35, 0, .15, .15)). All three agree with the paper whenever no drop is negative.

Guards (the paper divides by sums that can vanish; we never return NaN or inf):

* **Flat rows.** If every ``|d|`` of a window size's raw drops ``d`` is at most ``1e-6``
  times the score scale (``max |Phi|`` over all rows, at least 1e-12), the model does not
  react to these windows: the row becomes uniform ``1 / (T - w + 1)`` (hence
  ``theta^w = 0``). A row whose clipped or shifted drops sum to 0 also becomes uniform.
* **Signed rows.** With ``"signed"``, a row whose signed sum is not positive (at most the
  flat tolerance) cannot be normalised as the paper does; it falls back to ``"clip"``. The
  window sizes where a guard acted are listed in ``TimeImportance.guarded``.
* **No valid size** (``max(theta) = 0``: no window size shows any temporal variation, e.g. a
  model that ignores the video or one that is invariant to which frames are hidden): the
  TIS is uniform ``1 / T`` and ``valid_sizes`` is empty.
* **TIS normalisation**: ``l / sum(l)`` as in the paper. Signed rows can make some ``l_t``
  negative; those are set to 0 first (a frame cannot keep a negative number of pixels in
  TIEM's Eq. 5). ``tis`` therefore always sums to 1, is non-negative and finite (ready for
  TIEM's per-frame areas ``a * l_t * T * H * W``, Eq. 7).
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ...removal import removed_video
from ...scoring import run_batches
from .result import TimeImportance

__all__ = ["scored_time_importance", "importance_from_scores", "window_rows", "hidden_frames",
           "FLAT_TOL"]

FLAT_TOL = 1e-6    # drops below FLAT_TOL * score scale count as no reaction at all


def hidden_frames(start: int, w: int, t: int, span: str = "w") -> tuple[int, int]:
    """``(first, stop)``: the frames ``[first, stop)`` that the window of size ``w`` starting
    at ``start`` hides and contains: ``w`` frames (Eq. 1) or, with ``span="w+1"``,
    Algorithm 1's ``start .. start + w`` inclusive, clipped to the ``t`` frames."""
    return start, min(start + w + (span == "w+1"), t)


def window_rows(t: int, span: str = "w") -> np.ndarray:
    """``(1 + T (T+1)/2, 2)`` int32 rows ``(start, stop)`` of the hidden frames: first the
    empty window (the unmasked video), then every window ordered by size, then by start."""
    rows = [(0, 0)]
    for w in range(1, t + 1):
        rows.extend(hidden_frames(s, w, t, span) for s in range(t - w + 1))
    return np.asarray(rows, dtype=np.int32)


def _window_masks(rows, aux, static):
    """Masks ``(B, T, H, W)``: 0 on the frames ``[start, stop)`` of each row, 1 elsewhere."""
    del aux
    t, h, w = static
    frame = jnp.arange(t)
    hidden = (frame[None, :] >= rows[:, :1]) & (frame[None, :] < rows[:, 1:2])
    keep = (~hidden).astype(jnp.float32)
    return jnp.broadcast_to(keep[:, :, None, None], (rows.shape[0], t, h, w))


def _normalise(d: np.ndarray, flat_scale: float, negative: str = "clip"):
    """``(row, guarded)``: drops ``d`` divided by their sum after the ``negative`` rule
    (module docstring); uniform when flat. ``guarded`` says whether a guard acted."""
    n = d.size
    if np.max(np.abs(d)) <= FLAT_TOL * flat_scale:
        return np.full(n, 1.0 / n), True
    fallback = False
    if negative == "signed":
        total = d.sum()
        if total > FLAT_TOL * flat_scale:
            return d / total, False
        negative, fallback = "clip", True
    lifted = d - min(0.0, float(d.min())) if negative == "shift" else np.maximum(d, 0.0)
    total = lifted.sum()
    if total <= 0.0:
        return np.full(n, 1.0 / n), True
    return lifted / total, fallback


def importance_from_scores(phi0: float, masked: np.ndarray, t: int, alpha: float,
                           window_span: str = "w", negative_drops: str = "clip"):
    """TIS, window table, theta, valid sizes and guarded sizes from the scores (Eq. 2-4).

    ``masked`` holds ``Phi(O^{w,t'})`` in the order of :func:`window_rows` (without the
    unmasked row). Pure NumPy (float64); used by :func:`scored_time_importance`.
    """
    masked = np.asarray(masked, dtype=np.float64)
    scale = max(abs(float(phi0)), float(np.max(np.abs(masked))) if masked.size else 0.0, 1e-12)
    windows = np.zeros((t, t))
    theta = np.zeros(t)
    guarded = []
    pos = 0
    for w in range(1, t + 1):
        n = t - w + 1
        drops = float(phi0) - masked[pos:pos + n]
        pos += n
        row, guard = _normalise(drops, scale, negative_drops)
        if guard:
            guarded.append(w)
        windows[w - 1, :n] = row
        theta[w - 1] = np.abs(np.diff(row)).sum()
    top = theta.max()
    valid = tuple(int(w) for w in np.flatnonzero(theta > alpha * top) + 1) if top > 0 else ()
    if not valid:
        return np.full(t, 1.0 / t), windows, theta, (), tuple(guarded)
    sums, counts = np.zeros(t), np.zeros(t)
    for w in valid:
        for start in range(t - w + 1):
            first, stop = hidden_frames(start, w, t, window_span)
            sums[first:stop] += windows[w - 1, start]
            counts[first:stop] += 1
    tis, _ = _normalise(sums / counts, 1.0, "clip")
    return tis, windows, theta, valid, tuple(guarded)


def scored_time_importance(f, video, alpha: float, *, removed, batch_size, progress,
                           window_span="w", negative_drops="clip") -> TimeImportance:
    """:func:`~.tis.time_importance` for an already validated float32 ``video``, ``alpha`` and
    switches (the callers that validated them, such as TIEM, use this; ``removed`` and
    ``batch_size`` are checked here, where they are used)."""
    removed = removed_video(removed, video)
    t, h, w = video.shape[:3]
    rows = window_rows(t, window_span)
    scores = run_batches(f, video, removed, _window_masks, rows, (), (t, h, w),
                         batch_size=batch_size, progress=progress, desc="TIS window maskings")
    tis, windows, theta, valid, guarded = importance_from_scores(
        float(scores[0]), scores[1:], t, alpha, window_span, negative_drops)
    return TimeImportance(
        tis=tis.astype(np.float32),
        windows=windows.astype(np.float32),
        theta=theta.astype(np.float32),
        valid_sizes=valid,
        alpha=alpha,
        n_evals=int(len(rows)),
        window_span=window_span,
        negative_drops=negative_drops,
        guarded=guarded,
    )
