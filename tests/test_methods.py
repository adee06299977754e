"""The six removal-based methods against analytic ground truth (paper 001)."""
import jax
import numpy as np
import pytest

from vidxai import explain, metrics, removal, segment
from vidxai.explanation import Explanation
from helpers import (RecordingScore, additive_model, brute_force_shapley, coalition_value,
                     coalitions_of, interaction_model, kernel_shap_fit, region_reader,
                     segment_means, small_grid, toy_video, weighted_ridge)

KEY = jax.random.key(0)


@pytest.fixture(scope="module")
def additive():
    video = toy_video()
    seg = small_grid(video)
    w = np.array([0.5, -1.0, 2.0, 0.1, -0.3, 1.2, 0.7, -2.0], np.float32)
    return video, seg, w, additive_model(seg, w), w * segment_means(video, seg)


def test_kernel_shap_exact_with_full_budget(additive):
    video, seg, _, f, exact = additive
    e = explain.kernel_shap(f, video, seg, key=KEY, n_samples=2**seg.n)
    np.testing.assert_allclose(e.weights, exact, atol=1e-5)
    assert e.n_evals == 2**seg.n  # 254 coalitions + full + empty


def test_kernel_shap_sampled_additive_and_efficiency():
    video = toy_video((4, 12, 12), seed=3)
    seg = segment.grid(video, (2, 3, 3))  # 18 features: 2^18 coalitions, only 300 used
    w = np.random.RandomState(1).randn(seg.n).astype(np.float32)
    f = additive_model(seg, w)
    e = explain.kernel_shap(f, video, seg, key=KEY, n_samples=300)
    np.testing.assert_allclose(e.weights, w * segment_means(video, seg), atol=1e-4)
    assert e.weights.sum() == pytest.approx(e.meta["score"] - e.meta["empty_score"], abs=1e-5)


def test_kernel_shap_matches_brute_force_on_interactions():
    video = toy_video((2, 8, 8), seed=4)
    seg = segment.grid(video, (1, 2, 3))  # 6 features
    pairwise = interaction_model(seg, np.array([1.0, -0.5, 2.0, 0.3, 1.5, -1.0]))
    m0, m2, m4 = (additive_model(seg, np.eye(seg.n)[j]) for j in (0, 2, 4))

    # plus a third-order term: on games of order <= 2 Kernel SHAP with any symmetric weighting
    # (and paired sampling) returns the Shapley values, so weighting bugs would hide
    def f(x):
        return pairwise(x) + 4.0 * m0(x) * m2(x) * m4(x)

    truth = brute_force_shapley(f, video, seg)
    exact = explain.kernel_shap(f, video, seg, key=KEY, n_samples=64)
    np.testing.assert_allclose(exact.weights, truth, atol=1e-5)
    # sampled: exactly the kernel-weighted constrained fit of the coalitions it scored
    # (catches: WLS weights squared or dropped, sampled rows not given the leftover mass)
    rec = RecordingScore(lambda x: np.asarray(f(x)))
    sampled = explain.kernel_shap(rec, video, seg, key=KEY, n_samples=30)
    fitted = sampled.n_evals - sampled.meta["fit"]["heldout_n"]   # held-out rows come last
    z = coalitions_of(rec.videos(fitted), video, seg)
    y = rec.fn(rec.videos(fitted))      # rows 0, 1: the video, the removed video
    expected, complete = kernel_shap_fit(z[2:], y[2:], y[0], y[1])
    assert complete == [1, 5]  # sizes 2..4 sampled (30 rows < 12 + 30 for sizes 1,5,2,4)
    np.testing.assert_allclose(sampled.weights, expected, atol=1e-4 * np.abs(expected).max())
    assert sampled.weights.sum() == pytest.approx(truth.sum(), abs=1e-4)  # efficiency


