"""Wall time of an evaluation study and the share of it spent inside the model (issue 25).

:func:`vidxai.metrics.study` (what ``vidxai evaluate VIDEO... --methods ...`` runs) on
``--videos`` synthetic clips x ``--methods`` of a small zoo model (default 8 x 4: ig, lime,
occlusion, grad_cam with the command line's CPU settings, on ``r2plus1d_temporal``; an
extremal method at its 300 iterations would take most of the time), paper 004's
``step`` protocol (insertion and deletion, 16 x 16 cells, 128 steps). The model is given as a
factory returning the zoo model with a *timed* ``apply``: every call on concrete arrays is
timed and blocked on, and so are the forward and the backward pass of every gradient taken
through it (a ``jax.custom_vjp`` whose rules run the timer), and the layer taps Grad-CAM
reads. The timed model is declared eager (``vidxai_eager``), so the engine calls it on each
perturbed batch outside its jitted steps; that changes what runs (eager autodiff around the
model, a wait after every call), so it is measured twice:

- ``timed cold`` / ``timed warm``: the instrumented study, compilation included / reused;
  model seconds = the timed calls, per phase (explanation, evaluation).
- ``plain cold`` / ``plain warm``: the same study with the untimed zoo model, as a user runs
  it (the engine jits it). Its model seconds are *model-only* seconds: every distinct call
  the warm timed run recorded (function, forward or backward, shapes) run alone, jitted and
  warm, times its count - the "our time / model-only time" of the other benchmarks. The
  share of ``plain warm`` is the one the goal (>= 0.9) is read on; the timed rows show the
  same split measured inside the run.

    python benchmarks/study_speed.py [--quick] [--model r2plus1d_temporal] [--videos 8]
        [--methods ig lime occlusion grad_cam] [--steps 128] [--skip-plain]
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import vidxai  # noqa: E402
from vidxai import io, metrics  # noqa: E402
from vidxai.explain import registry  # noqa: E402

SMALL = ("r2plus1d_temporal", "cnnlstm_signature", "cnnlstm_spatial")
QUICK_OPTIONS = {"n_samples": 16, "iterations": 8, "steps": 3}


class Clock:
    """Seconds spent inside the model: ``spans`` holds (start, seconds) of every timed call,
    ``calls`` what each was: (function, "forward" | "vjp-forward" | "backward", argument
    shapes)."""

    def __init__(self):
        self.spans, self.calls, self.functions = [], [], {}

    def add(self, start, fn=None, kind="forward", args=()):
        self.spans.append((start, time.perf_counter() - start))
        shapes = tuple(tuple(a.shape) for a in jax.tree_util.tree_leaves(args))
        self.calls.append((id(fn), kind, shapes))
        if fn is not None:
            self.functions[id(fn)] = fn

    def between(self, lo, hi):
        return sum(s for t, s in self.spans if lo <= t < hi)


def _traced(tree) -> bool:
    return any(isinstance(a, jax.core.Tracer) for a in jax.tree_util.tree_leaves(tree))


_PULLBACKS = {}


def _pullback(fn):
    """The backward pass of ``fn`` (it recomputes the forward pass) as one jitted function,
    one per ``fn`` for the whole process, so a warm run does not compile it again (an eager
    ``jax.vjp`` of a jitted model would re-lower it on every call)."""
    if fn not in _PULLBACKS:
        _PULLBACKS[fn] = jax.jit(lambda args, cotangent: jax.vjp(fn, *args)[1](cotangent))
    return _PULLBACKS[fn]


def timed(fn, clock):
    """``fn(*arrays)`` that adds its wall time to ``clock`` whenever it runs on concrete
    arrays: a plain call, the forward pass under ``jax.vjp`` / ``jax.grad`` and the backward
    pass (through ``jax.custom_vjp``; the backward pass recomputes the forward one, inside the
    model's time; under an outer ``jax.jit`` nothing is timed)."""

    pull = _pullback(fn)

    @jax.custom_vjp
    def through(*args):
        return fn(*args)

    def forward(*args):
        start = time.perf_counter()
        out = fn(*args)
        if not _traced(args):
            jax.block_until_ready(out)
            clock.add(start, fn, "vjp-forward", args)
        return out, args

    def backward(args, cotangent):
        start = time.perf_counter()
        grads = pull(args, cotangent)
        if not _traced(cotangent):
            jax.block_until_ready(grads)
            clock.add(start, fn, "backward", args)
        return grads

    through.defvjp(forward, backward)

    def call(*args):
        if _traced(args):
            return through(*args)
        start = time.perf_counter()
        out = jax.block_until_ready(fn(*args))
        clock.add(start, fn, "forward", args)
        return out

    return call


def call_counts(clock, lo=float("-inf"), hi=float("inf")):
    """``{(function id, kind, shapes): count}`` of the calls ``clock`` recorded between
    ``lo`` and ``hi``, without the forward passes taken under a gradient: the pullback that
    times the backward pass recomputes them (as the engine's jitted gradient step computes
    both once)."""
    counts = {}
    for (start, _), call in zip(clock.spans, clock.calls):
        if lo <= start < hi and call[1] != "vjp-forward":
            counts[call] = counts.get(call, 0) + 1
    return counts


def model_only(clock, lo=float("-inf"), hi=float("inf"), repeats=5):
    """Seconds the model alone takes for the calls ``clock`` recorded between ``lo`` and
    ``hi`` (:func:`call_counts`): each distinct (function, forward / backward, shapes) is run
    jitted on its own, warm, ``repeats`` times (median), and multiplied by its count.
    Nothing of the methods' or metrics' work is in it, and the model is not slowed by
    running outside a jit."""
    counts = call_counts(clock, lo, hi)
    total = 0.0
    for (fid, kind, shapes), count in counts.items():
        fn = clock.functions[fid]
        args = [jnp.full(shape, 0.5, jnp.float32) for shape in shapes]
        if kind == "forward":
            step = jax.jit(fn)
            run = lambda: step(*args)   # noqa: E731
        else:
            pull = _pullback(fn)
            cot = jax.tree_util.tree_map(lambda s: jnp.ones(s.shape, s.dtype),
                                         jax.eval_shape(fn, *args))
            run = lambda: pull(args, cot)   # noqa: E731
        jax.block_until_ready(run())
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            jax.block_until_ready(run())
            seconds.append(time.perf_counter() - start)
        total += float(np.median(seconds)) * count
    return total


class TimedApply:
    """A zoo model's ``apply`` (a :class:`vidxai.layers.FlaxModel`) with every call timed,
    its layers still listed and tapped (taps timed too); eager, so the engine calls it."""

    vidxai_eager = True
    differentiable = True

    def __init__(self, inner, clock):
        self.inner, self.clock = inner, clock
        self._call = timed(inner, clock)
        self._taps = {}
        self.__name__ = f"timed({getattr(inner, '__name__', 'apply')})"

    def __call__(self, x):
        return self._call(x)

    def layers(self, sample_shape):
        return self.inner.layers(sample_shape)

    def tap(self, layer, *, replace=False):
        key = (layer, bool(replace))
        if key not in self._taps:       # the same function object per layer: caches stay warm
            self._taps[key] = timed(self.inner.tap(layer, replace=replace), self.clock)
        return self._taps[key]


def timed_model(name, clock):
    """A zero-argument factory returning zoo model ``name`` with a :class:`TimedApply`
    (the same object on every call, so both phases of the study count on ``clock``)."""
    import models

    base = models.load(name)
    model = dataclasses.replace(base, apply=TimedApply(base.apply, clock))
    return lambda: model


def write_clips(name, n, folder, seed=0):
    import models
    from models import synthetic

    model = models.load(name)
    shape = (model.num_frames,) + tuple(model.size)
    batch = synthetic.make_dataset(model.meta["kind"], jax.random.key(seed), n, shape)
    folder.mkdir(parents=True, exist_ok=True)
    return [io.write_video(folder / f"clip{i:03d}.mp4", np.asarray(batch.videos[i]))
            for i in range(n)]


def per_method(methods, quick):
    from vidxai.explain.frontdoor import accepted_options

    out = {}
    for m in methods:
        spec = registry.get(m)
        own = dict(spec.quick)
        if quick:
            own.update({k: v for k, v in QUICK_OPTIONS.items() if k in accepted_options(spec)})
        if own:
            out[m] = own
    return out


def _study(paths, model, args, out):
    start = time.perf_counter()
    result = metrics.study(paths, model, args.methods, protocol=metrics.protocol(
        "step", steps=args.steps), out=out, key=0, report=False, progress=False,
        per_method=per_method(args.methods, args.quick))
    for err in result.errors:
        print(f"  error: {err}")
    return start, time.perf_counter() - start, result


def _row(label, wall, model, result, calls=""):
    """One table row: wall, model seconds and share, per phase (``model`` a pair)."""
    explain, evaluate = result.seconds["explain"], result.seconds["evaluate"]
    rest = wall - explain - evaluate
    print(f"{label:<11} {wall:>7.1f} {sum(model):>7.1f} {sum(model) / wall:>6.2f}   "
          f"{explain:>7.1f} {model[0] / explain:>6.2f}   {evaluate:>8.1f} "
          f"{model[1] / evaluate:>6.2f}   {rest:>5.1f} {calls:>6}")
    return sum(model) / wall


def timed_run(label, paths, args, workdir):
    """The study with the timed (eager) model; returns its clock and phase boundaries."""
    clock = Clock()
    start, wall, result = _study(paths, timed_model(args.model, clock), args, workdir / label)
    split = start + result.seconds["explain"]
    model = (clock.between(start, split), clock.between(split, start + wall))
    share = _row(label, wall, model, result, len(clock.spans))
    return share, (clock, start, split, start + wall)


def plain_runs(paths, args, workdir, bounds):
    """The study with the plain zoo model (jitted by the engine), cold then warm, against
    the model-only seconds of the warm timed run's calls; returns the warm share."""
    import models

    clock, start, split, end = bounds
    model = (model_only(clock, start, split), model_only(clock, split, end))
    share, plain = None, models.load(args.model)     # one model object: warm = compiled
    for label in ("plain cold", "plain warm"):
        _, wall, result = _study(paths, plain, args, workdir / label)
        share = _row(label, wall, model, result)
    return share


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny mode: check the script runs")
    p.add_argument("--model", default="r2plus1d_temporal", choices=SMALL)
    p.add_argument("--videos", type=int, default=8)
    p.add_argument("--methods", nargs="+", default=["ig", "lime", "occlusion", "grad_cam"],
                   help="methods (the command line's CPU settings; random is always added)")
    p.add_argument("--steps", type=int, default=128, help="curve steps (paper 004: 128)")
    p.add_argument("--skip-plain", action="store_true",
                   help="skip the runs with the plain (untimed, jitted) model")
    args = p.parse_args(argv)
    for m in args.methods:
        registry.get(m)
    if args.quick:
        args.videos, args.steps, args.methods = min(args.videos, 2), min(args.steps, 8), \
            args.methods[:2]
    warnings.simplefilter("ignore", vidxai.errors.ExplanationWarning)  # few samples on purpose
    workdir = Path(tempfile.mkdtemp(prefix="vidxai-study-speed-"))
    paths = write_clips(args.model, args.videos, workdir / "videos")
    print(f"study: {args.videos} videos x {len(args.methods)} methods ({', '.join(args.methods)}"
          f", + random) on {args.model}, step protocol, {args.steps} steps; "
          f"{jax.devices()[0].platform}, {len(jax.devices())} device(s)")
    print(f"{'run':<11} {'wall s':>7} {'model s':>7} {'share':>6}   {'explain':>7} {'share':>6}"
          f"   {'evaluate':>8} {'share':>6}   {'rest':>5} {'calls':>6}")
    cold, _ = timed_run("timed cold", paths, args, workdir)
    warm, bounds = timed_run("timed warm", paths, args, workdir)
    line = (f"share of the wall time inside the model, timed (eager) model: cold {cold:.2f}, "
            f"warm {warm:.2f}")
    if not args.skip_plain:
        plain = plain_runs(paths, args, workdir, bounds)
        line += f"; plain model, warm: {plain:.2f} (model-only seconds of the same calls)"
    print(line + " (goal >= 0.9); 'rest' = writing tables outside both phases")


if __name__ == "__main__":
    main()
