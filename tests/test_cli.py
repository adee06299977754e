"""The command line end to end on small inputs; the default run is a slow test."""
import json
import time

import numpy as np
import pytest

from vidxai import Explanation, cli
from vidxai.io import write_video


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    rng = np.random.RandomState(0)
    frames = (rng.rand(16, 112, 112, 3) * 255).astype(np.uint8)
    return write_video(tmp_path_factory.mktemp("clip") / "noise.mp4", frames, fps=8)


def test_explain_whitebox_end_to_end(clip, tmp_path, capsys):
    out = tmp_path / "run"
    code = cli.main(["explain", str(clip), "--model", "whitebox-gentle", "--method", "loco",
                     "--segmenter", "grid", "--cells", "4", "2", "2", "--out", str(out)])
    assert code == 0
    for name in ("explanation.npz", "summary.json", "overlay.mp4", "overlay.gif", "frames.png"):
        assert (out / name).stat().st_size > 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == "loco" and summary["n_evals"] == 17 and summary["features"] == 16
    e = Explanation.load(out / "explanation.npz")
    assert e.map.shape == (16, 112, 112) and np.all(np.isfinite(e.weights))
    # the gentle regressor only reads its moving rectangle: cells it never visits weigh 0
    from models import load

    target_set = load("whitebox-gentle").meta["target_set"]
    visited = np.bincount(e.segmentation.labels.ravel(), target_set.ravel(), 16) > 0
    assert np.all(e.weights[~visited] == 0) and np.all(e.weights[visited] > 0)
    assert "loco: 17 model evaluations" in capsys.readouterr().out


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
    assert len(result["insertion"]["x"]) == 9 and 0 <= result["deletion"]["auc"] <= 1
    assert "insertion AUC" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--model", "no-such-model"], "--model"),
    (["/no/such/video.mp4", "--model", "whitebox-gentle"], "path"),
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
    print(f"default vidxai explain: {elapsed:.1f} s")
