"""Extremal masks at any frame size (issue 17): the area is counted on the frame, the pixel
settings scale with the video (STEP's constants at 16 x 112 x 112, paper 004 and its code),
and bad input is refused naming the argument.

The expected geometry is worked out by hand here from the rule in REFERENCE.md / the
defaults module's docstring (lengths times s = sqrt(H W) / 112, halves rounded up), never
read from the library's tables.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models.whitebox import noise_video, whitebox
from vidxai.errors import ArgumentError, ScoreFunctionError
from vidxai.explain.extremal import settings as D
from vidxai.explain import extremal as E

SMALL = dict(seed_stride=4, sigma=3.0)


# ------------------------------------------------------------------ derived defaults
def test_derived_defaults_at_the_paper_resolution_are_the_papers_constants():
    """STEP at 16 x 112 x 112 (paper 004 Sec. V-A and its code): seeds every 7 px, sigma 11,
    L_K ellipsoid 8 x 11 x 11 with stride (1, 11, 11), blur pyramid up to sigma 20, map blur
    10 px. catches: a scale that is not 1 at the paper's size (e.g. H / 224), the kernel's
    length not 8 at 16 frames."""
    got = D.derived_settings((16, 112, 112))
    assert got == {"seed_stride": 7, "sigma": 11.0, "kernel": (8, 11, 11),
                   "kernel_stride": (1, 11, 11), "blur_sigma": 20.0, "map_sigma": 10.0}


@pytest.mark.parametrize("shape, want", [
    # s = 64/112 = 4/7: stride 4, sigma 44/7, side round(6.29) = 6, T_K 8
    ((16, 64, 64), dict(seed_stride=4, sigma=44 / 7, kernel=(8, 6, 6), blur_sigma=80 / 7)),
    # s = 2: stride 14, sigma 22, side 22, T_K = round(8 * 8 / 16) = 4
    ((8, 224, 224), dict(seed_stride=14, sigma=22.0, kernel=(4, 22, 22), blur_sigma=40.0)),
    # s = sqrt(160 * 120) / 112 = 1.23718: stride round(8.66) = 9, sigma 13.609,
    # side round(13.609) = 14, T_K = 16 (32 frames: twice STEP's 8)
    ((32, 160, 120), dict(seed_stride=9, sigma=11 * math.sqrt(19200) / 112,
                          kernel=(16, 14, 14), blur_sigma=20 * math.sqrt(19200) / 112)),
    # s = 56/112: stride round(3.5) = 4 (half up), sigma 5.5, side round(5.5) = 6
    ((16, 56, 56), dict(seed_stride=4, sigma=5.5, kernel=(8, 6, 6), blur_sigma=10.0)),
    # tiny: s = 16/112: stride 1, side max(3, 2) = 3 (a 2 x 2 section holds no voxel)
    ((6, 16, 16), dict(seed_stride=1, sigma=11 / 7, kernel=(3, 3, 3), blur_sigma=20 / 7)),
])
def test_derived_defaults_scale_with_the_frame(shape, want):
    """catches: rounding halves to even (3.5 -> 4 here), a per-axis scale on non-square
    frames, the kernel's length not following T, the stride not following the kernel."""
    got = D.derived_settings(shape)
    for name, value in want.items():
        assert got[name] == pytest.approx(value), name
    assert got["kernel_stride"] == (1,) + want["kernel"][1:]
    assert got["map_sigma"] == pytest.approx(want["blur_sigma"] / 2)


def reads_frames_1_2(x):
    return jnp.sum(x[:, 1:3] ** 2, axis=(1, 2, 3, 4))


@pytest.fixture(scope="module")
def clip():
    return np.asarray(noise_video(jax.random.key(5), (4, 24, 40)))


