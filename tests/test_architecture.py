"""The package's shape, read from its source with ``ast``: imports point one way (the layers below, also stated in
docs/architecture.md), no import cycle, not even through an import inside a function, a module that imports
inside a function says why once at its top, and a long module says why it stays whole."""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "jushita_etl"

LAYERS = [
    ["jushita_etl.cli", "jushita_etl"],  # the command; the package itself (``connect``, for analysts)
    ["jushita_etl.build", "jushita_etl.status", "jushita_etl.demo"],  # what the commands run
    ["jushita_etl.definitions", "jushita_etl.instance_storage"],  # what Dagster loads
    ["jushita_etl.defs"],  # the Dagster definitions
    ["jushita_etl.mq", "jushita_etl.warehouse"],  # the consumer, publisher and dev broker; the lakehouse
    ["jushita_etl.landing", "jushita_etl.top", "jushita_etl.simulate"],  # the landing zone; the TOP API; the feed
    ["jushita_etl.settings", "jushita_etl.holder", "jushita_etl.diagnosis", "jushita_etl.native"],  # leaves
]
"""Top first. A module imports from its own package (``jushita_etl.<name>``) and from lower layers only: never
upwards, never sideways into another package of its layer."""

LONG = 250
LONG_PHRASE = "Long because:"
"""A module over ``LONG`` lines has a line in its docstring starting with this phrase, saying why it stays whole."""
LAZY_PHRASE = "Imported on use:"
"""A module that imports inside a function (for start-up time) has a docstring line starting with this phrase."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The project's modules an import statement loads (``from a import b``: ``a.b`` when that is a module)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
            base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
    found = []
    for name in names:
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name.startswith("jushita_etl"):
            found.append(name)
    return found


def imports(module: str) -> tuple[set[str], set[str]]:
    """What ``module`` imports when it loads, and what its functions import when they run (``if TYPE_CHECKING``
    blocks never run). Loading ``a.b.c`` loads the packages ``a.b`` too, unless the importer is inside them."""
    at_load, in_functions = set(), set()

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for name in imported(module, child):
                    parts = name.split(".")
                    for package in (".".join(parts[:i]) for i in range(2, len(parts) + 1)):
                        if package != module and not (module + ".").startswith(package + "."):
                            (in_functions if in_function else at_load).add(package)
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(ast.parse(MODULES[module].read_text()), False)
    return at_load, in_functions


GRAPH = {module: imports(module) for module in MODULES}


def layer(module: str) -> tuple[int, str]:
    """The layer index of ``module`` and the package it belongs to there (the longest prefix listed)."""
    matches = [(len(name), i, name) for i, names in enumerate(LAYERS) for name in names
               if module == name or (name != "jushita_etl" and module.startswith(name + "."))]
    assert matches, f"{module} is in no layer: add it to LAYERS (and docs/architecture.md)"
    _, index, package = max(matches)
    return index, package


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (its modules, the first repeated at the end), or None."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        path.append(module)
        for target in sorted(edges.get(module, ())):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[module] = "done"
        path.pop()
        return None

    for module in sorted(edges):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_every_module_has_a_layer():
    for module in MODULES:
        layer(module)


def test_no_import_cycle_when_modules_load():
    cycle = find_cycle({module: at_load for module, (at_load, _) in GRAPH.items()})
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_import_inside_a_function_closes_a_cycle():
    """An import inside a function is for start-up time (the CLI, optional heavy libraries), never to dodge a
    cycle: counted with the imports at load, there is still none."""
    cycle = find_cycle({module: at_load | in_functions for module, (at_load, in_functions) in GRAPH.items()})
    assert cycle is None, "import cycle through an import inside a function: " + " -> ".join(cycle)


def test_imports_point_down_the_layers():
    wrong = []
    for module, (at_load, in_functions) in sorted(GRAPH.items()):
        index, package = layer(module)
        for target in sorted(at_load | in_functions):
            target_index, target_package = layer(target)
            if target_package != package and target_index <= index:
                wrong.append(f"{module} (layer {index}) imports {target} (layer {target_index})")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_the_resources_are_a_leaf_of_defs():
    at_load, in_functions = GRAPH["jushita_etl.defs.resources"]
    assert not {m for m in at_load | in_functions if m.startswith("jushita_etl.defs")}


def test_the_docs_state_these_layers():
    """docs/architecture.md's block under "Layers" lists the same packages, line by line."""
    docs = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    block = docs.split("## Layers", 1)[1].split("```", 2)[1].strip().splitlines()
    stated = [[name if name == "jushita_etl" else f"jushita_etl.{name}"
               for name in re.split(r"\s{2,}", line.strip(), maxsplit=1)[0].replace(" (connect)", "").split(", ")]
              for line in block]
    assert stated == LAYERS


def docstring_says(module: str, phrase: str) -> bool:
    docstring = ast.get_docstring(ast.parse(MODULES[module].read_text())) or ""
    return any(line.strip().startswith(phrase) for line in docstring.splitlines())


@pytest.mark.parametrize("module", [m for m, p in MODULES.items() if len(p.read_text().splitlines()) > LONG])
def test_a_long_module_says_why_it_stays_whole(module):
    assert docstring_says(module, LONG_PHRASE), (
        f"{MODULES[module].relative_to(PACKAGE.parent)} has over {LONG} lines: split it where a seam is, or say "
        f"why it stays whole in a docstring line starting {LONG_PHRASE!r}")


def imports_in_a_function(module: str) -> bool:
    """Whether any import statement of ``module`` (of anything: the project, a library, the standard library) runs
    only when a function does."""
    functions = [node for node in ast.walk(ast.parse(MODULES[module].read_text()))
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))]
    return any(isinstance(inner, (ast.Import, ast.ImportFrom)) for node in functions for inner in ast.walk(node))


@pytest.mark.parametrize("module", [m for m in MODULES if imports_in_a_function(m)])
def test_an_import_inside_a_function_is_named_at_the_top(module):
    assert docstring_says(module, LAZY_PHRASE), (
        f"{MODULES[module].relative_to(PACKAGE.parent)} imports inside a function: import at the top, or say why "
        f"not in a docstring line starting {LAZY_PHRASE!r}")
