"""The surrogate's fit on held-out coalitions (3D LIME and 3D Kernel SHAP of paper 001).

An in-sample R^2 cannot tell an interpolating surrogate from a faithful one; the methods
also score the fitted surrogate on fresh coalitions it did not use (``meta["fit"]
["heldout_r2"]``, ``["heldout_n"]``, ``["heldout_note"]``) and warn when the samples do not
exceed the features or the held-out fit is poor. The held-out rows, their scores and the
kernel are read back from what the score function was given (``RecordingScore``), and the
held-out R^2 is recomputed here from its definition.
"""
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vidxai import explain, segment, surrogate
from vidxai.errors import ArgumentError, ArgumentTypeError, ExplanationWarning
from vidxai.explain._common import POOR_HELDOUT_R2, heldout_count
from helpers import (RecordingScore, additive_model, coalitions_of, kernel_shap_fit,
                     segment_means, small_grid, toy_video)

KEY = jax.random.key(0)


def segment_mean_scores(seg):
    """``x (B, T, H, W, C) -> (B, n)``: channel-mean intensity of every segment."""
    labels = jnp.asarray(seg.labels).ravel()
    sizes = jnp.asarray(seg.sizes(), jnp.float32)

    def means(x):
        grey = jnp.asarray(x, jnp.float32).mean(-1).reshape(x.shape[0], -1)
        return jax.vmap(lambda r: jax.ops.segment_sum(r, labels, seg.n))(grey) / sizes

    return means


def centred_presence(video, seg):
    """``x -> c (B, n)``, ``c_j = z_j - 1/2``: black removal sets segment j's mean m_j to
    z_j mu_j, so ``c_j = m_j / mu_j - 1/2``."""
    mu = jnp.asarray(segment_means(video, seg), jnp.float32)
    means = segment_mean_scores(seg)
    return lambda x: means(x) / mu - 0.5


def centred_quadratic(video, seg, seed=0):
    """A random quadratic form in the centred presences: pure pairwise interactions, so
    under Bernoulli(1/2) coalitions no additive surrogate explains any of its variation."""
    q = np.triu(np.random.RandomState(seed).randn(seg.n, seg.n), 1) / np.sqrt(seg.n)
    q = jnp.asarray(q, jnp.float32)
    presence = centred_presence(video, seg)

    def f(x):
        c = presence(x)
        return jnp.einsum("bi,ij,bj->b", c, q, c)

    return f


def recording(f):
    return RecordingScore(lambda x: np.asarray(f(jnp.asarray(x, jnp.float32)), np.float64))


def lime_kernel_reference(z, width=0.25):
    """sqrt(exp(-d^2 / width^2)), d = 1 - cos(z, all-ones) (written from LIME's definition)."""
    z = np.asarray(z, np.float64)
    cos = z.sum(1) / np.maximum(np.linalg.norm(z, axis=1) * np.sqrt(z.shape[1]), 1e-300)
    return np.sqrt(np.exp(-((1.0 - cos) ** 2) / width**2))


def weighted_r2(y, prediction, w):
    """1 - sum w (y - prediction)^2 / sum w (y - weighted mean of y)^2."""
    y, prediction, w = (np.asarray(a, np.float64) for a in (y, prediction, w))
    mean = (w * y).sum() / w.sum()
    return 1.0 - (w * (y - prediction) ** 2).sum() / (w * (y - mean) ** 2).sum()


def test_lime_interpolating_few_samples_warns_and_heldout_fit_is_poor():
    """The issue's case: 24 samples on 187 supervoxels. The in-sample R^2 is near 1, the
    held-out one is not, and both warnings are raised and recorded.
    catches: held-out R^2 computed on the training rows (it would be near 1 too); the
    samples-vs-features or poor-held-out warning missing from warnings or meta."""
    video = toy_video((2, 11, 17), seed=3)
    seg = segment.grid(video, (1, 11, 17))
    assert seg.n == 187
    with pytest.warns(ExplanationWarning) as caught:
        e = explain.lime(centred_quadratic(video, seg), video, seg, key=KEY, n_samples=24)
    fit = e.meta["fit"]
    assert fit["r2"] > 0.99                                  # the interpolation looks perfect
    assert fit["heldout_n"] == 16 and fit["heldout_r2"] < POOR_HELDOUT_R2
    assert fit["heldout_note"] is None
    messages = [str(w.message) for w in caught]
    for text in ("24 samples for 187 features", "poor held-out fit"):
        assert any(text in m for m in messages), messages
        assert any(text in m for m in e.meta["warnings"]), e.meta["warnings"]


