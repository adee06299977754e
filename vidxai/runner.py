"""Explain a dataset: many videos, several methods, one call that survives being killed.

:func:`explain_many` runs :func:`vidxai.explain.run` for every (video, method) pair and
writes one result folder per pair. It is the engine behind ``vidxai explain
VIDEO_OR_FOLDER... --out DIR --methods a,b [--engine ray --address auto]`` and serves the
dataset-scale evaluations of "Local Agnostic Video Explanations: a Study on the
Applicability of Removal-Based Explanations to Video", "Spatio-Temporal Perturbations for
Video Attribution" and "Here comes the SAM" (tens to thousands of clips); it implements no
equation itself.

**Inputs.** ``videos`` are file paths; a folder stands for its video files (sorted by
name, not recursive). Paths, not arrays: a result folder is named by the file's stem, a job's
random key by its file name, and a rerun finds its jobs again by name. ``model`` is a zoo
model name (:func:`vidxai.zoo.load_model`) or a zero-argument *model factory* returning a
model with the zoo's input spec (``num_frames``, ``size``, ``min_frames``, ``meta``,
``name``; see ``models/base.py``), picklable for the Ray engine; the local engine also takes
a model object itself. Each worker builds the model once. Clips are read as the model
expects them (:func:`vidxai.zoo.load_clip`, with ``clip_frames`` / ``clip_stride``; named so
to stay apart from method options such as occlusion's ``stride``).

**Outputs.** ``out/<video stem>/<method>/explanation.npz`` (:meth:`Explanation.save`; load
with :meth:`vidxai.Explanation.load`) and ``summary.json`` beside it, each written under a
temporary name in the same folder and renamed over the final name (``os.replace``): no
partial file is ever visible under a final name.

**Manifest** ``out/manifest.jsonl``: JSON lines, appended and ``fsync``-ed by the driver
only, one record per finished job (newest wins)::

    {"name": "v03.mp4", "video": "/data/v03.mp4", "stem": "v03", "method": "lime",
     "status": "done" | "failed", "error": null | "VideoFileError: ...",
     "options": {... canonical JSON: model, method, options, target, frames, stride, seed},
     "fingerprint": "16 hex digits of the options' SHA-256", "seed": [k0, k1],
     "version": "0.2.0", "engine": "local" | "ray", "worker": <pid>,
     "seconds": {"model": ..., "load": ..., "explain": ..., "write": ...},
     "target": 2, "label": "...", "at": "2025-...+00:00"}

**Resume.** A job is skipped when its newest record is ``done`` with the same fingerprint and
its ``explanation.npz`` exists; a failed job is retried; a job whose options changed is
recomputed. The package version is recorded but not fingerprinted (an upgrade does not
recompute a dataset). Killing a run at any moment loses at most the jobs in flight.

**Keys.** The key of a job is ``fold_in(key, crc32(file name))`` (:func:`job_key`; ``key``
defaults to ``jax.random.key(0)``, an int is a seed), so a result equals
``explain.run(method, model, video, target=target, key=job_key(key, name), **options)`` on
that video alone, whatever the video's position or the engine; the derived key's data is
recorded as ``seed``.

**Engines.** ``"local"`` runs the jobs one video after another in this process. ``"ray"``
(the optional extra ``pip install vidxai[ray]``) runs one actor per worker
(:mod:`vidxai._ray_engine`): ``ray.init(num_cpus=workers or 2)`` on this machine when Ray is
not yet started and no ``address`` is given, ``ray.init(address=address)`` to join a
cluster (``address="auto"`` = the cluster ``ray start`` started on this machine). Workers read
the videos (their paths must be readable on every node) and return the results; the driver
writes every file and the manifest, so ``out`` need only exist on the driver.
"""
from __future__ import annotations

import dataclasses
import inspect
import os
import time
import zlib
from pathlib import Path

import numpy as np

from . import __version__
from . import _manifest
from ._progress import bar_disabled
from ._run_summary import JobOutcome, RunSummary
from ._worker import Built, Task, Worker
from .errors import ArgumentError, ArgumentTypeError, check_choice, check_int, describe

