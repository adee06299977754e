"""Element Shapley Values: fair frame attributions for video models (paper 003, "Play Fair").

phi_i (paper 003, Eq. 7) is the mean over subset sizes s = 1..n of the gap between the mean
score of size-s subsequences that contain frame i and the mean score of size-(s-1)
subsequences that lack it. Scores are ``v(S) = softmax(f(S))`` for a variable-length model or
``v(S) = softmax(f^ms(S))`` for a multi-scale one (Eq. 8, computed bottom-up by Eq. 9), and
``v(empty)`` is the class prior. The values satisfy efficiency: they sum to v(X) - v(empty).

* :func:`esv` picks one of the two below from the number of frames;
* :func:`esv_exact` scores all 2^n - 1 subsequences, one subset size at a time, in batches;
* :func:`esv_sampled` is Algorithm 1: subsets grown one frame at a time, at most ``m`` per
  size, pooled over ``iterations`` (see :mod:`.sampling`);
* :func:`contrastive` gives class-contrastive ESVs; results are :class:`ESVResult`.
"""
from __future__ import annotations

import functools
import time
from math import comb

import numpy as np

from ...errors import (ArgumentError, ArgumentTypeError, check_int,
                           check_key, describe)

from .value_models import MultiScale, frame_average_value, multiscale, score_level
from .result import ESVResult, contrastive
from .sampling import run_algorithm1

MAX_EXACT = 20  # 2^20 subsets: beyond this use esv_sampled
EXACT_UP_TO = 16  # esv() computes exact values up to this many frames by default

__all__ = ["esv", "esv_exact", "esv_sampled", "multiscale", "frame_average_value",
           "contrastive", "ESVResult", "MultiScale", "lattice", "subset_scores"]


# ----------------------------------------------------------------------------- validation
def _check_value(value):
    if not callable(value):
        raise ArgumentTypeError("value", "a callable masks (N, n) -> logits (N, C), or "
                                "multiscale(heads, n_max)", describe(value))
    return value


def _check_empty(empty) -> np.ndarray:
    if not hasattr(empty, "shape") and not isinstance(empty, (list, tuple)):
        raise ArgumentTypeError("empty", "a class-prior vector (C,)", describe(empty))
    arr = np.asarray(empty, np.float64)
    if arr.ndim != 1 or arr.size < 1:
        raise ArgumentError("empty", "a class-prior vector of shape (C,)", describe(arr))
    if not np.all(np.isfinite(arr)):
        raise ArgumentError("empty", "finite values", "NaN or inf entries")
    return arr


def _check_target(target, num_classes: int) -> np.ndarray:
    if target is None:
        return np.arange(num_classes)
    items = np.atleast_1d(np.asarray(target))
    if items.ndim != 1 or items.size == 0 or items.dtype.kind not in "iu":
        raise ArgumentTypeError("target", "a class index, a sequence of them, or None",
                                describe(target))
    if items.min() < 0 or items.max() >= num_classes:
        raise ArgumentError("target", f"class indices in 0..{num_classes - 1} "
                            f"(empty has {num_classes} classes)", items.tolist())
    return items.astype(np.int64)


def _check_common(value, n, empty, target, batch_size, maximum=None):
    value = _check_value(value)
    n = check_int(n, "n", minimum=1, maximum=maximum)
    empty = _check_empty(empty)
    classes = _check_target(target, empty.size)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    return value, n, empty, classes, batch_size

def _check_sampling(value, m, iterations, fms_draws):
    """Algorithm 1's parameters; ``fms_draws`` only applies to multi-scale models."""
    m = check_int(m, "m", minimum=1)
    iterations = check_int(iterations, "iterations", minimum=1)
    if fms_draws is not None:
        fms_draws = check_int(fms_draws, "fms_draws", minimum=1)
        if not isinstance(value, MultiScale):
            raise ArgumentError("fms_draws", "None for a variable-length value model (it only "
                                "applies to multiscale(...) models)", fms_draws)
    return m, iterations, fms_draws


