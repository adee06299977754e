"""Model behaviour stage: score functions and the batched evaluation engine (paper 001, Sec. 3.4).

A *score function* ``f`` maps a batch ``(B, T, H, W, C)`` to ``(B,)`` scalars (a class
probability or logit, or a regressor's output). :func:`score` builds one from a model that
returns ``(B, K)``. :func:`score_coalitions` scores the perturbed videos of a coalition matrix.

The engine (:func:`run_batches`) is shared by every removal-based method and metric: the
caller supplies a *mask generator* ``mask_fn(params_chunk, aux, static) -> (B, T, H, W)``;
chunks of ``batch_size`` rows (the last one padded) are perturbed by a jitted, vmapped step,
so nothing recompiles per chunk and memory does not grow with the number of rows. A pure-JAX
``f`` runs as a second jitted step on the perturbed batch, dispatched without waiting, not
fused with the perturbation in one program: on XLA:CPU the fused program ran the small zoo
models 1.4-2x slower, I3D equally fast, and the mid-size CNN of ``benchmarks/overhead.py``
4-16% faster (which to prefer per model is open). A function with the attribute
``vidxai_eager = True`` (the torch bridge) or one that cannot be traced by JAX is called
outside jit on the perturbed batch. With several local devices the jitted steps' chunks are
split over them (:mod:`vidxai._sharding`, a 1-D ``jax.sharding`` mesh over the batch axis);
eager functions are not sharded. A dataset is spread over workers by :mod:`vidxai.runner`.
"""
from __future__ import annotations

import contextvars
import functools
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from . import _sharding
from ._progress import announce as _announce
from ._progress import bar_disabled  # noqa: F401  (re-exported: scoring.bar_disabled)
from ._progress import long_run_notice  # noqa: F401  (re-exported: scoring.long_run_notice)
from .errors import (ArgumentError, ArgumentTypeError, ScoreFunctionError, VidxaiError,
                     check_int, check_video, describe)
from ._scores import Head, ScoreFunction  # noqa: F401  (re-exported)
from .removal import Removal, black, compose, segment_mask, soften
from .segment import Segmentation

OUTPUTS = ("prob", "logit", "raw")


def score(model, target: int | None = None, output: str = "prob"):
    """Score function for one class of a model ``(B, T, H, W, C) -> (B, K)``.

    ``output="prob"``: softmax probability of ``target``; ``"logit"``: its logit; ``"raw"``:
    the model output itself when it is already ``(B,)`` (regressors), else column ``target``.
    The target is checked against the model's number of classes on first call. The result
    carries ``f.target``, ``f.output``, ``f.model`` and ``f.head`` (model outputs -> scores).
    """
    if not callable(model):
        raise ArgumentTypeError("model", "a callable (B, T, H, W, C) -> (B, K)", describe(model))
    if output not in OUTPUTS:
        raise ArgumentError("output", f"one of {OUTPUTS}", repr(output))
    if target is not None:
        target = check_int(target, "target", minimum=0)
    elif output != "raw":
        raise ArgumentError("target", f"a class index for output={output!r}", None)

    return ScoreFunction(model, Head(output, target))


_HOST_CALLS: contextvars.ContextVar = contextvars.ContextVar("vidxai_host_calls", default=None)


def note_host_call() -> None:
    """Called by a function that leaves JAX when traced (the torch bridge's callback path),
    so :func:`is_eager` knows a score function built on it must run outside ``jax.jit``."""
    seen = _HOST_CALLS.get()
    if seen is not None:
        seen.append(True)


def is_eager(f, example_shape) -> bool:
    """True when ``f`` must run outside jit: declared eager (``f.vidxai_eager``), not
    traceable by JAX, or calling a torch model through the bridge anywhere inside (e.g.
    ``lambda x: jax.nn.softmax(g(x))[:, t]``: run eagerly, the bridge passes the batch to
    torch without a copy instead of through a host callback). One abstract trace per
    function and shape (cached)."""
    return eager_kind(f, example_shape) is not None