__all__ = ["explain_many", "job_key", "video_files", "RunSummary", "JobOutcome", "Job",
           "Worker", "VIDEO_SUFFIXES", "ENGINES"]

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".gif")
ENGINES = ("local", "ray")
EXPLANATION_FILE = "explanation.npz"
SUMMARY_FILE = "summary.json"


# ------------------------------------------------------------------------------ the plan
def video_files(videos) -> list[Path]:
    """``videos`` (a path or a list of paths; folders stand for their video files, sorted)
    as a list of files with distinct stems."""
    if isinstance(videos, (str, os.PathLike)):
        videos = [videos]
    if not isinstance(videos, (list, tuple)):
        raise ArgumentTypeError("videos", "a path or a list of paths to video files or "
                                "folders", describe(videos))
    files = []
    for item in videos:
        if not isinstance(item, (str, os.PathLike)):
            raise ArgumentTypeError("videos", "paths to video files or folders (arrays are "
                                    "not accepted: results are named and resumed by file "
                                    "name)", describe(item))
        path = Path(item)
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.is_file()
                            and p.suffix.lower() in VIDEO_SUFFIXES and not p.name.startswith("."))
        elif path.exists():
            files.append(path)
        else:
            raise ArgumentError("videos", "existing video files or folders", repr(str(path)))
    if not files:
        raise ArgumentError("videos", "at least one video file", repr([str(v) for v in videos]))
    stems: dict[str, Path] = {}
    for path in files:
        if path.stem in stems:
            raise ArgumentError("videos", "video files with distinct names (a result folder is "
                                "named by the file's stem)", f"{stems[path.stem]} and {path}")
        stems[path.stem] = path
    return files


def job_key(key, name: str):
    """The key of the jobs on the video called ``name``: ``fold_in(key, crc32(name))``
    (``key``: a jax key, an int seed, or ``None`` = ``jax.random.key(0)``)."""
    import jax

    from .explain.frontdoor import _as_key

    base, _ = _as_key(key)
    return jax.random.fold_in(base, np.uint32(zlib.crc32(str(name).encode("utf-8"))))


def _key_data(key) -> list[int]:
    import jax

    typed = jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
    return np.asarray(jax.random.key_data(key) if typed else key).astype(np.int64).ravel().tolist()


def _methods(methods) -> list[str]:
    from .explain import registry

    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    if not isinstance(methods, (list, tuple)) or not methods:
        raise ArgumentError("methods", "one or more method names (a list or 'a,b')",
                            repr(methods))
    names = [registry.get(m).name for m in methods]
    if len(set(names)) != len(names):
        raise ArgumentError("methods", "distinct method names", repr(list(methods)))
    return names


def _options_by_method(methods, options, per_method=None) -> dict:
    """Each method gets the shared options it takes, then its own ``per_method[name]``
    (which must all be its options); an option no method takes is an error."""
    from .explain import frontdoor, registry

    taken = {m: frontdoor.accepted_options(registry.get(m)) for m in methods}
    for option, value in options.items():
        if not any(option in t for t in taken.values()):
            raise ArgumentError(option, f"an option of one of {methods}", repr(value))
    per_method = {} if per_method is None else per_method
    if not isinstance(per_method, dict) or set(per_method) - set(methods):
        raise ArgumentError("per_method", f"a dict keyed by some of {methods}",
                            repr(per_method)[:120])
    for method, own in per_method.items():
        for option, value in own.items():
            if option not in taken[method]:
                raise ArgumentError(option, f"an option of {method}", repr(value))
    seg = options.get("segmentation")
    if seg is not None and not callable(seg):
        raise ArgumentTypeError("segmentation", "a callable video -> Segmentation (one "
                                "segmentation per video)", describe(seg))
    return {m: {**{k: v for k, v in options.items() if k in taken[m]}, **per_method.get(m, {})}
            for m in methods}


