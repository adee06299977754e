"""The front door: every method of the table called by name, :func:`run`.

``run("lime", model, video)`` explains ``video`` with any method of the method table
(:mod:`vidxai.explain.registry`) on any kind of model, filling in what the method needs:

- the **score function** (DESIGN "Score function"): ``model`` may already be one,
  ``(B, T, H, W, C) -> (B,)``; a model returning ``(B, K)`` logits (a plain callable, a
  flax module wrapped by :func:`vidxai.layers.flax_model`, a torch model bridged with
  :func:`vidxai.bridge.from_torch`) is scored on the softmax probability of ``target``; a zoo
  model (an object with ``apply``, ``class_names`` and ``meta``, see ``models/base.py``) the
  same, with class labels as targets and its regression output when it has no classes;
- the **target**: ``None`` or ``"auto"`` = the model's top-1 class on ``video``, an index, or a
  label of a zoo model;
- a **segmentation** for the supervoxel methods: SLIC with :data:`DEFAULT_SEGMENTS`
  supervoxels (the size the command line uses; paper 001 used 200 - pass ``segmentation=`` to
  choose);
- a **key** for the sampled methods: ``jax.random.key(0)`` unless given;
- the **frame-value game** for ESV (paper 003): from the model's ``frame_value`` (attribute
  or ``meta["frame_value"]``), ``video -> (value, empty)``;
- layer access for Grad-CAM and Excitation Backprop comes through the score function
  (:func:`vidxai.layers.layer_access`).

``options`` are the method's own keyword arguments (e.g. ``n_samples``, ``areas``,
``iterations``, ``layer``, ``removal``); the method's defaults are the papers' (1000 samples
for LIME, 1200 iterations for the extremal masks, 50 path points for IG). An option the
method does not take is an :class:`~vidxai.errors.ArgumentError` naming the option and the
methods that take it. What was filled in is recorded in the result's ``meta["run"]``.
"""
from __future__ import annotations

import dataclasses
import inspect
from typing import Callable

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, ScoreFunctionError, check_video, describe
from ..explanation import Explanation
from .registry import Method, get, methods

__all__ = ["run", "Subject", "subject", "DEFAULT_SEGMENTS", "default_segmentation",
           "accepted_options", "frame_value_of"]

DEFAULT_SEGMENTS = 40       # SLIC supervoxels by default: the command line's size (paper: 200)
# arguments the front door supplies itself: never a user option
_SUPPLIED = frozenset({"f", "video", "value", "n", "empty", "target", "progress"})


@dataclasses.dataclass(frozen=True)
class Subject:
    """What is explained: the score function ``f``, the model behind it (or ``None``), the
    ``target`` class (``None`` for a score function or a regressor), its ``label`` when the
    model names its classes, the model's frame-value game (ESV) when it has one, and the
    model's ``outputs`` on the video (``(K,)`` logits or ``(1,)``; ``None`` when not computed).
    Build one with :func:`subject` and pass it to :func:`run` as ``model`` to explain one
    video with several methods without re-running the model to find the target."""

    f: Callable
    model: object = None
    target: int | None = None
    label: str | None = None
    frame_value: Callable | None = None
    outputs: np.ndarray | None = None


def _is_zoo_model(model) -> bool:
    return all(hasattr(model, a) for a in ("apply", "class_names", "meta"))


def frame_value_of(model):
    """The model's frame-value game ``video -> (value, empty)`` (ESV), or ``None``."""
    found = getattr(model, "frame_value", None)
    if found is None:
        found = (getattr(model, "meta", None) or {}).get("frame_value")
    return found if callable(found) else None


def _target_index(target, names, model_name):
    if isinstance(target, (bool, np.bool_)) or not isinstance(target, (int, np.integer, str)):
        raise ArgumentTypeError("target", "None, 'auto', a class index or a class label",
                                describe(target))
    if isinstance(target, str):
        if target.lstrip("-").isdigit():
            target = int(target)
        elif not names:
            raise ArgumentError("target", f"a class index ({model_name} names no classes)",
                                repr(target))
        else:
            lowered = [str(c).lower() for c in names]
            if target.lower() not in lowered:
                close = [c for c in names if target.lower() in str(c).lower()][:5]
                raise ArgumentError("target", f"a class label of {model_name}"
                                    + (f" (similar: {close})" if close else ""), repr(target))
            return lowered.index(target.lower())
    return int(target)


def _check_target_range(target: int, k: int) -> int:
    if not 0 <= target < k:
        raise ArgumentError("target", f"a class index in 0..{k - 1} (the model has {k} "
                            "outputs)", target)
    return target