def eager_kind(f, example_shape) -> str | None:
    """Why ``f`` runs outside jit: ``"bridge"`` (declared ``vidxai_eager``, or calls a
    bridged torch model), ``"host"`` (not traceable by JAX), or ``None`` (run in jit)."""
    if getattr(f, "vidxai_eager", False):
        return "bridge"
    return _eager_kind(f, tuple(example_shape))


@functools.lru_cache(maxsize=256)
def _eager_kind(f, example_shape) -> str | None:
    seen = []
    token = _HOST_CALLS.set(seen)
    try:
        jax.eval_shape(f, jax.ShapeDtypeStruct(example_shape, jnp.float32))
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError,
            jax.errors.TracerBoolConversionError, jax.errors.TracerIntegerConversionError):
        return "host"
    except (ArgumentError, ScoreFunctionError):
        raise
    except Exception:  # noqa: BLE001 - anything else: let the eager call show the real error
        return "host"
    finally:
        _HOST_CALLS.reset(token)
    return "bridge" if seen else None


GRADIENTS_NEEDED = ("a differentiable score function: a JAX function (jax.grad works through "
                    "it) or a torch model bridged with vidxai.bridge.from_torch (a plain numpy "
                    "function has no gradients)")


def check_differentiable(f, video, batch: int = 1) -> tuple[float, bool]:
    """``(Phi(X), eager)`` once ``f`` is known to be differentiable, the one check shared by
    every method that needs input gradients (extremal masks, gradient baselines).

    ``f`` must not declare ``f.differentiable = False`` and a vector-Jacobian product must
    work: on the eager path (torch bridge, or a function JAX cannot trace) one forward +
    backward pass, which also gives ``Phi(X)``; on the JAX path an abstract trace of the
    gradient, made once per function and shape (cached), then one forward pass. ``eager``
    says whether ``f`` runs outside ``jax.jit`` (:func:`is_eager` on a batch of ``batch``).
    Raises :class:`ArgumentError` naming ``f`` otherwise, and
    :class:`ScoreFunctionError` when ``f`` does not return one score per video.
    """
    if getattr(f, "differentiable", True) is False:
        raise ArgumentError("f", GRADIENTS_NEEDED, "a function with f.differentiable = False")
    eager = is_eager(f, (batch,) + tuple(video.shape))
    one = jnp.asarray(video)[None]
    try:
        if eager:
            out, vjp = jax.vjp(f, one)
            vjp(jnp.ones_like(out))
        else:
            out = _abstract_gradient(f, tuple(one.shape))
    except VidxaiError:
        raise
    except Exception as err:  # noqa: BLE001 - any failure of the gradient is the user's f
        raise ArgumentError("f", GRADIENTS_NEEDED, f"{type(err).__name__}: {err}") from err
    if tuple(out.shape) != (1,):
        raise ScoreFunctionError(
            f"f: expected scores of shape (1,), got {tuple(out.shape)} (wrap a classifier with "
            "vidxai.score(model, target), or pass target=)")
    return float(np.asarray(out if eager else f(one))[0]), eager


@functools.lru_cache(maxsize=64)
def _abstract_gradient(f, shape):
    """The output shape of ``f`` on a float32 batch of ``shape``, after tracing its gradient
    (abstractly: nothing runs); raises what the tracing raises."""
    spec = jax.ShapeDtypeStruct(shape, jnp.float32)
    jax.eval_shape(jax.grad(lambda x: jnp.sum(f(x))), spec)
    return jax.eval_shape(f, spec)


def _perturb(video, removed, params, aux, mask_fn, static, edge_sigma):
    mask = soften(mask_fn(params, aux, static), edge_sigma)
    if callable(removed):               # a per-mask fill (removal.imputed): one per video
        removed = removed(video, mask)
    return compose(video, removed, mask)


