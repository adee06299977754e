"""Mask machinery of extremal perturbation (vidxai.masks)."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vidxai import masks as M
from vidxai.errors import ArgumentError


def loop_smooth_max(seeds, h, w, s, sigma):
    """Direct evaluation of the smooth-max formula, one pixel and one tap at a time."""
    pad, radius = 1 + math.ceil(2 * sigma / s), 1 + math.ceil(sigma / s)
    taps = 2 * radius + 1
    size = [max(s * (math.ceil(n / s) + 2 * pad - 2 * radius) - s + 1, math.floor(sigma) + n)
            for n in (h, w)]
    out = np.zeros(size)
    for uy in range(size[0]):
        for ux in range(size[1]):
            v = []
            for ky in range(taps):
                for kx in range(taps):
                    iy, ix = uy // s + ky - pad, ux // s + kx - pad
                    inside = 0 <= iy < seeds.shape[0] and 0 <= ix < seeds.shape[1]
                    d = math.hypot(uy - (sigma + s * iy), ux - (sigma + s * ix))
                    v.append((seeds[iy, ix] if inside else 0.0)
                             * math.exp(-2 * max(d / sigma - 0.5, 0) ** 2))
            v = np.array(v)
            e = np.exp(20 * (v - v.max()))
            out[uy, ux] = min(max((v * e).sum() / e.sum(), 0.0), 1.0)
    return out


def test_smooth_max_matches_loop():
    seeds = np.random.default_rng(0).uniform(size=(3, 4))
    full, crop = M.smooth_max_upsample(jnp.asarray(seeds, jnp.float32), (10, 13), step=4, sigma=5)
    ref = loop_smooth_max(seeds, 10, 13, 4, 5)
    assert full.shape == ref.shape
    np.testing.assert_allclose(np.asarray(full), ref, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(crop), np.asarray(full)[5:15, 5:18])


def test_smooth_max_extends_a_short_reference_size():
    # step 4, sigma 6: the reference size 4 * (g + 2) + 1 is one pixel short of the crop
    seeds = np.random.default_rng(2).uniform(size=(3, 3))
    full, crop = M.smooth_max_upsample(jnp.asarray(seeds, jnp.float32), (9, 11), step=4, sigma=6)
    ref = loop_smooth_max(seeds, 9, 11, 4, 6)
    np.testing.assert_allclose(np.asarray(full), ref, atol=1e-5)
    assert crop.shape == (9, 11)


@pytest.mark.parametrize("step", [2, 3, 4, 5, 7])
@pytest.mark.parametrize("sigma", [1.0, 2.5, 5.0, 6.0, 11.0, 23.0])
def test_smooth_max_geometry_holds_the_frame(step, sigma):
    for h, w in ((56, 56), (64, 40), (17, 112)):
        pad, taps, grid, out, _, tail = M.smooth_max_geometry(h, w, step, sigma)
        for n, g, o, t in zip((h, w), grid, out, tail):
            assert o >= n + math.floor(sigma)               # the crop fits
            assert o + (taps - 1) * step <= (g + 2 * pad + t) * step  # every tap has a seed


@pytest.mark.parametrize("step,sigma", [(4, 6.0), (3, 11.0), (7, 23.0)])
def test_smooth_max_crop_is_the_frame(step, sigma):
    grid = M.seed_grid_shape((56, 40), step, sigma)
    full, crop = M.smooth_max_upsample(jnp.ones(grid), (56, 40), step=step, sigma=sigma)
    assert crop.shape == (56, 40) and np.isfinite(np.asarray(full)).all()


def test_smooth_max_reference_geometry_and_ones():
    assert M.seed_grid_shape((112, 112)) == (16, 16)
    full, crop = M.smooth_max_upsample(jnp.ones((2, 16, 16)), (112, 112))
    assert full.shape == (2, 134, 134) and crop.shape == (2, 112, 112)
    crop = np.asarray(crop)
    # The soft max of the weighted taps is a weighted mean that the (<1) weights of farther
    # seeds pull slightly below 1: ~0.98 inside, ~0.86 at the crop's far corner.
    assert crop.max() <= 1.0 and crop.min() > 0.85
    assert crop[:, 5:100, 5:100].min() > 0.97
    assert np.asarray(full).min() < 0.01  # the margin fades out


def test_sorted_area_loss():
    mask = np.zeros((4, 10, 10), np.float32)
    mask.reshape(-1)[np.random.default_rng(1).permutation(400)[:40]] = 1
    assert float(M.sorted_area_loss(jnp.asarray(mask), 0.1)) == 0.0
    losses = [float(M.sorted_area_loss(jnp.asarray(mask), a)) for a in (0.1, 0.15, 0.3)]
    assert losses[0] < losses[1] < losses[2]
    assert float(M.sorted_area_loss(jnp.asarray(mask) * 0.5, 0.1)) > 0


def test_per_frame_area_loss():
    mask = np.zeros((3, 10, 10), np.float32)
    mask[0, :2] = 1   # 20%
    mask[1, :5] = 1   # 50%
    areas = jnp.asarray([0.2, 0.5, 0.0])
    assert float(M.per_frame_area_loss(jnp.asarray(mask), areas)) == 0.0
    assert float(M.per_frame_area_loss(jnp.asarray(mask), jnp.asarray([0.5, 0.2, 0.0]))) > 0


# (3, 5, 5): the t = 0 plane holds the 13-voxel disc, the t = +-1 planes their centre only
@pytest.mark.parametrize("shape,ones", [((3, 3, 3), 7), ((1, 3, 3), 5), ((1, 1, 1), 1),
                                        ((3, 5, 5), 15)])
def test_ellipsoid_kernel(shape, ones):
    k = M.ellipsoid_kernel(*shape)
    assert k.shape == shape and (k > 0).sum() == ones
    np.testing.assert_allclose(k.sum(), 1.0, rtol=1e-6)
    for axis in range(3):
        np.testing.assert_array_equal(k, np.flip(k, axis))


def test_ellipsoid_kernel_empty():
    with pytest.raises(ArgumentError, match="kernel"):
        M.ellipsoid_kernel(2, 2, 2)


def test_pyramid_endpoints():
    video = jax.random.uniform(jax.random.key(0), (2, 20, 20, 3))
    pyr = M.blur_pyramid(video)
    assert pyr.shape == (8, 2, 20, 20, 3)
    np.testing.assert_allclose(M.apply_pyramid(pyr, jnp.ones((2, 20, 20))), video, atol=1e-6)
    np.testing.assert_allclose(M.apply_pyramid(pyr, jnp.zeros((2, 20, 20))), pyr[0], atol=1e-6)
    mid = M.apply_pyramid(pyr, jnp.full((2, 20, 20), 0.5 / 7))
    np.testing.assert_allclose(mid, 0.5 * (pyr[0] + pyr[1]), atol=1e-6)
    # gradient w.r.t. the mask exists at m = 1 (where the optimisation starts)
    g = jax.grad(lambda m: M.apply_pyramid(pyr, m).sum())(jnp.ones((2, 20, 20)))
    assert np.abs(np.asarray(g)).sum() > 0


def test_kernel_smoothness_loss():
    kernel = M.ellipsoid_kernel(3, 5, 5)
    mask = np.zeros((6, 20, 20), np.float32)
    resp_all = float(M.kernel_smoothness_loss(jnp.ones((6, 20, 20)), kernel, 0.99, stride=(1, 5, 5)))
    k = float(M.kernel_top_k(0.99, (6, 20, 20), (3, 5, 5)))  # 61 of the 64 responses
    assert k == math.ceil(0.99 * 2400 / int(75 * 0.5236))
    assert resp_all == pytest.approx((64 - k) / 64, abs=1e-6)
    mask[1:4, 5:10, 5:10] = 1  # exactly one stride cell fully on
    low = float(M.kernel_smoothness_loss(jnp.asarray(mask), kernel, 0.01, stride=(1, 5, 5)))
    high = float(M.kernel_smoothness_loss(jnp.asarray(mask), kernel, 0.5, stride=(1, 5, 5)))
    assert low < high
    with pytest.raises(ArgumentError, match="kernel"):
        M.kernel_smoothness_loss(jnp.ones((2, 20, 20)), kernel, 0.1)
