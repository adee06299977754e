"""SAM 2 masklets as supervoxels (paper 000), with collapse repair and user prompts.

Paper 000 replaces SLIC supervoxels by *masklets*: SAM 2's automatic mask generator
segments the first frame, SAM 2's video predictor tracks every mask through the video, and
3D LIME then keeps or removes whole masklets. Here, per segmented frame, each pixel goes to
the masklet with the highest mask logit (if any logit is positive, SAM 2's mask threshold);
the pixels no masklet claims form one extra "unassigned" segment. ``stride`` segments every
stride-th frame and gives the others the labels of the nearest segmented frame (the paper
used 2). Two of the paper's open problems are implemented: masklets that collapse after a
cut or fast motion are detected (:func:`~vidxai.segment.collapse_frames`) and the generator
runs again there, and user prompts (points, boxes or masks per object) seed the masklets.

References
----------
D. M. Paiva, J. M. X. N. Teixeira, V. Teichrieb, "Here comes the SAM: bringing light to
black box models applied to video content", UFPE, 2024 (paper 000), Sec. III-IV (method,
settings), VI (cluster collapse) and VII (future work: user-given first-frame regions).
Ravi et al., "SAM 2: Segment Anything in Images and Videos", ICLR 2025.
"""
from __future__ import annotations

import functools
import time
import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, SegmentationWarning, check_int, \
    check_video, describe
from . import _sam2
from .base import Segmentation
from .collapse import collapse_frames
from .prompts import check_prompts

# Paper 000's automatic mask generator settings (SAM 2.1 tiny)
GENERATOR = {"points_per_side": 64, "crop_n_layers": 1, "crop_n_points_downscale_factor": 2,
             "pred_iou_thresh": 0.85, "stability_score_thresh": 0.85,
             "min_mask_region_area": 0, "box_nms_thresh": 0.65, "crop_nms_thresh": 0.65,
             "points_per_batch": 128}
MIN_SIDE = 32        # frames below 32x32 pixels carry too little for SAM 2's masks
NEW_SHARE = 0.5      # a re-generated mask is new when half its pixels are unclaimed
ENCODE_BATCH = 8     # frames per image-encoder call during tracking


@dataclass(frozen=True, eq=False)
class Masklets(Segmentation):
    """A :class:`Segmentation` from SAM 2 masklets, with where they come from.

    ``unassigned``: the label of the pixels no masklet claims (``None`` if every pixel is
    claimed); ``starts``: per label, the first frame it appears in; ``resegmented``: frames
    where the mask generator ran again after a collapse; ``info``: checkpoint, config, image
    size, device, segmented frames, number of tracked objects and seconds per stage.
    """

    unassigned: int | None = None
    starts: np.ndarray | None = None
    resegmented: tuple = ()


class Board:
    """Per segmented frame, the highest mask logit so far and the object holding it."""

    def __init__(self, frames: int, height: int, width: int):
        self.best = np.full((frames, height, width), -np.inf, np.float32)
        self.owner = np.full((frames, height, width), -1, np.int32)
        self.seconds = 0.0

    def update(self, k: int, ids: np.ndarray, logits: np.ndarray) -> None:
        start = time.perf_counter()
        top = logits.max(axis=0)
        better = top > self.best[k]
        self.best[k][better] = top[better]
        self.owner[k][better] = ids[logits.argmax(axis=0)[better]]
        self.seconds += time.perf_counter() - start

    def labels(self) -> np.ndarray:
        """Object per pixel, -1 where no logit is positive (SAM 2's mask threshold is 0)."""
        return np.where(self.best > 0, self.owner, -1)


def generator_settings(generator) -> dict:
    """Paper 000's generator settings updated by the user's dict (keys of SAM 2's
    ``SAM2AutomaticMaskGenerator``)."""
    if generator is None:
        return dict(GENERATOR)
    if not isinstance(generator, dict):
        raise ArgumentTypeError("generator", "a dict of SAM2AutomaticMaskGenerator settings",
                                describe(generator))
    import inspect

    from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator

    allowed = set(inspect.signature(SAM2AutomaticMaskGenerator).parameters) - {
        "model", "kwargs", "output_mode", "point_grids"}
    unknown = sorted(set(generator) - allowed)
    if unknown:
        raise ArgumentError("generator", f"keys among {sorted(allowed)}", unknown)
    settings = {**GENERATOR, **generator}
    for key in ("points_per_side", "points_per_batch"):
        check_int(settings[key], f"generator[{key!r}]", minimum=1)
    return settings