@partial(jax.jit, static_argnames=("mask_fn", "static", "edge_sigma"))
def perturbed_batch(video, removed, params, aux, *, mask_fn, static=None, edge_sigma=None):
    """The perturbed videos ``compose(video, removed, soften(mask_fn(params, aux, static)))``
    of one chunk, ``(B, T, H, W, C)`` (jitted once per mask generator and shapes)."""
    return _perturb(video, removed, params, aux, mask_fn, static, edge_sigma)


@partial(jax.jit, static_argnames=("mask_fn", "static", "edge_sigma"), donate_argnums=(0,),
         keep_unused=True)
def _perturbed_into(buffer, video, removed, params, aux, *, mask_fn, static, edge_sigma):
    """:func:`perturbed_batch` written into the donated ``buffer`` (the previous chunk's
    batch, which the torch model has finished reading): no new batch-sized allocation and
    its page faults per chunk."""
    del buffer
    return _perturb(video, removed, params, aux, mask_fn, static, edge_sigma)


@partial(jax.jit, static_argnames=("f",))
def _jitted_scores(batch, *, f):
    """``f(batch)`` compiled once per score function and batch shape."""
    return f(batch)


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


def index_chunks(make, n_rows: int, batch_size: int):
    """Chunks generated from row indices: ``make(idx uint32 (batch_size,))`` returns the
    parameter rows of ``idx`` (e.g. coalitions drawn from ``fold_in(key, i)``); the last
    chunk repeats its final index. Nothing of size ``n_rows`` is ever held."""
    for start in range(0, n_rows, batch_size):
        rows = min(batch_size, n_rows - start)
        idx = np.minimum(np.arange(start, start + batch_size, dtype=np.int64), n_rows - 1)
        yield rows, make(jnp.asarray(idx.astype(np.uint32)))


def stream_chunks(pieces, batch_size: int):
    """Regroup ``pieces`` (pytrees of host arrays with a leading row axis of any length) into
    chunks of exactly ``batch_size`` rows ``(rows, pytree)``, the last padded by repeating its
    final row. Only one chunk is held at a time."""
    buffer, held = [], 0

    def emit(parts, n):
        joined = jax.tree_util.tree_map(lambda *a: np.concatenate(a), *parts)
        if n < batch_size:
            joined = jax.tree_util.tree_map(
                lambda a: np.concatenate([a, np.repeat(a[-1:], batch_size - n, axis=0)]), joined)
        return n, jax.tree_util.tree_map(jnp.asarray, joined)

    for piece in pieces:
        length = len(jax.tree_util.tree_leaves(piece)[0])
        start = 0
        while start < length:
            take = min(batch_size - held, length - start)
            buffer.append(jax.tree_util.tree_map(lambda a: a[start:start + take], piece))
            held += take
            start += take
            if held == batch_size:
                yield emit(buffer, held)
                buffer, held = [], 0
    if held:
        yield emit(buffer, held)




