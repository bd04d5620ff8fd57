"""The files a user starts from: `kpi init` (a starter config, sample data) and `kpi schema`.

Templates are package data (``kpicli/templates/``), so that ``kpi init`` works from a plain
``pip install``:

- ``kpi_config.yaml``: the shipped configuration over the sample data, identical to the one at
  the root of the repository (a test keeps them equal); ``kpi init --sample`` writes it with
  the data that :func:`kpicli.commands.sample.generate` writes (the same bytes as ``sample_data/``);
- ``header.yaml``: the commented top of a starter config (settings, empty sections);
- ``example.yaml``: the starter's example sources and KPIs, when no ``--preset`` is given;
- ``presets/NAME.yaml``: a source block (``{path: exports/NAME*.csv, preset: NAME}``) and the
  typical KPIs of one export format, over its canonical columns (SPEC.md, Presets).

A template fragment is a small config with a ``sources:`` and a ``kpis:`` section; composing
inserts its indented lines into the same sections of the base, comments included.

``kpi schema`` is the JSON Schema of :class:`kpicli.spec.config.ConfigModel` (the model that
validates the file), with what its validators accept beyond the annotations (a single path,
a number as target) and descriptions for editors.
"""

from __future__ import annotations

import json
import os
import tempfile
from copy import deepcopy
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from kpicli.commands.downloads import Found
from kpicli.errors import ConfigError, Location, OutputError, UsageError, did_you_mean

CONFIG_NAME = "kpi_config.yaml"
SCHEMA_NAME = "kpi_schema.json"
SAMPLE_DIR = "sample_data"
EXPORTS_DIR = "exports"
#: Export formats `kpi init --preset` has templates for (SPEC.md, Presets).
PRESET_NAMES = (
    "google_ads",
    "meta_ads",
    "linkedin_ads",
    "microsoft_ads",
    "ga4",
    "search_console",
    "hubspot_contacts",
    "hubspot_deals",
    "mailchimp",
    "tiktok_ads",
    "salesforce_opportunities",
    "salesforce_leads",
)


def template(name: str) -> str:
    """The text of a template shipped in ``kpicli/templates/`` (``presets/ga4.yaml``…)."""
    node = resources.files("kpicli").joinpath("templates")
    for part in name.split("/"):
        node = node.joinpath(part)
    return node.read_text(encoding="utf-8")


# ---------------------------------------------------------------------------- composing


def _sections(text: str) -> tuple[list[str], list[str]]:
    """The indented lines under ``sources:`` and under ``kpis:`` of a template fragment."""
    parts: dict[str, list[str]] = {"sources": [], "kpis": []}
    current: str | None = None
    for line in text.splitlines():
        top = line.split("#", 1)[0].rstrip()
        if top and not line[0].isspace():
            current = top[:-1] if top.endswith(":") and top[:-1] in parts else None
            continue
        if current is not None:
            parts[current].append(line)
    return _trim(parts["sources"]), _trim(parts["kpis"])


def _trim(lines: list[str]) -> list[str]:
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    return lines


def add_fragment(base: str, fragment: str) -> str:
    """``base`` with the sources and KPIs of ``fragment`` added at the end of its sections."""
    sources, kpis = _sections(fragment)
    lines = base.rstrip("\n").splitlines()
    at = next(i for i, line in enumerate(lines) if line.rstrip() == "kpis:")
    end = at
    while end > 0 and not lines[end - 1].strip():
        end -= 1
    has_sources = lines[end - 1].rstrip() != "sources:"
    lines[end:end] = ([""] if has_sources else []) + sources
    has_kpis = lines[-1].rstrip() != "kpis:"
    lines += ([""] if has_kpis else []) + kpis
    return "\n".join(lines) + "\n"


def starter_config(
    presets: tuple[str, ...] = (),
    *,
    sample: bool = False,
    fragments: dict[str, str] | None = None,
) -> str:
    """The text `kpi init` writes: the shipped config (``sample``) or the starter, plus presets
    (``fragments``: a preset's own fragment, instead of its shipped template)."""
    fragments = fragments or {}
    if sample:
        text = template(CONFIG_NAME)
    else:
        text = template("header.yaml")
        if not presets:
            text = add_fragment(text, template("example.yaml"))
    for name in presets:
        text = add_fragment(text, fragments.get(name) or template(f"presets/{name}.yaml"))
    return text


