"""Frame discarding (paper 003, "Play Fair: Frame Attributions in Video Models", Fig. 3)."""
import jax
import numpy as np
import pytest

from vidxai.errors import ArgumentError
from vidxai.explain.shapley.value_models import frame_average_value
from vidxai.metrics import frames

PHI = np.array([0.3, 2.0, -1.0, 0.5, 1.2])


def _mean_of_kept(order_dropped, k):
    kept = [i for i in range(len(PHI)) if i not in list(order_dropped[:k])]
    return PHI[kept].mean()


def test_curves_equal_the_mean_of_the_kept_frames():
    """catches: frames dropped in the wrong order (descending must drop the largest total
    first), an off-by-one in k, or the fixed orders of the paper mis-built (centre-out from the
    centre frame, edges-in alternating ends): a frame-averaging model scores the mean of the
    kept frames' values, computed here independently."""
    value = frame_average_value(PHI[:, None])
    res = frames.discarding(value, PHI, target=0, orders=(
        "descending", "ascending", "centre_out", "edges_in", "uniform"))
    by_hand = {"descending": [1, 4, 3, 0, 2], "ascending": [2, 0, 3, 4, 1],
               "centre_out": [2, 3, 1, 4, 0], "edges_in": [0, 4, 1, 3, 2]}
    for order, dropped in by_hand.items():
        expected = [_mean_of_kept(dropped, k) for k in range(5)]
        np.testing.assert_allclose(res.scores[order], expected, rtol=1e-6)
    np.testing.assert_allclose(res.scores["uniform"][2], PHI[[0, 2, 4]].mean(), rtol=1e-6)
    assert np.all(res.scores["descending"] <= res.scores["ascending"] + 1e-9)
    assert res.area("descending") < res.area("ascending")
    assert len(res.rows()) == 5 * 5


def test_map_totals_and_random_order():
    """catches: a map ranked per voxel instead of by its frame totals, or random curves not
    fixed by the key (nor averaged: with every frame worth the same, any order is flat)."""
    sal = np.zeros((4, 3, 3))
    sal[2] = 1.0
    assert list(frames.drop_order("descending", frames.frame_totals(sal)))[0] == 2
    flat = frame_average_value(np.ones((4, 1)))
    a = frames.discarding(flat, sal, target=0, orders=("random",), key=jax.random.key(0))
    np.testing.assert_allclose(a.scores["random"], 1.0)
    value = frame_average_value(np.arange(4.0)[:, None])
    b = frames.discarding(value, sal, target=0, orders=("random",), key=jax.random.key(1))
    c = frames.discarding(value, sal, target=0, orders=("random",), key=jax.random.key(1))
    assert np.array_equal(b.scores["random"], c.scores["random"])
    assert b.scores["random"][0] == pytest.approx(1.5)


def test_subset_value_from_a_variable_length_model():
    """catches: a subset passed with the dropped frames still in it (the model must see only
    the kept frames, in their order)."""
    video = np.stack([np.full((2, 2, 3), v, np.float32) for v in (0.1, 0.9, 0.5)])
    seen = []

    def score_frames(clip):
        seen.append(clip.shape[1])
        return clip.mean(axis=(1, 2, 3, 4))

    value = frames.subset_value(score_frames, video)
    res = frames.discarding(value, np.array([1.0, 3.0, 2.0]), orders=("descending",))
    np.testing.assert_allclose(res.scores["descending"], [0.5, 0.3, 0.1], rtol=1e-6)
    assert seen == [3, 2, 1]


def test_bad_input():
    """catches: (N, K) outputs read without a target, or a map of the wrong layout accepted."""
    value = frame_average_value(np.ones((3, 4)))
    with pytest.raises(ArgumentError) as err:
        frames.discarding(value, np.ones(3), orders=("descending",))
    assert err.value.argument == "target"
    with pytest.raises(ArgumentError) as err:
        frames.discarding(value, np.ones((3, 2)), target=0)
    assert err.value.argument == "attribution"
    with pytest.raises(ArgumentError) as err:
        frames.discarding(value, np.ones(3), target=0, orders=("sideways",))
    assert err.value.argument == "orders"
