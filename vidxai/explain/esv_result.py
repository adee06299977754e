"""The result of an Element Shapley Value computation (paper 003), class-contrastive ESVs and
the frame-strip plot (thumbnails with ESV bars underneath, as in the paper's Fig. 1-2)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vidxai.errors import ArgumentError, ArgumentTypeError, describe

SUPPORTING = "#2b6cb0"   # phi > 0: the frame raises the class score (paper 003, Sec. 2.3)
DISTRACTING = "#dd6b20"  # phi <= 0: the frame lowers (or does not raise) it


@dataclass(frozen=True, eq=False)
class ESVResult:
    """Per-frame Element Shapley Values for the chosen classes.

    ``values``: float64 ``(n, K)``, ``values[i, k]`` = phi_i for class ``classes[k]``.
    ``classes``: int ``(K,)`` class indices. ``full``: ``(K,)`` v(X), the score of the whole
    sequence; ``empty``: ``(K,)`` v(empty), the class prior. Exact values satisfy efficiency,
    ``values.sum(0) == full - empty``. ``method``: ``"esv-exact"`` or ``"esv-sampled"``;
    ``n_evals``: subsets scored; ``history``: for sampled ESVs, ``(iterations, n, K)`` the
    estimate after each pooled iteration; ``meta``: parameters and counts.
    """

    values: np.ndarray
    classes: np.ndarray
    full: np.ndarray
    empty: np.ndarray
    method: str
    n_evals: int
    meta: dict = field(default_factory=dict)
    history: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.values.shape[0])

    def _column(self, c) -> int:
        hits = np.flatnonzero(self.classes == int(c))
        if hits.size == 0:
            raise ArgumentError("target", f"one of the explained classes {self.classes.tolist()}", c)
        return int(hits[0])

    def for_class(self, c) -> np.ndarray:
        """phi for class ``c`` (a class index among :attr:`classes`): ``(n,)``."""
        return self.values[:, self._column(c)]

    def supporting(self, c) -> np.ndarray:
        """Boolean ``(n,)``: frames with phi > 0 for class ``c`` (the rest are distracting)."""
        return self.for_class(c) > 0

    def plot(self, frames, target=None, *, class_names=None, title=None, max_thumbs: int = 32):
        """Thumbnails of ``frames`` ``(n, H, W, 3)`` with ESV bars underneath.

        Bars are coloured supporting (phi > 0) or distracting (phi <= 0) for ``target``
        (default: the first explained class). With more than ``max_thumbs`` frames every
        k-th thumbnail is drawn (all bars are). Returns the matplotlib Figure.
        """
        import matplotlib.pyplot as plt

        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[0] != self.n:
            raise ArgumentError("frames", f"an array ({self.n}, H, W, C) of the explained frames",
                                describe(frames))
        c = int(self.classes[0]) if target is None else int(target)
        phi = self.for_class(c)
        step = max(1, int(np.ceil(self.n / max_thumbs)))
        shown = list(range(0, self.n, step))
        fig = plt.figure(figsize=(max(4.0, 1.0 * len(shown)), 3.2))
        grid = fig.add_gridspec(2, len(shown), height_ratios=[1, 1.3], hspace=0.05, bottom=0.17)
        for k, i in enumerate(shown):
            ax = fig.add_subplot(grid[0, k])
            ax.imshow(np.clip(frames[i], 0, 1) if frames.dtype.kind == "f" else frames[i])
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_title(str(i), fontsize=7)
        bars = fig.add_subplot(grid[1, :])
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


def contrastive(phi, gt, pt) -> np.ndarray:
    """Class-contrastive ESV ``delta_i = phi_i^gt - phi_i^pt`` (paper 003, Sec. 2.3).

    ``phi``: an :class:`ESVResult` explaining both classes, or an array ``(n, C)`` of ESVs for
    every class. ``delta_i > 0``: frame ``i`` supports the ground truth ``gt`` more than the
    predicted class ``pt``. Returns ``(n,)``.
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
