"""vidxai's import graph, read from the source with ``ast`` (nothing is imported): every
``import`` statement counts, at module level or inside a function, so a cycle hidden behind
a function-level import is found too. The library must not depend on the model zoo."""
from __future__ import annotations

import ast
from pathlib import Path


import vidxai

ROOT = Path(vidxai.__file__).resolve().parent


# ----------------------------------------------------------------------------- the graph
def modules_of(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file under ``root`` (a package dir)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join([package, *parts])] = path
    return found


def _resolve(name: str, modules: dict) -> str | None:
    """The longest known module that ``name`` is or lies in (``None``: outside the package)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str, path: Path, modules: dict) -> list[tuple[str, int, bool]]:
    """``(imported module, line, at module level)`` for every import of a package module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top = {id(node) for node in tree.body}
    is_package = path.name == "__init__.py"
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module if is_package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = ".".join(p for p in (anchor, base) if p)
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                     for a in node.names]
        else:
            continue
        for name in names:
            target = _resolve(name, modules)
            if target is not None and target != module:
                out.append((target, node.lineno, id(node) in top))
    return out


def import_graph(root: Path, package: str) -> dict[str, set]:
    modules = modules_of(root, package)
    return {m: {t for t, _, _ in imports_of(m, p, modules)} for m, p in modules.items()}


def cycles(graph: dict[str, set]) -> list[list[str]]:
    """One cycle (``[a, b, ..., a]``) per strongly connected component that has one."""
    index, low, stack, on_stack, comps = {}, {}, [], set(), []

    def visit(v):  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(set(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_cycle_in(graph, comp) for comp in comps]


def _cycle_in(graph, comp: set) -> list[str]:
    """A shortest cycle through the smallest member of a strongly connected component."""
    start = min(comp)
    paths, seen = [[start]], {start}
    while paths:
        path = paths.pop(0)
        for w in sorted(graph[path[-1]] & comp):
            if w == start:
                return path + [start]
            if w not in seen:
                seen.add(w)
                paths.append(path + [w])
    raise AssertionError("not a strongly connected component")


def _show(found) -> str:
    return "; ".join(" -> ".join(c) for c in found)


# ----------------------------------------------------------------------------- the checker
def test_checker_finds_a_cycle_behind_a_function_level_import(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .b import g\n")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "b.py").write_text("import os\n\ndef g():\n    from .. import a\n")
    (pkg / "c.py").write_text("import pkg.a\n")
    graph = import_graph(pkg, "pkg")
    assert graph["pkg.a"] == {"pkg.sub.b"}
    assert graph["pkg.sub.b"] == {"pkg.a"}          # function level, relative, os ignored
    assert graph["pkg.sub"] == {"pkg.sub.b"}
    assert graph["pkg.c"] == {"pkg.a"}
    assert cycles(graph) == [["pkg.a", "pkg.sub.b", "pkg.a"]]
    (pkg / "sub" / "b.py").write_text("import os\n")
    assert cycles(import_graph(pkg, "pkg")) == []


# ----------------------------------------------------------------------------- vidxai
def test_vidxai_import_graph_has_no_cycle():
    found = cycles(import_graph(ROOT, "vidxai"))
    assert found == [], _show(found)


def test_esv_modules_import_each_other_at_module_level_only():
    modules = modules_of(ROOT, "vidxai")
    esv = {m for m in modules if m.startswith("vidxai.explain.shapley")}
    late = [(m, t, line) for m in sorted(esv) for t, line, top in
            imports_of(m, modules[m], modules) if t in esv and not top]
    assert late == []


def test_no_vidxai_module_imports_the_model_zoo():
    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno}" for n in names
                          if n == "models" or n.startswith("models.")]
    assert offenders == []
