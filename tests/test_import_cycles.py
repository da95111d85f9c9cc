"""No import cycle between the package's modules, deferred (function-level) imports included.

The graph is read from the source with the standard library's ``ast``: every ``import`` / ``from ... import``
anywhere in a module is an edge to the module it names. ``from pkg import name`` goes to the submodule
``pkg.name`` when there is one, else to the module that ``pkg``'s lazy export table (``dict.fromkeys(names,
".module")`` in its ``__init__``) assigns ``name`` to, else to ``pkg`` itself.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "paper_repro"


def _module_names(root: Path) -> dict[str, Path]:
    out = {}
    for f in sorted(root.rglob("*.py")):
        parts = list(f.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def _lazy_exports(tree: ast.Module, package: str) -> dict[str, str]:
    """``name -> module`` from the ``dict.fromkeys((names...), ".module")`` calls of a package ``__init__``."""
    out = {}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "fromkeys"
                and len(node.args) == 2 and isinstance(node.args[0], (ast.Tuple, ast.List))
                and isinstance(node.args[1], ast.Constant) and str(node.args[1].value).startswith(".")):
            target = package + str(node.args[1].value)
            for elt in node.args[0].elts:
                if isinstance(elt, ast.Constant):
                    out[str(elt.value)] = target
    return out


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """``module -> modules it imports`` for every module of the package at ``root`` (its own modules only)."""
    modules = _module_names(root)
    trees = {name: ast.parse(path.read_text(), str(path)) for name, path in modules.items()}
    lazy = {name: _lazy_exports(tree, name) for name, tree in trees.items() if modules[name].name == "__init__.py"}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, tree in trees.items():
        package = name if modules[name].name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package
                    for _ in range(node.level - 1):
                        base = base.rpartition(".")[0]
                    base = f"{base}.{node.module}" if node.module else base
                else:
                    base = node.module or ""
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    targets.append(sub if sub in modules else lazy.get(base, {}).get(a.name, base))
            for t in targets:
                while t and t not in modules and "." in t:  # `import a.b.c` -> the deepest module we have
                    t = t.rpartition(".")[0]
                if t in modules and t != name:
                    graph[name].add(t)
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each as a sorted list."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
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
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert len(graph) > 30 and graph["paper_repro.experiments.tables"]  # the walk found the package
    assert import_cycles(graph) == []


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root / "pkg"


def test_a_deferred_import_cycle_is_found(tmp_path):
    # the shape of a cycle this package once had: a top-level import one way, a function-level one back
    pkg = _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/data/__init__.py": "",
        "pkg/data/loaders.py": "def make():\n    from .onthefly import OnTheFly\n    return OnTheFly\n",
        "pkg/data/onthefly.py": "from .loaders import make\nclass OnTheFly: pass\n",
        "pkg/clean.py": "from .data import loaders\n",
    })
    assert import_cycles(import_graph(pkg)) == [["pkg.data.loaders", "pkg.data.onthefly"]]


def test_a_cycle_through_a_lazy_export_table_is_found(tmp_path):
    pkg = _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/report.py": "def f():\n    from .experiments import table\n",
        "pkg/experiments/__init__.py": 'X = dict.fromkeys(("table",), ".tables")\n',
        "pkg/experiments/tables.py": "from ..report import f\ndef table(): pass\n",
    })
    assert import_cycles(import_graph(pkg)) == [["pkg.experiments.tables", "pkg.report"]]


def test_no_private_name_is_imported_from_another_module():
    """A name a sibling module uses is public: ``from .x import _y`` (or ``from ..x import _y``) is not used across
    the package's modules (an alias ``import x as _x`` is a local name and allowed)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("paper_repro")):
                found += [f"{path.relative_to(PACKAGE.parent)}: {a.name}" for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
    assert found == []
