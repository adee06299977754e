"""``explain.run``: every method of the table by name, on every kind of model (issue 24).

The reference for each method is a direct call of the method's own function with the same
settings and key, written out here by hand (not through the table's adapters).
"""
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import conv_zoo_model
from vidxai import ArgumentError, ArgumentTypeError, Explanation, cli, explain, scoring, segment
from vidxai.explain import frontdoor, registry

T, H, W = 4, 12, 12
VIDEO = np.random.default_rng(0).uniform(0, 1, (T, H, W, 3)).astype(np.float32)
FIXTURES = Path(__file__).parent / "fixtures" / "v020"


def linear_logits():
    """Three classes, logits linear in the pixels."""
    w = jnp.asarray(np.random.default_rng(1).normal(size=(T * H * W * 3, 3)) * 0.05, jnp.float32)

    def apply(x):
        return x.reshape(x.shape[0], -1) @ w
    return apply


MODEL = conv_zoo_model((T, H, W))
SMALL = {"lime": {"n_samples": 16}, "kernel_shap": {"n_samples": 16}, "rise": {"n_samples": 8},
         "occlusion": {}, "ep2d": {"iterations": 2, "areas": (0.2,)},
         "ep3d": {"iterations": 2, "areas": (0.2,)}, "step": {"iterations": 2, "areas": (0.2,)},
         "tiem": {"iterations": 2, "areas": (0.2,)}, "tiem_lk": {"iterations": 2, "areas": (0.2,)},
         "ig": {"steps": 3}, "smoothgrad": {"n_samples": 2}, "smoothgrad_squared": {"n_samples": 2},
         "blur_ig": {"steps": 2}, "xrai": {"steps": 2}, "grad_cam": {"layer": "act"},
         "excitation_backprop": {"layer": "act"}}


def direct(name, f, key, seg, options):
    """The method's own function called by hand, as its docstring says to call it."""
    fn = registry.get(name).function
    if name in ("lime", "kernel_shap"):
        return fn(f, VIDEO, seg, key=key, **options)
    if name in ("loco", "univariate"):
        return fn(f, VIDEO, seg, **options)
    if name == "esv":
        value, empty = MODEL.meta["frame_value"](VIDEO)
        return fn(value, T, empty=empty, target=f.target, key=key, **options)
    if name in ("rise", "smoothgrad", "smoothgrad_squared", "random"):
        return fn(f, VIDEO, key=key, **options)
    return fn(f, VIDEO, **options)


@pytest.mark.parametrize("name", list(registry.methods()))
def test_every_method_through_run_equals_its_own_function(name):
    """catches: an adapter that drops an option, passes another key, segmentation or target,
    or calls the wrong function; a result that is not a (T, H, W) map."""
    options = SMALL.get(name, {})
    seg = segment.grid(VIDEO, (2, 2, 2))
    key = jax.random.key(7)
    extra = {"segmentation": seg} if "segmentation" in registry.get(name).needs else {}
    got = explain.run(name, MODEL, VIDEO, target="y", key=key, **extra, **options)
    f = scoring.score(MODEL, 1, "prob")
    want = direct(name, f, key, seg, options)
    assert isinstance(got, Explanation) and type(got) is type(want)
    assert got.map.shape[0] == T and got.map.shape in ((T, H, W), (T, 1, 1))
    np.testing.assert_allclose(got.map, want.map, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got.weights, want.weights, rtol=1e-5, atol=1e-7)
    assert got.meta["run"]["target"] == 1 and got.meta["run"]["label"] == "y"


def test_defaults_are_filled_in_and_recorded():
    """catches: a default key other than key(0), a default segmentation other than SLIC at
    the command line's size, or defaults that are used but not recorded."""
    f = scoring.score(MODEL, 0, "prob")
    got = explain.run("lime", MODEL, VIDEO, target=0, n_samples=12)
    seg = segment.slic(VIDEO, n_segments=frontdoor.DEFAULT_SEGMENTS)
    want = explain.lime(f, VIDEO, seg, key=jax.random.key(0), n_samples=12)
    np.testing.assert_allclose(got.map, want.map, rtol=1e-5, atol=1e-7)
    filled = got.meta["run"]["filled"]
    assert filled["key"] == np.asarray(jax.random.key_data(jax.random.key(0))).tolist()
    assert filled["segmentation"]["segments"] == seg.n
    assert got.meta["run"]["options"] == ["n_samples"]


def test_auto_target_is_the_top1_class_and_logits_callables_work():
    """catches: "auto" taking another class than argmax, or a plain (B, K) callable not being
    turned into the probability of the target."""
    apply = linear_logits()
    top = int(np.argmax(np.asarray(apply(VIDEO[None]))[0]))
    got = explain.run("gradient", apply, VIDEO)
    want = explain.gradient(scoring.score(apply, top, "prob"), VIDEO)
    assert got.meta["run"]["target"] == top
    np.testing.assert_allclose(got.map, want.map, rtol=1e-5)


