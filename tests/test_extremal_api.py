"""The public surface of the extremal methods: explicit settings, the result class (an
Explanation that saves, loads, plots and plays), EP-2D and TIEM + L_K, compilation reuse."""
import dataclasses
import inspect

import chex
import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest

from vidxai.errors import ArgumentError
from vidxai.explain import registry
from vidxai.explain.extremal import objective as optimisation
from vidxai.explain.extremal import settings, tis
from vidxai.explain import extremal as E
from vidxai.explanation import Explanation

matplotlib.use("Agg")

SHAPE = (6, 16, 16)
SMALL = dict(seed_stride=4, sigma=3)
METHODS = {"ep2d": E.ep2d, "ep3d": E.ep3d, "step": E.step, "tiem": E.tiem, "tiem_lk": E.tiem_lk}
SHARED = ("iterations", "seed_stride", "sigma", "blur_sigma", "map_sigma", "area_on",
          "mean_area_weight", "mean_area_start", "lr",
          "optimizer", "lambda1", "lambda1_growth", "regularizers", "output", "reward",
          "reward_scale", "progress")


def reads_frames_2_3(x):
    return jnp.sum(x[:, 2:4] ** 2, axis=(1, 2, 3, 4))


@pytest.fixture(scope="module")
def video():
    return np.random.default_rng(0).uniform(0.1, 0.9, SHAPE + (3,)).astype(np.float32)


@pytest.fixture(scope="module")
def tiem_result(video):
    return E.tiem(reads_frames_2_3, video, areas=(0.1, 0.2), iterations=2, **SMALL)


@pytest.fixture(scope="module")
def ep3d_result(video):
    return E.ep3d(reads_frames_2_3, video, areas=(0.1, 0.2), iterations=2, **SMALL)


# ------------------------------------------------------------------------ signatures
@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_setting_is_an_explicit_documented_keyword(name):
    fn = METHODS[name]
    params = list(inspect.signature(fn).parameters.values())
    assert [p.name for p in params[:2]] == ["f", "video"]
    for p in params[2:]:
        assert p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not inspect.Parameter.empty
        assert f"``{p.name}``" in fn.__doc__, p.name
    assert "References:" in fn.__doc__ and "{" not in fn.__doc__
    shared = {p.name: p.default for p in params if p.name in SHARED}
    assert shared == {p.name: p.default for p in inspect.signature(E.ep3d).parameters.values()
                      if p.name in SHARED}


@pytest.mark.parametrize("name, bad", [
    ("ep2d", "iteratons"), ("ep3d", "step"), ("step", "lamda2"), ("tiem", "kernel"),
    ("tiem_lk", "seed_step"), ("ep3d", "lambda2"),
])
def test_unknown_or_misspelled_option_raises_type_error_naming_it(video, name, bad):
    with pytest.raises(TypeError, match=rf"'{bad}'"):
        METHODS[name](reads_frames_2_3, video, iterations=1, **{bad: 1})


def test_registry_rows_call_these_functions():
    for name, fn in METHODS.items():
        row = registry.get(name)
        assert row.function is fn and row.family == "extremal"
        assert set(row.options.values()) <= set(inspect.signature(fn).parameters)


def test_default_optimizer_is_one_object_per_setting():
    assert E.default_optimizer() is E.default_optimizer(0.05)
    assert E.default_optimizer(lr=np.float64(0.05)) is E.default_optimizer(0.05, 0.9, 0.9)
    assert E.default_optimizer(0.1) is not E.default_optimizer(0.05)


# ------------------------------------------------------------------------ the result
def test_result_is_an_explanation_without_features(ep3d_result, tiem_result):
    for r in (ep3d_result, tiem_result):
        assert isinstance(r, Explanation) and r.segmentation is None
        chex.assert_shape(r.weights, (0,))
        chex.assert_shape([r.map, r.masks, r.scores, r.history],
                          [SHAPE, (2,) + SHAPE, (2,), (2, 2)])
    assert ep3d_result.tis is None and ep3d_result.windows is None
    assert ep3d_result.areas_t is None
    chex.assert_shape([tiem_result.tis, tiem_result.windows, tiem_result.areas_t],
                      [(6,), (6, 6), (2, 6)])


