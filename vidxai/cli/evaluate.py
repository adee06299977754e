"""``vidxai evaluate DIR``: insertion / deletion curves of a saved explanation."""
from __future__ import annotations

import json
from pathlib import Path

from .. import metrics, scoring, zoo
from ..errors import VideoFileError
from ..explanation import Explanation
from . import outputs


def cmd_evaluate(args) -> int:
    out = Path(args.dir)
    summary_path = out / "summary.json"
    if not summary_path.is_file():
        raise VideoFileError(f"dir: no summary.json in {out} (run `vidxai explain --out DIR`)")
    summary = json.loads(summary_path.read_text())
    e = Explanation.load(out / "explanation.npz")
    model = zoo.load_model(summary["model"])
    sampling = summary.get("sampling", {})
    _, video, _ = zoo.load_clip(model, summary["video"], sampling.get("frames"),
                                sampling.get("stride"), say=lambda _m: None)
    f = scoring.score(model, e.target, "prob" if model.is_classifier else "raw")
    saliency = e.map if e.map.shape == video.shape[:3] else e.map + 0 * video[..., 0]
    result = {}
    for game in ("insertion", "deletion"):
        curve = getattr(metrics, game)(f, video, saliency, steps=args.steps, unit=args.unit,
                                       batch_size=args.batch_size, progress=True)
        result[game] = {"auc": curve.auc, "x": curve.x.tolist(), "scores": curve.scores.tolist()}
        print(f"{game:<9} AUC {curve.auc:.4f}  ({len(curve.x)} points, unit {args.unit})")
    path = outputs.write_json(out / "evaluation.json", result)
    print(f"wrote {path}")
    return 0
