"""Layer methods (Grad-CAM, Excitation Backprop), XRAI, and gradients through the torch bridge.

The references are hand computations from the definitions: a tiny conv net whose score is a
linear read-out of the mean-pooled ReLU activations has dS/dA_k = v_k / N at every position,
so Grad-CAM (paper 004 Eq. 28) is ReLU(sum_k v_k A_k / N) with A computed by an explicit
numpy convolution; Excitation Backprop's winning probabilities follow the rule
P(a_j) = a_j sum_i w+_ij P(z_i) / sum_j' w+_ij' a_j' written out in numpy.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from helpers import region_reader, relu_conv_net
from vidxai import ArgumentError, ArgumentTypeError, score, segment
from vidxai.bridge import from_torch
from vidxai.explain import excitation_backprop, grad_cam, integrated_gradients, xrai
from vidxai.explain.gradients.regions import rank_regions
from vidxai.layers import flax_model

SHAPE = (4, 6, 6, 3)
K_FEAT, N_CLASSES = 4, 3


class TorchTiny(torch.nn.Module):
    def __init__(self, params):
        super().__init__()
        self.conv = torch.nn.Conv3d(3, K_FEAT, 3, padding=1)
        self.act = torch.nn.ReLU()
        self.head = torch.nn.Linear(K_FEAT, N_CLASSES)
        kernel = np.asarray(params["conv"]["kernel"])                # (kt, kh, kw, cin, cout)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor(kernel.transpose(4, 3, 0, 1, 2)))
            self.conv.bias.copy_(torch.tensor(np.asarray(params["conv"]["bias"])))
            self.head.weight.copy_(torch.tensor(np.asarray(params["head"]["kernel"]).T))
            self.head.bias.copy_(torch.tensor(np.asarray(params["head"]["bias"])))

    def forward(self, x):                                            # (B, C, T, H, W)
        return self.head(self.act(self.conv(x)).mean(dim=(2, 3, 4)))


def _channels_first(t):
    return t.permute(0, 4, 1, 2, 3)


@pytest.fixture(scope="module")
def nets():
    module = relu_conv_net(K_FEAT, N_CLASSES)
    variables = module.init(jax.random.key(0), jnp.zeros((1,) + SHAPE))
    jax_model = flax_model(module, variables)
    torch_model = from_torch(TorchTiny(variables["params"]).eval(), preprocess=_channels_first)
    return jax_model, torch_model, variables["params"]


@pytest.fixture(scope="module")
def video():
    return np.random.RandomState(0).uniform(0.0, 1.0, SHAPE).astype(np.float32)


def hand_activation(params, video):
    """A = ReLU(conv(x) + b), 'SAME' zero padding, by explicit shifted sums in numpy."""
    kernel = np.asarray(params["conv"]["kernel"], np.float64)
    x = np.pad(video.astype(np.float64), ((1, 1), (1, 1), (1, 1), (0, 0)))
    t, h, w = video.shape[:3]
    z = np.zeros((t, h, w, K_FEAT)) + np.asarray(params["conv"]["bias"])
    for dt in range(3):
        for dh in range(3):
            for dw in range(3):
                z += x[dt:dt + t, dh:dh + h, dw:dw + w] @ kernel[dt, dh, dw]
    return np.maximum(z, 0.0)


def hand_grad_cam(params, video, target):
    a = hand_activation(params, video)
    alpha = np.asarray(params["head"]["kernel"])[:, target] / a[..., 0].size   # dS/dA_k, Eq. 28
    return np.maximum(a @ alpha, 0.0)


# ---- Grad-CAM (catches: mean over channels instead of positions, missing ReLU, the
# ---- gradient of the wrong layer, torch channels-first activations read as channels-last)
@pytest.mark.parametrize("which", ["jax", "torch"])
def test_grad_cam_equals_a_hand_computation_of_eq_28(nets, video, which):
    model = nets[0] if which == "jax" else nets[1]
    e = grad_cam(score(model, 2, "logit"), video, layer="act")
    np.testing.assert_allclose(e.attributions, hand_grad_cam(nets[2], video, 2), rtol=1e-4,
                               atol=1e-6)
    assert e.map.shape == SHAPE[:3] and e.meta["layer"] == "act" and e.method == "grad_cam"


def test_grad_cam_upsamples_a_coarse_layer_in_time_and_space(video):
    module = relu_conv_net(2, 2, kernel=(2, 2, 2), strides=(2, 2, 2))
    m = flax_model(module, module.init(jax.random.key(1), jnp.zeros((1,) + SHAPE)))
    e = grad_cam(score(m, 0, "logit"), video, layer="act")
    assert e.attributions.shape == (2, 3, 3) and e.map.shape == SHAPE[:3]
    assert e.map.min() >= 0 and e.map.max() <= e.attributions.max() + 1e-6


def test_the_default_layer_is_the_last_with_a_spatial_grid(nets, video):
    assert grad_cam(score(nets[0], 0), video).meta["layer"] == "act"
    assert grad_cam(score(nets[1], 0), video).meta["layer"] == "act"


@pytest.mark.parametrize("which", [0, 1])
def test_an_unknown_layer_lists_the_valid_ones(nets, video, which):
    with pytest.raises(ArgumentError, match=r"^layer:.*'conv'.*'act'.*got 'Mixed_5c'"):
        grad_cam(score(nets[which], 0), video, layer="Mixed_5c")


def test_a_function_without_layers_is_refused(video):
    with pytest.raises(ArgumentTypeError, match="^f:.*named layers"):
        grad_cam(lambda x: x.sum(axis=(1, 2, 3, 4)), video)


# ---- torch bridge vs JAX twin (catches: a wrong VJP through torch, a layout mix-up)
def test_ig_through_the_torch_bridge_equals_ig_of_the_jax_twin(nets, video):
    jax_ig = integrated_gradients(score(nets[0], 1), video, steps=8, batch_size=3)
    torch_ig = integrated_gradients(score(nets[1], 1), video, steps=8, batch_size=3)
    scale = np.abs(jax_ig.attributions).max()
    np.testing.assert_allclose(torch_ig.attributions, jax_ig.attributions, atol=1e-5 * scale)
    assert torch_ig.meta["eager"] and not jax_ig.meta["eager"]


def test_the_torch_tap_matches_the_flax_tap(nets, video):
    x = jnp.asarray(video)[None]
    d = jnp.asarray(np.random.RandomState(4).randn(1, *SHAPE[:3], K_FEAT), jnp.float32)
    outs = [m.tap("act")(x, d) for m in nets[:2]]
    for a, b in zip(*outs):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)
    grads = [jax.grad(lambda v, m=m: jnp.sum(m.tap("act")(x, v)[0] ** 2))(d) for m in nets[:2]]
    np.testing.assert_allclose(np.asarray(grads[1]), np.asarray(grads[0]), rtol=1e-4, atol=1e-5)


# ---- Excitation Backprop (catches: negative weights kept, the bias in the normaliser,
# ---- probability lost or created on the way down)
def test_excitation_backprop_equals_the_winning_probability_rule_by_hand(nets, video):
    params, target = nets[2], 0
    a = hand_activation(params, video)                                  # (T, H, W, K)
    n = a[..., 0].size
    m = a.mean(axis=(0, 1, 2))                                          # pooled units
    wp = np.maximum(np.asarray(params["head"]["kernel"])[:, target], 0.0)
    p_pooled = m * wp / np.sum(m * wp)                                  # dense layer, P(top)=1
    expected = a / (n * m) * p_pooled                                   # mean pool: a_j / sum
    e = excitation_backprop(score(nets[0], target), video, layer="act")
    np.testing.assert_allclose(e.attributions, expected.sum(-1), rtol=1e-4, atol=1e-7)
    assert e.meta["mwp_total"] == pytest.approx(1.0, abs=1e-5)


def test_excitation_backprop_refuses_what_it_does_not_apply_to(nets, video):
    class Tanh(nn.Module):
        @nn.compact
        def __call__(self, x):
            a = nn.relu(nn.Conv(2, (3, 3, 3), name="conv")(x))
            return nn.Dense(2, name="head")(jnp.tanh(a).mean(axis=(1, 2, 3)))

    module = Tanh()
    m = flax_model(module, module.init(jax.random.key(2), jnp.zeros((1,) + SHAPE)))
    with pytest.raises(ArgumentError, match="^f:.*tanh"):
        excitation_backprop(score(m, 0), video, layer="conv")
    with pytest.raises(ArgumentTypeError, match="^f:.*torch"):
        excitation_backprop(score(nets[1], 0), video, layer="act")


# ---- XRAI (catches: gains not per voxel, covered voxels counted twice, wrong tie order)
def test_xrai_ranks_the_region_the_white_box_model_reads_first():
    video = np.random.RandomState(5).uniform(0.1, 0.9, (4, 16, 16, 3)).astype(np.float32)
    region = np.zeros(video.shape[:3], bool)
    region[2:, 8:, :8] = True                       # one cell of the 2x2x2 grid
    levels = [segment.grid(video, (2, 2, 2)), segment.grid(video, (4, 4, 4))]
    e = xrai(region_reader(region), video, segmentations=levels, steps=4)
    order = e.segmentation.labels
    assert order[region].max() < order[~region].min()       # all of it before anything else
    np.testing.assert_allclose(e.map, e.weights[order])
    assert e.attributions.shape == video.shape


def test_rank_regions_by_hand():
    attr = np.array([3.0, 1.0, 0.0, 0.0]).reshape(1, 1, 4)
    coarse = segment.Segmentation(np.array([0, 0, 1, 1]).reshape(1, 1, 4), 2)
    fine = segment.Segmentation(np.arange(4).reshape(1, 1, 4), 4)
    order, gains = rank_regions(attr, [coarse, fine])
    # fine {0} (3), then coarse {0,1} adds voxel 1 (1; tie with fine {1}: the earlier level),
    # then coarse {2,3} (0)
    np.testing.assert_array_equal(order.ravel(), [0, 1, 2, 2])
    np.testing.assert_allclose(gains, [3.0, 1.0, 0.0])


def test_xrai_on_precomputed_attributions_with_slic_levels():
    video = np.random.RandomState(6).uniform(0.0, 1.0, (4, 24, 24, 3)).astype(np.float32)
    video[:, :, :12] *= 0.2                               # SLIC sees a dark and a bright half
    attr = np.zeros(video.shape, np.float32)
    attr[:, :, :12] = 1.0
    e = xrai(None, video, attributions=attr, levels=(4, 16))
    assert e.n_evals == 0 and len(e.meta["levels"]) == 2 and e.segmentation.n > 2
    assert e.map[:, :, :12].mean() > 2 * e.map[:, :, 12:].mean()   # the attributed half first
