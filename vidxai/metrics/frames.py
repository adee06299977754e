"""Frame discarding: drop frames in the order a map ranks them and watch the score.

"Play Fair: Frame Attributions in Video Models" (Price, Damen; ACCV 2020, paper 003, Sec. 4
and Fig. 3) iteratively discards frames from the input in descending or ascending order of
their attribution and compares with four fixed orders: from the centre frame outwards, from
the edges inwards, uniformly, and at random. Removing the most important frames first should
make the score fall fastest; removing the least important first can even raise it (the
discarded frames were distractors).

Only models that accept a variable number of frames can play (a dropped frame is absent, not
blacked out). The model is given as a **frame-value function** ``value(masks) -> scores`` with
``masks`` bool ``(N, T)`` (``True`` = frame kept) and scores ``(N,)``, or ``(N, K)`` outputs
of which ``target`` is read: the form of :func:`vidxai.explain.shapley.frame_average_value`
(TSN-style frame averaging) and of the zoo's ``meta["frame_value"]``, which returns
``(value, empty)``. :func:`subset_value` builds one from a model that takes any number of
frames, ``score_frames(video_subset (1, T', H, W, C)) -> (1,)`` (one call per distinct subset).

Curves: ``scores[order][k]`` is the score with ``k`` frames dropped, ``k = 0 .. T - 1`` (at
least one frame always stays). Orders (:data:`FRAME_ORDERS`):

* ``"descending"`` / ``"ascending"``: by total attribution per frame (the map summed over
  each frame; or a ``(T,)`` vector as given), most / least first; ties by frame index;
* ``"centre_out"``: the centre frame first (for even ``T``, the earlier of the two centre
  frames), then alternately its right and left neighbours;
* ``"edges_in"``: first, last, second, second-to-last, ...;
* ``"uniform"``: with ``k`` dropped, the ``T - k`` kept frames are ``round(linspace(0, T-1,
  T - k))``, evenly spaced (these sets are not nested: each point is its own subset);
* ``"random"``: the mean curve over ``n_random`` uniformly random orders drawn from ``key``.
"""
from __future__ import annotations

import dataclasses

import jax
import numpy as np

from ..errors import (ArgumentError, ArgumentTypeError, ScoreFunctionError, check_choice,
                      check_int, check_key, describe)

__all__ = ["FRAME_ORDERS", "FrameDiscarding", "discarding", "frame_totals", "drop_order",
           "subset_value"]

FRAME_ORDERS = ("descending", "ascending", "centre_out", "edges_in", "uniform", "random")


@dataclasses.dataclass(frozen=True)
class FrameDiscarding:
    """Frame-discarding curves: ``dropped = 0 .. T-1`` and ``scores[order]`` ``(T,)``;
    ``totals`` the per-frame attribution used to rank."""

    dropped: np.ndarray
    scores: dict
    totals: np.ndarray

    def area(self, order: str) -> float:
        """Mean score over the curve (lower for ``descending`` = a more faithful ranking)."""
        check_choice(order, "order", tuple(self.scores))
        return float(np.mean(self.scores[order]))

    def rows(self) -> list[dict]:
        """Tidy rows ``{"order", "dropped", "score"}``."""
        return [{"order": o, "dropped": int(k), "score": float(s)}
                for o, curve in self.scores.items() for k, s in zip(self.dropped, curve)]


def frame_totals(attribution, frames: int | None = None) -> np.ndarray:
    """Per-frame attribution ``(T,)``: a ``(T,)`` vector as it is, a ``(T, H, W)`` (or
    ``(T, H, W, C)``) map summed over each frame, an Explanation's ``map``."""
    arr = np.asarray(getattr(attribution, "map", attribution), dtype=np.float64)
    if arr.ndim not in (1, 3, 4) or arr.size == 0:
        raise ArgumentError("attribution", "per-frame values (T,) or a map (T, H, W)",
                            describe(arr))
    if frames is not None and arr.shape[0] != frames:
        raise ArgumentError("attribution", f"{frames} frames (the model's)", describe(arr))
    if not np.all(np.isfinite(arr)):
        raise ArgumentError("attribution", "finite values", "NaN or inf entries")
    return arr.reshape(arr.shape[0], -1).sum(1)


