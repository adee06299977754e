"""``vidxai evaluate``: a study of methods over videos (:func:`vidxai.metrics.study`), or the
insertion / deletion curves of one ``vidxai explain`` output folder."""
from __future__ import annotations

import json
from pathlib import Path

from .. import metrics, scoring, zoo
from ..errors import VideoFileError
from ..explanation import Explanation
from . import outputs

__all__ = ["cmd_evaluate", "DEFAULTS"]

DEFAULTS = {"methods": "lime,grad_cam", "metrics": "insertion,deletion", "protocol": "step",
            "out": "study", "batch_size": 8, "run_dir_steps": 32, "run_dir_unit": "cells"}


def _run_dir(inputs) -> Path | None:
    """The one ``vidxai explain`` output folder among ``inputs``, if that is what they are."""
    if len(inputs) == 1 and (Path(inputs[0]) / "summary.json").is_file():
        return Path(inputs[0])
    return None


def cmd_evaluate(args) -> int:
    run_dir = _run_dir(args.inputs)
    if run_dir is not None:
        return evaluate_run_dir(args, run_dir)
    return evaluate_study(args)


def _protocol(args):
    overrides = {k: getattr(args, k) for k in ("unit", "steps", "ties", "rule")
                 if getattr(args, k) is not None}
    return metrics.protocol(args.protocol, **overrides)


def evaluate_study(args) -> int:
    from .many import chosen_methods, options_per_method

    specs = chosen_methods(args)
    per_method = options_per_method(args, specs)
    result = metrics.study(args.inputs, args.model, [s.name for s in specs],
                           metrics=args.metrics, protocol=_protocol(args), out=args.out,
                           key=args.seed, target=None if args.target == "auto" else args.target,
                           engine=args.engine or "local", address=args.address,
                           clip_frames=args.frames, clip_stride=args.stride,
                           batch_size=args.batch_size or DEFAULTS["batch_size"],
                           per_method=per_method)
    print("\n".join(metrics.format_summary(result)))
    print("wrote " + ", ".join(str(p) for p in result.files))
    return 0 if not result.errors else 1


def evaluate_run_dir(args, out: Path) -> int:
    """The curves of the explanation saved in ``out`` (black removal, as it was explained)."""
    summary = json.loads((out / "summary.json").read_text())
    if not (out / "explanation.npz").is_file():
        raise VideoFileError(f"dir: no explanation.npz in {out} (run `vidxai explain --out DIR`)")
    e = Explanation.load(out / "explanation.npz")
    model = zoo.load_model(summary["model"])
    sampling = summary.get("sampling", {})
    _, video, _ = zoo.load_clip(model, summary["video"], sampling.get("frames"),
                                sampling.get("stride"), say=lambda _m: None)
    f = scoring.score(model, e.target, "prob" if model.is_classifier else "raw")
    saliency = e.map if e.map.shape == video.shape[:3] else e.map + 0 * video[..., 0]
    steps = args.steps or DEFAULTS["run_dir_steps"]
    unit = args.unit or DEFAULTS["run_dir_unit"]
    result = {}
    for game in ("insertion", "deletion"):
        curve = getattr(metrics, game)(f, video, saliency, steps=steps, unit=unit,
                                       batch_size=args.batch_size or DEFAULTS["batch_size"],
                                       progress=True)
        result[game] = {"auc": curve.auc, "x": curve.x.tolist(), "scores": curve.scores.tolist()}
        print(f"{game:<9} AUC {curve.auc:.4f}  ({len(curve.x)} points, unit {unit})")
    path = outputs.write_json(out / "evaluation.json", result)
    print(f"wrote {path}")
    return 0
