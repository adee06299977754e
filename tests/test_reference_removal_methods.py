"""Removal-based explainers of paper 001 against references written from their definitions.

Covered: 3D Kernel SHAP (brute-force Shapley values of games with interactions of every order;
the constrained kernel-weighted least squares on the coalitions actually scored), 3D LIME
(weighted ridge with the cosine-distance kernel), 3D RISE (linear-upsampled cell grids and the
score-weighted mask mean), 3D sampled occlusion (cuboid positions, coverage and the per-voxel
mean of drops), LV-LOCO and LV-Univariate on a lookup-table game.

Most tests score perturbed videos with a host (numpy) function that records what it was
given (``RecordingScore``), so the coalitions or masks a method used are read back from the
videos themselves, never from the library's internals.
"""
import itertools
import math
from collections import Counter

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vidxai import explain, segment
from helpers import (RecordingScore, coalitions_of, kept_fractions, kernel_shap_fit, toy_video,
                     weighted_ridge)

KEY = jax.random.key(0)


# ---------------------------------------------------------------- cooperative games ----

def grey_segment_means(x, seg):
    """Channel-mean intensity per segment for a batch ``(B, T, H, W, C)`` -> ``(B, n)``."""
    grey = np.asarray(x, np.float64).mean(-1).reshape(len(x), -1)
    labels = seg.labels.ravel()
    return np.stack([grey[:, labels == j].mean(1) for j in range(seg.n)], axis=1)


def table_score(video, seg, table):
    """Host score of the game v(S) = table[S]: S (bit j = segment j) is the set of segments
    still showing the video (black removal drives a removed segment's mean to 0)."""
    half = 0.5 * grey_segment_means(video[None], seg)[0]
    bit = 1 << np.arange(seg.n)

    def fn(x):
        kept = grey_segment_means(x, seg) > half
        return table[kept.astype(np.int64) @ bit]

    return fn


def coalition_video(video, seg, kept):
    """The video with the segments outside ``kept`` blacked out (computed directly)."""
    return video * np.isin(seg.labels, np.flatnonzero(kept))[..., None]


def values_from_dividends(dividends, n):
    """v(S) = sum of the Harsanyi dividends d(T) over T subset of S (zeta transform)."""
    v = np.array(dividends, np.float64)
    idx = np.arange(2**n)
    for i in range(n):
        has = (idx >> i) & 1 == 1
        v[has] += v[idx[has] ^ (1 << i)]
    return v


def higher_order_game(n, seed, decay=0.8):
    """Random dividends on every coalition (orders 1..n), shrinking by ``decay`` per order."""
    rng = np.random.RandomState(seed)
    order = np.array([bin(s).count("1") for s in range(2**n)])
    d = rng.randn(2**n) * decay**order
    d[0] = 0.0
    return values_from_dividends(d, n)


def shapley_values(v, n):
    """Shapley values by the subset formula: sum over S not containing i of
    |S|! (n - |S| - 1)! / n! * (v(S + i) - v(S))."""
    phi = np.zeros(n)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        for s in range(n):
            weight = math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n)
            for subset in itertools.combinations(others, s):
                idx = sum(1 << j for j in subset)
                phi[i] += weight * (v[idx | (1 << i)] - v[idx])
    return phi


def product_game_jax(video, seg, dividends):
    """JAX score f(x) = sum_T d(T) prod_{j in T} m_j(x) / m_j(video), with m_j the segment
    means: a smooth game with interactions of every order whose value on coalition S is
    sum_{T subset S} d(T) (black removal zeroes m_j)."""
    labels = jnp.asarray(seg.labels).ravel()
    sizes = jnp.asarray(seg.sizes(), jnp.float32)
    ref = jnp.asarray(grey_segment_means(video[None], seg)[0], jnp.float32)
    members = jnp.asarray((np.arange(2**seg.n)[:, None] >> np.arange(seg.n)) & 1, bool)
    d = jnp.asarray(dividends, jnp.float32)

    def f(x):
        grey = x.mean(-1).reshape(x.shape[0], -1)
        r = jax.vmap(lambda row: jax.ops.segment_sum(row, labels, seg.n))(grey) / sizes / ref
        prods = jnp.prod(jnp.where(members[None], r[:, None, :], 1.0), axis=-1)
        return prods @ d

    return f


def video_and_grid(cells, shape=(2, 6, 10), seed=0):
    video = toy_video(shape, seed)
    return video, segment.grid(video, cells)


