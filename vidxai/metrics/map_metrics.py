"""The study's metrics that look at one map at a time, beyond the insertion / deletion curves:
ROAD, model-parameter randomisation, infidelity, max-sensitivity and frame discarding.

Each entry of :data:`MAP_METRICS` takes a :class:`MapContext` (one video, one method's map)
and returns tidy rows ``(metric, protocol, unit, value)``. The direction of each metric (for
"beats random" and reliability) is in :data:`DIRECTIONS`: ``True`` = lower is better.

- ``road`` (Rong et al., ICML 2022, "A Consistent and Efficient Evaluation Strategy for
  Attribution Methods"): mean score over ROAD's fractions with the removed voxels imputed
  from their spatio-temporal neighbours; ``road_morf`` (lower is better) and ``road_lerf``
  (higher is better), protocol ``road``.
- ``randomisation`` (Adebayo et al., NeurIPS 2018, "Sanity Checks for Saliency Maps"):
  cascading randomisation of the model's layer groups from the top; one row per randomised
  group (``unit`` = the group) of the rank correlation (``randomisation_spearman``) and mean
  per-frame SSIM (``randomisation_ssim``) with the original map. No direction: a map that
  keeps its similarity fails the test, and the random map is trivially dissimilar.
- ``infidelity`` and ``sensitivity`` (Yeh et al., NeurIPS 2019, "On the (In)fidelity and
  Sensitivity of Explanations", with Captum's definitions): lower is better.
- ``frames`` ("Play Fair: Frame Attributions in Video Models", Fig. 3): for a model with a
  frame-value game, the mean score while dropping frames most-attributed first
  (``frames_descending``, lower is better) and least first (``frames_ascending``).

Randomisation and max-sensitivity re-explain (one explanation per layer group, ``n`` per
sensitivity): they cost what the method costs, several times over.
"""
from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["MapContext", "MAP_METRICS", "DIRECTIONS"]

DIRECTIONS = {"road_morf": True, "road_lerf": False, "infidelity": True, "sensitivity": True,
              "frames_descending": True, "frames_ascending": False}


@dataclasses.dataclass
class MapContext:
    """One (video, method): the model and its subject, the video, the saved explanation and
    its map, the job's key, and the method's options (to re-explain)."""

    model: object
    subject: object
    video: np.ndarray
    method: str
    explanation: object
    saliency: np.ndarray
    key: object
    options: dict
    batch_size: int = 8

    def explain_fn(self):
        from .sanity import explainer

        return explainer(self.method, target=self.subject.target, key=self.key, **self.options)


def _road(ctx):
    from .road_curves import road

    result = road(ctx.subject.f, ctx.video, ctx.saliency, key=ctx.key,
                  batch_size=ctx.batch_size)
    return [(f"road_{order}", "road", "pixel", float(curve.value))
            for order, curve in result.curves.items()]


def _randomisation(ctx):
    from .sanity import randomisation

    result = randomisation(ctx.model, ctx.explain_fn(), ctx.video, key=ctx.key)
    return [(f"randomisation_{row['similarity']}", "cascading", f"{row['step']}:{row['layer']}",
             row["value"]) for row in result.rows()]


def _infidelity(ctx):
    from .sanity import infidelity

    return [("infidelity", "captum", "voxel",
             float(infidelity(ctx.subject.f, ctx.video, ctx.saliency, key=ctx.key,
                              batch_size=ctx.batch_size)))]


def _sensitivity(ctx):
    from .sanity import max_sensitivity

    explain = ctx.explain_fn()
    value = max_sensitivity(lambda v: explain(ctx.model, v).map, ctx.video, key=ctx.key)
    return [("sensitivity", "captum", "voxel", float(value))]


def _frames(ctx):
    from ..errors import ArgumentError
    from ..explain import frontdoor
    from .frames import discarding

    game = frontdoor.frame_value_of(ctx.model)
    if game is None:
        raise ArgumentError("metrics", "a model with a frame-value game for 'frames' "
                            "(paper 003's variable-length input)", "none")
    value, _ = game(ctx.video)
    result = discarding(value, ctx.saliency, target=ctx.subject.target,
                        orders=("descending", "ascending"))
    return [(f"frames_{order}", "paper003", "frame", float(result.area(order)))
            for order in ("descending", "ascending")]


MAP_METRICS = {"road": _road, "randomisation": _randomisation, "infidelity": _infidelity,
               "sensitivity": _sensitivity, "frames": _frames}
