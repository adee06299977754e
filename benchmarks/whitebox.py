"""TIEM's white-box reproduction (paper 002, Sec. 4.1, Table 2): pointing game of EP-3D,
STEP, TIEM and the TIEM + L_K hybrid on the gentle and dynamic white-box regressors.

Each regressor (``models.whitebox.whitebox(kind, shape=(16, 112, 112))``) reads only its
target set ``A``; the inputs are random-noise videos (``models.whitebox.noise_video``), one
per key. Every method runs with a single 10% area constraint, and its mask is scored by the
white-box pointing game (``vidxai.metrics.whitebox_pointing_game``: voxels with mask > 0.5
are highlighted). The table prints mean +- std over the keys next to the paper's values.

The mask geometry follows STEP at 112 px (seed step 7, sigma 11, L_K kernel 8 x 11 x 11).
At another ``--size`` the spatial lengths are scaled with the frame (step ``round(7 s/112)``,
sigma ``11 s/112``, kernel ``8 x round(11 s/112)^2``), so a smaller run is the same
experiment at a lower resolution. On a 2-core CPU a 1200-iteration run takes about 15 s at
56 px (the 5-key table of 8 rows in 11 min) and about 1.5 min at 112 px.

    python benchmarks/whitebox.py [--iterations 1200] [--keys 5] [--size 112]
                                  [--methods ep3d step tiem tiem+lk] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.whitebox import KINDS, noise_video, whitebox  # noqa: E402
from vidxai.explain import extremal  # noqa: E402
from vidxai.metrics import whitebox_pointing_game  # noqa: E402

AREA = 0.1
PAPER = {  # paper 002, Table 2 (%)
    ("gentle", "ep3d"): 89.99, ("gentle", "step"): 89.68, ("gentle", "tiem"): 90.14,
    ("dynamic", "ep3d"): 91.85, ("dynamic", "step"): 65.35, ("dynamic", "tiem"): 99.79,
}
METHODS = ("ep3d", "step", "tiem", "tiem+lk")


def geometry(size):
    """Seed step, sigma and L_K kernel of STEP at 112 px, scaled to ``size`` px frames."""
    scale = size / 112
    hw = max(1, round(11 * scale))
    return dict(seed_stride=max(1, round(7 * scale)), sigma=11 * scale), (8, hw, hw)


def explain(method, f, video, iterations, progress):
    """The 10%-area mask ``(T, H, W)`` of ``method`` on ``video``."""
    seeds, kernel = geometry(video.shape[1])
    common = dict(areas=(AREA,), iterations=iterations, output="raw", progress=progress, **seeds)
    if method == "ep3d":
        result = extremal.ep3d(f, video, **common)
    elif method == "step":
        result = extremal.step(f, video, kernel=kernel, **common)
    elif method == "tiem":
        result = extremal.tiem(f, video, alpha=0.8, **common)
    elif method == "tiem+lk":
        result = extremal.tiem_lk(f, video, alpha=0.8, kernel=kernel, **common)
    else:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    return np.asarray(result.masks[0])


def run(kinds, methods, keys, iterations, size, frames, threshold, progress):
    shape = (frames, size, size)
    table = {}
    for kind in kinds:
        model = whitebox(kind, shape=shape)
        truth = model.meta["target_set"]
        for method in methods:
            scores, seconds = [], []
            for k in range(keys):
                video = noise_video(jax.random.key(k), shape)
                start = time.perf_counter()
                mask = explain(method, model.apply, video, iterations, progress)
                seconds.append(time.perf_counter() - start)
                scores.append(whitebox_pointing_game(mask, truth, threshold=threshold))
            table[(kind, method)] = dict(scores=scores, mean=float(np.mean(scores)),
                                         std=float(np.std(scores)),
                                         seconds=float(np.mean(seconds)))
            row = table[(kind, method)]
            print(f"  {kind:8s} {method:8s} {row['mean']:7.2f} +- {row['std']:5.2f}"
                  f"  ({row['seconds']:.1f} s/run)", flush=True)
    return table


def report(table, keys, iterations, size):
    print(f"\nPointing game (%), 10% area, mean +- std over {keys} keys, {iterations} iterations,"
          f" {size} px (step/sigma/kernel {geometry(size)})")
    print(f"{'regressor':10s} {'method':9s} {'ours':>16s} {'paper 002':>10s}")
    for (kind, method), row in table.items():
        paper = PAPER.get((kind, method))
        paper_s = f"{paper:10.2f}" if paper is not None else f"{'-':>10s}"
        print(f"{kind:10s} {method:9s} {row['mean']:8.2f} +- {row['std']:5.2f} {paper_s}")
    goals = []
    if ("dynamic", "tiem") in table:
        goals.append(("TIEM >= 99 on dynamic", table[("dynamic", "tiem")]["mean"] >= 99.0))
    if ("gentle", "tiem") in table:
        goals.append(("TIEM >= 90 on gentle", table[("gentle", "tiem")]["mean"] >= 90.0))
    if ("dynamic", "tiem") in table and ("dynamic", "step") in table:
        goals.append(("STEP < TIEM on dynamic (spillover)",
                      table[("dynamic", "step")]["mean"] < table[("dynamic", "tiem")]["mean"]))
    for name, ok in goals:
        print(f"goal: {name}: {'met' if ok else 'NOT met'}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=1200)
    parser.add_argument("--keys", type=int, default=5, help="noise videos (PRNG keys 0..K-1)")
    parser.add_argument("--size", type=int, default=112, help="frame height and width")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="a voxel is highlighted when its mask exceeds this")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write the table here")
    args = parser.parse_args(argv)
    if args.iterations < 1 or args.keys < 1:
        parser.error("--iterations and --keys must be >= 1")
    print(f"devices: {jax.devices()}", flush=True)
    table = run(args.kinds, args.methods, args.keys, args.iterations, args.size, args.frames,
                args.threshold, args.progress)
    report(table, args.keys, args.iterations, args.size)
    if args.json is not None:
        out = {f"{kind}/{method}": {**row, "paper": PAPER.get((kind, method))}
               for (kind, method), row in table.items()}
        args.json.write_text(json.dumps(dict(iterations=args.iterations, keys=args.keys,
                                             area=AREA, size=args.size,
                                             results=out), indent=2))


if __name__ == "__main__":
    main()
