"""SAM 2 masklets (paper 000): the label volume, stride, collapse repair, prompts, bad input.

SAM 2 runs with random weights ("random", built from a fixed seed) at 64 px on 4-8 frames of
64x64: real tracking code, meaningless masks. Properties that random weights cannot show
(what a re-segmentation adds) are checked with a scripted tracker that writes known logits.
"""
import importlib
import json

import jax
import numpy as np
import pytest

from helpers import region_reader
from vidxai import SegmentationWarning, explain, segment, viz
from vidxai.errors import ArgumentError, ArgumentTypeError
from vidxai.segment import _sam2
from vidxai.segment.masklets import Board, assemble, nearest

# the module (the package attribute ``segment.masklets`` is the function)
masklets_module = importlib.import_module("vidxai.segment.masklets")

# random weights: every proposal covers most of the frame, so nothing may be filtered away
GEN = {"points_per_side": 4, "crop_n_layers": 0, "pred_iou_thresh": 0.0,
       "stability_score_thresh": 0.0, "box_nms_thresh": 1.0, "points_per_batch": 64}
FAST = {"checkpoint": "random", "image_size": 64, "generator": GEN, "progress": False}


def cut_video(t=8, side=64, cut=4, seed=0):
    """Two random scenes, each drifting one pixel per frame; the scene changes at ``cut``."""
    rng = np.random.default_rng(seed)
    scenes = rng.random((2, side + t, side + t, 3)).astype(np.float32)
    return np.stack([scenes[int(i >= cut)][i:i + side, i:i + side] for i in range(t)])


@pytest.fixture(scope="module")
def auto():
    """One automatic run (stride 2, 8 frames) with the frames SAM 2's tracker saw recorded."""
    from sam2.sam2_video_predictor import SAM2VideoPredictor

    seen, original = [], SAM2VideoPredictor.track_step

    def counting(self, frame_idx, *args, **kwargs):
        seen.append(frame_idx)
        return original(self, frame_idx, *args, **kwargs)

    SAM2VideoPredictor.track_step = counting
    try:
        video = cut_video()
        seg = segment.masklets(video, max_objects=3, **FAST)
    finally:
        SAM2VideoPredictor.track_step = original
    return video, seg, seen


def test_label_volume_partitions_the_video(auto):
    # catches: labels with gaps or an offset, a volume of the strided length, pixels counted
    # in two segments or none, an unassigned label that is not the extra segment
    video, seg, _ = auto
    assert seg.labels.shape == video.shape[:3] and seg.labels.dtype == np.int32
    np.testing.assert_array_equal(np.unique(seg.labels), np.arange(seg.n))
    assert seg.sizes().sum() == seg.labels.size and np.all(seg.sizes() > 0)
    assert seg.n <= seg.info["objects"] + 1
    if seg.unassigned is not None:
        assert seg.unassigned == 0 and seg.starts.shape == (seg.n,)
    first = [int(np.argmax((seg.labels == k).reshape(8, -1).any(1))) for k in range(seg.n)]
    np.testing.assert_array_equal(seg.starts, first)
    assert list(first[1:]) == sorted(first[1:])   # masklets numbered by first appearance


def test_stride_two_tracks_half_the_frames_and_fills_the_rest(auto):
    # catches: every frame sent to SAM 2 despite the stride, skipped frames left unlabelled
    # or filled from the wrong neighbour
    _, seg, seen = auto
    assert seg.info["segmented_frames"] == [0, 2, 4, 6]
    assert set(seen) == {0, 1, 2, 3}            # indices into the 4 frames SAM 2 was given
    for skipped in (1, 3, 5, 7):
        np.testing.assert_array_equal(seg.labels[skipped], seg.labels[skipped - 1])


def test_same_input_gives_the_same_masklets(auto):
    # catches: random weights drawn from the global RNG, state leaking between calls
    video, seg, _ = auto
    again = segment.masklets(video, max_objects=3, **FAST)
    np.testing.assert_array_equal(again.labels, seg.labels)
    assert again.n == seg.n and again.resegmented == seg.resegmented


def test_in_memory_state_has_the_keys_of_sam2s_own(tmp_path):
    # catches: a sam2 version whose init_state grew keys the in-memory state lacks, frames
    # normalised or resized differently from SAM 2's loader (beyond JPEG's loss)
    from PIL import Image

    y, x = np.mgrid[0:64, 0:64] / 63.0
    video = np.stack([np.stack([y, x, (x + y + t) / 3], -1) for t in range(2)]).astype(np.float32)
    video = np.round(video * 255) / 255
    for i, frame in enumerate(video):     # smooth frames: JPEG at quality 100 is near lossless
        Image.fromarray((frame * 255).round().astype(np.uint8)).save(
            tmp_path / f"{i}.jpg", quality=100, subsampling=0)
    predictor, _ = _sam2.load("random", image_size=64, device="cpu")
    with _sam2.quiet():
        theirs = predictor.init_state(str(tmp_path))
    ours = _sam2.video_state(predictor, _sam2.Frames(video, [0, 1], 64), 64, 64)
    assert set(ours) == set(theirs)
    for key in ours:
        assert type(ours[key]) is type(theirs[key]) or key == "images", key
    assert (ours["num_frames"], ours["video_height"], ours["video_width"]) == (2, 64, 64)
    for i in range(2):
        assert tuple(ours["images"][i].shape) == (3, 64, 64)
        assert float((ours["images"][i] - theirs["images"][i]).abs().mean()) < 0.05


