"""ROAD for video: noisy linear imputation (Rong et al., ICML 2022) and its MoRF / LeRF curves."""
import jax
import numpy as np
import pytest
import scipy.sparse
import scipy.sparse.linalg

from vidxai import removal
from vidxai.errors import ArgumentError
from vidxai.metrics import road_curves as road


def _linear_video(t=5, h=9, w=10):
    tt, hh, ww = np.meshgrid(np.arange(t), np.arange(h), np.arange(w), indexing="ij")
    base = 0.1 + 0.03 * tt + 0.04 * hh + 0.02 * ww
    return (base[..., None] * np.array([1.0, 0.7, 0.4])).astype(np.float32)


@pytest.mark.parametrize("neighbours", [6, 26])
def test_noise_free_imputation_recovers_a_linear_video(neighbours):
    """catches: a wrong stencil (asymmetric weights, a missing neighbour, the removed voxel
    counted as its own neighbour) or kept voxels not held fixed: a video linear in t, h, w is
    the mean of its symmetric neighbours, so interior holes must come back exactly."""
    video = _linear_video()
    removed = np.zeros(video.shape[:3], bool)
    removed[1:4, 2:7, 3:8] = True
    removed[2, 1, 1] = True
    out = removal.imputation(video, removed, neighbours=neighbours, noise=0.0, tol=1e-6)
    np.testing.assert_allclose(out.video, video, atol=2e-6)
    assert out.residual < 1e-5
    coarse = removal.imputation(video, removed, neighbours=neighbours, noise=0.0)
    np.testing.assert_allclose(coarse.video, video, atol=4e-3)  # default tol: < 1/255
    assert np.array_equal(out.video[~removed], video[~removed])


def _reference_2d(frame, removed, weights):
    """ROAD's 2-D system written from the paper: for each removed pixel i,
    sum_j w_ij (y_i - y_j) = 0 over the in-image neighbours j (known y_j moved to b)."""
    h, w = removed.shape
    index = -np.ones((h, w), int)
    index[removed] = np.arange(removed.sum())
    a = scipy.sparse.lil_matrix((removed.sum(), removed.sum()))
    b = np.zeros((removed.sum(), frame.shape[-1]))
    for (i, j), k in zip(np.argwhere(removed), index[removed]):
        for (di, dj), wt in weights:
            y, x = i + di, j + dj
            if not (0 <= y < h and 0 <= x < w):
                continue
            a[k, k] += wt
            if removed[y, x]:
                a[k, index[y, x]] -= wt
            else:
                b[k] += wt * frame[y, x]
    sol = scipy.sparse.linalg.spsolve(a.tocsc(), b)
    out = frame.astype(np.float64).copy()
    out[removed] = sol
    return out


@pytest.mark.parametrize("neighbours,weights", [
    (6, [((0, 1), 1), ((0, -1), 1), ((1, 0), 1), ((-1, 0), 1)]),
    (26, [((0, 1), 1 / 6), ((0, -1), 1 / 6), ((1, 0), 1 / 6), ((-1, 0), 1 / 6),
          ((1, 1), 1 / 12), ((1, -1), 1 / 12), ((-1, 1), 1 / 12), ((-1, -1), 1 / 12)]),
])
def test_single_frame_is_the_2d_system(neighbours, weights):
    """catches: temporal neighbours invented at T = 1, wrong border handling (absent
    neighbours must drop out of the mean) or wrong diagonal weights (ROAD's 1/6 and 1/12)."""
    rng = np.random.RandomState(0)
    frame = rng.rand(8, 9, 3).astype(np.float32)
    removed = rng.rand(8, 9) < 0.5
    removed[0, 0] = removed[-1, -1] = True
    out = removal.imputation(frame[None], removed[None], neighbours=neighbours, noise=0.0,
                             tol=1e-6)
    np.testing.assert_allclose(out.video[0], _reference_2d(frame, removed, weights), atol=1e-5)
    assert out.residual < 1e-5


def test_noise_residual_and_key():
    """catches: noise added to kept voxels, a noise level off by a factor, a key ignored, or a
    residual that is not the solver's (one CG step cannot have converged)."""
    rng = np.random.RandomState(1)
    video = rng.rand(3, 10, 10, 3).astype(np.float32) * 0.5 + 0.25
    removed = rng.rand(3, 10, 10) < 0.4
    clean = removal.imputation(video, removed, noise=0.0)
    a = removal.imputation(video, removed, noise=0.01, key=jax.random.key(3))
    b = removal.imputation(video, removed, noise=0.01, key=jax.random.key(3))
    assert np.array_equal(a.video, b.video)
    assert np.array_equal(a.video[~removed], video[~removed])
    diff = (a.video - clean.video)[removed]
    assert 0.008 < diff.std() < 0.012
    rough = removal.imputation(video, removed, noise=0.0, maxiter=1)
    assert rough.residual > 10 * max(clean.residual, 1e-7)


