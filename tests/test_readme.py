"""The README as a user guide: its quick start runs, its commands parse, its links resolve.

The quick start's Python block is executed as written, except that the model and the clip
it names are rebound to tiny stand-ins: ``models.load`` (whatever name it is given) returns
an 8 x 24 x 24 flax conv net with a readable ReLU layer (``helpers.conv_zoo_model``) and
``vidxai.io.read_video`` returns a fixed random 8 x 24 x 24 clip, both through
``monkeypatch`` before the block is ``exec``-uted; ``vidxai.explain.run`` is wrapped to cap
an extremal method's ``iterations`` at 20 (the optimisation's length, not its code path).
Every other line (the methods, their options, the metric, the result's methods) runs
unchanged, in seconds instead of minutes on I3D. The main job (``vidxai explain`` with no arguments, I3D on the bikes clip)
is excepted: CI (``.ci/run``) runs it.
"""
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from helpers import conv_zoo_model

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, ROOT / "benchmarks" / "README.md", *DOCS]
CI = ROOT / ".ci" / "run"


def section(text: str, title: str) -> str:
    """The text of the ``## title`` section of a markdown page."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"no section '## {title}'"
    return match.group(1)


def blocks(text: str, language: str) -> list[str]:
    """The bodies of the fenced code blocks of ``language`` ("" = no language given)."""
    fenced = re.findall(r"^```(\w*)\n(.*?)^```", text, re.S | re.M)
    return [body for lang, body in fenced if lang == language]


def commands(block: str) -> list[list[str]]:
    """The ``vidxai ...`` lines of a bash block, comments dropped, split as a shell would."""
    found = []
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0] in ("vidxai", ".venv/bin/vidxai"):
            found.append(words[1:])
    return found


QUICK = section(README.read_text(), "Quick start")


def test_quick_start_commands_run(capsys):
    """Every command of the quick start's bash block runs through ``vidxai.cli.main`` and
    exits 0 (``--help`` by SystemExit(0)), except the bare main job, which CI runs.
    catches: a command shown in the quick start that was renamed or removed, or whose
    listing crashes (``vidxai methods`` / ``models``)."""
    from vidxai import cli

    shown = [c for block in blocks(QUICK, "bash") for c in commands(block)]
    assert ["explain"] in shown and ["methods"] in shown and ["models"] in shown
    ran = 0
    for args in shown:
        if args == ["explain"]:
            continue
        try:
            code = cli.main(args)
        except SystemExit as stop:
            code = stop.code
        out = capsys.readouterr().out
        assert code == 0, args
        assert out.strip(), args
        ran += 1
    assert ran >= 4


def test_setup_commands_are_the_ones_ci_runs():
    """The README's set-up block is exactly two lines, the install-and-run line and the
    test line, each as ``.ci/run`` runs it verbatim.
    catches: the README's set-up commands drifting from what CI checks."""
    setup = blocks(section(README.read_text(), "Set-up: two commands"), "bash")
    assert len(setup) == 1
    lines = [line for line in setup[0].splitlines() if line.strip()]
    assert len(lines) == 2
    ci = CI.read_text()
    assert lines[0] + " \\" in ci           # the && list continues with its failure handler
    assert re.search(rf"^{re.escape(lines[1])}$", ci, re.M)


@pytest.fixture
def stand_ins(monkeypatch, tmp_path):
    """``models.load`` -> a tiny conv net, ``vidxai.io.read_video`` -> a tiny clip,
    ``explain.run`` -> at most 20 iterations for the extremal methods."""
    import models
    import vidxai.io

    model = conv_zoo_model((8, 24, 24))
    clip = np.random.RandomState(0).rand(8, 24, 24, 3).astype(np.float32)
    asked = {}

    def load(name, **kwargs):
        asked["model"] = name
        return model

    def read_video(path, **kwargs):
        asked["video"] = Path(path).name
        return clip

    import vidxai.explain

    real_run = vidxai.explain.run

    def run(method, model, video, **options):
        if "iterations" in options:
            options["iterations"] = min(options["iterations"], 20)
        return real_run(method, model, video, **options)

    monkeypatch.setattr(vidxai.explain, "run", run)
    monkeypatch.setattr(models, "load", load)
    monkeypatch.setattr(vidxai.io, "read_video", read_video)
    monkeypatch.chdir(tmp_path)
    return asked


