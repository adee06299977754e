"""Removal fills, soft composites and the insertion / deletion games against direct references.

Every expected value here is computed in the test from the definition with numpy / scipy:

* a coalition shows ``m * x + (1 - m) * removed`` for any mask ``m`` in [0, 1] (soft masks
  included), optionally after blurring ``m`` per frame (2-D Gaussian over H, W, mirrored
  border: ``scipy.ndimage.gaussian_filter(mode="reflect")``);
* the removed videos: black 0, grey 0.5, a constant colour, each segment's own mean colour,
  a Gaussian blur over (H, W) per frame or over (T, H, W) -- never over the channels;
* the games: units ranked by their MEAN saliency (descending, stable), revealed / removed
  cumulatively, ``x`` = cumulative voxel fraction, AUC = trapezoid over that ``x``;
* ``vidxai evaluate`` reproduces those curves from the saved map.

Gaussian radius: vidxai truncates its kernels at ``ceil(4 * sigma)`` taps, scipy at
``int(4 * sigma + 0.5)``; the references pass scipy's ``radius=`` so both use the same
support (the sigmas below are chosen so the two conventions differ, e.g. 1.3 -> 6 vs 5).
"""
import json
import math

import chex
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage as ndi

from vidxai import Explanation, cli, metrics, removal, scoring
from vidxai import zoo
from vidxai.io import read_video, write_video
from vidxai.segment import Segmentation
from helpers import RecordingScore


# ------------------------------------------------------------------------------ references
def ref_gauss(x, sigma, axes):
    """Gaussian blur over ``axes`` with a mirrored border, vidxai's truncation radius."""
    return ndi.gaussian_filter(np.asarray(x, np.float64), sigma, mode="reflect", axes=axes,
                               radius=math.ceil(4 * sigma))


def ref_compose(video, removed, m):
    """Definition of a (soft) coalition: m * x + (1 - m) * removed, broadcast over batch."""
    m = np.asarray(m, np.float64)[..., None]
    return m * np.asarray(video, np.float64) + (1 - m) * np.asarray(removed, np.float64)


def random_video(shape=(3, 10, 12), seed=0):
    """Non-constant along T, H, W and C, so a blur over any wrong axis shows."""
    return np.random.RandomState(seed).rand(*shape, 3).astype(np.float32)


def weighted_mean_score(shape, seed=1):
    """A plain host score function (weighted mean of the batch) that records every batch it
    is given: the engine calls it outside jit on the perturbed videos (helpers.RecordingScore)."""
    w = np.random.RandomState(seed).rand(*shape, 3)
    f = RecordingScore(lambda x: (x * w).mean(axis=(1, 2, 3, 4)))
    f.w = w
    return f


def rows_are_masks(params, aux, static):
    """Mask generator whose parameter rows are the (possibly fractional) masks themselves."""
    return params


# ---------------------------------------------------------- 1. fractional masks, soft edges
def test_compose_soft_masks_is_convex_blend():
    """catches: compose rounding/thresholding soft masks, or swapping video and removed."""
    rng = np.random.RandomState(3)
    video, removed = random_video(seed=1), random_video(seed=2)
    m = rng.uniform(0.05, 0.95, (2, 3, 10, 12)).astype(np.float32)
    got = np.asarray(removal.compose(jnp.asarray(video), jnp.asarray(removed), jnp.asarray(m)))
    chex.assert_shape(got, (2, 3, 10, 12, 3))
    np.testing.assert_allclose(got, ref_compose(video, removed, m), atol=1e-6)