# ------------------------------------------------------------------- Kernel SHAP ----

@pytest.mark.parametrize("cells", [(1, 1, 5), (1, 2, 3), (1, 1, 7)])
def test_kernel_shap_full_budget_is_brute_force_shapley_on_random_table_game(cells):
    """catches: wrong kernel weights / WLS / constraint handling (any order of interaction)."""
    video, seg = video_and_grid(cells)
    n = seg.n
    table = np.random.RandomState(n).randn(2**n)
    e = explain.kernel_shap(table_score(video, seg, table), video, seg, key=KEY,
                            n_samples=2**n - 2)
    phi = shapley_values(table, n)
    chex.assert_shape(e.weights, (n,))
    np.testing.assert_allclose(e.weights, phi, atol=2e-5 * np.abs(table).max())
    assert e.weights.sum() == pytest.approx(table[-1] - table[0], abs=1e-5)  # efficiency
    assert (e.meta["score"], e.meta["empty_score"]) == pytest.approx((table[-1], table[0]))
    assert e.n_evals == 2**n


def test_kernel_shap_full_budget_on_traced_product_game_with_dividends_of_every_order():
    """catches: the same on the fused (jitted) scoring path, with a smooth JAX model."""
    video, seg = video_and_grid((1, 2, 3), seed=2)
    n = seg.n
    order = np.array([bin(s).count("1") for s in range(2**n)])
    d = np.random.RandomState(5).randn(2**n) * 0.9**order
    d[0] = 0.0
    f = product_game_jax(video, seg, d)
    v = values_from_dividends(d, n)
    kept = np.isin(np.arange(n), [0, 2, 3])
    value = float(f(coalition_video(video, seg, kept)[None])[0])
    assert value == pytest.approx(v[0b1101], rel=1e-5)  # the model realises the game
    e = explain.kernel_shap(f, video, seg, key=KEY, n_samples=10_000)  # capped at 2^n - 2
    np.testing.assert_allclose(e.weights, shapley_values(v, n), atol=2e-5 * np.abs(v).max())
    assert e.n_evals == 2**n


SAMPLED_CELLS, SAMPLED_BUDGET, SAMPLED_KEYS = (1, 2, 5), 300, 16


@pytest.mark.parametrize("game_seed", [0, 3])
def test_kernel_shap_sampled_budget_error_bound_on_higher_order_game(game_seed):
    """catches: WLS weights applied twice (w^2), weights dropped (uniform), sampled rows not
    given the kernel's leftover mass. 10 players, 300 of 1022 coalitions, 16 keys.

    Statistic: ||mean over keys of phi_hat - phi|| / ||phi||. Measured on 8 games: correct
    code 0.015..0.034; planted bugs 0.096..0.59 (w^2 >= 0.28, uniform >= 0.12, sampled block
    mass 1 or per-row mass of enumerated rows >= 0.096, per-size kernel on sampled rows
    >= 0.16). Bound 0.06.
    """
    video, seg = video_and_grid(SAMPLED_CELLS)
    n = seg.n
    v = higher_order_game(n, game_seed)
    phi = shapley_values(v, n)
    fn = table_score(video, seg, v)
    estimates = []
    for k in range(SAMPLED_KEYS):
        e = explain.kernel_shap(fn, video, seg, key=jax.random.key(k), n_samples=SAMPLED_BUDGET)
        assert e.weights.sum() == pytest.approx(v[-1] - v[0], abs=1e-4)  # efficiency, every key
        assert e.n_evals == SAMPLED_BUDGET + 2 + e.meta["fit"]["heldout_n"]
        estimates.append(e.weights)
    mean_error = np.linalg.norm(np.mean(estimates, 0) - phi) / np.linalg.norm(phi)
    assert mean_error < 0.06