def test_derived_values_are_in_meta_and_explicit_values_win(clip):
    """4 x 24 x 40: s = sqrt(960) / 112; every derived value in meta["derived"] and used;
    an explicit sigma is used as given and not listed. catches: derived values not recorded,
    or overriding the user's."""
    s = math.sqrt(24 * 40) / 112
    r = E.step(reads_frames_1_2, clip, areas=(0.1,), iterations=1)
    assert r.meta["derived"] == {"seed_stride": 2, "sigma": pytest.approx(11 * s),
                                 "blur_sigma": pytest.approx(20 * s),
                                 "map_sigma": pytest.approx(10 * s),
                                 "kernel": [2, 3, 3], "kernel_stride": [1, 3, 3]}
    assert r.meta["sigma"] == pytest.approx(11 * s) and r.meta["kernel"] == [2, 3, 3]
    mine = E.step(reads_frames_1_2, clip, areas=(0.1,), iterations=1, sigma=3.0,
                  kernel=(2, 5, 5))
    assert mine.meta["sigma"] == 3.0 and "sigma" not in mine.meta["derived"]
    assert mine.meta["kernel"] == [2, 5, 5] and mine.meta["kernel_stride"] == [1, 5, 5]
    assert mine.meta["derived"]["kernel_stride"] == [1, 5, 5]   # follows the given kernel


# ------------------------------------------------------------------ kept area
@pytest.mark.slow
@pytest.mark.parametrize("shape", [(4, 24, 24), (4, 32, 48), (4, 40, 40)])
def test_kept_area_is_the_requested_area_on_random_frames(shape):
    """A white-box regressor reading a centred square of 20% of each frame, on noise frames
    of three sizes, 1200 iterations with the derived defaults: EP-3D keeps a of the video
    and EP-2D a of every frame, to within 1 point (issue 17's goal), and with the mean-area
    term off (the papers' L_S alone) both keep more than asked, as measured on the white-box
    benchmark; the STEP code's area, counted on the uncropped mask, keeps 1.4-2x as much.
    catches: the area counted on the uncropped mask or normalised by it; a template that
    ignores the frame size; the mean-area term missing or measured on the wrong mask."""
    model = whitebox("gentle", shape, target=0.2, path="static")
    video = noise_video(jax.random.key(3), shape)
    areas = (0.05, 0.1)
    volume = E.ep3d(model.apply, video, areas=areas, output="raw")
    for mask, a in zip(volume.masks, areas):
        assert abs(mask.mean() - a) <= 0.01
    np.testing.assert_allclose(volume.meta["kept_area"], volume.masks.mean(axis=(1, 2, 3)),
                               rtol=1e-5)
    frames = E.ep2d(model.apply, video, areas=areas, output="raw")
    for mask, a in zip(frames.masks, areas):
        np.testing.assert_allclose(mask.mean(axis=(1, 2)), a, atol=0.01)
    sorted_only = E.ep3d(model.apply, video, areas=(0.1,), output="raw", mean_area_weight=0)
    assert sorted_only.masks[0].mean() > volume.masks[1].mean()
    full = E.ep3d(model.apply, video, areas=(0.1,), output="raw", area_on="full",
                  mean_area_weight=0.0)                     # the STEP code's objective
    assert full.masks[0].mean() > 0.13


def test_kept_area_within_a_point_in_a_short_run():
    """The same at 4 x 24 x 32 in 400 iterations (the term counts from 200), EP-3D and
    TIEM with the TIS given (per-frame areas 2a, a, a, 0 of a frame, mean a): within 1 point
    of the video and, for TIEM, of every frame; the paper's L_S alone keeps more.
    catches: the mean-area term off by default or not reaching the per-frame methods (the
    per-frame vs volume gap itself is checked on hand-made masks below)."""
    shape = (4, 24, 32)
    model = whitebox("gentle", shape, target=0.3, path="static")
    video = noise_video(jax.random.key(4), shape)
    run = dict(areas=(0.1,), output="raw", iterations=400)
    volume = E.ep3d(model.apply, video, **run)
    assert abs(volume.masks[0].mean() - 0.1) <= 0.01
    tis = np.array([0.5, 0.25, 0.25, 0.0])
    frames = E.tiem(model.apply, video, tis=tis, **run)
    np.testing.assert_allclose(frames.areas_t[0], [0.2, 0.1, 0.1, 0.0], atol=1e-6)
    np.testing.assert_allclose(frames.masks[0].mean(axis=(1, 2)), frames.areas_t[0], atol=0.01)
    bare = E.tiem(model.apply, video, tis=tis, mean_area_weight=0.0, **run)
    assert bare.masks[0].mean() > frames.masks[0].mean() + 0.002


