"""``vidxai segment`` and ``vidxai explain --segmenter sam2`` on a tiny clip (random SAM 2
weights at 64 px), and the errors that name the SAM 2 flags."""
import json

import numpy as np
import pytest

from helpers import decode_mp4, noise_clip
from vidxai import Explanation, cli

TINY = ["--segmenter", "sam2", "--sam2-checkpoint", "random", "--sam2-image-size", "64",
        "--sam2-stride", "4", "--sam2-max-objects", "2", "--sam2-generator", "points_per_side=4",
        "crop_n_layers=0", "pred_iou_thresh=0", "stability_score_thresh=0", "box_nms_thresh=1"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return noise_clip(tmp_path_factory.mktemp("clip"), 64)


def test_segment_writes_the_colour_coded_video_and_the_labels(clip, tmp_path, capsys):
    # catches: an npz whose labels do not match the video read, a colour video of another
    # length, masklet metadata (unassigned label, starts) missing from the file
    out = tmp_path / "seg"
    code = cli.main(["segment", str(clip), "--model", "whitebox-gentle", *TINY,
                     "--out", str(out)])
    assert code == 0
    stdout = capsys.readouterr().out
    assert "random weights" in stdout and "SAM 2 masklets:" in stdout
    with np.load(out / "segmentation.npz") as raw:
        labels, n = raw["labels"], int(raw["n"])
        assert labels.shape == (16, 112, 112) and set(np.unique(labels)) == set(range(n))
        info = json.loads(str(raw["info"]))
        assert info["segmented_frames"] == [0, 4, 8, 12] and raw["starts"].shape == (n,)
        assert int(raw["unassigned"]) in (-1, 0)
    frames = decode_mp4(out / "segments.mp4")
    assert frames.shape[0] == 16 and frames.shape[2] == 112
    summary = json.loads((out / "segment.json").read_text())
    assert summary["segments"] == n and summary["model"] == "whitebox-gentle"


def test_explain_over_masklets_writes_the_kept_segments_video(clip, tmp_path, capsys):
    # catches: masklets not reaching the method, paper 000's kept.mp4 missing for masklets
    out = tmp_path / "run"
    code = cli.main(["explain", str(clip), "--model", "whitebox-gentle", "--method", "loco",
                     *TINY, "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    e = Explanation.load(out / "explanation.npz")
    assert summary["features"] == e.segmentation.n == summary["segmentation"]["segments"]
    assert summary["segmentation"]["checkpoint"] == "random"
    assert summary["n_evals"] == e.segmentation.n + 1
    assert decode_mp4(out / "kept.mp4").shape[0] == 16


@pytest.mark.parametrize("argv, flag", [
    (["segment", "--segmenter", "slic", "--sam2-stride", "2"], "--sam2-stride"),
    (["segment", "--segmenter", "grid", "--segments", "9"], "--segments"),
    (["segment", "--segmenter", "sam2"], "--sam2-checkpoint"),
    (["segment", "--segmenter", "sam2", "--sam2-checkpoint", "nowhere/sam2.pt"],
     "--sam2-checkpoint"),
    (["segment", "--segmenter", "sam2", "--sam2-checkpoint", "random", "--sam2-stride", "0"],
     "--sam2-stride"),
    (["explain", "--method", "step", "--sam2-checkpoint", "random"], "--sam2-checkpoint"),
    (["explain", "--method", "lime", "--segmenter", "grid", "--sam2-image-size", "64"],
     "--sam2-image-size"),
])
def test_sam2_flags_are_checked_before_any_work(argv, flag, capsys):
    # catches: SAM 2 options silently ignored with another segmenter or method, a missing
    # checkpoint found only after the model ran, errors that name Python parameters
    assert cli.main(argv) == 2
    assert flag in capsys.readouterr().err


@pytest.mark.parametrize("extra, flag", [
    (["--sam2-points", "box:0,0,500,10"], "--sam2-points"),
    (["--sam2-image-size", "100"], "--sam2-image-size"),
    (["--sam2-config", "sam9"], "--sam2-config"),
    (["--sam2-generator", "points_per_sides=2"], "--sam2-generator"),
])
def test_bad_sam2_values_name_their_flag(clip, tmp_path, extra, flag, capsys):
    argv = ["segment", str(clip), "--model", "whitebox-gentle", *TINY, *extra,
            "--out", str(tmp_path)]
    assert cli.main(argv) == 2
    assert flag in capsys.readouterr().err
