"""``vidxai explain``: one video, one model, any method of the method table."""
from __future__ import annotations

import time

import numpy as np
from tqdm.auto import tqdm

from .. import removal, scoring, __version__
from ..errors import ArgumentError
from ..explain import registry
from . import outputs, segmenting, zoo

# The default run (I3D, 16x224x224, LIME on about 40 SLIC supervoxels, 120 samples) is sized
# to finish within 5 minutes on a 2-core CPU; paper 001 used 200 supervoxels and 1000 samples.
DEFAULTS = {"model": "i3d-kinetics400", "method": "lime",
            **{k: segmenting.DEFAULTS[k] for k in ("segmenter", "segments", "cells")},
            "samples": 120, "iterations": 300, "removal": "black", "fraction": 0.3}
REMOVALS = {
    "black": (removal.black, "removed regions are black (paper 001's headline setting)"),
    "gray": (removal.gray, "removed regions are mid-grey 0.5"),
    "mean": (removal.mean_color, "each removed segment takes its own mean colour"),
    "blur": (removal.blur, "a 3-D Gaussian blur of the video (sigma 8 px / frames)"),
    "blur-soft": (removal.reference, "3-D blur (sigma 8) with mask edges softened by a "
                                     "2-D Gaussian (sigma 3.5): paper 001's reference code"),
}
ALIASES = {"reference": "blur-soft"}       # old name of blur-soft, still accepted
# options that only some methods take: the flag, and the table's name for it
METHOD_OPTIONS = ("samples", "cells", "areas", "iterations", "layer")


def check_applicable(args, spec) -> None:
    """Options given that the chosen method does not take are errors, not silently ignored."""
    table = registry.methods()
    for option in METHOD_OPTIONS:
        if getattr(args, option) is None or option in spec.options:
            continue
        if option == "cells" and "segmentation" in spec.needs and args.segmenter == "grid":
            continue
        users = [m.name for m in table.values() if option in m.options]
        raise ArgumentError(f"--{option}", f"one of the methods it applies to "
                            f"({', '.join(users)})", f"--method {spec.name}")
    sam2 = [o for o in segmenting.SAM2_OPTIONS if getattr(args, o) is not None]
    for option, needed in (("segmenter", "segmentation"), ("segments", "segmentation"),
                           *((o, "segmentation") for o in sam2[:1]), ("removal", None)):
        given = getattr(args, option) is not None
        applies = needed in spec.needs if needed else spec.family == "removal"
        if given and not applies:
            users = [m.name for m in table.values()
                     if (needed in m.needs if needed else m.family == "removal")]
            raise ArgumentError("--" + option.replace("_", "-"), "one of the methods it "
                                f"applies to ({', '.join(users)})", f"--method {spec.name}")
    if "segmentation" in spec.needs:
        segmenting.check_options(args)


def method_arguments(args, spec, f, video, model, seg, target):
    """Positional and keyword arguments of the method, from the table entry and the flags."""
    import jax

    kwargs = {}
    defaults = {"iterations": DEFAULTS["iterations"], "cells": DEFAULTS["cells"]}
    if spec.family == "removal":      # gradient methods keep their own (paper 004's m = 50)
        defaults["samples"] = DEFAULTS["samples"]
    for option, keyword in spec.options.items():
        value = getattr(args, option)
        if value is None and option in defaults:
            value = defaults[option]
        if value is not None:
            kwargs[keyword] = tuple(value) if isinstance(value, list) else value
    if "key" in spec.needs:
        kwargs["key"] = jax.random.key(args.seed)
    if spec.family == "removal":
        name = ALIASES.get(args.removal, args.removal) or DEFAULTS["removal"]
        kwargs["removal"] = REMOVALS[name][0]()
    if spec.family == "removal" or (spec.family == "gradient" and
                                    _accepts(spec.function, "batch_size")):
        kwargs["batch_size"] = args.batch_size
    if "frame_value" in spec.needs:
        frame_value = model.meta.get("frame_value")
        if frame_value is None:
            with_frames = [n for n, load in zoo.registry().items()
                           if getattr(load, "info", {}).get("frame_value")]
            raise ArgumentError("--model", "a model that scores subsets of frames for --method "
                                f"esv ({', '.join(with_frames)})", model.name)
        value, empty = frame_value(video)
        kwargs.update(empty=empty, target=target)
        return (value, video.shape[0]), kwargs
    if spec.family != "gradient" or _accepts(spec.function, "progress"):
        kwargs["progress"] = True
    positional = (f, video, seg) if "segmentation" in spec.needs else (f, video)
    return positional, kwargs