def test_mean_area_loss_is_the_gap_to_the_papers_area():
    """L_mean on hand-made masks: squared gap within 1 point, the tangent line of the square
    beyond (value 1e-4 + 0.02 (|gap| - 0.01)); per frame against a_t, averaged; the
    uncropped values with area_on="full". catches: the wrong branch or sign of the gap, a
    volume gap for per-frame areas, the crop read under "full"."""
    from vidxai.explain.extremal import objective as opt
    mask = jnp.stack([jnp.full((4, 5), 0.105), jnp.full((4, 5), 0.13)])     # frame means
    full = jnp.pad(mask, ((0, 0), (1, 1), (1, 1)))                         # border of 0
    cfg = opt.Config(shape=(2, 4, 5))
    gap = lambda g: g * g if abs(g) <= 0.01 else 1e-4 + 0.02 * (abs(g) - 0.01)
    volume = opt.mean_area_loss(full, mask, 0.1, None, cfg)
    assert float(volume) == pytest.approx(gap(0.1175 - 0.1), rel=1e-5)
    per_frame = opt.mean_area_loss(full, mask, None, jnp.array([0.1, 0.15]),
                                   opt.Config(shape=(2, 4, 5), per_frame=True))
    assert float(per_frame) == pytest.approx((gap(0.005) + gap(-0.02)) / 2, rel=1e-5)
    on_full = opt.mean_area_loss(full, mask, 0.1, None, opt.Config(shape=(2, 4, 5),
                                                                     area_on="full"))
    assert float(on_full) == pytest.approx(gap(float(full.mean()) - 0.1), rel=1e-5)


def test_mean_area_start_and_weight_switch_the_term(clip):
    """20 iterations: weight 0 and a start past the last iteration are the same run (L_S
    alone); the default (from iteration 10) and a start of 0 each change the masks; meta
    records both settings. catches: the start or the weight ignored."""
    run = dict(areas=(0.1,), iterations=20, **SMALL)
    off = E.ep3d(reads_frames_1_2, clip, mean_area_weight=0.0, **run)
    late = E.ep3d(reads_frames_1_2, clip, mean_area_start=20, **run)
    np.testing.assert_array_equal(off.masks, late.masks)
    default = E.ep3d(reads_frames_1_2, clip, **run)
    early = E.ep3d(reads_frames_1_2, clip, mean_area_start=0, **run)
    assert default.meta["mean_area_start"] == 10 and default.meta["mean_area_weight"] == 100.0
    assert np.abs(default.masks - off.masks).max() > 1e-4
    assert np.abs(early.masks - default.masks).max() > 1e-4


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("method", ["ep2d", "ep3d", "step", "tiem", "tiem_lk"])
@pytest.mark.parametrize("areas", [(0.0,), (1.0,), (0.1, -0.2), (1.5,), (float("nan"),), ()])
def test_areas_outside_the_open_unit_interval_name_areas(clip, method, areas):
    """catches: an area of 0 or 1 (an empty / full template) or NaN reaching the loss."""
    with pytest.raises(ArgumentError, match="^areas:"):
        getattr(E, method)(reads_frames_1_2, clip, areas=areas, iterations=1)


