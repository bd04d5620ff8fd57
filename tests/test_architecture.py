"""The architecture in the repository stays true: no import cycle among kpicli's modules, and
ARCHITECTURE.md's "## Modules" table lists exactly the modules of ``kpicli/``.

The layers themselves (which stage may import which) are import-linter's contract in
pyproject.toml, run by ``lint-imports`` in ``.ci/run``; a cycle inside one layer passes that
contract, so it is checked here. Each check is also run on a small made-up case, to show that
it fails when it should.
"""

from __future__ import annotations

import re
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "kpicli"
ARCHITECTURE = ROOT / "ARCHITECTURE.md"


# ---------------------------------------------------------------------------- import cycles


def import_cycles(graph: grimp.ImportGraph) -> set[tuple[str, ...]]:
    """Every cycle of imports in ``graph``, one per direct import that starts one.

    For each direct import ``a → b``, the shortest chain of imports back from ``b`` to ``a``
    closes a cycle ``(a, b, …)``; it is rotated to start at its smallest module, so that the
    same cycle found from each of its imports is counted once.
    """
    cycles = set()
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is None:
                continue
            cycle = (importer, *back[:-1])
            start = cycle.index(min(cycle))
            cycles.add(cycle[start:] + cycle[:start])
    return cycles


def kpicli_graph() -> grimp.ImportGraph:
    """kpicli's imports, every one (inside functions and ``TYPE_CHECKING`` too), as
    import-linter sees them; no cache folder written (tests may run in parallel)."""
    return grimp.build_graph("kpicli", cache_dir=None)


def made_up_graph(*imports: str) -> grimp.ImportGraph:
    """A graph from ``"a > b"`` strings (``a`` imports ``b``)."""
    graph = grimp.ImportGraph()
    for text in imports:
        importer, imported = (f"pkg.{name.strip()}" for name in text.split(">"))
        graph.add_import(importer=importer, imported=imported)
    return graph


def test_no_import_cycle_among_kpicli_modules() -> None:
    found = import_cycles(kpicli_graph())
    assert not found, "import cycles: " + "; ".join(" → ".join((*c, c[0])) for c in sorted(found))


def test_the_graph_is_kpicli_as_it_is() -> None:
    """The graph the cycle test reads has the package's modules and some known imports, so
    an empty graph (a wrong package name, a failed scan) cannot pass as "no cycle"."""
    graph = kpicli_graph()
    assert {"kpicli.cli", "kpicli.errors", "kpicli.spec.config"} <= graph.modules
    assert graph.direct_import_exists(importer="kpicli.cli", imported="kpicli.errors")


def test_cycle_finder_finds_each_cycle_once() -> None:
    graph = made_up_graph("a > b", "b > c", "c > a", "c > d", "d > e", "e > d", "f > a")
    assert import_cycles(graph) == {("pkg.a", "pkg.b", "pkg.c"), ("pkg.d", "pkg.e")}


def test_cycle_finder_finds_none_in_layers() -> None:
    graph = made_up_graph("a > b", "a > c", "b > c", "c > d", "b > d")
    assert import_cycles(graph) == set()


def test_one_import_closes_a_cycle() -> None:
    graph = made_up_graph("a > b", "b > c", "c > d")
    assert import_cycles(graph) == set()
    graph.add_import(importer="pkg.d", imported="pkg.b")
    assert import_cycles(graph) == {("pkg.b", "pkg.c", "pkg.d")}


# ---------------------------------------------------------------------------- modules table


def modules_table(text: str) -> list[str]:
    """The module paths of the "## Modules" section's table, in order: the code spans of each
    row's first cell (``| `spec/config.py` | what it holds |``)."""
    section = re.search(r"^## Modules\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    if section is None:
        return []
    paths = []
    for line in section.group(1).splitlines():
        cells = line.split("|")
        if line.startswith("|") and len(cells) > 2:
            paths += re.findall(r"`([^`]+)`", cells[1])
    return paths


def package_modules(package: Path) -> set[str]:
    """Every module file of ``package``, relative to it (``spec/config.py``), without the
    ``__init__.py`` files (a table row for one is allowed, not required)."""
    return {
        p.relative_to(package).as_posix()
        for p in package.rglob("*.py")
        if p.name != "__init__.py" and "__pycache__" not in p.parts
    }


def table_problems(listed: list[str], package: Path) -> list[str]:
    """What is wrong with the table ``listed`` for ``package``: modules it leaves out, rows
    for files that do not exist, rows listed twice. Empty when the table is right."""
    required = package_modules(package)
    problems = [f"not in the table: {p}" for p in sorted(required - set(listed))]
    problems += [f"no such module: {p}" for p in listed if not (package / p).is_file()]
    problems += [f"listed twice: {p}" for p in sorted({p for p in listed if listed.count(p) > 1})]
    return problems


def test_architecture_lists_every_module() -> None:
    listed = modules_table(ARCHITECTURE.read_text(encoding="utf-8"))
    assert listed, "ARCHITECTURE.md has no ## Modules table"
    assert table_problems(listed, PACKAGE) == []


TABLE = """\
# Architecture

## Modules

| module | what it holds |
| --- | --- |
| `errors.py` | errors |
| `spec/config.py` | the config |

## Tests

| `not/a/module.py` | outside the section |
"""


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """A made-up package: ``errors.py``, ``spec/__init__.py``, ``spec/config.py``."""
    (tmp_path / "spec").mkdir()
    for name in ("__init__.py", "errors.py", "spec/__init__.py", "spec/config.py"):
        (tmp_path / name).write_text('"""a module"""\n')
    return tmp_path


def test_the_table_is_read_from_its_section_only() -> None:
    assert modules_table(TABLE) == ["errors.py", "spec/config.py"]


def test_a_right_table_passes(package: Path) -> None:
    assert table_problems(modules_table(TABLE), package) == []
    assert table_problems([*modules_table(TABLE), "spec/__init__.py"], package) == []


def test_a_module_left_out_fails(package: Path) -> None:
    (package / "spec" / "periods.py").write_text('"""new"""\n')
    assert table_problems(modules_table(TABLE), package) == ["not in the table: spec/periods.py"]


def test_a_row_for_a_moved_module_fails(package: Path) -> None:
    (package / "spec" / "config.py").rename(package / "config.py")
    assert table_problems(modules_table(TABLE), package) == [
        "not in the table: config.py",
        "no such module: spec/config.py",
    ]


def test_a_row_listed_twice_fails(package: Path) -> None:
    listed = [*modules_table(TABLE), "errors.py"]
    assert table_problems(listed, package) == ["listed twice: errors.py"]