@pytest.mark.parametrize("edge_sigma", [None, 1.3])
def test_run_batches_fractional_masks_reach_the_model_exactly(edge_sigma):
    """catches: soft masks rounded to 0/1 before blending; soft edges blurred over time or
    with a zero border; padded last chunk leaking into the scores."""
    video, removed = random_video(seed=4), random_video(seed=5) * 0.5
    m = np.random.RandomState(6).uniform(0.0, 1.0, (5, 3, 10, 12)).astype(np.float32)
    m[0] = 0.5  # the most rounding-sensitive value
    f = weighted_mean_score(video.shape[:3])
    scores = scoring.run_batches(f, video, removed, rows_are_masks, m, batch_size=3,
                                 edge_sigma=edge_sigma)
    soft = m if edge_sigma is None else ref_gauss(m, edge_sigma, axes=(2, 3))
    expected = ref_compose(video, removed, soft)
    seen = f.videos(5)
    chex.assert_shape(seen, (5, 3, 10, 12, 3))
    np.testing.assert_allclose(seen, expected, atol=2e-6)
    np.testing.assert_allclose(scores, (expected * f.w).mean(axis=(1, 2, 3, 4)), atol=1e-6)


def test_evaluate_softens_binary_segment_masks_per_frame():
    """catches: edge_sigma ignored, applied over (T, H, W), or with zero padding (edges darken)."""
    video = random_video((3, 10, 12), seed=7)
    labels = np.zeros((3, 10, 12), np.int32)
    labels[:, :, 6:] = 1
    labels[1:, 4:, :] = 2
    seg = Segmentation(labels, 3)
    z = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0]], bool)
    rem = removal.blur(1.5, temporal=False, edge_sigma=1.3)
    f = weighted_mean_score(video.shape[:3])
    scoring.score_coalitions(f, video, seg, z, rem, batch_size=4)
    masks = np.stack([np.isin(labels, np.flatnonzero(row)) for row in z]).astype(np.float64)
    soft = ref_gauss(masks, 1.3, axes=(2, 3))
    expected = ref_compose(video, ref_gauss(video, 1.5, axes=(1, 2)), soft)
    np.testing.assert_allclose(f.videos(3), expected, atol=2e-6)


def test_reference_removal_end_to_end_through_evaluate():
    """catches: reference() not 3-D blur sigma 8 with mask edges softened by sigma 3.5."""
    video = random_video((4, 10, 12), seed=8)
    labels = np.zeros((4, 10, 12), np.int32)
    labels[2:] = 1
    labels[:, :5, :6] = 2
    seg = Segmentation(labels, 3)
    z = np.array([[1, 0, 0], [0, 1, 1]], bool)
    ref = removal.reference()
    assert ref.edge_sigma == 3.5
    f = weighted_mean_score(video.shape[:3])
    scoring.score_coalitions(f, video, seg, z, ref, batch_size=2)
    masks = np.stack([np.isin(labels, np.flatnonzero(row)) for row in z]).astype(np.float64)
    expected = ref_compose(video, ref_gauss(video, 8.0, axes=(0, 1, 2)),
                           ref_gauss(masks, 3.5, axes=(2, 3)))
    np.testing.assert_allclose(f.videos(2), expected, atol=2e-6)


# -------------------------------------------------------------- 2. every removal's fill
def ref_mean_color(video, labels):
    """Each voxel takes the per-channel mean colour of its own segment."""
    out = np.empty(video.shape, np.float64)
    for s in np.unique(labels):
        inside = labels == s
        out[inside] = video[inside].astype(np.float64).mean(axis=0)
    return out


UNEVEN = np.zeros((3, 10, 12), np.int32)
UNEVEN[:, :, 9:] = 1
UNEVEN[0, 0, 0] = 2          # a one-voxel segment
UNEVEN[1:, 6:, :4] = 3

FILLS = {
    "black": (removal.black(), lambda v: np.zeros_like(v)),
    "gray": (removal.gray(), lambda v: np.full_like(v, 0.5)),
    "gray0.3": (removal.gray(0.3), lambda v: np.full_like(v, 0.3)),
    "constant_rgb": (removal.constant((0.2, 0.7, 0.4)),
                     lambda v: np.broadcast_to(np.array([0.2, 0.7, 0.4]), v.shape)),
    "constant_level": (removal.constant(0.25), lambda v: np.full_like(v, 0.25)),
    "mean_color": (removal.mean_color(), lambda v: ref_mean_color(v, UNEVEN)),
    "blur2d": (removal.blur(1.3, temporal=False), lambda v: ref_gauss(v, 1.3, (1, 2))),
    "blur3d": (removal.blur(1.3), lambda v: ref_gauss(v, 1.3, (0, 1, 2))),
    "blur3d_default": (removal.blur(), lambda v: ref_gauss(v, 8.0, (0, 1, 2))),
    "reference": (removal.reference(), lambda v: ref_gauss(v, 8.0, (0, 1, 2))),
}