def test_kernel_shap_with_fewer_rows_than_features_warns():
    """catches: the samples-vs-features check missing from Kernel SHAP, or counting the full
    and empty videos (which are constraints, not fitted rows) as samples."""
    video = toy_video((2, 8, 12), seed=2)
    seg = segment.grid(video, (1, 4, 6))                    # 24 features
    with pytest.warns(ExplanationWarning, match="20 samples for 24 features"):
        e = explain.kernel_shap(centred_quadratic(video, seg), video, seg, key=KEY,
                                n_samples=20)
    assert e.meta["n_samples"] == 20 and e.meta["fit"]["heldout_n"] == 16
    assert e.meta["fit"]["heldout_r2"] < POOR_HELDOUT_R2


@pytest.mark.parametrize("method", ["lime", "kernel_shap"])
def test_additive_model_with_enough_samples_fits_in_and_out_of_sample(method):
    """catches: the held-out prediction without the intercept (LIME) or the empty score
    (Kernel SHAP), or with the coefficients misaligned; warnings on a good fit."""
    video = toy_video((4, 12, 12), seed=3)
    seg = segment.grid(video, (2, 3, 3))                    # 18 features
    w = np.random.RandomState(1).randn(seg.n).astype(np.float32)
    f = lambda x: additive_model(seg, w)(x) + 2.0          # noqa: E731 - an offset too
    run = getattr(explain, method)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExplanationWarning)
        e = run(f, video, seg, key=KEY, n_samples=300)
    fit = e.meta["fit"]
    assert fit["r2"] > 0.99 and fit["heldout_r2"] > 0.99
    assert fit["heldout_n"] == 30 and e.n_evals == 300 + 2 + 30 and e.meta["warnings"] == []


def test_lime_heldout_rows_are_fresh_scored_last_counted_and_r2_matches_definition():
    """catches: held-out rows equal to (or fitted with) the training rows; held-out rows
    scored but not counted in n_evals (or counted, not scored); the held-out R^2 unweighted,
    centred on the training mean, or with a different kernel from the fit's."""
    video = toy_video((4, 12, 12), seed=5)
    seg = segment.grid(video, (2, 3, 4))                    # 24 features
    additive = additive_model(seg, np.linspace(-1.0, 1.0, seg.n))
    quadratic = centred_quadratic(video, seg, seed=1)
    rec = recording(lambda x: additive(x) + 0.3 * quadratic(x))
    n_samples = 46
    e = explain.lime(rec, video, seg, key=KEY, n_samples=n_samples, batch_size=8)
    h = e.meta["fit"]["heldout_n"]
    assert h == 16 and e.n_evals == n_samples + 2 + h
    videos = np.concatenate(rec.batches)
    assert len(videos) == e.n_evals                         # 64 rows: no padding at 8 a chunk
    z = coalitions_of(videos, video, seg)
    y = rec.fn(videos)
    train, held = z[2:2 + n_samples], z[2 + n_samples:]
    assert not {r.tobytes() for r in train} & {r.tobytes() for r in held}
    assert abs(held.mean() - 0.5) < 0.1                    # Bernoulli(p = 0.5), as the samples
    # the weights are the fit of the training rows alone, the same with no rows held out
    no_holdout = explain.lime(rec.fn, video, seg, key=KEY, n_samples=n_samples, n_heldout=0,
                              batch_size=8)
    assert np.array_equal(no_holdout.weights, e.weights)
    assert no_holdout.n_evals == n_samples + 2 and no_holdout.meta["fit"]["heldout_n"] == 0
    assert no_holdout.meta["fit"]["heldout_r2"] is None and no_holdout.meta["fit"]["heldout_note"]
    prediction = e.meta["intercept"] + held.astype(np.float64) @ e.weights
    expected = weighted_r2(y[2 + n_samples:], prediction, lime_kernel_reference(held))
    assert e.meta["fit"]["heldout_r2"] == pytest.approx(expected, abs=1e-4)
    unweighted = weighted_r2(y[2 + n_samples:], prediction, np.ones(h))
    assert abs(unweighted - expected) > 1e-3                # the weighting is what is tested


