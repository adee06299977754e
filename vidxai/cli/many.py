"""``vidxai explain VIDEO_OR_FOLDER... --methods a,b [--engine ray --address auto]``: a
dataset run through :func:`vidxai.runner.explain_many` (one result folder per (video,
method), a manifest, resume on rerun). The flags become each method's options exactly as for
one video (:func:`vidxai.cli.explain.method_options`)."""
from __future__ import annotations

import functools

from .. import runner
from ..explain import registry
from . import segmenting
from .explain import DEFAULTS, check_applicable, cmd_explain_one, method_options

__all__ = ["cmd_explain", "cmd_explain_many", "chosen_methods", "options_per_method",
           "dataset_run"]


def dataset_run(args) -> bool:
    """Several videos, a folder, ``--methods`` or ``--engine``: a dataset run; else one
    video with one method."""
    from pathlib import Path

    videos = args.video or []
    return (len(videos) > 1 or any(Path(v).is_dir() for v in videos)
            or args.methods is not None or args.engine is not None)


def cmd_explain(args) -> int:
    """``vidxai explain``: a dataset run (:func:`cmd_explain_many`) or one video
    (:func:`vidxai.cli.explain.cmd_explain_one`)."""
    return cmd_explain_many(args) if dataset_run(args) else cmd_explain_one(args)


def chosen_methods(args) -> list:
    """The table entries of ``--methods a,b`` (or ``--method``, or the default)."""
    names = runner._methods(args.methods or args.method or DEFAULTS["method"])
    return [registry.get(name) for name in names]


def options_per_method(args, specs) -> dict:
    """Each method's keyword arguments from the flags; supervoxel methods get the
    segmentation flags as a function each worker applies to its videos."""
    check_applicable(args, specs)
    segment = functools.partial(segmenting.segment_with, settings=segmenting.settings_of(args))
    per_method = {}
    for spec in specs:
        options = method_options(args, spec)
        if "segmentation" in spec.needs:
            options["segmentation"] = segment
        per_method[spec.name] = options
    return per_method


def cmd_explain_many(args) -> int:
    specs = chosen_methods(args)
    per_method = options_per_method(args, specs)
    videos = args.video or [str(_default_clip())]
    print(f"explaining {len(runner.video_files(videos))} video(s) with "
          f"{', '.join(s.name for s in specs)} on {args.model} "
          f"({args.engine or 'local'} engine) into {args.out}")
    summary = runner.explain_many(videos, args.model, [s.name for s in specs], args.out,
                                  engine=args.engine or "local", address=args.address,
                                  key=args.seed, progress=True,
                                  target=None if args.target == "auto" else args.target,
                                  clip_frames=args.frames, clip_stride=args.stride,
                                  per_method=per_method)
    print(summary)
    return 0 if summary.ok else 1


def _default_clip():
    from ..io import sample_video

    return sample_video("bikes")
