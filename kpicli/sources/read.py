"""Read one source's files into a clean LazyFrame.

Order of work, as SPEC.md defines it: files matched by the globs are scanned lazily with
Polars (concatenated), then ``rename``, then ``derive`` (SQL expressions, in order), date
columns parsed, then the source's ``filter``. Nothing is collected here.
"""

from __future__ import annotations

import glob as globlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from kpicli.config import Config, Source
from kpicli.errors import ConfigError, DataError, did_you_mean
from kpicli.formula import FormulaError, parse, to_polars

#: How long the schema inference looks (rows); a column must be numeric in these rows.
INFER_ROWS = 10_000
ISO_DATE = "%Y-%m-%d"


@dataclass
class SourceFrame:
    """A source's lazy frame and what is known about it without reading its rows."""

    name: str
    files: list[Path]
    frame: pl.LazyFrame
    schema: dict[str, pl.DataType]
    date_columns: tuple[str, ...]
    header: list[str] = field(default_factory=list)


def match_files(cfg: Config, name: str) -> list[Path]:
    """The files of a source, sorted, each glob resolved against the config's folder."""
    src = cfg.sources[name]
    files: list[Path] = []
    for i, pattern in enumerate(src.path):
        full = Path(pattern).expanduser()
        if not full.is_absolute():
            full = cfg.base_dir / full
        hits = sorted(Path(p) for p in globlib.glob(str(full), recursive=True))
        hits = [h for h in hits if h.is_file()]
        if not hits:
            keys = ("sources", name, "path") + ((str(i),) if len(src.path) > 1 else ())
            raise DataError(
                f"source `{name}`: no file matches `{pattern}` (looked for {full})",
                location=cfg.where(*keys),
                hint="check the path; it is relative to the folder of the config file",
            )
        files.extend(h for h in hits if h not in files)
    return files


def _encoding(src: Source) -> str:
    return "utf-8" if src.encoding == "auto" else src.encoding


def _scan(files: list[Path], src: Source) -> pl.LazyFrame:
    options = dict(
        separator="," if src.delimiter == "auto" else src.delimiter,
        skip_rows=0 if src.skip_rows == "auto" else src.skip_rows,
        decimal_comma=src.decimal == ",",
        infer_schema_length=INFER_ROWS,
        try_parse_dates=False,
    )
    encoding = _encoding(src)
    if encoding == "utf-8":
        return pl.scan_csv([str(f) for f in files], encoding="utf8", **options)
    # Polars reads UTF-8 only: other encodings are decoded in memory first.
    frames = []
    for f in files:
        text = f.read_bytes().decode(encoding)
        frames.append(pl.read_csv(io.BytesIO(text.encode("utf-8")), **options).lazy())
    return pl.concat(frames, how="vertical_relaxed")


def _read_error(name: str, files: list[Path], err: Exception) -> DataError:
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return DataError(
        f"source `{name}`: cannot read {', '.join(str(f) for f in files)}: {first}",
        hint="check the file's delimiter, encoding and skip_rows options",
    )


def date_columns(cfg: Config, name: str) -> tuple[str, ...]:
    """The source's date column and the other date columns its KPIs count on."""
    cols: list[str] = []
    src = cfg.sources[name]
    if src.date:
        cols.append(src.date)
    for kpi in cfg.kpis.values():
        if kpi.source == name and kpi.date and kpi.date not in cols:
            cols.append(kpi.date)
    return tuple(cols)


def _missing(
    cfg: Config, name: str, names: tuple[str, ...] | list[str], have: list[str], keys: tuple
) -> None:
    for col in names:
        if col not in have:
            raise DataError(
                f"source `{name}` has no column `{col}`",
                location=cfg.where(*keys),
                hint=did_you_mean(col, have) or f"its columns are: {', '.join(have)}",
            )


def parse_dates(expr: pl.Expr, fmt: str) -> pl.Expr:
    """A string column (or an ISO datetime) as dates."""
    text = expr.cast(pl.Utf8).str.strip_chars()
    if fmt == "auto":
        return text.str.slice(0, 10).str.to_date(ISO_DATE, strict=True)
    return text.str.to_date(fmt, strict=True)


def scan_source(cfg: Config, name: str) -> SourceFrame:
    """The lazy frame of one source after rename, derive, date parsing and filter."""
    src = cfg.sources[name]
    if src.preset is not None:
        raise ConfigError(
            f"preset `{src.preset}` is not available in this version",
            location=cfg.where("sources", name, "preset"),
        )
    files = match_files(cfg, name)
    try:
        lf = _scan(files, src)
        schema = dict(lf.collect_schema())
    except UnicodeDecodeError as err:
        raise DataError(
            f"source `{name}`: cannot decode as {_encoding(src)} (byte {err.start})",
            location=str(files[0]),
            hint="set `encoding:` (utf-8, utf-16, cp1252, latin-1) on the source",
        ) from None
    except (pl.exceptions.PolarsError, OSError) as err:
        raise _read_error(name, files, err) from None
    header = list(schema)

    if src.rename:
        _missing(cfg, name, list(src.rename), header, ("sources", name, "rename"))
        lf = lf.rename(src.rename)
    have = [src.rename.get(c, c) for c in header]
    for col, text in src.derive.items():
        _missing(cfg, name, parse(text).names, have, ("sources", name, "derive", col))
        lf = lf.with_columns(_sql(cfg, text, ("sources", name, "derive", col)).alias(col))
        if col not in have:
            have.append(col)
    dates = date_columns(cfg, name)
    for col in dates:
        keys = ("sources", name, "date")
        if col != src.date:
            keys = next(
                ("kpis", k, "date")
                for k, v in cfg.kpis.items()
                if v.source == name and v.date == col
            )
        _missing(cfg, name, [col], have, keys)
    lf = lf.with_columns(parse_dates(pl.col(c), src.date_format).alias(c) for c in dates)
    if src.filter:
        _missing(cfg, name, parse(src.filter).names, have, ("sources", name, "filter"))
        lf = lf.filter(_sql(cfg, src.filter, ("sources", name, "filter")))
    try:
        schema = dict(lf.collect_schema())
    except pl.exceptions.PolarsError as err:
        raise _read_error(name, files, err) from None
    return SourceFrame(name, files, lf, schema, dates, header)


def _sql(cfg: Config, text: str, keys: tuple[str, ...]) -> pl.Expr:
    """``pl.sql_expr`` with its errors located in the config."""
    try:
        return pl.sql_expr(to_polars(text))
    except (FormulaError, pl.exceptions.PolarsError) as err:
        raise ConfigError(
            f"invalid SQL `{text}`: {str(err).splitlines()[0]}", location=cfg.where(*keys)
        ) from None
