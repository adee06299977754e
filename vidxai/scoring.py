"""Model behaviour stage: score functions and the batched evaluation engine (paper 001, Sec. 3.4).

A *score function* ``f`` maps a batch ``(B, T, H, W, C)`` to ``(B,)`` scalars (a class
probability or logit, or a regressor's output). :func:`score` builds one from a model that
returns ``(B, K)``. :func:`evaluate` scores the perturbed videos of a coalition matrix.

The engine (:func:`run_batches`) is shared by every removal-based method and metric: the
caller supplies a *mask generator* ``mask_fn(params_chunk, aux, static) -> (B, T, H, W)``;
chunks of ``batch_size`` rows (the last one padded) are perturbed by a jitted, vmapped step,
so nothing recompiles per chunk and memory does not grow with the number of rows. A pure-JAX
``f`` is fused with the perturbation into one jitted step; a function with the attribute
``vidxai_eager = True`` (the torch bridge) or one that cannot be traced by JAX is called
outside jit on the perturbed batch. To spread chunks over devices (``jax.sharding``) or a
dataset over workers (Ray), replace this one engine; the methods do not change.
"""
from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from .errors import (ArgumentError, ArgumentTypeError, ScoreFunctionError, check_int,
                     check_video, describe)
from .removal import Removal, black, compose, segment_mask, soften
from .segment import Segmentation

OUTPUTS = ("prob", "logit", "raw")


def bar_disabled(progress) -> bool:
    """Whether a progress bar stays hidden: ``progress`` is false, or the environment sets
    ``TQDM_DISABLE`` (tqdm only reads it when ``disable`` is not passed, and we pass it)."""
    env = os.environ.get("TQDM_DISABLE", "").strip().lower()
    return (not progress) or env not in ("", "0", "false", "no")


def score(model, target: int | None = None, output: str = "prob"):
    """Score function for one class of a model ``(B, T, H, W, C) -> (B, K)``.

    ``output="prob"``: softmax probability of ``target``; ``"logit"``: its logit; ``"raw"``:
    the model output itself when it is already ``(B,)`` (regressors), else column ``target``.
    The target is checked against the model's number of classes on first call.
    """
    if not callable(model):
        raise ArgumentTypeError("model", "a callable (B, T, H, W, C) -> (B, K)", describe(model))
    if output not in OUTPUTS:
        raise ArgumentError("output", f"one of {OUTPUTS}", repr(output))
    if target is not None:
        target = check_int(target, "target", minimum=0)
    elif output != "raw":
        raise ArgumentError("target", f"a class index for output={output!r}", None)

    def f(x):
        out = model(x)
        if output == "raw" and out.ndim == 1:
            return out
        if out.ndim != 2:
            raise ScoreFunctionError(f"model: expected outputs (B, K), got shape {out.shape}")
        if target is None or target >= out.shape[1]:
            raise ArgumentError("target", f"a class index in 0..{out.shape[1] - 1}", target)
        if output == "prob":
            return jax.nn.softmax(out, axis=-1)[:, target]
        return out[:, target]

    f.target = target
    f.output = output
    f.vidxai_eager = bool(getattr(model, "vidxai_eager", False))
    f.differentiable = bool(getattr(model, "differentiable", True))
    return f


_EAGER: dict = {}


def is_eager(f, example_shape) -> bool:
    """True when ``f`` must run outside jit (declared eager, or not traceable by JAX).

    The answer is cached per function and input shape (one abstract trace, no computation).
    """
    if getattr(f, "vidxai_eager", False):
        return True
    key = (f, tuple(example_shape))
    if key not in _EAGER:
        _EAGER[key] = _trace_fails(f, example_shape)
        if len(_EAGER) > 256:
            _EAGER.pop(next(iter(_EAGER)))
    return _EAGER[key]


def _trace_fails(f, example_shape) -> bool:
    try:
        jax.eval_shape(f, jax.ShapeDtypeStruct(example_shape, jnp.float32))
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError,
            jax.errors.TracerBoolConversionError, jax.errors.TracerIntegerConversionError):
        return True
    except (ArgumentError, ScoreFunctionError):
        raise
    except Exception:  # noqa: BLE001 - anything else: let the eager call show the real error
        return True
    return False


_STEPS: dict = {}


def _step(f, mask_fn, static, edge_sigma, fused: bool):
    """Jitted ``(video, removed, params, aux) -> scores`` (fused) or ``-> perturbed batch``."""
    key = (f if fused else None, mask_fn, static, edge_sigma, fused)
    if key not in _STEPS:
        def perturb(video, removed, params, aux):
            return compose(video, removed, soften(mask_fn(params, aux, static), edge_sigma))

        if fused:
            _STEPS[key] = jax.jit(lambda v, r, p, a: f(perturb(v, r, p, a)))
        else:
            _STEPS[key] = jax.jit(perturb)
        if len(_STEPS) > 64:
            _STEPS.pop(next(iter(_STEPS)))
    return _STEPS[key]


