"""Command line: ``vidxai explain``, ``segment``, ``evaluate``, ``methods``, ``models``
(``--version``).

The method choices and ``vidxai methods`` come from the method table
(:mod:`vidxai.explain.registry`); models from the ``vidxai.models`` entry point. Every error
names the flag the user typed and exits with code 2; Ctrl-C exits with 130 and leaves no
half-written file.
"""
from __future__ import annotations

import sys

from ..errors import VidxaiError
from .parsers import parser

# Python parameter names in library errors (``err.argument``) -> the flag that set them
FLAGS = {"n_samples": "--samples", "num_frames": "--frames", "frames": "--frames",
         "stride": "--stride", "batch_size": "--batch-size", "n_segments": "--segments",
         "cells": "--cells", "areas": "--areas", "iterations": "--iterations",
         "target": "--target", "path": "VIDEO", "video": "VIDEO", "model": "--model",
         "method": "--method", "dir": "DIR", "removal": "--removal", "segmentation":
         "--segmenter", "layer": "--layer", "checkpoint": "--sam2-checkpoint",
         "config": "--sam2-config", "image_size": "--sam2-image-size",
         "max_objects": "--sam2-max-objects", "generator": "--sam2-generator",
         "device": "--sam2-device", "videos": "VIDEO_OR_FOLDER", "methods": "--methods",
         "metrics": "--metrics", "protocol": "--protocol", "engine": "--engine",
         "address": "--address", "clip_frames": "--frames", "clip_stride": "--stride",
         "unit": "--unit", "ties": "--ties", "rule": "--rule", "out": "--out"}
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
