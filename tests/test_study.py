"""The evaluation study (issue 25): methods x videos -> tidy table, summary, alpha, plots,
report; reuse of saved explanations; failures recorded without losing the good videos."""
import json

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from helpers import conv_zoo_model
from models.base import Model
from vidxai import ArgumentError, ExplanationWarning, metrics
from vidxai.explain import frontdoor
from vidxai.io import write_video

T, H, W = 4, 16, 16


def linear_model():
    """Three classes, logits linear in the pixels (the same for every test)."""
    w = jnp.asarray(np.random.default_rng(5).normal(size=(T * H * W * 3, 3)) * 0.05, jnp.float32)

    def apply(x):
        return x.reshape(x.shape[0], -1) @ w
    return Model("lin", apply, num_frames=T, size=(H, W), class_names=("a", "b", "c"))


MODEL = linear_model()
FAST = dict(n_samples=24, size=(2, 8, 8))
PROTO = metrics.protocol("step", steps=8, cells=4)


def clips(folder, n=2, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        frames = (rng.uniform(0, 1, (T, H, W, 3)) * 255).astype(np.uint8)
        write_video(folder / f"v{i}.gif", frames, fps=4)
    return folder


def run_study(folder, out, methods=("occlusion", "gradient", "lime"), **kwargs):
    options = {k: v for k, v in FAST.items() if k != "n_samples" or "lime" in methods}
    return metrics.study(folder, MODEL, list(methods), protocol=kwargs.pop("protocol", PROTO),
                         out=out, progress=False, batch_size=8, **options, **kwargs)


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    folder = clips(root / "videos")
    return folder, root / "out", run_study(folder, root / "out")


def test_the_tidy_table_has_every_video_method_metric_and_the_random_map(done):
    """catches: a method, a video, a game or the random baseline missing from the table, or
    values outside the score range."""
    _, out, result = done
    t = result.table
    assert list(t.columns) == ["video", "method", "metric", "protocol", "unit", "value"]
    curves = t[t.metric.isin(["insertion", "deletion"])]
    assert set(curves.method) == {"occlusion", "gradient", "lime", "random"}
    assert set(curves.video) == {"v0", "v1"} and set(curves.protocol) == {"step"}
    assert len(curves) == 2 * 4 * 2 and curves.value.between(0, 1).all()
    assert set(t[t.method == "lime"].metric) >= {"fit_r2", "fit_heldout_r2"}
    saved = pd.read_csv(out / "results.csv")
    assert len(saved) == len(t)


def test_summary_alpha_and_files_agree_with_the_table(done):
    """catches: a summary mean or beating-random share not computed from the table's rows,
    an alpha not computed from the same values, files not written."""
    _, out, result = done
    t, s = result.table, result.summary
    for _, row in s.iterrows():
        rows = t[(t.method == row.method) & (t.metric == row.metric)]
        assert row["mean"] == pytest.approx(rows.value.mean())
        assert row.ci_low <= row["mean"] + 1e-12 and row["mean"] <= row.ci_high + 1e-12
        if row.metric in ("insertion", "deletion") and row.method != "random":
            rand = t[(t.method == "random") & (t.metric == row.metric)].set_index("video").value
            mine = rows.set_index("video").value
            better = mine < rand if row.metric == "deletion" else mine > rand
            assert row.beats_random == pytest.approx(better.mean())
    wide = t[t.metric == "insertion"].pivot(index="video", columns="method", values="value")
    want = metrics.reliability(wide[["occlusion", "gradient", "lime"]].to_numpy(),
                               wide["random"].to_numpy())
    assert result.alpha["insertion/step/cells4"] == pytest.approx(want)
    for name in ("results.csv", "summary.csv", "alpha.json", "curves.png", "auc.png",
                 "report.html", "curves.npz"):
        assert (out / name).is_file(), name
    assert json.loads((out / "alpha.json").read_text())["insertion/step/cells4"] == \
        pytest.approx(want)


def test_the_report_is_self_contained_with_one_overlay_per_video_and_method(done):
    """catches: a report that loads images or scripts from the network, or misses a map."""
    _, out, _ = done
    page = (out / "report.html").read_text()
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert page.count("<figure>") == 2 * 4
    assert page.count("data:image/png;base64,") == 2 * 4 + 2


def test_a_second_run_reuses_the_saved_explanations(done, monkeypatch):
    """catches: explaining again what is already in the folder (the study's cost is the
    explanations), or a second run whose numbers differ from the first."""
    folder, out, first = done
    calls = []
    real = frontdoor.run
    monkeypatch.setattr(frontdoor, "run", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    again = run_study(folder, out)
    assert calls == [] and len(again.explained.skipped) == 2 * 4
    pd.testing.assert_frame_equal(again.table, first.table)


def test_bad_input_names_the_argument(tmp_path):
    """catches: a typo in a method, metric or protocol running a long study for nothing, or
    an empty folder giving an empty table."""
    folder = clips(tmp_path / "v", n=1)
    for kwargs, name in (({"methods": ["nope"]}, "method"), ({"metrics": "insertion,nope"},
                                                              "metrics"),
                         ({"protocol": "nope"}, "protocol")):
        with pytest.raises(ArgumentError) as info:
            metrics.study(folder, MODEL, kwargs.get("methods", ["gradient"]), out=tmp_path / "o",
                          **{k: v for k, v in kwargs.items() if k != "methods"})
        assert info.value.argument == name
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArgumentError) as info:
        metrics.study(tmp_path / "empty", MODEL, ["gradient"], out=tmp_path / "o2")
    assert info.value.argument == "videos"


def test_an_unreadable_video_is_recorded_and_the_good_ones_are_kept(tmp_path):
    """catches: one broken file losing every other video's rows, or failing silently."""
    folder = clips(tmp_path / "v", n=2)
    (folder / "broken.gif").write_bytes(b"GIF89a not really")
    result = run_study(folder, tmp_path / "o", methods=("gradient", "occlusion"))
    assert set(result.table.video) == {"v0", "v1"}
    assert any("broken" in e for e in result.errors)
    assert "broken" in (tmp_path / "o" / "report.html").read_text()


def test_a_saved_explanation_of_another_size_is_an_error_naming_it(tmp_path):
    """catches: scoring a map of another video (wrong size) or crashing the whole study."""
    folder = clips(tmp_path / "v", n=2)
    out = tmp_path / "o"
    run_study(folder, out, methods=("gradient", "occlusion"))
    from vidxai import Explanation

    file = out / "v1" / "gradient" / "explanation.npz"
    e = Explanation.load(file)
    Explanation(weights=e.weights, segmentation=None, map=np.zeros((T, 8, 8), np.float32),
                method="gradient").save(file)
    result = run_study(folder, out, methods=("gradient", "occlusion"))
    assert any("v1.gif gradient" in err and "another video size" in err for err in result.errors)
    assert set(result.table[result.table.method == "gradient"].video) == {"v0"}
    assert set(result.table[result.table.method == "occlusion"].video) == {"v0", "v1"}


def test_reliability_by_metric_warns_without_the_random_map():
    """catches: an alpha computed without the random reference (paper 004 needs it)."""
    table = pd.DataFrame({"video": ["a", "a", "b", "b"], "method": ["x", "y", "x", "y"],
                          "metric": "insertion", "protocol": "step", "unit": "cells16",
                          "value": [0.1, 0.2, 0.3, 0.4]})
    with pytest.warns(ExplanationWarning, match="random"):
        assert metrics.reliability_by_metric(table) == {"insertion/step/cells16": None}


def test_bootstrap_interval_is_reproducible_and_covers_the_mean():
    """catches: an interval that is not seeded (results change between runs) or that is
    computed on something else than the mean."""
    x = np.random.default_rng(0).normal(2.0, 1.0, 50)
    lo, hi = metrics.bootstrap_interval(x)
    assert (lo, hi) == metrics.bootstrap_interval(x) and lo < x.mean() < hi
    se = x.std(ddof=1) / np.sqrt(x.size)
    assert hi - lo == pytest.approx(2 * 1.96 * se, rel=0.25)
    assert metrics.bootstrap_interval([3.0]) == (3.0, 3.0)


def conv_model():
    return conv_zoo_model((T, H, W), classes=("a", "b", "c"))


def test_sanity_and_robustness_metrics_are_rows_of_the_study(tmp_path):
    """catches: a per-map metric missing from the table, computed on another map than the
    saved one, the random map re-explained in the randomisation test, or one failing metric
    losing the others."""
    folder = clips(tmp_path / "v", n=2)
    chosen = "insertion,road,randomisation,infidelity,sensitivity,frames"
    result = metrics.study(folder, conv_model(), ["gradient"], metrics=chosen, protocol=PROTO,
                           out=tmp_path / "o", progress=False, batch_size=8)
    t = result.table
    assert not result.errors, result.errors
    for method in ("gradient", "random"):
        got = set(t[t.method == method].metric)
        assert {"insertion", "road_morf", "road_lerf", "infidelity", "frames_descending",
                "frames_ascending"} <= got, (method, got)
    grad = t[t.method == "gradient"]
    steps = grad[grad.metric == "randomisation_spearman"]
    assert len(steps) == 2 * len(set(steps.unit)) and len(set(steps.unit)) >= 2
    assert steps.value.between(-1, 1).all() and (grad.metric == "sensitivity").sum() == 2
    assert t[(t.method == "random") & t.metric.str.startswith("randomisation")].empty
    # the saved map is the one scored: ROAD of the saved gradient map, recomputed
    from vidxai import Explanation, runner, zoo
    from vidxai.metrics import road

    model = conv_model()
    _, video, _ = zoo.load_clip(model, folder / "v0.gif", say=lambda _m: None)
    e = Explanation.load(tmp_path / "o" / "v0" / "gradient" / "explanation.npz")
    who = frontdoor.subject(model, video)
    again = road(who.f, video, e.map, key=runner.job_key(None, "v0.gif"), batch_size=8)
    row = t[(t.video == "v0") & (t.method == "gradient") & (t.metric == "road_morf")]
    assert row.value.iloc[0] == pytest.approx(again.curves["morf"].value, rel=1e-5)
