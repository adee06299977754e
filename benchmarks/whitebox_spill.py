"""Spill test of the white-box sweep: is a small-target mask's rim outside A the optimum?

The question behind the misses of ``whitebox.py --sweep`` at small targets (issue 17): is the
rim a mask spills past the white-box target the objective's own optimum, or something the
optimiser missed?

For each sweep point (frame size, target share of a frame, path) and noise video, the method
(TIEM by default) runs with the library's defaults exactly as in ``whitebox.py`` (area = 0.4
x the target's share). For every frame whose highlighted voxels (mask > 0.5) leave the
target set ``A``, that frame's mask alone is shifted rigidly by every ``(dy, dx)`` that is
a whole number of seed steps, at most ``--max-steps`` on each axis (``np.roll``: the frame
keeps the same mask values, so the sorted area loss L_S, the mean-area term and - for TIEM -
the frame's area template are unchanged; only the reward moves; and the smooth-max generator
is equivariant to shifts of its seed grid, so away from the borders the shifted mask is one
the optimiser could have reached). The regressor is then scored again on the perturbed video.
Shifts by a fraction of a seed step would be masks the generator cannot make (a blob's shape
depends on where it sits on the grid), so they are not a fair comparison.
Printed per spilling frame: the voxels outside ``A``, the best shift's score change and its
spill, and the best change among the shifts that leave no voxel outside ``A`` (in millionths
of the score, ppm). When that last change is negative in every frame, no spill-free position
near the mask scores higher: the objective itself prefers the spill (keeping a target voxel
darker than its blur lowers the score, a voxel outside ``A`` changes nothing), and the
optimiser is not at fault. Frames whose highlighted region comes within a seed step of the
border are printed but not counted (a shift would wrap it round). EP-3D and TIEM only: the
L_K of STEP and TIEM + L_K couples the frames, so a one-frame shift changes more than the
reward.

    python benchmarks/whitebox_spill.py [--point H W TARGET PATH ...] [--keys 3]
                                        [--method tiem] [--kind dynamic] [--max-steps 1]
                                        [--seed-stride S] [--sigma SIGMA]
"""
from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.whitebox import AREA_RATIO, FUNCTIONS, derived_pyramid  # noqa: E402
from models.whitebox import KINDS, PATHS, noise_video, whitebox  # noqa: E402
from vidxai import masks  # noqa: E402
from vidxai.metrics import whitebox_pointing_game  # noqa: E402

SMALL_TARGETS = [(48, 48, 0.10, "linear"), (48, 64, 0.05, "static")]  # the default grid's misses
SHIFTABLE = ("tiem", "ep3d")    # methods whose objective changes only through the reward


def spill(mask, truth) -> np.ndarray:
    """Voxels highlighted (mask > 0.5) outside ``A``, per frame."""
    return ((mask > 0.5) & ~truth).sum(axis=(1, 2))


def shifted(mask, frame: int, dy: int, dx: int) -> np.ndarray:
    """A copy of ``mask`` with frame ``frame`` rolled by ``(dy, dx)`` pixels."""
    out = mask.copy()
    out[frame] = np.roll(mask[frame], (dy, dx), axis=(0, 1))
    return out


def shift_changes(score, mask, truth, frame: int, step: int, max_steps: int):
    """``[(change, dy, dx, spill)]`` over every non-zero shift of ``frame`` by whole seed
    steps (``step`` px, at most ``max_steps`` per axis): the score change relative to the
    unshifted mask and the frame's voxels highlighted outside ``A``."""
    base = score(mask)
    out = []
    offsets = [step * k for k in range(-max_steps, max_steps + 1)]
    for dy, dx in itertools.product(offsets, repeat=2):
        if dy or dx:
            moved = shifted(mask, frame, dy, dx)
            out.append((score(moved) - base, dy, dx, int(spill(moved[frame:frame + 1],
                                                                truth[frame:frame + 1])[0])))
    return out


def scorer(model, video):
    """``mask -> float``: the regressor's score on ``video`` perturbed by ``mask``."""
    pyramid = derived_pyramid(video)
    fn = jax.jit(lambda m: model.apply(masks.apply_pyramid(pyramid, m)[None])[0])
    return lambda mask: float(fn(np.asarray(mask, np.float32)))


def touches_border(mask, frame: int, reach: int) -> bool:
    """Whether frame ``frame``'s highlighted region comes within ``reach`` px (the largest
    shift) of a border: a shift then wraps it round (``np.roll``), a mask the generator
    would not make."""
    inner = np.zeros(mask.shape[1:], bool)
    inner[reach:-reach, reach:-reach] = True
    return bool(((mask[frame] > 0.5) & ~inner).any())