def test_kernel_shap_sampled_is_kernel_weighted_constrained_fit_of_scored_coalitions():
    """catches: w^2 or uniform weights in the WLS; sampled rows not sharing the leftover
    kernel mass; no paired (complement) sampling; enumeration not from the outside in."""
    video, seg = video_and_grid(SAMPLED_CELLS, seed=1)
    n = seg.n
    v = higher_order_game(n, 7)
    rec = RecordingScore(table_score(video, seg, v))
    e = explain.kernel_shap(rec, video, seg, key=jax.random.key(3), n_samples=SAMPLED_BUDGET,
                            batch_size=64)
    z = coalitions_of(rec.videos(e.n_evals - e.meta["fit"]["heldout_n"]), video, seg)
    assert z[0].all() and not z[1].any()  # full and empty scored first, not fitted as rows
    z = z[2:]
    y = v[z.astype(np.int64) @ (1 << np.arange(n))]
    sizes = z.sum(1)
    assert len(z) == SAMPLED_BUDGET and sizes.min() >= 1 and sizes.max() <= n - 1
    expected, complete = kernel_shap_fit(z, y, v[-1], v[0])
    assert complete == [1, 2, n - 2, n - 1]  # enumerated from the outside in, in pairs
    counts = Counter(r.tobytes() for r in z[~np.isin(sizes, complete)])
    assert all(counts[(~np.frombuffer(k, bool)).tobytes()] == c for k, c in counts.items())
    np.testing.assert_allclose(e.weights, expected, atol=1e-4 * np.abs(expected).max())


# -------------------------------------------------------------------------- LIME ----

def lime_reference(z, y, width, alpha):
    """Ridge on coalitions weighted by sqrt(exp(-d^2 / width^2)), d = cosine distance between
    the coalition and all-ones (a coalition with nothing kept has similarity 0, so d = 1)."""
    z = np.asarray(z, np.float64)
    norms = np.linalg.norm(z, axis=1) * np.sqrt(z.shape[1])
    sim = np.where(norms > 0, z.sum(1) / np.where(norms > 0, norms, 1.0), 0.0)
    w = np.sqrt(np.exp(-((1.0 - sim) ** 2) / width**2))
    return weighted_ridge(z, y, w, alpha)


@pytest.fixture(scope="module")
def lime_case():
    video, seg = video_and_grid((1, 2, 4), shape=(2, 6, 8), seed=3)
    rng = np.random.RandomState(11)
    table = rng.randn(2**seg.n) * 2.0  # non-additive: the kernel weighting matters
    z = rng.rand(160, seg.n) < 0.5
    z[0], z[1] = False, True  # the empty and the full coalition as training rows too
    fn = table_score(video, seg, table)
    y = np.array([fn(coalition_video(video, seg, row)[None])[0] for row in z])
    return video, seg, fn, z, y


@pytest.mark.parametrize("width, alpha", [(0.25, 1.0), (0.5, 3.0), (0.25, 0.0)])
def test_lime_is_weighted_ridge_with_cosine_kernel_on_given_coalitions(lime_case, width, alpha):
    """catches: fit without kernel weights; alpha not rescaled with the weights; intercept
    penalised; wrong distance (e.g. Hamming) or kernel (no sqrt); width/alpha not passed on."""
    video, seg, fn, z, y = lime_case
    e = explain.lime(fn, video, seg, key=KEY, n_samples=len(z), kernel_width=width, alpha=alpha,
                     sampler=lambda key, rows, n: z)
    coef, intercept = lime_reference(z, y, width, alpha)
    scale = np.abs(coef).max()
    np.testing.assert_allclose(e.weights, coef, atol=2e-4 * scale)
    assert e.meta["intercept"] == pytest.approx(intercept, abs=2e-4 * scale)
    assert e.meta["score"] == pytest.approx(fn(video[None])[0])  # scored, not fitted
    assert e.n_evals == len(z) + 2   # the samples, the video and the removed video


def test_lime_default_sampler_keeps_features_with_probability_p_and_fits_reference():
    """catches: default coalitions not Bernoulli(p) (p ignored or inverted); rows scored
    differ from rows fitted."""
    video, seg = video_and_grid((1, 2, 4), shape=(2, 6, 8), seed=4)
    table = np.random.RandomState(2).randn(2**seg.n)
    rec = RecordingScore(table_score(video, seg, table))
    p, rows = 0.3, 400
    e = explain.lime(rec, video, seg, key=jax.random.key(5), n_samples=rows, p=p, batch_size=64)
    z = coalitions_of(rec.videos(rows + 2), video, seg)
    assert z[0].all() and not z[1].any()  # the video and the removed video, scored first
    z = z[2:]
    # 3200 Bernoulli(0.3) bits: sd 0.008; per feature (400 bits) sd 0.023
    assert abs(z.mean() - p) < 0.035
    assert np.all(np.abs(z.mean(0) - p) < 0.1)
    coef, _ = lime_reference(z, table[z.astype(np.int64) @ (1 << np.arange(seg.n))], 0.25, 1.0)
    np.testing.assert_allclose(e.weights, coef, atol=2e-4 * np.abs(coef).max())


