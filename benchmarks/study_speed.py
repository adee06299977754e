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
perturbed batch instead of fusing it into its own jitted step; the share then measures what
the issue asks (the metrics' and methods' own work next to the model's; goal >= 0.9), at the
price of that fusion.

Two runs in one process, each into a fresh folder: ``cold`` (compilation included, what a
user's first ``vidxai evaluate`` costs) and ``warm`` (same shapes, everything compiled).
Printed per run: total wall, time inside the model, the share, split into the explanation
and the evaluation phases, and the study's own ``seconds`` for comparison. A third run
(``plain``, skip with ``--skip-plain``) uses the untimed zoo model, fused into the engine's
jitted steps as usual: its wall time is what the timing's eager path costs.

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

import vidxai  # noqa: E402
from vidxai import io, metrics  # noqa: E402
from vidxai.explain import registry  # noqa: E402

SMALL = ("r2plus1d_temporal", "cnnlstm_signature", "cnnlstm_spatial")
QUICK_OPTIONS = {"n_samples": 16, "iterations": 8, "steps": 3}


class Clock:
    """Seconds spent inside the model: ``spans`` holds (start, seconds) of every timed call."""

    def __init__(self):
        self.spans = []

    def add(self, start):
        self.spans.append((start, time.perf_counter() - start))

    def between(self, lo, hi):
        return sum(s for t, s in self.spans if lo <= t < hi)


def _traced(tree) -> bool:
    return any(isinstance(a, jax.core.Tracer) for a in jax.tree_util.tree_leaves(tree))


def timed(fn, clock):
    """``fn(*arrays)`` that adds its wall time to ``clock`` whenever it runs on concrete
    arrays: a plain call, the forward pass under ``jax.vjp`` / ``jax.grad`` and the backward
    pass (through ``jax.custom_vjp``; the backward pass recomputes the forward one, inside the
    model's time; under an outer ``jax.jit`` nothing is timed)."""

    # the backward pass recomputes the forward pass inside one jitted pullback: cached
    # compilations (an eager jax.vjp of a jitted model would re-lower it on every call)
    pull = jax.jit(lambda args, cotangent: jax.vjp(fn, *args)[1](cotangent))

    @jax.custom_vjp
    def through(*args):
        return fn(*args)

    def forward(*args):
        start = time.perf_counter()
        out = fn(*args)
        if not _traced(args):
            jax.block_until_ready(out)
            clock.add(start)
        return out, args

    def backward(args, cotangent):
        start = time.perf_counter()
        grads = pull(args, cotangent)
        if not _traced(cotangent):
            jax.block_until_ready(grads)
            clock.add(start)
        return grads

    through.defvjp(forward, backward)

    def call(*args):
        if _traced(args):
            return through(*args)
        start = time.perf_counter()
        out = jax.block_until_ready(fn(*args))
        clock.add(start)
        return out

    return call


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


def run_once(label, paths, args, workdir):
    clock = Clock()
    factory = timed_model(args.model, clock)
    start = time.perf_counter()
    result = metrics.study(paths, factory, args.methods, protocol=metrics.protocol(
        "step", steps=args.steps), out=workdir / label, key=0, report=False, progress=False,
        per_method=per_method(args.methods, args.quick))
    wall = time.perf_counter() - start
    split = start + result.seconds["explain"]
    explain_model = clock.between(start, split)
    evaluate_model = clock.between(split, start + wall)
    model = explain_model + evaluate_model
    rest = wall - result.seconds["explain"] - result.seconds["evaluate"]
    print(f"{label:<5} {wall:>8.1f} {model:>8.1f} {model / wall:>6.2f}   "
          f"{result.seconds['explain']:>8.1f} {explain_model / result.seconds['explain']:>6.2f}   "
          f"{result.seconds['evaluate']:>8.1f} {evaluate_model / result.seconds['evaluate']:>6.2f}"
          f"   {rest:>6.1f} {len(clock.spans):>7}")
    for err in result.errors:
        print(f"  error: {err}")
    return model / wall


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
                   help="skip the third run with the plain (untimed, fused) model")
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
    print(f"{'run':<5} {'wall s':>8} {'model s':>8} {'share':>6}   {'explain':>8} {'share':>6}   "
          f"{'evaluate':>8} {'share':>6}   {'rest':>6} {'calls':>7}")
    shares = [run_once(label, paths, args, workdir) for label in ("cold", "warm")]
    if not args.skip_plain:
        import models

        plain = models.load(args.model)
        start = time.perf_counter()
        result = metrics.study(paths, plain, args.methods, protocol=metrics.protocol(
            "step", steps=args.steps), out=workdir / "plain", key=0, report=False,
            progress=False, per_method=per_method(args.methods, args.quick))
        wall = time.perf_counter() - start
        print(f"plain {wall:>8.1f}  (the untimed zoo model, fused into the engine's jit, "
              f"compiled afresh: explain {result.seconds['explain']:.1f} s, evaluate "
              f"{result.seconds['evaluate']:.1f} s)")
    print(f"share of the wall time inside the model: cold {shares[0]:.2f}, warm {shares[1]:.2f} "
          f"(goal >= 0.9); 'rest' = writing tables outside both phases")


if __name__ == "__main__":
    main()