def frame_report(score, mask, truth, frame: int, step: int, max_steps: int, scale: float):
    """One spilling frame: ``(line, best spill-free change or None)``."""
    changes = sorted(shift_changes(score, mask, truth, frame, step, max_steps), reverse=True)
    ppm = lambda c: f"{1e6 * c / scale:+.0f} ppm"
    best = changes[0]
    clean = [c for c in changes if c[3] == 0]
    line = (f"    frame {frame:2d}: {int(spill(mask, truth)[frame]):3d} voxels outside A; best "
            f"shift ({best[1]:+d}, {best[2]:+d}) {ppm(best[0])}, {best[3]} outside; ")
    if not clean:
        return line + f"no spill-free shift within +-{max_steps * step} px", None
    return line + f"best spill-free ({clean[0][1]:+d}, {clean[0][2]:+d}) {ppm(clean[0][0])}", \
        clean[0][0]


def run_key(kind, method, shape, target, path, key, iterations, max_steps, generator):
    """Print one noise video's spill analysis; ``[best spill-free change per spilling
    frame]`` (``None`` where no shift within ``max_steps`` seed steps removes the spill)."""
    model = whitebox(kind, shape=shape, target=target, path=path)
    truth = np.asarray(model.meta["target_set"])
    video = noise_video(jax.random.key(key), shape)
    result = FUNCTIONS[method](model.apply, video, areas=(AREA_RATIO * target,),
                               iterations=iterations, output="raw", **generator)
    mask = np.asarray(result.masks[0], np.float32)
    score = scorer(model, video)
    scale, step = abs(score(mask)), int(result.meta["seed_stride"])
    print(f"  key {key}: pointing game {whitebox_pointing_game(mask, truth):6.2f}, "
          f"outside A per frame {spill(mask, truth).tolist()}", flush=True)
    found = []
    for frame in np.nonzero(spill(mask, truth))[0]:
        line, change = frame_report(score, mask, truth, int(frame), step, max_steps, scale)
        if touches_border(mask, int(frame), step * max_steps):
            line += " (reaches the border: shifts wrap it, not counted)"
        else:
            found.append(change)
        print(line, flush=True)
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--point", nargs=4, action="append", metavar=("H", "W", "TARGET", "PATH"),
                        help="a sweep point, repeatable (default: 48 48 0.10 linear and "
                             "48 64 0.05 static, the default grid's small targets)")
    parser.add_argument("--keys", type=int, default=3, help="noise videos, keys 0..K-1 (3)")
    parser.add_argument("--method", choices=SHIFTABLE, default="tiem", help="(tiem)")
    parser.add_argument("--kind", choices=KINDS, default="dynamic", help="regressor (dynamic)")
    parser.add_argument("--iterations", type=int, default=1200, help="optimiser steps (1200)")
    parser.add_argument("--max-steps", type=int, default=1,
                        help="largest shift per axis, in seed steps (1)")
    parser.add_argument("--seed-stride", type=int, default=None,
                        help="the generator's seed step in px (default: derived)")
    parser.add_argument("--sigma", type=float, default=None,
                        help="the generator's seed radius in px (default: derived)")
    args = parser.parse_args(argv)
    if args.keys < 1 or args.iterations < 1 or args.max_steps < 1:
        parser.error("--keys, --iterations and --max-steps must be >= 1")
    points = SMALL_TARGETS
    if args.point:
        try:
            points = [(int(h), int(w), float(r), p) for h, w, r, p in args.point]
        except ValueError:
            parser.error("--point takes H W TARGET PATH, e.g. 48 48 0.10 linear")
        if any(p not in PATHS for *_, p in points):
            parser.error(f"--point's PATH must be one of {list(PATHS)}")
    generator = dict(seed_stride=args.seed_stride, sigma=args.sigma)
    changes = []
    for h, w, target, path in points:
        print(f"== {args.method}, {args.kind}, {h}x{w}, target {target:.0%}, {path}", flush=True)
        for key in range(args.keys):
            changes += run_key(args.kind, args.method, (16, h, w), target, path, key,
                               args.iterations, args.max_steps, generator)
    better = sum(c is not None and c > 0 for c in changes)
    print(f"\n{len(changes)} spilling frames away from the borders; a spill-free shift of at "
          f"most {args.max_steps} seed step(s) scores higher in {better}; no spill-free shift "
          f"in {changes.count(None)}")


if __name__ == "__main__":
    main()