def test_a_score_function_is_explained_as_it_is():
    """catches: a (B,) score function wrapped again (softmax of one value is 1: a flat map)."""
    apply = linear_logits()

    def f(x):
        return apply(x)[:, 2]
    got = explain.run("gradient_x_input", f, VIDEO)
    np.testing.assert_allclose(got.map, explain.gradient_x_input(f, VIDEO).map, rtol=1e-6)
    assert got.meta["run"]["target"] is None
    with pytest.raises(ArgumentError, match="target"):
        explain.run("gradient", f, VIDEO, target=1)


def test_a_subject_is_reused_without_probing_the_model_again():
    """catches: run() calling the model to find the target when it was given a Subject."""
    calls = []
    apply = linear_logits()

    def counting(x):          # eager (called outside jit): every model call is counted
        calls.append(x.shape[0])
        return apply(jnp.asarray(x))
    counting.vidxai_eager = True
    who = frontdoor.subject(counting, VIDEO)
    assert calls == [1] and who.outputs.shape == (3,)
    calls.clear()
    explain.run("occlusion", who, VIDEO, size=(2, 6, 6), stride=(2, 6, 6))
    through_run = list(calls)
    calls.clear()
    explain.occlusion(who.f, VIDEO, size=(2, 6, 6), stride=(2, 6, 6))
    assert through_run == calls and calls      # only the method's own model calls


@pytest.mark.parametrize("option, takers", [("n_samples", "lime"), ("areas", "step"),
                                            ("layer", "grad_cam"), ("removal", "loco")])
def test_an_option_the_method_does_not_take_names_it_and_its_takers(option, takers):
    """catches: an option silently ignored (the user believes it applied)."""
    with pytest.raises(ArgumentError) as info:
        explain.run("gradient", MODEL, VIDEO, **{option: 3})
    assert info.value.argument == option and takers in str(info.value)


def test_unknown_method_and_unscorable_targets_are_typed_errors():
    """catches: a KeyError / IndexError instead of an error naming the argument."""
    with pytest.raises(ArgumentError) as info:
        explain.run("no_such_method", MODEL, VIDEO)
    assert info.value.argument == "method" and "lime" in str(info.value)
    for target in (3, -1, "no such label"):
        with pytest.raises(ArgumentError) as info:
            explain.run("gradient", MODEL, VIDEO, target=target)
        assert info.value.argument == "target"
    with pytest.raises(ArgumentError) as info:       # plain callable: labels mean nothing
        explain.run("gradient", linear_logits(), VIDEO, target="x")
    assert info.value.argument == "target"
    with pytest.raises(ArgumentTypeError) as info:
        explain.run("gradient", "not a model", VIDEO)
    assert info.value.argument == "model"


def test_esv_needs_a_frame_value_model():
    """catches: ESV run on a model without a frame game failing deep inside with an
    AttributeError instead of naming the model."""
    with pytest.raises(ArgumentError) as info:
        explain.run("esv", linear_logits(), VIDEO)
    assert info.value.argument == "model" and "frame" in str(info.value)


def test_run_does_not_modify_the_users_video():
    """catches: in-place normalisation or removal on the caller's array."""
    video = VIDEO.copy()
    explain.run("occlusion", MODEL, video, size=(2, 6, 6), stride=(2, 6, 6))
    np.testing.assert_array_equal(video, VIDEO)


def test_random_baseline_is_keyed_uniform_and_never_calls_the_model():
    """catches: a random map that is not reproducible from the key, not uniform on [0, 1),
    shared between keys, or that spends model evaluations."""
    calls = []

    def f(x):
        calls.append(1)
        return x.mean(axis=(1, 2, 3, 4))
    who = frontdoor.Subject(f)
    a = explain.run("random", who, VIDEO, key=1)
    b = explain.run("random", who, VIDEO, key=1)
    c = explain.run("random", who, VIDEO, key=2)
    np.testing.assert_array_equal(a.map, b.map)
    assert not np.allclose(a.map, c.map) and a.n_evals == 0 and not calls
    big = explain.random_map(f, np.zeros((8, 32, 32, 3), np.float32), key=jax.random.key(0))
    assert 0 <= big.map.min() and big.map.max() < 1 and abs(big.map.mean() - 0.5) < 0.01
    seg = segment.grid(VIDEO, (2, 2, 2))
    per_segment = explain.run("random", who, VIDEO, key=1, segmentation=seg)
    np.testing.assert_array_equal(per_segment.map, per_segment.weights[seg.labels])


# ----------------------------------------------------------------- the command line
@pytest.fixture
def conv_zoo(monkeypatch, tmp_path):
    from vidxai import zoo
    from vidxai.io import write_video

    monkeypatch.setattr(zoo, "registry", lambda: {"conv": lambda: MODEL})
    frames = (VIDEO * 255).round().astype(np.uint8)
    return write_video(tmp_path / "clip.gif", frames, fps=4)


