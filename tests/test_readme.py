"""The README documents every command and every option of the CLI, whatever commands exist.

The Typer app is walked (``typer.main.get_command``): a command added later is checked as
soon as it exists. Each command's options must appear in its own section of the README (a
heading naming `` `kpi NAME`` ``), or anywhere in it when the command has no section yet.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
import typer.main

from kpicli.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
COMMAND = typer.main.get_command(app)
NAMES = sorted(COMMAND.commands)  # type: ignore[attr-defined]


def section(name: str) -> str | None:
    """The README text under the heading that names `kpi NAME`, up to the next such heading."""
    lines = README.splitlines()
    heading = re.compile(rf"^(#+) .*`kpi {re.escape(name)}[ `]")
    for i, line in enumerate(lines):
        m = heading.match(line)
        if m is None:
            continue
        level = len(m[1])
        end = next(
            (
                j
                for j in range(i + 1, len(lines))
                if re.match(r"^(#+) ", lines[j]) and len(lines[j].split()[0]) <= level
            ),
            len(lines),
        )
        return "\n".join(lines[i:end])
    return None


def documented(option: str, text: str) -> bool:
    """The option as code (`` `--all` ``, `` `-a, --all` ``) or after a space in a table."""
    return re.search(rf"(`|, | ){re.escape(option)}\b(?!-)", text) is not None


def test_there_are_commands() -> None:
    assert {"report", "list", "validate", "explain", "init", "schema"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_command_is_documented(name: str) -> None:
    assert f"kpi {name}" in README, f"`kpi {name}` is not in README.md"
    command = COMMAND.commands[name]  # type: ignore[attr-defined]
    text = section(name) or README
    for param in command.params:
        if param.param_type_name == "option":
            for opt in [*param.opts, *param.secondary_opts]:
                assert documented(opt, text), f"kpi {name} {opt} is not in its README section"
        elif param.param_type_name == "argument":
            metavar = (param.metavar or param.name.upper()).strip("[]")
            assert metavar in text, f"kpi {name} {metavar} is not in its README section"


def test_every_command_with_options_has_a_section() -> None:
    """The commands of this issue each have their own section (and `report` its tour)."""
    for name in ("report", "list", "validate", "explain", "init", "schema"):
        assert section(name) is not None, name


def test_global_options_are_documented() -> None:
    ctx = typer.Context(COMMAND)
    for param in COMMAND.get_params(ctx):
        for opt in param.opts:
            assert documented(opt, README), f"kpi {opt} is not in README.md"


def test_section_finder_is_strict() -> None:
    """A section ends at the next heading of the same level: options are not borrowed."""
    list_section = section("list")
    assert list_section is not None
    assert "--preset" not in list_section and "### `kpi validate`" not in list_section


def test_the_anomaly_thresholds_and_history_are_the_models() -> None:
    """The README's sensitivity table and defaults say what kpicli.stats.anomaly does."""
    from kpicli.stats.anomaly import MIN_HISTORY, WINDOW, Z

    for level, z in Z.items():
        assert re.search(rf"`{level}`( \(default\))? \| \\\|score\\\| > {z:g} \|", README), level
    days, weeks = WINDOW["day"], WINDOW["week"]
    assert f"default {days} days, {weeks} weeks, {WINDOW['month']} months" in README
    assert f"fewer than {MIN_HISTORY['day']}\ndays ({MIN_HISTORY['week']} weeks" in README


def test_the_format_row_lists_every_format() -> None:
    """The `-f` row of `kpi report`'s options table names every renderer's format."""
    from kpicli.render import FORMATS

    tour = section("report")
    assert tour is not None
    rows = [line for line in tour.splitlines() if line.startswith("| `-f, --format`")]
    assert len(rows) == 1, rows
    for name in FORMATS:
        assert f"`{name}`" in rows[0], f"-f {name} is not in the README's report options"


def walk(command: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The path of every leaf command under ``command`` (`cache clear`, not `cache`)."""
    subs = getattr(command, "commands", None)
    if not subs:
        return [path]
    return [p for name, sub in sorted(subs.items()) for p in walk(sub, (*path, name))]


@pytest.mark.parametrize("path", walk(COMMAND), ids=" ".join)
def test_every_command_section_has_an_example(path: tuple[str, ...]) -> None:
    """Each command's own section shows it run: a shell block with `kpi NAME` in it."""
    name = " ".join(path)
    text = section(name)
    assert text is not None, f"`kpi {name}` has no section in README.md"
    blocks = re.findall(r"```(?:sh|shell|bash|console)\n(.*?)```", text, flags=re.S)
    assert any(f"kpi {name}" in block for block in blocks), f"no example of `kpi {name}`"


def test_the_tour_lists_every_period_form() -> None:
    """Every form `--period` accepts (kpicli.spec.periods.PERIOD_FORMS) is in the tour."""
    from kpicli.spec.periods import PERIOD_FORMS

    tour = section("report")
    assert tour is not None
    for form in PERIOD_FORMS:
        assert f"`{form}`" in tour, f"--period {form} is not in the tour of kpi report"


def test_the_captured_tables_are_current() -> None:
    """The README's terminal tables are what kpi prints today (docs/capture.py rewrites
    them); and there are some, with the verdict and the group sections."""
    import subprocess
    import sys

    assert README.count("<!-- capture: report ") >= 2 and "\nACQUISITION\n" in README
    check = [sys.executable, str(ROOT / "docs" / "capture.py"), "--check"]
    done = subprocess.run(check, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (ROOT / "docs" / "report.png").stat().st_size < 400_000  # docs/screenshot.py's
