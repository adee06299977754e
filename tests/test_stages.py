"""Stage-level properties: sampling, surrogates, removal, segmentation, the engine."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vidxai import removal, sampling, scoring, segment, surrogate
from helpers import toy_video


def test_shapley_kernel_full_budget_enumerates_every_coalition_with_kernel_weights():
    m = 6
    z, w = sampling.shapley_kernel(jax.random.key(0), 1000, m)
    assert z.shape == (2**m - 2, m)
    assert len({tuple(r) for r in z}) == 2**m - 2  # each proper coalition exactly once
    sizes = z.sum(1)
    kernel = (m - 1) / (np.array([math.comb(m, s) for s in sizes]) * sizes * (m - sizes))
    np.testing.assert_allclose(w, kernel / kernel.sum(), rtol=1e-6)


def test_shapley_kernel_small_budget_enumerates_edges_and_pairs_the_rest():
    m = 12
    z, w = sampling.shapley_kernel(jax.random.key(3), 100, m)
    sizes = z.sum(1)
    assert np.sum(sizes == 1) == m and np.sum(sizes == m - 1) == m  # sizes 1 and M-1 complete
    sampled = z[2 * m:]
    assert np.array_equal(sampled[0::2], ~sampled[1::2])  # complement pairs, side by side
    assert np.all((sampled.sum(1) > 0) & (sampled.sum(1) < m))
    assert w.sum() == pytest.approx(1.0, rel=1e-6) and np.all(w > 0)
    assert len(z) <= 100


def test_shapley_kernel_single_feature_has_no_rows():
    z, w = sampling.shapley_kernel(jax.random.key(0), 10, 1)
    assert z.shape == (0, 1) and w.shape == (0,)


def test_bernoulli_rate_and_determinism():
    z = sampling.bernoulli(jax.random.key(0), 4000, 50, p=0.3)
    assert z.dtype == jnp.bool_ and abs(float(z.mean()) - 0.3) < 0.01
    assert np.array_equal(z, sampling.bernoulli(jax.random.key(0), 4000, 50, p=0.3))
    assert np.array_equal(sampling.leave_one_out(3), ~np.eye(3, dtype=bool))
    assert np.array_equal(sampling.keep_one(3), np.eye(3, dtype=bool))


def test_ridge_matches_closed_form_with_unpenalised_intercept():
    rng = np.random.RandomState(0)
    z = rng.rand(50, 4) > 0.5
    y = rng.randn(50)
    sw = rng.rand(50) + 0.1
    coef, intercept = surrogate.ridge(z, y, sw, alpha=2.0)
    # direct solution of min sum w (y - b - z c)^2 + 2 |c|^2
    x = np.hstack([np.ones((50, 1)), z.astype(float)])
    reg = np.diag([0.0, 2.0, 2.0, 2.0, 2.0])
    beta = np.linalg.solve(x.T @ (sw[:, None] * x) + reg, x.T @ (sw * y))
    np.testing.assert_allclose(coef, beta[1:], rtol=1e-4, atol=1e-5)
    assert float(intercept) == pytest.approx(beta[0], rel=1e-4, abs=1e-5)


def test_lime_kernel_uses_cosine_distance_to_the_full_coalition():
    z = np.array([[1, 1, 1, 1], [1, 0, 0, 0], [0, 0, 0, 0], [1, 1, 0, 0]], bool)
    ones = np.ones(4)
    cos = [1 - (r @ ones) / (np.linalg.norm(r) * 2) if r.any() else 1.0 for r in z.astype(float)]
    expected = np.sqrt(np.exp(-np.square(cos) / 0.25**2))
    np.testing.assert_allclose(surrogate.lime_kernel(z, 0.25), expected, rtol=1e-5)


def test_kept_mean_and_never_kept_feature():
    z = np.array([[1, 0], [1, 0], [0, 0]], bool)
    np.testing.assert_allclose(surrogate.kept_mean(z, jnp.array([1.0, 3.0, 5.0])), [2.0, 0.0])


def test_compose_endpoints_and_mean_color():
    video = toy_video((2, 6, 6))
    seg = segment.grid(video, (1, 2, 1))
    removed = removal.mean_color().removed(video, seg)
    for j in range(seg.n):
        sel = seg.labels == j
        np.testing.assert_allclose(np.asarray(removed)[sel], video[sel].mean(0)[None].repeat(sel.sum(), 0),
                                   rtol=1e-5)
    ones, zeros = jnp.ones((2, 6, 6)), jnp.zeros((2, 6, 6))
    np.testing.assert_allclose(removal.compose(video, removed, ones), video)
    np.testing.assert_allclose(removal.compose(video, removed, zeros), removed)


def test_blur_keeps_constant_and_soft_edges_keep_full_mask():
    flat = np.full((4, 10, 10, 3), 0.3, np.float32)
    np.testing.assert_allclose(removal.blur(3.0).removed(flat), flat, rtol=1e-5)
    np.testing.assert_allclose(removal.soften(jnp.ones((1, 4, 10, 10)), 3.5), 1.0, rtol=1e-5)
    edge = np.zeros((1, 1, 20, 20), np.float32)
    edge[..., 10:] = 1
    soft = np.asarray(removal.soften(jnp.asarray(edge), 2.0))
    assert 0.3 < soft[0, 0, 5, 10] < 0.7 and soft[0, 0, 5, 0] < 1e-3  # blended only at the edge
    assert removal.gray().removed(flat).mean() == pytest.approx(0.5)


def test_segmentations():
    g = segment.grid((5, 7, 9), (2, 3, 4))
    assert g.n == 24 and set(np.unique(g.labels)) == set(range(24))
    assert segment.frames((3, 4, 4)).labels[2].max() == 2
    video = np.zeros((4, 16, 16, 3), np.float32)
    video[:, :, 8:] = [0.9, 0.1, 0.1]  # two colour halves
    s = segment.slic(video, n_segments=8, compactness=10)
    assert set(np.unique(s.labels)) == set(range(s.n))
    left, right = set(np.unique(s.labels[:, :, :8])), set(np.unique(s.labels[:, :, 8:]))
    assert not left & right  # no supervoxel crosses the colour edge


def test_segmentation_is_a_private_copy():
    labels = np.zeros((1, 2, 2), np.int32)
    labels[0, 0, 0] = 1
    seg = segment.Segmentation(labels, 2)
    labels[0, 0, 0] = 0
    assert seg.labels[0, 0, 0] == 1 and not seg.labels.flags.writeable


def test_engine_compiles_one_step_for_all_chunks():
    video = toy_video((2, 6, 6))
    seg = segment.grid(video, (1, 2, 2))
    traces = []

    def f(x):
        traces.append(x.shape)
        return x.mean(axis=(1, 2, 3, 4))

    z = np.random.RandomState(0).rand(23, 4) > 0.5
    out = scoring.score_coalitions(f, video, seg, z, batch_size=5)
    assert out.shape == (23,)
    assert all(s[0] == 5 for s in traces) and len(traces) <= 2  # eval_shape + one jit trace


def test_score_selects_class_probability_and_logit():
    model = lambda x: jnp.stack([x.mean(axis=(1, 2, 3, 4)), jnp.zeros(x.shape[0])], 1)  # noqa: E731
    x = jnp.full((2, 1, 2, 2, 3), 0.5)
    np.testing.assert_allclose(scoring.score(model, 0, "logit")(x), [0.5, 0.5])
    np.testing.assert_allclose(scoring.score(model, 0)(x), jax.nn.sigmoid(0.5) * np.ones(2), rtol=1e-6)
    assert scoring.score(model, 1).target == 1


def _rise_reference(bits, shifts, dims, shift):
    """RISE upsampling written directly with jax.image.resize and a crop (Petsiuk et al.)."""
    cells = bits.shape[1:]
    cell = tuple(-(-d // c) for d, c in zip(dims, cells))
    out = []
    for b, s in zip(np.asarray(bits, np.float32), np.asarray(shifts)):
        if not shift:
            out.append(jax.image.resize(b, dims, "linear"))
            continue
        big = jax.image.resize(np.pad(b, 1, mode="edge")[1:, 1:, 1:],
                               tuple(k * (c + 1) for k, c in zip(cell, cells)), "linear")
        o = [int(np.floor(si * k)) for si, k in zip(s, cell)]
        out.append(big[o[0]:o[0] + dims[0], o[1]:o[1] + dims[1], o[2]:o[2] + dims[2]])
    return np.stack(out)


@pytest.mark.parametrize("dims, cells", [((16, 112, 112), (4, 7, 7)), ((5, 13, 9), (2, 3, 4))])
@pytest.mark.parametrize("shift", [True, False])
def test_rise_mask_equals_resize_and_crop(dims, cells, shift):
    bits = np.asarray(jax.random.bernoulli(jax.random.key(0), 0.5, (3,) + cells))
    shifts = np.asarray(jax.random.uniform(jax.random.key(1), (3, 3)))
    got = removal.rise_mask((jnp.asarray(bits), jnp.asarray(shifts)), None, (dims, shift))
    np.testing.assert_allclose(got, _rise_reference(bits, shifts, dims, shift), atol=1e-6)


def test_progress_bar_respects_tqdm_disable(monkeypatch):
    from vidxai.scoring import bar_disabled
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    assert bar_disabled(False) and not bar_disabled(True)
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert bar_disabled(True)
    monkeypatch.setenv("TQDM_DISABLE", "0")
    assert not bar_disabled(True)


# ------------------------------------------------- boundaries found by the mutation run
def test_ridge_accepts_any_non_negative_alpha():
    """A small alpha (0 < alpha < 1) is valid and enters the fit as given (catches: a lower
    bound of 1 on alpha, alpha ignored)."""
    rng = np.random.RandomState(1)
    z, y = rng.rand(40, 3) > 0.5, rng.randn(40)
    coef, intercept = surrogate.ridge(z, y, alpha=0.5)
    x = np.hstack([np.ones((40, 1)), z.astype(float)])
    beta = np.linalg.solve(x.T @ x + np.diag([0.0, 0.5, 0.5, 0.5]), x.T @ y)
    np.testing.assert_allclose(coef, beta[1:], rtol=1e-4, atol=1e-5)


def test_single_feature_kernel_has_typed_empty_outputs():
    z, w = sampling.shapley_kernel(jax.random.key(0), 5, 1)
    assert z.dtype == bool and w.dtype == np.float32


def test_mean_color_keeps_its_soft_edges():
    """catches: edge_sigma dropped when mean_color builds its Removal."""
    assert removal.mean_color(edge_sigma=2.0).edge_sigma == 2.0
    assert removal.mean_color().edge_sigma is None
