"""What ``vidxai explain`` writes, per family of result (each file written atomically)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .. import viz
from ..errors import VideoFileError
from ..explanation import Explanation
from ..io import write_video

FPS = 8


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


def _atomic(path: Path, write) -> Path:
    """Write through a temporary name then rename: an interrupted run leaves no half file."""
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _video(path: Path, frames) -> Path:
    return _atomic(path, lambda p: write_video(p, frames, fps=FPS))


def _png(path: Path, image) -> Path:
    from PIL import Image

    return _atomic(path, lambda p: Image.fromarray(image).save(p, format="PNG"))


def _figure(path: Path, fig) -> Path:
    import matplotlib.pyplot as plt

    try:
        return _atomic(path, lambda p: fig.savefig(p, format="png", dpi=100))
    finally:
        plt.close(fig)


def write_json(path: Path, data) -> Path:
    return _atomic(path, lambda p: p.write_text(json.dumps(data, indent=2)))


def removal_outputs(out: Path, video, e: Explanation, fraction: float) -> list[Path]:
    """Top regions holding ``fraction`` of the positive importance (paper 001's display) as a
    heat overlay video, gif and frame grid; for segment methods also paper 000's video that
    keeps only those segments."""
    if e.segmentation is not None:
        top = viz.top_fraction(np.maximum(e.weights, 0), fraction)
        saliency = top[e.segmentation.labels]
        shown = f"top {fraction:.0%} of + importance: {int((top > 0).sum())}/{e.segmentation.n} segments"
    else:
        saliency = viz.top_fraction(np.maximum(e.map, 0), fraction)
        shown = f"top {fraction:.0%} of + importance: {(saliency > 0).mean():.1%} of voxels"
    frames = viz.caption(viz.overlay(video, saliency, cmap="jet", alpha=0.7, weighted=True), shown)
    written = [_video(out / "overlay.mp4", frames), _video(out / "overlay.gif", frames),
               _png(out / "frames.png", viz.frame_grid(frames))]
    if e.segmentation is not None:
        kept = viz.caption(viz.keep_important(video, e.segmentation, e.weights, fraction), shown)
        written.append(_video(out / "kept.mp4", kept))
    return written


def extremal_outputs(out: Path, video, e) -> list[Path]:
    """Per area the video under its mask; the summed map as an overlay; the area curve."""
    written = []
    for area, mask in zip(e.areas, e.masks):
        kept = viz.caption(np.asarray(video) * mask[..., None], f"mask of area {area:g}")
        written.append(_video(out / f"mask_{area:g}.mp4", kept))
    frames = viz.caption(viz.overlay(video, e.map, cmap="jet", alpha=0.6),
                         f"{e.method}: sum of {len(e.areas)} area masks")
    written.append(_video(out / "overlay.mp4", frames))
    written.append(_png(out / "frames.png", viz.frame_grid(frames)))
    written.append(_figure(out / "area_curve.png", area_curve(e)))
    return written


def area_curve(e):
    """Preserved score against the kept area (paper 004's area curve)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    order = np.argsort(e.areas)
    ax.plot(np.asarray(e.areas)[order], np.asarray(e.scores)[order], "o-", label="mask kept")
    ax.axhline(e.base_score, color="grey", ls="--", lw=1, label="whole video")
    ax.set_xlabel("area kept")
    ax.set_ylabel("score")
    ax.set_title(e.method, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def esv_outputs(out: Path, video, e, class_names=()) -> list[Path]:
    """Per-frame values as JSON and the frames with their ESV bars (paper 003's figure)."""
    import matplotlib

    matplotlib.use("Agg")
    names = [class_names[c] if len(class_names) > int(c) else str(int(c)) for c in e.classes]
    data = {"method": e.method, "classes": [int(c) for c in e.classes], "labels": names,
            "values": np.asarray(e.values).tolist(), "full": np.asarray(e.full).tolist(),
            "empty": np.asarray(e.empty).tolist(), "target": e.target}
    fig = e.plot(video, class_names=list(class_names) or None)
    return [write_json(out / "esv.json", data), _figure(out / "esv.png", fig)]


def segment_outputs(out: Path, video, seg, write_npz) -> list[Path]:
    """``vidxai segment``: the segments colour-coded (video and frame grid) and the labels
    (``write_npz(path)`` writes the ``.npz``)."""
    shown = viz.caption(viz.segments(video, seg, unassigned=getattr(seg, "unassigned", None)),
                        f"{seg.n} segments")
    return [_video(out / "segments.mp4", shown), _png(out / "segments.png", viz.frame_grid(shown)),
            _atomic(out / "segmentation.npz", write_npz)]


def write_explanation(out: Path, e: Explanation) -> Path:
    return _atomic(out / "explanation.npz", lambda p: e.save(p))


def write_summary(out: Path, summary: dict) -> Path:
    return write_json(out / "summary.json", summary)


def result_outputs(out: Path, video, e: Explanation, *, fraction: float,
                   class_names=()) -> list[Path]:
    """The pictures of one result, chosen by its kind (saved files name the same kinds):
    extremal masks per area, frame Shapley bars, or the top regions of any other map."""
    by_kind = {"extremal": lambda: extremal_outputs(out, video, e),
               "esv": lambda: esv_outputs(out, video, e, class_names)}
    written = [write_explanation(out, e)]
    written += by_kind.get(e.kind, lambda: removal_outputs(out, video, e, fraction))()
    return written
