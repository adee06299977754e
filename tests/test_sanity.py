"""Sanity checks (Adebayo et al., NeurIPS 2018; Sixt et al., ICML 2020) and robustness metrics
(Yeh et al., NeurIPS 2019; Captum's definitions)."""
import copy

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vidxai.errors import ArgumentError
from vidxai.layers import flax_model
from vidxai.metrics import sanity

SHAPE = (2, 8, 8, 3)


def _video(seed=0):
    return np.random.RandomState(seed).rand(*SHAPE).astype(np.float32) * 0.8 + 0.1


class Linear(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.Dense(2)(x.reshape(x.shape[0], -1))


class MLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        h = nn.tanh(nn.Dense(5, name="lower")(x.reshape(x.shape[0], -1)))
        return nn.Dense(2, name="upper")(h)


def _gradient_map(model, video):
    g = jax.grad(lambda x: model(x)[0, 1])(jnp.asarray(video)[None])[0]
    return np.asarray(g)


def test_linear_model_map_is_the_new_weights():
    """catches: explaining the original model after randomising (a copy not passed on), fresh
    values that are not the module's own initialisers, or the user's variables changed."""
    module = Linear()
    variables = module.init(jax.random.key(1), jnp.zeros((1,) + SHAPE))
    kept = copy.deepcopy(jax.tree_util.tree_map(np.asarray, variables))
    model = flax_model(module, variables)
    video = _video()
    res = sanity.randomisation(model, _gradient_map, video, key=jax.random.key(5))
    assert res.layers == ("Dense_0",)
    fresh = module.init(jax.random.key(5), jnp.zeros((1,) + SHAPE))["params"]["Dense_0"]
    expected = np.asarray(fresh["kernel"])[:, 1].reshape(SHAPE).sum(-1)
    np.testing.assert_allclose(res.maps[0], expected, rtol=1e-6, atol=1e-7)
    original = np.asarray(kept["params"]["Dense_0"]["kernel"])[:, 1].reshape(SHAPE).sum(-1)
    np.testing.assert_allclose(res.original, original, rtol=1e-6, atol=1e-7)
    for a, b in zip(jax.tree_util.tree_leaves(kept), jax.tree_util.tree_leaves(variables)):
        assert np.array_equal(a, np.asarray(b))


def test_cascade_is_reproducible_nested_and_top_down():
    """catches: a cascade in bottom-up order, steps that are not nested, fresh values that
    depend on the subset randomised, results not fixed by the key, or the pytree modified."""
    module = MLP()
    variables = module.init(jax.random.key(0), jnp.zeros((1,) + SHAPE))
    before = jax.tree_util.tree_map(lambda a: np.array(a, copy=True), variables)
    video = _video(1)
    explain = lambda p, v: _gradient_map(lambda x: module.apply(p, x), v)
    a = sanity.randomisation(variables, explain, video, key=jax.random.key(2))
    b = sanity.randomisation(variables, explain, video, key=jax.random.key(2))
    c = sanity.randomisation(variables, explain, video, key=jax.random.key(3))
    assert a.layers == ("upper", "lower")
    assert np.array_equal(a.maps, b.maps)
    assert not np.allclose(a.maps, c.maps)
    top = sanity.randomise(variables, ["upper"], jax.random.key(2))
    both = sanity.randomise(variables, ["upper", "lower"], jax.random.key(2))
    assert np.array_equal(top["params"]["upper"]["kernel"], both["params"]["upper"]["kernel"])
    assert np.array_equal(top["params"]["lower"]["kernel"], variables["params"]["lower"]["kernel"])
    np.testing.assert_allclose(a.maps[0], explain(top, video).sum(-1), rtol=1e-6, atol=1e-7)
    for x, y in zip(jax.tree_util.tree_leaves(before), jax.tree_util.tree_leaves(variables)):
        assert np.array_equal(x, np.asarray(y))
    ind = sanity.randomisation(variables, explain, video, key=jax.random.key(2), order="independent")
    np.testing.assert_allclose(ind.maps[1], explain(
        sanity.randomise(variables, ["lower"], jax.random.key(2)), video).sum(-1), rtol=1e-6, atol=1e-7)


def test_torch_module_is_copied_and_reset_from_the_key():
    """catches: re-initialising the user's torch module in place, touching the global torch
    RNG, seeds not derived from the key, or layer groups without parameters listed."""
    torch = pytest.importorskip("torch")
    from vidxai.bridge import from_torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(int(np.prod(SHAPE)), 4),
                              torch.nn.Tanh(), torch.nn.Linear(4, 2))
    state = {k: v.clone() for k, v in net.state_dict().items()}
    g = from_torch(net)
    rng = torch.get_rng_state()

    def explain(model, video):
        return _gradient_map(model, video)

    a = sanity.randomisation(g, explain, _video(), key=jax.random.key(4))
    b = sanity.randomisation(g, explain, _video(), key=jax.random.key(4))
    assert a.layers == ("3", "1")
    assert np.array_equal(a.maps, b.maps)
    assert not np.allclose(a.maps[-1], a.original)
    assert torch.equal(torch.get_rng_state(), rng)
    for k, v in net.state_dict().items():
        assert torch.equal(v, state[k])
    copy_ = sanity.randomise(net, ["1"], jax.random.key(4))
    assert copy_ is not net and not torch.equal(copy_[1].weight, net[1].weight)
    assert torch.equal(copy_[3].weight, net[3].weight)