# ----------------------------------------------------------------------------- the subset lattice
@functools.lru_cache(maxsize=4)
def lattice(n: int):
    """All non-empty subsets of ``n`` frames, grouped by size.

    Returns ``(masks, children)``: ``masks[s]`` bool ``(C(n, s), n)`` (rows in increasing
    bitmask order), ``children[s]`` int ``(C(n, s), s)``: for each size-``s`` subset, the
    rows of ``masks[s-1]`` obtained by dropping one of its frames (``None`` for s <= 1).
    """
    codes = np.arange(1 << n, dtype=np.int64)
    bits = ((codes[:, None] >> np.arange(n)) & 1).astype(bool)
    size = bits.sum(1)
    rank = np.empty(1 << n, np.int64)
    masks, children, by_size = [None], [None, None], []
    for s in range(n + 1):
        sel = codes[size == s]
        rank[sel] = np.arange(sel.size)
        by_size.append(sel)
    for s in range(1, n + 1):
        m = bits[by_size[s]]
        m.setflags(write=False)
        masks.append(m)
        if s >= 2:
            members = np.nonzero(m)[1].reshape(-1, s)
            children.append(rank[by_size[s][:, None] ^ (1 << members)])
    return masks, children


# ----------------------------------------------------------------------------- dispatch
def esv(value, n: int, *, empty, key=None, target=None, exact_up_to: int = EXACT_UP_TO,
        m: int = 256, iterations: int = 4, apply_softmax: bool = True, batch_size: int = 4096,
        fms_draws: int | None = None) -> ESVResult:
    """Element Shapley Values of ``n`` frames (paper 003, Eq. 7): exact or sampled.

    Up to ``exact_up_to`` frames (at most 20) every subsequence is scored
    (:func:`esv_exact`); above it the values are estimated by Algorithm 1
    (:func:`esv_sampled` with ``m``, ``iterations``, ``fms_draws`` and ``key``, a
    ``jax.random`` key that is then required). ``value``, ``empty``, ``target``,
    ``apply_softmax`` and ``batch_size`` are as in :func:`esv_exact`. A zoo model that scores
    frame subsets gives ``value, empty = model.meta["frame_value"](video)``. The result's
    ``method`` (``"esv-exact"`` / ``"esv-sampled"``) says which was used.

    References:
      W. Price, D. Damen. Play Fair: Frame Attributions in Video Models. Asian Conference
      on Computer Vision (ACCV), 2020.
    """
    value, n, empty, classes, batch_size = _check_common(value, n, empty, target, batch_size)
    exact_up_to = check_int(exact_up_to, "exact_up_to", minimum=1, maximum=MAX_EXACT)
    m, iterations, fms_draws = _check_sampling(value, m, iterations, fms_draws)
    if n <= exact_up_to:
        return esv_exact(value, n, empty=empty, target=classes, apply_softmax=apply_softmax,
                         batch_size=batch_size)
    if key is None:
        raise ArgumentError("key", f"a jax.random key: n = {n} frames is more than "
                            f"exact_up_to = {exact_up_to}, so the ESVs are sampled")
    return esv_sampled(value, n, empty=empty, key=key, m=m, iterations=iterations,
                       target=classes, apply_softmax=apply_softmax, batch_size=batch_size,
                       fms_draws=fms_draws)


