"""The package's shape, read from its imports: layered wings, imports one way, no cycles, no private reach."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "router"
README = PACKAGE.parent / "README.md"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors",),
    ("tomlfile", "log"),
    ("cable",),
    ("routing",),
    ("network",),
    ("bus",),
    ("journal",),
    ("settings",),
    ("switch",),
    ("readout",),
    ("sim",),
    ("cli",),
)
"""From the bottom up: a part may import its own layer's modules and those below, never above.

The pure core (cable format, routing decisions, the simulated network) sits under every piece of
I/O; the switch under what reads its journal and what drives it; the command line on top.
"""
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}
FACADE = {"router", "router.__main__"}
"""The package's front door re-exports the public names and starts the CLI: above every layer."""


@dataclass(frozen=True, slots=True)
class Import:
    """One import of a router module by another, where it is written."""

    importer: str
    imported: str
    names: tuple[str, ...]
    line: int
    typing_only: bool


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _typing_only_lines(tree: ast.Module) -> set[int]:
    """Lines inside ``if TYPE_CHECKING:`` blocks: imports there are for the type checker only."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in {"TYPE_CHECKING", "typing.TYPE_CHECKING"}:
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _imports() -> list[Import]:
    modules = _modules()
    found: list[Import] = []
    for importer, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = _typing_only_lines(tree)
        package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join([*base, node.module] if node.module else base)
                else:
                    target = node.module or ""
                # `from router.bus import topics` imports the module router.bus.topics
                names = tuple(alias.name for alias in node.names)
                submodules = [f"{target}.{name}" for name in names if f"{target}.{name}" in modules]
                targets = submodules or [target]
            elif isinstance(node, ast.Import):
                targets, names = [alias.name for alias in node.names], ()
            else:
                continue
            found.extend(
                Import(importer, target, names, node.lineno, node.lineno in typing_only)
                for target in targets
                if target == "router" or target.startswith("router.")
            )
    return found


def _part(module: str) -> str | None:
    """The wing or loose module a module belongs to (None for the front door)."""
    if module in FACADE:
        return None
    return module.split(".")[1]


def test_every_part_has_a_layer() -> None:
    """Each wing and loose module of router/ is placed in a layer, so the rule below covers it."""
    parts = {part for module in _modules() if (part := _part(module)) is not None}
    assert parts - set(RANK) == set()


def test_imports_go_down_the_layers() -> None:
    """No module imports from a layer above its own: the layers hold even for imports made for typing."""
    back_edges = [
        f"{edge.importer} (line {edge.line}) imports {edge.imported}"
        for edge in _imports()
        if (low := _part(edge.importer)) is not None
        and (high := _part(edge.imported)) is not None
        and RANK[high] > RANK[low]
    ]
    assert back_edges == []


def test_no_import_cycles() -> None:
    """Modules import each other in one direction only (imports for typing left out: they do not run)."""
    graph: dict[str, set[str]] = {module: set() for module in _modules()}
    for edge in _imports():
        if not edge.typing_only and edge.imported in graph and edge.imported != edge.importer:
            # a package's __init__ importing its own children is how a package is assembled
            if edge.importer in edge.imported.rpartition(".")[0]:
                continue
            graph[edge.importer].add(edge.imported)
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as error:
        pytest.fail(f"import cycle: {' -> '.join(error.args[1])}")


def test_no_private_names_across_modules() -> None:
    """A module uses another's public names only: an underscore name is its own module's business."""
    reaches = [
        f"{edge.importer} (line {edge.line}) imports {name} from {edge.imported}"
        for edge in _imports()
        for name in edge.names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert reaches == []


@pytest.mark.parametrize("wing", sorted(p for p in RANK if (PACKAGE / p).is_dir()))
def test_readme_maps_every_wing(wing: str) -> None:
    """The README's module map names every wing, so a newcomer finds each one."""
    assert f"`router/{wing}/`" in README.read_text(encoding="utf-8")