@pytest.mark.parametrize("name", list(FILLS))
def test_removed_video_matches_direct_computation(name):
    """catches: wrong fill value / channel order, segment means pooled over segments or
    channels, blur over the channel axis, 2-D blur including time, 3-D blur missing time."""
    rem, expected = FILLS[name]
    video = random_video((3, 10, 12), seed=9)
    got = np.asarray(rem.removed(video, Segmentation(UNEVEN, 4)))
    chex.assert_shape(got, video.shape)
    np.testing.assert_allclose(got, expected(video), atol=2e-6)


def test_blur2d_keeps_frames_separate_and_blur3d_mixes_them():
    """catches: 2-D blur leaking across frames (a single lit frame must stay alone)."""
    video = np.zeros((3, 8, 8, 3), np.float32)
    video[1] = np.random.RandomState(0).rand(8, 8, 3)
    flat = np.asarray(removal.blur(1.3, temporal=False).removed(video))
    assert np.all(flat[[0, 2]] == 0)
    np.testing.assert_allclose(flat[1], ref_gauss(video[1], 1.3, (0, 1)), atol=2e-6)
    deep = np.asarray(removal.blur(1.3).removed(video))
    assert deep[0].sum() > 0.1 and deep[2].sum() > 0.1


# ------------------------------------------------------------ 3. insertion / deletion games
def np_score(w):
    """The same linear score in numpy (reference) and JAX (library): weighted voxel mean."""
    wj = jnp.asarray(w, jnp.float32)
    return (lambda x: (np.asarray(x, np.float64) * w).mean(axis=(-4, -3, -2, -1)),
            lambda x: (x * wj).mean(axis=(1, 2, 3, 4)))


def patch_units(shape, p=16):
    """Unit masks of p x p patches per frame in (frame, row, column) order; border patches
    are cropped to the frame, so they are smaller."""
    t, h, w = shape
    units = []
    for k in range(t):
        for r in range(0, h, p):
            for c in range(0, w, p):
                u = np.zeros(shape, bool)
                u[k, r:r + p, c:c + p] = True
                units.append(u)
    return units