def test_nearest_segmented_frame_matches_its_definition():
    # catches: rounding the wrong way on ties, frames past the last segmented one
    rng = np.random.default_rng(1)
    for _ in range(50):
        length = int(rng.integers(1, 30))
        kept = sorted(set(rng.integers(0, length, size=rng.integers(1, 6)).tolist()))
        got = nearest(kept, length)
        for t in range(length):
            distances = [abs(t - k) for k in kept]
            assert got[t] == distances.index(min(distances)), (kept, t)


def test_overlaps_go_to_the_highest_logit():
    # catches: first-come ownership, a threshold other than SAM 2's 0, later updates that
    # overwrite higher logits, unassigned pixels given to an object
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(2, 5, 6, 7)).astype(np.float32)     # frame, object, H, W
    board = Board(2, 6, 7)
    for k in range(2):
        board.update(k, np.arange(0, 3, dtype=np.int32), logits[k, :3])
        board.update(k, np.arange(3, 5, dtype=np.int32), logits[k, 3:])
    expected = np.full((2, 6, 7), -1)
    for k, y, x in np.ndindex(2, 6, 7):
        column = logits[k, :, y, x]
        if column.max() > 0:
            expected[k, y, x] = int(np.argmax(column))
    np.testing.assert_array_equal(board.labels(), expected)
    labels, n, unassigned, starts = assemble(board.labels())
    assert unassigned == 0 and n == len(np.unique(expected))
    np.testing.assert_array_equal(labels == 0, expected == -1)


@pytest.mark.parametrize("measure", ["count", "area"])
def test_collapse_is_found_exactly_at_the_cut(measure):
    # catches: every frame after the cut reported, the cut frame missed, a median taken over
    # the frame itself
    labels = np.zeros((12, 8, 8), np.int32)
    for t in range(12):
        if t < 7:
            labels[t] = np.arange(64).reshape(8, 8) % 8 + 1            # 8 segments
        else:
            labels[t, :, :2] = 1                                      # one segment, 25 %
    assert collapse(labels, measure) == [7]
    steady = np.broadcast_to(labels[0], labels.shape)
    assert collapse(steady, measure) == []


def collapse(labels, measure):
    return segment.collapse_frames(labels, measure=measure, ignore=0).tolist()


def test_collapse_after_recovery_is_found_again():
    # catches: the baseline never reset after a collapse (a second cut missed)
    counts = [8, 8, 8, 2, 2, 2, 8, 8, 1, 1]
    labels = np.zeros((len(counts), 4, 4), np.int32)
    for t, c in enumerate(counts):
        labels[t].flat[:c] = np.arange(1, c + 1)
    assert segment.collapse_frames(labels, ignore=0, window=3).tolist() == [3, 8]


def test_collapse_frames_rejects_bad_input():
    with pytest.raises(ArgumentError, match="drop"):
        segment.collapse_frames(np.zeros((3, 2, 2), int), drop=1.5)
    with pytest.raises(ArgumentError, match="window"):
        segment.collapse_frames(np.zeros((3, 2, 2), int), window=0)
    with pytest.raises(ArgumentError, match="labels"):
        segment.collapse_frames(np.zeros((2, 2), int))