# ----------------------------------------------------------------------------- exact ESV
def esv_exact(value, n: int, *, empty, target=None, apply_softmax: bool = True,
              batch_size: int = 4096) -> ESVResult:
    """Exact Element Shapley Values of ``n`` frames (paper 003, Eq. 7), all classes at once.

    ``value``: a variable-length model ``masks (N, n) bool -> logits (N, C)`` (kept frames in
    order; e.g. :func:`frame_average_value`) or a multi-scale model from :func:`multiscale`,
    whose ``f^ms`` is built bottom-up by Eq. 9. ``v(S) = softmax(logits)`` (raw logits when
    ``apply_softmax=False``, for games that are not classifiers). ``empty``: v(empty), the
    class prior ``(C,)``, used as is. ``target``: class index / indices to keep (default all).

    Every one of the 2^n - 1 subsets is scored once, level by level (subset size), in padded
    batches of ``batch_size``; efficiency holds to float64 rounding. ``n`` is at most 20:
    the cost doubles with every frame (timings: see the README).

    References:
      W. Price, D. Damen. Play Fair: Frame Attributions in Video Models. Asian Conference
      on Computer Vision (ACCV), 2020.
    """
    value, n, empty, classes, batch_size = _check_common(value, n, empty, target, batch_size,
                                                         maximum=MAX_EXACT)
    t0 = time.perf_counter()
    masks, children = lattice(n)
    num_classes = empty.size
    with_mean = np.zeros((n + 1, n, classes.size))
    without_mean = np.zeros((n + 1, n, classes.size))
    without_mean[0] = empty[classes]
    is_ms = isinstance(value, MultiScale)
    if not is_ms:  # one pass over every subset: a single compiled batch shape
        _, flat = score_level(value, 0, np.concatenate(masks[1:]), None, num_classes,
                              batch_size, classes, apply_softmax)
        bounds = np.cumsum([0] + [masks[s].shape[0] for s in range(1, n + 1)])
    prev = None
    for s in range(1, n + 1):
        if is_ms:
            parent_mean = prev[children[s]].mean(1) if s >= 2 else None
            logits, v = score_level(value, s, masks[s], parent_mean, num_classes, batch_size,
                                    classes, apply_softmax)
        else:
            logits, v = None, flat[bounds[s - 1]:bounds[s]]
        m = masks[s].astype(np.float64)
        with_mean[s] = (m.T @ v) / comb(n - 1, s - 1)
        if s < n:
            without_mean[s] = ((1.0 - m).T @ v) / comb(n - 1, s)
        prev = logits
    phi = (with_mean[1:] - without_mean[:-1]).sum(0) / n
    return ESVResult.from_values(phi, classes, v[0], empty[classes], method="esv-exact",
                                 n_evals=(1 << n) - 1,
                                 meta={"n": n, "multiscale": is_ms,
                                       "n_max": getattr(value, "n_max", None),
                                       "softmax": bool(apply_softmax),
                                       "seconds": time.perf_counter() - t0})


def subset_scores(value, n: int, *, num_classes: int, apply_softmax: bool = True,
                  batch_size: int = 4096) -> np.ndarray:
    """Scores of every subsequence, indexed by bitmask: ``(2^n, C)``; row ``sum_i 2^i [i kept]``.

    ``v(S) = softmax(f(S))`` (or ``f^ms(S)`` by Eq. 9) for every non-empty subset, computed
    as :func:`esv_exact` does; row 0 (the empty set) is NaN. Used to score frame-discarding
    curves (paper 003, Sec. 3.1) without further model passes.

    References:
      W. Price, D. Damen. Play Fair: Frame Attributions in Video Models. Asian Conference
      on Computer Vision (ACCV), 2020.
    """
    value = _check_value(value)
    n = check_int(n, "n", minimum=1, maximum=MAX_EXACT)
    num_classes = check_int(num_classes, "num_classes", minimum=1)
    masks, children = lattice(n)
    classes = np.arange(num_classes)
    out = np.full((1 << n, num_classes), np.nan)
    weights = 1 << np.arange(n)
    prev = None
    for s in range(1, n + 1):
        parent_mean = prev[children[s]].mean(1) if s >= 2 and prev is not None else None
        prev, v = score_level(value, s, masks[s], parent_mean, num_classes, batch_size, classes,
                              apply_softmax)
        out[masks[s] @ weights] = v
    return out


