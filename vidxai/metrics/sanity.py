"""Sanity checks of explanations: does the map depend on the model and on the class?

* :func:`randomisation`: the model-parameter randomisation test of "Sanity Checks for Saliency
  Maps" (Adebayo, Gilmer, Muelly, Goodfellow, Hardt, Kim; NeurIPS 2018, Sec. 3.1): re-initialise
  the layers from the top down (``"cascading"``) or one at a time (``"independent"``),
  explain again, and measure how similar each map is to the original. A map that stays similar
  while the model is destroyed does not explain the model (it fails the test).
* :func:`random_logit`: explain a uniformly drawn other class of the same model and input;
  a class-sensitive map differs ("When Explanations Lie: Why Many Modified BP Attributions
  Fail", Sixt, Granz, Landgraf; ICML 2020, the random-logit check).
* :func:`infidelity` and :func:`max_sensitivity` ("On the (In)fidelity and Sensitivity of
  Explanations", Yeh et al., NeurIPS 2019) live in :mod:`._robustness` and are re-exported here.

Similarities (Adebayo et al.'s two main ones), each map reduced to ``(T, H, W)`` and, with
``absolute=True`` (default, their "absolute value" variant), to its magnitude:

* ``"spearman"``: Spearman rank correlation over all voxels (average ranks for ties). A
  constant map has no ranking; its correlation with anything is reported as 0.
* ``"ssim"``: structural similarity per frame, averaged over frames
  (``skimage.metrics.structural_similarity``). Each map is first min-max normalised over the
  whole video to [0, 1] (a constant map becomes 0), so ``data_range=1``; the window is 7 px,
  or the largest odd size that fits smaller frames (at least 3).

The explainer contract: ``explain_fn(model_or_params, video) -> map`` where the map is a
``(T, H, W)`` or ``(T, H, W, C)`` array or an :class:`~vidxai.Explanation` (its ``map``).
It receives the same kind of object the test was given (see :mod:`._randomise`).
:func:`explainer` builds one from a method name through :func:`vidxai.explain.run`.
"""
from __future__ import annotations

import dataclasses

import jax
import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, check_choice, check_float, check_int, \
    check_key, check_video, describe
from ._randomise import Randomiser
from ._robustness import infidelity, max_sensitivity

__all__ = ["SIMILARITIES", "RANDOMISATION_ORDERS", "spearman", "ssim", "explainer",
           "RandomisationResult", "randomisation", "randomise", "RandomLogitResult",
           "random_logit", "plot_randomisation", "infidelity", "max_sensitivity"]

SIMILARITIES = ("spearman", "ssim")
RANDOMISATION_ORDERS = ("cascading", "independent")


def _as_map(result, name: str = "explain_fn") -> np.ndarray:
    arr = np.asarray(getattr(result, "map", result), dtype=np.float64)
    if arr.ndim == 4:
        arr = arr.sum(-1)
    if arr.ndim != 3 or arr.size == 0:
        raise ArgumentError(name, "a map (T, H, W) or (T, H, W, C), or an Explanation",
                            describe(arr))
    if not np.all(np.isfinite(arr)):
        raise ArgumentError(name, "a finite map", "NaN or inf entries")
    return arr


def _pair(a, b, absolute):
    a, b = _as_map(a, "a"), _as_map(b, "b")
    if a.shape != b.shape:
        raise ArgumentError("b", f"a map of the first map's shape {a.shape}", b.shape)
    return (np.abs(a), np.abs(b)) if absolute else (a, b)


def spearman(a, b, *, absolute: bool = True) -> float:
    """Spearman rank correlation of two maps over their voxels (0 if either is constant)."""
    from scipy.stats import rankdata

    a, b = _pair(a, b, absolute)
    ra, rb = rankdata(a.ravel()), rankdata(b.ravel())
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return 0.0 if den == 0 else float((ra * rb).sum() / den)


def _unit(m):
    lo, hi = m.min(), m.max()
    return np.zeros_like(m) if hi == lo else (m - lo) / (hi - lo)


def ssim(a, b, *, absolute: bool = True) -> float:
    """Mean per-frame SSIM of two maps, each min-max normalised to [0, 1] (data_range 1)."""
    from skimage.metrics import structural_similarity

    a, b = _pair(a, b, absolute)
    side = min(7, a.shape[1], a.shape[2])
    win = side if side % 2 else side - 1
    if win < 3:
        raise ArgumentError("a", "frames of at least 3 x 3 pixels for SSIM", a.shape)
    a, b = _unit(a), _unit(b)
    return float(np.mean([structural_similarity(x, y, data_range=1.0, win_size=win)
                          for x, y in zip(a, b)]))


