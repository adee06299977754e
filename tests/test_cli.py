"""The command line end to end on small inputs; the default run is a slow test."""
import json
import time

import chex
import numpy as np
import pytest
from PIL import Image

from helpers import decode_gif, decode_mp4, noise_clip
from vidxai import Explanation, cli
from vidxai.io import read_video, write_video


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return noise_clip(tmp_path_factory.mktemp("clip"), 112)


def test_explain_whitebox_end_to_end(clip, tmp_path, capsys):
    out = tmp_path / "run"
    code = cli.main(["explain", str(clip), "--model", "whitebox-gentle", "--method", "loco",
                     "--segmenter", "grid", "--cells", "4", "2", "2", "--out", str(out)])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == "loco" and summary["n_evals"] == 17 and summary["features"] == 16
    e = Explanation.load(out / "explanation.npz")
    assert e.map.shape == (16, 112, 112) and np.all(np.isfinite(e.weights))
    # the gentle regressor only reads its moving rectangle: cells it never visits weigh 0
    from models import load

    model = load("whitebox-gentle")
    target_set = model.meta["target_set"]
    visited = np.bincount(e.segmentation.labels.ravel(), target_set.ravel(), 16) > 0
    assert np.all(e.weights[~visited] == 0) and np.all(e.weights[visited] > 0)
    assert "loco: 17 model evaluations" in capsys.readouterr().out
    check_written_outputs(out, clip, model, e, summary)