def _model_spec(model, engine: str):
    """Check ``model``; return ``(spec, description)``: the spec workers build from."""
    if isinstance(model, str):
        from . import zoo

        if model not in zoo.registry():
            raise ArgumentError("model", f"one of {sorted(zoo.registry())} (see `vidxai "
                                "models`)", repr(model))
        return model, f"zoo:{model}"
    if all(hasattr(model, a) for a in ("apply", "num_frames", "size")):
        if engine != "local":
            raise ArgumentTypeError("model", "a zoo model name or a model factory for the ray "
                                    "engine (a model object is not shipped to workers)",
                                    describe(model))
        return Built(model), f"object:{getattr(model, 'name', type(model).__name__)}"
    if callable(model):
        try:
            needed = [p for p in inspect.signature(model).parameters.values()
                      if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY,
                                                              p.POSITIONAL_OR_KEYWORD)]
        except (TypeError, ValueError):
            needed = []
        if not needed:
            return model, _manifest.canonical(model)
    raise ArgumentTypeError("model", "a zoo model name or a zero-argument factory returning a "
                            "model with an input spec (num_frames, size)", describe(model))


@dataclasses.dataclass
class Job:
    """One (video, method) pair: its options, fingerprint and folder."""

    path: Path
    method: str
    options: dict
    settings: dict
    fingerprint: str
    folder: Path

    @property
    def name(self) -> str:
        return self.path.name


# ------------------------------------------------------------------------------- driver
def _plan(files, methods, by_method, key, target, frames, stride, model_text, out, summary):
    """The tasks to run; jobs done before with the same options become ``skipped``."""
    latest = _manifest.Manifest(out).latest()
    tasks, jobs = [], {}
    for path in files:
        derived = job_key(key, path.name)
        pending = []
        for method in methods:
            settings = {"model": model_text, "method": method,
                        "options": _manifest.canonical(by_method[method]),
                        "target": _manifest.canonical(target), "frames": frames,
                        "stride": stride, "seed": _key_data(derived)}
            job = Job(path, method, by_method[method], settings,
                      _manifest.fingerprint(settings), out / path.stem / method)
            before = latest.get((path.name, method))
            if (before is not None and before.get("status") == "done"
                    and before.get("fingerprint") == job.fingerprint
                    and (job.folder / EXPLANATION_FILE).is_file()):
                summary.jobs.append(JobOutcome(str(path), method, "skipped", job.folder))
                continue
            jobs[(str(path), method)] = job
            pending.append((method, by_method[method]))
        if pending:
            tasks.append(Task(str(path), derived, target, frames, stride, pending))
    return tasks, jobs


def _record(job, result, report, engine) -> dict:
    """Write one job's files (atomically) and return its manifest record."""
    folder = job.folder
    folder.mkdir(parents=True, exist_ok=True)
    _manifest.clear_temporaries(folder)
    seconds = {"model": report.get("model_seconds", 0.0), "load": report.get("load_seconds"),
               "explain": result.get("seconds"), "write": None}
    status, error = result["status"], result.get("error")
    explanation = result.get("explanation")
    about = {"name": job.name, "video": str(job.path), "stem": job.path.stem,
             "method": job.method, "options": job.settings, "fingerprint": job.fingerprint,
             "seed": job.settings["seed"], "version": __version__, "engine": engine,
             "worker": report.get("pid"), "target": report.get("target"),
             "label": report.get("label")}
    start = time.perf_counter()
    if status == "done":
        try:
            _manifest.atomic_write(folder / EXPLANATION_FILE, explanation.save)
            _manifest.write_json(folder / SUMMARY_FILE, {
                **about, "status": "done", "n_evals": int(explanation.n_evals),
                "warnings": list(explanation.meta.get("warnings", [])),
                "sampling": report.get("sampling"), "notes": report.get("notes", []),
                "seconds": seconds})
        except Exception as err:                         # noqa: BLE001 - recorded, run goes on
            status, error = "failed", f"{type(err).__name__}: {err} (writing the result)"
    if status != "done":
        # a stale result of other options (or of an earlier failure) must not stay visible
        (folder / EXPLANATION_FILE).unlink(missing_ok=True)
        try:
            _manifest.write_json(folder / SUMMARY_FILE, {**about, "status": "failed",
                                                         "error": error})
        except OSError:
            pass
    seconds["write"] = round(time.perf_counter() - start, 4)
    return {**about, "status": status, "error": error, "seconds": seconds}


