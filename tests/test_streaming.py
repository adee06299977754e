"""Sampled methods stream their coalitions: results independent of the chunk size, memory
independent of the number of samples, huge counts refused or interruptible, fit measures."""
import json
import subprocess
import sys
import textwrap
import warnings

import jax
import numpy as np
import pytest

from vidxai import ArgumentError, ExplanationWarning, explain, sampling, segment
from helpers import additive_model, segment_means, toy_video

KEY = jax.random.key(7)


@pytest.fixture(scope="module")
def game():
    video = toy_video((4, 12, 12), seed=5)
    seg = segment.grid(video, (2, 2, 3))
    w = np.random.RandomState(2).randn(seg.n).astype(np.float32)
    f = additive_model(seg, w)
    return video, seg, w, f, (lambda x: additive_model(seg, w)(x) ** 2)


@pytest.mark.parametrize("method", ["lime", "kernel_shap", "rise"])
def test_same_key_same_result_for_any_chunk_size(game, method):
    """catches: coalitions drawn per chunk (a different draw for another batch size), rows of
    the padded last chunk counted, the full / removed rows mixed into the fit."""
    video, seg, _, _, f2 = game
    run = {"lime": lambda b: explain.lime(f2, video, seg, key=KEY, n_samples=90, batch_size=b),
           "kernel_shap": lambda b: explain.kernel_shap(f2, video, seg, key=KEY, n_samples=90,
                                                        batch_size=b),
           "rise": lambda b: explain.rise(f2, video, key=KEY, cells=(2, 3, 3), n_samples=90,
                                          batch_size=b)}[method]
    results = [run(b) for b in (1, 7, 64)]
    for other in results[1:]:
        np.testing.assert_allclose(other.weights, results[0].weights, rtol=2e-5, atol=2e-6)
        np.testing.assert_allclose(other.map, results[0].map, rtol=2e-5, atol=2e-6)
        assert other.n_evals == results[0].n_evals


def test_bernoulli_rows_do_not_depend_on_how_many_are_drawn():
    """Row i comes from fold_in(key, i): the first 10 rows of 1000 are the 10 rows of 10."""
    many = np.asarray(sampling.bernoulli(KEY, 1000, 9))
    few = np.asarray(sampling.bernoulli(KEY, 10, 9))
    np.testing.assert_array_equal(many[:10], few)
    assert 0.45 < many.mean() < 0.55


def test_kernel_chunks_equal_the_materialised_coalitions():
    """catches: the streamed Kernel SHAP rows or weights differing from shapley_kernel's."""
    plan = sampling.kernel_plan(300, 10)
    parts = list(sampling.shapley_kernel_chunks(KEY, plan, 7))
    z = np.concatenate([p[0] for p in parts])
    w = np.concatenate([p[1] for p in parts])
    z_all, w_all = sampling.shapley_kernel(KEY, 300, 10)
    np.testing.assert_array_equal(z, z_all)
    np.testing.assert_allclose(w / w.sum(), w_all, rtol=1e-6)
    assert max(len(p[0]) for p in parts) == 7


def test_full_budget_additive_fit_has_r2_one_and_no_warning(game):
    video, seg, w, f, _ = game
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExplanationWarning)
        e = explain.kernel_shap(f, video, seg, key=KEY, n_samples=2**seg.n)
    np.testing.assert_allclose(e.weights, w * segment_means(video, seg), atol=1e-5)
    assert e.meta["fit"]["r2"] == pytest.approx(1.0, abs=1e-6)
    assert e.meta["warnings"] == []
    lime = explain.lime(f, video, seg, key=KEY, n_samples=200, alpha=0.0)
    assert lime.meta["fit"]["r2"] == pytest.approx(1.0, abs=1e-5)   # additive: exact fit


def test_constant_model_warns_that_the_map_carries_nothing(game):
    video, seg, *_ = game
    flat = lambda x: 0.3 + 0.0 * x.sum(axis=(1, 2, 3, 4))
    with pytest.warns(ExplanationWarning, match="hardly vary"):
        e = explain.lime(flat, video, seg, key=KEY, n_samples=30)
    assert any("hardly vary" in m for m in e.meta["warnings"]) and e.warnings == e.meta["warnings"]
    assert e.meta["score"] == pytest.approx(0.3) and e.meta["empty_score"] == pytest.approx(0.3)


@pytest.mark.parametrize("bad", [2**40, -3, 0, 1.5, "1000"])
def test_unrepresentable_sample_counts_are_typed_errors(game, bad):
    video, seg, _, f, _ = game
    with pytest.raises((ArgumentError, TypeError), match="n_samples"):
        explain.lime(f, video, seg, key=KEY, n_samples=bad)


def test_a_million_samples_start_and_stop_cleanly_on_interrupt(game, tmp_path):
    """KeyboardInterrupt raised by the score function ends the run at once, nothing left."""
    video, seg, _, f, _ = game
    calls = []

    def interrupting(x):
        calls.append(1)
        if len(calls) > 3:
            raise KeyboardInterrupt
        return np.asarray(f(x))

    with pytest.raises(KeyboardInterrupt):
        explain.lime(interrupting, video, seg, key=KEY, n_samples=10**6, batch_size=32)
    assert len(calls) == 4


MEMORY = textwrap.dedent("""
    import json, resource, sys, tracemalloc
    import jax, jax.numpy as jnp, numpy as np
    from vidxai import explain, segment
    video = np.full((4, 16, 16, 3), 0.5, np.float32)
    seg = segment.grid(video, (2, 4, 4))
    w = jnp.linspace(-1, 1, seg.n)
    f = lambda x: (x.mean(-1).reshape(x.shape[0], 4, -1).mean(-1) ** 2).sum(-1)
    explain.lime(f, video, seg, key=jax.random.key(0), n_samples=300, batch_size=64)
    tracemalloc.start()
    explain.{method}(f, video, seg, key=jax.random.key(0), n_samples=int(sys.argv[1]),
                     batch_size=64)
    print(json.dumps(tracemalloc.get_traced_memory()[1]))
""")


@pytest.mark.parametrize("method", ["lime", "kernel_shap"])
def test_peak_host_memory_is_flat_in_the_number_of_samples(method, tmp_path):
    """Python-side allocations (numpy arrays of coalitions, scores) peak at about the same
    size for 10^3 and 10^5 samples (catches: a coalition matrix (3.2 MB) or a float32 score
    vector (400 kB) of length N; the allowance covers caches that warm up once)."""
    script = tmp_path / "mem.py"
    script.write_text(MEMORY.replace("{method}", method))
    peaks = [json.loads(subprocess.run([sys.executable, str(script), str(n)], check=True,
                                       capture_output=True, text=True).stdout)
             for n in (1000, 100000)]
    assert peaks[1] < peaks[0] + 200_000, peaks
