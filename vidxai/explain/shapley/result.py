"""The result of an Element Shapley Value computation (paper 003), class-contrastive ESVs and
the frame-strip plot (thumbnails with ESV bars underneath, as in the paper's Fig. 1-2)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import ArgumentError, ArgumentTypeError, check_int, describe
from ...explanation import Explanation
from ...segment import frames as frame_segmentation

__all__ = ["ESVResult", "contrastive"]

SUPPORTING = "#2b6cb0"   # phi > 0: the frame raises the class score (paper 003, Sec. 2.3)
DISTRACTING = "#dd6b20"  # phi <= 0: the frame lowers (or does not raise) it
MAX_THUMBS = 32          # thumbnails drawn by plot() unless ``cols`` says otherwise


def _frozen(name: str, value, dtype, shape: tuple) -> np.ndarray:
    """``value`` as a read-only array of ``dtype`` and exactly ``shape`` (finite if float)."""
    if value is None:
        raise ArgumentError(name, f"an array of shape {shape}", None)
    arr = np.array(value, dtype=dtype)
    if arr.shape != shape:
        raise ArgumentError(name, f"an array of shape {shape}", describe(arr))
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ArgumentError(name, "finite values", "NaN or inf entries")
    arr.setflags(write=False)
    return arr


def _check_values(values) -> np.ndarray:
    """Per-frame values ``(n, K)``, float64, finite."""
    arr = np.asarray(values if values is not None else np.zeros(0), np.float64)
    if arr.ndim != 2 or min(arr.shape) < 1:
        raise ArgumentError("values", "an array (n, K) of per-frame values", describe(arr))
    return _frozen("values", arr, np.float64, arr.shape)


@dataclass(frozen=True, eq=False)
class ESVResult(Explanation, kind="esv"):
    """Per-frame Element Shapley Values for the chosen classes, as an :class:`Explanation`.

    ``values``: float64 ``(n, K)``, ``values[i, k]`` = phi_i for class ``classes[k]``.
    ``classes``: int ``(K,)`` class indices. ``full``: ``(K,)`` v(X), the score of the whole
    sequence; ``empty``: ``(K,)`` v(empty), the class prior. Exact values satisfy efficiency,
    ``values.sum(0) == full - empty``. ``history``: for sampled ESVs, ``(iterations, n, K)``
    the estimate after each pooled iteration (``None`` for exact ones).

    The :class:`Explanation` fields describe the first explained class: ``weights`` its
    values ``(n,)``, ``segmentation`` one feature per frame over ``(n, 1, 1)``, ``map`` the
    same values as a per-frame map ``(n, 1, 1)`` (spread over each frame by
    :meth:`to_video`), ``target = classes[0]``. ``method``: ``"esv-exact"`` or
    ``"esv-sampled"``; ``n_evals``: subsets scored; ``meta``: parameters and counts.
    Build one with :meth:`from_values`.
    """

    values: np.ndarray | None = None
    classes: np.ndarray | None = None
    full: np.ndarray | None = None
    empty: np.ndarray | None = None
    history: np.ndarray | None = None

    def __post_init__(self):
        super().__post_init__()
        values = _check_values(self.values)
        n, k = values.shape
        if self.map.shape != (n, 1, 1):
            raise ArgumentError("map", f"a per-frame map of shape ({n}, 1, 1)", self.map.shape)
        fields = {"values": values,
                  "classes": _frozen("classes", self.classes, np.int64, (k,)),
                  "full": _frozen("full", self.full, np.float64, (k,)),
                  "empty": _frozen("empty", self.empty, np.float64, (k,))}
        if self.history is not None:
            iters = np.shape(self.history)[0] if np.ndim(self.history) == 3 else -1
            fields["history"] = _frozen("history", self.history, np.float64, (iters, n, k))
        for name, arr in fields.items():
            object.__setattr__(self, name, arr)

    @classmethod
    def from_values(cls, values, classes, full, empty, *, method: str, n_evals: int,
                    meta: dict | None = None, history=None) -> "ESVResult":
        """An ESVResult whose weights, per-frame map and target follow from ``values`` (the
        first explained class)."""
        values = _check_values(values)
        n = values.shape[0]
        first = values[:, 0]
        return cls(weights=first, segmentation=frame_segmentation((n, 1, 1)),
                   map=first.reshape(n, 1, 1), method=method,
                   target=int(np.asarray(classes).reshape(-1)[0]), n_evals=int(n_evals),
                   meta=dict(meta or {}), values=values, classes=classes, full=full,
                   empty=empty, history=history)

    @property
    def n(self) -> int:
        """Number of frames explained."""
        return int(self.values.shape[0])

    def _column(self, c) -> int:
        hits = np.flatnonzero(self.classes == int(c))
        if hits.size == 0:
            raise ArgumentError("target", f"one of the explained classes "
                                f"{self.classes.tolist()}", c)
        return int(hits[0])

    def for_class(self, c) -> np.ndarray:
        """phi for class ``c`` (a class index among :attr:`classes`): ``(n,)``."""
        return self.values[:, self._column(c)]

    def supporting(self, c) -> np.ndarray:
        """Boolean ``(n,)``: frames with phi > 0 for class ``c`` (the rest are distracting)."""
        return self.for_class(c) > 0

    def plot(self, video=None, target=None, *, cols=None, title=None, class_names=None):
        """ESV bars per frame, with thumbnails of ``video`` ``(n, H, W, C)`` above them.

        Bars are coloured supporting (phi > 0) or distracting (phi <= 0) for ``target``
        (default: the first explained class). ``video=None`` draws the bars alone. ``cols``:
        at most this many thumbnails (default 32; every k-th frame is drawn, all bars are).
        ``class_names`` names the classes in the title. Returns the matplotlib Figure.
        """
        import matplotlib.pyplot as plt

        c = int(self.classes[0]) if target is None else int(target)
        phi = self.for_class(c)
        shown = self._thumbnails(video, cols)
        fig = plt.figure(figsize=(max(4.0, 1.0 * max(len(shown), 4)), 3.2 if shown else 2.0))
        if shown:
            grid = fig.add_gridspec(2, len(shown), height_ratios=[1, 1.3], hspace=0.05,
                                    bottom=0.17)
            frames = np.asarray(video)
            for k, i in enumerate(shown):
                ax = fig.add_subplot(grid[0, k])
                ax.imshow(np.clip(frames[i], 0, 1) if frames.dtype.kind == "f" else frames[i])
                ax.set_xticks([]), ax.set_yticks([])
                ax.set_title(str(i), fontsize=7)
            bars = fig.add_subplot(grid[1, :])
        else:
            bars = fig.add_subplot(1, 1, 1)
        colours = [SUPPORTING if p > 0 else DISTRACTING for p in phi]
        bars.bar(np.arange(self.n), phi, color=colours, width=0.8)
        bars.axhline(0.0, color="black", lw=0.6)
        bars.set_xlim(-0.5, self.n - 0.5)
        bars.set_xlabel("frame")
        bars.set_ylabel("ESV")
        name = class_names[c] if class_names is not None else f"class {c}"
        k = self._column(c)
        fig.suptitle(title or f"{self.method}: {name}  v(X)={self.full[k]:.3f}  "
                               f"v(empty)={self.empty[k]:.3f}", fontsize=9)
        return fig

    def _thumbnails(self, video, cols) -> list:
        """Indices of the frames drawn as thumbnails (none without a video)."""
        if video is None:
            return []
        if not hasattr(video, "shape") or len(video.shape) != 4 or video.shape[0] != self.n:
            raise ArgumentError("video", f"an array ({self.n}, H, W, C) of the explained frames",
                                describe(video))
        cols = MAX_THUMBS if cols is None else check_int(cols, "cols", minimum=1)
        step = max(1, int(np.ceil(self.n / cols)))
        return list(range(0, self.n, step))


def contrastive(phi, gt, pt) -> np.ndarray:
    """Class-contrastive ESV ``delta_i = phi_i^gt - phi_i^pt`` (paper 003, Sec. 2.3).

    ``phi``: an :class:`ESVResult` explaining both classes, or an array ``(n, C)`` of ESVs for
    every class. ``delta_i > 0``: frame ``i`` supports the ground truth ``gt`` more than the
    predicted class ``pt``. Returns ``(n,)``.

    References:
      W. Price, D. Damen. Play Fair: Frame Attributions in Video Models. Asian Conference
      on Computer Vision (ACCV), 2020.
    """
    if isinstance(phi, ESVResult):
        return phi.for_class(gt) - phi.for_class(pt)
    if not hasattr(phi, "shape"):
        raise ArgumentTypeError("phi", "an ESVResult or an (n, C) array", describe(phi))
    arr = np.asarray(phi)
    if arr.ndim != 2:
        raise ArgumentError("phi", "an (n, C) array of per-class ESVs", describe(arr))
    for name, c in (("gt", gt), ("pt", pt)):
        if not 0 <= int(c) < arr.shape[1]:
            raise ArgumentError(name, f"a class index in 0..{arr.shape[1] - 1}", c)
    return arr[:, int(gt)] - arr[:, int(pt)]