def score_stream(f, video, removed, mask_fn, chunk_iter, aux=(), static=None, *, n_rows: int,
                 batch_size=32, edge_sigma=None, progress=False, desc="model evaluations"):
    """Score the perturbed videos of a stream of chunks; yields ``(rows, params, scores)``.

    ``chunk_iter`` yields ``(rows, params)`` with ``params`` a pytree of ``batch_size``-row
    arrays of which the first ``rows`` are real (:func:`chunks`, :func:`index_chunks`).
    ``scores`` are float32 host arrays ``(rows,)``, checked (shape, NaN). The perturbed batch
    comes from a jitted step; a pure-JAX ``f`` is jitted too (once per score function and
    shape), an eager ``f`` is called on it. The next chunk is dispatched before the previous
    one's scores are read, so the host never waits idle on the device. Memory: two chunks.
    Several devices: a jitted ``f``'s chunk is padded to a multiple of their count and split
    over them (:mod:`vidxai._sharding`), same scores; an eager ``f`` is never sharded.
    """
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    video = jnp.asarray(video)
    removed = removed if callable(removed) else jnp.asarray(removed)
    kind = eager_kind(f, (batch_size,) + tuple(video.shape))
    statics = dict(mask_fn=mask_fn, static=static, edge_sigma=edge_sigma)
    spread = _sharding.plan(batch_size) if kind is None else None
    if spread is not None:
        video, removed, aux = spread.replicate((video, removed, aux))
    pending, n_chunks, clock, spent = None, -(-n_rows // batch_size), None, None
    with tqdm(total=n_rows, desc=desc, unit="eval", disable=bar_disabled(progress),
              leave=False) as bar:
        for k, (rows, params) in enumerate(chunk_iter):
            if kind is not None:
                batch = (perturbed_batch(video, removed, params, aux, **statics) if spent is None
                         else _perturbed_into(spent, video, removed, params, aux, **statics))
                out = f(batch)
                # a host function may keep its input: only the bridge's batches are reused
                spent = batch if kind == "bridge" else None
            elif spread is None:
                out = _jitted_scores(perturbed_batch(video, removed, params, aux, **statics),
                                     f=f)
            else:   # several devices: the chunk's rows split over them
                batch = perturbed_batch(video, removed, spread.split_rows(params, "scoring"),
                                        aux, **statics)
                out = spread.note("scoring", _jitted_scores(
                    jax.device_put(batch, spread.split), f=f))
            _check_scores(out, batch_size if spread is None else spread.rows)
            if pending is not None:
                yield _finish(*pending, n_rows)
            pending = (rows, params, out)
            bar.update(rows)
            if k == 1:
                clock = time.perf_counter()
            elif k == 2:
                _announce(time.perf_counter() - clock, n_chunks - 2, n_rows, desc)
        if pending is not None:
            yield _finish(*pending, n_rows)


def _finish(rows, params, out, n_rows):
    scores = np.asarray(out, dtype=np.float32)[:rows]
    bad = ~np.isfinite(scores)
    if bad.any():
        raise ScoreFunctionError(f"f: returned NaN or inf for {int(bad.sum())} of {rows} inputs "
                                 f"(in a chunk of the {n_rows} scored)")
    return rows, params, scores


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
    stream = score_stream(f, video, removed, mask_fn, chunks(params, n_rows, batch_size), aux,
                          static, n_rows=n_rows, batch_size=batch_size, edge_sigma=edge_sigma,
                          progress=progress, desc=desc)
    outputs = [scores for _, _, scores in stream]
    return np.concatenate(outputs) if outputs else np.zeros((0,), np.float32)


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


def score_coalitions(f, video, segmentation, Z, removal: Removal | None = None, *,
                     batch_size=32, progress=False) -> np.ndarray:
    """Score every coalition row of ``Z (N, n)``: kept features show ``video``, removed ones
    the ``removal``'s fill (default black). Returns float32 ``(N,)``.

    This is the evaluation engine of paper 001's removal-based framework (its "model
    behaviour" stage) exposed for one's own coalitions; the metrics of
    :mod:`vidxai.metrics` are something else (they score explanations)."""
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
    return score_checked_coalitions(f, video, segmentation, z, removal,
                                    batch_size=batch_size, progress=progress)


def evaluate(*args, **kwargs) -> np.ndarray:
    """Deprecated name of :func:`score_coalitions` (it clashed with ``vidxai evaluate``, the
    command that scores explanations); same arguments, same result."""
    import warnings

    warnings.warn("vidxai.evaluate / scoring.evaluate is renamed score_coalitions",
                  DeprecationWarning, stacklevel=2)
    return score_coalitions(*args, **kwargs)


def score_checked_coalitions(f, video, segmentation, z, removal, *, batch_size=32,
                             progress=False):
    """:func:`score_coalitions` for arguments the caller has validated (the methods validate
    once, at their own public boundary)."""
    return run_batches(f, video, removal.removed(video, segmentation), segment_mask, z,
                       jnp.asarray(segmentation.labels), batch_size=batch_size,
                       edge_sigma=removal.edge_sigma, progress=progress)
