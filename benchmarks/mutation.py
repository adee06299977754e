"""Mutation score of the core maths modules, measured with mutmut (issue 13).

    python benchmarks/mutation.py [--modules surrogate masks ...] [--sample 60]
                                  [--max-children 2] [--work DIR]

mutmut 3 plants one small change at a time (an operator, a constant, an argument) in the
library and runs the fast tests that call the changed function; a mutant is *killed* when a
test fails. The run takes a copy of the working tree (the repository itself is never
touched), so it can go on while you work. It is not part of CI: every mutant costs a few
seconds to a minute of tests on 2 cores, and the core modules have thousands of mutants, so
by default a random sample of ``--sample`` mutants per module (seeded, so reruns pick the
same ones) is tested; ``--sample 0`` tests them all (a day on 2 cores).

Preparing the copy: mutmut leaves decorated functions alone, so ``jax.jit`` /
``functools.partial(jax.jit, ...)`` / ``functools.lru_cache`` decorators are removed from
the mutated modules (the same functions, run eagerly or traced inside their callers' jit);
``raise`` statements are not mutated (``# pragma: no mutate block``): their wording is
checked by the bad-input tests only as far as the argument an error names, while the
conditions that lead to them are mutated like any code. ``tests/conftest.py`` clears the
trace caches before every test while mutmut records which test calls which function, and
shares compiled programs between the mutant workers through JAX's on-disk cache.

Printed per module: mutants (all, then tested), killed (a test failed, or the mutant hung
and was stopped), survived, untested (no test calls the function: counted with the
survivors), and the score = killed / (killed + survived + untested). Survivors that only
change string literals (text of messages and labels; a changed mode or key string that
matters fails loudly) or only the arguments of a ``raise`` are counted apart as "text".
Every survivor's diff is written to ``<work>/survivors.txt`` for review.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import random
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


def raise_lines(source: str) -> set[int]:
    """1-based numbers of the lines that belong to a ``raise`` statement."""
    return {i for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Raise)
            for i in range(node.lineno, node.end_lineno + 1)}


def exempt_raises(work: Path, files) -> None:
    """Mark every line of every ``raise`` statement ``# pragma: no mutate``."""
    for name in files:
        path = work / name
        source = path.read_text()
        lines = source.splitlines()
        for i in raise_lines(source):
            line = lines[i - 1]
            if "#" not in line and not line.rstrip().endswith("\\"):
                lines[i - 1] = line + "  # pragma: no mutate"
        path.write_text("\n".join(lines) + "\n")


def in_raise(work: Path, mutant: str, diff: str, files_by_module) -> bool:
    """True when every line the mutant changes is part of a ``raise`` statement (the error's
    wording and arguments: what the bad-input tests check is that it is raised)."""
    module = re.match(r"^(.*)\.x[_\u01c1]", mutant).group(1)
    path = work / (module.replace(".", "/") + ".py")
    if not path.exists():
        return False
    source = path.read_text()
    lines = source.splitlines()
    inside = {lines[i - 1].split("  # pragma")[0].strip() for i in raise_lines(source)}
    changed = [line[1:].split("  # pragma")[0].strip() for line in diff.splitlines()
               if line.startswith("-")]
    return bool(changed) and all(c in inside for c in changed)


GENERATE = ("from mutmut.__main__ import create_mutants; from mutmut.utils.file_utils import "
            "copy_src_dir, copy_also_copy_files, setup_source_paths; copy_src_dir(); "
            "copy_also_copy_files(); setup_source_paths(); create_mutants({children})")


def generate(work: Path, children: int) -> list[str]:
    """Create the mutants (mutmut 3.8's own functions) and return every mutant's name."""
    subprocess.run([sys.executable, "-c", GENERATE.format(children=children)], cwd=work,
                   check=True, capture_output=True)
    return sorted(results(work))


