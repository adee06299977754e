"""``vidxai evaluate VIDEO_OR_FOLDER...`` (the study) and ``vidxai explain`` dataset runs from
the command line: files, the terminal summary, reuse, and errors naming their flags."""
import json

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from models.base import Model
from vidxai import cli, zoo
from vidxai.io import write_video

T, H, W = 4, 16, 16


def tiny():
    w = jnp.asarray(np.random.default_rng(2).normal(size=(T * H * W * 3, 3)) * 0.05, jnp.float32)
    return Model("tiny", lambda x: x.reshape(x.shape[0], -1) @ w, num_frames=T, size=(H, W),
                 class_names=("a", "b", "c"))


@pytest.fixture
def videos(tmp_path, monkeypatch):
    model = tiny()
    monkeypatch.setattr(zoo, "registry", lambda: {"tiny": lambda: model})
    folder = tmp_path / "videos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        write_video(folder / f"clip{i}.gif", (rng.uniform(0, 1, (T, H, W, 3)) * 255)
                    .astype(np.uint8), fps=4)
    return folder


def main(argv, capsys):
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_evaluate_writes_the_study_and_reuses_it(videos, tmp_path, capsys):
    """catches: the command not writing what it says, a summary without the random map or
    alpha, or a second run explaining again."""
    out = tmp_path / "study"
    argv = ["evaluate", str(videos), "--model", "tiny", "--methods", "gradient,occlusion",
            "--steps", "8", "--unit", "cells", "--out", str(out)]
    code, stdout, err = main(argv, capsys)
    assert code == 0, err
    for name in ("results.csv", "summary.csv", "alpha.json", "curves.png", "auc.png",
                 "report.html"):
        assert (out / name).is_file(), name
    table = pd.read_csv(out / "results.csv")
    assert set(table.method) == {"gradient", "occlusion", "random"}
    assert "insertion (step, cells16)" in stdout and "reliability alpha" in stdout
    assert "random" in stdout and "beats random" in stdout
    manifest = (out / "manifest.jsonl").read_text().splitlines()
    code, stdout, _ = main(argv, capsys)
    assert code == 0 and (out / "manifest.jsonl").read_text().splitlines() == manifest
    assert pd.read_csv(out / "results.csv").equals(table)


@pytest.mark.parametrize("flags, flag", [(["--metrics", "insertion,nope"], "--metrics"),
                                         (["--methods", "nope"], "--method"),
                                         (["--samples", "5", "--methods", "gradient"],
                                          "--samples")])
def test_evaluate_bad_flags_name_the_flag(videos, tmp_path, capsys, flags, flag):
    """catches: a study started with a typo, or an error that does not say which flag."""
    code, _, err = main(["evaluate", str(videos), "--model", "tiny", "--out",
                         str(tmp_path / "o"), *flags], capsys)
    assert code == 2 and f"error: {flag}" in err


def test_explain_on_a_folder_is_a_dataset_run(videos, tmp_path, capsys):
    """catches: a folder explained as one video, or method flags not reaching each method."""
    out = tmp_path / "runs"
    code, stdout, err = main(["explain", str(videos), "--model", "tiny", "--methods",
                              "lime,occlusion", "--samples", "16", "--segmenter", "grid",
                              "--cells", "2", "2", "2", "--out", str(out)], capsys)
    assert code == 0, err
    assert "4 done, 0 skipped" in stdout
    for clip in ("clip0", "clip1"):
        for method in ("lime", "occlusion"):
            assert (out / clip / method / "explanation.npz").is_file()
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    lime = next(r for r in records if r["method"] == "lime")
    assert lime["options"]["options"]["n_samples"] == 16
    code, stdout, _ = main(["explain", str(videos), "--model", "tiny", "--methods",
                            "lime,occlusion", "--samples", "16", "--segmenter", "grid",
                            "--cells", "2", "2", "2", "--out", str(out)], capsys)
    assert code == 0 and "0 done, 4 skipped" in stdout
