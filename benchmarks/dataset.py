"""Dataset runner: the local engine against Ray, the per-video split, and resuming a killed run.

Writes ``--videos`` short synthetic clips, then explains them all with LIME
(``--samples`` coalitions) through :func:`vidxai.runner.explain_many`:

1. the local engine (this process, one video after another);
2. the Ray engine with ``--workers`` actors on a local Ray started here (its start-up is
   timed apart; the run's time includes creating the actors and building the model in each);
3. a run of the local engine interrupted after half the videos, then resumed: the rerun
   should recompute only the remaining half.

Prints videos per second for both engines and their ratio (goal: Ray >= 0.85x the local
engine, i.e. model loads and scheduling cost < 15%), the mean per-video seconds spent loading
the clip, explaining and writing, and the resume's time against the full run's. ``--quick``
runs the same code paths on 4 tiny clips with a tiny linear model (a test runs it).

Run for timing on an otherwise idle machine::

    .venv/bin/python -m benchmarks.dataset            # 16 clips, r2plus1d_temporal, 200 samples
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DEFAULTS = {"videos": 16, "samples": 200, "model": "r2plus1d_temporal", "workers": 2,
            "segments": 40}
QUICK = {"videos": 4, "samples": 24, "model": "tiny", "workers": 2, "segments": 12}
ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class TinyModel:
    """A model factory for ``--quick``: a linear classifier on 4 x 16 x 16 grey clips."""

    frames: int = 4
    side: int = 16

    def __call__(self):
        import jax.numpy as jnp

        from models.base import Model

        size = self.frames * self.side * self.side
        w = jnp.asarray(np.random.RandomState(0).randn(size, 3) * 0.05, jnp.float32)
        return Model("tiny", lambda x: x.mean(-1).reshape(x.shape[0], -1) @ w, self.frames,
                     (self.side, self.side), ("a", "b", "c"), min_frames=self.frames)


def write_clips(folder: Path, n: int, frames: int, side: int) -> None:
    """``n`` clips of drifting sine patterns, ``frames`` x ``side`` x ``side``."""
    from vidxai.io import write_video

    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:side, :side] / side
    for i in range(n):
        rng = np.random.RandomState(i)
        a, b = rng.rand(2) * 6
        clip = np.stack([np.stack([0.5 + 0.4 * np.sin(a * xx + b * yy + 0.3 * t + c)
                                   for c in range(3)], -1) for t in range(frames)])
        write_video(folder / f"clip{i:02d}.mp4", (clip * 255).astype(np.uint8))


class Halfway(BaseException):
    """Stands for the kill of the interrupted run."""


def split(summary) -> dict:
    """Mean seconds per video: model build (once per worker, spread), clip load, explain,
    write - from the jobs this run computed."""
    jobs = summary.done
    if not jobs:
        return {}
    return {part: float(np.mean([j.seconds[part] or 0.0 for j in jobs]))
            for part in ("model", "load", "explain", "write")}


def interrupted_then_resumed(folder, model, out, options, n):
    """Run the local engine until half the videos are done, then resume; returns
    ``(resume seconds, computed, skipped)``."""
    from vidxai import runner
    from vidxai.explain import frontdoor

    real, calls = frontdoor.run, []

    def run(*args, **kwargs):
        calls.append(1)
        if len(calls) > n // 2:
            raise Halfway()
        return real(*args, **kwargs)

    frontdoor.run = run
    try:
        runner.explain_many(folder, model, ["lime"], out, **options)
    except Halfway:
        pass
    finally:
        frontdoor.run = real
    start = time.perf_counter()
    summary = runner.explain_many(folder, model, ["lime"], out, **options)
    return time.perf_counter() - start, len(summary.done), len(summary.skipped)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--videos", type=int, default=DEFAULTS["videos"], help="clips")
    parser.add_argument("--samples", type=int, default=DEFAULTS["samples"],
                        help="LIME coalitions per video")
    parser.add_argument("--model", default=DEFAULTS["model"],
                        help="zoo model (its input size sets the clips' size)")
    parser.add_argument("--workers", type=int, default=DEFAULTS["workers"],
                        help="Ray workers (and the local Ray's CPUs)")
    parser.add_argument("--segments", type=int, default=DEFAULTS["segments"],
                        help="SLIC supervoxels per clip")
    parser.add_argument("--quick", action="store_true",
                        help=f"tiny run: {QUICK} (a tiny linear model)")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray engine")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    if args.quick:
        for k, v in QUICK.items():
            setattr(args, k, v)

    from functools import partial

    from vidxai import runner, segment, zoo

    model = TinyModel() if args.model == "tiny" else args.model
    probe = model() if args.model == "tiny" else zoo.load_model(args.model)
    frames, side = probe.num_frames, probe.size[0]
    seg = partial(segment.slic, n_segments=args.segments)
    options = {"key": 0, "n_samples": args.samples, "segmentation": seg}
    numbers = {"videos": args.videos, "samples": args.samples, "model": args.model,
               "workers": args.workers}
    with tempfile.TemporaryDirectory(prefix="vidxai-dataset-") as tmp:
        tmp = Path(tmp)
        write_clips(tmp / "clips", args.videos, frames, side)
        print(f"{args.videos} clips of {frames} x {side} x {side}, {args.model}, LIME "
              f"{args.samples} samples, {args.segments} supervoxels")

        start = time.perf_counter()
        local = runner.explain_many(tmp / "clips", model, ["lime"], tmp / "local", **options)
        numbers["local_s"] = time.perf_counter() - start
        assert local.ok, str(local)
        numbers["local_split"] = split(local)
        print(f"local: {numbers['local_s']:.1f} s, {args.videos / numbers['local_s']:.3f} "
              f"videos/s")

        if not args.no_ray:
            import ray

            start = time.perf_counter()
            ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
            numbers["ray_start_s"] = time.perf_counter() - start
            try:
                start = time.perf_counter()
                remote = runner.explain_many(tmp / "clips", model, ["lime"], tmp / "ray",
                                             engine="ray", workers=args.workers, **options)
                numbers["ray_s"] = time.perf_counter() - start
            finally:
                ray.shutdown()
            assert remote.ok, str(remote)
            numbers["ray_split"] = split(remote)
            numbers["ray_over_local"] = numbers["local_s"] / numbers["ray_s"]
            same = all(np.array_equal(np.load(a)["map"], np.load(tmp / "ray" / a.relative_to(
                tmp / "local"))["map"]) for a in sorted((tmp / "local").glob("*/*/*.npz")))
            numbers["ray_equals_local"] = same
            print(f"ray ({args.workers} workers): {numbers['ray_s']:.1f} s "
                  f"({numbers['ray_start_s']:.1f} s Ray start-up not counted), "
                  f"{args.videos / numbers['ray_s']:.3f} videos/s; throughput ray / local = "
                  f"{numbers['ray_over_local']:.2f}x (goal >= 0.85); maps identical: {same}")

        for name in ("local", "ray"):
            parts = numbers.get(f"{name}_split")
            if parts:
                print(f"per video ({name}): " + ", ".join(f"{k} {v:.3f} s"
                                                          for k, v in parts.items()))

        seconds, computed, skipped = interrupted_then_resumed(tmp / "clips", model,
                                                              tmp / "resume", options,
                                                              args.videos)
        numbers.update(resume_s=seconds, resume_computed=computed, resume_skipped=skipped,
                       resume_over_full=seconds / numbers["local_s"])
        print(f"resume after a kill at half: {seconds:.1f} s = "
              f"{numbers['resume_over_full']:.2f}x the full local run; computed {computed}, "
              f"skipped {skipped} (goal: only the remaining {args.videos - args.videos // 2})")
    if args.json:
        args.json.write_text(json.dumps(numbers, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
