"""Mask machinery of extremal perturbation (vidxai.masks)."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vidxai import masks as M
from vidxai.errors import ArgumentError


def loop_smooth_max(seeds, size, s, sigma):
    """Direct evaluation of the smooth-max formula, one pixel and one tap at a time, on an
    output of the given (hard-coded by the caller) ``size``."""
    pad, radius = 1 + math.ceil(2 * sigma / s), 1 + math.ceil(sigma / s)
    taps = 2 * radius + 1
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
    """P = 1 + ceil(10/4) = 4, R = 1 + ceil(5/4) = 3: full size 4 * (g + 8 - 6) - 3, i.e.
    17 x 21 for the 3 x 4 seeds of a 10 x 13 frame; crop [5:15, 5:18].
    catches: wrong output size, tap weights, seed padding or crop offset."""
    seeds = np.random.default_rng(0).uniform(size=(3, 4))
    full, crop = M.smooth_max_upsample(jnp.asarray(seeds, jnp.float32), (10, 13), step=4, sigma=5)
    assert full.shape == (17, 21)
    ref = loop_smooth_max(seeds, (17, 21), 4, 5)
    np.testing.assert_allclose(np.asarray(full), ref, atol=1e-5)
    np.testing.assert_allclose(np.asarray(crop), ref[5:15, 5:18], atol=1e-5)


def test_smooth_max_extends_a_short_reference_size():
    """step 4, sigma 6 (P = 4, R = 3): the reference size 4 * (g + 1) + 1 = 17 for g = 3
    holds the crop [6:15] of 9 rows but is one pixel short of [6:18] for 12 columns, so the
    columns are extended to 18 (zero seeds beyond the grid)."""
    seeds = np.random.default_rng(2).uniform(size=(3, 3))
    full, crop = M.smooth_max_upsample(jnp.asarray(seeds, jnp.float32), (9, 12), step=4, sigma=6)
    assert full.shape == (17, 18) and crop.shape == (9, 12)
    ref = loop_smooth_max(seeds, (17, 18), 4, 6)
    np.testing.assert_allclose(np.asarray(full), ref, atol=1e-5)
    np.testing.assert_allclose(np.asarray(crop), ref[6:15, 6:18], atol=1e-5)


def stacked_smooth_max(seeds, size, s, sigma):
    """The same formula, vectorised over pixels and taps with jnp (differentiable by
    autodiff), on an output of the given ``size``: the reference for the generator's
    hand-written gradient."""
    pad, radius = 1 + math.ceil(2 * sigma / s), 1 + math.ceil(sigma / s)
    taps = np.arange(2 * radius + 1)
    idx = [np.arange(n)[:, None] // s + taps[None, :] - pad for n in size]   # (n, taps)
    off = [np.arange(n)[:, None] - (sigma + s * i) for n, i in zip(size, idx)]
    dist = np.sqrt(off[0][:, None, :, None] ** 2 + off[1][None, :, None, :] ** 2)
    weight = np.exp(-2 * np.maximum(dist / sigma - 0.5, 0) ** 2)        # (sy, sx, ky, kx)
    inside = ((idx[0] >= 0) & (idx[0] < seeds.shape[-2]))[:, None, :, None] & (
        (idx[1] >= 0) & (idx[1] < seeds.shape[-1]))[None, :, None, :]
    iy = np.clip(idx[0], 0, seeds.shape[-2] - 1)[:, None, :, None]
    ix = np.clip(idx[1], 0, seeds.shape[-1] - 1)[None, :, None, :]
    vals = seeds[..., iy, ix] * jnp.asarray(weight * inside, seeds.dtype)
    flat = vals.reshape(vals.shape[:-2] + (-1,))
    return jnp.clip(jnp.sum(flat * jax.nn.softmax(20 * flat, axis=-1), axis=-1), 0, 1)


# full sizes by hand: max(step * (g + 2P - 2R) - step + 1, floor(sigma) + n) per axis
@pytest.mark.parametrize("shape,step,sigma,grid,size", [
    ((10, 13), 4, 5.0, (3, 4), (17, 21)), ((20, 27), 7, 11.0, (3, 4), (43, 50)),
    ((9, 12), 4, 6.0, (3, 3), (17, 18))])
def test_smooth_max_gradient_matches_autodiff(shape, step, sigma, grid, size):
    assert M.seed_grid_shape(shape, step, sigma) == grid
    seeds = jax.random.uniform(jax.random.key(3), (2, 3) + grid)
    ours = M.smooth_max_upsample(seeds, shape, step=step, sigma=sigma)[0]
    ref = stacked_smooth_max(seeds, size, step, sigma)
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    probe = jax.random.normal(jax.random.key(4), ref.shape)
    g_ours = jax.grad(lambda x: jnp.sum(
        M.smooth_max_upsample(x, shape, step=step, sigma=sigma)[0] * probe))(seeds)
    g_ref = jax.grad(lambda x: jnp.sum(stacked_smooth_max(x, size, step, sigma) * probe))(seeds)
    assert np.abs(np.asarray(g_ref)).max() > 0.1
    np.testing.assert_allclose(g_ours, g_ref, rtol=1e-4, atol=1e-4)


def test_smooth_max_gradient_under_vmap_and_jit():
    seeds = jax.random.uniform(jax.random.key(5), (3, 2, 3, 4))
    probe = jax.random.normal(jax.random.key(6), (3, 2, 17, 21))
    fn = lambda x, p: jnp.sum(M.smooth_max_upsample(x, (10, 13), step=4, sigma=5)[0] * p)
    batched = jax.jit(jax.vmap(jax.grad(fn)))(seeds, probe)
    one_by_one = np.stack([jax.grad(fn)(s, p) for s, p in zip(seeds, probe)])
    np.testing.assert_allclose(batched, one_by_one, rtol=1e-5, atol=1e-6)


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
    """REFERENCE.md's worked case: 112x112, step 7, sigma 11 -> 16x16 seeds, P = 5,
    7x7 = 49 taps, 134x134 full mask."""
    assert M.seed_grid_shape((112, 112)) == (16, 16)
    pad, taps, grid, out, weight, _ = M.smooth_max_geometry(112, 112, 7, 11.0)
    assert (pad, taps, grid, out) == (5, 7, (16, 16), (134, 134))
    assert weight.shape == (7, 7, 7, 7)      # (taps, taps, step, step)
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
    # k = ceil(0.99 * 2400 / int(75 * 0.5236)) = ceil(2376 / 39) = 61 of the 64 responses
    assert float(M.kernel_top_k(0.99, (6, 20, 20), (3, 5, 5))) == 61
    assert resp_all == pytest.approx(3 / 64, abs=1e-6)
    mask[1:4, 5:10, 5:10] = 1  # exactly one stride cell fully on
    low = float(M.kernel_smoothness_loss(jnp.asarray(mask), kernel, 0.01, stride=(1, 5, 5)))
    high = float(M.kernel_smoothness_loss(jnp.asarray(mask), kernel, 0.5, stride=(1, 5, 5)))
    assert low < high
    with pytest.raises(ArgumentError, match="kernel"):
        M.kernel_smoothness_loss(jnp.ones((2, 20, 20)), kernel, 0.1)


# STEP at 112 px, 16 frames, T_K = 8: int(8 * 121 * 0.5236) = int(506.84) = 506 and
# k = ceil(v * 200704 / 506). 0.2 and 0.15 fail with round(); 0.5 fails without the int().
@pytest.mark.parametrize("area,k", [(0.05, 20), (0.1, 40), (0.15, 60), (0.2, 80), (0.5, 199)])
def test_kernel_top_k_reference_numbers(area, k):
    assert float(M.kernel_top_k(area, (16, 112, 112), (8, 11, 11))) == k


@pytest.mark.parametrize("n", [1, 7, 1000])
def test_kth_largest_matches_sort(n):
    rng = np.random.default_rng(n)
    values = rng.normal(size=(3, n)).astype(np.float32)
    values[1] = np.round(values[1])            # ties
    values[2, : n // 2] = 0.0                  # +0.0 and -0.0 together
    values[2, : n // 4] = -0.0
    for k in sorted({1, max(n // 3, 1), n}):
        got = M.kth_largest(jnp.asarray(values), jnp.full((3,), k))
        np.testing.assert_array_equal(got, np.sort(values, axis=-1)[:, n - k])


def sorted_loss(values, ones):
    ref = (np.arange(values.size) >= values.size - ones).astype(np.float64)
    return np.mean((np.sort(values.ravel()) - ref) ** 2)


@pytest.mark.parametrize("area", [0.0, 0.1, 0.37, 1.0])
def test_sorted_area_loss_equals_the_sorted_definition(area):
    rng = np.random.default_rng(7)
    mask = np.clip(rng.normal(0.3, 0.4, size=(4, 9, 11)), 0, 1).astype(np.float32)  # ties at 0, 1
    ones = round(area * mask.size)
    got = float(M.sorted_area_loss(jnp.asarray(mask), area))
    assert got == pytest.approx(sorted_loss(mask, ones), rel=1e-5, abs=1e-7)
    grad = np.asarray(jax.grad(M.sorted_area_loss)(jnp.asarray(mask), area))
    # gradient 2 (x - t) / n: t is 1 above the threshold, 0 below, a shared fraction on ties
    template = mask - grad * mask.size / 2
    assert template.min() >= -1e-5 and template.max() <= 1 + 1e-5
    np.testing.assert_allclose(template.sum(), ones, atol=1e-3)
    order = np.argsort(mask.ravel())
    assert np.all(np.diff(template.ravel()[order]) >= -1e-5)   # monotone in the value


def test_per_frame_area_loss_equals_the_sorted_definition():
    rng = np.random.default_rng(8)
    mask = rng.uniform(size=(5, 6, 7)).astype(np.float32)
    areas = np.array([0.0, 0.1, 0.5, 0.9, 1.0], np.float32)
    want = np.mean([sorted_loss(m, round(a * m.size)) for m, a in zip(mask, areas)])
    got = float(M.per_frame_area_loss(jnp.asarray(mask), jnp.asarray(areas)))
    assert got == pytest.approx(want, rel=1e-5)


def reference_pyramid(pyramid, mask):
    pos = jnp.clip(mask, 0, 1) * (pyramid.shape[0] - 1)
    k = jnp.minimum(jnp.floor(jax.lax.stop_gradient(pos)), pyramid.shape[0] - 2).astype(int)
    frac = (pos - k)[..., None]
    lo = jnp.take_along_axis(pyramid, k[None, ..., None], axis=0)[0]
    hi = jnp.take_along_axis(pyramid, k[None, ..., None] + 1, axis=0)[0]
    return lo + frac * (hi - lo)


def test_apply_pyramid_gradients_match_autodiff():
    pyr = M.blur_pyramid(jax.random.uniform(jax.random.key(0), (2, 12, 12, 3)))
    mask = jax.random.uniform(jax.random.key(1), (2, 12, 12))
    probe = jax.random.normal(jax.random.key(2), (2, 12, 12, 3))
    loss = lambda fn: (lambda p, m: jnp.sum(fn(p, m) * probe))
    ours = jax.grad(loss(M.apply_pyramid), argnums=(0, 1))(pyr, mask)
    ref = jax.grad(loss(reference_pyramid), argnums=(0, 1))(pyr, mask)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    # a batch of masks over one pyramid: the pyramid's gradient sums over the batch
    masks = jnp.stack([mask, 1 - mask])
    g = jax.grad(lambda p: jnp.sum(M.apply_pyramid(p, masks)))(pyr)
    g_ref = sum(jax.grad(lambda p: jnp.sum(reference_pyramid(p, m)))(pyr) for m in masks)
    np.testing.assert_allclose(g, g_ref, rtol=1e-5, atol=1e-5)
    # outside [0, 1] the mask gets no gradient; at 0 and 1 it does (as torch's clamp)
    edge = jnp.asarray([[-0.5, 0.0], [1.0, 1.5]])[None]
    g_edge = jax.grad(lambda m: jnp.sum(M.apply_pyramid(pyr[:, :1, :2, :2], m)))(edge)
    assert g_edge[0, 0, 0] == 0 and g_edge[0, 1, 1] == 0 and g_edge[0, 0, 1] != 0


@pytest.mark.parametrize("stride", [(1, 11, 11), (2, 5, 5), (1, 3, 4)])
def test_kernel_convolution_matches_a_3d_convolution(stride):
    mask = jax.random.uniform(jax.random.key(9), (10, 30, 33))
    kernel = jnp.asarray(M.ellipsoid_kernel(4, 11, 11))
    want = jax.lax.conv_general_dilated(mask[None, None], kernel[None, None], stride, "VALID")
    np.testing.assert_allclose(M._strided_conv3d(mask, kernel, stride), want[0, 0], atol=1e-6)


def test_blur_pyramid_blurs_each_frame_over_height_and_width_only():
    # catches: the pyramid's Gaussian run over time (or over the channels) instead of H and W;
    # reference: scipy's 2-D Gaussian per frame and channel, zero padding, same support
    import scipy.ndimage as ndi
    video = np.zeros((3, 15, 15, 3), np.float32)
    video[1, 7, 7, 0] = 1.0
    pyr = np.asarray(M.blur_pyramid(jnp.asarray(video), levels=3, max_sigma=2.0))
    assert np.all(pyr[:, 0] == 0) and np.all(pyr[:, 2] == 0)      # frames stay apart
    assert np.all(pyr[:, ..., 1:] == 0)                            # channels stay apart
    for level, sigma in ((0, 2.0), (1, 1.0)):
        ref = ndi.gaussian_filter(video[1, :, :, 0], sigma, mode="constant",
                                  radius=int(np.ceil(4 * sigma)))
        np.testing.assert_allclose(pyr[level, 1, :, :, 0], ref, atol=1e-6)
    np.testing.assert_array_equal(pyr[2], video)                  # the last level: the video


def test_generator_in_frame_chunks_equals_one_piece(monkeypatch):
    # catches: frames reordered or dropped when long videos are generated in chunks of
    # frames (the cache-sized path that small test videos never take on their own)
    seeds = jax.random.uniform(jax.random.key(3), (6,) + M.seed_grid_shape((14, 14), 7, 5.0))
    whole = M.smooth_max_upsample.__wrapped__(seeds, (14, 14), 7, 5.0)
    # the generator's working pixels per frame: the full output rounded up to whole blocks
    pixels = math.prod(math.ceil(n / 7) * 7 for n in whole[0].shape[1:])
    monkeypatch.setattr(M, "CHUNK_PIXELS", 2 * pixels)       # 3 chunks of 2 frames
    chunked = M.smooth_max_upsample.__wrapped__(seeds, (14, 14), 7, 5.0)
    for a, b in zip(whole, chunked):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
    # and each frame is generated from its own seeds: frame 4 alone gives frame 4
    alone = M.smooth_max_upsample.__wrapped__(seeds[4:5], (14, 14), 7, 5.0)
    np.testing.assert_allclose(np.asarray(chunked[1][4]), np.asarray(alone[1][0]), atol=1e-6)
