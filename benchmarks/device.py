"""One prepared device benchmark (issue 27, deliverable 5): what only a GPU can settle.

Runs, in one process and in this order, and prints ONE table at the end (each row also as
it finishes, on stderr):

  lime-jax      ``explain.lime`` on the small flax 3-D CNN of :mod:`benchmarks.common` (grid
                supervoxels) / the jitted model alone on as many inputs at the same batch
                size (:func:`benchmarks.overhead.model_only`)
  lime-torch    the same on the small torch CNN of :mod:`benchmarks.bridge`, bridged with
                ``vidxai.bridge.from_torch`` / the torch model alone on precomputed
                perturbed batches (interleaved rounds, :func:`benchmarks.bridge.timed_rounds`)
  bridge-copy   whether the bridge hands batches to torch without a host copy: the torch
                tensor's ``data_ptr`` is the JAX batch's buffer, on the same device (the check
                of ``tests/test_bridge.py``), and where LIME's batches reached torch
  step          one STEP iteration / one forward + backward pass in a scan, 1 and 4 areas
                (:mod:`benchmarks.extremal_speed`)
  ig, smoothgrad  full run / one forward + backward pass, and per path point or noise
                sample (:mod:`benchmarks.gradients`; goal <= 1.1 per point)
  masklets      SAM 2.1 tiny masklets of a 300-frame clip with paper 000's generator
                settings, stride 2, SAM 2's own image size 1024, random weights (the same
                network time as real ones; :func:`benchmarks.masklets.one`)
  explain       ``vidxai explain --out TMP`` with its defaults (I3D, LIME), as a subprocess

JAX runs where its backend says (``jax[cuda13]`` must be installed for the GPU; the header
says which backend ran) and torch on the matching device. Budget: under 8 minutes on one
H100. ``--quick`` runs the same code at tiny sizes on the CPU (the test suite does).

    python -m benchmarks.device [--quick] [--only lime-jax step ...] [size flags, --help]
"""
from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import tempfile
import time
import warnings
from argparse import Namespace

ROWS = ("lime-jax", "lime-torch", "bridge-copy", "step", "ig", "smoothgrad", "masklets",
        "explain")


@dataclasses.dataclass(frozen=True)
class Sizes:
    """Every size the benchmark uses (``FULL`` on a GPU, ``QUICK`` for the CPU check)."""

    shape: tuple = (16, 112, 112)     # clip of the LIME, STEP and gradient rows
    samples: int = 1000               # LIME samples (paper 001)
    batch_size: int = 32              # clips per model call
    cells: tuple = (4, 8, 8)          # grid supervoxels of LIME
    rounds: int = 3                   # interleaved timing rounds (LIME torch, STEP)
    step_iterations: tuple = (2, 12)  # per iteration = (t(long) - t(short)) / difference
    kernel: tuple = (8, 11, 11)       # STEP's ellipsoid L_K kernel (paper 004 at 112 px)
    points: int = 50                  # IG path points / SmoothGrad samples (paper 004)
    point_batch: int = 10             # points per chunk
    frames: int = 300                 # masklet clip length (paper 000)
    frame_size: int = 224             # masklet frame side (px)
    image_size: int = 1024            # SAM 2's input side (the paper's model)
    objects: int = 8                  # box prompts tracked besides generated masks
    generator_points: int = 64        # points per side of the mask generator (paper 000)
    crop_layers: int = 1              # its crop layers (paper 000)
    areas: tuple = (1, 4)             # STEP area counts timed
    explain_args: tuple = ()          # extra flags of `vidxai explain` (none: its defaults)


FULL = Sizes()
QUICK = Sizes(shape=(4, 32, 32), samples=14, batch_size=4, cells=(2, 2, 2), rounds=1,
              step_iterations=(1, 2), kernel=(2, 3, 3), points=4, point_batch=2, frames=2,
              frame_size=32,
              image_size=64, objects=1, generator_points=2, crop_layers=0, areas=(2,),
              explain_args=("--model", "trn-order", "--samples", "6", "--segmenter", "grid",
                            "--cells", "2", "2", "2"))


def backends() -> tuple[str, str]:
    """``(jax backend, torch device)``: torch follows JAX, so the bridge shares buffers."""
    import jax

    backend = jax.default_backend()
    return backend, "cuda" if backend == "gpu" else "cpu"


def lime_jax(s: Sizes):
    import jax

    from benchmarks.common import small_model
    from benchmarks.overhead import model_only
    from vidxai import explain, scoring, segment

    model, video = small_model(s.shape)
    f, seg, key = scoring.score(model, 0), segment.grid(s.shape, s.cells), jax.random.key(0)
    explain.lime(f, video, seg, key=key, n_samples=s.batch_size, batch_size=s.batch_size)
    start = time.perf_counter()
    e = explain.lime(f, video, seg, key=key, n_samples=s.samples, batch_size=s.batch_size)
    ours = time.perf_counter() - start
    base = model_only(f, video, e.n_evals, s.batch_size)
    return (f"{ours / base:.2f}x model alone",
            f"{e.n_evals} evals, batch {s.batch_size}, {seg.n} cells, {s.shape}: "
            f"{ours:.2f} s vs model {base:.2f} s")


