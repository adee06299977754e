"""Local-device sharding (issue 27, deliverable 4): with two (forced host) devices the
engines split their chunks over both and give the results of one device.

The sharded run is a subprocess (``XLA_FLAGS`` must be set before jax is imported); the
reference is the same computation in this process, on its single device.
"""
import json
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vidxai import _sharding, segment
from vidxai.explain import integrated_gradients, lime, occlusion, step
from vidxai.metrics import curves

HERE = pathlib.Path(__file__).parent


def _problem():
    rng = np.random.RandomState(0)
    video = (rng.rand(4, 16, 16, 3) * 0.8 + 0.1).astype(np.float32)
    w = jnp.asarray(rng.randn(4, 16, 16, 3).astype(np.float32))

    def f(x):   # smooth, non-additive, one score in (0, 1) per video
        return jax.nn.sigmoid(jnp.sum(jnp.tanh(x * w), axis=(1, 2, 3, 4)) / 50.0)

    return f, video, np.asarray(jnp.abs(w).sum(-1))


def _evaluations() -> dict:
    """Every engine once, at batch sizes that are NOT multiples of 2 (the sharded engine
    pads its chunks): LIME and occlusion (scoring), a deletion curve (metrics through
    run_batches), STEP with 2 areas (extremal areas), IG (gradient path points)."""
    f, video, saliency = _problem()
    seg = segment.grid((4, 16, 16), (2, 2, 2))
    return {
        "lime": lime(f, video, seg, key=jax.random.key(0), n_samples=13, n_heldout=0,
                     batch_size=5).weights,
        "occlusion": occlusion(f, video, size=(2, 8, 8), stride=(2, 8, 8), batch_size=3).map,
        "curve": curves.deletion(f, video, saliency, steps=9, batch_size=5).scores,
        "step": step(f, video, areas=(0.1, 0.3), iterations=3, output="prob").masks,
        "ig": integrated_gradients(f, video, steps=7, batch_size=3).attributions,
    }


def _sharded_run(out: str) -> None:
    """Body of the subprocess: the evaluations on 2 devices, their placements, and what an
    eager (host) score function leaves behind."""
    assert len(jax.devices()) == 2, jax.devices()
    results = _evaluations()
    seen = {name: {part: sorted(d.id for d in sh.device_set) if sh is not None else None
                   for part, sh in parts.items()}
            for name, parts in _sharding.placements().items()}
    specs = {name: {part: list(getattr(sh, "spec", ())) for part, sh in parts.items()}
             for name, parts in _sharding.placements().items()}
    _sharding.forget_placements()
    f, video, _ = _problem()
    host = lambda x: np.asarray(f(jnp.asarray(np.asarray(x))))  # noqa: E731 - numpy: eager
    eager = occlusion(host, video, size=(2, 8, 8), stride=(2, 8, 8), batch_size=3).map
    np.savez(out, eager=eager, **results)
    print(json.dumps({"devices": seen, "specs": specs,
                      "after_eager": list(_sharding.placements())}))


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("sharded") / "two.npz")
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2",
               JAX_PLATFORMS="cpu", TQDM_DISABLE="1")
    code = (f"import sys; sys.path[:0] = [{str(HERE)!r}]; import test_sharding; "
            f"test_sharding._sharded_run({out!r})")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=str(HERE.parent))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return dict(np.load(out)), report


@pytest.fixture(scope="module")
def single():
    if len(jax.devices()) != 1:
        pytest.skip("the reference needs a single-device process")
    return _evaluations()


def test_sharded_scores_equal_single_device(sharded, single):
    """catches: padding rows leaking into the scores, rows reordered or mixed up between
    devices, the last chunk's padding miscounted after rounding the chunk up to a multiple
    of the device count (LIME's weights, occlusion's map and a deletion curve must be the
    single-device ones exactly: every row is computed alone)."""
    results, _ = sharded
    for name in ("lime", "occlusion", "curve"):
        np.testing.assert_array_equal(results[name], np.asarray(single[name]), err_msg=name)


def test_sharded_areas_and_path_points_equal_single_device(sharded, single):
    """catches: extremal areas optimised on the wrong device's seeds or coupled across
    shards, IG's padded path points weighted as real ones, a partial sum dropped by one
    device (the sums may differ from one device's only by float32 rounding)."""
    results, _ = sharded
    np.testing.assert_allclose(results["step"], single["step"], rtol=0, atol=1e-5)
    scale = np.abs(single["ig"]).max()
    np.testing.assert_allclose(results["ig"], single["ig"], rtol=0, atol=1e-5 * scale)


def test_chunks_are_split_over_both_devices(sharded):
    """catches: sharding that silently falls back to one device (chunk or result on device
    0 only), an engine left unsharded, a gradient sum left split instead of all-reduced, and
    an eager score function pushed through the sharded path."""
    _, report = sharded
    assert set(report["devices"]) == {"scoring", "gradients", "extremal"}
    for name, parts in report["devices"].items():
        assert parts == {"chunk": [0, 1], "result": [0, 1]}, (name, parts)
        assert report["specs"][name]["chunk"] == [_sharding.AXIS], name
    assert report["specs"]["scoring"]["result"] == [_sharding.AXIS]
    assert report["specs"]["gradients"]["result"] == []   # the sum, replicated
    assert report["after_eager"] == []


def test_eager_function_result_unchanged(sharded, single):
    """catches: a host (numpy) score function given sharded or padded batches (its map must
    equal the fused single-device occlusion map)."""
    results, _ = sharded
    np.testing.assert_allclose(results["eager"], single["occlusion"], rtol=1e-6, atol=1e-7)


def test_one_device_plans_nothing_and_rows_round_up():
    """catches: a one-device run paying for a mesh or padding (plan must be None there) and
    a chunk size that is not a multiple of the device count."""
    if len(jax.devices()) == 1:
        assert _sharding.plan(7) is None
    assert [_sharding.rows_for(b, 2) for b in (1, 2, 5, 8)] == [2, 2, 6, 8]
    assert [_sharding.rows_for(b, 3) for b in (1, 3, 4)] == [3, 3, 6]
