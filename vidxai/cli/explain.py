"""``vidxai explain``: one video, one model, any method of the method table.

The flags become one call of :func:`vidxai.explain.run`: the table entry says which flags
apply to the method and what keyword each one sets (``Method.options``) and the command
line's own, CPU-sized defaults (``Method.quick``); nothing here knows a method family.
"""
from __future__ import annotations

import time

import numpy as np
from tqdm.auto import tqdm

from .. import removal, scoring, zoo, __version__
from ..errors import ArgumentError
from ..explain import frontdoor, registry
from . import outputs, segmenting

# The default run (I3D, 16x224x224, LIME on about 40 SLIC supervoxels, 120 samples) is sized
# to finish within 5 minutes on a 2-core CPU; paper 001 used 200 supervoxels and 1000 samples.
DEFAULTS = {"model": "i3d-kinetics400", "method": "lime",
            **{k: segmenting.DEFAULTS[k] for k in ("segmenter", "segments", "cells")},
            "samples": 120, "iterations": 300, "removal": "black", "fraction": 0.3,
            "batch_size": 8}
REMOVALS = {
    "black": (removal.black, "removed regions are black (paper 001's headline setting)"),
    "gray": (removal.gray, "removed regions are mid-grey 0.5"),
    "mean": (removal.mean_color, "each removed segment takes its own mean colour"),
    "blur": (removal.blur, "a 3-D Gaussian blur of the video (sigma 8 px / frames)"),
    "blur-soft": (removal.reference, "3-D blur (sigma 8) with mask edges softened by a "
                                     "2-D Gaussian (sigma 3.5): paper 001's reference code"),
    "impute": (removal.imputed, "ROAD's noisy linear imputation of each perturbed video's "
                                "removed voxels (6 neighbours, noise 0.01 from key 0; one "
                                "solve per model evaluation, 1-2 I3D forwards on a CPU)"),
}
ALIASES = {"reference": "blur-soft"}       # old name of blur-soft, still accepted
# flags whose value is converted before it becomes the method's keyword argument
CONVERT = {"removal": lambda name: REMOVALS[ALIASES.get(name, name)][0](),
           "cells": tuple, "areas": tuple}
# flags that only some methods take (the table's ``options`` say which)
METHOD_OPTIONS = ("samples", "cells", "areas", "iterations", "layer", "removal", "batch_size")


def _flag(option: str) -> str:
    return "--" + option.replace("_", "-")


def _takers(test) -> str:
    return ", ".join(m.name for m in registry.methods().values() if test(m))


def check_applicable(args, specs) -> None:
    """Flags given that none of the chosen methods takes are errors, not silently ignored."""
    specs = specs if isinstance(specs, (list, tuple)) else [specs]
    chosen = ("--method " if len(specs) == 1 else "--methods ") + ",".join(s.name for s in specs)
    segmented = any("segmentation" in s.needs for s in specs)
    for option in METHOD_OPTIONS:
        if getattr(args, option) is None or any(option in s.options for s in specs):
            continue
        if option == "cells" and segmented and args.segmenter == "grid":
            continue
        raise ArgumentError(_flag(option), f"one of the methods it applies to "
                            f"({_takers(lambda m, o=option: o in m.options)})", chosen)
    sam2 = [o for o in segmenting.SAM2_OPTIONS if getattr(args, o) is not None]
    for option in ("segmenter", "segments", *sam2[:1]):
        if getattr(args, option) is not None and not segmented:
            raise ArgumentError(_flag(option), "one of the methods it applies to ("
                                f"{_takers(lambda m: 'segmentation' in m.needs)})", chosen)
    if segmented:
        segmenting.check_options(args)


def check_model(spec, model) -> None:
    """A method that needs the model's frame game, on a zoo model without one: name the zoo
    models that have it."""
    if "frame_value" in spec.needs and frontdoor.frame_value_of(model) is None:
        with_frames = [n for n, load in zoo.registry().items()
                       if getattr(load, "info", {}).get("frame_value")]
        raise ArgumentError("--model", "a model that scores subsets of frames for --method "
                            f"{spec.name} ({', '.join(with_frames)})", model.name)


def method_options(args, spec) -> dict:
    """The method's keyword arguments: the command line's defaults for it (``spec.quick``),
    overridden by the flags the user gave."""
    options = dict(spec.quick)
    for option, keyword in spec.options.items():
        value = getattr(args, option)
        if value is not None:
            options[keyword] = CONVERT.get(option, lambda v: v)(value)
    return options


def print_top5(model, logits, summary):
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    top = np.argsort(-logits)[:5]
    summary["top5"] = [[model.class_names[i], float(probs[i])] for i in top]
    for name, p in summary["top5"]:
        print(f"  {p:6.3f}  {name}")


