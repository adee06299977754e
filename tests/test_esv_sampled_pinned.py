"""The sampled ESV path that ``esv()`` takes beyond 16 frames (paper 003, Algorithm 1),
against games whose Shapley values are known exactly.

An additive game ``v(S) = sum_{j in S} a_j`` (raw values, ``apply_softmax=False``,
``v(empty) = 0``) has ESVs ``phi_j = a_j`` and ``sum_j phi_j = v(X) - v(empty)``, whatever
subsets are sampled in expectation. ``esv_sampled``'s docstring states the sampling error in
the unit ``u = sd(a) * sqrt(n / (m * iterations))``: each value's error has a standard
deviation of at most about ``u``, and the values' sum misses ``v(X) - v(empty)`` by up to
about ``2u``. The tolerances below are 4u (several standard deviations; one fixed key each,
so the tests are deterministic).
"""
from math import comb

import jax
import numpy as np
import pytest
from scipy.special import softmax

from vidxai.errors import ArgumentError
from vidxai.explain import esv, frame_average_value

N = 20  # beyond esv()'s exact limit of 16 frames


def additive(n, classes=3, seed=0):
    """Per-frame contributions ``a (n, classes)`` and the game ``masks -> masks @ a``."""
    a = np.random.default_rng(seed).normal(size=(n, classes))
    return a, (lambda masks: np.asarray(masks, np.float64) @ a)


def unit(a, n, m, iterations):
    """The docstring's error unit ``sd(a) * sqrt(n / (m * iterations))`` per class."""
    return a.std(0) * np.sqrt(n / (m * iterations))


def test_esv_beyond_16_frames_is_sampled_and_needs_a_key():
    """17 frames switch ``esv()`` to Algorithm 1 (a key is then required); 16 stay exact.
    catches: the exact/sampled switch moved or inverted, or a missing key silently seeded."""
    a, game = additive(17)
    res = esv(game, 17, empty=np.zeros(3), key=jax.random.key(0), apply_softmax=False)
    assert res.method == "esv-sampled" and res.meta["m"] == 256 and res.meta["iterations"] == 4
    assert res.n_evals < (1 << 17) - 1
    with pytest.raises(ArgumentError, match="^key:"):
        esv(game, 17, empty=np.zeros(3), apply_softmax=False)
    a16, game16 = additive(16)
    exact = esv(game16, 16, empty=np.zeros(3), apply_softmax=False)
    assert exact.method == "esv-exact"
    np.testing.assert_allclose(exact.values, a16, atol=1e-9)


def test_sampled_additive_game_values_within_stated_error():
    """Default settings (m = 256, 4 iterations), 20 frames: every phi_j is within 4u of a_j.
    catches: a frame credited with another frame's contribution, with/without sets swapped,
    a size's term dropped or the mean over sizes mis-normalised."""
    a, game = additive(N, seed=1)
    res = esv(game, N, empty=np.zeros(3), key=jax.random.key(3), apply_softmax=False)
    assert res.method == "esv-sampled"
    err = np.abs(res.values - a)
    assert np.all(err <= 4 * unit(a, N, 256, 4)), err.max(0) / unit(a, N, 256, 4)
    np.testing.assert_allclose(res.full, a.sum(0), atol=1e-12)   # v(X) is scored exactly


def test_sampled_values_are_unbiased_on_an_additive_game():
    """Averaged over 4 keys, the estimates regress on the true a_j with slope 1 (within 0.05;
    its standard error here is about 0.01) and no offset.
    catches: systematic shrinkage (e.g. the frame just added getting no credit, or dividing
    by n when a size's term is missing), which per-run tolerances of 4u would hide."""
    a, game = additive(N, seed=2)
    runs = [esv(game, N, empty=np.zeros(3), key=jax.random.key(10 + k),
                apply_softmax=False).values for k in range(4)]
    est = np.mean(runs, 0)
    for c in range(a.shape[1]):
        x = a[:, c] - a[:, c].mean()
        slope = float(x @ (est[:, c] - est[:, c].mean()) / (x @ x))
        assert abs(slope - 1) < 0.05, slope
    assert np.all(np.abs(est.mean(0) - a.mean(0)) < unit(a, N, 256, 4))


def test_sampled_efficiency_within_stated_error():
    """The values' sum equals v(X) - v(empty) within 4u, for the additive game and for a
    non-constant v(empty).
    catches: v(empty) not subtracted (or added twice), a frame's terms left out of the sum,
    or the full set's score missing from the largest size."""
    a, game = additive(N, seed=4)
    empty = np.array([0.5, -1.0, 2.0])
    res = esv(lambda masks: game(masks) + empty, N, empty=empty, key=jax.random.key(5),
              apply_softmax=False)
    gap = res.values.sum(0) - (res.full - res.empty)
    np.testing.assert_allclose(res.full - res.empty, a.sum(0), atol=1e-12)
    assert np.all(np.abs(gap) <= 4 * unit(a, N, 256, 4)), gap / unit(a, N, 256, 4)


def test_sampled_with_every_subset_drawn_is_exact():
    """With m = C(17, 8) every subset is drawn: the additive game's values are a_j and sum to
    v(X) - v(empty), to float64 rounding.
    catches: Algorithm 1's pooled sums and counts combined into Eq. 7 with the wrong
    normaliser, or a subset scored twice or never."""
    n = 17
    a, game = additive(n, classes=2, seed=5)
    res = esv(game, n, empty=np.zeros(2), key=jax.random.key(0), m=comb(n, n // 2),
              iterations=1, apply_softmax=False)
    assert res.method == "esv-sampled" and res.n_evals == (1 << n) - 1
    np.testing.assert_allclose(res.values, a, atol=1e-9)
    np.testing.assert_allclose(res.values.sum(0), res.full - res.empty, atol=1e-9)


def test_sampled_classifier_scores_full_and_empty_sets_as_paper_003():
    """Softmax classifier game beyond 16 frames: v(X) is the softmax of the mean logit of all
    frames and v(empty) the class prior, unsoftmaxed (paper 003, Sec. 2.2).
    catches: the prior passed through a softmax, or v(X) taken from a partial subset."""
    n = 17
    logits = np.random.default_rng(6).normal(size=(n, 4))
    prior = np.array([0.1, 0.2, 0.3, 0.4])
    res = esv(frame_average_value(logits), n, empty=prior, key=jax.random.key(1), m=64,
              iterations=1)
    np.testing.assert_allclose(res.full, softmax(logits.mean(0)), rtol=1e-5)
    np.testing.assert_allclose(res.empty, prior)