@pytest.mark.parametrize("name, flags, options", [
    ("loco", ["--segmenter", "grid", "--cells", "2", "2", "2"], {}),
    ("ep3d", ["--iterations", "2", "--areas", "0.2"], {"iterations": 2, "areas": (0.2,)}),
    ("esv", [], {}),
    ("smoothgrad", ["--samples", "2", "--seed", "3"], {"n_samples": 2}),
])
def test_cli_and_run_give_the_same_map(name, flags, options, conv_zoo, tmp_path, capsys):
    """catches: the command line calling a method differently from explain.run (another
    key, default, target or segmentation) - one method of each family."""
    from vidxai import io, zoo

    out = tmp_path / name
    code = cli.main(["explain", str(conv_zoo), "--model", "conv", "--method", name,
                     "--target", "z", "--out", str(out), *flags])
    assert code == 0, capsys.readouterr().err
    saved = Explanation.load(out / "explanation.npz")
    _, video, _ = zoo.load_clip(MODEL, conv_zoo, say=lambda _m: None)
    if name == "loco":
        options = {"segmentation": segment.grid(video, (2, 2, 2)), "batch_size": 8}
    if name == "smoothgrad":
        options = {**options, "batch_size": 8}
    got = explain.run(name, MODEL, video, target="z", key=3 if name == "smoothgrad" else 0,
                      **options)
    np.testing.assert_allclose(saved.map, got.map, rtol=1e-5, atol=1e-7)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["target"] == 2


def test_the_cli_holds_no_family_branches():
    """catches: method knowledge creeping back into the command line."""
    root = Path(cli.__file__).parent
    for path in root.glob("*.py"):
        text = path.read_text()
        assert "family ==" not in text and "family !=" not in text, path.name


# ----------------------------------------------------------------- saved files
@pytest.mark.parametrize("kind, cls", [("removal", "Explanation"), ("extremal", "ExtremalResult"),
                                       ("gradient", "GradientResult"), ("esv", "ESVResult")])
def test_files_written_by_0_2_0_load_as_their_class_with_the_same_arrays(kind, cls):
    """catches: a loader that only understands the new kinds, or maps an old module path to
    the wrong class; arrays read back differently from what the file holds."""
    path = FIXTURES / f"{kind}.npz"
    raw = np.load(path)
    info = json.loads(str(raw["info"]))
    assert info["format"] == "vidxai.explanation/2" and ":" in info["kind"]
    e = Explanation.load(path)
    assert type(e).__name__ == cls and e.kind == kind
    np.testing.assert_array_equal(e.map, raw["map"])
    np.testing.assert_array_equal(e.weights, raw["weights"])


@pytest.mark.parametrize("kind", ["removal", "extremal", "gradient", "esv"])
def test_new_files_name_a_stable_kind_not_a_module(kind, tmp_path):
    """catches: saving a module path again (a later move would break every saved result)."""
    e = Explanation.load(FIXTURES / f"{kind}.npz")
    path = e.save(tmp_path / "again.npz")
    info = json.loads(str(np.load(path)["info"]))
    assert info["kind"] == kind and ":" not in info["kind"]
    again = Explanation.load(path)
    assert type(again) is type(e)
    np.testing.assert_array_equal(again.map, e.map)


def test_subject_is_public_and_an_explicit_frame_count_below_the_models_minimum_is_refused():
    """catches: reading a clip the model cannot score (I3D needs 9 frames) with no error
    until deep inside the model."""
    from vidxai import zoo

    assert explain.subject is frontdoor.subject and explain.Subject is frontdoor.Subject
    picky = conv_zoo_model((T, H, W))
    picky = type(picky)(picky.name, picky.apply, num_frames=T, size=(H, W),
                        class_names=picky.class_names, min_frames=3)
    with pytest.raises(ArgumentError) as info:
        zoo.clip_window(picky, 20, 2, None)
    assert info.value.argument == "frames" and "at least 3" in str(info.value)


def test_score_functions_of_one_model_and_target_share_compilations():
    """catches: every video of a dataset run or study recompiling the engine's steps because
    each builds a new score function (the engine takes f as a static jit argument)."""
    traces = []
    apply = linear_logits()

    def model(x):
        traces.append(1)          # runs when JAX traces the model, not per compiled call
        return apply(x)
    f1, f2, f3 = scoring.score(model, 1), scoring.score(model, 1), scoring.score(model, 2)
    assert f1 == f2 and hash(f1) == hash(f2) and f1 != f3
    assert (f1.target, f1.output, f1.model) == (1, "prob", model)
    explain.occlusion(f1, VIDEO, size=(2, 6, 6))
    traced = len(traces)
    explain.occlusion(f2, VIDEO, size=(2, 6, 6))
    assert len(traces) == traced
    explain.occlusion(f3, VIDEO, size=(2, 6, 6))
    assert len(traces) > traced
    np.testing.assert_allclose(np.asarray(f1(VIDEO[None])), np.asarray(
        jax.nn.softmax(apply(VIDEO[None]), axis=-1)[:, 1]), rtol=1e-6)