@pytest.mark.parametrize("method", ["step", "tiem_lk"])
@pytest.mark.parametrize("kernel", [(2, 25, 5), (2, 5, 41), (5, 3, 3)])
def test_frame_smaller_than_the_smoothness_kernel_names_kernel(clip, method, kernel):
    """4 x 24 x 40 video: a kernel taller, wider or longer than it is refused.
    catches: a valid convolution with no response (an empty L_K) run silently."""
    with pytest.raises(ArgumentError, match="^kernel:.*no larger than the video"):
        getattr(E, method)(reads_frames_1_2, clip, kernel=kernel, iterations=1)


def test_non_finite_scores_name_f(clip):
    """A model returning NaN for the video, or for the masked videos only, is refused with an
    error naming f (never a silent NaN mask). catches: the history's NaN not checked."""
    def nan_everywhere(x):
        return jnp.sum(x, axis=(1, 2, 3, 4)) * jnp.nan
    with pytest.raises(ScoreFunctionError, match="^f:.*finite score of the video"):
        E.ep3d(nan_everywhere, clip, iterations=1, **SMALL)

    video = jnp.asarray(clip)

    def nan_when_masked(x):
        changed = jnp.max(jnp.abs(x - video), axis=(1, 2, 3, 4)) > 1e-6
        return jnp.where(changed, jnp.nan, jnp.sum(x ** 2, axis=(1, 2, 3, 4)))
    with pytest.raises(ScoreFunctionError, match="^f:.*finite scores of the masked videos"):
        E.ep3d(nan_when_masked, clip, iterations=2, **SMALL)


@pytest.mark.parametrize("kwargs, name", [
    (dict(reward="log"), "reward"),                       # -log of a regressor's score
    (dict(reward="square"), "reward"),
    (dict(area_on="border"), "area_on"),
    (dict(mean_area_weight=-1.0), "mean_area_weight"),
    (dict(mean_area_weight=float("nan")), "mean_area_weight"),
    (dict(mean_area_start=-1), "mean_area_start"),
    (dict(blur_sigma=0.0), "blur_sigma"),
    (dict(map_sigma=-1.0), "map_sigma"),
    (dict(seed_stride=0), "seed_stride"),
    (dict(sigma=float("inf")), "sigma"),
    (dict(output="prob"), "output"),                      # the score 1000 is no probability
])
def test_bad_settings_name_the_argument(clip, kwargs, name):
    """catches: a setting validated nowhere and failing deep inside the optimisation."""
    def big(x):
        return 1000.0 + jnp.sum(x, axis=(1, 2, 3, 4))
    with pytest.raises(ArgumentError, match=rf"^{name}:"):
        E.ep3d(big, clip, iterations=1, **kwargs)


def test_kernel_stride_is_validated(clip):
    with pytest.raises(ArgumentError, match="^kernel_stride:"):
        E.step(reads_frames_1_2, clip, kernel_stride=(1, 0, 3), iterations=1)


def test_linear_reward_for_a_probability_is_the_papers_reward(clip):
    """reward="linear" with output="prob": -10 p / p(X) (papers 002 Eq. 7 / 004 Eq. 5, in
    units of a tenth of p(X)); the default for probabilities stays -log p.
    catches: the switch ignored, or the linear reward not normalised by p(X)."""
    def prob(x):
        return jax.nn.sigmoid(jnp.mean(x[:, 1:3], axis=(1, 2, 3, 4)) - 0.5)
    base = float(prob(jnp.asarray(clip)[None])[0])
    log = E.ep3d(prob, clip, areas=(0.1,), iterations=1, output="prob", lambda1=0.0, **SMALL)
    lin = E.ep3d(prob, clip, areas=(0.1,), iterations=1, output="prob", lambda1=0.0,
                 reward="linear", **SMALL)
    assert log.meta["reward"] == "log" and lin.meta["reward"] == "linear"
    assert lin.meta["reward_scale"] == pytest.approx(10 / base)
    # iteration 0 sees the same mask: -log p0 vs -10 p0 / p(X), with the same p0
    p0 = math.exp(-log.history[0, 0])
    assert lin.history[0, 0] == pytest.approx(-10 * p0 / base, rel=1e-4)