def test_lime_recovers_additive_weights():
    video = np.full((4, 12, 12, 3), 0.5, np.float32)  # equal segment means: y = 0.5 * z.w
    seg = small_grid(video)
    w = np.array([0.5, -1.0, 2.0, 0.1, -0.3, 1.2, 0.7, -2.0], np.float32)
    f = additive_model(seg, w)
    # unregularised: the scores are exactly linear in the coalition, so any weighted least
    # squares returns 0.5 * w (catches: wrong coefficient scale / intercept handling)
    exact = explain.lime(f, video, seg, key=KEY, n_samples=400, alpha=0.0)
    np.testing.assert_allclose(exact.weights, 0.5 * w, atol=1e-4)
    assert exact.meta["intercept"] == pytest.approx(0.0, abs=1e-4)
    # alpha = 1: the kernel-weighted ridge of the coalitions actually scored
    # (catches: no kernel weights, alpha not rescaled); a constant offset in the model must
    # only move the intercept (catches: intercept penalised)
    rec = RecordingScore(lambda x: np.asarray(f(x)) + 3.0)
    e = explain.lime(rec, video, seg, key=KEY, n_samples=400)
    z = coalitions_of(rec.videos(402), video, seg)[2:]   # rows 0, 1: video, removed video
    k = z.sum(1)
    kernel = np.sqrt(np.exp(-((1 - np.sqrt(k / seg.n)) ** 2) / 0.25**2))  # cosine distance
    coef, intercept = weighted_ridge(z, 0.5 * z @ w + 3.0, kernel, 1.0)
    np.testing.assert_allclose(e.weights, coef, atol=1e-4)
    assert e.meta["intercept"] == pytest.approx(intercept, abs=1e-4)
    assert e.meta["score"] == pytest.approx(0.5 * w.sum() + 3.0, abs=1e-5)
    # 400 samples, the video, the fully removed video and the held-out rows
    assert e.n_evals == 402 + e.meta["fit"]["heldout_n"] and e.meta["fit"]["heldout_n"] == 40


def test_loco_and_univariate_closed_forms(additive):
    video, seg, _, f, exact = additive
    np.testing.assert_allclose(explain.loco(f, video, seg).weights, exact, atol=1e-6)
    np.testing.assert_allclose(explain.univariate(f, video, seg).weights, exact, atol=1e-6)


