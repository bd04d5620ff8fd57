"""A preset's date column, for a source that uses the preset and sets no ``date:``.

A preset names the column that dates its export's rows (:attr:`Preset.date`: HubSpot
contacts' ``Create Date``, Mailchimp's ``Send Date``, Search Console's ``Date`` in
``Dates.csv``). Whether a download has it depends on the report (a Search Console
``Queries.csv`` has no date; its ``Dates.csv`` does): the header of the source's first file
decides. An explicit ``date:`` always wins.
"""

from __future__ import annotations

from kpicli.errors import ConfigError, DataError
from kpicli.ingest.memo import ReadMemo
from kpicli.spec.config import Config
from kpicli.spec.presets import canonical_names


def preset_date(cfg: Config, name: str, memo: ReadMemo | None = None) -> str | None:
    """The date column source ``name`` takes from its preset: None when it sets ``date:``,
    has no preset or no file, or when its first file lacks the preset's date column."""
    from kpicli.ingest.scan import dedupe, match_files, sniff_source

    src = cfg.sources[name]
    preset = cfg.presets.get(src.preset) if src.preset else None  # built in, or one's own
    if src.date or preset is None or preset.date is None or src.derive.get(preset.date):
        return None
    try:
        files = match_files(cfg, name)
        if not files:
            return None
        (layout,) = sniff_source(cfg, name, files[:1], memo=memo)
    except (DataError, ConfigError, OSError):  # the reader reports the problem, later
        return None
    raw = dedupe(layout.header)
    names = canonical_names(preset, raw)
    final = [src.rename.get(r, src.rename.get(n, n)) for r, n in zip(raw, names, strict=True)]
    return preset.date if preset.date in final else None


def with_preset_dates(cfg: Config, memo: ReadMemo | None = None) -> Config:
    """``cfg`` whose sources without ``date:`` take their preset's date column where their
    files have it (:func:`preset_date`); ``cfg`` itself when none does."""
    found = {n: d for n in cfg.sources if (d := preset_date(cfg, n, memo)) is not None}
    if not found:
        return cfg
    sources = {
        n: s.model_copy(update={"date": found[n]}) if n in found else s
        for n, s in cfg.sources.items()
    }
    return cfg.changed(sources=sources)
