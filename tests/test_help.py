"""Every command's `--help` ends with examples and names its values readably.

The Typer app is walked (``typer.main.get_command``), groups included (`kpi cache` and its
subcommands): a command added later is checked as soon as it exists. Each help is the text
`kpi … --help` prints, run through the CLI.
"""

from __future__ import annotations

import re

import pytest
import typer.main
from typer.testing import CliRunner

from kpicli.cli import PERIOD_HELP, app
from kpicli.spec.periods import PERIOD_FORMS

ROOT = typer.main.get_command(app)

#: What Typer prints for a parameter without a metavar: its Python type in angle brackets
#: (``<str>``, ``<int>``, ``<list[str]>``, ``<float range>``, ``<path>``). The choices of an
#: option (``<day|week|month>``) are readable and allowed.
PYTHON_TYPE = re.compile(r"<[a-z_]+(\[[^<>]*\])?( range)?>")


def walk(command: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The path of every command and group under ``command``, itself included."""
    found = [path]
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        found += walk(sub, (*path, name))
    return found


PATHS = walk(ROOT)


def help_text(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], prog_name="kpi", terminal_width=100)
    assert result.exit_code == 0, result.output
    return result.output


def unwrapped(text: str) -> str:
    """Help text with its line wrapping undone (Click breaks lines after a hyphen too)."""
    return re.sub(r"\s+", " ", re.sub(r"-\n\s+", "-", text))


def examples(text: str) -> list[str]:
    """The example lines of a help: the indented lines after its "Examples:" heading, up to
    the next section (`kpi --help` shows its examples before its list of commands)."""
    start = text.rfind("Examples:")
    if start < 0:
        return []
    shown = []
    for line in text[start:].splitlines()[1:]:
        if line.strip() and not line.startswith(" "):
            break
        if line.strip():
            shown.append(line.strip())
    return shown


def test_the_walk_finds_every_command() -> None:
    assert {("report",), ("explain",), ("clean",), ("cache",), ("cache", "clear"), ()} <= set(PATHS)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(("kpi", *p)))
def test_every_help_ends_with_examples(path: tuple[str, ...]) -> None:
    shown = examples(help_text(path))
    assert shown, f"`kpi {' '.join(path)} --help` has no examples"
    assert all(line.startswith("kpi ") for line in shown), shown


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(("kpi", *p)))
def test_no_python_type_as_a_placeholder(path: tuple[str, ...]) -> None:
    text = help_text(path)
    assert PYTHON_TYPE.search(text) is None, PYTHON_TYPE.findall(text) and text


def test_the_placeholder_check_finds_python_types() -> None:
    """The pattern catches what Typer prints without a metavar, and passes choices."""
    for typed in ("names... <list[str]>", "FILE <str>", "--limit <int>", "--x <float range>"):
        assert PYTHON_TYPE.search(typed), typed
    for fine in ("--grain <day|week|month>", "--sort KPI[:asc]", "-o PATH", "--limit N"):
        assert PYTHON_TYPE.search(fine) is None, fine


@pytest.mark.parametrize("path", [("report",), ("explain",)])
def test_period_help_lists_every_form(path: tuple[str, ...]) -> None:
    text = unwrapped(help_text(path))
    for form in PERIOD_FORMS:
        assert form in PERIOD_HELP, form
        assert re.search(rf"(?<![\w-]){re.escape(form)}(?![\w-])", text), form


def test_period_forms_are_the_ones_the_issue_names() -> None:
    """The forms a marketer asks for, each in PERIOD_FORMS (so in the help)."""
    wanted = {
        "all",
        "today",
        "yesterday",
        "last-7-days",
        "last-30-days",
        "last-N-days",
        *(f"{w}-{u}" for w in ("this", "last") for u in ("week", "month", "quarter", "year")),
        "2026-10-05",
        "2026-10",
        "2026-Q3",
        "2026-W05",
        "2026",
    }
    assert wanted <= set(PERIOD_FORMS)
    assert any(".." in form for form in PERIOD_FORMS)


def test_every_example_of_the_help_parses() -> None:
    """Each example's options exist on its command (a renamed option breaks the test)."""
    for path in PATHS:
        for line in examples(help_text(path)):
            command = line.split("|")[0].split("&&")[0].split("#")[0].split()
            sub = [w for w in command[1:3] if not w.startswith("-")]
            target = ROOT
            for word in sub:
                commands = getattr(target, "commands", {})
                if word in commands:
                    target = commands[word]
            known = {o for p in getattr(target, "params", []) for o in p.opts}
            for word in command:
                if word.startswith("-") and word not in ("-",):
                    assert word in known | {"-h", "--help"}, f"{line}: {word}"