def test_constant_video_gives_a_flat_curve():
    """catches: imputation that changes the colour of a constant video (e.g. zero-padded
    borders counted as black neighbours), or curves at the wrong fractions."""
    video = np.full((3, 8, 8, 3), 0.4, np.float32)
    sal = np.random.RandomState(0).rand(3, 8, 8)
    res = road.road(lambda x: x.mean(axis=(1, 2, 3, 4)), video, sal, key=jax.random.key(0),
                    noise=0.0)
    for order in ("morf", "lerf"):
        c = res.curves[order]
        np.testing.assert_allclose(c.fractions, road.ROAD_FRACTIONS)
        np.testing.assert_allclose(c.scores, 0.4, atol=1e-6)
        assert np.all(c.residuals < 1e-5) or np.all(c.residuals == 0)
    assert abs(res.gap) < 1e-6
    assert len(res.rows()) == 2 * len(road.ROAD_FRACTIONS)


def test_removal_masks_follow_the_ranking():
    """catches: MoRF and LeRF swapped, a count other than round(p N), or masks that are not
    nested (the warm start assumes growing removed sets)."""
    sal = np.random.RandomState(2).rand(2, 5, 5)
    masks = road.removal_masks(sal, road.ROAD_FRACTIONS, "morf")
    lerf = road.removal_masks(sal, road.ROAD_FRACTIONS, "lerf")
    flat = sal.ravel()
    for p, m, l in zip(road.ROAD_FRACTIONS, masks, lerf):
        k = int(round(p * flat.size))
        assert m.sum() == k and l.sum() == k
        assert flat[m.ravel()].min() >= flat[~m.ravel()].max()
        assert flat[l.ravel()].max() <= flat[~l.ravel()].min()
    assert np.all(masks[1:] >= masks[:-1])


def test_morf_hurts_more_than_lerf_for_a_faithful_map():
    """catches: orders mislabelled in the result: for f = mean of a bright square and the map
    that marks the square, removing it first (MoRF) must lower the score below LeRF's."""
    video = np.full((2, 12, 12, 3), 0.2, np.float32)
    video[:, 3:7, 3:7] = 0.9
    square = np.zeros((2, 12, 12))
    square[:, 3:7, 3:7] = 1.0
    f = lambda x: x[:, :, 3:7, 3:7].mean(axis=(1, 2, 3, 4))
    res = road.road(f, video, square + 0.01 * np.random.RandomState(0).rand(2, 12, 12),
                    key=jax.random.key(0))
    assert res.curves["morf"].value < res.curves["lerf"].value
    assert res.gap > 0.2


def test_coarse_grids_change_only_the_start():
    """catches: a coarse-to-fine start that changes the system instead of only the starting
    point (a wrong restriction, coarse values leaking into the answer): on a grid that is
    coarsened (32 x 32 -> 16 -> 8) a linear video's large hole must still come back exactly,
    and the answer must equal the single-level solve's."""
    from vidxai import _imputation

    tt, hh, ww = np.meshgrid(np.arange(5), np.arange(32), np.arange(32), indexing="ij")
    video = ((0.1 + 0.05 * tt + 0.012 * hh + 0.01 * ww)[..., None]
             * np.array([1.0, 0.8, 0.6])).astype(np.float32)
    removed = np.zeros(video.shape[:3], bool)
    removed[1:4, 3:29, 5:30] = True                # interior: a linear video is harmonic there
    out = removal.imputation(video, removed, noise=0.0, tol=1e-6)
    np.testing.assert_allclose(out.video, video, atol=2e-5)
    flat, _ = _imputation._solve(jax.numpy.asarray(video), jax.numpy.asarray(removed),
                                 jax.numpy.full(video.shape, 0.5), neighbours=6, tol=1e-6,
                                 maxiter=2000, levels=0)
    np.testing.assert_allclose(out.video, np.asarray(flat), atol=2e-5)


def test_curve_steps_share_one_compilation():
    """catches: the solver compiling again at every curve step or for every video of one
    shape (a traced value made static, a new jit per call): one ROAD run of both orders adds
    one compiled solver, a second video of the same shape adds none."""
    from vidxai import _imputation

    rng = np.random.RandomState(4)
    shape = (2, 6, 11, 3)                       # a shape no other test uses
    f = lambda x: x.mean(axis=(1, 2, 3, 4))
    before = _imputation._solve._cache_size()
    road.road(f, rng.rand(*shape).astype(np.float32), rng.rand(*shape[:3]),
              key=jax.random.key(0))
    assert _imputation._solve._cache_size() == before + 1
    road.road(f, rng.rand(*shape).astype(np.float32), rng.rand(*shape[:3]),
              key=jax.random.key(1))
    assert _imputation._solve._cache_size() == before + 1


def test_bad_input_names_the_argument():
    """catches: a map of another shape or fractions outside (0, 1) silently accepted."""
    video = np.full((2, 6, 6, 3), 0.5, np.float32)
    f = lambda x: x.mean(axis=(1, 2, 3, 4))
    with pytest.raises(ArgumentError) as err:
        road.road(f, video, np.zeros((2, 6, 5)), key=jax.random.key(0))
    assert err.value.argument == "saliency"
    with pytest.raises(ArgumentError) as err:
        road.road(f, video, np.zeros((2, 6, 6)), key=jax.random.key(0), fractions=(0.5, 1.0))
    assert err.value.argument == "fractions"
    with pytest.raises(ArgumentError) as err:
        removal.imputation(video, np.zeros((2, 6, 6), bool), neighbours=8)
    assert err.value.argument == "neighbours"