def counting_rows(seen):
    """An eager score function that records how many videos each call scores."""
    def f(x):
        seen.append(x.shape[0])
        return reads_frames_2_3(x)
    f.vidxai_eager = True
    return f


def test_n_evals_counts_every_scored_video(video):
    """iterations * A forward + backward passes, the base score and the A final scores; TIEM
    adds the T (T + 1) / 2 + 1 window maskings of its time importance scores."""
    seen = []
    r = E.ep3d(counting_rows(seen), video, areas=(0.1, 0.2), iterations=3, **SMALL)
    assert r.n_evals == sum(seen) == 3 * 2 + 1 + 2
    seen.clear()
    windows = 6 * 7 // 2 + 1
    r = E.tiem(counting_rows(seen), video, areas=(0.1,), iterations=2, batch_size=windows,
               **SMALL)
    assert r.n_evals == sum(seen) == 2 * 1 + 1 + 1 + windows


@pytest.mark.parametrize("which", ["ep3d_result", "tiem_result"])
def test_save_load_round_trips_every_field(which, request, tmp_path):
    r = request.getfixturevalue(which)
    back = Explanation.load(r.save(tmp_path / "r.npz"))
    assert type(back) is E.ExtremalResult
    for field in dataclasses.fields(r):
        ours, theirs = getattr(r, field.name), getattr(back, field.name)
        if ours is None or isinstance(ours, (str, int, float, tuple, dict)):
            assert theirs == ours and type(theirs) is type(ours), field.name
        else:
            np.testing.assert_array_equal(theirs, ours, err_msg=field.name)
            assert theirs.dtype == ours.dtype, field.name


def test_to_video_with_an_area_keeps_the_masked_video(tiem_result, video):
    clip = tiem_result.to_video(video, area=0.2, fps=5)
    expected = np.round(video * tiem_result.masks[1][..., None] * 255)
    np.testing.assert_allclose(clip.frames, expected, atol=1)
    assert clip.fps == 5
    overlay = tiem_result.to_video(video)
    np.testing.assert_array_equal(overlay.frames, Explanation.to_video(tiem_result, video).frames)
    with pytest.raises(ArgumentError, match="^area:"):
        tiem_result.to_video(video, area=0.3)
    with pytest.raises(ArgumentError, match="^video:"):
        tiem_result.to_video(video[:4], area=0.2)


def test_plot_has_a_row_per_area_and_a_column_per_shown_frame(tiem_result, video):
    import matplotlib.pyplot as plt

    for shown, kwargs in ((6, {}), (3, {"max_frames": 3})):
        fig = tiem_result.plot(video, **kwargs)
        assert len(fig.axes) == 2 * shown
        labels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
        assert labels == [f"area {a:g}\nscore {s:.3g}"
                          for a, s in zip(tiem_result.areas, tiem_result.scores)]
        plt.close(fig)
    plt.close(tiem_result.plot())


# ------------------------------------------------------------------------ the new methods
def test_ep2d_is_tiem_with_uniform_time_importance(video):
    r2d = E.ep2d(reads_frames_2_3, video, areas=(0.1,), iterations=20, **SMALL)
    uniform = E.tiem(reads_frames_2_3, video, areas=(0.1,), tis=np.ones(6), iterations=20,
                     **SMALL)
    assert r2d.method == "ep2d" and r2d.tis is None and r2d.n_evals == 20 + 1 + 1
    np.testing.assert_array_equal(r2d.areas_t, np.full((1, 6), 0.1, np.float32))
    chex.assert_trees_all_close(r2d.masks, uniform.masks, atol=1e-6)
    volume = E.ep3d(reads_frames_2_3, video, areas=(0.1,), iterations=20, **SMALL)
    assert np.abs(volume.masks - r2d.masks).max() > 0.01   # the per-frame loss matters


