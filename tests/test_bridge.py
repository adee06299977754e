"""Torch bridge: DLPack transfer, forward/VJP agreement with torch, jit and vmap, errors."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import vidxai
from vidxai import ArgumentError, ArgumentTypeError, ScoreFunctionError, explain, scoring, segment
from vidxai.bridge import TorchFunction, from_torch, to_jax, to_torch

B, T, H, W, C, K = 2, 4, 16, 16, 3, 5


def _model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv3d(C, 6, kernel_size=3, padding=1),
        torch.nn.Tanh(),
        torch.nn.AdaptiveAvgPool3d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(6, K),
    ).eval()


def _prep(t):
    return ((t - 0.45) / 0.225).permute(0, 4, 1, 2, 3)  # (B, T, H, W, C) -> (B, C, T, H, W)


@pytest.fixture(scope="module")
def model():
    return _model()


@pytest.fixture(scope="module")
def video():
    return jax.random.uniform(jax.random.key(0), (B, T, H, W, C), dtype=jnp.float32)


def _torch_direct(model, x):
    with torch.no_grad():
        return model(_prep(torch.tensor(np.asarray(x)))).numpy()


def _torch_vjp(model, x, cot):
    t = torch.tensor(np.asarray(x), requires_grad=True)
    out = model(_prep(t))
    (grad,) = torch.autograd.grad(out, t, grad_outputs=torch.tensor(np.asarray(cot)))
    return grad.numpy()


def test_forward_matches_torch(model, video):
    g = from_torch(model, preprocess=_prep)
    out = g(video)
    assert isinstance(out, jax.Array) and out.shape == (B, K) and out.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(out), _torch_direct(model, video), rtol=0, atol=1e-6)
    assert g.vidxai_eager is True and g.differentiable is True and g.module is model
    assert not model.training  # mode untouched (the caller chose eval)


def test_grad_matches_torch_autograd(model, video):
    g = from_torch(model, preprocess=_prep)
    w = jnp.array([0.7, -1.3])
    grad = jax.grad(lambda x: jnp.sum(g(x)[:, 1] * w))(video)
    cot = np.zeros((B, K), np.float32)
    cot[:, 1] = np.asarray(w)
    np.testing.assert_allclose(np.asarray(grad), _torch_vjp(model, video, cot), rtol=0, atol=1e-5)
    assert np.abs(np.asarray(grad)).max() > 1e-4  # non-trivial gradient


def test_vjp_with_general_cotangent(model, video):
    g = from_torch(model, preprocess=_prep)
    cot = jax.random.normal(jax.random.key(1), (B, K), dtype=jnp.float32)
    out, vjp = jax.vjp(g, video)
    (grad,) = vjp(cot)
    np.testing.assert_allclose(np.asarray(out), _torch_direct(model, video), atol=1e-6)
    np.testing.assert_allclose(np.asarray(grad), _torch_vjp(model, video, cot), rtol=0, atol=1e-5)


def test_jit_uses_callback_and_matches_eager(model, video):
    g = from_torch(model, preprocess=_prep)
    eager = np.asarray(g(video))
    jitted = jax.jit(g)
    np.testing.assert_allclose(np.asarray(jitted(video)), eager, rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.asarray(jitted(video + 0.0)), eager, rtol=0, atol=1e-6)

    loss = lambda x: jnp.sum(g(x)[:, 3] ** 2)
    np.testing.assert_allclose(np.asarray(jax.jit(jax.grad(loss))(video)),
                               np.asarray(jax.grad(loss)(video)), rtol=0, atol=1e-6)


def test_jit_probe_runs_once_per_shape(video):
    calls = []
    inner = _model()

    def counting(t):
        calls.append(t.shape[0])
        return inner(t)

    g = jax.jit(from_torch(counting, preprocess=_prep))
    g(video).block_until_ready()
    g(video * 0.5).block_until_ready()  # cached compilation: one callback call, no new probe
    assert calls == [1, B, B]


def test_vmap_folds_leading_axes(model, video):
    g = from_torch(model, preprocess=_prep)
    stacked = jnp.stack([video, 1.0 - video])
    out = jax.vmap(g)(stacked)
    expect = np.stack([np.asarray(g(video)), np.asarray(g(1.0 - video))])
    np.testing.assert_allclose(np.asarray(out), expect, rtol=0, atol=1e-6)


def test_batch_size_chunking_matches_unchunked(model, video):
    full = from_torch(model, preprocess=_prep)
    w = jnp.array([0.7, -1.3])
    loss = lambda f: (lambda v: jnp.sum(f(v)[:, 1] * w))
    for bs in (1, 64):
        chunked = from_torch(model, preprocess=_prep, batch_size=bs)
        np.testing.assert_allclose(np.asarray(chunked(video)), np.asarray(full(video)),
                                   rtol=0, atol=1e-6)
        np.testing.assert_allclose(np.asarray(jax.grad(loss(chunked))(video)),
                                   np.asarray(jax.grad(loss(full))(video)), rtol=0, atol=1e-6)


def test_chunks_have_at_most_batch_size():
    seen = []

    def record(t):
        seen.append(t.shape[0])
        return t.mean(dim=(1, 2, 3, 4))

    out = from_torch(record, batch_size=3)(jnp.ones((7, 2, 4, 4, 3), jnp.float32))
    assert seen == [3, 3, 1] and out.shape == (7,)


def test_dlpack_shares_memory_on_cpu(video):
    # jax -> torch: the torch tensor aliases the JAX buffer.
    t = to_torch(video)
    assert t.device.type == "cpu" and t.data_ptr() == video.unsafe_buffer_pointer()
    # torch -> jax: the JAX array aliases torch's (64-byte aligned) buffer.
    src = torch.randn(3, 4)
    back = to_jax(src)
    assert back.unsafe_buffer_pointer() == src.data_ptr()
    np.testing.assert_array_equal(np.asarray(back), src.numpy())
    # a strided view is made contiguous first (the one case that copies)
    view = to_jax(src.T)
    np.testing.assert_array_equal(np.asarray(view), src.T.numpy())


def test_eager_call_passes_the_jax_buffer_itself(video):
    ptrs = []

    def record(t):
        ptrs.append(t.data_ptr())
        return t.sum(dim=(1, 2, 3, 4))

    from_torch(record)(video)
    assert ptrs == [video.unsafe_buffer_pointer()]


def test_input_unchanged_and_inplace_module_detected(model, video):
    before = np.array(video)
    g = from_torch(model, preprocess=_prep)
    g(video)
    jax.grad(lambda x: g(x).sum())(video)
    np.testing.assert_array_equal(np.asarray(video), before)

    def inplace(t):
        return t.mul_(2.0).mean(dim=(1, 2, 3, 4))

    victim = jnp.ones((2, 2, 4, 4, 3), jnp.float32)
    with pytest.raises(ScoreFunctionError, match="in place"):
        from_torch(inplace)(victim)


def test_dtype_option_runs_model_in_other_precision(model, video):
    g64 = from_torch(model.double(), preprocess=_prep, dtype=torch.float64)
    try:
        out = g64(video)
        assert out.dtype == jnp.float32
        np.testing.assert_allclose(np.asarray(out), _torch_direct(model.float(), video), atol=1e-5)
    finally:
        model.float()


def test_numpy_float32_input_accepted(model, video):
    g = from_torch(model, preprocess=_prep)
    np.testing.assert_allclose(np.asarray(g(np.asarray(video))), np.asarray(g(video)), atol=0)


def test_argument_errors(model, video):
    with pytest.raises(ArgumentTypeError) as e:
        from_torch(3)
    assert e.value.argument == "module"
    with pytest.raises(ArgumentError) as e:
        from_torch(model, batch_size=0)
    assert e.value.argument == "batch_size"
    with pytest.raises(ArgumentTypeError):
        from_torch(model, batch_size=2.5)
    with pytest.raises(ArgumentTypeError) as e:
        from_torch(model, preprocess="permute")
    assert e.value.argument == "preprocess"
    with pytest.raises(ArgumentTypeError) as e:
        from_torch(model, dtype=torch.int32)
    assert e.value.argument == "dtype"

    g = from_torch(model, preprocess=_prep)
    for bad in (np.asarray(video, np.float64), video.astype(jnp.int32),
                video.astype(jnp.bfloat16), [[1.0]]):
        with pytest.raises(ArgumentTypeError) as e:
            g(bad)
        assert e.value.argument == "x"
    with pytest.raises(ArgumentError) as e:
        g(jnp.zeros((0, T, H, W, C), jnp.float32))
    assert e.value.argument == "x"


def test_device_errors(video):
    on_meta = _model().to("meta")  # parameters on a device the input is not on
    with pytest.raises(ArgumentError) as e:
        from_torch(on_meta, preprocess=_prep)(video)
    assert e.value.argument == "device" and "meta" in str(e.value)
    with pytest.raises(ArgumentError) as e:
        jax.jit(from_torch(on_meta, preprocess=_prep, device="cpu"))(video)
    assert e.value.argument == "device"
    with pytest.raises(ArgumentError) as e:
        from_torch(_model(), device="meta")  # explicit device without the parameters
    assert e.value.argument == "device"
    with pytest.raises(ArgumentError) as e:
        from_torch(_model(), device="no-such-device")
    assert e.value.argument == "device"
    # explicit matching device is fine
    g = from_torch(_model(), preprocess=_prep, device="cpu")
    assert g(video).shape == (B, K)


def test_bad_module_outputs(video):
    bad_outputs = {
        "not a tensor": lambda t: (t.sum(),),
        "numpy": lambda t: np.zeros((t.shape[0], 2)),
        "wrong batch": lambda t: t.reshape(-1)[:7].reshape(1, 7),
        "scalar": lambda t: t.sum(),
        "integer": lambda t: t.sum(dim=(1, 2, 3, 4)).long(),
    }
    for name, fn in bad_outputs.items():
        with pytest.raises(ScoreFunctionError):
            from_torch(fn)(video)
    with pytest.raises(ScoreFunctionError):  # also raised while tracing under jit (probe)
        jax.jit(from_torch(bad_outputs["numpy"]))(video)


def test_non_differentiable_module_raises_on_grad(video):
    g = from_torch(lambda t: (t > 0.5).float().sum(dim=(1, 2, 3, 4)))
    assert g(video).shape == (B,)
    with pytest.raises(ScoreFunctionError, match="differentiabl"):
        jax.grad(lambda x: g(x).sum())(video)


def test_public_attributes():
    module = _model()
    g = from_torch(module, preprocess=_prep, batch_size=4, device="cpu", dtype=torch.float32)
    assert isinstance(g, TorchFunction)
    assert g.module is module and g.preprocess is _prep and g.batch_size == 4
    assert g.device == torch.device("cpu") and g.dtype == torch.float32
    assert g.differentiable is True and g.vidxai_eager is True
    assert isinstance(g.jax_function, jax.custom_vjp)
    assert g.__name__ == "from_torch(Sequential)" and "from_torch" in g.__doc__
    plain = from_torch(_prep)
    assert plain.preprocess is None and plain.batch_size is None and plain.device is None


def test_module_moved_after_wrapping_is_detected(video):
    module = _model()
    g = from_torch(module, preprocess=_prep)
    assert g(video).shape == (B, K)  # device scan cached here
    module.to("meta")
    with pytest.raises(ArgumentError) as e:  # the cache notices the move
        g(video)
    assert e.value.argument == "device" and "meta" in str(e.value)


def test_result_does_not_alias_a_buffer_the_module_reuses(video):
    buffer = torch.zeros(B, C)

    def reuse(t):  # returns the same buffer on every call, like a static output buffer
        return buffer.copy_(t.mean(dim=(1, 2, 3)))

    g = from_torch(reuse)
    first = g(video)
    expect = np.asarray(video).mean(axis=(1, 2, 3))
    g(jnp.zeros_like(video))  # overwrites the module's buffer with zeros
    np.testing.assert_allclose(np.asarray(first), expect, atol=1e-6)


def _jax_twin(module):
    """The test model written in JAX with the same weights (NDHWC convolution)."""
    conv, lin = module[0], module[4]
    kernel = jnp.asarray(conv.weight.detach().numpy().transpose(2, 3, 4, 1, 0))  # DHWIO
    bias, w, b = (jnp.asarray(p.detach().numpy()) for p in (conv.bias, lin.weight, lin.bias))

    def apply(x):
        y = jax.lax.conv_general_dilated((x - 0.45) / 0.225, kernel, (1, 1, 1), "SAME",
                                         dimension_numbers=("NDHWC", "DHWIO", "NDHWC"))
        return jnp.tanh(y + bias).mean(axis=(1, 2, 3)) @ w.T + b

    return apply


def test_lambda_wrapper_runs_eagerly_and_matches_score_path(model, video):
    g = from_torch(model, preprocess=_prep)
    twin = _jax_twin(model)
    target = 2
    wrapped = lambda x: jax.nn.softmax(g(x))[:, target]
    pure = lambda x: jax.nn.softmax(twin(x))[:, target]
    shape = (8, T, H, W, C)
    assert scoring.is_eager(wrapped, shape) and not scoring.is_eager(pure, shape)
    np.testing.assert_allclose(np.asarray(twin(video)), np.asarray(g(video)), atol=1e-5)

    seg = segment.grid((T, H, W), (2, 2, 2))
    lime = lambda f: explain.lime(f, video[0], seg, key=jax.random.key(3), n_samples=40,
                                  batch_size=8).weights
    via_score = lime(vidxai.score(g, target))
    np.testing.assert_array_equal(lime(wrapped), via_score)  # same eager path, same numbers
    chex.assert_trees_all_close(lime(pure), via_score, atol=1e-4)
    assert np.abs(via_score).max() > 1e-4  # the weights are not trivially zero
