"""The evaluation study: several methods on several videos, scored under a paper's protocol,
against a random map, with the metric's reliability - the comparison of "Spatio-Temporal
Perturbations for Video Attribution" (paper 004, Sec. V-C and Eq. 20-21) for any model.

:func:`study` explains every video with every method through the dataset runner
(:func:`vidxai.runner.explain_many`: explanations already saved in ``out`` are reused, a
failed job is retried), always adds the ``random`` map, scores the curve metrics of all the
maps of a video in one engine pass per game (:meth:`Protocol.evaluate_many`), and writes
into ``out``:

- ``results.csv``: the tidy table, one row per (video, method, metric, protocol, unit) with
  its ``value`` (an AUC; ``fit_r2`` / ``fit_heldout_r2``: the surrogate's in-sample and
  held-out fit, for the methods that fit one);
- ``curves.npz``: every curve (x and scores), ``curves.png``: mean curves per method with
  bootstrap bands, ``auc.png``: mean AUCs with bootstrap 95% intervals;
- ``summary.csv``: :func:`~vidxai.metrics.summary.summarise`, ``alpha.json``: reliability
  per metric (:func:`~vidxai.metrics.summary.reliability_by_metric`), ``errors.json``;
- ``report.html``: all of it on one self-contained page, with every method's map over a few
  frames of every video, side by side.

A video that cannot be read, or whose saved explanation has another size, is recorded in
``errors`` (and the report) without losing the other videos' rows.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ..errors import ArgumentError, VidxaiError, check_choice, check_int
from .map_metrics import MAP_METRICS, MapContext
from .protocols import PROTOCOLS, protocol as preset
from .summary import RANDOM, reliability_by_metric, summarise

__all__ = ["study", "StudyResult", "CURVE_METRICS", "STUDY_METRICS", "format_summary"]

CURVE_METRICS = ("insertion", "deletion")
STUDY_METRICS = CURVE_METRICS + tuple(MAP_METRICS)
COLUMNS = ["video", "method", "metric", "protocol", "unit", "value"]
RE_EXPLAINING = ("randomisation", "sensitivity")     # re-explain: skipped for the random map


class StudyResult:
    """What :func:`study` found: ``table`` (the tidy pandas DataFrame), ``summary``,
    ``alpha`` (metric -> alpha or None), ``curves`` ((metric, protocol, unit) -> method ->
    [(x, scores)] over videos), ``errors`` (one line per failure), ``files`` written and
    ``seconds`` (``explain``: the dataset run, ``evaluate``: scoring the maps; the share spent
    inside the model is measured by ``benchmarks/study_speed.py`` with a timed model)."""

    def __init__(self, table, summary, alpha, curves, errors, files, seconds, explained):
        self.table, self.summary, self.alpha, self.curves = table, summary, alpha, curves
        self.errors, self.files, self.seconds, self.explained = errors, files, seconds, explained

    def __repr__(self):
        return "\n".join(format_summary(self))


def _check_metrics(metrics) -> tuple:
    if isinstance(metrics, str):
        metrics = [m.strip() for m in metrics.split(",") if m.strip()]
    if not metrics:
        raise ArgumentError("metrics", f"one or more of {STUDY_METRICS}", repr(metrics))
    for m in metrics:
        check_choice(m, "metrics", STUDY_METRICS)
    return tuple(dict.fromkeys(metrics))


def _protocol(protocol, curve_metrics):
    if isinstance(protocol, str):
        check_choice(protocol, "protocol", PROTOCOLS)
        protocol = preset(protocol)
    from .protocols import Protocol

    if not isinstance(protocol, Protocol):
        raise ArgumentError("protocol", f"one of {PROTOCOLS} or a metrics.Protocol",
                            repr(protocol))
    return protocol.replace(games=curve_metrics) if curve_metrics else protocol


def _model(model):
    if isinstance(model, str):
        from .. import zoo

        return zoo.load_model(model)
    if all(hasattr(model, a) for a in ("apply", "num_frames", "size")):
        return model
    return model()          # a model factory, as the runner takes


def _fit_rows(name, method, e) -> list:
    fit = e.meta.get("fit") or {}
    rows = []
    for key, metric in (("r2", "fit_r2"), ("heldout_r2", "fit_heldout_r2")):
        if fit.get(key) is not None:
            rows.append([name, method, metric, "", "", float(fit[key])])
    return rows


def _load_maps(out, path, methods, shape):
    from ..explanation import Explanation

    maps, errors = {}, []
    for method in methods:
        file = Path(out) / path.stem / method / "explanation.npz"
        if not file.is_file():
            errors.append(f"{path.name} {method}: no explanation (its job failed; see "
                          "manifest.jsonl)")
            continue
        e = Explanation.load(file)
        m = e.map
        if m.shape[1:] == (1, 1) and m.shape[0] == shape[0]:
            m = np.broadcast_to(m, shape)
        if m.shape != shape:
            errors.append(f"{path.name} {method}: the saved explanation's map is {m.shape}, the "
                          f"video is {shape} (an explanation of another video size in {file})")
            continue
        maps[method] = (e, np.asarray(m, np.float32))
    return maps, errors


def _map_rows(name, metric, who, model, video, maps, plan):
    """Rows of one per-map metric for every method of one video; errors per method."""
    from .. import runner

    rows, errors = [], []
    for method, (e, saliency) in maps.items():
        if method == RANDOM and metric in RE_EXPLAINING:
            continue        # a keyed random map is the same map whatever the model
        options = dict(plan["options"].get(method, {}))
        if callable(options.get("segmentation")):
            options["segmentation"] = e.segmentation or options["segmentation"](video)
        ctx = MapContext(model, who, video, method, e, saliency,
                         runner.job_key(plan["key"], plan["file"]), options, plan["batch_size"])
        try:
            rows += [[name, method, *row] for row in MAP_METRICS[metric](ctx)]
        except (VidxaiError, ValueError, TypeError) as err:
            errors.append(f"{plan['file']} {method} {metric}: {type(err).__name__}: {err}")
    return rows, errors


def _evaluate_video(model, path, methods, out, proto, *, target, frames, stride, batch_size,
                    extra=(), plan=None):
    """Rows and curves of one video; raises on an unreadable video."""
    from .. import zoo
    from ..explain import frontdoor

    _, video, _ = zoo.load_clip(model, path, frames, stride, say=lambda _m: None)
    maps, errors = _load_maps(out, path, methods, video.shape[:3])
    rows, curves = [], {}
    if not maps:
        return rows, curves, errors
    who = frontdoor.subject(model, video, target)
    f = who.f
    names = list(maps)
    for method in names:
        rows += _fit_rows(path.stem, method, maps[method][0])
    if proto.games:
        unit = proto._unit(video)
        scored = proto.evaluate_many(f, video, [maps[m][1] for m in names],
                                     batch_size=batch_size, unit=unit)
        for method, by_game in zip(names, scored):
            for game, score in by_game.items():
                rows.append([path.stem, method, game, proto.name, proto.unit_name(),
                             float(score.value)])
                key = (game, proto.name, proto.unit_name())
                curves.setdefault(key, {}).setdefault(method, []).append(
                    (np.asarray(score.curve.x), np.asarray(score.curve.scores)))
    for metric in extra:
        got, failed = _map_rows(path.stem, metric, who, model, video, maps,
                                {**plan, "file": path.name, "batch_size": batch_size})
        rows += got
        errors += failed
    return rows, curves, errors


def _merge(into: dict, new: dict) -> None:
    for key, by_method in new.items():
        for method, pairs in by_method.items():
            into.setdefault(key, {}).setdefault(method, []).extend(pairs)


def study(videos, model, methods, *, metrics=CURVE_METRICS, protocol="step", out=None,
          key=None, target=None, engine: str = "local", address: str | None = None,
          clip_frames: int | None = None, clip_stride: int | None = None, batch_size: int = 32,
          report: bool = True, progress: bool = True, per_method: dict | None = None,
          **options) -> StudyResult:
    """Compare ``methods`` (plus the random map) on ``videos`` with ``metrics`` under a
    paper's ``protocol``; see the module docstring for what is written to ``out``.

    Args:
      videos: video files or folders (as :func:`vidxai.runner.explain_many` takes them).
      model: a zoo model name, a model factory, or (local engine) a model object.
      methods: method names of the table (a list or ``"lime,step,ig"``); ``random`` is
        always added.
      metrics: of :data:`STUDY_METRICS` (a list or ``"insertion,deletion"``).
      protocol: ``"step"`` (paper 004, default), ``"revex"`` (paper 001) or a
        :class:`~vidxai.metrics.Protocol` with your own settings.
      out: the results folder (explanations, tables, plots, report); default a new
        temporary folder.
      key, target, engine, address, clip_frames, clip_stride, per_method, **options: as for
        :func:`vidxai.runner.explain_many` (each job's key derives from the video's name).
      batch_size: videos per model call while scoring curves.
      report: write the plots and ``report.html`` (the tables are always written).
    """
    import tempfile

    import pandas as pd
    from tqdm.auto import tqdm

    from .. import runner
    from .._progress import bar_disabled

    frames, stride = clip_frames, clip_stride
    metrics = _check_metrics(metrics)
    proto = _protocol(protocol, tuple(m for m in metrics if m in CURVE_METRICS))
    check_int(batch_size, "batch_size", minimum=1)
    names = runner._methods(methods)
    names = [m for m in names if m != RANDOM] + [RANDOM]
    out = Path(tempfile.mkdtemp(prefix="vidxai-study-") if out is None else out)
    files = runner.video_files(videos)
    start = time.perf_counter()
    explained = runner.explain_many(files, model, names, out, engine=engine, key=key,
                                    address=address, progress=progress, target=target,
                                    clip_frames=frames, clip_stride=stride,
                                    per_method=per_method, **options)
    seconds = {"explain": time.perf_counter() - start}
    errors = [f"{Path(j.video).name} {j.method}: {j.error}" for j in explained.failed]
    built = _model(model)
    plan = {"key": key, "options": runner._options_by_method(names, options, per_method)}
    extra = [m for m in metrics if m in MAP_METRICS]
    rows, curves = [], {}
    start = time.perf_counter()
    bar = tqdm(total=len(files) * len(names), unit="map", desc="evaluating",
               disable=bar_disabled(progress))
    for path in files:
        try:
            got, found, missing = _evaluate_video(
                built, path, names, out, proto, target=target, frames=frames, stride=stride,
                batch_size=batch_size, extra=extra, plan=plan)
        except (VidxaiError, OSError, ValueError) as err:
            got, found, missing = [], {}, [f"{path.name}: {type(err).__name__}: {err}"]
        rows += got
        _merge(curves, found)
        errors += [e for e in missing if e not in errors]
        bar.update(len(names))
    bar.close()
    seconds["evaluate"] = time.perf_counter() - start
    table = pd.DataFrame(rows, columns=COLUMNS)
    summary = summarise(table) if len(table) else pd.DataFrame()
    alpha = reliability_by_metric(table) if len(table) else {}
    result = StudyResult(table, summary, alpha, curves, errors, [], seconds, explained)
    result.files = _write(out, result, files, names, proto, built, frames, stride, report,
                          dict(metrics=list(metrics), methods=names, engine=engine))
    return result


def _write(out, result, files, names, proto, model, frames, stride, report, settings):
    from .._manifest import atomic_write, write_json

    written = [atomic_write(out / "results.csv", lambda p: result.table.to_csv(p, index=False)),
               atomic_write(out / "summary.csv",
                            lambda p: result.summary.to_csv(p, index=False)),
               write_json(out / "alpha.json", result.alpha),
               write_json(out / "errors.json", result.errors)]
    arrays = {}
    for (metric, pname, unit), by_method in result.curves.items():
        for method, pairs in by_method.items():
            for i, (x, y) in enumerate(pairs):
                arrays[f"{metric}/{pname}/{unit}/{method}/{i}/x"] = x
                arrays[f"{metric}/{pname}/{unit}/{method}/{i}/scores"] = y
    written.append(atomic_write(out / "curves.npz", lambda p: np.savez_compressed(p, **arrays)))
    if report and len(result.table):
        from . import report as pages

        written += _pictures(out, result, files, names, model, frames, stride, pages,
                             {**settings, "protocol": proto.name, "unit": proto.unit_name(),
                              "steps": proto.steps, "ties": proto.ties, "rule": proto.rule})
    return written


def _pictures(out, result, files, names, model, frames, stride, pages, settings):
    from .. import zoo
    from .._manifest import atomic_write
    from ..explanation import Explanation

    figures = {}
    if result.curves:
        figures["Mean curves"] = pages.curve_figure(result.curves)
        figures["AUC"] = pages.auc_figure(result.summary)
    written = []
    for name, fig in figures.items():
        file = out / ("curves.png" if name == "Mean curves" else "auc.png")
        written.append(atomic_write(file, lambda p, fig=fig: fig.savefig(p, dpi=110,
                                                                          format="png")))
    overlays = {}
    for path in files:
        try:
            _, video, _ = zoo.load_clip(model, path, frames, stride, say=lambda _m: None)
        except (VidxaiError, OSError, ValueError):
            continue
        for method in names:
            file = out / path.stem / method / "explanation.npz"
            if file.is_file():
                e = Explanation.load(file)
                if e.map.shape in (video.shape[:3], (video.shape[0], 1, 1)):
                    overlays.setdefault(path.stem, {})[method] = pages.overlay_strip(video, e.map)
    written.append(atomic_write(out / "report.html", lambda p: pages.write_report(
        p, title=f"vidxai study: {len(files)} videos x {len(names)} methods",
        summary=result.summary, alpha=result.alpha, figures=figures, overlays=overlays,
        errors=result.errors, settings=settings)))
    return written


def format_summary(result) -> list[str]:
    """The terminal summary: per metric, each method's mean [95% interval], its share of
    videos beating random, and the metric's alpha."""
    lines = []
    if not len(result.summary):
        return ["no results"] + [f"error: {e}" for e in result.errors]
    for (metric, pname, unit), rows in result.summary.groupby(["metric", "protocol", "unit"],
                                                               sort=False):
        head = f"{metric}" + (f" ({pname}, {unit})" if pname else "")
        alpha = result.alpha.get(f"{metric}/{pname}/{unit}")
        lines.append(head + ("" if alpha is None else f"   reliability alpha {alpha:.3f}"))
        for _, r in rows.iterrows():
            beats = "" if np.isnan(r["beats_random"]) else f"  beats random on {r['beats_random']:.0%}"
            lines.append(f"  {r['method']:<20} {r['mean']:.4f} [{r['ci_low']:.4f}, "
                         f"{r['ci_high']:.4f}]  n={r['n']}{beats}")
    lines += [f"error: {e}" for e in result.errors]
    return lines
