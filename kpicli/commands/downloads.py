"""`kpi init` in a folder of downloads: each export recognised by its header, and the
template fragment of its preset pointed at the file as it is named.

An export is recognised by the preset that names the most of its headers (at least
:data:`MIN_MATCHED` of them; a tie goes to the preset whose first-choice header names match
more of them, then to the one with the larger share of its own columns found). Its
preset's fragment then gets:

- ``path:`` the file's name as downloaded (``"Campaign report.csv"``), glob characters
  escaped, quoted for YAML; several files of one preset: a list of them;
- ``date:`` only where the export has that column (a Google Ads campaign report not split by
  day has no ``Day``: the line is left commented, saying why);
- only the KPIs whose columns the export has (and the derived KPIs over them), so that
  ``kpi validate`` and ``kpi report`` work on the files as they are.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from glob import escape
from pathlib import Path

from kpicli.spec.presets import Preset, canonical_names

#: The least number of a preset's columns an export's header must hold to be recognised.
MIN_MATCHED = 3
#: The extensions of files looked at (text exports).
SUFFIXES = (".csv", ".tsv", ".txt")
#: At most this many files of a folder are looked at.
MAX_FILES = 200


@dataclass
class Found:
    """An export recognised in a folder of downloads."""

    path: Path  # relative to the folder the config is written in
    preset: str
    names: list[str]  # its columns, as the preset names them
    date: str | None = None  # the date column the source gets, if the export has it
    period: str | None = None  # the period its preamble states, as written
    matched: int = 0


@dataclass
class Recognised:
    """The exports of a folder, by preset (in the order their files come), and the files
    no preset recognises."""

    by_preset: dict[str, list[Found]] = field(default_factory=dict)
    unknown: list[Path] = field(default_factory=list)


def candidates(directory: Path) -> list[Path]:
    """The export files of a folder and of its ``exports/`` subfolder, by name."""
    out: list[Path] = []
    for folder in (directory, directory / "exports"):
        if folder.is_dir():
            out += sorted(
                p
                for p in folder.iterdir()
                if p.suffix.lower() in SUFFIXES and p.is_file() and not p.name.startswith(".")
            )
    return out[:MAX_FILES]


def best_preset(header: list[str], presets: dict[str, Preset]) -> tuple[str | None, list[str], int]:
    """The preset that names the most of a header's cells (and the names it gives them, and
    how many it matched); None when none matches :data:`MIN_MATCHED`."""
    from kpicli.ingest.scan import dedupe

    raw = dedupe(header)
    best: tuple[int, int, float, str] | None = None
    names_of: dict[str, list[str]] = {}
    for name, preset in presets.items():
        names = canonical_names(preset, raw)
        matched = sum(1 for n in names if n in preset.columns)
        # ties: the preset whose first (own) header names match more (Google Ads' `Day`,
        # `Impr.`, `Cost` are Microsoft's second choices), then the larger share
        first = replace(preset, columns={c: a[:1] for c, a in preset.columns.items()})
        primary = sum(1 for n in canonical_names(first, raw) if n in preset.columns)
        names_of[name] = names
        score = (matched, primary, matched / max(len(preset.columns), 1), name)
        if matched >= MIN_MATCHED and (best is None or score[:3] > best[:3]):
            best = score
    if best is None:
        return None, list(raw), 0
    return best[3], names_of[best[3]], best[0]


def recognise(directory: Path, presets: dict[str, Preset]) -> Recognised:
    """Each export file of ``directory`` with the preset its header matches."""
    from kpicli.ingest.detect import SniffError, sniff
    from kpicli.spec.presets import SUMMARY_ROWS

    found = Recognised()
    for path in candidates(directory):
        try:
            layout = sniff(path, summary=SUMMARY_ROWS)
        except (SniffError, OSError, ValueError):
            found.unknown.append(path.relative_to(directory))
            continue
        name, names, matched = best_preset(layout.header, presets)
        if name is None:
            found.unknown.append(path.relative_to(directory))
            continue
        period = layout.period.text if layout.period is not None else None
        hit = Found(path.relative_to(directory), name, names, period=period, matched=matched)
        found.by_preset.setdefault(name, []).append(hit)
    return found


# ---------------------------------------------------------------------------- fragments

_PATH_LINE = re.compile(r"^(\s+)path:\s*\S.*$")
_DATE_LINE = re.compile(r"^(\s+)(#\s*)?date:\s*([A-Za-z_]\w*)\s*(#.*)?$")
_KPI_START = re.compile(r"^  ([A-Za-z_]\w*):")
_DERIVE_ITEM = re.compile(r"^      ([A-Za-z_]\w*):\s*(.+?)\s*$")


def yaml_path(files: list[Path]) -> str:
    """The ``path:`` value naming ``files`` exactly: globs escaped, quoted for YAML."""
    quoted = [json.dumps(escape(f.as_posix()), ensure_ascii=False) for f in files]
    return quoted[0] if len(quoted) == 1 else "[" + ", ".join(quoted) + "]"


def fitted_fragments(text: str, found: list[Found]) -> str:
    """A preset's fragment for the exports ``found``: one source per kind of export (files
    with the same columns: one source, such as monthly downloads of one report; files with
    other columns, such as Search Console's ``Queries.csv`` and ``Dates.csv``: a source
    each, whose name and KPIs take the file's name as suffix, so that no row counts twice).
    Each export's :attr:`Found.date` is set."""
    groups: dict[tuple[str, ...], list[Found]] = {}
    for f in found:
        groups.setdefault(tuple(sorted(f.names)), []).append(f)
    sources: list[str] = []
    kpis: list[str] = []
    for i, hits in enumerate(groups.values()):
        fitted, date_col = fitted_fragment(text, hits)
        for hit in hits:
            hit.date = date_col
        if i:
            fitted = _suffixed(fitted, _suffix(hits[0].path, i))
        part = _split(fitted)
        sources += ([""] if sources else []) + part[0]
        kpis += ([""] if kpis else []) + part[1]
    return "\n".join(["sources:", *sources, "", "kpis:", *kpis]) + "\n"


