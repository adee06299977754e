"""Every method of the table from the command line on a tiny model; help, flags, short clips."""
import argparse
import json
import re
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from helpers import decode_mp4, relu_conv_net
from models.base import Model
from vidxai import Explanation, cli
from vidxai import zoo
from vidxai.explain import registry
from vidxai.io import write_video

README = Path(__file__).resolve().parents[1] / "README.md"


def tiny_classifier():
    """Linear logits of the time-averaged clip: differentiable, 3 classes, 24x24 frames, any
    number of frames."""
    weights = jnp.asarray(np.random.RandomState(0).randn(24 * 24 * 3, 3) * 0.3, jnp.float32)

    def apply(x):
        return x.mean(axis=1).reshape(x.shape[0], -1) @ weights

    return Model("tiny", apply, num_frames=8, size=(24, 24), class_names=("a", "b", "c"),
                 min_frames=4)


def tiny_conv_classifier():
    """A flax conv net with a named ReLU layer "act": Grad-CAM and EB can read it."""
    import jax

    from vidxai.layers import flax_model

    net = relu_conv_net(4, 3, strides=(2, 2, 2))
    variables = net.init(jax.random.key(0), jnp.zeros((1, 8, 24, 24, 3)))
    return Model("tinyconv", flax_model(net, variables), num_frames=8, size=(24, 24),
                 class_names=("a", "b", "c"), min_frames=4)


@pytest.fixture
def tiny_zoo(monkeypatch):
    model, conv = tiny_classifier(), tiny_conv_classifier()
    real = zoo.registry()
    monkeypatch.setattr(zoo, "registry", lambda: {"tiny": lambda: model,
                                                  "tinyconv": lambda: conv,
                                                  "trn-order": real["trn-order"]})
    return model


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    frames = (np.random.RandomState(1).rand(8, 24, 24, 3) * 255).astype(np.uint8)
    return write_video(tmp_path_factory.mktemp("clip") / "tiny.mp4", frames, fps=8)


def run(args, capsys):
    code = cli.main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


EXTRA = {"lime": ["--samples", "12", "--segmenter", "grid", "--cells", "2", "2", "2"],
         "kernel_shap": ["--samples", "12", "--segmenter", "grid", "--cells", "2", "2", "2"],
         "rise": ["--samples", "12", "--cells", "2", "2", "2"],
         "loco": ["--segmenter", "grid", "--cells", "2", "2", "2"],
         "univariate": ["--segmenter", "grid", "--cells", "2", "2", "2"],
         "occlusion": [],
         "ep2d": ["--iterations", "3", "--areas", "0.1", "0.3"],
         "ep3d": ["--iterations", "3", "--areas", "0.1", "0.3"],
         "step": ["--iterations", "3", "--areas", "0.1", "0.3"],
         "tiem": ["--iterations", "3", "--areas", "0.1", "0.3"],
         "tiem_lk": ["--iterations", "3", "--areas", "0.1", "0.3"],
         "esv": [],
         "gradient": [], "gradient_x_input": [], "ig": ["--samples", "4"],
         "smoothgrad": ["--samples", "3"], "smoothgrad_squared": ["--samples", "3"],
         "blur_ig": ["--samples", "3"], "xrai": ["--samples", "2"],
         "grad_cam": ["--layer", "act"], "excitation_backprop": [], "random": []}
MODEL = {"esv": "trn-order", "grad_cam": "tinyconv", "excitation_backprop": "tinyconv"}


def test_every_table_entry_has_a_cli_run():
    assert set(EXTRA) == set(registry.methods())