def test_random_map_passes_and_edge_map_fails():
    """catches: a similarity that is not rank / structure based (a random map must score about
    0 at every layer) or one that cannot reach 1 (a model-independent map must score 1)."""
    from skimage.filters import sobel

    module = MLP()
    variables = module.init(jax.random.key(0), jnp.zeros((1, 4, 16, 16, 3)))
    video = np.random.RandomState(0).rand(4, 16, 16, 3).astype(np.float32)
    calls = iter(range(100))
    noise = lambda p, v: np.random.RandomState(next(calls)).rand(*v.shape[:3])
    edges = lambda p, v: np.stack([sobel(frame.mean(-1)) for frame in v])
    rnd = sanity.randomisation(variables, noise, video, key=jax.random.key(0))
    for name in ("spearman", "ssim"):
        assert np.all(np.abs(rnd.values[name]) < 0.15), rnd.values[name]
    assert rnd.passes()
    edge = sanity.randomisation(variables, edges, video, key=jax.random.key(0))
    for name in ("spearman", "ssim"):
        np.testing.assert_allclose(edge.values[name], 1.0, atol=1e-9)
    assert not edge.passes()
    rows = edge.rows()
    assert len(rows) == 4 and {r["layer"] for r in rows} == {"upper", "lower"}
    fig = sanity.plot_randomisation({"edges": edge, "random": rnd})
    assert len(fig.axes[0].lines) >= 2


def test_similarities_against_references():
    """catches: Spearman computed on values rather than ranks, or SSIM without the [0, 1]
    normalisation: scipy's spearmanr and a monotone transform (SSIM 1 for the same map
    rescaled) are the references."""
    from scipy.stats import spearmanr

    rng = np.random.RandomState(3)
    a, b = rng.randn(2, 9, 9), rng.randn(2, 9, 9)
    assert sanity.spearman(a, b, absolute=False) == pytest.approx(
        spearmanr(a.ravel(), b.ravel())[0], abs=1e-12)
    assert sanity.spearman(a, np.exp(a), absolute=False) == pytest.approx(1.0)
    assert sanity.ssim(a, 3 * a + 2, absolute=False) == pytest.approx(1.0)
    assert sanity.spearman(a, np.zeros_like(a)) == 0.0


