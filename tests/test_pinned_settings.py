"""Pinned paper settings: SLIC supervoxels with paper 001's settings, and the smooth-max mask
generator's values (Fong et al. 2019, as STEP uses it, paper 004).

References are written here from the definitions (REFERENCE.md), never taken from the code
under test: skimage's own ``slic`` called with the paper's settings, frames-spanned counts,
and the softmax bounds of the smooth max.
"""
import math

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from vidxai import masks as M
from vidxai import segment
from vidxai.errors import ArgumentTypeError

T, SIDE = 16, 24          # 16 frames: SLIC's regular seed grid has 3 layers in time at 48 segments


def smooth_frame(seed: int, margin: int = 16) -> np.ndarray:
    """A smooth random RGB frame of (SIDE + margin)^2 pixels in [0, 1] (no flat regions, so
    colour distances never tie)."""
    rng = np.random.default_rng(seed)
    f = gaussian_filter(rng.random((SIDE + margin, SIDE + margin, 3)), (2, 2, 0), mode="wrap")
    return ((f - f.min()) / (f.max() - f.min())).astype(np.float32)


def moving_clip(seed: int, side: int = SIDE) -> np.ndarray:
    """The smooth frame panned right 1 px and down 0.5 px per frame: a time-varying clip."""
    f = smooth_frame(seed, margin=16 + side - SIDE)
    return np.stack([f[t // 2:t // 2 + side, t:t + side] for t in range(T)])


def frames_spanned(seg) -> np.ndarray:
    """Per supervoxel, the number of distinct frames it occupies."""
    t = np.broadcast_to(np.arange(seg.shape[0])[:, None, None], seg.shape).ravel()
    hits = np.zeros((seg.n, seg.shape[0]), bool)
    hits[seg.labels.ravel(), t] = True
    return hits.sum(1)


# ---------------------------------------------------------------------------- SLIC (paper 001)
def test_slic_defaults_are_paper_001s_settings():
    """Default ``segment.slic(video)`` equals skimage's SLIC called with paper 001's code
    settings (200 segments, compactness 20, spacing (0.2, 1, 1), start label 0).
    catches: a changed default n_segments, compactness or spacing, or spacing passed in the
    wrong axis order."""
    from skimage.segmentation import slic as skimage_slic

    video = moving_clip(0, side=48)
    ours = segment.slic(video)
    ref = skimage_slic(video, n_segments=200, compactness=20, spacing=np.array([0.2, 1.0, 1.0]),
                       channel_axis=-1, start_label=0)
    ref = np.unique(ref, return_inverse=True)[1].reshape(ref.shape)
    np.testing.assert_array_equal(ours.labels, ref)
    other = skimage_slic(video, n_segments=200, compactness=20, spacing=np.array([1.0, 1.0, 0.2]),
                         channel_axis=-1, start_label=0)
    assert not np.array_equal(ref, other)   # the axis order really matters on this clip


def test_slic_records_its_settings_in_info():
    """``info`` names the segmenter and every setting used, extra skimage options included,
    and is the segmentation's own copy.
    catches: settings not recorded, the requested count replaced by the count obtained, or
    the caller's dict aliased."""
    video = moving_clip(1)
    seg = segment.slic(video, n_segments=48)
    assert seg.info == {"segmenter": "slic", "n_segments": 48, "compactness": 20.0,
                        "spacing": [0.2, 1.0, 1.0], "options": {}}
    seg = segment.slic(video, n_segments=30, compactness=5, spacing=(1, 1, 1), max_num_iter=4)
    assert seg.info == {"segmenter": "slic", "n_segments": 30, "compactness": 5.0,
                        "spacing": [1.0, 1.0, 1.0], "options": {"max_num_iter": 4}}
    mine = {"note": 1}
    built = segment.Segmentation(seg.labels, seg.n, info=mine)
    mine["note"] = 2
    assert built.info == {"note": 1}
    assert segment.grid(video, (2, 2, 2)).info == {}
    with pytest.raises(ArgumentTypeError, match="^info:"):
        segment.Segmentation(seg.labels, seg.n, info=[("a", 1)])


def test_slic_static_clip_supervoxels_span_every_frame():
    """One frame repeated 16 times: with paper 001's cheap temporal distance (spacing 0.2)
    every supervoxel runs through all 16 frames, while equal spacing (1, 1, 1) leaves some
    confined to a slab of frames (its 3 seed layers in time stay apart).
    catches: the temporal spacing dropped, set to 1 or applied to a spatial axis."""
    for seed in range(3):
        static = np.repeat(smooth_frame(seed)[None, :SIDE, :SIDE], T, axis=0)
        paper = segment.slic(static, n_segments=48)
        assert frames_spanned(paper).min() == T
        equal = segment.slic(static, n_segments=48, spacing=(1, 1, 1))
        assert frames_spanned(equal).min() < T and frames_spanned(equal).mean() < 0.8 * T


def test_slic_moving_clip_gives_fewer_longer_supervoxels_than_equal_spacing():
    """On panning clips the paper's spacing gives supervoxels spanning more frames on average
    (by 10% or more on every clip) and no more of them in total than equal spacing.
    catches: a temporal spacing that no longer makes time distances cheap."""
    n_paper = n_equal = 0
    for seed in range(6):
        clip = moving_clip(seed)
        paper = segment.slic(clip, n_segments=48)
        equal = segment.slic(clip, n_segments=48, spacing=(1, 1, 1))
        assert frames_spanned(paper).mean() >= 1.1 * frames_spanned(equal).mean()
        n_paper, n_equal = n_paper + paper.n, n_equal + equal.n
    assert n_paper < n_equal


@pytest.mark.parametrize("n_segments", [48, 100, 200])
def test_slic_count_stays_near_n_segments(n_segments):
    """SLIC returns about the number of supervoxels asked for: between half and 1.2 times it
    (skimage rounds its seed-grid step and merges fragments, measured 0.65-0.95 here).
    catches: n_segments ignored (the default 200 used) or passed as another argument."""
    side = SIDE if n_segments == 48 else 48
    seg = segment.slic(moving_clip(3, side=side), n_segments=n_segments)
    assert 0.5 * n_segments <= seg.n <= 1.2 * n_segments


# ------------------------------------------------------------- smooth-max generator (paper 004)
# (frame size, step, sigma): a small odd case, STEP's non-112 setting (sigma 23) and STEP's
# 112-pixel setting (step 7, sigma 11)
SIZES = [((17, 23), 3, 5.0), ((48, 64), 7, 23.0), ((112, 112), 7, 11.0)]


def taps_of(step, sigma):
    """K = (2R + 1)^2 taps per pixel, R = 1 + ceil(sigma / step) (REFERENCE.md)."""
    return (2 * (1 + math.ceil(sigma / step)) + 1) ** 2


def hard_max_on_frame(seeds, shape, step, sigma):
    """max_k w_k s_k per frame pixel, from the definition: frame pixel (y, x) is output
    pixel u = (y, x) + floor(sigma); tap k of axis coordinate u reads seed
    floor(u / step) + k - P, centred at sigma + step * index; w = exp(-2 max(d / sigma - 1/2,
    0)^2) of the Euclidean distance d; seeds outside the grid are 0."""
    pad, radius = 1 + math.ceil(2 * sigma / step), 1 + math.ceil(sigma / step)
    k = np.arange(2 * radius + 1)
    idx, off = [], []
    for n in shape:
        u = np.arange(n) + math.floor(sigma)
        i = u[:, None] // step + k[None, :] - pad
        idx.append(i)
        off.append(u[:, None] - (sigma + step * i))
    d = np.sqrt(off[0][:, None, :, None] ** 2 + off[1][None, :, None, :] ** 2)
    w = np.exp(-2 * np.maximum(d / sigma - 0.5, 0) ** 2)
    iy, ix = idx[0][:, None, :, None], idx[1][None, :, None, :]
    inside = (iy >= 0) & (iy < seeds.shape[0]) & (ix >= 0) & (ix < seeds.shape[1])
    vals = np.where(inside, seeds[np.clip(iy, 0, seeds.shape[0] - 1),
                                  np.clip(ix, 0, seeds.shape[1] - 1)], 0.0) * w
    return vals.max(axis=(2, 3))


@pytest.mark.parametrize("shape,step,sigma", SIZES)
def test_smooth_max_values_lie_between_the_softmax_bounds(shape, step, sigma):
    """The smooth max is a softmax(20 v)-weighted mean of the K weighted taps v_k, so (seeds
    in [0, 1]) max_k v_k - ln(K) / 20 <= mask <= max_k v_k <= max seed, and mask >= 0.
    (LSE(20 v) / 20 = mean + entropy / 20, with max v <= LSE / 20 and entropy <= ln K.)
    catches: a softer or harder softmax temperature, tap weights above 1 or a wrong radial
    weight, a missing clamp, or seeds read from the wrong grid cell."""
    grid = (math.ceil(shape[0] / step), math.ceil(shape[1] / step))
    seeds = np.random.default_rng(sum(shape)).uniform(size=grid)
    _, crop = M.smooth_max_upsample(jnp.asarray(seeds, jnp.float32), shape, step=step,
                                    sigma=sigma)
    crop = np.asarray(crop, np.float64)
    hard = hard_max_on_frame(seeds, shape, step, sigma)
    slack = math.log(taps_of(step, sigma)) / 20
    assert crop.shape == shape
    assert crop.min() >= 0.0 and crop.max() <= seeds.max() + 1e-6
    assert np.all(crop <= hard + 1e-5)
    assert np.all(crop >= hard - slack - 1e-5)
    # the bounds are not vacuous: the slack is used, but not everywhere at its limit
    assert (hard - crop).max() > 0.2 * slack and (hard - crop).mean() < slack


@pytest.mark.parametrize("shape,step,sigma", SIZES)
@pytest.mark.parametrize("a", [0.3, 1.0])
def test_smooth_max_of_one_seed_peaks_at_its_exact_value(shape, step, sigma, a):
    """One seed of value a, all others 0: within sigma/2 of the seed's centre its weight is 1
    and the other K - 1 taps are 0, so the mask there is a e^{20a} / (e^{20a} + K - 1), and no
    pixel exceeds it (the mean grows with the seed's weight).
    catches: a wrong tap count K (seed padding or radius), coldness or plateau radius, or a
    seed centre shifted by the crop offset."""
    grid = (math.ceil(shape[0] / step), math.ceil(shape[1] / step))
    seeds = np.zeros(grid)
    i, j = grid[0] // 2, grid[1] // 2
    seeds[i, j] = a
    _, crop = M.smooth_max_upsample(jnp.asarray(seeds, jnp.float32), shape, step=step,
                                    sigma=sigma)
    crop = np.asarray(crop, np.float64)
    peak = a * math.exp(20 * a) / (math.exp(20 * a) + taps_of(step, sigma) - 1)
    # integer sigma: the centre sigma + step * i of the output is frame pixel step * i
    cy, cx = step * i, step * j
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    plateau = np.hypot(yy - cy, xx - cx) < sigma / 2
    np.testing.assert_allclose(crop[plateau], peak, rtol=1e-5)
    assert crop.max() <= peak * (1 + 1e-5)
    assert crop[~plateau].max() < peak      # outside the plateau the weight is below 1
