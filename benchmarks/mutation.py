"""Mutation score of the core maths modules, measured with mutmut (issue 13).

    python benchmarks/mutation.py [--modules surrogate masks ...] [--max-children 2]

mutmut 3 plants one small change at a time (an operator, a constant, an argument) in the
library and runs the fast tests that call the changed function; a mutant is *killed* when a
test fails. The run takes a copy of the working tree (the repository itself is never
touched), so it can go on while you work. It takes hours on 2 cores: it is not part of CI.

Preparing the copy: mutmut leaves decorated functions alone, so ``jax.jit`` /
``functools.partial(jax.jit, ...)`` / ``functools.lru_cache`` decorators are removed from
the mutated modules (the same functions, run eagerly or traced inside their callers' jit).
``tests/conftest.py`` clears the trace caches before every test while mutmut records which
test calls which function, and shares compiled programs between the mutant workers through
JAX's on-disk cache.

Printed per module: mutants, killed (a test failed, or the mutant hung and was stopped),
survived, untested (no test calls the function: counted with the survivors). Survivors whose
change lies only in the text of an error message are counted apart ("message"): they do not
change any result, and the bad-input tests check the argument an error names, not its
wording. Every other survivor's diff is written to ``<work>/survivors.txt`` for review.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES = {
    "surrogate": ["vidxai/surrogate.py"],
    "sampling": ["vidxai/sampling.py"],
    "removal": ["vidxai/removal.py", "vidxai/_filters.py"],
    "metrics": ["vidxai/metrics.py", "vidxai/metrics/*.py"],
    "masks": ["vidxai/masks.py", "vidxai/_selection.py"],
    "esv": ["vidxai/explain/esv*.py"],
    "removal_based": ["vidxai/explain/removal_based.py"],
}
PRELOAD = ["numpy", "scipy", "scipy.ndimage", "jax", "jax.numpy", "optax", "chex", "flax.linen",
           "torch", "skimage.segmentation", "av", "PIL.Image", "matplotlib", "hypothesis",
           "pytest"]
DECORATOR = re.compile(r"(?m)^[ \t]*@(jax\.jit|(functools\.)?partial\(jax\.jit[^\n]*\)"
                       r"|functools\.lru_cache\([^\n]*\))[ \t]*\n")
KILLED = {1, 3, 24, -24, 36, 152, 255}     # test failed / pytest error / timeout
SURVIVED = {0}
UNTESTED = {5, 33}


def copy_tree(work: Path) -> None:
    """Tracked and untracked (not ignored) files of the working tree."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           check=True, capture_output=True, text=True).stdout.split()
    for name in files:
        src = ROOT / name
        if src.is_file():
            dst = work / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)


def module_files(work: Path, modules) -> dict[str, list[str]]:
    found = {}
    for mod in modules:
        names = sorted({str(p.relative_to(work)) for pattern in MODULES[mod]
                        for p in work.glob(pattern)})
        found[mod] = names
    return found


def strip_decorators(work: Path, files) -> None:
    for name in files:
        path = work / name
        path.write_text(DECORATOR.sub("", path.read_text()))


def configure(work: Path, files) -> None:
    (work / "mutmut_preload.txt").write_text("\n".join(PRELOAD) + "\n")
    cfg = f"""
[tool.mutmut]
source_paths = ["vidxai/"]
only_mutate = {json.dumps(files)}
pytest_add_cli_args_test_selection = ["tests/"]
pytest_add_cli_args = ["-p", "no:cacheprovider", "-x", "-q"]
process_isolation = "forkserver"
forkserver_warmup = "import"
preload_modules_file = "{work / 'mutmut_preload.txt'}"
"""
    with open(work / "pyproject.toml", "a") as fh:
        fh.write(cfg)


def results(work: Path) -> dict[str, int | None]:
    """mutant name -> exit code, from mutmut's ``.meta`` files."""
    out = {}
    for meta in (work / "mutants").rglob("*.meta"):
        data = json.loads(meta.read_text())
        out.update(data.get("exit_code_by_key", {}))
    return out