def test_random_logit_uses_another_class():
    """catches: the random class equal to the target, or the maps of the two classes not
    compared (a linear model's per-class gradient maps differ)."""
    module = Linear()
    variables = module.init(jax.random.key(1), jnp.zeros((1,) + SHAPE))
    seen = []

    def explain(params, video, target):
        seen.append(target)
        return jax.grad(lambda x: module.apply(params, x)[0, target])(jnp.asarray(video)[None])[0]

    res = sanity.random_logit(variables, explain, _video(), target=1, num_classes=2,
                              key=jax.random.key(0))
    assert res.other == 0 and seen == [1, 0]
    assert res.values["spearman"] < 0.5
    assert res.rows()[0]["test"] == "random_logit"


class Counted(nn.Module):
    """A conv layer (readable, tappable) and a dense head; counts its traces."""

    traces = []

    @nn.compact
    def __call__(self, x):
        Counted.traces.append(x.shape)
        h = nn.relu(nn.Conv(3, (1, 3, 3), name="conv")(x))
        return nn.Dense(2, name="head")(h.reshape(h.shape[0], -1))


def test_randomised_copies_share_compilations():
    """catches: every randomised FlaxModel compiling its own forward pass (a jax.jit per
    instance: the cascade recompiling the model at each step), a tap that is not a pytree of
    the variables (so a jitted caller cannot share one compilation across copies), or a
    shared compilation that keeps the first copy's weights (the outputs must differ)."""
    from vidxai import layers

    module = Counted()
    video = _video(3)
    model = flax_model(module, module.init(jax.random.key(0), jnp.zeros((1,) + SHAPE)))
    x = jnp.asarray(video)[None]
    want = model(x)
    copies = [sanity.randomise(model, names, jax.random.key(4), video=video)
              for names in (["head"], ["head", "conv"])]
    Counted.traces.clear()
    cached = layers._forward._cache_size()
    outs = [c(x) for c in copies]
    assert Counted.traces == [] and layers._forward._cache_size() == cached
    for c, out in zip(copies, outs):
        np.testing.assert_allclose(out, c.module.apply(c.variables, x), rtol=1e-6)
        assert not np.allclose(out, want)
    tapped = jax.jit(lambda tap, v, d: tap(v, d))
    zeros = jnp.zeros((1,) + model.layers(SHAPE)["conv"].shape)
    results = [tapped(m.tap("conv"), x, zeros) for m in [model] + copies]
    assert tapped._cache_size() == 1
    for m, (out, act) in zip([model] + copies, results):
        np.testing.assert_allclose(out, m(x), rtol=1e-6)
    assert not np.allclose(results[1][0], results[0][0])


def test_bad_input_names_the_problem():
    """catches: an unknown layer accepted (the error must list the valid ones), an explainer
    whose maps change shape, or a gradient method run on a non-differentiable model."""
    module = MLP()
    variables = module.init(jax.random.key(0), jnp.zeros((1,) + SHAPE))
    video = _video()
    with pytest.raises(ArgumentError) as err:
        sanity.randomisation(variables, lambda p, v: v[..., 0], video, key=jax.random.key(0),
                             layers=["upper", "middle"])
    assert err.value.argument == "layers" and "lower" in str(err.value)
    shapes = iter([(2, 8, 8), (2, 8, 7), (2, 8, 7)])
    with pytest.raises(ArgumentError) as err:
        sanity.randomisation(variables, lambda p, v: np.ones(next(shapes)), video,
                             key=jax.random.key(0))
    assert err.value.argument == "explain_fn"

    def frozen(x):
        return np.ones((x.shape[0], 3), np.float32)

    frozen.differentiable = False
    with pytest.raises(ArgumentError) as err:
        sanity.random_logit(frozen, sanity.explainer("gradient"), video, target=0,
                            num_classes=3, key=jax.random.key(0))
    assert err.value.argument == "model"
    with pytest.raises(ArgumentError) as err:
        sanity.infidelity(lambda x: x.sum((1, 2, 3, 4)), video, np.ones((2, 8, 7)),
                          key=jax.random.key(0))
    assert err.value.argument == "attribution"