def recorder(net):
    """``net`` wrapped so that it records the pointer and device of every batch it gets."""
    import torch

    class Recorder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net, self.seen = net, []

        def forward(self, t):
            self.seen.append((t.data_ptr(), t.device.type))
            return self.net(t)

    return Recorder().eval()


def lime_torch(s: Sizes, device: str):
    """LIME on the bridged torch CNN / the torch model alone, and the zero-copy check."""
    import jax
    import jax.numpy as jnp
    import torch

    import vidxai
    from benchmarks.bridge import small_cnn, timed_rounds
    from vidxai import explain, segment
    from vidxai.bridge import from_torch, to_torch
    from vidxai.removal import segment_mask
    from vidxai.scoring import perturbed_batch

    net = recorder(small_cnn().to(device))
    video = jax.random.uniform(jax.random.key(0), s.shape + (3,), jnp.float32)
    seg, key = segment.grid(s.shape, s.cells), jax.random.key(1)
    f = vidxai.score(from_torch(net), 3)
    n_batches = -(-(s.samples + 2) // s.batch_size)
    labels = jnp.asarray(seg.labels)
    batches = [to_torch(perturbed_batch(video, jnp.zeros_like(video), jax.random.bernoulli(
        jax.random.key(100 + k), 0.5, (s.batch_size, seg.n)), labels, mask_fn=segment_mask))
        for k in range(4)]

    def synced(run):
        def call():
            out = run()
            if device == "cuda":
                torch.cuda.synchronize()
            return out
        return call

    def alone():
        with torch.no_grad():
            return [net.net(batches[k % len(batches)]) for k in range(n_batches)]

    def lime():
        return explain.lime(f, video, seg, key=key, n_samples=s.samples,
                            batch_size=s.batch_size).weights

    medians = timed_rounds({"model": synced(alone), "lime": synced(lime)}, s.rounds)
    # zero copy: one batch through the bridge directly, then what LIME's batches were
    net.seen.clear()
    x = perturbed_batch(video, jnp.zeros_like(video), jnp.ones((s.batch_size, seg.n), bool),
                        labels, mask_fn=segment_mask)
    jax.block_until_ready(f(x))
    shared = net.seen[-1][0] == x.unsafe_buffer_pointer()
    net.seen.clear()
    lime()
    places = sorted({where for _, where in net.seen})
    ratio = medians["lime"] / medians["model"]
    return [("lime-torch", f"{ratio:.2f}x model alone",
             f"{n_batches} batches of {s.batch_size}, {seg.n} cells, torch on {device}: "
             f"{medians['lime']:.2f} s vs model {medians['model']:.2f} s (median of "
             f"{s.rounds})"),
            ("bridge-copy", "no host copy" if shared and places == [device] else "COPIED",
             f"torch data_ptr == JAX buffer: {shared}; LIME batches reached torch on "
             f"{', '.join(places)} ({len({p for p, _ in net.seen})} distinct buffers for "
             f"{len(net.seen)} batches)")]


def step_speed(s: Sizes):
    import jax
    import jax.numpy as jnp
    import numpy as np

    from benchmarks.common import small_model
    from benchmarks.extremal_speed import interleaved_ratio, per_iteration, scan_fwd_bwd
    from vidxai import masks as M
    from vidxai.explain import extremal as E
    from vidxai.explain.extremal import objective as opt

    apply, video = small_model(s.shape)
    f = jax.jit(lambda x: jax.nn.softmax(apply(x), axis=-1)[:, 0])
    pyramid, grid = M.blur_pyramid(jnp.asarray(video)), M.seed_grid_shape(s.shape[1:])
    short, long = s.step_iterations
    parts = []
    for n_areas in s.areas:
        areas = jnp.linspace(0.05, 0.2, n_areas)
        areas_t = jnp.repeat(areas[:, None], s.shape[0], axis=1)
        seeds = jnp.ones((n_areas, s.shape[0]) + grid)
        batch = jnp.asarray(np.repeat(np.asarray(video)[None], n_areas, axis=0))
        raw = jax.value_and_grad(lambda x: jnp.sum(-jnp.log(f(x))))

        def step_run(its, seeds=seeds, areas=areas, areas_t=areas_t):
            cfg = opt.Config(tuple(s.shape), iterations=its, kernel=tuple(s.kernel))
            return lambda: opt.optimise_jax(f, seeds, pyramid, areas, areas_t, cfg,
                                            E.default_optimizer())[0]

        ratio, low, high, per_it, model = interleaved_ratio(
            per_iteration(step_run, short, long),
            per_iteration(lambda its, b=batch, r=raw: scan_fwd_bwd(r, b, its), short, long),
            rounds=s.rounds)
        parts.append((ratio, f"{n_areas} area(s) {per_it * 1e3:.1f} ms / {model * 1e3:.1f} ms "
                             f"(range {low:.2f}-{high:.2f})"))
    return (" / ".join(f"{r:.2f}" for r, _ in parts) + f" ({_show(s.areas)} areas)",
            "; ".join(p for _, p in parts) + f"; {s.shape}; goal <= 1.3")


def gradient_costs(s: Sizes):
    from benchmarks.common import small_model
    from benchmarks.gradients import call, one_pass, score_function

    model, video = small_model(s.shape)
    f = score_function(model, video)
    base = one_pass(f, video)
    rows = []
    for name in ("ig", "smoothgrad"):
        call(name, f, video, s.point_batch, s.point_batch)        # compile
        full = call(name, f, video, s.points, s.point_batch)
        rows.append((name, f"{full / base / s.points:.2f} passes per point",
                     f"{s.points} points in chunks of {s.point_batch}: {full:.2f} s = "
                     f"{full / base:.1f} passes of {base * 1e3:.1f} ms; goal <= 1.1"))
    return rows


def masklet_time(s: Sizes, device: str):
    from benchmarks import masklets as bench

    bench.GENERATOR = {**bench.GENERATOR, "points_per_side": s.generator_points,
                       "crop_n_layers": s.crop_layers}     # paper 000's unless overridden
    r = bench.one(Namespace(length=s.frames, size=s.frame_size, image_size=s.image_size,
                      device=device, sam2_checkpoint=None, objects=s.objects, resegment=False))
    return (f"{r['total']:.1f} s ({r['total'] / r['frames']:.2f} s/frame)",
            f"{r['frames']} frames at {s.frame_size} px, image size {s.image_size}, stride 2, "
            f"{s.generator_points} points per side, {s.crop_layers} crop layer(s), "
            f"{r['objects']} objects on {device}: generation {r['generation']:.1f} s, "
            f"propagation {r['propagation']:.1f} s, assembly {r['assembly']:.2f} s")


def explain_cli(s: Sizes):
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "vidxai.cli", "explain", "--out", out,
                   *s.explain_args]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"vidxai explain failed: {done.stderr[-2000:]}")
    flags = " ".join(s.explain_args) or "defaults"
    return (f"{seconds:.1f} s", f"`vidxai explain --out TMP` ({flags}), whole process")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.device",
                                description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="tiny sizes on the CPU (the defaults after ';' below); seconds")
    p.add_argument("--only", nargs="+", choices=ROWS, default=None,
                   help=f"rows to run (default: all: {' '.join(ROWS)})")
    for field in dataclasses.fields(Sizes):
        full, quick = getattr(FULL, field.name), getattr(QUICK, field.name)
        kind = type(full)
        nargs = "+" if kind is tuple else None
        p.add_argument("--" + field.name.replace("_", "-"), nargs=nargs, default=None,
                       type=str if field.name == "explain_args" else int,
                       help=f"default: {_show(full)}; --quick: {_show(quick)}")
    return p


