"""The prepared device benchmark (issue 27, deliverable 5): ``python -m benchmarks.device``
runs every row's code at tiny sizes on the CPU (``--quick``) and prints one table.

No timing is asserted (the numbers are the GPU run's business); these tests catch a
benchmark that no longer runs, drops a row, or stops checking the bridge's zero copy."""
import math
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import device  # noqa: E402


def _run(*flags):
    return subprocess.run([sys.executable, "-m", "benchmarks.device", *flags], cwd=str(ROOT),
                          capture_output=True, text=True, timeout=900)


def test_help_shows_every_default():
    """catches: a size flag missing from --help or shown without its GPU and quick default
    (the brief: --help shows every default)."""
    done = _run("--help")
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    for field in device.Sizes.__dataclass_fields__:
        flag = "--" + field.replace("_", "-")
        assert flag in text, flag
    assert text.count("default:") >= len(device.Sizes.__dataclass_fields__)
    assert "default: 300" in text and "default: 1024" in text   # paper 000's masklet run


def test_sizes_override_and_quick_preset():
    """catches: a flag that does not reach the sizes, or --quick not switching presets."""
    args = device.parser().parse_args(["--quick", "--samples", "9", "--cells", "1", "2", "2"])
    s = device.sizes_of(args)
    assert s.samples == 9 and s.cells == (1, 2, 2) and s.frames == device.QUICK.frames
    assert device.sizes_of(device.parser().parse_args([])) == device.FULL


@pytest.mark.slow
def test_quick_run_prints_every_row():
    """catches: a row whose code path broke (an import of a reused benchmark function, a
    changed API), a row missing from the table, a non-number where a ratio belongs, and
    the bridge reporting a copy where it hands the JAX buffer itself to torch."""
    done = _run("--quick")
    assert done.returncode == 0, done.stderr[-3000:]
    table = done.stdout.split("\n\nrow")[1].splitlines()[1:]
    rows = {line.split()[0]: line for line in table if line and not line.startswith("total")}
    assert set(rows) == set(device.ROWS), rows
    assert "no host copy" in rows["bridge-copy"]
    for name in ("lime-jax", "lime-torch", "ig", "smoothgrad", "masklets", "explain"):
        value = float(re.search(r"-?\d+\.\d+", rows[name].split(None, 1)[1]).group())
        assert math.isfinite(value) and value > 0, rows[name]