def diff_of(work: Path, mutant: str) -> str:
    shown = subprocess.run([sys.executable, "-m", "mutmut", "show", mutant], cwd=work,
                           capture_output=True, text=True).stdout
    return "\n".join(line for line in shown.splitlines()
                     if line[:1] in "+-" and not line.startswith(("+++", "---")))


def message_only(diff: str) -> bool:
    """True when the mutant only changes string literals of an error being raised or of an
    error-describing argument (message wording)."""
    minus = [l[1:] for l in diff.splitlines() if l.startswith("-")]
    plus = [l[1:] for l in diff.splitlines() if l.startswith("+")]
    if len(minus) != len(plus):
        return False
    strip = lambda s: re.sub(r"(\"[^\"]*\"|'[^']*')", "''", s)
    same_code = all(strip(a) == strip(b) for a, b in zip(minus, plus))
    in_error = any(re.search(r"Error\(|expected|raise ", a) for a in minus)
    return same_code and in_error


def module_of(mutant: str, files_by_module) -> str:
    dotted = re.match(r"^(.*)\.x[_\u01c1]", mutant).group(1)   # module.x_fn / module.xǁCls
    for mod, files in files_by_module.items():
        for f in files:
            if dotted == f[:-3].replace("/", "."):
                return mod
    return "?"


def report(work: Path, files_by_module) -> None:
    codes = results(work)
    table = {m: Counter() for m in files_by_module}
    survivors = []
    for mutant, code in sorted(codes.items()):
        mod = module_of(mutant, files_by_module)
        if mod not in table:
            continue
        row = table[mod]
        row["mutants"] += 1
        if code in KILLED:
            row["killed"] += 1
        elif code in SURVIVED or code in UNTESTED:
            diff = diff_of(work, mutant)
            if code in SURVIVED and message_only(diff):
                row["message"] += 1
            else:
                row["survived" if code in SURVIVED else "untested"] += 1
                survivors.append((mutant, code, diff))
        else:
            row["other"] += 1
    print(f"{'module':<14} {'mutants':>7} {'killed':>7} {'survived':>8} {'untested':>8} "
          f"{'message':>7} {'other':>5} {'score':>7}")
    for mod, row in table.items():
        counted = row["killed"] + row["survived"] + row["untested"]
        score = 100.0 * row["killed"] / counted if counted else float("nan")
        print(f"{mod:<14} {row['mutants']:>7} {row['killed']:>7} {row['survived']:>8} "
              f"{row['untested']:>8} {row['message']:>7} {row['other']:>5} {score:>6.1f}%")
    with open(work / "survivors.txt", "w") as fh:
        for mutant, code, diff in survivors:
            fh.write(f"## {mutant} ({'survived' if code == 0 else 'untested'})\n{diff}\n\n")
    print(f"score = killed / (killed + survived + untested); message-text survivors apart")
    print(f"survivors' diffs: {work / 'survivors.txt'}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--modules", nargs="+", default=list(MODULES), choices=list(MODULES),
                   help="core modules to mutate (default: all)")
    p.add_argument("--max-children", type=int, default=2,
                   help="mutants tested in parallel (default: 2)")
    p.add_argument("--work", default=None,
                   help="folder for the copy (default: a new temporary folder); an existing "
                        "folder from an earlier run resumes it")
    p.add_argument("--report-only", action="store_true",
                   help="only print the table of an earlier run in --work")
    args = p.parse_args(argv)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="vidxai-mutation-"))
    fresh = not (work / "mutants").exists()
    if fresh and not args.report_only:
        work.mkdir(parents=True, exist_ok=True)
        copy_tree(work)
    files_by_module = module_files(work, args.modules)
    files = [f for names in files_by_module.values() for f in names]
    if fresh and not args.report_only:
        strip_decorators(work, files)
        configure(work, files)
    if not args.report_only:
        env = dict(os.environ, TQDM_DISABLE="1", PYTHONUNBUFFERED="1")
        print(f"mutating {len(files)} files in {work} (hours on 2 cores)", flush=True)
        subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children",
                        str(args.max_children)], cwd=work, env=env,
                       stdout=open(work / "mutmut.log", "w"), stderr=subprocess.STDOUT)
    report(work, files_by_module)
    return 0


if __name__ == "__main__":
    sys.exit(main())