def _split(text: str) -> tuple[list[str], list[str]]:
    """The lines under ``sources:`` and under ``kpis:`` of a fragment."""
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.rstrip() == "kpis:")
    head = [line for line in lines[:at] if line.rstrip() != "sources:"]
    while head and not head[-1].strip():
        head.pop()
    return head, lines[at + 1 :]


def _suffix(path: Path, i: int) -> str:
    """A name's suffix for the ``i``-th kind of export of a preset: its file's stem in
    snake_case (``Dates.csv`` → ``dates``), else its number."""
    from kpicli.spec.presets import snake_case

    stem = snake_case(path.stem)
    return stem if re.fullmatch(r"[a-z][a-z0-9_]{0,30}", stem) else str(i + 1)


def _suffixed(text: str, suffix: str) -> str:
    """A fragment whose source and KPI names end with ``_suffix`` (the preset named on its
    ``preset:`` line and derived columns' values left as they are)."""
    import yaml

    data = yaml.safe_load(text) or {}
    names = [*(data.get("sources") or {}), *(data.get("kpis") or {})]
    if not names:
        return text
    pattern = re.compile(r"(?<![\w.'])(" + "|".join(map(re.escape, names)) + r")(?![\w'])")
    out = []
    for line in text.splitlines():
        if re.match(r"^\s+preset:", line) or _DERIVE_ITEM.match(line):
            out.append(line)
        else:
            out.append(pattern.sub(lambda m: f"{m.group(1)}_{suffix}", line))
    return "\n".join(out) + "\n"


def fitted_fragment(text: str, found: list[Found]) -> tuple[str, str | None]:
    """A preset's fragment pointed at the exports ``found`` (its ``path:``, its ``date:``
    where they all have the column, only the KPIs they can all compute); and the date
    column set."""
    have = set.intersection(*(set(f.names) for f in found))
    lines = text.splitlines()
    out: list[str] = []
    section = None
    date_col: str | None = None
    unhide = False
    for line in lines:
        if line and not line[0].isspace():
            section = line.split(":", 1)[0]
        if section == "sources" and _PATH_LINE.match(line):
            indent = _PATH_LINE.match(line).group(1)  # type: ignore[union-attr]
            out.append(f"{indent}path: {yaml_path([f.path for f in found])}")
            continue
        m = _DATE_LINE.match(line) if section == "sources" else None
        if m is not None:
            indent, commented, col, _ = m.groups()
            # KPIs a template hides for want of a date (Search Console's): shown over the
            # downloads, whose period is all there is (or the one a preamble states)
            unhide = commented is not None
            if col in have:
                date_col = col
                out.append(f"{indent}date: {col}")
            else:
                files = ", ".join(f.path.name for f in found)
                out.append(
                    f"{indent}# date: {col}  # no `{col}` column in {files}: "
                    "its KPIs cover the whole file"
                )
            continue
        out.append(line)
    if unhide:
        out = [re.sub(r",\s*hidden:\s*true", "", line) for line in out]
        out = [line for line in out if not re.fullmatch(r"\s+hidden:\s*true\s*", line)]
    text = "\n".join(_fit_derive(out, have)) + "\n"
    return _fit_kpis(text, have), date_col