def check_written_outputs(out, clip, model, e, summary):
    """The files hold what they claim (catches: wrong/stale arrays saved, summary fields not
    those of the explanation, truncated or resized overlay videos, a wrong frame grid)."""
    # explanation.npz against the closed form: the regressor is sum of x^2 over its target set
    # A, so LOCO with black removal gives cell i the sum of x^2 over A and cell i (no model run)
    video = read_video(clip, num_frames=16, size=112).astype(np.float64)
    t, h, w = np.meshgrid(np.arange(16), np.arange(112), np.arange(112), indexing="ij")
    cells = (t // 4) * 4 + (h // 56) * 2 + w // 56  # a 4 x 2 x 2 grid, time-major ids
    energy = (video ** 2).sum(-1) * model.meta["target_set"]
    expected = np.bincount(cells.ravel(), energy.ravel(), 16)
    with np.load(out / "explanation.npz") as raw:
        assert set(raw.files) == {"weights", "map", "labels", "info"}
        chex.assert_shape([raw["weights"], raw["map"], raw["labels"]],
                          [(16,), (16, 112, 112), (16, 112, 112)])
        np.testing.assert_array_equal(raw["labels"], cells)
        # float32 scores near 4e4 (ulp 0.004) differenced: absolute tolerance 0.05
        np.testing.assert_allclose(raw["weights"], expected, rtol=1e-5, atol=0.05)
        np.testing.assert_array_equal(raw["map"], raw["weights"][cells])
        np.testing.assert_array_equal(raw["weights"], e.weights)
    # summary.json: consistent with the explanation and the run
    assert summary["model"] == "whitebox-gentle" and summary["video"] == str(clip)
    assert summary["frames"] == [16, 112, 112] and summary["target"] is None and e.target is None
    assert summary["label"] == "(regression output)" and "top5" not in summary
    assert (summary["method"], summary["n_evals"]) == (e.method, e.n_evals)
    assert summary["removal"] == e.meta["removal"] == "black"
    assert summary["score"] == pytest.approx(e.meta["score"], rel=1e-6)
    assert summary["score"] == pytest.approx(energy.sum(), rel=1e-5)
    assert (summary["options"], summary["seed"]) == ({"cells": [4, 2, 2]}, 0)
    # overlay.mp4 / overlay.gif: 16 frames of 112 x 112 plus a 14-px caption band;
    # frames.png: a 4 x 4 grid, 2 px pad
    mp4, gif = decode_mp4(out / "overlay.mp4"), decode_gif(out / "overlay.gif")
    h, w = 112 + 14, 112
    chex.assert_shape([mp4, gif], (16, h, w, 3))
    assert mp4[:, 112:].mean() < 60 and gif[:, 112:].mean() < 60   # dark band, white text
    png = np.asarray(Image.open(out / "frames.png").convert("RGB"))
    chex.assert_shape(png, (4 * h + 5 * 2, 4 * w + 5 * 2, 3))
    pad = np.ones(png.shape[:2], bool)
    for i in range(16):
        r, c = divmod(i, 4)
        pad[2 + r * (h + 2): 2 + r * (h + 2) + h, 2 + c * (w + 2): 2 + c * (w + 2) + w] = False
    assert np.all(png[pad] == 255)
    cells = np.stack([png[2 + r * (h + 2): 2 + r * (h + 2) + h, 2 + c * (w + 2): 2 + c * (w + 2) + w]
                      for r in range(4) for c in range(4)]).astype(np.float64)
    for decoded in (mp4, gif):  # lossy codecs: each frame is closest to its own grid cell
        dist = np.abs(decoded[:, None].astype(np.float64) - cells[None]).mean(axis=(2, 3, 4))
        np.testing.assert_array_equal(dist.argmin(axis=1), np.arange(16))
        assert np.all(np.diag(dist) < 12)  # measured ~5 (H.264 CRF 17) / ~7 (GIF palette)


def test_explain_classifier_target_by_label_and_evaluate(tmp_path, capsys):
    from models import load

    model = load("r2plus1d_temporal")
    from models.synthetic import make_dataset
    import jax

    batch = make_dataset("temporal", jax.random.key(5), 1, shape=(model.num_frames,) + tuple(model.size))
    path = write_video(tmp_path / "clip.mp4", np.asarray(batch.videos[0]), fps=8)
    label = model.class_names[1]
    out = tmp_path / "run"
    assert cli.main(["explain", str(path), "--model", "r2plus1d_temporal", "--method", "kernel_shap",
                     "--segmenter", "grid", "--cells", "2", "2", "2", "--samples", "64",
                     "--target", label, "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["target"] == 1 and summary["label"] == label and len(summary["top5"]) == len(model.class_names) == 4
    assert cli.main(["evaluate", str(out), "--steps", "8"]) == 0
    result = json.loads((out / "evaluation.json").read_text())
    # exact values without re-running the model (test_reference_removal_metrics compares
    # `vidxai evaluate` with metrics.* call by call): 64 x 64 frames hold 256 equal 16 x 16
    # patches, 8 steps of 32 patches -> x = i / 8; both games join f(video) (the target's
    # top-5 probability) and f(black); AUC = trapezoid over x.
    # catches: a skipped first point, wrong x, an AUC that is not the curve's trapezoid
    p_video = dict(summary["top5"])[label]
    ins, dele = result["insertion"], result["deletion"]
    for curve in (ins, dele):
        np.testing.assert_allclose(curve["x"], np.arange(9) / 8, atol=1e-12)
        assert curve["auc"] == pytest.approx(np.trapezoid(curve["scores"], curve["x"]), abs=1e-6)
    assert ins["scores"][-1] == pytest.approx(p_video, abs=1e-5)
    assert dele["scores"][0] == pytest.approx(p_video, abs=1e-5)
    assert ins["scores"][0] == pytest.approx(dele["scores"][-1], abs=1e-6)
    assert "insertion AUC" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--model", "no-such-model"], "--model"),
    (["/no/such/video.mp4", "--model", "whitebox-gentle"], "VIDEO"),
    (["--model", "r2plus1d_temporal", "--target", "no such label"], "target"),
    (["--model", "r2plus1d_temporal", "--target", "99"], "target"),
])
def test_explain_errors_exit_2_with_the_argument(argv, message, tmp_path, capsys, clip):
    argv = [a if a != "CLIP" else str(clip) for a in argv]
    if argv[0] == "--model" and "r2plus1d" in argv[1]:
        argv = [str(clip)] + argv  # a readable video, so the target is what fails
    assert cli.main(["explain"] + argv + ["--out", str(tmp_path / "o")]) == 2
    assert message in capsys.readouterr().err


def test_unwritable_output_directory(clip, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code = cli.main(["explain", str(clip), "--model", "whitebox-gentle", "--out", str(blocker / "x")])
    assert code == 2 and "--out" in capsys.readouterr().err


def test_models_lists_the_zoo(capsys):
    assert cli.main(["models"]) == 0
    names = capsys.readouterr().out.split()
    assert "i3d-kinetics400" in names and "efficientnet-lite0-frames" in names


@pytest.mark.slow
def test_default_explain_runs_within_five_minutes(tmp_path, capsys):
    start = time.perf_counter()
    assert cli.main(["explain", "--out", str(tmp_path)]) == 0
    elapsed = time.perf_counter() - start
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["label"] == "riding mountain bike"
    assert summary["warnings"] == [] and summary["fit"]["r2"] > 0.1   # a map that means something
    assert summary["sampling"] == {"frames": 16, "stride": 2, "clip_frames": 250,
                                   "clip_size": [272, 640], "upscale": 1.0}   # shrunk, not upscaled
    print(f"default vidxai explain: {elapsed:.1f} s")


def test_a_one_pixel_video_is_explained_with_a_warning(tmp_path, capsys):
    """An input upscaled over 4x gets a warning in the terminal and in summary.json."""
    dot = write_video(tmp_path / "dot.mp4", np.full((16, 2, 2, 3), 128, np.uint8), fps=8)
    code = cli.main(["explain", str(dot), "--model", "r2plus1d_temporal", "--method", "loco",
                     "--segmenter", "grid", "--cells", "2", "2", "2", "--out", str(tmp_path / "o")])
    assert code == 0
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["sampling"]["upscale"] == pytest.approx(32.0)      # 2 px -> 64 px
    assert any("upscaled 32.0x" in w for w in summary["warnings"])
    assert "warning: the clip was upscaled 32.0x" in capsys.readouterr().out


def test_a_users_models_module_shadowing_the_zoo_is_named(tmp_path, monkeypatch, capsys):
    """A models.py in the working folder hides the zoo package: the error says so."""
    import sys
    import types

    fake = types.ModuleType("models")
    fake.__file__ = str(tmp_path / "models.py")
    monkeypatch.setitem(sys.modules, "models", fake)
    assert cli.main(["models"]) == 2
    err = capsys.readouterr().err
    assert "models.py" in err and "shadows" in err