def check_presets(
    values: tuple[str, ...], known: tuple[str, ...] = PRESET_NAMES
) -> tuple[str, ...]:
    """``--preset`` values (repeatable, or ``a,b``): each known, once; else a UsageError."""
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    for name in names:
        if name not in known:
            raise UsageError(
                f"unknown preset `{name}` in --preset",
                hint=did_you_mean(name, known) or f"known presets: {', '.join(known)}",
            )
    return tuple(dict.fromkeys(names))


# ---------------------------------------------------------------------------- kpi init


@dataclass
class Written:
    """What `kpi init` wrote."""

    directory: Path
    config: Path
    schema: Path
    data: list[Path] = field(default_factory=list)
    exports: Path | None = None  # the (empty) folder the sources of the config read
    found: list[Found] = field(default_factory=list)  # the exports recognised in DIR
    unknown: list[Path] = field(default_factory=list)  # files of DIR no preset recognises


def init(
    directory: Path, *, sample: bool = False, presets: tuple[str, ...] = (), force: bool = False
) -> Written:
    """Write a starter ``kpi_config.yaml`` and ``kpi_schema.json`` (and the sample data).

    Never overwrites a file unless ``force``: the check comes first, so a refused init writes
    nothing. Never writes through a symbolic link: with ``force``, a link in the way (even
    one that points nowhere) is replaced by the file, and its target is left alone; a
    ``sample_data`` folder that is a link is refused. Files are written atomically (a temp
    file, then a rename). Any OSError (a read-only place, a name too long) is an
    OutputError naming the path (exit 4).
    """
    from kpicli.outputs import output_error

    directory = Path(directory)
    try:
        plan = _Plan() if sample else _downloads_plan(directory, presets)
        presets = check_presets(presets, plan.known)
        if not presets and not sample and plan.recognised is not None:
            presets = tuple(plan.recognised.by_preset)
        return _init(directory, sample=sample, presets=presets, force=force, plan=plan)
    except OSError as exc:  # looking into DIR, or writing there
        raise output_error(exc.filename or directory, exc) from None


@dataclass
class _Plan:
    """What `kpi init` found in DIR: the user's presets, the exports recognised."""

    known: tuple[str, ...] = PRESET_NAMES
    presets: dict[str, Any] = field(default_factory=dict)  # every preset, by name
    files: dict[str, Path] = field(default_factory=dict)  # the user's presets' files
    recognised: Any = None

    def fragments(self, names: tuple[str, ...]) -> tuple[dict[str, str], list[Found]]:
        """Each preset's fragment (its template, or a user preset's), fitted to the exports
        recognised as that preset; and those exports."""
        from kpicli.commands.downloads import fitted_fragments, user_fragment

        out: dict[str, str] = {}
        found: list[Found] = []
        for name in names:
            if name in self.files:
                text = user_fragment(self.presets[name], self.files[name])
            else:
                text = template(f"presets/{name}.yaml")
            hits = self.recognised.by_preset.get(name, []) if self.recognised else []
            if hits:
                text = fitted_fragments(text, hits)
                found += hits
            out[name] = text
        return out, found


def _downloads_plan(directory: Path, presets: tuple[str, ...]) -> _Plan:
    """The presets `kpi init` knows in DIR (the built-in ones and those of DIR/presets/) and
    the exports of DIR each recognises. A preset file with a problem stops init (exit 2)."""
    from kpicli.commands.downloads import recognise
    from kpicli.spec.config import user_presets
    from kpicli.spec.user_presets import DEFAULT_FOLDER

    folder = directory / DEFAULT_FOLDER
    known, files, issues = user_presets(directory / CONFIG_NAME, None, {}, folder)
    if issues:
        first = issues[0]
        raise ConfigError(first.message, location=first.where, hint=first.hint)
    names = tuple(dict.fromkeys((*PRESET_NAMES, *files)))
    usable = {n: p for n, p in known.items() if n in names}
    recognised = recognise(directory, usable) if directory.is_dir() else None
    return _Plan(names, known, files, recognised)


def _lexists(path: Path) -> bool:
    """Whether anything is at ``path``, a symbolic link pointing nowhere included."""
    return os.path.lexists(path)


