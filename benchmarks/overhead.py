"""Explainer overhead: explainer wall time / model-only wall time; memory against N.

A small flax 3-D CNN on a real 16x112x112 clip. For LIME, Kernel SHAP, RISE and LOCO the
explanation (sampling, perturbation, model, summary) is timed after one warm-up call; the
model alone runs on the same number of inputs at the same batch size (jitted, warm), once
before and once after, and the ratio uses the mean of those two baseline times. Then the
peak resident memory and the time per 1000 samples of one LIME explanation with N = 10^3,
10^4 and 10^5 samples, each in a fresh process (streaming: memory flat, time linear), and
the SLIC time on 16x224x224.

    python benchmarks/overhead.py [--samples 1000] [--batch-size 32] [--methods lime ...]
                                  [--memory-counts 1000 10000 100000]
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
from common import small_model, timed  # noqa: E402

from vidxai import explain, scoring, segment  # noqa: E402
from vidxai.io import read_video, sample_video  # noqa: E402


def model_only(f, video, n_inputs, batch_size):
    """The model alone on ``n_inputs`` videos in chunks of ``batch_size``: jitted, warm, every
    chunk dispatched before blocking once (the fastest plain loop; no perturbation)."""
    step = jax.jit(f)
    batch = jnp.broadcast_to(jnp.asarray(video), (batch_size,) + video.shape) + 0.0
    jax.block_until_ready(step(batch))
    chunks = -(-n_inputs // batch_size)

    def run():
        return [step(batch) for _ in range(chunks)]

    return timed(run, repeat=1)


def methods(f, video, seg):
    """Explainers as ``run(n_samples, batch_size) -> Explanation``."""
    key = jax.random.key(0)
    return {
        "lime": lambda n, b: explain.lime(f, video, seg, key=key, n_samples=n, batch_size=b),
        "kernel_shap": lambda n, b: explain.kernel_shap(f, video, seg, key=key, n_samples=n,
                                                        batch_size=b),
        "rise": lambda n, b: explain.rise(f, video, key=key, n_samples=n, batch_size=b),
        "loco": lambda n, b: explain.loco(f, video, seg, batch_size=b),
    }


def expected_evals(name, n, seg):
    return seg.n + 1 if name == "loco" else n + 2   # samples + the video + the removed video


def overhead(n, batch_size, only=None):
    model, video = small_model()
    f = scoring.score(model, 0)
    seg = segment.slic(video)
    print(f"video {video.shape}, {seg.n} SLIC supervoxels, N = {n}, batch {batch_size}, "
          f"backend {jax.default_backend()}")
    print(f"{'method':<12} {'evals':>6} {'explainer s':>12} {'model s':>9} {'ratio':>7}")
    for name, run in methods(f, video, seg).items():
        if only and name not in only:
            continue
        run(batch_size, batch_size)  # warm-up: compiles the same fixed-shape chunk step
        before = model_only(f, video, expected_evals(name, n, seg), batch_size)
        start = time.perf_counter()
        e = run(n, batch_size)
        ours = time.perf_counter() - start
        base = (before + model_only(f, video, e.n_evals, batch_size)) / 2  # bracket: damp drift
        print(f"{name:<12} {e.n_evals:>6} {ours:>12.2f} {base:>9.2f} {ours / base:>7.3f}")


def peak_memory_child(n, batch_size, shape):
    model, video = small_model(tuple(shape))
    f = scoring.score(model, 0)
    seg = segment.grid(video, (4, 7, 7))
    run = lambda m: explain.lime(f, video, seg, key=jax.random.key(0), n_samples=m,  # noqa
                                 batch_size=batch_size)
    run(batch_size)   # compile outside the timing
    start = time.perf_counter()
    run(n)
    seconds = time.perf_counter() - start
    print(json.dumps({"n": n, "seconds": seconds,
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def peak_memory(counts, batch_size, shape):
    """Peak RSS and time per 1000 samples of one LIME run (196 grid features) of the small
    CNN on a ``shape`` clip, each count in a fresh process: with streaming sampling memory is
    flat and time linear in N."""
    rows = []
    print(f"LIME memory and time against N: small CNN on {tuple(shape)} clips, batch {batch_size}")
    for n in counts:
        out = subprocess.run([sys.executable, __file__, "--memory-child", str(n),
                              "--batch-size", str(batch_size), "--memory-shape",
                              *map(str, shape)],
                             capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    print(f"{'LIME N':>9} {'peak RSS MB':>12} {'s / 1000 samples':>17}")
    for r in rows:
        print(f"{r['n']:>9} {r['peak_mb']:>12.0f} {1000 * r['seconds'] / r['n']:>17.3f}")
    print(f"peak RSS ratio N={rows[-1]['n']} / N={rows[0]['n']}: "
          f"{rows[-1]['peak_mb'] / rows[0]['peak_mb']:.3f}; time per sample ratio: "
          f"{(rows[-1]['seconds'] / rows[-1]['n']) / (rows[0]['seconds'] / rows[0]['n']):.3f}")


def slic_time():
    video = read_video(sample_video("bikes"), num_frames=16, size=224, stride=2)
    segment.slic(video[:2])  # import / warm-up
    start = time.perf_counter()
    seg = segment.slic(video)
    print(f"SLIC on {video.shape[:3]}: {time.perf_counter() - start:.2f} s, {seg.n} supervoxels")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--methods", nargs="*", default=None,
                        help="subset of lime kernel_shap rise loco (default: all)")
    parser.add_argument("--skip-extras", action="store_true", help="no memory / SLIC part")
    parser.add_argument("--memory-counts", type=int, nargs="+", default=[1000, 10000, 100000],
                        help="LIME sample counts of the memory / time part "
                             "(default: 1000 10000 100000)")
    parser.add_argument("--memory-shape", type=int, nargs=3, default=[8, 32, 32],
                        metavar=("T", "H", "W"),
                        help="clip size of the memory / time part, small so 10^5 samples take "
                             "minutes (default: 8 32 32)")
    parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        return peak_memory_child(args.memory_child, args.batch_size, args.memory_shape)
    overhead(args.samples, args.batch_size, args.methods)
    if not args.skip_extras:
        peak_memory(args.memory_counts, args.batch_size, args.memory_shape)
        slic_time()


if __name__ == "__main__":
    main()