def test_kernel_shap_heldout_rows_are_unused_pairs_and_r2_matches_definition():
    """catches: held-out rows fitted (the weights would not be the fit of the training rows);
    held-out rows drawn from the enumerated sizes (coalitions the fit already has) or not in
    complement pairs; the held-out R^2 predicted without the empty score."""
    video = toy_video((2, 8, 8), seed=6)
    seg = segment.grid(video, (1, 2, 5))                    # 10 features, 1022 coalitions
    additive = additive_model(seg, np.linspace(1.0, -1.0, seg.n))
    quadratic, presence = centred_quadratic(video, seg, seed=2), centred_presence(video, seg)
    # a third-order term: on games of order <= 2 paired sampling makes any weighting (or
    # extra fitted pairs) return the Shapley values, hiding a fit of the held-out rows
    third = lambda x: jnp.prod(presence(x)[:, :3], axis=1)  # noqa: E731
    rec = recording(lambda x: additive(x) + 0.3 * quadratic(x) + 4.0 * third(x))
    budget = 100
    e = explain.kernel_shap(rec, video, seg, key=KEY, n_samples=budget, batch_size=16)
    h = e.meta["fit"]["heldout_n"]
    assert h == 16 and e.n_evals == budget + 2 + h
    videos = rec.videos(e.n_evals)
    z, y = coalitions_of(videos, video, seg), rec.fn(videos)
    train, held = z[2:2 + budget], z[2 + budget:]
    expected, complete = kernel_shap_fit(train, y[2:2 + budget], y[0], y[1])
    np.testing.assert_allclose(e.weights, expected, atol=1e-4 * np.abs(expected).max())
    assert complete == [1, 9]
    assert set(held.sum(1)).isdisjoint(complete)
    assert np.array_equal(held[1::2], ~held[0::2])          # coalition, complement, ...
    prediction = y[1] + held.astype(np.float64) @ e.weights
    expected_r2 = weighted_r2(y[2 + budget:], prediction, np.ones(h))
    assert e.meta["fit"]["heldout_r2"] == pytest.approx(expected_r2, abs=1e-4)


@pytest.mark.parametrize("method", ["lime", "kernel_shap"])
def test_heldout_fit_is_deterministic_by_key_and_independent_of_chunking(method):
    """catches: held-out rows drawn from global or unkeyed randomness, or from the chunk
    position rather than the row index."""
    video = toy_video((4, 12, 12), seed=7)
    seg = small_grid(video)
    f = centred_quadratic(video, seg, seed=3)
    run = lambda k, b=32: getattr(explain, method)(f, video, seg, key=k, n_samples=40,  # noqa: E731
                                                    batch_size=b).meta["fit"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExplanationWarning)
        a, b, c = run(jax.random.key(1)), run(jax.random.key(1)), run(jax.random.key(2))
        d = run(jax.random.key(1), b=7)
    assert a == b                                           # bit for bit, every entry
    assert a["heldout_r2"] != c["heldout_r2"]
    assert d["heldout_r2"] == pytest.approx(a["heldout_r2"], rel=1e-5, abs=1e-6)