def cmd_explain_one(args) -> int:
    """One video, one method: the map, the overlays and the pictures in ``--out``."""
    if args.address is not None:
        raise ArgumentError("--address", "--engine ray (a dataset run)", args.address)
    args.method = args.method or DEFAULTS["method"]
    args.video = args.video[0] if args.video else None
    start = time.perf_counter()
    spec = registry.get(args.method)
    check_applicable(args, spec)
    model = zoo.load_model(args.model)
    check_model(spec, model)
    out = outputs.prepare_out(args.out)
    path, video, sampling = zoo.load_clip(model, args.video, args.frames, args.stride)
    model.check_input(video)
    who = frontdoor.subject(model, video, args.target)
    summary = {"vidxai": __version__, "model": model.name, "video": str(path),
               "frames": list(video.shape[:3]), "sampling": sampling}
    print(f"{model.name} on {path.name} {video.shape[:3]} "
          f"({sampling['frames']} frames, " + (f"stride {sampling['stride']})" if sampling["stride"] else "spread over the clip)")
          + ("; top 5:" if model.is_classifier else ""))
    if model.is_classifier:
        print_top5(model, who.outputs, summary)
    label = who.label if who.target is not None else "(regression output)"
    print(f"explaining target {who.target} {label!r} with {spec.name} ({spec.summary})")
    options = method_options(args, spec)
    seg_start = time.perf_counter()
    seg = None
    if "segmentation" in spec.needs:
        seg = options["segmentation"] = segmenting.segmentation_for(args, video)
    seg_time = time.perf_counter() - seg_start
    with scoring.long_run_notice(600.0, tqdm.write):   # above the progress bar
        e = frontdoor.run(spec.name, who, video, key=args.seed, progress=True, **options)
    warnings = list(e.meta.get("warnings", []))
    if sampling["upscale"] > 4:
        warnings.append(f"the clip was upscaled {sampling['upscale']:.1f}x (from "
                        f"{sampling['clip_size'][0]}x{sampling['clip_size'][1]}) to the model's "
                        "input: the map explains interpolated pixels")
    total = time.perf_counter() - start
    summary.update(target=who.target, label=label, method=e.method, n_evals=e.n_evals,
                   features=None if e.segmentation is None else int(e.segmentation.n),
                   score=e.meta.get("score"), empty_score=e.meta.get("empty_score"),
                   fit=e.meta.get("fit"), warnings=warnings, removal=e.meta.get("removal"),
                   options={k: (list(v) if isinstance(v, tuple) else v)
                            for k, v in vars(args).items()
                            if k in METHOD_OPTIONS and v is not None},
                   segmentation=None if seg is None else segmenting.summary_of(seg),
                   segmentation_seconds=round(seg_time, 2), seconds=round(total, 2),
                   seed=args.seed)
    for key in ("baseline_score", "completeness", "layer"):   # gradient methods
        if e.meta.get(key) is not None:
            summary[key] = e.meta[key]
    written = outputs.result_outputs(out, video, e, fraction=args.fraction,
                                     class_names=model.class_names)
    written.append(outputs.write_summary(out, summary))
    report(e, total, seg_time, warnings, written)
    return 0


def report(e, total, seg_time, warnings, written):
    scores = ""
    if e.meta.get("score") is not None and e.meta.get("empty_score") is not None:
        scores = f"; score {e.meta['score']:.4g} on the video, {e.meta['empty_score']:.4g} removed"
    fit = e.meta.get("fit") or {}
    if fit.get("r2") is not None:
        scores += f"; surrogate R^2 {fit['r2']:.3f} in-sample"
        if fit.get("heldout_r2") is not None:
            scores += f", {fit['heldout_r2']:.3f} on {fit['heldout_n']} held-out coalitions"
        elif fit.get("heldout_note"):
            scores += f" ({fit['heldout_note']})"
    gap = (e.meta.get("completeness") or {}).get("relative_gap")
    if gap is not None:
        scores += f"; completeness gap {gap:.2%} of f(x) - f(baseline)"
    if e.meta.get("layer"):
        scores += f"; layer {e.meta['layer']}"
    print(f"{e.method}: {e.n_evals} model evaluations, {total:.1f} s in all "
          f"(segmentation {seg_time:.1f} s){scores}")
    for message in warnings:
        print(f"warning: {message}")
    print("wrote " + ", ".join(str(p) for p in written))


__all__ = ["cmd_explain_one", "DEFAULTS", "REMOVALS", "METHOD_OPTIONS", "check_applicable",
           "method_options", "check_model"]
