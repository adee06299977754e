"""The results of the extremal family (papers 004 and 002): :class:`ExtremalResult`, the
optimised masks per area, their preserved scores and pictures of both, and
:class:`TimeImportance`, TIEM's time importance scores."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import ArgumentError, check_int, check_video, describe
from ...explanation import Explanation

__all__ = ["ExtremalResult", "TimeImportance"]


def _readonly(value, dtype=np.float32):
    if value is None:
        return None
    arr = np.array(value, dtype=dtype)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False, kw_only=True)
class ExtremalResult(Explanation, kind="extremal"):
    """Masks and summary of an extremal-perturbation run (an :class:`~vidxai.Explanation`).

    ``weights`` is empty and ``segmentation`` is ``None`` (masks have no discrete features).
    ``map (T, H, W)``: the sum of the area masks, blurred per frame by a Gaussian of sigma
    ``meta["map_sigma"]`` (paper 004's 10 px at 112 px, scaled with the frame), divided by
    its max. ``n_evals``: videos the model scored,
    ``iterations * A + 1 + A``: a forward + backward pass per iteration and area, the base
    score ``Phi(X)`` (on the eager path with the backward pass that checks ``f``) and the
    ``A`` final preserved scores; plus, for TIEM when it computes them, the
    ``T (T + 1) / 2 + 1`` forward passes of the time importance scores.

    ``masks (A, T, H, W)``: the optimised masks in [0, 1], one per area in ``areas``;
    ``scores (A,)``: ``Phi(M_a (x) X)``, the preserved score per area; ``base_score``:
    ``Phi(X)``; ``history (iterations, A)``: the objective per iteration and area; ``tis
    (T,)``: TIEM's time importance scores; ``areas_t (A, T)``: the per-frame areas (TIEM and
    EP-2D); ``windows (T, T)``: TIEM's window importances. Absent ones are ``None``.
    """

    masks: np.ndarray
    areas: tuple
    scores: np.ndarray
    base_score: float
    history: np.ndarray
    tis: np.ndarray | None = None
    areas_t: np.ndarray | None = None
    windows: np.ndarray | None = None

    def __post_init__(self):
        super().__post_init__()
        kept = _readonly(self.masks)
        if kept.ndim != 4 or kept.shape[1:] != self.map.shape:
            raise ArgumentError("masks", f"an (A, T, H, W) array with (T, H, W) = {self.map.shape}",
                                describe(kept))
        object.__setattr__(self, "masks", kept)
        object.__setattr__(self, "areas", tuple(float(a) for a in self.areas))
        if len(self.areas) != kept.shape[0]:
            raise ArgumentError("areas", f"{kept.shape[0]} areas, one per mask", self.areas)
        object.__setattr__(self, "base_score", float(self.base_score))
        for name in ("scores", "history", "tis", "areas_t", "windows"):
            object.__setattr__(self, name, _readonly(getattr(self, name)))

    def area_index(self, area) -> int:
        """Position of ``area`` (one of :attr:`areas`) in :attr:`masks`."""
        hits = [i for i, a in enumerate(self.areas) if np.isclose(a, float(area))]
        if not hits:
            raise ArgumentError("area", f"one of the optimised areas {list(self.areas)}", area)
        return hits[0]

    # ------------------------------------------------------------------ pictures
    def to_video(self, video, area=None, *, cmap="jet", alpha=0.5, positive_only=True, fps=8):
        """A :class:`~vidxai.viz.Clip`. With ``area`` (one of :attr:`areas`): ``video``
        multiplied by that area's mask, so the kept region shows and the rest is darkened
        (the perturbation's preserved content). Without: the summed map over ``video`` (the
        base class overlay; ``cmap``, ``alpha`` and ``positive_only`` apply to it)."""
        if area is None:
            return super().to_video(video, cmap=cmap, alpha=alpha, positive_only=positive_only,
                                    fps=fps)
        from ... import viz

        i = self.area_index(area)
        frames = _float_frames(video, self.map.shape)
        return viz.Clip(frames * self.masks[i][..., None], fps=fps,
                        caption=f"{self.method}: area {self.areas[i]:g}, "
                                f"score {float(self.scores[i]):.4g}")

    def plot(self, video=None, *, max_frames=8, title=None):
        """A matplotlib Figure: one row per area, one column per shown frame (``max_frames``
        evenly spaced frames when there are more), each cell the mask (or, with ``video``,
        the video under the mask); each row is labelled with its area and preserved score."""
        import matplotlib.pyplot as plt

        max_frames = check_int(max_frames, "max_frames", minimum=1)
        t = self.map.shape[0]
        shown = np.unique(np.round(np.linspace(0, t - 1, min(t, max_frames))).astype(int))
        frames = None if video is None else _float_frames(video, self.map.shape)
        rows, cols = len(self.areas), len(shown)
        fig, axes = plt.subplots(rows, cols, squeeze=False,
                                 figsize=(1.3 * cols + 1.2, 1.3 * rows + 0.6))
        for r, (area, score) in enumerate(zip(self.areas, self.scores)):
            for c, frame in enumerate(shown):
                ax = axes[r, c]
                if frames is None:
                    ax.imshow(self.masks[r, frame], cmap="gray", vmin=0.0, vmax=1.0)
                else:
                    ax.imshow(frames[frame] * self.masks[r, frame][..., None])
                ax.set_xticks([]), ax.set_yticks([])
                if r == 0:
                    ax.set_title(f"frame {frame}", fontsize=7)
            axes[r, 0].set_ylabel(f"area {area:g}\nscore {float(score):.3g}", fontsize=7)
        fig.suptitle(title or f"{self.method}: masks per area (whole video score "
                              f"{self.base_score:.3g})", fontsize=9)
        return fig


def _float_frames(video, shape) -> np.ndarray:
    """float32 RGB ``(T, H, W, 3)`` in [0, 1] from a float or uint8 ``video`` of ``shape``."""
    if hasattr(video, "dtype") and np.dtype(video.dtype) == np.uint8:
        video = np.asarray(video, np.float32) / 255.0
    frames = check_video(video)
    if frames.shape[:3] != tuple(shape):
        raise ArgumentError("video", f"a video of {tuple(shape)} frames x pixels (the masks')",
                            describe(frames))
    return np.repeat(frames, 3, axis=-1) if frames.shape[-1] == 1 else frames


@dataclass(frozen=True)
class TimeImportance:
    """Result of :func:`~vidxai.explain.extremal.tis.time_importance` (paper 002, Eq. 1-4).

    ``tis``: ``(T,)`` time importance score ``l`` of every frame, summing to 1.
    ``windows``: ``(T, T)`` window importances; ``windows[w - 1, t']`` is the normalised
    ``p^{w,t'}`` of the window of size ``w`` starting at frame ``t'`` (0-based), and 0 where
    that window does not exist (``t' > T - w``).
    ``theta``: ``(T,)`` total variation ``theta^w`` of each window size (index ``w - 1``).
    ``valid_sizes``: the window sizes ``w`` (1-based lengths) in ``C``, ascending.
    ``alpha``: the filtering ratio used. ``n_evals``: model evaluations, ``T (T+1)/2 + 1``.
    ``window_span``, ``negative_drops``: the settings used (module docstring);
    ``guarded``: the window sizes whose rows a guard made uniform or clipped.
    """

    tis: np.ndarray
    windows: np.ndarray
    theta: np.ndarray
    valid_sizes: tuple
    alpha: float
    n_evals: int
    window_span: str = "w"
    negative_drops: str = "clip"
    guarded: tuple = ()
