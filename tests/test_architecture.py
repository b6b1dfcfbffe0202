"""The shape of the code: layers that import one way, no import cycles, and no Whoosh behind the
renderers or the plain data (see docs/architecture.md and STYLE.md's "The shape")."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import newsearch

PACKAGE = Path(newsearch.__file__).parent

# Lowest first. A module may import from its own layer (if that makes no cycle) and from the
# layers below it, never from one above. A new module goes in one of these rows.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("plain data", ("errors", "models", "config", "version", "controlchars", "options")),
    ("input", ("corpus", "corpus.*", "analysis")),
    ("index", ("whoosh_internals", "schema", "storage", "postings", "inverter", "segments", "vocabulary", "duplicates",
               "duplicate_store", "parallel", "build_jobs", "indexer")),
    ("search", ("query", "scoring", "compiler", "candidates", "matches", "ranking", "grouping", "passages", "sentences",
                "timeline", "searcher", "status", "columns", "listing", "shards")),
    ("output", ("formatting", "interchange")),
    ("workflows", ("export", "watch")),
    ("front-ends", ("cli", "__main__", "__init__", "web", "web.*")),
]


def module_name(path: Path) -> str:
    """``newsearch.corpus.read`` for newsearch/corpus/read.py; packages by their ``__init__``'s folder."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int:
    """The row of LAYERS holding ``module`` (``newsearch`` itself is the ``__init__`` front-end)."""
    short = module.removeprefix("newsearch").removeprefix(".") or "__init__"
    for number, (_, names) in enumerate(LAYERS):
        for name in names:
            if short == name or (name.endswith(".*") and short.startswith(name[:-1])):
                return number
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in {Path(__file__).name} "
                         "and to docs/architecture.md")


def _is_package(module: str) -> bool:
    return (PACKAGE.parent / module.replace(".", "/") / "__init__.py").exists()


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The newsearch modules ``module`` imports anywhere in its file: at the top, inside functions,
    under ``if TYPE_CHECKING``; absolute and relative. ``from newsearch import corpus`` imports
    ``newsearch.corpus``; ``from newsearch import __version__`` imports ``newsearch`` itself."""
    package = module if _is_package(module) else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "newsearch")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "newsearch":
                continue
            submodules = {f"{target}.{alias.name}" for alias in node.names} & known
            found |= submodules
            if len(submodules) < len(node.names):  # some names are attributes of the module itself
                found.add(target)
    found.discard(module)
    unknown = found - known
    assert not unknown, f"{module} imports {sorted(unknown)}, which do not exist"
    return found


def import_graph() -> dict[str, set[str]]:
    found = modules()
    return {module: imports_of(module, path, set(found)) for module, path in found.items()}


def test_every_module_is_in_a_layer():
    for module in modules():
        layer_of(module)


def test_no_import_goes_up_a_layer():
    wrong = []
    for module, targets in sorted(import_graph().items()):
        for target in sorted(targets):
            if layer_of(target) > layer_of(module):
                wrong.append(f"{module} ({LAYERS[layer_of(module)][0]}) imports "
                             f"{target} ({LAYERS[layer_of(target)][0]})")
    assert not wrong, "imports from a lower layer to a higher one:\n" + "\n".join(wrong)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None."""
    state: dict[str, str] = {}  # "open" while on the path, "done" after
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_the_import_graph_has_no_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or ())


def test_the_checks_see_cycles_and_upward_imports():
    """The checks themselves: a cycle is found, and so is a function-level import of the package root."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    source = PACKAGE / "status.py"
    assert "newsearch.storage" in imports_of("newsearch.status", source, set(modules()))
    known = set(modules())
    assert imports_of("newsearch.corpus.read", PACKAGE / "corpus" / "read.py", known) >= {
        "newsearch.errors", "newsearch.models", "newsearch.corpus.scan"}
    assert imports_of("newsearch.indexer", PACKAGE / "indexer.py", known) >= {
        "newsearch.corpus", "newsearch.duplicate_store"}


def test_plain_data_imports_only_the_standard_library():
    """models, errors and version import nothing of ours; config only errors (for QueryError)."""
    allowed = {"models": set(), "errors": set(), "version": set(), "config": {"newsearch.errors"}}
    graph = import_graph()
    for name, ours in allowed.items():
        module = f"newsearch.{name}"
        assert graph[module] <= ours, f"{module} imports {sorted(graph[module] - ours)}"
        tree = ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))
        top = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names}
        top |= {node.module.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module and not node.level}
        assert top - {"newsearch"} <= set(sys.stdlib_module_names), f"{module} imports {sorted(top)}"


def test_formatting_imports_only_plain_data():
    """Rendering needs no index: formatting reads plain data only (not status, storage or schema)."""
    plain = {f"newsearch.{name}" for name in LAYERS[0][1]}
    extra = import_graph()["newsearch.formatting"] - plain
    assert not extra, f"newsearch.formatting imports {sorted(extra)}: give them plain data from models instead"


@pytest.mark.parametrize("module", [
    "newsearch", "newsearch.formatting", "newsearch.models", "newsearch.config", "newsearch.errors",
    "newsearch.version", "newsearch.timeline", "newsearch.query",
])
def test_importing_renderers_and_plain_data_loads_no_whoosh(module):
    code = (f"import sys, {module}\n"
            "loaded = sorted(m for m in sys.modules if m == 'whoosh' or m.startswith('whoosh.'))\n"
            "print(' '.join(loaded))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"import {module} loads {result.stdout.strip()}"


def test_public_names_are_listed_once_and_typed_the_same():
    """``__init__``'s table is the list; the imports for type checkers must name the same things."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    typed: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom) and statement.module, ast.dump(statement)
                for alias in statement.names:
                    assert alias.asname == alias.name, f"{alias.name}: re-export it as `{alias.name} as {alias.name}`"
                    typed[alias.name] = statement.module
    assert typed == newsearch._MODULE_OF
    assert sorted(newsearch.__all__) == sorted([*newsearch._MODULE_OF, "__version__"])
    for name, module in newsearch._MODULE_OF.items():
        assert getattr(newsearch, name).__module__ == module, f"{name} is defined in {module}, not re-exported"