_MEASURES = {"spearman": spearman, "ssim": ssim}


def _similarities(names) -> tuple:
    names = (names,) if isinstance(names, str) else tuple(names)
    if not names:
        raise ArgumentError("similarity", "one or more of " + ", ".join(SIMILARITIES), "()")
    for n in names:
        check_choice(n, "similarity", SIMILARITIES)
    return names


def explainer(method: str, *, target=None, key=None, **options):
    """``explain_fn(model, video, target=None) -> Explanation`` calling
    ``vidxai.explain.run(method, model, video, target=..., key=key, **options)``.

    The class is pinned: ``target`` if given, else the top-1 class of the first model it
    explains (the original, in :func:`randomisation`), so a randomised model is explained for
    the original's class, not its own top-1. A ``target`` passed to the call wins (used by
    :func:`random_logit`). ``model`` must be what ``run`` takes (a FlaxModel, a bridged torch
    model, a zoo model): for a raw parameter tree write your own ``explain_fn``.
    """
    from ..explain import registry, run

    spec = registry.get(method)
    pinned = {"target": target}

    def explain_fn(model, video, target=None):
        if spec.family in ("gradient", "extremal") and getattr(
                getattr(model, "apply", model), "differentiable", True) is False:
            raise ArgumentError("model", f"a differentiable model for {method} (it needs input "
                                "gradients)", describe(model))
        chosen = pinned["target"] if target is None else target
        result = run(method, model, video, target=chosen, key=key, **options)
        if pinned["target"] is None:
            pinned["target"] = result.meta["run"]["target"]
        return result

    explain_fn.method = method
    return explain_fn


@dataclasses.dataclass(frozen=True)
class RandomisationResult:
    """One randomisation test. ``layers[i]``: the group randomised at step ``i`` (cascading:
    the newest, all groups above it being random too); ``values[name][i]``: similarity
    ``name`` of step ``i``'s map to ``original``; ``maps[i]``: step ``i``'s map (T, H, W)."""

    order: str
    layers: tuple
    values: dict
    original: np.ndarray
    maps: np.ndarray
    method: str | None = None

    def rows(self) -> list[dict]:
        """Tidy rows ``{"test", "order", "step", "layer", "similarity", "value"}``."""
        return [{"test": "randomisation", "order": self.order, "step": i + 1, "layer": layer,
                 "similarity": name, "value": float(vals[i])}
                for name, vals in self.values.items() for i, layer in enumerate(self.layers)]

    def final(self, similarity: str = "spearman") -> float:
        """Similarity at the last step (cascading: every group randomised)."""
        check_choice(similarity, "similarity", tuple(self.values))
        return float(self.values[similarity][-1])

    def passes(self, threshold: float = 0.5, similarity: str = "spearman") -> bool:
        """Our convention (Adebayo et al. set no threshold): a cascading test passes when the
        fully randomised model's map has similarity below ``threshold`` to the original."""
        check_choice(self.order, "order", ("cascading",))
        return self.final(similarity) < check_float(threshold, "threshold")

    def plot(self, ax=None):
        """Similarity against the randomised layer (matplotlib Figure)."""
        return plot_randomisation(self, ax=ax)


def randomise(model_or_params, layers, key, *, video=None, init=None):
    """A copy of ``model_or_params`` with the layer groups ``layers`` re-initialised (the
    values :func:`randomisation` uses for the same ``key``); see :mod:`._randomise`."""
    check_key(key)
    r = Randomiser(model_or_params, key, video, init=init)
    return r.randomised(layers)


