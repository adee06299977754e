"""Gradient baselines of paper 004 (G, G*I, IG, SG, SG2, Blur IG) against closed forms.

References are written from the definitions (paper 004 Eq. 22-27), not from the library:
a linear score f(x) = <w, x> has every attribution in closed form; IG's completeness axiom
holds for any model in the limit of many path points; the blur of Blur IG is checked
against scipy's Gaussian filter.
"""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage

from vidxai import ArgumentError, ArgumentTypeError, Explanation, ExplanationWarning, score
from vidxai.explain import (blur_ig, gradient, gradient_x_input, integrated_gradients, smoothgrad,
                            smoothgrad_squared)
from vidxai.explain.gradients.engine import chunk_size
from vidxai.explain.gradients.input_gradients import frame_blur

SHAPE = (4, 8, 8, 3)


@pytest.fixture(scope="module")
def video():
    return np.random.RandomState(0).uniform(0.05, 0.95, SHAPE).astype(np.float32)


@pytest.fixture(scope="module")
def w():
    return np.random.RandomState(1).randn(*SHAPE).astype(np.float32)


def linear(w):
    wj = jnp.asarray(w)
    return lambda x: jnp.sum(x * wj, axis=(1, 2, 3, 4))


def smooth_nonlinear(w):
    """A saturating score: IG's Riemann sum is not exact for it."""
    wj = jnp.asarray(w)
    return lambda x: jnp.tanh(jnp.sum(x * wj, axis=(1, 2, 3, 4)) / 20.0) + 0.1


# ---- linear model: every method in closed form (catches a wrong scale, sign, missing
# ---- (x - baseline) factor, off-by-one path points or a mean over the wrong axis)
def test_gradient_and_gradient_times_input_of_a_linear_score(video, w):
    g = gradient(linear(w), video)
    np.testing.assert_allclose(g.attributions, w, atol=1e-6)
    np.testing.assert_allclose(g.map, np.abs(w).sum(-1), atol=1e-5)   # paper 004's display
    gi = gradient_x_input(linear(w), video)
    np.testing.assert_allclose(gi.attributions, w * video, atol=1e-6)
    assert g.method == "gradient" and gi.method == "gradient_x_input"


@pytest.mark.parametrize("baseline", [0.0, 0.3, "video"])
def test_integrated_gradients_of_a_linear_score_are_exact(video, w, baseline):
    if baseline == "video":
        baseline = np.random.RandomState(2).rand(*SHAPE).astype(np.float32)
    e = integrated_gradients(linear(w), video, baseline=baseline, steps=7, batch_size=3)
    np.testing.assert_allclose(e.attributions, (video - baseline) * w, atol=1e-5)
    assert abs(e.meta["completeness"]["gap"]) < 1e-4
    assert e.n_evals == 7 + 2 and e.meta["steps"] == 7


@pytest.mark.parametrize("sigma", [0.0, 0.15, 2.0])
def test_smoothgrad_of_a_linear_score_is_its_weight_for_any_noise(video, w, sigma):
    sg = smoothgrad(linear(w), video, key=jax.random.key(3), n_samples=5, sigma=sigma)
    sg2 = smoothgrad_squared(linear(w), video, key=jax.random.key(4), n_samples=5, sigma=sigma)
    np.testing.assert_allclose(sg.attributions, w, atol=1e-5)
    np.testing.assert_allclose(sg2.attributions, w * w, atol=1e-5)


def test_target_picks_the_softmax_probability_of_a_class(video, w):
    # catches: target ignored, or the logit explained instead of paper 004's probability
    w2 = np.stack([w, -w], -1).reshape(-1, 2)

    def model(x):
        return x.reshape(x.shape[0], -1) @ jnp.asarray(w2) / 50.0

    ours = gradient(model, video, target=1)
    reference = jax.grad(lambda v: jax.nn.softmax(model(v[None]))[0, 1])(jnp.asarray(video))
    np.testing.assert_allclose(ours.attributions, reference, rtol=1e-5, atol=1e-8)
    assert ours.target == 1


# ---- completeness (catches a wrong Riemann sum: k/m vs (k-1)/m, a missing 1/m, a wrong
# ---- baseline score)
def test_ig_completeness_gap_is_below_one_percent_at_50_steps_and_shrinks(video, w):
    f = smooth_nonlinear(w)
    gaps = [integrated_gradients(f, video, steps=m).meta["completeness"]["relative_gap"]
            for m in (10, 50, 200)]
    assert gaps[1] < 0.01
    assert gaps[0] > gaps[1] > gaps[2]


def test_blur_ig_sums_to_the_score_difference_to_the_blurred_video(video, w):
    f = smooth_nonlinear(w)
    e = blur_ig(f, video, steps=100, sigma_max=3.0)
    blurred = np.stack([scipy.ndimage.gaussian_filter(video[t], (3.0, 3.0, 0), mode="reflect",
                                                      truncate=4.0) for t in range(4)])
    blurred_score = float(f(jnp.asarray(blurred)[None])[0])
    expected = float(f(jnp.asarray(video)[None])[0]) - blurred_score
    assert e.meta["baseline_score"] == pytest.approx(blurred_score, abs=1e-5)
    assert np.sum(e.attributions) == pytest.approx(expected, rel=0.02)   # sign: path to X


def test_blur_ig_default_sigma_is_50_px_at_224_scaled_with_the_frame(video, w):
    assert blur_ig(linear(w), video, steps=2).meta["sigma_max"] == pytest.approx(50 * 8 / 224)