def ref_game(game, f_np, video, removed, saliency, units, steps, order="morf"):
    """Direct insertion / deletion curve: ``(x, scores, auc)``.

    Units are sorted by mean saliency (descending for MoRF, ascending for LeRF; Python's
    sort is stable so ties keep unit order); after ``k_i`` units, ``k_i = i * n / points``
    for ``points = min(steps, n)`` (exact here: the tests pick divisible sizes), the shown
    set is the first ``k_i`` units (insertion) or everything else (deletion).
    """
    n = len(units)
    means = [float(np.asarray(saliency, np.float64)[u].mean()) for u in units]
    sign = -1 if order == "morf" else 1
    ranked = sorted(range(n), key=lambda i: sign * means[i])
    points = min(steps, n)
    assert (n % points) == 0, "pick sizes where the step schedule is exact"
    xs, scores = [], []
    for i in range(points + 1):
        first = np.zeros(saliency.shape, bool)
        for j in ranked[: i * n // points]:
            first |= units[j]
        shown = first if game == "insertion" else ~first
        xs.append(first.mean())
        scores.append(f_np(ref_compose(video, removed, shown.astype(np.float64))))
    xs, scores = np.array(xs), np.array(scores)
    return xs, scores, float(np.trapezoid(scores, xs))


def mean_vs_sum_saliency(units, seed=0):
    """Per-unit constant-plus-noise saliency whose mean ranking (small units first) differs
    from the summed ranking (large units first)."""
    rng = np.random.RandomState(seed)
    shape = units[0].shape
    sal = np.zeros(shape, np.float64)
    for u in units:
        size = u.sum()
        sal[u] = 4.0 / np.sqrt(size) * (1 + 0.3 * rng.rand()) + 0.01 * rng.rand(size)
    means = np.array([sal[u].mean() for u in units])
    sums = np.array([sal[u].sum() for u in units])
    assert list(np.argsort(-means, kind="stable")) != list(np.argsort(-sums, kind="stable"))
    return sal.astype(np.float32)


def uneven_segmentation():
    """Segments of 1, 4, 18, 24 and 145 voxels on a 3x8x8 clip."""
    labels = np.zeros((3, 8, 8), np.int32)
    labels[1, 3, 5] = 1
    labels[2, 6:, 6:] = 2
    labels[0, 2:5, 2:8] = 3
    labels[:, 0, :] = 4
    return Segmentation(labels, 5)


def seg_units(seg):
    return [seg.labels == s for s in range(seg.n)]


CASES = {
    # name: (video shape, unit, units builder, steps)
    "patch_20x20": ((2, 20, 20), "patch", lambda s: patch_units(s), 128),
    "patch_20x36_coarse": ((2, 20, 36), "patch", lambda s: patch_units(s), 4),
    "segments": ((3, 8, 8), uneven_segmentation(), lambda s: seg_units(uneven_segmentation()), 50),
}


@pytest.mark.parametrize("game", ["insertion", "deletion"])
@pytest.mark.parametrize("case", list(CASES))
def test_game_curve_matches_direct_reference(game, case):
    """catches: ranking by summed (not mean) saliency, x counted in units not voxels,
    a skipped or shifted first point, AUC over a uniform grid instead of the actual x."""
    shape, unit, build, steps = CASES[case]
    units = build(shape)
    video, removed = random_video(shape, seed=10), random_video(shape, seed=11) * 0.3
    sal = mean_vs_sum_saliency(units)
    f_np, f = np_score(np.random.RandomState(12).rand(*shape, 3))
    curve = getattr(metrics, game)(f, video, sal, steps=steps, unit=unit, removed=removed,
                                   batch_size=8)
    x, scores, auc = ref_game(game, f_np, video, removed, sal, units, steps)
    np.testing.assert_allclose(curve.x, x, atol=1e-12)
    np.testing.assert_allclose(curve.scores, scores, atol=2e-6)
    assert curve.auc == pytest.approx(auc, abs=2e-6)
    assert curve.auc == pytest.approx(float(np.trapezoid(curve.scores, curve.x)), abs=1e-9)


@pytest.mark.parametrize("order", ["morf", "lerf"])
def test_game_order_and_ties_on_segments(order):
    """catches: LeRF not the reverse ranking, or ties broken by something other than unit
    order (two segments below share an exact mean)."""
    seg = uneven_segmentation()
    units = seg_units(seg)
    sal = np.zeros(seg.shape, np.float32)
    for s, value in enumerate([0.25, 0.5, 0.125, 0.5, 0.75]):   # exact binary fractions
        sal[units[s]] = value
    video, removed = random_video(seg.shape, seed=13), random_video(seg.shape, seed=14)
    f_np, f = np_score(np.random.RandomState(15).rand(*seg.shape, 3))
    curve = metrics.deletion(f, video, sal, steps=5, unit=seg, removed=removed, order=order)
    x, scores, auc = ref_game("deletion", f_np, video, removed, sal, units, 5, order)
    np.testing.assert_allclose(curve.x, x, atol=1e-12)
    np.testing.assert_allclose(curve.scores, scores, atol=2e-6)
    assert curve.auc == pytest.approx(auc, abs=2e-6)


@pytest.mark.parametrize("unit", ["pixel", "patch"])
def test_game_end_points(unit):
    """catches: first point skipped or already one step in; last point not the full state."""
    shape = (2, 20, 20)
    video = random_video(shape, seed=16)
    removed = removal.gray(0.3)
    sal = np.random.RandomState(17).rand(*shape).astype(np.float32)
    f_np, f = np_score(np.random.RandomState(18).rand(*shape, 3))
    full, empty = f_np(video), f_np(np.full(video.shape, 0.3))
    ins = metrics.insertion(f, video, sal, steps=8, unit=unit, removed=removed)
    dele = metrics.deletion(f, video, sal, steps=8, unit=unit, removed=removed)
    for c in (ins, dele):
        chex.assert_shape([c.x, c.scores], (9,))
        assert c.x[0] == 0.0 and c.x[-1] == 1.0 and np.all(np.diff(c.x) > 0)
    np.testing.assert_allclose([dele.scores[0], dele.scores[-1]], [full, empty], atol=2e-6)
    np.testing.assert_allclose([ins.scores[0], ins.scores[-1]], [empty, full], atol=2e-6)


def test_unit_labels_patch_border_sizes_and_rank_by_mean():
    """catches: border patches merged / mis-sized, and rank_units using the sum."""
    labels, n = metrics.unit_labels("patch", (2, 20, 36))
    assert n == 2 * 2 * 3
    sizes = np.bincount(labels.ravel(), minlength=n)
    np.testing.assert_array_equal(sizes, [256, 256, 64, 64, 64, 16] * 2)
    units = patch_units((2, 20, 36))
    for j, u in enumerate(units):  # same enumeration order as the reference
        assert np.all(labels[u] == j)
    sal = mean_vs_sum_saliency(units)
    rank, counts = metrics.rank_units(sal, labels, n)
    means = np.array([sal[u].astype(np.float64).mean() for u in units])
    expected_order = sorted(range(n), key=lambda i: -means[i])
    np.testing.assert_array_equal(counts, sizes[expected_order])
    for r, j in enumerate(expected_order):
        assert np.all(rank[units[j]] == r)


# ------------------------------------------------------- 4. `vidxai evaluate` from the files
@pytest.fixture()
def tiny_zoo(monkeypatch):
    """The CLI with a registry holding one small white-box regressor (4 x 40 x 40, so border
    patches are 8 pixels wide); it keeps its zoo name, which summary.json records."""
    from models.whitebox import whitebox

    model = whitebox("gentle", (4, 40, 40))
    monkeypatch.setattr(zoo, "registry", lambda: {model.name: lambda: model})
    return model


@pytest.mark.parametrize("unit, steps", [("patch", 4), ("pixel", 8)])
def test_cli_evaluate_equals_metrics_on_saved_map(tiny_zoo, tmp_path, unit, steps):
    """catches: evaluate using another map / unit / step count / removal than it reports, or
    writing AUCs that are not the curves' trapezoids."""
    frames = (np.random.RandomState(19).rand(4, 40, 40, 3) * 255).astype(np.uint8)
    clip = write_video(tmp_path / "clip.mp4", frames, fps=8)
    out = tmp_path / "run"
    assert cli.main(["explain", str(clip), "--model", tiny_zoo.name, "--method", "loco",
                     "--segmenter", "grid", "--cells", "2", "2", "2", "--out", str(out)]) == 0
    assert cli.main(["evaluate", str(out), "--steps", str(steps), "--unit", unit]) == 0
    result = json.loads((out / "evaluation.json").read_text())
    e = Explanation.load(out / "explanation.npz")
    video = read_video(clip, num_frames=4, size=40)
    f = scoring.score(tiny_zoo, None, "raw")
    a = np.asarray(tiny_zoo.meta["target_set"], np.float64)[..., None]
    f_np = lambda x: float((a * np.asarray(x, np.float64) ** 2).sum())  # noqa: E731
    units = patch_units(a.shape[:3]) if unit == "patch" else None
    for game in ("insertion", "deletion"):
        curve = getattr(metrics, game)(f, video, e.map, steps=steps, unit=unit)
        got = result[game]
        np.testing.assert_allclose(got["x"], curve.x, atol=1e-12)
        np.testing.assert_allclose(got["scores"], curve.scores, rtol=1e-6)
        assert got["auc"] == pytest.approx(curve.auc, rel=1e-6)
        if units is not None:  # and the numbers themselves, from the definition
            x, scores, auc = ref_game(game, f_np, video, np.zeros_like(video), e.map, units, steps)
            np.testing.assert_allclose(got["x"], x, atol=1e-12)
            np.testing.assert_allclose(got["scores"], scores, rtol=1e-5)
            assert got["auc"] == pytest.approx(auc, rel=1e-5)
    # the removed state is black: deletion ends at f(0) = 0, insertion at f(video)
    assert result["deletion"]["scores"][-1] == pytest.approx(0.0, abs=1e-6)
    assert result["insertion"]["scores"][-1] == pytest.approx(f_np(video), rel=1e-5)


def test_games_soften_the_masks_of_a_removal_with_soft_edges():
    """A Removal with ``edge_sigma`` blurs each step's binary mask per frame (2-D Gaussian,
    mirrored border) in the games too (catches: the games ignoring soft edges)."""
    video = random_video((2, 12, 12), seed=5)
    f = weighted_mean_score(video.shape[:3])
    saliency = np.random.RandomState(6).rand(2, 12, 12).astype(np.float32)
    soft = metrics.deletion(f, video, saliency, steps=4, removed=removal.black(edge_sigma=1.3))
    hard = metrics.deletion(f, video, saliency, steps=4, removed=removal.black())
    order = np.argsort(-saliency.ravel(), kind="stable")
    for k, x in enumerate(soft.x[1:-1], start=1):
        kept = np.ones(saliency.size)
        kept[order[:int(round(x * saliency.size))]] = 0.0
        mask = ref_gauss(kept.reshape(2, 12, 12), 1.3, axes=(1, 2))
        expected = (ref_compose(video, np.zeros_like(video), mask[None])[0] * f.w).mean()
        assert soft.scores[k] == pytest.approx(expected, rel=1e-5)
    assert not np.allclose(soft.scores[1:-1], hard.scores[1:-1])


# ---------------------------------------- minimal masks (second mutation sample) ----

def test_minimal_fraction_of_an_insertion_curve_counts_a_rise():
    # catches: the insertion branch measuring the change as a drop (deletion's sign)
    from vidxai.metrics import Curve
    x = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    curve = Curve("insertion", "morf", x, np.array([0.1, 0.2, 0.45, 0.8, 0.9]), 0.0)
    fractions, reached = curve.minimal_fraction([0.3, 0.6, 0.9])
    assert reached.tolist() == [True, True, False]
    np.testing.assert_array_equal(fractions, [0.5, 0.75, 1.0])


@pytest.mark.parametrize("bad", [[], [[0.1, 0.2]], [0.1, -0.1], [np.nan]])
def test_thresholds_must_be_a_non_empty_vector_of_finite_changes(bad):
    # catches: the empty or two-dimensional thresholds slipping through (an `and` for an `or`)
    from vidxai import metrics
    from vidxai.errors import ArgumentError
    with pytest.raises(ArgumentError, match="thresholds"):
        metrics.check_thresholds(bad)


def test_default_game_has_128_steps():
    # catches: the default number of steps of the insertion / deletion games changed
    from vidxai import metrics
    # 200 pixel units, more than the steps: 128 steps + the starting point
    video = np.full((2, 10, 10, 3), 0.5, np.float32)
    saliency = np.arange(200, dtype=np.float32).reshape(2, 10, 10)
    for game in (metrics.insertion, metrics.deletion):
        curve = game(lambda v: jnp.asarray(v).reshape(v.shape[0], -1).mean(axis=1), video,
                     saliency, unit="pixel")
        assert len(curve.x) == 129 and curve.x[0] == 0.0 and curve.x[-1] == 1.0
