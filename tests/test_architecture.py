"""The import graph of the package: no cycle that can run, and the layering of docs/architecture.md.

Every ``import`` of a ganforge module is an edge, at module level or inside a function (both can
run); imports under ``if TYPE_CHECKING:`` are left out (they never run). The rules:

1. no cycle among the package's modules;
2. no module imports the package face ``ganforge`` itself (the version lives in ``ganforge.version``);
3. ``ganforge.interfaces`` imports nothing of ``ganforge.training`` or ``ganforge.io``;
4. ``ganforge.metrics`` never imports ``ganforge.data``;
5. the builtins (``ganforge.models``, ``ganforge.losses``, ``ganforge.regularizers``, ``ganforge.tricks``,
   ``ganforge.data``) import only the plugin API and each other's own package.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "ganforge"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The ganforge modules ``module`` imports (resolved to modules in ``known``)."""
    found: set[str] = set()

    def resolve(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "ganforge" or alias.name.startswith("ganforge."):
                    target = resolve(alias.name)
                    if target:
                        found.add(target)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module if is_package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            if source == "ganforge" or source.startswith("ganforge."):
                for alias in node.names:
                    target = resolve(f"{source}.{alias.name}") if f"{source}.{alias.name}" in known else resolve(source)
                    if target:
                        found.add(target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    found.discard(module)
    return found


def import_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    known = set(files)
    return {name: _imports(ast.parse(path.read_text(encoding="utf-8")), name, path.name == "__init__.py", known)
            for name, path in files.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
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
            strong(v)
    return out


#: What the builtin plugins may import besides their own kind's package: the plugin API and each other.
PLUGIN_API = ("ganforge.errors", "ganforge.hookspecs", "ganforge.options", "ganforge.interfaces", "ganforge.config",
              "ganforge.version", "ganforge.augment", "ganforge.metrics.support",
              "ganforge.metrics.features", "ganforge.metrics.spaces")
BUILTINS = ("ganforge.models", "ganforge.losses", "ganforge.regularizers", "ganforge.tricks", "ganforge.data")


def _under(module: str, prefixes: tuple[str, ...] | str) -> bool:
    prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
    return any(module == p or module.startswith(p + ".") for p in prefixes)


GRAPH = import_graph()


def test_the_graph_is_read():
    # A sanity check of the reader itself: edges it must find, of every form.
    assert "ganforge.registry" in GRAPH["ganforge.trainer"]            # module level, absolute
    assert "ganforge.interfaces.base" in GRAPH["ganforge.interfaces.models"]
    assert "ganforge.registry" in GRAPH["ganforge.metrics.measure"]    # inside a function
    assert "ganforge.trainer" not in GRAPH["ganforge.interfaces.trick"]  # under TYPE_CHECKING only
    assert len(GRAPH) > 60


def test_no_import_cycle_can_run():
    assert _cycles(GRAPH) == [], "modules that import each other (docs/architecture.md says how to break it)"


def test_no_module_imports_the_package_face():
    offenders = sorted(m for m, targets in GRAPH.items() if "ganforge" in targets and m != "ganforge")
    assert offenders == [], "import what you need from its module (the version: ganforge.version)"


def test_interfaces_import_only_the_plugin_api_leaves():
    allowed = ("ganforge.interfaces", "ganforge.options", "ganforge.errors", "ganforge.version")
    found = sorted((m, t) for m, ts in GRAPH.items() if _under(m, "ganforge.interfaces") for t in ts
                   if not _under(t, allowed))
    assert found == []


def test_metrics_never_import_data():
    found = sorted((m, t) for m, ts in GRAPH.items() if _under(m, "ganforge.metrics") for t in ts
                   if _under(t, "ganforge.data"))
    assert found == []


def test_builtins_import_only_the_plugin_api():
    found = sorted((m, t) for m, ts in GRAPH.items() if _under(m, BUILTINS) for t in ts
                   if not _under(t, PLUGIN_API + BUILTINS))
    assert found == []


ALIASES = {"ganforge.step": "ganforge.training.step", "ganforge.threads": "ganforge.training.threads",
           "ganforge.checkpoint": "ganforge.io.checkpoint", "ganforge.rundir": "ganforge.io.rundir",
           "ganforge.runlock": "ganforge.io.runlock", "ganforge.history": "ganforge.io.history",
           "ganforge.cache": "ganforge.io.cache", "ganforge.viz": "ganforge.io.viz"}


def test_the_0_2_0_paths_are_the_moved_modules_themselves():
    import importlib

    for old, new in ALIASES.items():
        assert importlib.import_module(old) is importlib.import_module(new), old
    from ganforge.checkpoint import save_checkpoint
    from ganforge.io.checkpoint import save_checkpoint as moved

    assert save_checkpoint is moved


def test_nothing_in_the_package_imports_an_alias():
    found = sorted((m, t) for m, ts in GRAPH.items() for t in ts if t in ALIASES and m not in ALIASES)
    assert found == [], "import the new path (docs/architecture.md lists them)"


def test_at_most_twelve_modules_hold_code_flat_in_the_package():
    flat = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    aliases = {a.rpartition(".")[2] for a in ALIASES} | {"context"}
    code = sorted(flat - aliases)
    assert len(code) <= 12, f"{len(code)} modules flat in ganforge/ ({', '.join(code)}): machinery goes in a wing"