# -------------------------------------------------------------------------- RISE ----

def linear_upsample_matrix(out_len, in_len):
    """(out_len, in_len) linear interpolation with half-pixel centres, clamped at the ends:
    output voxel u reads the input at x = (u + 0.5) * in_len / out_len - 0.5."""
    x = np.clip((np.arange(out_len) + 0.5) * in_len / out_len - 0.5, 0, in_len - 1)
    lo = np.floor(x).astype(int)
    hi = np.minimum(lo + 1, in_len - 1)
    a = np.zeros((out_len, in_len))
    a[np.arange(out_len), lo] += 1 - (x - lo)
    a[np.arange(out_len), hi] += x - lo
    return a


def nonlinear_score(shape, seed=0):
    """A host score that is no function of the kept fraction alone: tanh of a random
    per-voxel projection."""
    proj = np.random.RandomState(seed).randn(*shape)

    def fn(x):
        return np.tanh(3.0 * (x * proj).mean(axis=(1, 2, 3, 4)))

    return fn


def weighted_mean_map(masks, values):
    num = np.tensordot(values, masks, 1)
    den = masks.sum(0)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def test_rise_unshifted_masks_are_upsampled_cell_grids_and_map_is_score_weighted_mean():
    """catches: wrong interpolation (corner-aligned, nearest, off-by-half-cell), map
    normalised by N*p instead of sum of masks, weights not the mean score when kept."""
    video = toy_video((4, 9, 8), seed=6)
    cells = (2, 3, 4)
    n_samples = 46  # + the unperturbed and the removed row = 3 chunks of 16
    rec = RecordingScore(nonlinear_score(video.shape, seed=1))
    e = explain.rise(rec, video, key=jax.random.key(2), cells=cells, n_samples=n_samples,
                     shift=False, batch_size=16)
    masks = kept_fractions(rec.videos(n_samples + 2), video)
    np.testing.assert_allclose(masks[0], 1.0, atol=1e-6)  # unperturbed row first
    np.testing.assert_allclose(masks[1], 0.0, atol=1e-6)  # then the removed video
    masks, y = masks[2:], rec.fn(rec.videos(n_samples + 2))[2:]
    mats = [linear_upsample_matrix(d, c) for d, c in zip(video.shape[:3], cells)]
    up = np.einsum("tc,hd,we->thwcde", *mats).reshape(-1, np.prod(cells))
    bits = np.linalg.lstsq(up, masks.reshape(n_samples, -1).T, rcond=None)[0].T
    np.testing.assert_allclose(bits, np.round(bits), atol=1e-4)  # masks = upsampled 0/1 grids
    bits = np.round(bits)
    np.testing.assert_allclose(masks.reshape(n_samples, -1), bits @ up.T, atol=1e-5)
    assert 0.3 < bits.mean() < 0.7  # p = 0.5 (46 * 24 bits)
    chex.assert_shape(e.map, video.shape[:3])
    np.testing.assert_allclose(e.map, weighted_mean_map(masks, y), atol=1e-5)
    kept_mean = (bits * y[:, None]).sum(0) / bits.sum(0)
    np.testing.assert_allclose(e.weights, kept_mean, atol=1e-5)
    assert e.meta["score"] == pytest.approx(rec.fn(video[None])[0], abs=1e-6)


def test_rise_shifted_map_is_score_weighted_mean_of_the_masks_used():
    """catches: map from different masks than the ones scored (e.g. shift missing from the
    map pass), wrong normalisation."""
    video = toy_video((4, 8, 8), seed=7)
    n_samples = 31
    rec = RecordingScore(nonlinear_score(video.shape, seed=2))
    e = explain.rise(rec, video, key=jax.random.key(4), cells=(2, 3, 3), n_samples=n_samples,
                     shift=True, batch_size=16)
    masks = kept_fractions(rec.videos(n_samples + 2), video)[2:]   # after video, removed
    assert masks.min() >= -1e-6 and masks.max() <= 1 + 1e-6
    y = rec.fn(rec.videos(n_samples + 2))[2:]
    np.testing.assert_allclose(e.map, weighted_mean_map(masks, y), atol=1e-5)


# --------------------------------------------------------------------- occlusion ----

def expected_starts(d, k, s):
    """0, s, 2s, ... while the cuboid fits, plus d - k if the far border would be missed."""
    starts = list(range(0, d - k + 1, s))
    return starts if starts[-1] == d - k else starts + [d - k]