@pytest.mark.parametrize("method", list(EXTRA))
def test_each_method_runs_from_the_cli_and_writes_what_it_says(method, tiny_zoo, clip, tmp_path,
                                                               capsys):
    out = tmp_path / method
    model = MODEL.get(method, "tiny")
    code, stdout, err = run(["explain", str(clip), "--model", model, "--method", method,
                             "--out", str(out), *EXTRA[method]], capsys)
    assert code == 0, err
    written = re.search(r"^wrote (.*)$", stdout, re.M).group(1).split(", ")
    assert {Path(p).name for p in written} == {p.name for p in out.iterdir()}
    summary = json.loads((out / "summary.json").read_text())
    e = Explanation.load(out / "explanation.npz")
    spec = registry.get(method)
    assert summary["method"] == e.method and summary["n_evals"] == e.n_evals
    assert e.map.shape in ((8, 24, 24), (8, 1, 1))
    if spec.family == "extremal":
        assert e.masks.shape == (2, 8, 24, 24) and tuple(e.areas) == (0.1, 0.3)
        for area in ("0.1", "0.3"):
            assert decode_mp4(out / f"mask_{area}.mp4").shape[0] == 8
        assert Image.open(out / "area_curve.png").size[0] > 100
    elif spec.family == "shapley":
        data = json.loads((out / "esv.json").read_text())
        assert np.allclose(np.asarray(data["values"])[:, 0], e.weights, atol=1e-6)
        assert len(data["values"]) == 8
    else:
        assert decode_mp4(out / "overlay.mp4").shape[:2] == (8, 24 + 14)   # frame + caption
        if spec.family != "baseline":        # the random map never calls the model
            assert summary["score"] == pytest.approx(e.meta["score"])
    if method == "ig":
        assert e.meta["steps"] == 4 and summary["completeness"] == e.meta["completeness"]
        assert "completeness gap" in stdout
    if spec.family == "gradient" and method not in ("grad_cam", "excitation_backprop"):
        assert e.attributions.shape == (8, 24, 24, 3)
    if method == "grad_cam":
        assert summary["layer"] == "act" and "layer act" in stdout


def test_removal_impute_from_the_cli_imputes_each_perturbed_video(tiny_zoo, clip, tmp_path,
                                                                   capsys):
    """catches: --removal impute not reaching the method (another fill used, or the flag's
    value passed through unconverted): the saved explanation names the imputed removal and
    its weights differ from black removal's."""
    maps = {}
    for removal in ("impute", "black"):
        out = tmp_path / removal
        code, _, err = run(["explain", str(clip), "--model", "tiny", "--method", "loco",
                            "--segments", "6", "--removal", removal, "--out", str(out)], capsys)
        assert code == 0, err
        maps[removal] = Explanation.load(out / "explanation.npz")
    assert maps["impute"].meta["removal"] == "imputed(6)"
    assert not np.allclose(maps["impute"].weights, maps["black"].weights, atol=1e-4)


@pytest.mark.parametrize("args, flag", [
    (["--method", "loco", "--samples", "5"], "--samples"),
    (["--method", "lime", "--areas", "0.1"], "--areas"),
    (["--method", "step", "--removal", "gray"], "--removal"),
    (["--method", "rise", "--segments", "9"], "--segments"),
    (["--method", "occlusion", "--iterations", "9"], "--iterations"),
    (["--method", "ig", "--layer", "act"], "--layer"),
    (["--method", "grad_cam", "--samples", "5"], "--samples"),
    (["--method", "ig", "--removal", "gray"], "--removal"),
])
def test_options_that_do_not_apply_are_errors_naming_the_flag(args, flag, tiny_zoo, clip,
                                                              tmp_path, capsys):
    code, _, err = run(["explain", str(clip), "--model", "tiny", "--out", str(tmp_path), *args],
                       capsys)
    assert code == 2 and f"error: {flag}:" in err and "--method" in err


@pytest.mark.parametrize("args, flag, words", [
    (["--method", "grad_cam", "--layer", "nope"], "--layer", "'act'"),
    (["--method", "ig", "--samples", "0"], "--samples", ">= 1"),
])
def test_bad_gradient_flags_name_the_flag(args, flag, words, tiny_zoo, clip, tmp_path, capsys):
    code, _, err = run(["explain", str(clip), "--model", "tinyconv", "--out", str(tmp_path),
                        *args], capsys)
    assert code == 2 and f"error: {flag}:" in err and words in err


def test_grad_cam_on_a_model_without_layers_says_what_it_needs(tiny_zoo, clip, tmp_path, capsys):
    code, _, err = run(["explain", str(clip), "--model", "tiny", "--method", "grad_cam",
                        "--out", str(tmp_path)], capsys)
    assert code == 2 and "named layers" in err


def test_esv_on_a_model_without_frame_subsets_names_the_model(tiny_zoo, clip, tmp_path, capsys):
    code, _, err = run(["explain", str(clip), "--model", "tiny", "--method", "esv", "--out",
                        str(tmp_path)], capsys)
    assert code == 2 and "--model" in err and "trn-order" in err