def test_quick_start_python_runs(stand_ins, tmp_path):
    """The quick start's Python block, exec-uted with the tiny stand-ins (module docstring):
    every method of its loop returns a map of the clip's shape, the files it saves load back
    as the same map, and the deletion curve it draws runs from the full clip's score.
    catches: a snippet calling a function, option or attribute the library no longer has
    (renamed module paths, a method option the method does not take, a meta key that
    moved), or a quick start that silently stopped exercising three families."""
    import vidxai

    python = blocks(QUICK, "python")
    assert len(python) == 1
    scope: dict = {}
    exec(compile(python[0], "README.md (quick start)", "exec"), scope)
    assert stand_ins == {"model": "i3d-kinetics400", "video": "bikes.mp4"}
    runs = scope["runs"]
    from vidxai.explain import registry

    assert len({registry.get(m).family for m in runs}) >= 3
    for method in runs:
        saved = vidxai.Explanation.load(tmp_path / f"{method}.npz")
        assert saved.map.shape == (8, 24, 24), method
    e, curve, f, video = scope["e"], scope["curve"], scope["f"], scope["video"]
    assert np.allclose(saved.map, e.map)
    full = float(f(np.asarray(video)[None])[0])
    assert curve.scores[0] == pytest.approx(full, rel=1e-4, abs=1e-6)
    assert 0.0 <= curve.auc <= 1.0


def _shown_commands(text: str) -> list[list[str]]:
    return [c for lang in ("bash", "") for block in blocks(text, lang) for c in commands(block)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_command_shown_parses(page):
    """Every ``vidxai ...`` line in a code block of the README, docs/ and benchmarks/README
    parses with the real argument parser (placeholders in capitals stand for paths).
    catches: a page showing a flag, subcommand or choice the command line does not have
    (e.g. a flag renamed in cli/parsers.py)."""
    from vidxai.cli.parsers import parser

    p = parser()
    for args in _shown_commands(page.read_text()):
        if "--help" in args or "--version" in args:
            continue
        try:
            p.parse_args(args)
        except SystemExit:
            pytest.fail(f"{page.name}: `vidxai {' '.join(args)}` does not parse")


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    """Every relative link of the README, the docs pages and benchmarks/README points to a
    file or folder that exists, and a ``#fragment`` to a heading of the page it names.
    catches: links left pointing at moved or renamed files or sections."""
    prose = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.S | re.M)
    prose = re.sub(r"`[^`]*`", "", prose)                   # code is not a link
    for target in LINK.findall(prose):
        if re.match(r"[a-z]+:", target):
            continue                                         # http:, https:, mailto:
        path, _, fragment = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        assert resolved.exists(), f"{page.name}: {target}"
        if fragment and resolved.suffix == ".md":
            anchors = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
                       for h in re.findall(r"^#+ (.*)$", resolved.read_text(), re.M)}
            assert fragment in anchors, f"{page.name}: {target}"


DOTTED = re.compile(r"`(vidxai(?:\.\w+)+)")
SCRIPT = re.compile(r"\bbenchmarks/(\w+)\.py\b")


def _resolves(dotted: str) -> bool:
    """``a.b.c`` names a module or an attribute chain under the longest importable module
    prefix (``vidxai.segment.masklets.GENERATOR``: the module ``vidxai.segment.masklets``,
    although the package also exports a function of that name)."""
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            if not hasattr(obj, part):
                break
            obj = getattr(obj, part)
        else:
            return True
    return False


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_named_modules_and_scripts_exist(page):
    """Every ``vidxai.a.b`` name in backticks resolves (module or attribute), and every
    ``benchmarks/x.py`` named exists.
    catches: a page naming a module path that moved (e.g. the explain families' packages),
    a function that was renamed, or a benchmark script that is gone."""
    text = page.read_text()
    for dotted in sorted(set(DOTTED.findall(text))):
        assert _resolves(dotted), f"{page.name}: `{dotted}` does not resolve"
    for script in set(SCRIPT.findall(text)):
        assert (ROOT / "benchmarks" / f"{script}.py").is_file(), f"{page.name}: {script}"


def test_readme_is_a_short_guide():
    """The README stays a guide: at most ~260 lines, the method table kept between its
    markers, and the sections a newcomer looks for.
    catches: measurement diaries or long notes growing back into the README."""
    text = README.read_text()
    assert len(text.splitlines()) <= 260
    assert text.count("<!-- methods -->") == 1 and text.count("<!-- /methods -->") == 1
    for title in ("Set-up: two commands", "Quick start", "Methods", "Notebooks", "Read more"):
        section(text, title)