@functools.lru_cache(maxsize=4)
def _mask_generator(predictor, settings: tuple):
    from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)    # torch.jit.script inside sam2
        gen = SAM2AutomaticMaskGenerator(predictor, output_mode="binary_mask", **dict(settings))
    size = predictor.image_size     # the image predictor assumes 1024 px feature maps
    gen.predictor._bb_feat_sizes = [(size // 4,) * 2, (size // 8,) * 2, (size // 16,) * 2]
    return gen


def generate(predictor, frame: np.ndarray, settings: dict) -> list[np.ndarray]:
    """SAM 2's automatic masks of one float frame ``(H, W, 3)``, best predicted IoU first."""
    import torch

    gen = _mask_generator(predictor, tuple(sorted(settings.items())))
    try:
        with torch.inference_mode(), _sam2.autocast(predictor.device):
            found = gen.generate(frame)
    except IndexError:
        # sam2 1.1.0's NMS across crops (crop_n_layers > 0) indexes an empty (0, 0) box
        # tensor when no crop kept a mask: that is "no mask", nothing else can raise there
        if gen.crop_n_layers == 0:
            raise
        found = []
    found.sort(key=lambda a: (-a["predicted_iou"], -a["area"]))
    return [np.asarray(a["segmentation"], bool) for a in found]


def new_masks(masks, claimed: np.ndarray, cap: int | None) -> list[np.ndarray]:
    """Masks mostly over pixels no masklet claims yet (at least NEW_SHARE), at most ``cap``."""
    keep = [m for m in masks if m.any() and (~claimed[m]).mean() >= NEW_SHARE]
    return keep if cap is None else keep[:cap]


def _propagate(predictor, state, start: int, reverse: bool):
    """SAM 2's propagation, with the image encoder run on ENCODE_BATCH frames at a time."""
    last = state["num_frames"] - 1
    order = list(range(start, -1, -1) if reverse else range(start, last + 1))
    frames = predictor.propagate_in_video(state, start_frame_idx=start, reverse=reverse)
    for pos in range(len(order) + 1):
        upcoming = order[pos:pos + ENCODE_BATCH]
        if upcoming and upcoming[0] not in state["cached_features"]:
            _sam2.encode(predictor, state, upcoming)
        item = next(frames, None)
        if item is None:
            return
        yield item


def track(predictor, frames, size, start: int, objects, first_id: int, board, both: bool,
          bar) -> int:
    """Track ``objects`` (boolean masks or :class:`Prompt` s) from segmented frame ``start``
    to the end (and back to the first frame when ``both``); logits go onto ``board``."""
    import torch

    state = _sam2.video_state(predictor, frames, *size)
    ids = np.arange(first_id, first_id + len(objects), dtype=np.int32)
    with torch.inference_mode(), _sam2.autocast(predictor.device), _sam2.quiet():
        _sam2.encode(predictor, state, [start])
        for obj, spec in zip(ids, objects):
            if isinstance(spec, np.ndarray) or spec.mask is not None:
                mask = spec if isinstance(spec, np.ndarray) else spec.mask
                predictor.add_new_mask(state, start, int(obj), torch.from_numpy(mask))
            else:
                predictor.add_new_points_or_box(state, start, int(obj), points=spec.points,
                                                labels=spec.labels, box=spec.box)
        for reverse in ((False, True) if both and start > 0 else (False,)):
            for k, _, logits in _propagate(predictor, state, start, reverse):
                board.update(k, ids, logits[:, 0].float().cpu().numpy())
                bar.update(1)
    return len(objects)


def nearest(kept, length: int) -> np.ndarray:
    """For every frame, the segmented frame nearest to it (the earlier one on a tie)."""
    kept = np.asarray(kept)
    t = np.arange(length)
    after = np.clip(np.searchsorted(kept, t), 0, len(kept) - 1)
    before = np.clip(after - 1, 0, len(kept) - 1)
    use_before = np.abs(t - kept[before]) <= np.abs(kept[after] - t)
    return np.where(use_before, before, after)


def assemble(owner: np.ndarray) -> tuple[np.ndarray, int, int | None, np.ndarray]:
    """Contiguous labels from object ids (-1 = unassigned): the unassigned segment is 0 when
    present, masklets follow in order of first appearance. Returns labels, n, unassigned,
    and each label's first frame."""
    t = owner.shape[0]
    ids = np.unique(owner)
    first = {i: int(np.argmax((owner == i).reshape(t, -1).any(axis=1))) for i in ids}
    order = sorted(ids, key=lambda i: (i >= 0, first[i], i))      # unassigned (-1) first
    lookup = np.zeros(ids.max() + 2, np.int32)
    lookup[np.asarray(order) + 1] = np.arange(len(order))
    labels = lookup[owner + 1]
    unassigned = 0 if order[0] == -1 else None
    return labels, len(order), unassigned, np.array([first[i] for i in order])


def _validate(video, stride, max_objects):
    video = check_video(video)
    if video.shape[-1] == 1:
        video = np.repeat(video, 3, axis=-1)
    if min(video.shape[1:3]) < MIN_SIDE:
        raise ArgumentError("video", f"frames of at least {MIN_SIDE}x{MIN_SIDE} pixels for SAM 2",
                            f"frames of {video.shape[1]}x{video.shape[2]}")
    stride = check_int(stride, "stride", minimum=1)
    if max_objects is not None:
        max_objects = check_int(max_objects, "max_objects", minimum=1)
    return video, stride, max_objects


def masklets(video, *, checkpoint, config: str | None = None, stride: int = 2,
             generator: dict | None = None, prompts=None, automatic: bool | None = None,
             max_objects: int | None = None, resegment: bool = True, drop: float = 0.5,
             window: int = 8, image_size: int | None = None, device=None,
             progress: bool = True) -> Masklets:
    """SAM 2 masklets of ``video`` ``(T, H, W, C)`` as a :class:`Masklets` segmentation.

    Paper 000's pipeline: SAM 2's automatic mask generator on the first frame (``generator``
    updates paper 000's settings, :data:`GENERATOR`), every mask tracked through the video by
    SAM 2's video predictor, each pixel given to the masklet with the highest mask logit, the
    unclaimed pixels to one extra segment (label 0 when present). Frames go to SAM 2 from
    memory (resized and normalised as float; no JPEG or mp4 round trip).

    Parameters
    ----------
    checkpoint: a local SAM 2 ``.pt`` file, a Hugging Face id (``facebook/sam2.1-hiera-tiny``;
        from the local Hugging Face cache, or downloaded when the hub is reachable) or
        ``"random"``: random weights, **for tests only** (every mask covers most of the frame).
    config: SAM 2 config name (``sam2.1_hiera_t``, ``sam2.1_hiera_s``, ...); default: the hub
        id's, else ``sam2.1_hiera_t`` (SAM 2.1 tiny, paper 000's model).
    stride: segment every stride-th frame; the others take the labels of the nearest
        segmented frame (paper 000: 2). Frames with prompts are always segmented.
    prompts: user guidance, a list of dicts per object (``points`` / ``labels`` / ``box`` /
        ``mask`` on ``frame``, see :mod:`vidxai.segment.prompts`); each becomes a masklet,
        tracked forwards and backwards from its frame.
    automatic: also generate masks automatically (default: only when there are no prompts);
        with prompts, only masks mostly outside the prompted objects are added.
    max_objects: keep at most this many generated masks per generation (best predicted IoU).
    resegment: detect masklet collapse (:func:`collapse_frames` with ``drop``, ``window``
        over the segmented frames) and run the generator again there, adding the masks
        mostly over unclaimed pixels as masklets that start at that frame.
    image_size: SAM 2's input side (multiple of 32; default the config's, 1024); smaller is
        faster and coarser.
    device: torch device (default: the first CUDA GPU if torch sees one, else the CPU).

    A generator that finds no mask gives a one-segment segmentation and a
    :class:`~vidxai.errors.SegmentationWarning`.
    """
    from tqdm.auto import tqdm

    from .._progress import bar_disabled

    video, stride, max_objects = _validate(video, stride, max_objects)
    t, h, w = video.shape[:3]
    settings = generator_settings(generator)
    user = check_prompts(prompts, (t, h, w))
    automatic = (not user) if automatic is None else bool(automatic)
    kept = sorted(set(range(0, t, stride)) | {p.frame for p in user})
    predictor, config = _sam2.load(checkpoint, config, image_size, device)
    frames = _sam2.Frames(video, kept, predictor.image_size)
    board, times, objects, redone = Board(len(kept), h, w), {"generation": 0.0}, 0, []
    with tqdm(total=0, desc="SAM 2 masklets", unit="frame", disable=bar_disabled(progress)) as bar:
        def run(start, found, both):
            bar.total += (len(kept) - start) + (start + 1 if both and start > 0 else 0)
            bar.refresh()
            return track(predictor, frames, (h, w), start, found, objects, board, both, bar)

        tic = time.perf_counter()
        for frame in sorted({p.frame for p in user}):
            objects += run(kept.index(frame), [p for p in user if p.frame == frame], True)
        generated_at = [0] if automatic else []
        while generated_at:
            k = generated_at.pop()
            gen_tic = time.perf_counter()
            masks = generate(predictor, video[kept[k]], settings)
            times["generation"] += time.perf_counter() - gen_tic
            masks = new_masks(masks, board.labels()[k] >= 0, max_objects)
            if k > 0:
                redone.append(kept[k])
            if masks:
                objects += run(k, masks, False)
            if resegment:
                done = {0} | {kept.index(f) for f in redone}
                later = [c for c in collapse_frames(board.labels(), drop=drop, window=window,
                                                    ignore=-1) if c not in done and c > k]
                generated_at = later[:1]
        times["propagation"] = time.perf_counter() - tic - times["generation"] - board.seconds
    tic = time.perf_counter()
    if objects == 0 or board.labels().max() < 0:
        warnings.warn("SAM 2 found no mask: the whole video is one segment (with random "
                      "weights or strict generator thresholds this can happen)",
                      SegmentationWarning, stacklevel=2)
    owner = board.labels()[nearest(kept, t)]
    labels, n, unassigned, starts = assemble(owner)
    times["assembly"] = board.seconds + time.perf_counter() - tic
    info = {"checkpoint": str(checkpoint), "config": config, "image_size": predictor.image_size,
            "device": str(predictor.device), "stride": stride, "segmented_frames": kept,
            "objects": objects, "seconds": {k: round(v, 3) for k, v in times.items()}}
    return Masklets(labels, n, unassigned=unassigned, starts=starts,
                    resegmented=tuple(redone), info=info)


__all__ = ["masklets", "Masklets", "GENERATOR", "generate", "track", "nearest", "assemble"]
