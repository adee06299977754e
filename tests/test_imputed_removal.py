"""ROAD's imputation as a removal (``removal.imputed``): every removal-based method and curve
fills each perturbed video's removed voxels by solving that very mask's system."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vidxai import explain, metrics, removal
from vidxai.errors import ArgumentError, ArgumentTypeError
from vidxai.removal import segment_mask
from vidxai.scoring import score_coalitions
from vidxai.segment import Segmentation

SHAPE = (4, 16, 16, 3)


def _linear_video():
    tt, hh, ww = np.meshgrid(*(np.arange(s) for s in SHAPE[:3]), indexing="ij")
    base = 0.1 + 0.05 * tt + 0.03 * hh + 0.02 * ww
    return (base[..., None] * np.array([1.0, 0.7, 0.4])).astype(np.float32)


def _blocks():
    """Segment 0: the border shell and the rest; segments 1-3: interior blocks that touch
    kept voxels on every side (so a linear video is recovered exactly inside them)."""
    labels = np.zeros(SHAPE[:3], np.int32)
    labels[1:3, 2:6, 2:6] = 1
    labels[1:3, 8:13, 3:7] = 2
    labels[2:3, 4:9, 9:14] = 3
    return Segmentation(labels, 4)


def _linear_score():
    w = np.random.default_rng(3).normal(size=SHAPE).astype(np.float32)
    return lambda x: jnp.sum(x * w, axis=(1, 2, 3, 4))


def test_a_linear_video_comes_back_so_interior_segments_get_no_credit():
    """catches: the engine composing with a fill that ignores the mask (black, the start
    value) or solving for the kept voxels instead of the removed ones: a video linear in
    t, h, w is the mean of its neighbours, so removing an interior segment changes nothing
    and LOCO gives it 0, while black removal does not."""
    video, seg, f = _linear_video(), _blocks(), _linear_score()
    imputed = explain.loco(f, video, seg, removal=removal.imputed(noise=0.0, tol=1e-6))
    np.testing.assert_allclose(imputed.weights[1:], 0.0, atol=2e-4)
    black = explain.loco(f, video, seg)
    assert np.abs(black.weights[1:]).min() > 0.05
    assert abs(imputed.weights[0]) > 1e-3          # the border shell is not linear-recoverable
    assert imputed.meta["removal"] == "imputed(6)"


def test_each_coalition_is_scored_on_its_own_imputation():
    """catches: one solve shared by the chunk, the mask's soft / hard threshold inverted, or
    rows mixed up: every row's score equals f on removal.imputation of that row's mask."""
    rng = np.random.default_rng(0)
    video = rng.random(SHAPE).astype(np.float32)
    seg, f = _blocks(), _linear_score()
    z = np.array([[1, 0, 1, 1], [1, 1, 0, 0], [0, 1, 1, 1], [1, 1, 1, 1], [0, 0, 0, 0]], bool)
    got = score_coalitions(f, video, seg, z, removal=removal.imputed(noise=0.0, tol=1e-6),
                           batch_size=2)
    masks = np.asarray(segment_mask(jnp.asarray(z), jnp.asarray(seg.labels))) < 0.5
    want = [float(f(removal.imputation(video, m, noise=0.0, tol=1e-6).video[None])[0])
            for m in masks]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert got[3] == pytest.approx(float(f(jnp.asarray(video)[None])[0]), abs=1e-4)
    grey = float(f(jnp.full((1,) + SHAPE, 0.5))[0])
    assert got[4] == pytest.approx(grey, abs=1e-4)     # nothing kept: the documented 0.5


def test_noise_follows_the_coalition_and_the_key_not_the_chunking():
    """catches: noise drawn per row position (then a duplicated coalition scores twice
    differently and results depend on batch_size), noise ignored, or the key unused."""
    video = np.random.default_rng(1).random(SHAPE).astype(np.float32)
    seg, f = _blocks(), _linear_score()
    z = np.array([[1, 0, 1, 1], [0, 1, 1, 0], [1, 0, 1, 1], [1, 1, 0, 1]], bool)
    noisy = removal.imputed(key=jax.random.key(5))
    a = score_coalitions(f, video, seg, z, removal=noisy, batch_size=3)
    b = score_coalitions(f, video, seg, z, removal=noisy, batch_size=1)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
    assert a[0] == pytest.approx(a[2], abs=1e-5)
    clean = score_coalitions(f, video, seg, z, removal=removal.imputed(noise=0.0))
    other = score_coalitions(f, video, seg, z, removal=removal.imputed(key=jax.random.key(6)))
    assert np.all(np.abs(a - clean) > 1e-4) and np.all(np.abs(a - other) > 1e-4)
    assert np.all(np.abs(a - clean) < 0.5)             # small: noise 0.01 on a few voxels


def test_curves_take_the_imputed_removal():
    """catches: the curves' removed state built once (a fixed video) instead of per step:
    insertion starts at the documented grey (nothing kept) and ends at f(x)."""
    video = np.random.default_rng(2).random(SHAPE).astype(np.float32)
    f = _linear_score()
    saliency = np.random.default_rng(4).random(SHAPE[:3]).astype(np.float32)
    curve = metrics.insertion(f, video, saliency, steps=4,
                              removed=removal.imputed(noise=0.0, tol=1e-6))
    scores = np.asarray(curve.scores)
    assert scores[0] == pytest.approx(float(f(jnp.full((1,) + SHAPE, 0.5))[0]), abs=1e-4)
    assert scores[-1] == pytest.approx(float(f(jnp.asarray(video)[None])[0]), abs=1e-4)
    assert np.all(np.isfinite(scores)) and len(np.unique(np.round(scores, 4))) > 2


def test_soft_masks_are_blended_over_the_imputation():
    """catches: RISE's soft masks breaking the fill (NaN, or the solve seeing no kept voxel)."""
    video = np.random.default_rng(3).random(SHAPE).astype(np.float32)
    e = explain.rise(_linear_score(), video, key=jax.random.key(0), n_samples=8, cells=(2, 4, 4),
                     removal=removal.imputed())
    assert np.all(np.isfinite(e.map)) and np.ptp(e.map) > 0


@pytest.mark.parametrize("kwargs,error,name", [
    ({"neighbours": 8}, ArgumentError, "neighbours"),
    ({"noise": -0.1}, ArgumentError, "noise"),
    ({"tol": 0.0}, ArgumentError, "tol"),
    ({"key": "seed"}, ArgumentTypeError, "key"),
])
def test_bad_settings_name_the_argument(kwargs, error, name):
    with pytest.raises(error) as info:
        removal.imputed(**kwargs)
    assert str(info.value).startswith(name)