def sample(names, files_by_module, per_module: int, seed: int = 0) -> list[str]:
    """``per_module`` mutants drawn at random from each module (all when it has fewer)."""
    rng = random.Random(seed)
    chosen = []
    for mod in files_by_module:
        own = [n for n in names if module_of(n, files_by_module) == mod]
        chosen += own if per_module <= 0 or len(own) <= per_module else rng.sample(own, per_module)
    return chosen


def configure(work: Path, files) -> None:
    (work / "mutmut_preload.txt").write_text("\n".join(PRELOAD) + "\n")
    cfg = f"""
[tool.mutmut]
source_paths = ["vidxai/"]
also_copy = ["README.md"]
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


def text_only(diff: str) -> bool:
    """True when the mutant only changes string literals (or replaces one by ``None``)."""
    minus = [line[1:] for line in diff.splitlines() if line.startswith("-")]
    plus = [line[1:] for line in diff.splitlines() if line.startswith("+")]
    if not minus or len(minus) != len(plus):
        return False
    literal = r"(f?\"[^\"]*\"|f?'[^']*'|None)"
    return all(re.sub(literal, "''", a) == re.sub(literal, "''", b) for a, b in zip(minus, plus))


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
        row["all"] += 1
        if code is None:
            continue
        row["mutants"] += 1
        if code in KILLED:
            row["killed"] += 1
        elif code in SURVIVED or code in UNTESTED:
            diff = diff_of(work, mutant)
            if code in SURVIVED and (text_only(diff) or in_raise(work, mutant, diff,
                                                                 files_by_module)):
                row["text"] += 1
                survivors.append((mutant, "text", diff))
            else:
                row["survived" if code in SURVIVED else "untested"] += 1
                survivors.append((mutant, "survived" if code in SURVIVED else "untested", diff))
        else:
            row["other"] += 1
    print(f"{'module':<14} {'all':>6} {'tested':>6} {'killed':>6} {'survived':>8} {'untested':>8} "
          f"{'text':>5} {'other':>5} {'score':>7}")
    for mod, row in table.items():
        counted = row["killed"] + row["survived"] + row["untested"]
        score = 100.0 * row["killed"] / counted if counted else float("nan")
        print(f"{mod:<14} {row['all']:>6} {row['mutants']:>6} {row['killed']:>6} "
              f"{row['survived']:>8} {row['untested']:>8} {row['text']:>5} {row['other']:>5} "
              f"{score:>6.1f}%")
    with open(work / "survivors.txt", "w") as fh:
        for mutant, kind, diff in survivors:
            fh.write(f"## {mutant} ({kind})\n{diff}\n\n")
    print("score = killed / (killed + survived + untested); text-only survivors apart")
    print(f"survivors' diffs: {work / 'survivors.txt'}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--modules", nargs="+", default=list(MODULES), choices=list(MODULES),
                   help="core modules to mutate (default: all)")
    p.add_argument("--max-children", type=int, default=2,
                   help="mutants tested in parallel (default: 2)")
    p.add_argument("--sample", type=int, default=60,
                   help="mutants tested per module, drawn at random with a fixed seed; 0 tests "
                        "all of them (default: 60)")
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
        exempt_raises(work, files)
        configure(work, files)
    if not args.report_only:
        env = dict(os.environ, TQDM_DISABLE="1", PYTHONUNBUFFERED="1")
        names = results(work) if not fresh else generate(work, args.max_children)
        chosen = sample(sorted(names), files_by_module, args.sample)
        print(f"{len(names)} mutants in {len(files)} files; testing {len(chosen)} in {work} "
              "(hours on 2 cores)", flush=True)
        with open(work / "mutmut.log", "a") as log:
            subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children",
                            str(args.max_children), *chosen], cwd=work, env=env,
                           stdout=log, stderr=subprocess.STDOUT)
    report(work, files_by_module)
    return 0


if __name__ == "__main__":
    sys.exit(main())