def _captum_infidelity(f_torch, video, attribution, perturbations, normalize):
    torch = pytest.importorskip("torch")
    from captum.metrics import infidelity

    pert = torch.tensor(perturbations, dtype=torch.float64)
    x = torch.tensor(video[None], dtype=torch.float64)
    attr = torch.tensor(attribution[None], dtype=torch.float64)
    return float(infidelity(f_torch, lambda inp: (pert, inp - pert), x, attr,
                            n_perturb_samples=len(pert), normalize=normalize)[0])


@pytest.mark.parametrize("normalize", [False, True])
def test_infidelity_matches_captum(normalize):
    """catches: a sign error in f(x) - f(x - I), the mean taken over the wrong axis, or a
    normalisation other than Captum's beta (same explicit perturbations, 1e-5)."""
    torch = pytest.importorskip("torch")
    rng = np.random.RandomState(0)
    video = _video(2)
    w = rng.randn(*SHAPE).astype(np.float32)
    attribution = rng.randn(*SHAPE).astype(np.float32)
    pert = (0.05 * rng.randn(7, *SHAPE)).astype(np.float32)
    f = lambda x: jnp.tanh((x * w).sum((1, 2, 3, 4)) / 10) + (x ** 2).sum((1, 2, 3, 4)) / 50
    wt = torch.tensor(w, dtype=torch.float64)
    f_torch = lambda x: torch.tanh((x * wt).sum((1, 2, 3, 4)) / 10) + (x ** 2).sum((1, 2, 3, 4)) / 50
    ours = sanity.infidelity(f, video, attribution, perturbations=pert, normalize=normalize,
                             batch_size=3)
    ref = _captum_infidelity(f_torch, video, attribution, pert.astype(np.float64), normalize)
    assert ours == pytest.approx(ref, rel=1e-5, abs=1e-9)


def test_infidelity_invariants():
    """catches: normalize that does not remove the map's scale, or a linear model whose own
    weights are not a perfect (zero-infidelity) attribution."""
    rng = np.random.RandomState(1)
    video = _video(3)
    w = rng.randn(*SHAPE).astype(np.float32)
    f = lambda x: jnp.tanh((x * w).sum((1, 2, 3, 4)) / 10)
    attribution = rng.rand(*SHAPE[:3]).astype(np.float32)
    a = sanity.infidelity(f, video, attribution, key=jax.random.key(0), n=12, normalize=True)
    b = sanity.infidelity(f, video, 100 * attribution, key=jax.random.key(0), n=12, normalize=True)
    assert a == pytest.approx(b, rel=1e-5)
    linear = lambda x: (x * w).sum((1, 2, 3, 4))
    assert sanity.infidelity(linear, video, w, key=jax.random.key(0), n=6, sigma=0.05) < 1e-8


def test_max_sensitivity():
    """catches: a sensitivity that is not a difference of explanations (an attribution that
    ignores its input must give 0), or the wrong norm / normalisation (for the identity
    explanation it is max ||noise|| / ||x|| with uniform noise in the L-inf ball)."""
    video = _video(4)
    const = np.random.RandomState(0).rand(*SHAPE[:3])
    assert sanity.max_sensitivity(lambda v: const, video, key=jax.random.key(0)) == 0.0
    big = np.random.RandomState(1).rand(4, 32, 32, 3).astype(np.float32) * 0.5 + 0.25
    got = sanity.max_sensitivity(lambda v: np.asarray(v), big, key=jax.random.key(1),
                                 radius=0.02, n=5, clip=False)
    expected = 0.02 * np.sqrt(big.size / 3) / np.linalg.norm(big)
    assert got == pytest.approx(expected, rel=0.02)
    batched = sanity.max_sensitivity(lambda b: np.asarray(b), big, key=jax.random.key(1),
                                     radius=0.02, n=5, clip=False, batched=True)
    assert batched == pytest.approx(got, rel=1e-6)
