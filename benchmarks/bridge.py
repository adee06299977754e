"""Torch bridge cost (issue 14): LIME on a torch model, against the model alone and Captum.

A small torch 3-D CNN (two Conv3d layers with pooling and a linear head, eval mode, taking
``(B, T, H, W, C)`` clips) classifies a 16x112x112 clip. On the CPU, in one run:

  model    the torch model alone (``torch.no_grad``) on as many batches of ``--batch-size``
           as LIME scores, fed perturbed clips precomputed beforehand (``--distinct`` of
           them, cycled), so nothing but the model is timed
  score    ``vidxai.explain.lime`` with ``f = vidxai.score(g, t)``, ``g = from_torch(net)``
  lambda   the same with the wrapper ``f = lambda x: jax.nn.softmax(g(x))[:, t]``
  captum   ``captum.attr.Lime`` on the same features (the grid as ``feature_mask``),
           baseline 0, ``perturbations_per_eval = --batch-size``, ``n_samples = --evals``,
           the same kernel (cosine distance, width 0.25) and a closed-form ridge (alpha 1)

Each is run once to warm up (compilation, the eager-path check), then timed in
``--rounds`` interleaved rounds (the order rotates each round); the median is printed with
its ratio to the model alone. The features are a fixed grid (``vidxai.segment.grid``), so
no segmentation time is measured. The two vidxai variants are also checked to give the same
LIME weights.

Thread settings and the glibc allocator matter on a CPU: every batch of 32 clips is
~77 MB, above glibc's mmap threshold, so each fresh batch (XLA's or torch's) is page-faulted
in again; ``--tuned-malloc`` reruns the script with ``MALLOC_MMAP_THRESHOLD_`` and
``MALLOC_TRIM_THRESHOLD_`` raised, which removes that for all four variants alike. The
settings in force are printed.

    python benchmarks/bridge.py [--evals 500] [--batch-size 32] [--rounds 3] [--cells 4 8 8]
                                [--tuned-malloc] [--no-captum]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import torch

import vidxai
from vidxai import explain, segment
from vidxai.bridge import from_torch
from vidxai.removal import segment_mask
from vidxai.scoring import perturbed_batch

SHAPE = (16, 112, 112, 3)
TUNED_MALLOC = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


class ChannelsFirst(torch.nn.Module):
    """``(B, T, H, W, C) -> (B, C, T, H, W)``, so every variant feeds the model the same way."""

    def forward(self, x):
        return x.permute(0, 4, 1, 2, 3)


def small_cnn(classes: int = 10) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        ChannelsFirst(),
        torch.nn.Conv3d(3, 16, 3, stride=(1, 2, 2), padding=1), torch.nn.ReLU(),
        torch.nn.MaxPool3d(2),
        torch.nn.Conv3d(16, 32, 3, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool3d(1), torch.nn.Flatten(),
        torch.nn.Linear(32, classes),
    ).eval()


def model_alone(net, video, seg, n_batches: int, batch_size: int, distinct: int):
    """``run()`` calling the model on ``n_batches`` precomputed perturbed batches."""
    labels = jnp.asarray(seg.labels)
    batches = []
    for k in range(min(distinct, n_batches)):
        z = jax.random.bernoulli(jax.random.key(100 + k), 0.5, (batch_size, seg.n))
        x = perturbed_batch(video, jnp.zeros_like(video), z, labels, mask_fn=segment_mask)
        batches.append(torch.from_numpy(np.array(x)))  # torch-owned memory

    def run():
        with torch.no_grad():
            return [net(batches[k % len(batches)]) for k in range(n_batches)]

    return run


class ClosedFormRidge:
    """Weighted ridge with intercept, solved exactly (vidxai's LIME surrogate), in Captum's
    interpretable-model interface (``fit(DataLoader)``, ``representation()``)."""

    def __init__(self, alpha: float = 1.0):
        self.alpha, self.coef = alpha, None

    def fit(self, loader, **_):
        z, y, w = (a.double() for a in next(iter(loader)))
        x = torch.cat([z, torch.ones_like(z[:, :1])], 1) * w[:, None].sqrt()
        reg = self.alpha * torch.eye(x.shape[1], dtype=x.dtype)
        reg[-1, -1] = 0.0  # no penalty on the intercept
        sol = torch.linalg.solve(x.T @ x + reg, x.T @ (y.reshape(-1) * w.sqrt()))
        self.coef = sol[:-1].float()[None]

    def representation(self):
        return self.coef

    def __call__(self, x):
        return x @ self.coef.T


def captum_lime(net, video, seg, target: int, evals: int, batch_size: int):
    from captum.attr import Lime
    from captum.attr._core.lime import get_exp_kernel_similarity_function

    lime = Lime(lambda x: torch.softmax(net(x), -1), interpretable_model=ClosedFormRidge(),
                similarity_func=get_exp_kernel_similarity_function("cosine", 0.25))
    inp = torch.from_numpy(np.array(video))[None]
    mask = torch.from_numpy(np.asarray(seg.labels, np.int64))[None, ..., None]

    def run():
        return lime.attribute(inp, target=target, baselines=0.0, feature_mask=mask,
                              n_samples=evals, perturbations_per_eval=batch_size)

    return run


def timed_rounds(runs: dict, rounds: int) -> dict:
    for run in runs.values():
        jax.block_until_ready(run())  # warm-up
    times = {name: [] for name in runs}
    names = list(runs)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            start = time.perf_counter()
            jax.block_until_ready(runs[name]())
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def settings() -> str:
    keys = ("OMP_NUM_THREADS", "XLA_FLAGS", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
    env = ", ".join(f"{k}={os.environ[k]}" for k in keys if k in os.environ) or "none set"
    return (f"cpus {os.cpu_count()}, torch threads {torch.get_num_threads()} (interop "
            f"{torch.get_num_interop_threads()}), jax {jax.__version__} on "
            f"{jax.devices()[0].platform}; env: {env}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evals", type=int, default=500, help="LIME samples (n_samples)")
    parser.add_argument("--batch-size", type=int, default=32, help="clips per model call")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per variant")
    parser.add_argument("--cells", type=int, nargs=3, default=(4, 8, 8),
                        help="supervoxel grid (t, h, w)")
    parser.add_argument("--distinct", type=int, default=4,
                        help="distinct precomputed batches fed to the model alone")
    parser.add_argument("--target", type=int, default=3, help="explained class")
    parser.add_argument("--no-captum", action="store_true", help="skip the Captum variant")
    parser.add_argument("--tuned-malloc", action="store_true",
                        help="rerun with glibc keeping freed batches (no page faults per batch)")
    args = parser.parse_args(argv)
    if args.tuned_malloc and TUNED_MALLOC[0] not in os.environ:
        env = dict(os.environ, **dict(zip(TUNED_MALLOC, ("4000000000", "8000000000"))))
        os.execve(sys.executable, [sys.executable] + sys.argv, env)

    jax.config.update("jax_platforms", "cpu")
    print(settings())
    net = small_cnn()
    video = jax.random.uniform(jax.random.key(0), SHAPE, dtype=jnp.float32)
    seg = segment.grid(SHAPE[:3], tuple(args.cells))
    g = from_torch(net)
    t, key = args.target, jax.random.key(1)
    wrappers = {"score": vidxai.score(g, t), "lambda": lambda x: jax.nn.softmax(g(x))[:, t]}
    # LIME scores n_samples rows plus the full and the empty coalition.
    n_batches = -(-(args.evals + 2) // args.batch_size)
    runs = {"model": model_alone(net, video, seg, n_batches, args.batch_size, args.distinct)}
    for name, f in wrappers.items():
        runs[name] = (lambda f=f: explain.lime(f, video, seg, key=key, n_samples=args.evals,
                                               batch_size=args.batch_size).weights)
    if not args.no_captum:
        runs["captum"] = captum_lime(net, video, seg, t, args.evals, args.batch_size)

    same = np.abs(runs["score"]() - runs["lambda"]()).max()
    print(f"LIME weights, score(g, t) vs lambda wrapper: max |difference| {same:.2e}")
    medians = timed_rounds(runs, args.rounds)
    print(f"{args.evals} evaluations, batch {args.batch_size}, {seg.n} features, "
          f"{args.rounds} rounds (median); model alone = {n_batches} batches")
    for name, seconds in medians.items():
        print(f"  {name:7s} {seconds:8.2f} s   {seconds / medians['model']:5.2f}x model alone")


if __name__ == "__main__":
    main()