OCCLUSION_GEOMETRIES = [
    # dims, size, stride: T divides; H=13/4/3 ends flush; W=10/3/4 needs a flush extra start
    # and leaves gaps (stride > size)
    ((16, 13, 10), (4, 4, 3), (2, 3, 4)),
    # H=13/4/4 and W=10/3/2 need a flush extra start; stride <= size: all voxels covered
    ((6, 13, 10), (2, 4, 3), (1, 4, 2)),
]


@pytest.mark.parametrize("dims, size, stride", OCCLUSION_GEOMETRIES)
def test_occlusion_positions_coverage_drops_and_map_match_direct_computation(dims, size, stride):
    """catches: flush last cuboid dropped (far border uncovered), wrong start grid, drops of
    the wrong sign or order, map not the per-voxel mean of covering drops."""
    video = toy_video(dims, seed=8)
    fn = nonlinear_score(video.shape, seed=3)
    rec = RecordingScore(fn)
    e = explain.occlusion(rec, video, size=size, stride=stride, batch_size=32)
    axes = [expected_starts(d, k, s) for d, k, s in zip(dims, size, stride)]
    starts = list(itertools.product(*axes))
    assert sorted(map(tuple, e.meta["starts"])) == starts
    n = len(starts)
    chex.assert_shape(e.weights, (n,))
    removed = kept_fractions(rec.videos(n + 1), video) < 0.5
    assert not removed[-1].any()  # unperturbed video scored last
    covers = np.zeros((n,) + dims)
    for i, start in enumerate(e.meta["starts"]):
        box = tuple(slice(a, a + k) for a, k in zip(start, size))
        covers[i][box] = 1.0
        assert np.array_equal(removed[i], covers[i] > 0)  # the scored video hid this cuboid
        occluded = video.copy()
        occluded[box] = 0.0
        assert e.weights[i] == pytest.approx(fn(video[None])[0] - fn(occluded[None])[0],
                                             abs=1e-5)
    covered = np.zeros(dims, bool)
    for start in starts:
        covered[tuple(slice(a, a + k) for a, k in zip(start, size))] = True
    if all(s <= k for s, k in zip(stride, size)):
        assert covered.all()
    for axis, d in enumerate(dims):  # the far border is always covered
        assert np.take(covered, d - 1, axis=axis).any()
    np.testing.assert_allclose(e.map, weighted_mean_map(covers, e.weights), atol=1e-5)
    assert np.all(e.map[~covered] == 0.0)


# ----------------------------------------------------------- LOCO and Univariate ----

def test_loco_and_univariate_on_table_game_match_their_definitions():
    """catches: sign flips, wrong reference row (full vs empty) in LOCO / Univariate."""
    video, seg = video_and_grid((1, 2, 3), seed=9)
    n = seg.n
    table = np.random.RandomState(9).randn(2**n)
    fn = table_score(video, seg, table)
    full = 2**n - 1
    loco = [table[full] - table[full ^ (1 << i)] for i in range(n)]
    uni = [table[1 << i] - table[0] for i in range(n)]
    np.testing.assert_allclose(explain.loco(fn, video, seg).weights, loco, atol=1e-6)
    np.testing.assert_allclose(explain.univariate(fn, video, seg).weights, uni, atol=1e-6)


# ------------------------------------------------- meta records (second mutation sample) ----

def _sum_score(videos):
    return jnp.asarray(videos).reshape(videos.shape[0], -1).sum(axis=1)


def test_meta_records_what_was_run_and_the_unperturbed_score():
    # catches: meta["n_samples"] of LIME or meta["cells"] of RISE dropped, and occlusion's
    # meta["score"] read from the first removed video instead of the unperturbed one
    video = toy_video((4, 8, 8))
    seg = segment.grid((4, 8, 8), (2, 2, 2))
    whole = float(np.asarray(video, np.float64).sum())
    e = explain.lime(_sum_score, video, seg, key=KEY, n_samples=24)
    assert e.meta["n_samples"] == 24
    r = explain.rise(_sum_score, video, key=KEY, cells=(2, 3, 3), n_samples=8)
    assert list(r.meta["cells"]) == [2, 3, 3]
    o = explain.occlusion(_sum_score, video, size=(2, 4, 4), stride=(2, 4, 4))
    assert o.meta["score"] == pytest.approx(whole, rel=1e-5)