def test_heldout_count_rule_and_n_heldout_argument():
    """catches: a held-out count growing without bound with n_samples, an odd count (Kernel
    SHAP draws pairs), bad n_heldout accepted or reported without its name."""
    assert [heldout_count(n) for n in (1, 24, 300, 305, 1000, 10**6)] == [16, 16, 30, 32, 64, 64]
    assert heldout_count(24, 5) == 6 and heldout_count(24, 0) == 0
    video = toy_video((4, 8, 8))
    seg = small_grid(video)
    f = additive_model(seg, np.arange(8.0))
    for bad, kind in ((-1, ArgumentError), (2.5, ArgumentTypeError), ("4", ArgumentTypeError)):
        for run in (explain.lime, explain.kernel_shap):
            with pytest.raises(kind, match="n_heldout"):
                run(f, video, seg, key=KEY, n_samples=20, n_heldout=bad)
    z = np.random.RandomState(0).rand(20, seg.n) < 0.5
    with pytest.raises(ArgumentError, match="n_heldout"):
        explain.lime(f, video, seg, key=KEY, n_samples=20, sampler=lambda k, n, m: z,
                     n_heldout=4)
    e = explain.lime(f, video, seg, key=KEY, n_samples=20, sampler=lambda k, n, m: z)
    assert e.n_evals == 22 and e.meta["fit"]["heldout_n"] == 0
    assert "sampler" in e.meta["fit"]["heldout_note"]


def test_kernel_shap_full_budget_holds_nothing_out():
    """catches: held-out rows drawn (and paid for) when every coalition is already fitted."""
    video = toy_video((4, 8, 8))
    seg = small_grid(video)
    e = explain.kernel_shap(centred_quadratic(video, seg), video, seg, key=KEY, n_samples=500)
    assert e.n_evals == 2**seg.n
    fit = e.meta["fit"]
    assert fit["heldout_n"] == 0 and fit["heldout_r2"] is None
    assert "every coalition" in fit["heldout_note"]


def test_constant_scores_give_no_heldout_r2_and_no_nan():
    """catches: 0/0 on constant held-out scores (NaN in meta)."""
    video = toy_video((4, 8, 8))
    seg = small_grid(video)
    const = lambda x: jnp.zeros(x.shape[0]) + 1.5           # noqa: E731
    for run in (explain.lime, explain.kernel_shap):
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            warnings.simplefilter("ignore", ExplanationWarning)
            fit = run(const, video, seg, key=KEY, n_samples=30).meta["fit"]
        assert fit["heldout_r2"] is None and "constant" in fit["heldout_note"]
        assert fit["heldout_n"] == 16


def test_heldout_r2_from_running_sums_matches_direct_formula():
    """catches: the held-out sums (weights, shift, residuals) combined wrongly across chunks;
    zero total weight or no rows giving NaN instead of None."""
    rng = np.random.RandomState(3)
    z = rng.rand(50, 6) < 0.5
    y = 10.0 + z @ rng.randn(6) + 0.3 * rng.randn(50)       # a large mean: the shift matters
    w = rng.rand(50)
    fit = surrogate.Fit(coef=rng.randn(6) * 0.5, intercept=9.5, r2=None)
    held = surrogate.HeldOut(fit)
    for part in np.array_split(np.arange(50), 4):
        held.add(z[part], y[part], w[part])
    r2, note = held.r2()
    assert note is None and held.n == 50
    assert r2 == pytest.approx(weighted_r2(y, 9.5 + z @ fit.coef, w), rel=1e-10)
    empty = surrogate.HeldOut(fit)
    assert empty.r2()[0] is None
    weightless = surrogate.HeldOut(fit)
    weightless.add(z, y, np.zeros(50))
    assert weightless.r2()[0] is None and "weight" in weightless.r2()[1]


def test_heldout_keys_survive_save_and_load(tmp_path):
    """catches: a held-out entry that is not JSON (numpy scalar) or lost on reload."""
    from vidxai.explanation import Explanation
    video = toy_video((4, 8, 8))
    seg = small_grid(video)
    e = explain.lime(additive_model(seg, np.arange(8.0)), video, seg, key=KEY, n_samples=30)
    back = Explanation.load(e.save(tmp_path / "lime"))
    assert back.meta["fit"] == e.meta["fit"]
    assert isinstance(back.meta["fit"]["heldout_r2"], float)
    assert math.isfinite(back.meta["fit"]["heldout_r2"])