def drop_order(order: str, totals) -> np.ndarray:
    """The frame indices in the order they are dropped (for every order but ``uniform`` and
    ``random``)."""
    check_choice(order, "order", FRAME_ORDERS[:4])
    totals = np.asarray(totals, np.float64)
    t = totals.size
    if order == "descending":
        return np.argsort(-totals, kind="stable")
    if order == "ascending":
        return np.argsort(totals, kind="stable")
    if order == "centre_out":
        c = (t - 1) // 2
        seq = [c]
        for d in range(1, t):
            seq += [i for i in (c + d, c - d) if 0 <= i < t]
        return np.asarray(seq[:t])
    seq = []
    for i in range((t + 1) // 2):
        seq += [i] if i == t - 1 - i else [i, t - 1 - i]
    return np.asarray(seq)


def _nested(order_idx) -> np.ndarray:
    t = len(order_idx)
    keep = np.ones((t, t), bool)
    for k in range(1, t):
        keep[k:, order_idx[k - 1]] = False
    return keep


def _uniform_masks(t: int) -> np.ndarray:
    keep = np.zeros((t, t), bool)
    for k in range(t):
        keep[k, np.rint(np.linspace(0, t - 1, t - k)).astype(int)] = True
    return keep


def subset_value(score_frames, video):
    """A frame-value function from a variable-length model: ``masks (N, T) -> (N,)`` by
    calling ``score_frames(video[kept][None]) -> (1,)`` once per row."""
    if not callable(score_frames):
        raise ArgumentTypeError("score_frames", "a function (1, T', H, W, C) -> (1,)",
                                describe(score_frames))
    video = np.asarray(video, np.float32)

    def value(masks):
        out = []
        for row in np.asarray(masks, bool):
            s = np.asarray(score_frames(video[row][None]), np.float64).reshape(-1)
            if s.shape != (1,):
                raise ScoreFunctionError(f"score_frames: expected one score, got {s.shape}")
            out.append(s[0])
        return np.asarray(out)

    return value


def _evaluate(value, masks, target) -> np.ndarray:
    out = np.asarray(value(masks), np.float64)
    if out.ndim == 2:
        if target is None:
            raise ArgumentError("target", "a class index: the value function returns "
                                f"{out.shape[1]} outputs per subset", None)
        out = out[:, check_int(target, "target", minimum=0, maximum=out.shape[1] - 1)]
    if out.shape != (len(masks),):
        raise ScoreFunctionError(f"value: expected ({len(masks)},) scores or ({len(masks)}, K) "
                                 f"outputs, got {out.shape}")
    if not np.all(np.isfinite(out)):
        raise ScoreFunctionError("value: non-finite scores")
    return out


def discarding(value, attribution, *, target: int | None = None, orders=FRAME_ORDERS,
               key=None, n_random: int = 10) -> FrameDiscarding:
    """Frame-discarding curves of ``attribution`` (paper 003 Fig. 3; see the module).

    Args:
      value: frame-value function ``masks (N, T) bool -> (N,)`` or ``(N, K)``; a zoo
        ``frame_value`` pair ``(value, empty)`` is accepted (its ``value`` is used).
      attribution: ``(T,)`` per-frame values, a ``(T, H, W)`` map or an Explanation.
      target: the output column when ``value`` returns ``(N, K)``.
      orders: names from :data:`FRAME_ORDERS`.
      key: ``jax.random`` key for ``"random"``; n_random: random orders averaged.

    All subsets are evaluated in one call of ``value``.
    """
    if isinstance(value, tuple) and len(value) == 2:
        value = value[0]
    if not callable(value):
        raise ArgumentTypeError("value", "a frame-value function masks (N, T) -> scores",
                                describe(value))
    totals = frame_totals(attribution)
    t = totals.size
    if isinstance(orders, str) or not orders:
        raise ArgumentError("orders", "a non-empty tuple of " + ", ".join(FRAME_ORDERS),
                            repr(orders))
    blocks = {}
    for o in orders:
        check_choice(o, "orders", FRAME_ORDERS)
        if o == "uniform":
            blocks[o] = _uniform_masks(t)
        elif o == "random":
            key = check_key(key)
            n_random = check_int(n_random, "n_random", minimum=1)
            perms = [np.asarray(jax.random.permutation(jax.random.fold_in(key, i), t))
                     for i in range(n_random)]
            blocks[o] = np.concatenate([_nested(p) for p in perms])
        else:
            blocks[o] = _nested(drop_order(o, totals))
    masks = np.concatenate(list(blocks.values()))
    out = _evaluate(value, masks, target)
    scores, at = {}, 0
    for o, block in blocks.items():
        got = out[at: at + len(block)]
        at += len(block)
        scores[o] = got.reshape(-1, t).mean(0) if o == "random" else got
    return FrameDiscarding(np.arange(t), scores, totals)