def test_tiem_lk_is_tiem_plus_the_kernel_loss(video):
    tis_scores = np.array([0.0, 0.1, 0.4, 0.3, 0.2, 0.0])
    common = dict(areas=(0.1,), tis=tis_scores, iterations=8, kernel=(3, 5, 5), lambda2_start=0,
                  **SMALL)
    plain = E.tiem(reads_frames_2_3, video, **{k: v for k, v in common.items()
                                               if k not in ("kernel", "lambda2_start")})
    off = E.tiem_lk(reads_frames_2_3, video, lambda2=0.0, **common)
    on = E.tiem_lk(reads_frames_2_3, video, **common)
    # meta holds JSON types (a saved result loads the same); the stride follows the kernel
    assert on.method == off.method == "tiem+lk" and on.meta["kernel"] == [3, 5, 5]
    assert on.meta["kernel_stride"] == [1, 5, 5] and on.meta["derived"]["kernel_stride"]
    chex.assert_trees_all_close(off.masks, plain.masks, atol=1e-6)
    assert np.abs(on.masks - plain.masks).max() > 1e-3
    # kernel=None (the default since issue 17) derives it from the video: 6 x 16 x 16 ->
    # (round(8 * 6 / 16), max(3, round(11 * 16 / 112)), same) = (3, 3, 3) (a 2 x 2 section
    # would hold no voxel); a kernel larger than the video is an error naming it
    derived = E.tiem_lk(reads_frames_2_3, video, kernel=None,
                        **{k: v for k, v in common.items() if k != "kernel"})
    assert derived.meta["kernel"] == derived.meta["derived"]["kernel"] == [3, 3, 3]
    with pytest.raises(ArgumentError, match="^kernel:"):
        E.tiem_lk(reads_frames_2_3, video, kernel=(3, 17, 5),
                  **{k: v for k, v in common.items() if k != "kernel"})


# ------------------------------------------------------------------------ compilation
def test_same_shapes_never_retrace_and_a_new_shape_does(video):
    """The first run traces the score function K times (eager-path probe, gradient check,
    the scan); a run of the same shapes with other areas traces it no more (chex counts
    traced calls and raises past K); a new video shape compiles the scan again."""
    probe = []

    def counted(x):
        probe.append(isinstance(x, jax.core.Tracer))
        return reads_frames_2_3(x)

    E.ep3d(counted, video, areas=(0.1, 0.2), iterations=2, **SMALL)
    first = sum(probe)
    assert first > 0

    def model(x):
        return reads_frames_2_3(x)

    chex.clear_trace_counter()
    checked = chex.assert_max_traces(model, n=first)
    compiled = optimisation._scan._cache_size()
    E.ep3d(checked, video, areas=(0.1, 0.2), iterations=2, **SMALL)
    E.ep3d(checked, video, areas=(0.3, 0.05), iterations=2, **SMALL)
    assert optimisation._scan._cache_size() == compiled + 1
    probe.clear()
    E.ep3d(counted, video[:5], areas=(0.1, 0.2), iterations=2, **SMALL)
    assert sum(probe) > 0 and optimisation._scan._cache_size() == compiled + 2


def test_tiem_validates_the_video_once(video, monkeypatch):
    """tiem -> time importance -> optimisation: the video is checked at the boundary only."""
    calls = []

    def counting(check):
        def wrapped(*args, **kwargs):
            calls.append(1)
            return check(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(settings, "check_video", counting(settings.check_video))
    monkeypatch.setattr(tis, "check_video", counting(tis.check_video))
    E.tiem(reads_frames_2_3, video, areas=(0.1,), iterations=1, **SMALL)
    assert len(calls) == 1


@pytest.mark.parametrize("method", ["step", "tiem_lk"])
def test_l_k_that_never_switches_on_is_a_warning(method):
    """catches: STEP silently returning EP-3D's masks (TIEM + L_K: TIEM's) when the run is
    shorter than lambda2_start, so L_K's weight is 0 at every iteration."""
    from vidxai import ExplanationWarning, explain

    video = np.random.default_rng(0).uniform(0, 1, (4, 12, 12, 3)).astype(np.float32)

    def f(x):
        return jnp.tanh(x.mean(axis=(1, 2, 3, 4)))
    fn = getattr(explain, method)
    with pytest.warns(ExplanationWarning, match="L_K never switches on"):
        fn(f, video, areas=(0.2,), iterations=3)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", ExplanationWarning)
        fn(f, video, areas=(0.2,), iterations=3, lambda2_start=1)
