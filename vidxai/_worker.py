"""The worker side of the dataset runner (:mod:`vidxai.runner`): one video's jobs in, the
explanations and timings out. The local engine runs a :class:`Worker` in its own process, the
Ray engine one per actor (:mod:`vidxai._ray_engine`); either way the model is built once per
worker, on its first video.
"""
from __future__ import annotations

import dataclasses
import os
import time

from .errors import ArgumentTypeError, describe

__all__ = ["Worker", "Task", "Built"]


@dataclasses.dataclass(frozen=True)
class Built:
    """A model object given to the local engine, built already."""

    model: object

    def __call__(self):
        return self.model


@dataclasses.dataclass
class Task:
    """The pending jobs of one video, as a worker receives them."""

    path: str
    key: object
    target: object
    frames: int | None
    stride: int | None
    jobs: list          # [(method, options)]


class Worker:
    """Explains one video's jobs at a time; builds the model on first use, once.

    The local engine uses one in this process; the Ray engine one per actor.
    """

    def __init__(self, spec):
        self.spec = spec
        self.model = None

    def pid(self) -> int:
        return os.getpid()

    def _build(self) -> float:
        if self.model is not None:
            return 0.0
        start = time.perf_counter()
        if isinstance(self.spec, str):
            from . import zoo

            model = zoo.load_model(self.spec)
        else:
            model = self.spec()
        if not all(hasattr(model, a) for a in ("num_frames", "size", "min_frames", "meta",
                                                "name")):
            raise ArgumentTypeError("model", "a model with the zoo's input spec (num_frames, "
                                    "size, min_frames, meta, name; see models/base.py)",
                                    describe(model))
        self.model = model
        return time.perf_counter() - start

    def explain(self, task: Task) -> dict:
        """Every job of ``task``: ``{"pid", "model_seconds", "load_seconds", "sampling",
        "notes", "target", "label", "results": [{"method", "status", "error",
        "explanation", "seconds"}]}``. A failure fails the jobs it concerns, not the run."""
        from . import zoo
        from .explain import frontdoor

        report = {"pid": os.getpid(), "model_seconds": 0.0, "notes": [], "results": []}
        start = time.perf_counter()
        try:
            report["model_seconds"] = round(self._build(), 4)
            start = time.perf_counter()
            _, video, sampling = zoo.load_clip(self.model, task.path, task.frames, task.stride,
                                               say=report["notes"].append)
            if hasattr(self.model, "check_input"):
                video = self.model.check_input(video)
            report["sampling"] = sampling
            who = frontdoor.subject(self.model, video, task.target)
            report["target"], report["label"] = who.target, who.label
        except Exception as err:                         # noqa: BLE001 - recorded per job
            report["load_seconds"] = round(time.perf_counter() - start, 4)
            report["results"] = [{"method": m, "status": "failed", "error": _text(err)}
                                 for m, _ in task.jobs]
            return report
        report["load_seconds"] = round(time.perf_counter() - start, 4)
        segmentations = {}
        for method, options in task.jobs:
            start = time.perf_counter()
            try:
                options = dict(options)
                segmenter = options.get("segmentation")
                if segmenter is not None:
                    if id(segmenter) not in segmentations:
                        segmentations[id(segmenter)] = segmenter(video)
                    options["segmentation"] = segmentations[id(segmenter)]
                e = frontdoor.run(method, who, video, key=task.key, **options)
                result = {"status": "done", "error": None, "explanation": e}
            except Exception as err:                     # noqa: BLE001 - recorded per job
                result = {"status": "failed", "error": _text(err)}
            result.update(method=method, seconds=round(time.perf_counter() - start, 4))
            report["results"].append(result)
        return report


def _text(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"