@pytest.mark.parametrize("args, flag", [(["--samples", "-5"], "--samples"),
                                        (["--samples", str(2**40)], "--samples"),
                                        (["--frames", "0"], "--frames"),
                                        (["--stride", "0"], "--stride"),
                                        (["--frames", "9"], "--frames")])
def test_bad_flags_exit_2_naming_the_flag(args, flag, tiny_zoo, clip, tmp_path, capsys):
    code, _, err = run(["explain", str(clip), "--model", "tiny", "--out", str(tmp_path), *args],
                       capsys)
    assert code == 2 and f"error: {flag}:" in err


def test_a_count_that_is_not_an_integer_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["explain", "--samples", "1e9"])
    assert exit_.value.code == 2 and "--samples" in capsys.readouterr().err


def test_short_clips_take_the_largest_stride_that_fits(tiny_zoo, tmp_path, capsys):
    frames = (np.random.RandomState(2).rand(6, 24, 24, 3) * 255).astype(np.uint8)
    gif = tmp_path / "six.gif"
    images = [Image.fromarray(f) for f in frames]
    images[0].save(gif, save_all=True, append_images=images[1:], duration=0, loop=0)
    assert Image.open(gif).n_frames == 6
    code, stdout, err = run(["explain", str(gif), "--model", "tiny", "--method", "loco",
                             "--segmenter", "grid", "--cells", "1", "2", "2", "--out",
                             str(tmp_path / "o")], capsys)
    assert code == 0, err
    assert "using all 6" in stdout
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["frames"] == [6, 24, 24] and summary["sampling"]["clip_frames"] == 6
    short = tmp_path / "three.gif"
    images[0].save(short, save_all=True, append_images=images[1:3], duration=0, loop=0)
    code, _, err = run(["explain", str(short), "--model", "tiny", "--out", str(tmp_path)], capsys)
    assert code == 2 and "--frames" in err and "3 frames" in err


def test_window_arithmetic_of_the_default_stride():
    model = Model("m", lambda x: x, num_frames=16, size=(8, 8), min_frames=9,
                  meta={"frame_stride": 2})
    said = []
    assert zoo.clip_window(model, 250, None, None, said.append) == (16, 2) and not said
    assert zoo.clip_window(model, 20, None, None, said.append) == (16, 1) and said
    assert zoo.clip_window(model, 12, None, None, said.append) == (12, 1)
    with pytest.raises(Exception, match="stride"):
        zoo.clip_window(model, 20, None, 2, said.append)


def _subcommands():
    parser = cli.parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


@pytest.mark.parametrize("command", ["explain", "segment", "evaluate", "models", "methods"])
def test_every_option_has_help_that_shows_its_default(command):
    for action in _subcommands()[command]._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help and action.help.strip(), action.dest
        if action.option_strings:
            assert "default" in action.help, action.dest


def test_method_choices_equal_the_table_and_the_readme():
    explain = _subcommands()["explain"]
    method = next(a for a in explain._actions if a.dest == "method")
    assert list(method.choices) == list(registry.methods())
    text = README.read_text()
    block = text.split("<!-- methods -->")[1].split("<!-- /methods -->")[0]
    rows = [line.split("|")[1:-1] for line in block.strip().splitlines()[2:]]
    table = {r[0].strip().strip("`"): (r[1].strip(), r[2].strip()) for r in rows}
    assert list(table) == list(registry.methods())
    for name, m in registry.methods().items():
        assert table[name] == (m.family, m.paper), name


def test_models_lists_one_informative_line_per_model(capsys):
    code, stdout, _ = run(["models"], capsys)
    lines = stdout.strip().splitlines()
    assert code == 0 and len(lines) == len(zoo.registry())
    i3d = next(line for line in lines if line.startswith("i3d-kinetics400"))
    assert "jax" in i3d and "16 x 224x224" in i3d and "400 classes" in i3d


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0 and re.match(r"vidxai \d+\.\d+", capsys.readouterr().out)


def test_methods_listing_one_aligned_line_per_method(capsys):
    assert cli.main(["methods"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines] == list(registry.methods())
    # the family column starts at the same place on every line, long names included
    starts = {line.index(m.family, len(m.name)) for line, m in
              zip(lines, registry.methods().values())}
    assert len(starts) == 1