def _accepts(function, keyword: str) -> bool:
    import inspect

    return keyword in inspect.signature(function).parameters


def print_top5(model, logits, summary):
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    top = np.argsort(-logits)[:5]
    summary["top5"] = [[model.class_names[i], float(probs[i])] for i in top]
    for name, p in summary["top5"]:
        print(f"  {p:6.3f}  {name}")


def resolve_target(model, logits, target: str):
    if not model.is_classifier:
        return None
    if target == "auto":
        return int(np.argmax(logits))
    return model.class_index(int(target) if target.lstrip("-").isdigit() else target)


def cmd_explain(args) -> int:
    start = time.perf_counter()
    spec = registry.get(args.method)
    check_applicable(args, spec)
    model = zoo.load_model(args.model)
    out = outputs.prepare_out(args.out)
    path, video, sampling = zoo.load_clip(model, args.video, args.frames, args.stride)
    model.check_input(video)
    logits = np.asarray(model.apply(video[None]))[0]
    summary = {"vidxai": __version__, "model": model.name, "video": str(path),
               "frames": list(video.shape[:3]), "sampling": sampling}
    print(f"{model.name} on {path.name} {video.shape[:3]} "
          f"({sampling['frames']} frames, " + (f"stride {sampling['stride']})" if sampling["stride"] else "spread over the clip)")
          + ("; top 5:" if model.is_classifier else ""))
    if model.is_classifier:
        print_top5(model, logits, summary)
    target = resolve_target(model, logits, args.target)
    f = scoring.score(model, target, "prob" if model.is_classifier else "raw")
    label = model.class_names[target] if target is not None else "(regression output)"
    print(f"explaining target {target} {label!r} with {spec.name} ({spec.summary})")
    seg_start = time.perf_counter()
    seg = segmenting.segmentation_for(args, video) if "segmentation" in spec.needs else None
    seg_time = time.perf_counter() - seg_start
    positional, kwargs = method_arguments(args, spec, f, video, model, seg, target)
    with scoring.long_run_notice(600.0, tqdm.write):   # above the progress bar
        e = spec.function(*positional, **kwargs)
    warnings = list(e.meta.get("warnings", []))
    if sampling["upscale"] > 4:
        warnings.append(f"the clip was upscaled {sampling['upscale']:.1f}x (from "
                        f"{sampling['clip_size'][0]}x{sampling['clip_size'][1]}) to the model's "
                        "input: the map explains interpolated pixels")
    total = time.perf_counter() - start
    summary.update(target=target, label=label, method=e.method, n_evals=e.n_evals,
                   features=None if e.segmentation is None else int(e.segmentation.n),
                   score=e.meta.get("score"), empty_score=e.meta.get("empty_score"),
                   fit=e.meta.get("fit"), warnings=warnings, removal=e.meta.get("removal"),
                   options={k: (list(v) if isinstance(v, tuple) else v)
                            for k, v in vars(args).items() if k in METHOD_OPTIONS and v is not None},
                   segmentation=None if seg is None else segmenting.summary_of(seg),
                   segmentation_seconds=round(seg_time, 2), seconds=round(total, 2),
                   seed=args.seed)
    for key in ("baseline_score", "completeness", "layer"):   # gradient methods
        if e.meta.get(key) is not None:
            summary[key] = e.meta[key]
    written = write_all(out, video, e, spec, model, args)
    written.append(outputs.write_summary(out, summary))
    report(e, total, seg_time, warnings, written)
    return 0


def write_all(out, video, e, spec, model, args):
    written = [outputs.write_explanation(out, e)]
    if spec.family == "extremal":
        written += outputs.extremal_outputs(out, video, e)
    elif spec.family == "shapley":
        written += outputs.esv_outputs(out, video, e, model.class_names)
    else:  # removal and gradient maps: the top regions / voxels over the video
        written += outputs.removal_outputs(out, video, e, args.fraction)
    return written


def report(e, total, seg_time, warnings, written):
    scores = ""
    if e.meta.get("score") is not None and e.meta.get("empty_score") is not None:
        scores = f"; score {e.meta['score']:.4g} on the video, {e.meta['empty_score']:.4g} removed"
    fit = e.meta.get("fit") or {}
    if fit.get("r2") is not None:
        scores += f"; surrogate R^2 {fit['r2']:.3f}"
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