def scripted(monkeypatch, cut_k):
    """Generator: left and right halves; tracker: frame-0 objects vanish from segmented frame
    ``cut_k`` on, later objects persist (a cut that SAM 2 loses track at)."""
    calls = []

    def generate(predictor, frame, settings):
        calls.append(frame)
        half = np.zeros(frame.shape[:2], bool)
        half[:, : frame.shape[1] // 2] = True
        return [half, ~half]

    def track(predictor, frames, size, start, objects, first_id, board, both, bar):
        ids = np.arange(first_id, first_id + len(objects), dtype=np.int32)
        for k in range(start, len(frames)):
            lost = start == 0 and k >= cut_k
            logits = np.stack([np.where(m, -10.0 if lost else 10.0, -10.0) for m in objects])
            board.update(k, ids, logits.astype(np.float32))
        return len(objects)

    monkeypatch.setattr(masklets_module, "generate", generate)
    monkeypatch.setattr(masklets_module, "track", track)
    return calls


def test_resegmentation_adds_masklets_that_start_at_the_cut(monkeypatch):
    # catches: collapse frames in strided indices reported as video frames, new masks not
    # tracked from the cut, the generator not run again, old masklets renumbered
    calls = scripted(monkeypatch, cut_k=3)                       # segmented frame 3 = frame 6
    seg = segment.masklets(cut_video(t=10), stride=2, **FAST)
    assert seg.resegmented == (6,) and len(calls) == 2
    assert seg.n == 4 and seg.unassigned is None      # the new halves cover the frames again
    np.testing.assert_array_equal(seg.starts, [0, 0, 6, 6])      # frame 5 fills from frame 4
    assert set(np.unique(seg.labels[6:])) == {2, 3} and set(np.unique(seg.labels[:6])) == {0, 1}
    flat = segment.masklets(cut_video(t=10), stride=2, resegment=False, **FAST)
    assert flat.resegmented == () and flat.unassigned == 0 and len(calls) == 3
    assert np.all(flat.labels[6:] == 0) and np.all(flat.labels[:6] > 0)


@pytest.fixture(scope="module")
def checkpoint_file(tmp_path_factory):
    """A SAM 2 checkpoint the test writes: the random weights moved by seeded noise."""
    import torch

    predictor, _ = _sam2.load("random", image_size=64, device="cpu")
    rng = torch.Generator().manual_seed(1)
    weights = {k: v + 0.01 * torch.randn(v.shape, generator=rng, dtype=v.dtype)
               if v.is_floating_point() else v for k, v in predictor.state_dict().items()}
    path = tmp_path_factory.mktemp("ckpt") / "mine.pt"
    torch.save({"model": weights}, path)
    return path, weights


def test_a_checkpoint_file_is_loaded_exactly(checkpoint_file):
    # catches: weights silently left random (a non-strict load), a cached model of other weights
    import torch

    path, weights = checkpoint_file
    loaded, config = _sam2.load(path, image_size=64, device="cpu")
    assert config.endswith("sam2.1_hiera_t.yaml")
    for name, value in loaded.state_dict().items():
        torch.testing.assert_close(value, weights[name], rtol=0, atol=0)


def test_k_boxes_give_k_masklets_and_unassigned():
    # catches: prompts dropped or merged, objects numbered from 0 over the unassigned label
    # (random weights from the fixed seed: each box's object wins some pixels here)
    boxes = [{"box": [2, 2, 20, 20]}, {"box": [30, 30, 60, 60]}, {"box": [5, 40, 25, 60]}]
    seg = segment.masklets(cut_video(t=4), prompts=boxes, **FAST)
    assert seg.n == 4 and seg.unassigned == 0 and seg.info["objects"] == 3


def test_mask_prompts_become_their_masklets_on_their_frames(checkpoint_file):
    # catches: masks placed on the wrong frame, prompt frames off the stride grid skipped,
    # x / y swapped (on its own frame a mask prompt is its output, whatever the weights:
    # run with the checkpoint file the test wrote)
    video = cut_video(t=4)
    a = np.zeros((64, 64), bool)
    a[4:24, 8:40] = True
    b = np.zeros((64, 64), bool)
    b[40:60, 30:62] = True
    seg = segment.masklets(video, prompts=[{"mask": a}, {"mask": b, "frame": 1}],
                           **{**FAST, "checkpoint": str(checkpoint_file[0])})
    assert seg.info["segmented_frames"] == [0, 1, 2] and seg.unassigned == 0
    for mask, frame in ((a, 0), (b, 1)):
        label = np.bincount(seg.labels[frame][mask]).argmax()
        got = seg.labels[frame] == label
        assert label != 0 and (got & mask).sum() / (got | mask).sum() > 0.7


def test_lime_runs_on_masklets_end_to_end(auto):
    # catches: masklet labels that removal / LIME cannot use; the white-box score reads one
    # masklet only, so LIME must rank it first and the kept video must show it
    video, seg, _ = auto
    target = int(np.argmax(seg.sizes()[1:])) + 1 if seg.n > 1 else 0
    f = region_reader(seg.labels == target)
    e = explain.lime(f, video, seg, key=jax.random.key(0), n_samples=64)
    assert e.weights.shape == (seg.n,) and int(np.argmax(e.weights)) == target
    kept = viz.keep_important(video, seg, e.weights, fraction=0.3)
    inside = seg.labels == target
    np.testing.assert_allclose(kept[inside] / 255.0, video[inside], atol=1 / 255)


@pytest.mark.parametrize("crops", [0, 1])
def test_a_generator_without_masks_gives_one_segment_and_a_warning(crops):
    # catches: a crash or an empty label set when SAM 2 finds nothing (with crops, sam2's
    # own NMS across crops fails on an empty set)
    strict = {**GEN, "pred_iou_thresh": 1.0, "crop_n_layers": crops}   # no IoU above 1
    with pytest.warns(SegmentationWarning, match="no mask"):
        seg = segment.masklets(cut_video(t=3), **{**FAST, "generator": strict})
    assert seg.n == 1 and seg.unassigned == 0 and np.all(seg.labels == 0)


@pytest.mark.parametrize("kwargs, name, error", [
    ({"stride": 1.5}, "stride", ArgumentTypeError),
    ({"stride": 0}, "stride", ArgumentError),
    ({"max_objects": 0}, "max_objects", ArgumentError),
    ({"image_size": 100}, "image_size", ArgumentError),
    ({"config": "sam3_hiera_x"}, "config", ArgumentError),
    ({"generator": {"points_per_sides": 8}}, "generator", ArgumentError),
    ({"prompts": [{"box": [10, 10, 70, 20]}]}, r"prompts\[0\].box", ArgumentError),
    ({"prompts": [{"points": [[3, 99]]}]}, r"prompts\[0\].points", ArgumentError),
    ({"prompts": [{"mask": np.ones((8, 8), bool)}]}, r"prompts\[0\].mask", ArgumentError),
    ({"prompts": [{"box": [1, 1, 5, 5], "frame": 9}]}, r"prompts\[0\].frame", ArgumentError),
    ({"checkpoint": 3}, "checkpoint", ArgumentTypeError),
])
def test_bad_arguments_are_named(kwargs, name, error):
    with pytest.raises(error, match=name):
        segment.masklets(cut_video(t=3), **{**FAST, **kwargs})


def test_too_small_a_video_is_refused():
    with pytest.raises(ArgumentError, match="video.*32x32"):
        segment.masklets(np.zeros((2, 16, 16, 3), np.float32), **FAST)


def test_missing_checkpoint_says_what_was_tried_and_how_to_get_weights(tmp_path):
    missing = tmp_path / "sam2.1_hiera_tiny.pt"
    with pytest.raises(_sam2.CheckpointError, match="checkpoint: no file") as info:
        segment.masklets(cut_video(t=2), **{**FAST, "checkpoint": str(missing)})
    assert str(missing) in str(info.value) and "sam2.1_hiera_tiny.pt" in str(info.value)
    assert "Hugging Face" in str(info.value)


def test_unreachable_hub_fails_at_once_with_what_was_tried(monkeypatch, tmp_path):
    # catches: a hang on the hub's retries (a closed local port refuses at once), a message
    # that does not say how to get the weights
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(_sam2.CheckpointError) as info:
        segment.masklets(cut_video(t=2), **{**FAST, "checkpoint": "facebook/sam2.1-hiera-tiny"})
    message = str(info.value)
    assert "Hugging Face cache" in message and "127.0.0.1" in message
    assert "sam2.1_hiera_tiny.pt" in message and "unreachable" in message
    with pytest.raises(ArgumentError, match="checkpoint.*Hugging Face ids"):
        segment.masklets(cut_video(t=2), **{**FAST, "checkpoint": "facebook/not-sam"})


def test_config_that_does_not_match_the_checkpoint_is_named(tmp_path):
    import torch

    predictor, _ = _sam2.load("random", image_size=64, device="cpu")
    path = tmp_path / "tiny.pt"
    torch.save({"model": predictor.state_dict()}, path)
    with pytest.raises(ArgumentError, match="config.*sam2.1_hiera_s"):
        _sam2.load(path, config="sam2.1_hiera_s", image_size=64, device="cpu")
    torch.save({"weights": {}}, path)
    with pytest.raises(_sam2.CheckpointError, match="no 'model' state dict"):
        _sam2.load(path, image_size=64, device="cpu")


def test_unavailable_device_is_named():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ArgumentError, match="device"):
        segment.masklets(cut_video(t=2), **{**FAST, "device": "cuda"})


def test_prompt_files_and_tokens_parse(tmp_path):
    # catches: x / y or frame parsing mistakes in the command-line prompt syntax
    from vidxai.segment.prompts import parse_tokens

    got = parse_tokens(["box:1,2,30,40", "point:5,6+point:7,8@3"])
    assert got == [{"box": [1, 2, 30, 40]}, {"points": [[5, 6], [7, 8]], "frame": 3}]
    np.save(tmp_path / "m.npy", np.eye(4, dtype=bool))
    (tmp_path / "p.json").write_text(json.dumps([{"mask": "m.npy", "frame": 1},
                                                 {"points": [[1, 1]], "labels": [0]}]))
    loaded = parse_tokens([str(tmp_path / "p.json")])
    np.testing.assert_array_equal(loaded[0]["mask"], np.eye(4, dtype=bool))
    with pytest.raises(ArgumentError, match="--sam2-points"):
        parse_tokens(["circle:1,2"])
