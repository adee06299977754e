"""TIEM's white-box reproduction (paper 002, Sec. 4.1, Table 2) and a robustness sweep:
pointing game of EP-3D, STEP, TIEM and the TIEM + L_K hybrid on the gentle and dynamic
white-box regressors, and how much area each mask keeps.

Each regressor (``models.whitebox.whitebox(kind, shape, target, path)``) reads only its target
set ``A``; the inputs are random-noise videos (``models.whitebox.noise_video``), one per key.
Every method runs with the library's defaults (seed grid, sigma, L_K kernel and blur derived
from the frame size: STEP's values at 112 px) and one area constraint, and its mask is scored
by the white-box pointing game (``vidxai.metrics.whitebox_pointing_game``: voxels with mask >
0.5 are highlighted, or the top fraction with ``--top``). The kept-area error is the mask's
mean minus the requested area (for TIEM / TIEM + L_K the mean of the per-frame areas
``a l_t T``, clipped at 1), in points of the video; per-frame methods also report the worst
frame's error.

Table mode (default): paper 002's Table 2 at ``--size`` px (16 frames, a square of a quarter
of the frame moving diagonally, 10% area), mean +- std over ``--keys`` next to the paper.

Sweep mode (``--sweep``): a grid of frame sizes (48-160 px, square and not), target sizes
(5-20% of a frame), target paths (static, linear, jumping) with the area constraint at
``--area-ratio`` (0.4) of the target's share of a frame (the table's 10% in a 25% target),
``--keys`` (3) noise videos per point. The default grid has 4 points, each size, target and
path at least once (``SWEEPS``); ``--grid full`` is every combination of 3 sizes, 3 targets
and 3 paths. Cost on a quiet 2-core CPU, 1200 iterations: about 15 s per run at 56 px,
growing with the pixels (about 100 s at 112 px); a point is 2 regressors x 4 methods x keys
runs; the default grid is 96 runs, 67 min measured (README; the script prints its own
timings).

    python benchmarks/whitebox.py [--iterations 1200] [--keys 5] [--size 56]
                                  [--methods ep3d step tiem tiem+lk] [--top 0.1] [--json out]
    python benchmarks/whitebox.py --sweep [--grid default|quick|full] [--keys 3]
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.whitebox import KINDS, PATHS, noise_video, whitebox  # noqa: E402
from vidxai import masks  # noqa: E402
from vidxai.explain import extremal  # noqa: E402
from vidxai.explain.extremal import settings as extremal_settings  # noqa: E402
from vidxai.metrics import whitebox_pointing_ceiling, whitebox_pointing_game  # noqa: E402

AREA = 0.1
TABLE_TARGET = 0.25     # the paper-size table's square: half the frame side
AREA_RATIO = 0.4        # sweep: area constraint / target share (the table's 0.1 / 0.25)
PAPER = {  # paper 002, Table 2 (%)
    ("gentle", "ep3d"): 89.99, ("gentle", "step"): 89.68, ("gentle", "tiem"): 90.14,
    ("dynamic", "ep3d"): 91.85, ("dynamic", "step"): 65.35, ("dynamic", "tiem"): 99.79,
}
METHODS = ("ep3d", "step", "tiem", "tiem+lk")
FUNCTIONS = {"ep3d": extremal.ep3d, "step": extremal.step, "tiem": extremal.tiem,
             "tiem+lk": extremal.tiem_lk}
SWEEPS = {  # (height, width, target share of a frame, path)
    "default": [(48, 48, 0.10, "linear"), (48, 64, 0.05, "static"),
                (80, 80, 0.20, "jumping"), (120, 160, 0.10, "jumping")],
    "quick": [(48, 48, 0.10, "jumping"), (40, 56, 0.05, "static")],
    "full": [(h, w, r, p) for (h, w), r, p in itertools.product(
        [(48, 48), (72, 96), (120, 160)], [0.05, 0.10, 0.20], PATHS)],
}


def kept_errors(result):
    """``(volume error, worst frame error or None)`` of the first mask, in points of the video:
    mean of the mask minus the requested area (per-frame areas averaged)."""
    mask = np.asarray(result.masks[0], np.float64)
    if result.areas_t is None:
        return 100 * (mask.mean() - result.areas[0]), None
    want = np.asarray(result.areas_t[0], np.float64)
    per_frame = mask.mean(axis=(1, 2)) - want
    return 100 * (mask.mean() - want.mean()), 100 * float(np.abs(per_frame).max())


def score_runs(kind, method, shape, target, path, area, keys, iterations, game, progress):
    """Pointing games, kept-area errors and seconds of ``keys`` runs of one method."""
    model = whitebox(kind, shape=shape, target=target, path=path)
    truth = model.meta["target_set"]
    rows = []
    for k in range(keys):
        video = noise_video(jax.random.key(k), shape)
        start = time.perf_counter()
        result = FUNCTIONS[method](model.apply, video, areas=(area,), iterations=iterations,
                                   output="raw", progress=progress)
        seconds = time.perf_counter() - start
        volume, frame = kept_errors(result)
        rows.append(dict(pg=whitebox_pointing_game(result.masks[0], truth, **game),
                         kept=volume, frame=frame, seconds=seconds))
    out = {name: [r[name] for r in rows] for name in rows[0]}
    out["derived"] = result.meta["derived"]
    return out


def derived_pyramid(video):
    """The blur pyramid the extremal methods perturb ``video`` with (default levels, the
    derived largest sigma)."""
    sigma = extremal_settings.derived_settings(video.shape[:3])["blur_sigma"]
    return masks.blur_pyramid(video, max_sigma=sigma)


def losing_share(shape, target, path, key=0):
    """Share of the gentle target's voxels whose keeping LOWERS the regressor's score on noise
    video ``key``: keeping a voxel adds ``sum_c x^2 - b^2`` (``b`` its most blurred value,
    the derived pyramid sigma), negative where the pixel is darker than its blur, while a
    voxel outside the target adds 0. It is why a small target's mask may spill: a rim
    outside the target costs less than one over a dark patch inside."""
    truth = np.asarray(whitebox("gentle", shape=shape, target=target, path=path)
                       .meta["target_set"])
    video = noise_video(jax.random.key(key), shape)
    blurred = masks.apply_pyramid(derived_pyramid(video), jax.numpy.zeros(shape, video.dtype))
    gain = np.sum(np.asarray(video) ** 2 - np.asarray(blurred) ** 2, axis=-1)
    return float(np.mean(gain[truth] < 0))


def summary(runs):
    pg = np.asarray(runs["pg"])
    frames = [f for f in runs["frame"] if f is not None]
    return dict(mean=float(pg.mean()), std=float(pg.std()), scores=runs["pg"],
                kept=float(np.max(np.abs(runs["kept"]))),
                frame=float(np.max(frames)) if frames else None,
                seconds=float(np.mean(runs["seconds"])), derived=runs["derived"])


def run_point(kinds, methods, shape, target, path, area, keys, iterations, game, progress):
    table = {}
    for kind, method in itertools.product(kinds, methods):
        row = summary(score_runs(kind, method, shape, target, path, area, keys, iterations,
                                 game, progress))
        table[(kind, method)] = row
        frame = "" if row["frame"] is None else f", worst frame {row['frame']:.2f}"
        print(f"  {kind:8s} {method:8s} {row['mean']:7.2f} +- {row['std']:5.2f}  kept-area "
              f"error {row['kept']:.2f} pts{frame}  ({row['seconds']:.1f} s/run)", flush=True)
    return table


def goals(table):
    """``[(goal, met)]`` for one point (those its rows allow)."""
    out = []
    get = lambda kind, method: table.get((kind, method), {}).get("mean")
    if get("dynamic", "tiem") is not None:
        out.append(("TIEM >= 99 on dynamic", get("dynamic", "tiem") >= 99.0))
    if get("gentle", "tiem") is not None:
        out.append(("TIEM >= 90 on gentle", get("gentle", "tiem") >= 90.0))
    if get("dynamic", "tiem") is not None and get("dynamic", "step") is not None:
        out.append(("STEP < TIEM on dynamic", get("dynamic", "step") < get("dynamic", "tiem")))
    worst = max(row["kept"] for row in table.values())
    out.append((f"kept-area error <= 1 pt (worst {worst:.2f})", worst <= 1.0))
    return out


def report_table(table, keys, iterations, size, game):
    derived = next(iter(table.values()))["derived"]
    highlight = f"top {game['top']:g}" if "top" in game else "mask > 0.5"
    print(f"\nPointing game (%), {AREA:g} area, {highlight}, mean +- std over {keys} keys, "
          f"{iterations} iterations, {size} px (derived {derived})")
    print(f"{'regressor':10s} {'method':9s} {'ours':>16s} {'paper 002':>10s} {'kept err':>9s}")
    for (kind, method), row in table.items():
        paper = PAPER.get((kind, method))
        paper_s = f"{paper:10.2f}" if paper is not None else f"{'-':>10s}"
        print(f"{kind:10s} {method:9s} {row['mean']:8.2f} +- {row['std']:5.2f} {paper_s} "
              f"{row['kept']:8.2f}")
    for name, ok in goals(table):
        print(f"goal: {name}: {'met' if ok else 'NOT met'}")


def sweep(points, kinds, methods, keys, iterations, ratio, game, progress):
    results, misses, start = [], [], time.perf_counter()
    for h, w, target, path in points:
        area = ratio * target
        print(f"\n== {h}x{w}, target {target:.0%} of a frame, {path}, area {area:.3g}; "
              f"{losing_share((16, h, w), target, path):.1%} of the target's voxels lower the "
              "score when kept (key 0)", flush=True)
        table = run_point(kinds, methods, (16, h, w), target, path, area, keys, iterations,
                          game, progress)
        met = goals(table)
        for name, ok in met:
            print(f"   goal: {name}: {'met' if ok else 'NOT met'}")
            if not ok:
                misses.append(f"{h}x{w} {target:.0%} {path}: {name}")
        results.append(dict(shape=[16, h, w], target=target, path=path, area=area,
                            results={f"{k}/{m}": row for (k, m), row in table.items()},
                            goals={name: bool(ok) for name, ok in met}))
    print(f"\nSweep: {len(points)} points, {keys} keys, {iterations} iterations, "
          f"{(time.perf_counter() - start) / 60:.1f} min")
    print(f"{'point':28s}" + "".join(f"{k[:3]}/{m:8s}" for k in kinds for m in methods))
    for res in results:
        h, w = res["shape"][1:]
        label = f"{h}x{w} {res['target']:.0%} {res['path']}"
        print(f"{label:28s}" + "".join(f"{res['results'][f'{k}/{m}']['mean']:12.1f}"
                                        for k in kinds for m in methods))
    print("goals missed:" if misses else "every goal met at every point")
    for miss in misses:
        print(f"  {miss}")
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=1200, help="optimiser steps (1200)")
    parser.add_argument("--keys", type=int, default=None,
                        help="noise videos, PRNG keys 0..K-1 (5 for the table, 3 for --sweep)")
    parser.add_argument("--size", type=int, default=56, help="table: frame side in px (56)")
    parser.add_argument("--frames", type=int, default=16, help="table: frames (16)")
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--threshold", type=float, default=None,
                        help="highlight voxels whose mask exceeds this (default 0.5)")
    parser.add_argument("--top", type=float, default=None,
                        help="highlight this fraction of voxels instead (paper 002: 0.1)")
    parser.add_argument("--sweep", action="store_true", help="run the robustness sweep")
    parser.add_argument("--grid", choices=sorted(SWEEPS), default="default",
                        help="sweep grid (default: 4 points)")
    parser.add_argument("--area-ratio", type=float, default=AREA_RATIO,
                        help="sweep: area constraint / target share of a frame (0.4)")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    keys = args.keys or (3 if args.sweep else 5)
    if args.iterations < 1 or keys < 1:
        parser.error("--iterations and --keys must be >= 1")
    game = {k: v for k, v in (("threshold", args.threshold), ("top", args.top)) if v is not None}
    print(f"devices: {jax.devices()}", flush=True)
    if args.sweep:
        out = sweep(SWEEPS[args.grid], args.kinds, args.methods, keys, args.iterations,
                    args.area_ratio, game, args.progress)
    else:
        shape = (args.frames, args.size, args.size)
        table = run_point(args.kinds, args.methods, shape, TABLE_TARGET, "linear", AREA, keys,
                          args.iterations, game, args.progress)
        report_table(table, keys, args.iterations, args.size, game)
        if args.top is not None:
            for kind in args.kinds:
                truth = whitebox(kind, shape=shape).meta["target_set"]
                print(f"ceiling of the game with the top {args.top:g} highlighted, {kind}: "
                      f"{whitebox_pointing_ceiling(truth, args.top):.2f}")
        out = {f"{kind}/{method}": {**row, "paper": PAPER.get((kind, method))}
               for (kind, method), row in table.items()}
    if args.json is not None:
        args.json.write_text(json.dumps(dict(iterations=args.iterations, keys=keys,
                                             results=out), indent=2))


if __name__ == "__main__":
    main()
