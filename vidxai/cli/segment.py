"""``vidxai segment VIDEO``: the segmentation alone, to look at before explaining."""
from __future__ import annotations

import json
import time

import numpy as np

from .. import zoo
from . import outputs, segmenting


def write_segmentation(path, seg) -> None:
    """``labels``, ``n`` and, for SAM 2 masklets, ``unassigned`` (-1: none), ``starts``,
    ``resegmented`` and ``info`` (JSON text) in one ``.npz``."""
    arrays = {"labels": seg.labels, "n": np.int64(seg.n)}
    summary = segmenting.summary_of(seg)
    if "unassigned" in summary:
        arrays.update(unassigned=np.int64(-1 if seg.unassigned is None else seg.unassigned),
                      starts=np.asarray(seg.starts), resegmented=np.asarray(seg.resegmented,
                                                                             np.int64),
                      info=np.array(json.dumps(seg.info)))
    with open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def cmd_segment(args) -> int:
    start = time.perf_counter()
    segmenting.check_options(args)
    model = zoo.load_model(args.model)
    out = outputs.prepare_out(args.out)
    path, video, sampling = zoo.load_clip(model, args.video, args.frames, args.stride)
    print(f"{path.name}: {video.shape[0]} frames of {video.shape[1]}x{video.shape[2]} "
          f"(as {model.name} reads it)")
    seg = segmenting.segmentation_for(args, video)
    written = outputs.segment_outputs(out, video, seg, lambda p: write_segmentation(p, seg))
    summary = {"video": str(path), "model": model.name, "sampling": sampling,
               **segmenting.summary_of(seg), "seconds": round(time.perf_counter() - start, 2)}
    written.append(outputs.write_json(out / "segment.json", summary))
    print(f"{seg.n} segments in {time.perf_counter() - start:.1f} s; wrote "
          + ", ".join(str(p) for p in written))
    return 0