@pytest.mark.parametrize("sigma", [0.0, 1.5, 20.0])
def test_frame_blur_equals_scipys_reflected_gaussian(video, sigma):
    # catches: a wrong border mode, an unnormalised kernel, blurring across time or colour
    ours = np.asarray(frame_blur(jnp.asarray(video), jnp.float32(sigma), int(np.ceil(4 * sigma))))
    if sigma == 0.0:
        np.testing.assert_allclose(ours, video, atol=1e-6)
        return
    ref = np.stack([scipy.ndimage.gaussian_filter(video[t], (sigma, sigma, 0), mode="reflect",
                                                  truncate=4.0) for t in range(video.shape[0])])
    np.testing.assert_allclose(ours, ref, atol=1e-5)


# ---- determinism and chunking
def test_same_key_same_smoothgrad_other_key_other_map(video, w):
    f = smooth_nonlinear(w)
    a = smoothgrad(f, video, key=jax.random.key(5), n_samples=6, sigma=0.5)
    b = smoothgrad(f, video, key=jax.random.key(5), n_samples=6, sigma=0.5)
    c = smoothgrad(f, video, key=jax.random.key(6), n_samples=6, sigma=0.5)
    chex.assert_trees_all_equal(a.attributions, b.attributions)
    assert not np.allclose(a.attributions, c.attributions)


@pytest.mark.parametrize("method, kwargs", [
    (integrated_gradients, {"steps": 7}),
    (smoothgrad, {"n_samples": 7, "key": jax.random.key(0), "sigma": 0.3}),
    (smoothgrad_squared, {"n_samples": 7, "key": jax.random.key(0), "sigma": 0.3}),
    (blur_ig, {"steps": 7}),
])
def test_chunk_size_does_not_change_the_result(video, w, method, kwargs):
    # catches: padding rows counted, noise drawn per chunk instead of per sample index
    f = smooth_nonlinear(w)
    results = [method(f, video, batch_size=b, **kwargs).attributions for b in (1, 3, 7, 50)]
    for r in results[1:]:
        np.testing.assert_allclose(r, results[0], rtol=1e-5, atol=1e-7)


def test_chunk_size_pads_little():
    assert chunk_size(50, 8) == 5 and chunk_size(50, 10) == 10 and chunk_size(3, 100) == 3
    assert chunk_size(7, 1) == 1


def test_the_result_saves_and_loads_with_its_attributions(video, w, tmp_path):
    e = integrated_gradients(linear(w), video, steps=3)
    back = Explanation.load(e.save(tmp_path / "ig.npz"))
    assert type(back) is type(e)
    np.testing.assert_array_equal(back.attributions, e.attributions)
    np.testing.assert_array_equal(back.map, e.map)
    assert back.meta["completeness"] == e.meta["completeness"]


def test_inputs_are_not_modified(video, w):
    copy = video.copy()
    integrated_gradients(linear(w), video, steps=3, baseline=copy * 0.5)
    np.testing.assert_array_equal(video, copy)


# ---- warnings
def test_a_vanishing_gradient_and_a_large_completeness_gap_are_warned_about(video, w):
    with pytest.warns(ExplanationWarning, match="0 everywhere"):
        gradient(lambda x: jnp.zeros(x.shape[0]) + 1.0, video)
    steep = lambda x: jnp.tanh(jnp.sum(x * jnp.asarray(w), axis=(1, 2, 3, 4)))  # noqa: E731
    with pytest.warns(ExplanationWarning, match="completeness gap"):
        integrated_gradients(steep, video, steps=2)


# ---- bad input
def test_a_numpy_function_is_refused_saying_gradients_need_jax_or_the_bridge(video):
    def host(x):
        return jnp.asarray(np.asarray(x).sum(axis=(1, 2, 3, 4)))

    for method in (gradient, integrated_gradients):
        with pytest.raises(ArgumentError, match=r"^f:.*JAX function.*from_torch"):
            method(host, video)


def test_wrong_targets_are_refused(video, w):
    w2 = jnp.asarray(np.random.RandomState(3).randn(int(np.prod(SHAPE)), 2), jnp.float32)

    def model(x):
        return x.reshape(x.shape[0], -1) @ w2

    with pytest.raises(ArgumentError, match="^target:"):
        gradient(model, video, target=5)                       # only 2 classes
    with pytest.raises(ArgumentError, match="^target:"):
        gradient(score(model, 0), video, target=1)             # f already scores a class
    with pytest.raises(ArgumentTypeError, match="^target:"):
        gradient(model, video, target="cat")
    with pytest.raises(Exception, match=r"shape \(1,\)"):
        gradient(model, video)                                 # (B, K) outputs, no target


@pytest.mark.parametrize("call, argument", [
    (lambda f, v: integrated_gradients(f, v, steps=0), "steps"),
    (lambda f, v: integrated_gradients(f, v, baseline=np.zeros((2, 2))), "baseline"),
    (lambda f, v: integrated_gradients(f, v, baseline=float("nan")), "baseline"),
    (lambda f, v: smoothgrad(f, v, key=None), "key"),
    (lambda f, v: smoothgrad(f, v, key=jax.random.key(0), sigma=-1.0), "sigma"),
    (lambda f, v: blur_ig(f, v, sigma_max=0.0), "sigma_max"),
    (lambda f, v: integrated_gradients(f, v, batch_size=0), "batch_size"),
    (lambda f, v: gradient(f, v * 2.0), "video"),
    (lambda f, v: gradient("not a function", v), "f"),
])
def test_bad_arguments_are_named(video, w, call, argument):
    with pytest.raises((ArgumentError, ArgumentTypeError), match=f"^{argument}:"):
        call(linear(w), video)