def test_loco_univariate_on_nonadditive_model_match_direct_definition():
    video = toy_video((2, 8, 8), seed=5)
    seg = segment.grid(video, (1, 2, 2))
    f = interaction_model(seg, np.array([1.0, 2.0, -1.0, 0.5]))
    full = np.ones(seg.n, bool)
    loco = [coalition_value(f, video, seg, full) - coalition_value(f, video, seg, ~np.eye(4, dtype=bool)[i])
            for i in range(4)]
    uni = [coalition_value(f, video, seg, np.eye(4, dtype=bool)[i]) - coalition_value(f, video, seg, ~full)
           for i in range(4)]
    np.testing.assert_allclose(explain.loco(f, video, seg).weights, loco, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(explain.univariate(f, video, seg).weights, uni, rtol=1e-5, atol=1e-6)


def test_rise_and_occlusion_rank_the_strongest_region_first():
    video = np.full((4, 14, 14, 3), 0.6, np.float32)
    seg = small_grid(video)
    w = np.array([0.1, 0.2, 0.1, 3.0, 0.2, 0.1, 0.3, 0.2], np.float32)
    f = additive_model(seg, w)
    top = int(np.argmax(w))
    r = explain.rise(f, video, key=KEY, cells=(2, 2, 2), n_samples=300, shift=False)
    assert int(np.argmax(r.weights)) == top
    region_mean = [r.map[seg.labels == j].mean() for j in range(seg.n)]
    assert int(np.argmax(region_mean)) == top
    o = explain.occlusion(f, video, size=(2, 7, 7), stride=(2, 7, 7))
    assert o.weights.shape == (8,)
    region_mean = [o.map[seg.labels == j].mean() for j in range(seg.n)]
    assert int(np.argmax(region_mean)) == top
    assert o.map.max() == pytest.approx(3.0 * 0.6, rel=1e-4)  # drop = w_top * segment mean


def test_occlusion_default_geometry_matches_paper():
    video = np.zeros((16, 112, 112, 3), np.float32)
    o = explain.occlusion(lambda x: x.mean(axis=(1, 2, 3, 4)), video, batch_size=64)
    assert o.weights.shape == (7 * 13 * 13,)
    assert o.meta["size"] == [4, 16, 16] and o.meta["stride"] == [2, 8, 8]


@pytest.mark.parametrize("method", ["lime", "kernel_shap", "rise"])
def test_same_key_same_result_other_key_other_samples(additive, method):
    video, seg, _, f, _ = additive
    f = interaction_model(seg, np.arange(1.0, 9.0))
    run = {
        "lime": lambda k, b=32: explain.lime(f, video, seg, key=k, n_samples=60, batch_size=b),
        "kernel_shap": lambda k, b=32: explain.kernel_shap(f, video, seg, key=k, n_samples=60, batch_size=b),
        "rise": lambda k, b=32: explain.rise(f, video, key=k, cells=(2, 2, 2), n_samples=60, batch_size=b),
    }[method]
    a, b = run(jax.random.key(1)), run(jax.random.key(1))
    assert np.array_equal(a.weights, b.weights) and np.array_equal(a.map, b.map)
    c = run(jax.random.key(2))
    assert not np.array_equal(a.weights, c.weights)
    d = run(jax.random.key(1), b=7)  # chunking must not change the result
    np.testing.assert_allclose(a.weights, d.weights, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a.map, d.map, rtol=1e-5, atol=1e-6)


def test_host_callable_gives_same_scores_as_jax_function(additive):
    video, seg, _, f, exact = additive
    host = lambda x: np.asarray(f(np.asarray(x)))  # noqa: E731 - a non-JAX (numpy) callable
    e = explain.kernel_shap(host, video, seg, key=KEY, n_samples=2**seg.n, batch_size=20)
    np.testing.assert_allclose(e.weights, exact, atol=1e-5)


def test_reference_removal_runs_and_keeps_full_video_intact(additive):
    video, seg, _, f, _ = additive
    e = explain.loco(f, video, seg, removal=removal.reference())
    assert e.meta["score"] == pytest.approx(float(f(video[None])[0]), rel=1e-5)
    assert e.meta["removal"].startswith("blur3d") and e.meta["edge_sigma"] == 3.5


def test_whitebox_insertion_beats_random_and_deletion_is_lower():
    video = toy_video((4, 16, 16), seed=7)
    region = np.zeros((4, 16, 16), bool)
    region[1:3, 4:10, 6:12] = True
    f = region_reader(region)
    truth = region.astype(np.float32)
    rand = np.random.RandomState(0).rand(*region.shape).astype(np.float32)
    for unit in ("pixel", "patch", segment.grid(video, (2, 4, 4))):
        ins_t, ins_r = (metrics.insertion(f, video, s, unit=unit, steps=40) for s in (truth, rand))
        del_t, del_r = (metrics.deletion(f, video, s, unit=unit, steps=40) for s in (truth, rand))
        assert ins_t.auc > ins_r.auc and del_t.auc < del_r.auc
        assert ins_t.x[0] == 0 and ins_t.x[-1] == pytest.approx(1.0)
        assert ins_t.scores[-1] == pytest.approx(float(f(video[None])[0]), rel=1e-5)
        assert del_t.scores[-1] == pytest.approx(0.0, abs=1e-6)
    # LeRF order inverts the picture
    assert metrics.deletion(f, video, truth, order="lerf").auc > del_t.auc


def test_minimal_mask_on_whitebox_region():
    video = np.full((2, 10, 10, 3), 0.5, np.float32)
    region = np.zeros((2, 10, 10), bool)
    region[0, :5, :] = True  # 25% of the voxels
    f = region_reader(region)
    fractions, reached, curve = metrics.minimal_mask(f, video, region.astype(np.float32),
                                                     thresholds=(0.25, 0.5, 0.6), steps=200)
    assert list(reached) == [True, True, False]
    np.testing.assert_allclose(fractions[:2], [0.125, 0.25], atol=0.01)
    assert fractions[2] == 1.0
    # a single threshold (a scalar or one entry) is valid (catches: a minimum of two)
    one, hit = curve.minimal_fraction(0.25)
    assert hit.tolist() == [True] and one[0] == pytest.approx(fractions[0])


def test_explanation_save_load_roundtrip(tmp_path, additive):
    video, seg, _, f, _ = additive
    e = explain.lime(f, video, seg, key=KEY, n_samples=20)
    back = Explanation.load(e.save(tmp_path / "lime"))
    assert np.array_equal(back.weights, e.weights) and np.array_equal(back.map, e.map)
    assert np.array_equal(back.segmentation.labels, seg.labels)
    assert (back.method, back.n_evals, back.meta) == (e.method, e.n_evals, e.meta)


def test_explanation_files_store_floats_and_deflate_labels(tmp_path, additive):
    """catches: dense float maps deflated again (slow, ~7% smaller), labels stored raw
    (100-1000x larger), or a file numpy cannot read back as an .npz."""
    import zipfile

    video, seg, _, f, _ = additive
    path = explain.lime(f, video, seg, key=KEY, n_samples=20).save(tmp_path / "lime")
    with zipfile.ZipFile(path) as archive:
        kinds = {i.filename: i.compress_type for i in archive.infolist()}
    assert kinds["map.npy"] == kinds["weights.npy"] == zipfile.ZIP_STORED
    assert kinds["labels.npy"] == kinds["info.npy"] == zipfile.ZIP_DEFLATED
    with np.load(path) as data:
        assert np.array_equal(data["labels"], seg.labels)
