"""The score function's parts (model behaviour stage, paper 001 Sec. 3.4): the head that turns
a model's outputs into the explained scalar, and the score function :func:`vidxai.score`
returns. Both are values: equal ones hash equal, so the engine's jitted steps, which take them
as static arguments, compile once per model and target."""
from __future__ import annotations

import dataclasses

import jax

from .errors import ArgumentError, ScoreFunctionError

__all__ = ["Head", "ScoreFunction"]


@dataclasses.dataclass(frozen=True)
class Head:
    """Model outputs -> scores for one ``target`` and ``output`` kind. A frozen value (equal
    heads hash equal), so jitted functions that take the head as a static argument compile
    once per (output, target), not once per score function built."""

    output: str
    target: int | None

    def __call__(self, out):
        if self.output == "raw" and out.ndim == 1:
            return out
        if out.ndim != 2:
            raise ScoreFunctionError(f"model: expected outputs (B, K), got shape {out.shape}")
        if self.target is None or self.target >= out.shape[1]:
            raise ArgumentError("target", f"a class index in 0..{out.shape[1] - 1}",
                                self.target)
        if self.output == "prob":
            return jax.nn.softmax(out, axis=-1)[:, self.target]
        return out[:, self.target]


class ScoreFunction:
    """``f(x) = head(model(x))``: what :func:`score` returns. ``f.model`` and ``f.head`` stay
    reachable (layer methods tap the model's layers and apply the same head); ``f.target``,
    ``f.output``, ``f.vidxai_eager`` and ``f.differentiable`` describe it.

    Two score functions of the same model object and an equal head are equal and hash
    equal, so the engine's jitted steps (which take ``f`` as a static argument) compile once
    per model and target, not once per video: a dataset run or a study builds one per video.
    """

    def __init__(self, model, head: Head):
        self.model, self.head = model, head

    target = property(lambda self: self.head.target)
    output = property(lambda self: self.head.output)
    vidxai_eager = property(lambda self: bool(getattr(self.model, "vidxai_eager", False)))
    differentiable = property(lambda self: bool(getattr(self.model, "differentiable", True)))

    def __call__(self, x):
        return self.head(self.model(x))

    def __eq__(self, other):
        return (isinstance(other, ScoreFunction) and self.model is other.model
                and self.head == other.head)

    def __hash__(self):
        return hash((id(self.model), self.head))

    def __repr__(self):
        name = getattr(self.model, "name", type(self.model).__name__)
        return f"ScoreFunction({name}, target={self.target}, output={self.output!r})"