def test_lime_kernel_width_must_be_positive():
    # catches: the kernel width validated without its name or its open lower bound of 0
    from vidxai import surrogate
    from vidxai.errors import ArgumentError
    for width in (0.0, -0.5):
        with pytest.raises(ArgumentError, match="kernel_width"):
            surrogate.lime_kernel(np.ones((3, 4), bool), width)


def test_ridge_fit_flags_a_rank_deficient_design():
    # catches: the rank-deficiency flag of the ridge solve not passed on to the fit; two
    # identical columns and no penalty leave their split undetermined (min-norm: equal halves)
    from vidxai import surrogate
    z = np.array([[1, 1, 0], [0, 0, 1], [1, 1, 1], [0, 0, 0]], np.float32)
    y = np.array([2.0, 1.0, 3.0, 0.0], np.float32)
    fit = surrogate.ridge_fit(surrogate.Gram.of(z, y, np.ones(4, np.float32)), alpha=0.0)
    assert fit.rank_deficient
    np.testing.assert_allclose(fit.coef, [1.0, 1.0, 1.0], atol=1e-4)
    full = surrogate.ridge_fit(surrogate.Gram.of(z[:, 1:], y, np.ones(4, np.float32)), 0.0)
    assert not full.rank_deficient


def test_kernel_plan_weights_sum_to_one_with_an_odd_leftover_budget():
    # catches: the pair count taken as budget / 2 (a half pair) when the leftover is odd, which
    # makes the sampled rows' weights no longer share the leftover kernel mass
    from vidxai import sampling
    for n_samples in (31, 32, 33, 101):
        plan = sampling.kernel_plan(n_samples, 10)
        enumerated = sum(w * math.comb(10, s) for s, w in zip(plan.sizes, plan.size_weight))
        assert isinstance(plan.pairs, int) and plan.n_rows <= n_samples
        assert enumerated + 2 * plan.pairs * plan.pair_weight == pytest.approx(1.0, abs=1e-12)
    odd = sampling.kernel_plan(101, 10)          # 20 enumerated (sizes 1 and 9), 81 left
    assert odd.sizes == (1, 9) and odd.pairs == 40 and odd.n_rows == 100
    assert sampling.kernel_plan(31, 10).pairs == 15


def test_shapley_size_weights_of_one_and_two_features():
    # catches: one feature refused (a game with one player has no proper coalition sizes)
    from vidxai import sampling
    assert sampling.shapley_size_weights(1).shape == (0,)
    np.testing.assert_allclose(sampling.shapley_size_weights(2), [1.0])


def test_kernel_shap_meta_and_batch_size_check():
    # catches: meta["n_samples"] of Kernel SHAP dropped; batch_size 0 accepted
    from vidxai.errors import ArgumentError
    video = toy_video((4, 8, 8))
    seg = segment.grid((4, 8, 8), (2, 2, 2))
    e = explain.kernel_shap(_sum_score, video, seg, key=KEY, n_samples=40)
    assert e.meta["n_samples"] == 40
    with pytest.raises(ArgumentError, match="batch_size"):
        explain.kernel_shap(_sum_score, video, seg, key=KEY, n_samples=40, batch_size=0)


def test_shapley_fit_flags_a_rank_deficient_design():
    # catches: the rank flag of the constrained solve dropped from the fit
    from vidxai import surrogate
    z = np.array([[1, 1, 0], [0, 0, 1], [1, 1, 1], [0, 0, 0]], np.float32)
    y = np.array([2.0, 1.0, 3.0, 0.0], np.float32)
    fit = surrogate.shapley_fit(surrogate.Gram.of(z, y, np.ones(4, np.float32)), 3.0, 0.0)
    assert fit.rank_deficient
    assert fit.coef.sum() == pytest.approx(3.0, abs=1e-5)     # efficiency still holds


def test_a_fit_with_no_weighted_samples_reports_no_r2_instead_of_nan():
    # catches: the total sum of squares divided by a zero total weight (NaN R^2)
    import warnings
    from vidxai import surrogate
    z = np.array([[1, 0], [0, 1], [1, 1]], np.float32)
    y = np.array([1.0, 2.0, 3.0], np.float32)
    gram = surrogate.Gram.of(z, y, np.zeros(3, np.float32))
    assert gram.total_sum_of_squares() == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)        # no 0/0 on the way
        fit = surrogate.ridge_fit(gram, alpha=1.0)
    assert fit.r2 is None and np.all(np.isfinite(fit.coef))