# ----------------------------------------------------------------------------- sampled ESV
def esv_sampled(value, n: int, *, empty, key, m: int = 256, iterations: int = 4, target=None,
                apply_softmax: bool = True, batch_size: int = 4096,
                fms_draws: int | None = None) -> ESVResult:
    """Approximate ESVs by subsequence sampling (paper 003, Algorithm 1 and Eq. 10).

    At each size s the candidate pool is every sampled size-(s-1) subset grown by one unused
    frame; at most ``m`` distinct candidates are drawn from it, so each sampled subset has a
    sampled parent, and a multi-scale ``f^ms`` (Eq. 9) averages only over sampled parents.
    The per-size sums and counts of Algorithm 1 are pooled over ``iterations`` independent
    passes. With ``m >= C(n, n // 2)`` every subset is drawn and the result equals
    :func:`esv_exact`. ``key``: a ``jax.random`` key (the same key gives the same values).
    Other arguments as in :func:`esv_exact`; ``result.history`` holds the estimate after
    each iteration.

    ``fms_draws`` (multi-scale models only): ``None`` (default) is the paper's Algorithm 1,
    whose ``f^ms`` of a sampled subset comes from Eq. 9 over its *sampled* parents. A subset
    usually has a single sampled parent, the one it was grown from, so above ``n_max`` frames
    its ``f^ms`` equals the parent's and the frame just added gets no credit: the estimates
    are shrunk towards zero. An integer ``r`` instead estimates ``f^ms`` of every sampled
    subset directly from Eq. 8 (:func:`~.value_models.estimate_multiscale`):
    per scale, the exact mean over all subsequences when there are at most ``r``, else the
    mean over ``r`` uniform ones. This is unbiased in the logits and independent of the other
    sampled subsets, at the cost of up to ``r`` head calls per scale per sampled subset
    (``n_evals`` still counts subsets); the README's ESV benchmark compares the two. The
    choice is recorded in ``meta["fms"]``.

    Sampling error (a variable-length value model): sizes with at most ``m`` candidates are
    drawn completely and add none. For an additive game ``v(S) = sum_{j in S} a_j``, whose
    values are the ``a_j``, write ``u = sd(a) * sqrt(n / (m * iterations))``: the estimate has
    no measurable bias, each value's error has a standard deviation of at most about ``u``,
    and efficiency holds only up to sampling error, the sum missing ``v(X) - v(empty)``
    by about ``u`` and up to ``2u`` (measured over 17-40 frames and ``m`` 64-256: 0.5-0.95 u
    and 0.3-1.7 u; ``tests/test_esv_sampled_pinned.py`` checks 4u at 20 frames). Both shrink
    as ``1 / sqrt(m * iterations)``. For other games, reading ``sd(a)`` as the spread of the
    frames' marginal contributions gives a rough guide.

    References:
      W. Price, D. Damen. Play Fair: Frame Attributions in Video Models. Asian Conference
      on Computer Vision (ACCV), 2020.
    """
    value, n, empty, classes, batch_size = _check_common(value, n, empty, target, batch_size)
    key = check_key(key)
    m, iterations, fms_draws = _check_sampling(value, m, iterations, fms_draws)
    t0 = time.perf_counter()
    out = run_algorithm1(value, n, empty, classes, key, m, iterations, apply_softmax, batch_size,
                         draws=fms_draws)
    total = (1 << n) - 1 if n < 1024 else float("inf")
    return ESVResult.from_values(
        out["history"][-1], classes, out["full"], empty[classes], method="esv-sampled",
        n_evals=out["n_evals"], history=out["history"],
        meta={"n": n, "m": m, "iterations": iterations,
              "multiscale": isinstance(value, MultiScale),
              "n_max": getattr(value, "n_max", None), "softmax": bool(apply_softmax),
              "fms": ("recursion over sampled parents (Eq. 9)" if fms_draws is None
                      else f"Eq. 8, at most {fms_draws} draws per scale"),
              "share_per_iteration": out["n_evals"] / iterations / total,
              "seconds": time.perf_counter() - t0})