def _init(
    directory: Path, *, sample: bool, presets: tuple[str, ...], force: bool, plan: _Plan
) -> Written:
    from kpicli.commands import sample as sample_data
    from kpicli.outputs import write_atomic

    config = directory / CONFIG_NAME
    schema = directory / SCHEMA_NAME
    data_dir = directory / SAMPLE_DIR
    data = [data_dir / n for n in sample_data.FILE_NAMES] if sample else []
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"`{directory}` is a file, not a folder", hint="choose another DIR")
    existing = [p for p in (config, schema, *data) if _lexists(p)]
    if existing and not force:
        n = len(existing) - 1
        more = f" (and {n} more file{'s' if n > 1 else ''})" if n else ""
        raise UsageError(
            f"{existing[0]} already exists{more}",
            hint="kpi init never overwrites a file: pass --force to replace "
            + ("them" if more else "it")
            + ", or choose another DIR",
        )
    if sample and data_dir.is_symlink():
        raise OutputError(
            "is a symbolic link: kpi init writes no file through a link",
            location=Location(str(data_dir)),
            hint="remove the link, or choose another DIR",
        )
    fragments, found = plan.fragments(presets)
    text = starter_config(presets, sample=sample, fragments=fragments)
    directory.mkdir(parents=True, exist_ok=True)
    write_atomic(config, text.encode("utf-8"), follow_links=False)
    write_atomic(schema, schema_text().encode("utf-8"), follow_links=False)
    written = Written(directory, config, schema, found=found)
    if plan.recognised is not None:
        written.unknown = list(plan.recognised.unknown)
    if sample:
        data_dir.mkdir(exist_ok=True)
        with tempfile.TemporaryDirectory(dir=data_dir, prefix=".kpi-init-") as temp:
            for made in sample_data.generate(Path(temp)):
                os.replace(made, data_dir / made.name)  # replaces a link, never follows it
                written.data.append(data_dir / made.name)
    pointed = {f.preset for f in found}
    if (presets or not sample) and (not presets or any(p not in pointed for p in presets)):
        written.exports = directory / EXPORTS_DIR
        written.exports.mkdir(exist_ok=True)
    return written


# ---------------------------------------------------------------------------- kpi schema

#: Descriptions of the fields the models leave undescribed, shown by editors on hover.
_DESCRIPTIONS = {
    ("ConfigModel", "version"): "The version of the configuration language: 1.",
    ("ConfigModel", "settings"): "Report-wide settings: currency, week start, locale, time "
    "zone, cache, presets folder.",
    ("ConfigModel", "sources"): "The exports read: one entry per kind of export, by name.",
    ("ConfigModel", "kpis"): "The KPIs, by name (letters, digits and underscores).",
    ("Source", "delimiter"): 'The field separator: auto, ",", ";", "\\t" or "|".',
    ("Source", "decimal"): 'The decimal separator of numbers: auto, "." or ",".',
    ("Source", "skip_rows"): "Lines to skip before the header, or auto.",
    ("Kpi", "label"): "The name shown in reports (default: the KPI's name, capitalised).",
    ("Kpi", "description"): "What the KPI measures, in a sentence.",
    ("Kpi", "unit"): "number, integer, percent (a fraction), currency or duration (seconds).",
    ("Kpi", "better"): "Whether a higher or a lower value is good (colors and status).",
    ("Kpi", "hidden"): "Computed for other KPIs but not shown unless asked for with --kpi.",
    ("Kpi", "target"): "A number, or {value, per, by, values, total, tolerance}.",
}


def config_schema() -> dict[str, Any]:
    """The JSON Schema of kpi_config.yaml, from the pydantic model that validates it."""
    from kpicli.spec.config import NAME_RE, ConfigModel

    schema = deepcopy(ConfigModel.model_json_schema())
    defs = schema["$defs"]
    models = {"ConfigModel": schema, **defs}
    for (model, prop), text in _DESCRIPTIONS.items():
        models[model]["properties"][prop].setdefault("description", text)
    # what the "before" validators accept beyond the annotations
    path = defs["Source"]["properties"]["path"]
    path["anyOf"] = [{"type": "string"}, {"type": path.pop("type"), "items": path.pop("items")}]
    defs["Source"]["properties"]["preset"]["examples"] = list(PRESET_NAMES)
    target = defs["Kpi"]["properties"]["target"]
    target["anyOf"].insert(0, {"type": "number"})
    schema["properties"]["kpis"]["propertyNames"] = {"pattern": NAME_RE.pattern}
    head = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "kpi_config.yaml",
        "description": "The configuration of kpi: sources (CSV exports) and KPIs. "
        "Generated by `kpi schema` from the model that validates the file; "
        "`kpi validate` also checks names, formulas and the data.",
    }
    schema.pop("title", None)
    schema.pop("description", None)
    return {**head, **schema}


def schema_text() -> str:
    """:func:`config_schema` as the JSON text `kpi schema` prints."""
    return json.dumps(config_schema(), indent=2, ensure_ascii=False) + "\n"
