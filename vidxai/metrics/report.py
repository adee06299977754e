"""A study's pictures and its one-page report: mean curves with bands, AUC bars with
intervals, and ``report.html`` (self-contained: every image inlined, no network).

Curves of different videos (and of paper 001's non-uniform thresholds) are compared on a
common x grid (:data:`GRID` points in [0, 1], linear interpolation); the band is the
bootstrap 95% interval of the mean over videos at each x.
"""
from __future__ import annotations

import base64
import html
import io

import numpy as np

from .summary import BOOTSTRAP_RESAMPLES

__all__ = ["curve_figure", "auc_figure", "overlay_strip", "write_report", "GRID",
           "mean_curve"]

GRID = 101


def mean_curve(xs, ys, *, seed: int = 0):
    """``(x, mean, low, high)`` of curves ``(x_i, y_i)`` resampled onto :data:`GRID` points."""
    grid = np.linspace(0.0, 1.0, GRID)
    on_grid = np.stack([np.interp(grid, np.asarray(x, float), np.asarray(y, float))
                        for x, y in zip(xs, ys)])
    mean = on_grid.mean(axis=0)
    if len(on_grid) < 2:
        return grid, mean, mean, mean
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(on_grid), (BOOTSTRAP_RESAMPLES, len(on_grid)))
    boot = on_grid[picks].mean(axis=1)
    low, high = np.quantile(boot, [0.025, 0.975], axis=0)
    return grid, mean, low, high


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def curve_figure(curves: dict):
    """One panel per (metric, protocol, unit): the mean curve of each method with its band.
    ``curves[(metric, protocol, unit)][method] = [(x, scores), ...]`` over videos."""
    plt = _pyplot()
    panels = list(curves)
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(4.6 * max(1, len(panels)), 3.4),
                             squeeze=False)
    for ax, key in zip(axes[0], panels):
        for method, pairs in curves[key].items():
            grid, mean, low, high = mean_curve([p[0] for p in pairs], [p[1] for p in pairs])
            style = {"color": "black", "ls": "--"} if method == "random" else {}
            line, = ax.plot(grid, mean, label=f"{method} (n={len(pairs)})", lw=1.4, **style)
            ax.fill_between(grid, low, high, color=line.get_color(), alpha=0.15, lw=0)
        metric, protocol, unit = key
        ax.set_title(f"{metric} ({protocol}, {unit})", fontsize=9)
        ax.set_xlabel("share of units " + ("inserted" if metric == "insertion" else "deleted"))
        ax.set_ylabel("score")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def auc_figure(summary):
    """Mean AUC per method with its bootstrap 95% interval, one panel per curve metric."""
    plt = _pyplot()
    shown = summary[summary["metric"].isin(["insertion", "deletion"])]
    groups = list(shown.groupby(["metric", "protocol", "unit"], sort=False))
    fig, axes = plt.subplots(1, max(1, len(groups)), figsize=(4.6 * max(1, len(groups)), 3.4),
                             squeeze=False)
    for ax, ((metric, protocol, unit), rows) in zip(axes[0], groups):
        mean = rows["mean"].to_numpy()
        err = np.stack([mean - rows["ci_low"].to_numpy(), rows["ci_high"].to_numpy() - mean])
        colors = ["0.5" if m == "random" else "C0" for m in rows["method"]]
        ax.bar(range(len(rows)), mean, yerr=np.maximum(err, 0), color=colors, capsize=3)
        ax.set_xticks(range(len(rows)), rows["method"], rotation=45, ha="right", fontsize=8)
        better = "lower" if metric == "deletion" else "higher"
        ax.set_title(f"{metric} AUC ({protocol}, {unit}; {better} is better)", fontsize=9)
    fig.tight_layout()
    return fig


def overlay_strip(video, saliency, frames: int = 4) -> np.ndarray:
    """``frames`` evenly spaced frames of the map over the video, side by side (uint8)."""
    from .. import viz

    t = np.asarray(video).shape[0]
    picks = np.unique(np.linspace(0, t - 1, min(frames, t)).round().astype(int))
    heat = np.broadcast_to(saliency, np.asarray(video).shape[:3])
    over = viz.overlay(np.asarray(video)[picks], np.asarray(heat)[picks], cmap="jet", alpha=0.5,
                       positive_only=True)
    return viz.frame_grid(over, cols=len(picks))


def _png_uri(image=None, fig=None) -> str:
    buffer = io.BytesIO()
    if fig is not None:
        fig.savefig(buffer, format="png", dpi=110)
        _pyplot().close(fig)
    else:
        from PIL import Image

        Image.fromarray(np.asarray(image, np.uint8)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _table_html(frame) -> str:
    return frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="",
                         border=0, classes="t")


def write_report(path, *, title: str, summary, alpha: dict, figures: dict, overlays: dict,
                 errors: list, settings: dict) -> None:
    """``report.html``: settings, the summary table, alpha per metric, the figures, and per
    video every method's overlay side by side (``overlays[video][method] = image``)."""
    parts = [f"<h1>{html.escape(title)}</h1>",
             "<h2>Settings</h2><pre>" + html.escape(
                 "\n".join(f"{k}: {v}" for k, v in settings.items())) + "</pre>",
             "<h2>Summary (mean over videos, bootstrap 95% interval)</h2>", _table_html(summary),
             "<h2>Reliability alpha (paper 004, Eq. 20-21)</h2><ul>"]
    parts += [f"<li>{html.escape(k)}: {'n/a' if v is None else f'{v:.3f}'}</li>"
              for k, v in alpha.items()]
    parts.append("</ul>")
    for name, fig in figures.items():
        parts.append(f"<h2>{html.escape(name)}</h2><img src=\"{_png_uri(fig=fig)}\">")
    if errors:
        parts.append("<h2>Failed</h2><ul>" + "".join(
            f"<li>{html.escape(str(e))}</li>" for e in errors) + "</ul>")
    parts.append("<h2>Maps per video</h2>")
    for video, by_method in overlays.items():
        parts.append(f"<h3>{html.escape(str(video))}</h3><div class=\"row\">")
        for method, image in by_method.items():
            parts.append(f"<figure><img src=\"{_png_uri(image=image)}\"><figcaption>"
                         f"{html.escape(method)}</figcaption></figure>")
        parts.append("</div>")
    style = ("body{font-family:sans-serif;margin:2em;max-width:1400px}"
             "table.t{border-collapse:collapse;font-size:12px}"
             "table.t td,table.t th{padding:2px 8px;border-bottom:1px solid #ddd}"
             ".row{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0}"
             "figcaption{font-size:12px;text-align:center}img{max-width:100%}")
    page = (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}"
            f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>")
    from pathlib import Path

    Path(path).write_text(page, encoding="utf-8")
