"""The issue-25 benchmarks: their helpers (fast) and each script end to end with --quick (slow)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import faithfulness  # noqa: E402
import study_speed  # noqa: E402


def test_boxes_of_known_mask():
    """catches: a box off by one pixel (exclusive corners, or x/y swapped), or a frame without
    evidence annotated (it must be a -1 row, which the pointing game skips)."""
    mask = np.zeros((3, 8, 10), bool)
    mask[0, 2:5, 3:9] = True           # rows 2..4, columns 3..8
    mask[2, 7, 0] = True
    boxes = faithfulness.boxes_of(mask)
    np.testing.assert_array_equal(boxes, [[2, 3, 4, 8], [-1, -1, -1, -1], [7, 0, 7, 0]])


def test_runnable_skips_esv_on_a_small_model():
    """catches: a frame-value method (esv) sent to a model without meta['frame_value'] (the
    whole study would record a failure per video) or a runnable method wrongly skipped."""
    import models

    model = models.load("r2plus1d_temporal")
    keep, skipped = faithfulness.runnable(model, ["esv", "grad_cam", "lime", "gradient"])
    assert keep == ["grad_cam", "lime", "gradient"]
    assert list(skipped) == ["esv"] and "frame-value" in skipped["esv"]


def test_quick_options_only_where_taken():
    """catches: --quick passing an option a method does not take (the study refuses it with
    an ArgumentError), dropping the table's CPU settings (lime's 120 samples), or cutting the
    extremal iterations below STEP's L_K start (iteration 100), which silently turns STEP
    into EP-3D (identical maps)."""
    full = faithfulness.method_options(["lime", "gradient", "step"], quick=False)
    assert full["lime"]["n_samples"] == 120 and "gradient" not in full
    quick = faithfulness.method_options(["lime", "ig", "step", "gradient"], quick=True)
    assert quick["lime"]["n_samples"] == 16 and quick["ig"]["steps"] == 3
    assert quick["step"]["iterations"] == 8 and "gradient" not in quick
    short = faithfulness.method_options(["step", "tiem_lk", "ep3d"], quick=False, iterations=60)
    assert short["step"]["lambda2_start"] == 20 == short["tiem_lk"]["lambda2_start"]
    assert "lambda2_start" not in short["ep3d"]                 # not an option of EP-3D
    assert all(o["lambda2_start"] < o["iterations"]
               for o in (short["step"], short["tiem_lk"], quick["step"]))


def test_timed_model_keeps_values_and_gradients_and_counts():
    """catches: the timing wrapper changing the model's outputs or its input gradients (its
    custom VJP), timing nothing on the backward pass, or timing under jit (trace time)."""
    clock = study_speed.Clock()
    weights = jnp.arange(6.0).reshape(3, 2) / 10.0

    def model(x):                                          # (B, 3) -> (B, 2), nonlinear
        return jnp.tanh(x @ weights)

    f = study_speed.timed(model, clock)
    x = jnp.array([[0.3, -1.0, 2.0], [1.0, 0.5, -0.2]])
    np.testing.assert_allclose(f(x), model(x), rtol=1e-6)
    assert len(clock.spans) == 1
    loss = lambda g: lambda v: jnp.sum(g(v)[:, 1] ** 2)
    np.testing.assert_allclose(jax.grad(loss(f))(x), jax.grad(loss(model))(x), rtol=1e-6)
    assert len(clock.spans) == 3                            # forward + backward timed
    jax.jit(f)(x)
    assert len(clock.spans) == 3                            # traced: not timed
    assert all(seconds >= 0.0 for _, seconds in clock.spans)


def test_timed_apply_keeps_layers_and_declares_eager():
    """catches: the timed zoo model losing its layers (Grad-CAM then fails on it) or being
    fused into the engine's jit (then its calls are never timed)."""
    import models

    clock = study_speed.Clock()
    factory = study_speed.timed_model("r2plus1d_temporal", clock)
    model, base = factory(), models.load("r2plus1d_temporal")
    assert factory() is model and model.vidxai_eager
    x = jnp.full((1, 4, 64, 64, 3), 0.4)                  # few frames: a fast compile
    np.testing.assert_allclose(model(x), base(x), rtol=1e-5, atol=1e-6)
    shape = tuple(x.shape[1:])
    assert list(model.apply.layers(shape)) == list(base.apply.layers(shape))
    layer = list(base.apply.layers(shape))[0]
    info = base.apply.layers(shape)[layer]
    zeros = jnp.zeros((1,) + tuple(info.shape))          # per-video (T', H', W', C)
    (out, act), (ref_out, ref_act) = model.apply.tap(layer)(x, zeros), base.apply.tap(layer)(x, zeros)
    np.testing.assert_allclose(out, ref_out, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(act, ref_act, rtol=1e-5, atol=1e-6)
    assert len(clock.spans) == 2


@pytest.mark.slow
@pytest.mark.parametrize("script", ["faithfulness.py", "study_speed.py"])
def test_benchmark_quick_runs(script, tmp_path):
    """catches: a benchmark that no longer runs against the library (a renamed option, a
    changed table column, a protocol preset gone) - each prints its final line."""
    args = [sys.executable, str(ROOT / "benchmarks" / script), "--quick"]
    if script == "faithfulness.py":
        args += ["--out", str(tmp_path), "--methods", "gradient", "occlusion", "esv"]
    done = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    last = {"faithfulness.py": "paper 004's finding", "study_speed.py": "share of the wall"}
    assert last[script] in done.stdout
    if script == "faithfulness.py":
        assert "skipped: esv" in done.stdout and "alpha (Eq. 20-21)" in done.stdout


def test_model_only_counts_each_gradient_once_and_times_the_calls():
    """catches: the model-only estimate counting a gradient's forward pass twice (once
    under the VJP, once inside the pullback), losing the shapes of a call, or timing
    nothing."""
    clock = study_speed.Clock()
    weights = jnp.arange(6.0).reshape(3, 2) / 10.0
    model = lambda x: jnp.tanh(x @ weights)               # noqa: E731
    f = study_speed.timed(model, clock)
    x = jnp.ones((4, 3))
    f(x)
    f(x)
    jax.grad(lambda v: jnp.sum(f(v)))(x)
    counts = study_speed.call_counts(clock)
    assert [k for _, k, _ in clock.calls] == ["forward", "forward", "vjp-forward", "backward"]
    assert sorted((kind, shapes, n) for (_, kind, shapes), n in counts.items()) == [
        ("backward", ((4, 3),), 1), ("forward", ((4, 3),), 2)]
    assert study_speed.call_counts(clock, hi=clock.spans[1][0]) == {
        (id(model), "forward", ((4, 3),)): 1}
    assert study_speed.model_only(clock, repeats=1) > 0.0