def _show(value) -> str:
    return " ".join(map(str, value)) if isinstance(value, tuple) else str(value)


def sizes_of(args) -> Sizes:
    base = QUICK if args.quick else FULL
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(Sizes)
             if getattr(args, f.name) is not None}
    return dataclasses.replace(base, **{k: tuple(v) if isinstance(v, list) else v
                                        for k, v in given.items()})


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    warnings.simplefilter("ignore")      # small sample counts warn; the timings are the point
    if args.quick:
        import jax

        jax.config.update("jax_platforms", "cpu")
    s = sizes_of(args)
    backend, device = backends()
    if args.quick:
        device = "cpu"
    import jax
    import torch

    print(f"jax {jax.__version__} on {backend} ({jax.devices()}); torch {torch.__version__} on "
          f"{device} (cuda visible to torch: {torch.cuda.is_available()})", flush=True)
    if torch.cuda.is_available() and backend != "gpu":
        print("WARNING: torch sees a GPU but JAX runs on the CPU: install jax[cuda13] "
              f"=={jax.__version__} in this environment first", flush=True)
    wanted = set(args.only or ROWS)
    jobs = [("lime-jax", lambda: lime_jax(s)),
            (("lime-torch", "bridge-copy"), lambda: lime_torch(s, device)),
            ("step", lambda: step_speed(s)),
            (("ig", "smoothgrad"), lambda: gradient_costs(s)),
            ("masklets", lambda: masklet_time(s, device)),
            ("explain", lambda: explain_cli(s))]
    table, clock = [], time.perf_counter()
    for names, job in jobs:
        if not wanted & set((names,) if isinstance(names, str) else names):
            continue
        start = time.perf_counter()
        out = job()
        rows = [(names, *out)] if isinstance(names, str) else out
        for name, value, detail in rows:
            if name in wanted:
                table.append((name, value, f"{detail} [{time.perf_counter() - start:.0f} s]"))
                print(f"... {name}: {value}", file=sys.stderr, flush=True)
    total = time.perf_counter() - clock
    print(f"\n{'row':<12} {'result':<34} detail")
    for name, value, detail in table:
        print(f"{name:<12} {value:<34} {detail}")
    print(f"total {total:.0f} s ({'quick, CPU' if args.quick else 'budget 480 s'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
