"""Segmenter options shared by ``vidxai explain`` and ``vidxai segment``: SLIC, grid, SAM 2.

The SAM 2 options (``--sam2-*``) apply only to ``--segmenter sam2``; given with another
segmenter they are errors, not silently ignored.
"""
from __future__ import annotations

from .. import segment
from ..errors import ArgumentError, check_int
from ..explain.frontdoor import DEFAULT_SEGMENTS
from ..segment.masklets import GENERATOR

SEGMENTERS = ("slic", "grid", "sam2")
DEFAULTS = {"segmenter": "slic", "segments": DEFAULT_SEGMENTS, "cells": (4, 7, 7), "sam2_stride": 2,
            "sam2_config": "sam2.1_hiera_t", "sam2_image_size": 1024}
SAM2_OPTIONS = ("sam2_checkpoint", "sam2_config", "sam2_stride", "sam2_points",
                "sam2_image_size", "sam2_max_objects", "sam2_generator", "sam2_device",
                "sam2_no_resegment")


def add_options(parser, cells_help: str) -> None:
    """--segmenter, --segments, --cells and the --sam2-* options (``None`` = not given)."""
    parser.add_argument("--segmenter", default=None, choices=SEGMENTERS,
                        help="supervoxels: SLIC, a regular grid or SAM 2 masklets (paper 000) "
                             f"(default: {DEFAULTS['segmenter']})")
    parser.add_argument("--segments", type=int, default=None,
                        help="SLIC supervoxels to ask for; SLIC returns about that many "
                             f"(default: {DEFAULTS['segments']}; paper 001 uses 200)")
    parser.add_argument("--cells", type=int, nargs=3, default=None, metavar=("T", "H", "W"),
                        help=cells_help + f" (default: {' '.join(map(str, DEFAULTS['cells']))})")
    sam = parser.add_argument_group("SAM 2 masklets (--segmenter sam2)")
    sam.add_argument("--sam2-checkpoint", default=None, metavar="PT|HF_ID|random",
                     help="SAM 2 weights: a .pt file (e.g. Meta's sam2.1_hiera_tiny.pt), a "
                          "Hugging Face id (facebook/sam2.1-hiera-tiny, needs the hub or its "
                          "cache) or 'random' (random weights, tests only) (default: none, "
                          "required with --segmenter sam2)")
    sam.add_argument("--sam2-config", default=None,
                     help="SAM 2 config matching the checkpoint, e.g. sam2.1_hiera_s "
                          f"(default: the hub id's, else {DEFAULTS['sam2_config']})")
    sam.add_argument("--sam2-stride", type=int, default=None,
                     help="segment every S-th frame, the others take the nearest segmented "
                          f"frame's labels (default: {DEFAULTS['sam2_stride']}, as paper 000)")
    sam.add_argument("--sam2-points", nargs="+", default=None, metavar="OBJECT",
                     help="objects to segment instead of automatic masks: box:X0,Y0,X1,Y1 or "
                          "point:X,Y in pixels of the frames read, '+' joins prompts of one "
                          "object, @F puts it on frame F (default frame 0); or one .json file "
                          "(a list of {frame, points, labels, box, mask: file.npy}) "
                          "(default: none, automatic masks)")
    sam.add_argument("--sam2-image-size", type=int, default=None,
                     help="SAM 2's input side in pixels, a multiple of 32; smaller is faster "
                          f"and coarser (default: {DEFAULTS['sam2_image_size']})")
    sam.add_argument("--sam2-max-objects", type=int, default=None,
                     help="keep at most N automatic masks per generation, best first "
                          "(default: no cap)")
    sam.add_argument("--sam2-generator", nargs="+", default=None, metavar="KEY=VALUE",
                     help="mask generator settings, e.g. points_per_side=32 (default: paper "
                          "000's: " + ", ".join(f"{k}={v}" for k, v in GENERATOR.items()) + ")")
    sam.add_argument("--sam2-device", default=None,
                     help="torch device for SAM 2, e.g. cpu, cuda, cuda:1 (default: cuda if "
                          "torch sees a GPU, else cpu)")
    sam.add_argument("--sam2-no-resegment", action="store_true", default=None,
                     help="do not re-run the generator where masklets collapse (default: "
                          "re-segment at collapse frames)")