def _fit_derive(lines: list[str], have: set[str]) -> list[str]:
    """The source's derived columns that its files can compute (the others dropped)."""
    import yaml

    from kpicli.spec.formula import FormulaError, parse

    out: list[str] = []
    for line in lines:
        m = _DERIVE_ITEM.match(line)
        if m is not None:
            try:
                names = set(parse(str(yaml.safe_load(m.group(2)))).names)
            except (FormulaError, yaml.YAMLError):
                names = set()
            if not names <= have:
                continue
            have.add(m.group(1))
        out.append(line)
    # a `derive:` left without items goes too
    return [
        line
        for i, line in enumerate(out)
        if line.strip() != "derive:"
        or (i + 1 < len(out) and _DERIVE_ITEM.match(out[i + 1]) is not None)
    ]


def _kpi_blocks(lines: list[str]) -> list[tuple[str | None, list[str]]]:
    """The kpis section's lines as blocks: (KPI name, its lines), comments above a KPI in
    its block; (None, lines) for lines of no KPI."""
    blocks: list[tuple[str | None, list[str]]] = []
    pending: list[str] = []
    for line in lines:
        m = _KPI_START.match(line)
        if m is not None:
            blocks.append((m.group(1), [*pending, line]))
            pending = []
        elif line.startswith("   ") and blocks and not pending:
            blocks[-1][1].append(line)
        else:
            pending.append(line)
    if pending:
        blocks.append((None, pending))
    return blocks


def _fit_kpis(text: str, have: set[str]) -> str:
    """The fragment without the KPIs whose columns the exports lack (nor those over them)."""
    import yaml

    from kpicli.spec.formula import parse

    data = yaml.safe_load(text) or {}
    kpis: dict = data.get("kpis") or {}
    dropped: set[str] = set()
    for name, kpi in kpis.items():
        if kpi.get("source"):
            needed = set(parse(kpi["formula"]).names)
            needed |= set(parse(kpi["filter"]).names) if kpi.get("filter") else set()
            needed |= {kpi["date"]} if kpi.get("date") else set()
            if not needed <= have:
                dropped.add(name)
    changed = True
    while changed:
        changed = False
        for name, kpi in kpis.items():
            derived = name not in dropped and not kpi.get("source")
            if derived and set(parse(kpi["formula"]).names) & dropped:
                dropped.add(name)
                changed = True
    if not dropped:
        return text
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.rstrip() == "kpis:")
    kept = [
        line
        for name, block in _kpi_blocks(lines[at + 1 :])
        if name not in dropped
        for line in block
    ]
    if not any(_KPI_START.match(line) for line in kept):
        source = next(iter(data.get("sources") or {"rows": None}))
        kept.append(
            f"  {source}_rows: {{label: Rows of {source}, source: {source}, "
            "formula: COUNT(*), unit: integer}"
        )
    return "\n".join([*lines[: at + 1], *kept]) + "\n"


def user_fragment(preset: Preset, file: Path) -> str:
    """A template fragment for a preset of the user's: a source over ``exports/NAME*.csv``
    (its first date column as ``date:``), a row count and a sum of each number column."""
    name = preset.name
    dates = [c for c, t in preset.types.items() if t == "date"]
    lines = [
        "sources:",
        f"  {name}:{' ' * max(1, 37 - len(name))}# {preset.title} ({file.as_posix()})",
        f"    path: exports/{name}*.csv",
        f"    preset: {name}",
    ]
    if dates:
        lines.append(f"    date: {dates[0]}")
    lines += [
        "",
        "kpis:",
        f"  {name}_rows: {{label: {name} rows, source: {name}, formula: COUNT(*), unit: integer}}",
    ]
    for col, kind in preset.types.items():
        if kind == "number":
            lines.append(f"  {name}_{col}: {{source: {name}, formula: SUM({col})}}")
    return "\n".join(lines) + "\n"
