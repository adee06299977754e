"""Value functions for Element Shapley Values (paper 003, Sec. 2.2) and their batched evaluation.

A *subset batch* is a boolean array ``(N, n)``: row ``j`` keeps the frames where it is True,
in their original order (paper 003, footnote 2: subsequences keep the order of the full
sequence). Two kinds of model give a score to every subsequence:

* a **variable-length** model ``f`` (e.g. TSN-style frame averaging): a callable
  ``masks (N, n) -> logits (N, C)``; :func:`frame_average_value` builds one from per-frame
  logits;
* a **multi-scale** model ``f^ms`` (paper 003, Eq. 8) made of single-scale heads
  ``f^1 .. f^{n_max}``; :func:`multiscale` wraps them. Head ``s`` takes the ordered indices of
  the kept frames, int32 ``(N, s)``, and returns logits ``(N, C)``.
"""
from __future__ import annotations

import functools
import itertools
from math import comb
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ...errors import ArgumentError, ArgumentTypeError, ScoreFunctionError, check_int, describe

__all__ = ["MultiScale", "multiscale", "frame_average_value", "evaluate", "softmax",
           "recurse", "check_logits", "score_level", "subsequence_draws",
           "estimate_multiscale"]


class MultiScale:
    """The multi-scale model ``f^ms`` of paper 003, Eq. 8, built from single-scale heads.

    ``f^ms(X)`` averages, with equal weight per scale ``s = 1 .. min(|X|, n_max)``, the mean
    logits of head ``f^s`` over every size-``s`` subsequence of ``X``. Calling the object on a
    subset batch evaluates that definition directly (exponential; for checks and small ``n``);
    the ESV routines use the bottom-up recurrence of Eq. 9 instead, see :func:`recurse`.
    """

    def __init__(self, heads: Sequence[Callable], n_max: int):
        self.heads = tuple(heads)
        self.n_max = n_max
        self._jitted = [h if _is_jitted(h) else jax.jit(h) for h in self.heads]

    def head_logits(self, masks: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        """``f^s`` on rows that all keep ``s <= n_max`` frames: ``(N, n)`` -> ``(N, C)`` float64."""
        masks = np.asarray(masks, bool)
        s = int(masks[0].sum())
        idx = np.nonzero(masks)[1].reshape(masks.shape[0], s)
        return self.head_on(idx, batch_size)

    def head_on(self, idx: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        """``f^s`` on ordered frame indices ``(N, s)``, ``s <= n_max``: ``(N, C)`` float64."""
        s = idx.shape[1]
        return evaluate(self._jitted[s - 1], np.asarray(idx, np.int32), batch_size,
                        name=f"heads[{s - 1}]")

    def __call__(self, masks) -> np.ndarray:
        """Direct Eq. 8 on each row of ``masks (N, n)`` (rows keep at least one frame)."""
        masks = np.asarray(masks, bool)
        rows = []
        for row in masks:
            kept = np.flatnonzero(row)
            if kept.size == 0:
                raise ArgumentError("masks", "rows that keep at least one frame", "an empty row")
            per_scale = []
            for s in range(1, min(kept.size, self.n_max) + 1):
                idx = np.array(list(itertools.combinations(kept, s)), np.int32)
                sub = np.zeros((idx.shape[0], masks.shape[1]), bool)
                np.put_along_axis(sub, idx, True, axis=1)
                per_scale.append(self.head_logits(sub).mean(0))
            rows.append(np.mean(per_scale, axis=0))
        return np.stack(rows)


def _is_jitted(fn) -> bool:
    """A jitted function, or a ``functools.partial`` of one, is used as is (no new compile)."""
    if isinstance(fn, functools.partial):
        fn = fn.func
    return hasattr(fn, "lower") and hasattr(fn, "trace")


def multiscale(heads: Sequence[Callable], n_max: int) -> MultiScale:
    """Build ``f^ms`` (paper 003, Eq. 8) from single-scale heads ``heads[s-1] = f^s``.

    ``heads``: at least ``n_max`` callables; head ``s`` maps ordered frame indices int32
    ``(N, s)`` to logits ``(N, C)`` (it closes over the clip's frame features). Only the first
    ``n_max`` heads are used; a head that is a jitted function (or a ``functools.partial``
    of one, which avoids a new compilation per clip) is called as is, others are jitted.
    Pass the result as ``value`` to :func:`~vidxai.explain.esv_exact` or
    :func:`~vidxai.explain.esv_sampled`, which then evaluate ``f^ms`` bottom-up by Eq. 9.

    References:
      W. Price, D. Damen. Play Fair: Frame Attributions in Video Models. Asian Conference
      on Computer Vision (ACCV), 2020.
    """
    n_max = check_int(n_max, "n_max", minimum=1)
    try:
        heads = list(heads)
    except TypeError:
        raise ArgumentTypeError("heads", "a sequence of callables", describe(heads)) from None
    if len(heads) < n_max:
        raise ArgumentError("heads", f"at least n_max = {n_max} single-scale heads", len(heads))
    for i, h in enumerate(heads[:n_max]):
        if not callable(h):
            raise ArgumentTypeError(f"heads[{i}]", "a callable (N, s) indices -> (N, C) logits",
                                    describe(h))
    return MultiScale(heads[:n_max], n_max)


def frame_average_value(frame_logits) -> Callable:
    """Variable-length value model of frame averaging (TSN-style, paper 003 Sec. 2.2).

    ``frame_logits``: ``(n, C)`` logits of each frame of one clip (e.g. EfficientNet-Lite0's
    ``models.efficientnet.frame_logits(model, video)[0]``). Returns ``f(masks) = mean of the
    kept frames' logits``, ``(N, n) -> (N, C)``, so an ESV needs no further network passes;
    :func:`~vidxai.explain.esv_exact` applies the softmax (``v(S) = softmax(f(S))``).

    References:
      W. Price, D. Damen. Play Fair: Frame Attributions in Video Models. Asian Conference
      on Computer Vision (ACCV), 2020.
    """
    logits = jnp.asarray(frame_logits, jnp.float32)
    if logits.ndim != 2 or min(logits.shape) < 1:
        raise ArgumentError("frame_logits", "an array (n, C) of per-frame logits", describe(logits))
    if not bool(jnp.all(jnp.isfinite(logits))):
        raise ArgumentError("frame_logits", "finite values", "NaN or inf entries")

    @jax.jit
    def f(masks):
        w = masks.astype(jnp.float32)
        return (w @ logits) / jnp.maximum(w.sum(-1, keepdims=True), 1.0)

    return f


# ----------------------------------------------------------------------------- evaluation
def _bucket(b: int, batch_size: int) -> int:
    """Pad a chunk of ``b`` rows to a power of two (at most ``batch_size``): few compiles."""
    return min(batch_size, 1 << max(b - 1, 0).bit_length())


@functools.partial(jax.jit, static_argnums=2)
def _pick(out, classes, apply_softmax: bool):
    """On the device: the chosen classes' scores (softmaxed over all classes) + finiteness."""
    sel = out[:, classes]
    if apply_softmax:
        sel = jnp.exp(sel - jax.nn.logsumexp(out, axis=-1, keepdims=True))
    return sel, jnp.all(jnp.isfinite(out), axis=-1)


def evaluate(fn: Callable, rows: np.ndarray, batch_size: int, name: str = "value",
             num_classes: int | None = None, select=None) -> np.ndarray:
    """Apply ``fn`` to ``rows`` in padded chunks; check shape and finiteness; float64 out.

    ``select = (classes, apply_softmax)`` returns v for those classes instead of the raw
    logits; for a JAX output this reduction runs on the device (1000-class models stay cheap),
    a NumPy output is reduced on the host in float64.
    """
    outs = []
    for start in range(0, rows.shape[0], batch_size):
        chunk = rows[start:start + batch_size]
        b = chunk.shape[0]
        padded = _bucket(b, batch_size)
        if padded > b:
            chunk = np.concatenate([chunk, np.repeat(chunk[:1], padded - b, axis=0)])
        out = fn(jnp.asarray(chunk))
        shape = getattr(out, "shape", None)
        if shape is None or len(shape) != 2 or shape[0] != padded:
            raise ScoreFunctionError(f"{name}: expected logits of shape ({padded}, C) for a batch "
                                     f"of {padded} subsets, got {describe(out)}")
        if num_classes is not None and shape[1] != num_classes:
            raise ArgumentError("empty", f"a class prior with one entry per class of {name} "
                                f"({shape[1]})", f"{num_classes} entries")
        if select is not None and isinstance(out, jax.Array):
            sel, finite = _pick(out, jnp.asarray(select[0]), bool(select[1]))
            out, finite = np.asarray(sel, np.float64)[:b], np.asarray(finite)[:b]
        else:
            out = np.asarray(out, np.float64)[:b]
            finite = np.isfinite(out).all(-1)
            if select is not None:
                out = (softmax(out) if select[1] else out)[:, select[0]]
        if not np.all(finite):
            raise ScoreFunctionError(f"{name}: returned NaN or inf scores")
        outs.append(out)
    return np.concatenate(outs)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def recurse(model: MultiScale, s: int, masks: np.ndarray, parent_mean: np.ndarray | None,
            batch_size: int) -> np.ndarray:
    """One step of paper 003, Eq. 9: ``f^ms`` at size ``s`` from the mean ``f^ms`` of its
    size-``s-1`` subsequences (``parent_mean``; ``None`` for ``s = 1``)."""
    if s == 1:
        return model.head_logits(masks, batch_size)
    if s <= model.n_max:
        return (model.head_logits(masks, batch_size) + (s - 1) * parent_mean) / s
    return parent_mean


def check_logits(out: np.ndarray, num_classes: int) -> np.ndarray:
    """A multi-scale model's logits must have one column per entry of ``empty``."""
    if out.shape[-1] != num_classes:
        raise ArgumentError("empty", f"a class prior with one entry per class of the heads "
                            f"({out.shape[-1]})", f"{num_classes} entries")
    return out


def score_level(value, s: int, masks: np.ndarray, parent_mean, num_classes: int,
                batch_size: int, classes: np.ndarray, apply_softmax: bool):
    """Score the size-``s`` subsets ``masks``: returns ``(logits, v)``, ``v`` ``(N, K)`` for the
    chosen classes. A :class:`MultiScale` model's ``f^ms`` comes from Eq. 9 (``logits`` are
    kept for the next size); a variable-length model gives ``f(S)`` (``logits`` is None).
    Shared by the exact lattice walk and Algorithm 1's sampled levels."""
    if isinstance(value, MultiScale):
        out = check_logits(recurse(value, s, masks, parent_mean, batch_size), num_classes)
        return out, (softmax(out) if apply_softmax else out)[:, classes]
    v = evaluate(value, masks, batch_size, "value", num_classes, select=(classes, apply_softmax))
    return None, v


def subsequence_draws(kept: np.ndarray, j: int, draws: int, rng: np.random.Generator):
    """Size-``j`` subsequences of each row of ``kept`` (``(N, s)`` ordered frame indices):
    all ``C(s, j)`` of them when that is at most ``draws``, otherwise ``draws`` uniform ones
    (independently, with replacement). Returns ordered indices ``(N, k, j)``."""
    n_rows, s = kept.shape
    if comb(s, j) <= draws:
        pos = np.array(list(itertools.combinations(range(s), j)), np.int64)     # (k, j)
        return kept[:, pos]
    pos = np.sort(np.argsort(rng.random((n_rows, draws, s)), axis=-1)[..., :j], axis=-1)
    return np.take_along_axis(kept[:, None, :], pos, axis=2)


def estimate_multiscale(model: MultiScale, masks: np.ndarray, draws: int,
                        rng: np.random.Generator, batch_size: int) -> np.ndarray:
    """Unbiased estimate of ``f^ms`` (paper 003, Eq. 8) on rows that all keep ``s`` frames.

    For every scale ``j = 1 .. min(s, n_max)`` the mean of head ``f^j`` over the size-``j``
    subsequences of the row is taken exactly when there are at most ``draws`` of them and
    estimated from ``draws`` uniform ones otherwise; the scales are averaged with equal
    weight, as in Eq. 8. Unlike the recursion of Eq. 9 over sampled subsets, this does not
    depend on which other subsets were sampled. At most ``draws`` head calls per scale and row.

    References:
      W. Price, D. Damen. Play Fair: Frame Attributions in Video Models. Asian Conference
      on Computer Vision (ACCV), 2020.
    """
    masks = np.asarray(masks, bool)
    n_rows = masks.shape[0]
    s = int(masks[0].sum())
    kept = np.nonzero(masks)[1].reshape(n_rows, s)
    scales = min(s, model.n_max)
    total = 0.0
    for j in range(1, scales + 1):
        idx = subsequence_draws(kept, j, draws, rng)
        out = model.head_on(idx.reshape(-1, j), batch_size)
        total = total + out.reshape(n_rows, idx.shape[1], -1).mean(1)
    return total / scales