def check_options(args) -> None:
    """--segments only with SLIC, --sam2-* only with sam2, and sam2 needs a checkpoint."""
    kind = args.segmenter or DEFAULTS["segmenter"]
    if args.segments is not None and kind != "slic":
        raise ArgumentError("--segments", "--segmenter slic (the number of SLIC supervoxels)",
                            f"--segmenter {kind}")
    for option in SAM2_OPTIONS:
        if getattr(args, option) is not None and kind != "sam2":
            raise ArgumentError("--" + option.replace("_", "-"), "--segmenter sam2",
                                f"--segmenter {kind}")
    if kind == "sam2" and args.sam2_checkpoint is None:
        raise ArgumentError("--sam2-checkpoint", "SAM 2 weights for --segmenter sam2: a .pt "
                            "file such as sam2.1_hiera_tiny.pt from Meta's SAM 2 release, a "
                            "Hugging Face id, or 'random' (tests only)", None)
    if args.sam2_stride is not None:
        check_int(args.sam2_stride, "--sam2-stride", minimum=1)


def generator_options(pairs) -> dict | None:
    """KEY=VALUE pairs -> a generator dict (ints, floats as given)."""
    if pairs is None:
        return None
    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ArgumentError("--sam2-generator", "KEY=VALUE pairs", repr(pair))
        try:
            number = float(value)
        except ValueError:
            raise ArgumentError("--sam2-generator", f"a number for {key}", repr(value)) from None
        settings[key] = int(number) if number.is_integer() and "." not in value else number
    return settings


def masklets_for(args, video, say=print):
    """SAM 2 masklets with the command line's options (errors name the flags)."""
    from ..segment.prompts import check_prompts, parse_tokens

    prompts = None
    if args.sam2_points is not None:
        prompts = parse_tokens(args.sam2_points)
        try:
            check_prompts(prompts, video.shape[:3])
        except ArgumentError as err:
            raise ArgumentError(f"--sam2-points ({err.argument})", err.expected) from err
    if args.sam2_checkpoint == "random":
        say("SAM 2 with random weights (for tests only: the masklets carry no meaning)")
    seg = segment.masklets(
        video, checkpoint=args.sam2_checkpoint, config=args.sam2_config,
        stride=args.sam2_stride or DEFAULTS["sam2_stride"],
        generator=generator_options(args.sam2_generator), prompts=prompts,
        max_objects=args.sam2_max_objects, resegment=not args.sam2_no_resegment,
        image_size=args.sam2_image_size, device=args.sam2_device, progress=True)
    seconds = ", ".join(f"{k} {v:.1f} s" for k, v in seg.info["seconds"].items())
    unassigned = 0.0 if seg.unassigned is None else float((seg.labels == seg.unassigned).mean())
    say(f"SAM 2 masklets: {seg.n} segments ({seg.info['objects']} objects tracked, "
        f"{unassigned:.0%} of voxels unassigned"
        + (f", re-segmented at frames {list(seg.resegmented)}" if seg.resegmented else "")
        + f"; {seconds})")
    return seg


def segmentation_for(args, video, say=print):
    kind = args.segmenter or DEFAULTS["segmenter"]
    if kind == "slic":
        requested = args.segments or DEFAULTS["segments"]
        seg = segment.slic(video, n_segments=requested)
        say(f"SLIC: {seg.n} supervoxels (requested {requested}; SLIC returns about that many)")
        return seg
    if kind == "sam2":
        return masklets_for(args, video, say)
    return segment.grid(video, tuple(args.cells or DEFAULTS["cells"]))


def summary_of(seg) -> dict:
    """What a summary.json records about the segmentation (masklets: where they come from)."""
    out = {"segments": int(seg.n)}
    if isinstance(seg, segment.Masklets):
        out.update(unassigned=seg.unassigned, resegmented=list(seg.resegmented), **seg.info)
    return out


__all__ = ["add_options", "check_options", "segmentation_for", "summary_of", "SEGMENTERS",
           "settings_of", "segment_with", "SEGMENT_FLAGS"]


SEGMENT_FLAGS = ("segmenter", "segments", "cells", *SAM2_OPTIONS)


def settings_of(args) -> dict:
    """The segmentation flags as plain data (what a dataset run records and ships)."""
    return {k: tuple(v) if isinstance(v, list) else v
            for k, v in ((k, getattr(args, k)) for k in SEGMENT_FLAGS)}


def segment_with(video, settings: dict):
    """:func:`segmentation_for` from :func:`settings_of`'s data, quietly: each worker of a
    dataset run segments its own videos with it."""
    import argparse

    return segmentation_for(argparse.Namespace(**settings), video, say=lambda _m: None)
