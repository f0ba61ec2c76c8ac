"""The shared package's subpackages depend on each other one way only, as immichvr_depth/__init__.py
lays out: a flow never reaches into another flow, and nothing below reaches up."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "shared" / "immichvr_depth"

# Each subpackage and what it may import of the others (the order of immichvr_depth/__init__.py).
MAY_IMPORT: dict[str, frozenset[str]] = {
    "platform": frozenset(),
    "store": frozenset({"platform"}),
    "imaging": frozenset({"platform"}),
    "intake": frozenset({"platform", "store", "imaging"}),
    "depth": frozenset({"platform", "store", "imaging"}),
    "serving": frozenset({"platform", "store", "imaging"}),
}
OUTSIDE = ("functions", "immichvr_local", "depth_inference", "tests", "bench")


def imported_modules(path: Path) -> Iterator[str]:
    """Every module `path` imports, at the top or inside a function."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "immichvr_depth":
                yield from (f"immichvr_depth.{alias.name}" for alias in node.names)
            else:
                yield node.module


def modules_of(subpackage: str) -> list[Path]:
    return sorted((PACKAGE / subpackage).rglob("*.py"))


def test_every_subpackage_is_placed_in_the_order() -> None:
    found = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").is_file()}
    assert found == set(MAY_IMPORT)
    assert [path.name for path in PACKAGE.glob("*.py")] == ["__init__.py"], "modules belong in a subpackage"


@pytest.mark.parametrize("subpackage", sorted(MAY_IMPORT))
def test_a_subpackage_imports_only_those_before_it(subpackage: str) -> None:
    wrong = [
        f"{path.relative_to(PACKAGE)} imports {module}"
        for path in modules_of(subpackage)
        for module in imported_modules(path)
        if module.startswith("immichvr_depth.")
        and (target := module.split(".")[1]) != subpackage
        and target not in MAY_IMPORT[subpackage]
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("subpackage", sorted(MAY_IMPORT))
def test_the_layer_never_imports_the_handlers_the_runner_or_the_container(subpackage: str) -> None:
    wrong = [
        f"{path.relative_to(PACKAGE)} imports {module}"
        for path in modules_of(subpackage)
        for module in imported_modules(path)
        if module.split(".")[0] in OUTSIDE
    ]
    assert not wrong, "\n".join(wrong)


def test_the_allowed_imports_have_no_cycle() -> None:
    visiting: set[str] = set()
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in visiting, f"cycle: {' -> '.join((*path, name))}"
        if name in done:
            return
        visiting.add(name)
        for dependency in MAY_IMPORT[name]:
            visit(dependency, (*path, name))
        visiting.discard(name)
        done.add(name)

    for name in MAY_IMPORT:
        visit(name, ())


def test_no_subpackage_init_imports_anything() -> None:
    """A function pays at cold start only for the modules it uses, not for its neighbours'."""
    for subpackage in MAY_IMPORT:
        init = PACKAGE / subpackage / "__init__.py"
        modules = [m for m in imported_modules(init) if m.startswith("immichvr_depth")]
        if subpackage == "imaging":
            continue  # loads each name lazily on first use, under TYPE_CHECKING for the types
        assert not modules, f"{subpackage}/__init__.py imports {modules}"