def randomisation(model_or_params, explain_fn, video, *, key, order: str = "cascading",
                  similarity=SIMILARITIES, layers=None, init=None,
                  absolute: bool = True) -> RandomisationResult:
    """Model-parameter randomisation test (Adebayo et al., NeurIPS 2018, Sec. 3.1).

    Args:
      model_or_params: a flax parameter pytree, a :class:`vidxai.layers.FlaxModel`, a torch
        module, a bridged torch model or a zoo model on one of these (see :mod:`._randomise`
        for the layer groups and their forward order). Never modified.
      explain_fn: ``explain_fn(model_or_params, video) -> map | Explanation`` (see the
        module); e.g. :func:`explainer` ``("grad_cam")``.
      video: float ``(T, H, W, C)`` in [0, 1].
      key: ``jax.random`` key of the fresh values (the same key, the same test).
      order: ``"cascading"`` (top group first, then each group below it added) or
        ``"independent"`` (each group alone, top first).
      similarity: names from :data:`SIMILARITIES`.
      layers: the groups to randomise, in forward order (default: all); an unknown name is
        an :class:`ArgumentError` listing the valid ones.
      init: ``(key, leaf) -> leaf`` fresh values for pytrees (default ``N(0, std(leaf)^2)``).
      absolute: compare magnitudes (default) or signed maps.

    Cost: one explanation of the original plus one per group.
    """
    video = check_video(video)
    key = check_key(key)
    check_choice(order, "order", RANDOMISATION_ORDERS)
    names = _similarities(similarity)
    if not callable(explain_fn):
        raise ArgumentTypeError("explain_fn", "a function (model, video) -> map", describe(explain_fn))
    r = Randomiser(model_or_params, key, video, init=init)
    groups = r.check_layers(layers)
    original = _as_map(explain_fn(model_or_params, video))
    top_down = groups[::-1]
    maps, values = [], {n: [] for n in names}
    for i, layer in enumerate(top_down):
        chosen = top_down[: i + 1] if order == "cascading" else (layer,)
        m = _as_map(explain_fn(r.randomised(chosen), video))
        if m.shape != original.shape:
            raise ArgumentError("explain_fn", f"maps of one shape {original.shape}", m.shape)
        maps.append(m.astype(np.float32))
        for n in names:
            values[n].append(_MEASURES[n](original, m, absolute=absolute))
    return RandomisationResult(order, tuple(top_down), {n: np.asarray(v) for n, v in values.items()},
                               original.astype(np.float32), np.stack(maps),
                               getattr(explain_fn, "method", None))


@dataclasses.dataclass(frozen=True)
class RandomLogitResult:
    """The random-logit test: the map of ``target`` against that of ``other``."""

    target: int
    other: int
    values: dict

    def rows(self) -> list[dict]:
        """Tidy rows ``{"test", "target", "other", "similarity", "value"}``."""
        return [{"test": "random_logit", "target": self.target, "other": self.other,
                 "similarity": n, "value": float(v)} for n, v in self.values.items()]


def random_logit(model, explain_fn, video, *, target: int, num_classes: int, key,
                 similarity=SIMILARITIES, absolute: bool = True) -> RandomLogitResult:
    """Similarity of the map of ``target`` to the map of a class drawn uniformly from the
    other ``num_classes - 1`` (Sixt et al., ICML 2020). ``explain_fn(model, video, target)``
    (e.g. :func:`explainer`). Low similarity = the map depends on the class."""
    video = check_video(video)
    key = check_key(key)
    k = check_int(num_classes, "num_classes", minimum=2)
    t = check_int(target, "target", minimum=0, maximum=k - 1)
    names = _similarities(similarity)
    draw = int(jax.random.randint(key, (), 0, k - 1))
    other = draw + (draw >= t)
    a = _as_map(explain_fn(model, video, t))
    b = _as_map(explain_fn(model, video, other))
    return RandomLogitResult(t, other, {n: _MEASURES[n](a, b, absolute=absolute) for n in names})


def plot_randomisation(results, similarity: str = "spearman", ax=None):
    """Similarity against the randomised layer for one :class:`RandomisationResult` or a
    ``{label: result}`` dict (one line each); returns the matplotlib Figure."""
    import matplotlib.pyplot as plt

    if isinstance(results, RandomisationResult):
        results = {results.method or "map": results}
    if not isinstance(results, dict) or not results:
        raise ArgumentTypeError("results", "a RandomisationResult or a {label: result} dict",
                                describe(results))
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 3.5))
    else:
        fig = ax.figure
    for label, res in results.items():
        check_choice(similarity, "similarity", tuple(res.values))
        steps = np.arange(len(res.layers) + 1)
        ax.plot(steps, np.r_[1.0, res.values[similarity]], marker="o", label=str(label))
        ticks = ["original"] + list(res.layers)
    ax.set_xticks(steps, ticks, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel(f"{similarity} to original")
    ax.set_xlabel(f"randomised layer ({res.order}, top first)")
    ax.axhline(0.0, color="grey", lw=0.5)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
