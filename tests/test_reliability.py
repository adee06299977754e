"""Reliability alpha (paper 004 "Spatio-Temporal Perturbations for Video Attribution",
Eq. 20-21) against double loops written here from the paper's equations and from the STEP
code's conventions, with scipy's Spearman correlation as the independent rank correlation."""
import warnings

import numpy as np
import pytest
from scipy.stats import rankdata, spearmanr

from vidxai import ArgumentError, ArgumentTypeError, ExplanationWarning, metrics


def paper_alpha(A, r):
    """Eq. 20-21 verbatim: w_p = (1/M) sum_m 1[A_pm > r_p]; weighted mean of rho over p < q."""
    n, m = A.shape
    w = [sum(A[p, j] > r[p] for j in range(m)) / m for p in range(n)]
    num = den = 0.0
    for p in range(n - 1):
        for q in range(p + 1, n):
            num += w[p] * w[q] * spearmanr(A[p], A[q]).statistic
            den += w[p] * w[q]
    return num / den


def code_alpha(A, r, lower_is_better=False):
    """The STEP code's conventions: random appended as a column; ranks reversed for
    lower-is-better; w = (M - 1 - rank of random) / (M - 1) over the M = methods + 1 columns,
    rank = number of entries strictly worse (ties count as beating random);
    alpha = sum ww (rho + 1) / (sum ww + 1e-10) - 1."""
    full = np.concatenate([A, r[:, None]], axis=1)
    if lower_is_better:
        full = -full
    n, cols = full.shape
    w = []
    for p in range(n):
        rank_of_random = rankdata(full[p], method="min")[-1] - 1  # entries strictly below
        w.append((cols - 1 - rank_of_random) / (cols - 1))
    num = den = 0.0
    for p in range(n - 1):
        for q in range(p + 1, n):
            num += w[p] * w[q] * (spearmanr(full[p], full[q]).statistic + 1)
            den += w[p] * w[q]
    return num / (den + 1e-10) - 1


def random_case(seed, n=7, m=5, integer=False):
    rng = np.random.default_rng(seed)
    if integer:  # small integers: ties inside rows and with the random value
        return rng.integers(0, 4, (n, m)).astype(float), rng.integers(0, 3, n).astype(float)
    return rng.random((n, m)), rng.random(n) * 0.8


@pytest.mark.parametrize("seed", range(5))
def test_paper_convention_equals_a_direct_double_loop(seed):
    """catches: weights from >= instead of >, the random column inside rho, a mean over all
    ordered pairs or unweighted pairs, Pearson instead of Spearman."""
    A, r = random_case(seed)
    assert metrics.reliability(A, r) == pytest.approx(paper_alpha(A, r), abs=1e-12)


def test_paper_convention_with_tied_values_uses_average_ranks():
    """catches: ties ranked by position (argsort of argsort) instead of average ranks."""
    A, r = random_case(11, n=6, m=6, integer=True)
    A[:, 0] = A[:, 1] + 5  # no constant row: every row has a ranking
    assert metrics.reliability(A, r) == pytest.approx(paper_alpha(A, r), abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("integer", [False, True])
def test_code_convention_equals_a_loop_over_the_code_conventions(seed, integer):
    """catches: the code variant without the random column, ties not beating random,
    the missing +1 / 1e-10 of its formula."""
    A, r = random_case(seed + 20, integer=integer)
    A[:, 0] = 9.0 + np.arange(len(A))  # keeps every row (with random) non-constant
    got = metrics.reliability(A, r, convention="code")
    assert got == pytest.approx(code_alpha(A, r), abs=1e-12)
    assert got != pytest.approx(metrics.reliability(A, r), abs=1e-6)


def test_code_convention_reverses_the_ranking_for_lower_is_better():
    """catches: the deletion (lower-is-better) ranking not reversed in the code convention."""
    A, r = random_case(3)
    got = metrics.reliability(A, r, lower_is_better=True, convention="code")
    assert got == pytest.approx(code_alpha(A, r, lower_is_better=True), abs=1e-12)


@pytest.mark.parametrize("convention", ["paper", "code"])
@pytest.mark.parametrize("seed", range(3))
def test_lower_is_better_equals_negating_A_and_r(convention, seed):
    """catches: lower_is_better flipping only the weights or only the ranks."""
    A, r = random_case(seed + 40)
    assert metrics.reliability(A, r, lower_is_better=True, convention=convention) == \
        pytest.approx(metrics.reliability(-A, -r, convention=convention), abs=1e-12)


@pytest.mark.parametrize("convention", ["paper", "code"])
def test_identical_rankings_that_all_beat_random_give_one(convention):
    """catches: a normalisation that does not reach 1 on perfect agreement (e.g. dividing by
    all pairs, or the weights not normalised)."""
    base = np.array([0.2, 0.5, 0.9, 0.4])
    A = np.stack([base * s + o for s, o in [(1, 0.1), (2, 0.3), (0.5, 0.15), (3, 0.2)]])
    r = np.zeros(4)  # every method beats random; random ranks last in every row
    assert metrics.reliability(A, r, convention=convention) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("convention", ["paper", "code"])
def test_no_weight_warns_and_returns_the_documented_value(convention):
    """catches: a 0/0 NaN when no method beats random (paper: ties do not beat it)."""
    A = np.full((4, 3), 0.2) - np.arange(3) * 0.1
    r = np.full(4, 0.5)
    with pytest.warns(ExplanationWarning, match="weight"):
        got = metrics.reliability(A, r, convention=convention)
    assert got == metrics.NO_WEIGHT == -1.0
    with pytest.warns(ExplanationWarning):  # one video: no pair at all
        assert metrics.reliability(A[:1] + 1, r[:1], convention=convention) == -1.0


def test_constant_row_correlates_zero_and_never_gives_nan():
    """catches: a constant row's undefined Spearman rho turning alpha into NaN."""
    A = np.array([[1.0, 2.0, 3.0], [2.0, 2.0, 2.0], [1.0, 2.0, 4.0]])
    r = np.zeros(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = metrics.reliability(A, r)
    # pairs (0,1) and (1,2) count with rho 0, pair (0,2) with rho 1; all weights 1
    assert got == pytest.approx(1.0 / 3.0)


@pytest.mark.parametrize("call, name, error", [
    (lambda: metrics.reliability(np.ones(4), np.ones(4)), "A", ArgumentError),
    (lambda: metrics.reliability(np.ones((4, 3)), np.ones(3)), "r", ArgumentError),
    (lambda: metrics.reliability(np.ones((4, 3)), np.ones((4, 1))), "r", ArgumentError),
    (lambda: metrics.reliability(np.full((4, 3), np.nan), np.ones(4)), "A", ArgumentError),
    (lambda: metrics.reliability(np.ones((4, 3)), [np.inf] * 4), "r", ArgumentError),
    (lambda: metrics.reliability(np.ones((4, 1)), np.ones(4)), "A", ArgumentError),
    (lambda: metrics.reliability([["a", "b"]], ["c"]), "A", ArgumentTypeError),
    (lambda: metrics.reliability(np.ones((4, 3)), np.ones(4), convention="Paper"),
     "convention", ArgumentError),
    (lambda: metrics.reliability(np.ones((4, 3)), np.ones(4), lower_is_better="yes"),
     "lower_is_better", ArgumentTypeError),
])
def test_bad_input_names_the_argument(call, name, error):
    """catches: shape mistakes (A and r swapped, r as a column) passing silently."""
    with pytest.raises(error, match=f"^{name}:"):
        call()