def explain_many(videos, model, methods, out, *, engine: str = "local", key=None,
                 address: str | None = None, workers: int | None = None,
                 progress: bool = False, target=None, clip_frames: int | None = None,
                 clip_stride: int | None = None, per_method: dict | None = None,
                 **options) -> RunSummary:
    """Explain every video in ``videos`` with every method in ``methods``; see the module
    docstring for the folders, the manifest, resuming and the keys.

    Args:
      videos: a video file or folder, or a list of them (folders: their video files, sorted).
      model: a zoo model name, or a zero-argument factory returning a model (picklable for
        Ray); the local engine also takes a model object.
      methods: method names of the table (a list or ``"lime,occlusion"``).
      out: the results folder (created); holds ``manifest.jsonl``.
      engine: ``"local"`` (this process) or ``"ray"``.
      key: a jax key or an int seed (default ``jax.random.key(0)``); each video's key is
        :func:`job_key` ``(key, file name)``.
      address: Ray only: a cluster to join (``"auto"``: the one started on this machine);
        default: start a local Ray with ``workers`` CPUs (2 when not given).
      workers: Ray only: how many actors (each builds the model once); default: the
        cluster's CPUs, at most one per video.
      progress: a progress bar over videos.
      target: ``None`` (each video's top-1 class), a class index or label, for every video.
      clip_frames, clip_stride: the clip window read from each file (default: the model's),
        as ``frames`` / ``stride`` of :func:`vidxai.zoo.load_clip`.
      per_method: ``{method: {option: value}}``, options for one method only (they
        override the shared ones; the command line passes each method's flags so).
      **options: method options (e.g. ``n_samples``); each method gets the ones it takes.
        ``segmentation`` may be a callable ``video -> Segmentation`` applied to each video.

    Returns a :class:`RunSummary` (``done``, ``failed``, ``skipped``; ``str()`` to print).
    """
    from tqdm.auto import tqdm

    start = time.perf_counter()
    engine = check_choice(engine, "engine", ENGINES)
    files = video_files(videos)
    methods = _methods(methods)
    by_method = _options_by_method(methods, options, per_method)
    spec, model_text = _model_spec(model, engine)
    frames, stride = clip_frames, clip_stride
    for value, name in ((frames, "clip_frames"), (stride, "clip_stride"), (workers, "workers")):
        if value is not None:
            check_int(value, name, minimum=1)
    if address is not None and (engine != "ray" or not isinstance(address, str)):
        raise ArgumentError("address", "a Ray address string with engine='ray'", repr(address))
    if not isinstance(out, (str, os.PathLike)):
        raise ArgumentTypeError("out", "a folder path", describe(out))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = RunSummary(out, engine)
    tasks, jobs = _plan(files, methods, by_method, key, target, frames, stride, model_text,
                        out, summary)
    manifest = _manifest.Manifest(out)
    bar = tqdm(total=len(tasks), unit="video", disable=bar_disabled(progress), desc="videos")

    def finish(task, report):
        for result in report["results"]:
            job = jobs[(task.path, result["method"])]
            record = _record(job, result, report, engine)
            manifest.append(record)
            summary.jobs.append(JobOutcome(str(job.path), job.method, record["status"],
                                           job.folder, record["error"], record["seconds"],
                                           record["worker"]))
        bar.update(1)
        bar.set_postfix(failed=len(summary.failed), refresh=False)

    try:
        if engine == "ray" and tasks:
            from . import _ray_engine

            _ray_engine.run(tasks, spec, finish, address=address, workers=workers)
        elif tasks:
            worker = Worker(spec)
            for task in tasks:
                finish(task, worker.explain(task))
    finally:
        bar.close()
        summary.seconds = time.perf_counter() - start
    return summary
