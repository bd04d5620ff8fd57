"""Presets of one's own: YAML files in a ``presets/`` folder beside the configuration.

A preset file holds the data of a built-in preset (:class:`kpicli.spec.presets.Preset`),
written as YAML; its name is the file's name without ``.yaml`` (``presets/pipedrive.yaml`` is
preset ``pipedrive``)::

    title: Pipedrive deals export              # optional: what kpi init and kpi sources say
    columns:                                   # canonical name → header(s) as written
      created_at: [Deal created on, Created]   # the first found in a file wins
      amount: Value                            # one header: a plain string
      stage: Stage
    types:                                     # optional: number | date | boolean |
      created_at: date                         #   percent_points (23.5 for 23.5 %) |
      amount: number                           #   duration (1:40, 00:01:40: seconds)
    date: created_at                           # optional: the column that dates the rows
    summary_rows:                              # optional: rows that are not data
      - {label: Pipedrive footer, pattern: "Exported from Pipedrive.*", alone: true}
    overrides: true                            # only to replace a built-in preset of that name

The folder is ``settings.presets`` (relative to the configuration) when set, else
``presets/`` beside the configuration when there is one. A file with a problem gets the
configuration's located errors (``file:line key``, exit 2). A file named like a built-in
preset is an error unless it says ``overrides: true``: then it replaces the built-in one for
this configuration (``kpi sources`` names the file).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kpicli.errors import ConfigError, Issue, IssueCode, Location
from kpicli.spec.presets import PRESETS, Preset, SummaryRow

#: The folder of user presets beside a configuration, when ``settings.presets`` is not set.
DEFAULT_FOLDER = "presets"
SUFFIXES = (".yaml", ".yml")
#: At most this many preset files are read from a folder.
MAX_FILES = 200
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
CONFIG = IssueCode.CONFIG


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SummaryRowModel(_Model):
    """A row of an export that is not data (``label`` is what `kpi sources` counts)."""

    label: str
    pattern: str = Field(description="A regex matched against the whole first cell")
    alone: bool = Field(False, description="The rest of the row must be empty too")


class PresetModel(_Model):
    """A preset file."""

    title: str | None = None
    columns: dict[str, list[str]] = Field(description="Canonical name → headers as written")
    types: dict[str, Literal["number", "date", "boolean", "percent_points", "duration"]] = Field(
        default_factory=dict
    )
    date: str | None = Field(
        None, description="The column that dates the rows (a source without `date:` uses it)"
    )
    summary_rows: list[SummaryRowModel] = Field(default_factory=list)
    overrides: bool = Field(False, description="Replace the built-in preset of this name")

    @field_validator("columns", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: [v] if isinstance(v, str) else v for k, v in value.items()}
        return value


def folder_of(config_path: Path, setting: str | None) -> tuple[Path, bool]:
    """The folder of user presets of a configuration, and whether it was set explicitly."""
    if setting is not None:
        return config_path.parent / setting, True
    return config_path.parent / DEFAULT_FOLDER, False


def _is_dir(folder: Path) -> bool:
    """Whether ``folder`` is a folder; False for a path the system refuses (a name too long:
    ``Path.is_dir`` raises for that one)."""
    try:
        return folder.is_dir()
    except OSError:
        return False


def preset_files(folder: Path) -> list[Path]:
    """The preset files of a folder, by name (none when the folder does not exist)."""
    if not _is_dir(folder):
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file())[
        :MAX_FILES
    ]


@dataclass(frozen=True)
class YamlTools:
    """How the configuration's YAML is read, located and its schema errors worded (given by
    :func:`kpicli.spec.config.user_presets`, so that preset files read as the config does)."""

    read: Callable[[Path], tuple[Any, dict[tuple[str, ...], int]]]
    locate: Callable[[Path, dict[tuple[str, ...], int], tuple[str, ...]], Location]
    issues: Callable[[ValidationError, Path, dict], list[Issue]]


def load_folder(
    folder: Path, tools: YamlTools, *, explicit: bool = False, where: Location | None = None
) -> tuple[dict[str, Preset], dict[str, Path], list[Issue]]:
    """The presets of a folder (built-in ones first, then the user's), the file of each
    user preset, and the problems of the files (each located). ``explicit``: the folder was
    named by ``settings.presets`` (``where``), so its absence is a problem."""
    presets: dict[str, Preset] = dict(PRESETS)
    files: dict[str, Path] = {}
    issues: list[Issue] = []
    if explicit and not _is_dir(folder):
        issues.append(
            Issue(
                CONFIG,
                f"presets folder `{folder}` not found",
                where,
                "create the folder, or remove `settings.presets` to use `presets/` "
                "beside the configuration",
            )
        )
        return presets, files, issues
    for path in preset_files(folder):
        preset, problems = load_file(path, tools)
        issues += problems
        if preset is not None:
            presets[preset.name] = preset
            files[preset.name] = path
    return presets, files, issues


def load_file(path: Path, tools: YamlTools) -> tuple[Preset | None, list[Issue]]:
    """One preset file → its :class:`Preset`, or None and the located problems."""
    name = path.stem
    try:
        data, lines = tools.read(path)
    except ConfigError as err:
        return None, [Issue(CONFIG, err.message, err.location, err.hint)]

    def at(*keys: str) -> Location:
        return tools.locate(path, lines, keys)

    if not _NAME.match(name):
        return None, [
            Issue(
                CONFIG,
                f"preset file name `{path.name}` is not an identifier",
                Location(str(path)),
                "name the file with letters, digits and underscores: `my_export.yaml`",
            )
        ]
    if not isinstance(data, dict):
        return None, [Issue(CONFIG, "a preset file must be a mapping", at())]
    try:
        model = PresetModel.model_validate(data)
    except ValidationError as err:
        return None, tools.issues(err, path, lines)
    issues = _checks(name, model, at)
    if issues:
        return None, issues
    preset = Preset(
        name,
        model.title or f"{name} (presets/{path.name})",
        {k: tuple(v) for k, v in model.columns.items()},
        tuple(SummaryRow(r.label, r.pattern, r.alone) for r in model.summary_rows),
        dict(model.types),
        date=model.date,
    )
    return preset, []


def _checks(name: str, model: PresetModel, at: Callable[..., Location]) -> list[Issue]:
    """What the model alone does not check: names, aliases, types and patterns."""
    issues: list[Issue] = []
    if name in PRESETS and not model.overrides:
        issues.append(
            Issue(
                CONFIG,
                f"preset `{name}` is built in: a file of the same name would replace it",
                at(),
                "name the file otherwise, or add `overrides: true` to replace the built-in "
                "preset for this configuration",
            )
        )
    if not model.columns:
        issues.append(Issue(CONFIG, "`columns` is empty", at("columns")))
    for canonical, aliases in model.columns.items():
        if not _NAME.match(canonical):
            issues.append(
                Issue(
                    CONFIG,
                    f"column name `{canonical}` is not an identifier",
                    at("columns", canonical),
                    "use letters, digits and underscores: `created_at`",
                )
            )
        if not aliases or any(not a.strip() for a in aliases):
            issues.append(
                Issue(
                    CONFIG,
                    f"column `{canonical}` needs at least one header, none empty",
                    at("columns", canonical),
                )
            )
    if model.date is not None and model.date not in model.columns:
        issues.append(
            Issue(
                CONFIG,
                f"`date` names `{model.date}`, which is not under `columns`",
                at("date"),
                f"columns: {', '.join(model.columns)}",
            )
        )
    for col in model.types:
        if col not in model.columns:
            issues.append(
                Issue(
                    CONFIG,
                    f"`types` names `{col}`, which is not under `columns`",
                    at("types", col),
                    f"columns: {', '.join(model.columns)}",
                )
            )
    for i, row in enumerate(model.summary_rows):
        try:
            re.compile(row.pattern)
        except re.error as err:
            issues.append(
                Issue(
                    CONFIG,
                    f"invalid pattern: {err}",
                    at("summary_rows", str(i), "pattern"),
                    "a Python regular expression matched against a row's whole first cell",
                )
            )
    return issues
