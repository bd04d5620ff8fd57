"""The Parquet cache of parsed sources: same results, re-read on change, rebuilt when corrupt."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from kpicli import Request, load_config, run_report
from kpicli.sources.cache import PREFIX, clear

AS_OF = date(2026, 12, 31)


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "a.csv").write_text("day,channel,spend\n2026-01-01,x,1.5\n2026-01-02,y,2.25\n")
    cfg = tmp_path / "kpi_config.yaml"
    cfg.write_text(
        "version: 1\nsources:\n  a: {path: a.csv, date: day}\n"
        "kpis:\n  spend: {source: a, formula: SUM(spend)}\n  n: {source: a, formula: COUNT(*)}\n"
    )
    return cfg, tmp_path / "cache"


def values(cfg: Path, cache: Path | None, **req) -> dict:
    r = run_report(
        load_config(cfg), Request(as_of=AS_OF, cache=str(cache) if cache else None, **req)
    )
    return dict(zip(r.rows["kpi"], r.rows["value"], strict=True))


def entries(cache: Path) -> list[Path]:
    return sorted(p for p in cache.iterdir() if p.name.startswith(PREFIX))


def test_cached_report_equals_uncached(setup) -> None:
    cfg, cache = setup
    first = values(cfg, cache, by=("channel",))
    assert len(entries(cache)) == 1
    stamp = entries(cache)[0].stat().st_mtime_ns
    assert values(cfg, cache, by=("channel",)) == first == values(cfg, None, by=("channel",))
    assert entries(cache)[0].stat().st_mtime_ns == stamp  # reused, not rewritten


def test_changed_file_is_read_again(setup) -> None:
    cfg, cache = setup
    assert values(cfg, cache) == {"spend": 3.75, "n": 2}
    data = cfg.parent / "a.csv"
    data.write_text(data.read_text() + "2026-01-03,x,10\n")
    assert values(cfg, cache) == {"spend": 13.75, "n": 3}
    assert len(entries(cache)) == 2


def test_same_size_new_mtime_is_read_again(setup) -> None:
    cfg, cache = setup
    values(cfg, cache)
    data = cfg.parent / "a.csv"
    data.write_text(data.read_text().replace("1.5", "9.5"))  # same size
    st = data.stat()
    os.utime(data, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert values(cfg, cache)["spend"] == 11.75


def test_changed_option_is_another_entry(setup) -> None:
    cfg, cache = setup
    values(cfg, cache)
    cfg.write_text(cfg.read_text().replace("date: day}", "date: day, filter: \"channel = 'x'\"}"))
    assert values(cfg, cache) == {"spend": 1.5, "n": 1}
    assert len(entries(cache)) == 2


def test_corrupt_entry_is_rebuilt(setup) -> None:
    cfg, cache = setup
    values(cfg, cache)
    (entry,) = entries(cache)
    entry.write_bytes(entry.read_bytes()[:20])  # truncated
    assert values(cfg, cache) == {"spend": 3.75, "n": 2}
    assert entries(cache)[0].stat().st_size > 20


def test_garbage_entry_is_rebuilt(setup) -> None:
    cfg, cache = setup
    values(cfg, cache)
    (entry,) = entries(cache)
    entry.write_bytes(b"not parquet at all")
    assert values(cfg, cache) == {"spend": 3.75, "n": 2}


def test_settings_cache_relative_to_config(setup) -> None:
    cfg, _ = setup
    cfg.write_text(
        cfg.read_text().replace("version: 1\n", "version: 1\nsettings: {cache: .kpi-cache}\n")
    )
    assert values(cfg, None) == {"spend": 3.75, "n": 2}
    assert len(entries(cfg.parent / ".kpi-cache")) == 1


def test_clear_removes_entries(setup) -> None:
    cfg, cache = setup
    values(cfg, cache)
    (cache / "keep.txt").write_text("not ours")
    assert clear(cache) == 1
    assert [p.name for p in cache.iterdir()] == ["keep.txt"]
    assert clear(cfg.parent / "nowhere") == 0


def test_no_temp_file_left(setup) -> None:
    cfg, cache = setup
    values(cfg, cache)
    assert [p.name for p in cache.iterdir() if p.name.endswith(".tmp")] == []


def test_cli_cache_option_and_clear(setup) -> None:
    from typer.testing import CliRunner

    from kpicli.cli import app

    cfg, cache = setup
    runner = CliRunner()
    args = ["report", "-c", str(cfg), "--as-of", "2026-12-31", "-f", "jsonl"]
    plain = runner.invoke(app, args)
    cached = runner.invoke(app, [*args, "--cache", str(cache)])
    again = runner.invoke(app, [*args, "--cache", str(cache)])
    assert plain.exit_code == cached.exit_code == again.exit_code == 0
    strip = lambda out: [line for line in out.splitlines() if "generated_at" not in line]  # noqa: E731
    assert strip(plain.stdout) == strip(cached.stdout) == strip(again.stdout)
    assert len(entries(cache)) == 1
    r = runner.invoke(app, ["cache", "clear", "--cache", str(cache)])
    assert r.exit_code == 0 and "removed 1 cache entry" in r.stderr
    assert entries(cache) == []
    r = runner.invoke(app, ["cache", "clear", "-c", str(cfg)])
    assert r.exit_code == 2 and "settings.cache" in r.stderr