def _check_scores(out, rows: int):
    if not hasattr(out, "shape"):
        raise ScoreFunctionError(f"f: expected an array of shape ({rows},), got {type(out).__name__}")
    if tuple(out.shape) != (rows,):
        raise ScoreFunctionError(
            f"f: expected scores of shape ({rows},) (one scalar per video), got {tuple(out.shape)};"
            " wrap a classifier with vidxai.score(model, target)")


def chunks(params, n_rows: int, batch_size: int):
    """Host-side chunks of ``batch_size`` rows, the last padded by repeating its final row."""
    for start in range(0, n_rows, batch_size):
        stop = min(start + batch_size, n_rows)

        def take(a, start=start, stop=stop):
            part = a[start:stop]
            if stop - start < batch_size:
                pad = np.repeat(part[-1:], batch_size - (stop - start), axis=0)
                part = np.concatenate([part, pad])
            return jnp.asarray(part)

        yield stop - start, jax.tree_util.tree_map(take, params)


def run_batches(f, video, removed, mask_fn, params, aux=(), static=None, *, batch_size=32,
                edge_sigma=None, progress=False, desc="model evaluations") -> np.ndarray:
    """Scores of ``f`` on ``compose(video, removed, mask_fn(params))`` for every row.

    ``params`` is an array (or pytree of arrays) with a leading row axis; ``aux`` holds
    arrays the mask generator reads; ``static`` is hashable configuration. Returns float32
    ``(N,)`` on the host; raises :class:`ScoreFunctionError` on a wrong shape or NaN/inf.
    """
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    params = jax.tree_util.tree_map(np.asarray, params)
    n_rows = len(jax.tree_util.tree_leaves(params)[0])
    video, removed = jnp.asarray(video), jnp.asarray(removed)
    eager = is_eager(f, (batch_size,) + tuple(video.shape))
    step = _step(f, mask_fn, static, edge_sigma, fused=not eager)
    outputs, pending = [], None
    hidden = bar_disabled(progress)
    with tqdm(total=n_rows, desc=desc, unit="eval", disable=hidden, leave=False) as bar:
        for rows, chunk in chunks(params, n_rows, batch_size):
            out = step(video, removed, chunk, aux)
            if eager:
                out = f(out)
            _check_scores(out, batch_size)
            if pending is not None:  # convert the previous chunk while this one runs
                outputs.append(np.asarray(pending[0], dtype=np.float32)[: pending[1]])
            pending = (out, rows)
            bar.update(rows)
        if pending is not None:
            outputs.append(np.asarray(pending[0], dtype=np.float32)[: pending[1]])
    scores = np.concatenate(outputs) if outputs else np.zeros((0,), np.float32)
    bad = ~np.isfinite(scores)
    if bad.any():
        raise ScoreFunctionError(f"f: returned NaN or inf for {int(bad.sum())} of {n_rows} inputs")
    return scores


def check_coalitions(z, n: int, name: str = "Z") -> np.ndarray:
    """Validate a coalition matrix: boolean ``(N, n)`` with N >= 1."""
    z = np.asarray(z)
    if z.ndim != 2 or z.shape[1] != n or z.shape[0] < 1:
        raise ArgumentError(name, f"a boolean array of shape (N >= 1, {n})", describe(z))
    if z.dtype != bool:
        if not np.all((z == 0) | (z == 1)):
            raise ArgumentTypeError(name, "a boolean (or 0/1) array", describe(z))
        z = z.astype(bool)
    return z


def evaluate(f, video, segmentation, Z, removal: Removal | None = None, *, batch_size=32,
             progress=False) -> np.ndarray:
    """Score every coalition row of ``Z (N, n)``: kept features show ``video``, removed ones
    the ``removal``'s fill (default black). Returns float32 ``(N,)``."""
    if not callable(f):
        raise ArgumentTypeError("f", "a score function (B, T, H, W, C) -> (B,)", describe(f))
    video = check_video(video)
    if not isinstance(segmentation, Segmentation):
        raise ArgumentTypeError("segmentation", "a vidxai.Segmentation", describe(segmentation))
    segmentation.check_matches(video)
    z = check_coalitions(Z, segmentation.n)
    removal = black() if removal is None else removal
    if not isinstance(removal, Removal):
        raise ArgumentTypeError("removal", "a vidxai.removal.Removal", describe(removal))
    removed = removal.removed(video, segmentation)
    labels = jnp.asarray(segmentation.labels)
    return run_batches(f, video, removed, segment_mask, z, labels, batch_size=batch_size,
                       edge_sigma=removal.edge_sigma, progress=progress)