def subject(model, video, target=None) -> Subject:
    """Turn ``model`` (score function, logits model, bridged torch model or zoo model) and
    ``target`` into the :class:`Subject` the methods explain; one forward pass on ``video``
    finds the output shape and the top-1 class where needed."""
    from .. import scoring

    if not callable(model) and not _is_zoo_model(model):
        raise ArgumentTypeError("model", "a score function (B, T, H, W, C) -> (B,), a model "
                                "returning (B, K) logits, a bridged torch model or a zoo model",
                                describe(model))
    if isinstance(model, scoring.ScoreFunction):
        # already a score function built by vidxai.score(model, target, output)
        if target not in (None, "auto") and target != getattr(model, "target", None):
            raise ArgumentError("target", f"None: the score function already explains class "
                                f"{model.target}", repr(target))
        return Subject(model, getattr(model, "model", None), model.target, None,
                       frame_value_of(getattr(model, "model", None)))
    names = list(getattr(model, "class_names", ()) or ())
    name = getattr(model, "name", type(model).__name__)
    out = np.asarray(model(video[None]))
    if out.ndim == 1 and out.shape == (1,):
        if target not in (None, "auto"):
            raise ArgumentError("target", f"None: {name} returns one score per video (B,), "
                                "there is no class to choose", repr(target))
        return Subject(model if not _is_zoo_model(model) else scoring.score(model, None, "raw"),
                       model, None, None, frame_value_of(model), out[0])
    if out.ndim != 2 or out.shape[0] != 1:
        raise ScoreFunctionError(f"model: expected outputs (B,) scores or (B, K) logits for a "
                                 f"batch of one, got shape {out.shape}")
    if not np.all(np.isfinite(out)):
        raise ScoreFunctionError("model: non-finite outputs on the video")
    k = out.shape[1]
    index = int(np.argmax(out[0])) if target in (None, "auto") else \
        _check_target_range(_target_index(target, names, name), k)
    label = str(names[index]) if index < len(names) else None
    return Subject(scoring.score(model, index, "prob"), model, index, label,
                   frame_value_of(model), out[0])


def default_segmentation(video):
    """SLIC supervoxels sized as the command line sizes them (:data:`DEFAULT_SEGMENTS`),
    with paper 001's compactness and temporal spacing."""
    from .. import segment

    return segment.slic(video, n_segments=DEFAULT_SEGMENTS)


def accepted_options(spec: Method) -> frozenset:
    """The keyword arguments a user may pass to ``spec``'s function through :func:`run`."""
    params = inspect.signature(spec.function).parameters
    return frozenset(p for p in params if p not in _SUPPLIED)


def _check_options(spec, options: dict) -> None:
    allowed = accepted_options(spec)
    for option in options:
        if option in allowed:
            continue
        users = [m.name for m in methods().values() if option in accepted_options(m)]
        taken = f"; it is an option of {', '.join(users)}" if users else ""
        raise ArgumentError(option, f"an option of {spec.name} ({', '.join(sorted(allowed))})"
                            + taken, repr(options[option]))


def _key_record(key):
    import jax

    if key is None:
        return None
    data = jax.random.key_data(key) if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) \
        else key
    return np.asarray(data).astype(np.int64).ravel().tolist()


def _as_key(key):
    import jax

    if key is None:
        return jax.random.key(0), True
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return jax.random.key(int(key)), False
    if not hasattr(key, "dtype"):
        raise ArgumentTypeError("key", "a jax.random key (or an int seed)", describe(key))
    return key, False


@dataclasses.dataclass
class Call:
    """Everything one method call needs; the table's adapters read it
    (:func:`~vidxai.explain.registry.on_video` and its siblings)."""

    spec: Method
    subject: Subject
    video: np.ndarray
    options: dict
    key: object
    progress: bool
    filled: dict = dataclasses.field(default_factory=dict)

    def keywords(self) -> dict:
        """The method's keyword arguments: the user's options, plus ``key`` and ``progress``
        where the function takes them."""
        params = inspect.signature(self.spec.function).parameters
        kwargs = dict(self.options)
        if "key" in params and "key" not in kwargs:
            kwargs["key"] = self.key
            self.filled["key"] = _key_record(self.key)
        if "progress" in params:
            kwargs["progress"] = self.progress
        return kwargs

    def segmentation(self):
        seg = self.options.pop("segmentation", None)
        if seg is None:
            seg = default_segmentation(self.video)
            self.filled["segmentation"] = {"segmenter": "slic", "requested": DEFAULT_SEGMENTS,
                                           "segments": int(seg.n)}
        return seg

    def frame_game(self):
        if self.subject.frame_value is None:
            raise ArgumentError("model", f"a model that scores subsets of frames for "
                                f"{self.spec.name} (a frame_value attribute or "
                                "meta['frame_value']: video -> (value, empty))",
                                describe(self.subject.model or self.subject.f))
        return self.subject.frame_value(self.video)


def run(method: str, model, video, *, target=None, key=None, progress: bool = False,
        **options) -> Explanation:
    """Explain ``video`` with the table's ``method`` on ``model``; see the module docstring.

    Args:
      method: a name of the method table (``vidxai methods`` lists them).
      model: a score function ``(B, T, H, W, C) -> (B,)``, a model returning ``(B, K)``
        logits, a bridged torch model or a zoo model.
      video: float ``(T, H, W, C)`` in [0, 1].
      target: ``None`` / ``"auto"`` (top-1), a class index or a zoo model's class label;
        must be ``None`` for a score function.
      key: a ``jax.random`` key (or an int seed) for the sampled methods; default
        ``jax.random.key(0)``, recorded in ``meta["run"]``.
      progress: show a progress bar where the method has one.
      **options: the method's own keyword arguments.

    Returns the method's :class:`~vidxai.Explanation` (or subclass); ``meta["run"]`` records
    the method, target, label and everything the front door filled in.
    """
    spec = get(method)
    video = check_video(video)
    _check_options(spec, options)
    if isinstance(model, Subject):
        if target not in (None, "auto") and target != model.target:
            raise ArgumentError("target", f"None: the subject already explains class "
                                f"{model.target}", repr(target))
        who = model
    else:
        who = subject(model, video, target)
    key, defaulted = _as_key(key)
    call = Call(spec, who, video, dict(options), key, bool(progress))
    result = spec.adapter(spec.function, call)
    record = {"method": spec.name, "target": who.target, "label": who.label,
              "filled": call.filled, "options": sorted(options)}
    if "key" in call.filled and not defaulted:
        record["key_given"] = True
    meta = {**result.meta, "run": record}
    return dataclasses.replace(result, meta=meta)
