"""The Parquet cache of parsed sources: same results, re-read on change, rebuilt when corrupt."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from kpicli import Request, load_config, run_report
from kpicli.ingest.cache import DAILY_PREFIX, DATA_PREFIX, PREFIX, clear

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


def entries(cache: Path, prefix: str = PREFIX) -> list[Path]:
    """The source entries (``DAILY_PREFIX``: the daily aggregates')."""
    return sorted(p for p in cache.iterdir() if p.name.startswith(prefix))


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
    assert len(entries(cache)) == len(entries(cache, DAILY_PREFIX)) == 1
    assert len(entries(cache, DATA_PREFIX)) == 2  # each signature's data
    # the entries, their data, and the formulas' memo (saved when the report is done)
    assert clear(cache) == 5
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
    # (the formulas' memo is one of them: saved when the command is done, as it was at the
    # exit of a `kpi report` process, which CliRunner does not end)
    assert r.exit_code == 0 and "removed 5 cache entries" in r.stderr
    assert entries(cache) == []
    r = runner.invoke(app, ["cache", "clear", "-c", str(cfg)])
    assert r.exit_code == 2 and "settings.cache" in r.stderr


# --- daily aggregates -------------------------------------------------------------------------


def test_daily_entries_serve_any_period_grain_and_comparison(setup) -> None:
    cfg, cache = setup
    values(cfg, cache, by=("channel",))
    daily = entries(cache, DAILY_PREFIX)
    assert len(daily) == 1
    stamp = daily[0].stat().st_mtime_ns
    for req in (
        dict(period="2026-01", by=("channel",)),
        dict(period="2026", grain="month", by=("channel",), compare="previous"),
        dict(period="all", grain="day", by=("channel",)),
    ):
        got = run_report(load_config(cfg), Request(as_of=AS_OF, cache=str(cache), **req))
        want = run_report(load_config(cfg), Request(as_of=AS_OF, **req))
        assert got.rows.equals(want.rows) and got.totals.equals(want.totals), req
    assert entries(cache, DAILY_PREFIX) == daily
    assert daily[0].stat().st_mtime_ns == stamp


def test_other_dimensions_or_where_are_other_daily_entries(setup) -> None:
    cfg, cache = setup
    assert values(cfg, cache) == {"spend": 3.75, "n": 2}
    assert values(cfg, cache, by=("channel",))["spend"] in (1.5, 2.25)
    assert values(cfg, cache, where="channel = 'y'") == {"spend": 2.25, "n": 1}
    assert len(entries(cache, DAILY_PREFIX)) == 3
    assert len(entries(cache)) == 1  # one parsed source under all of them


def test_a_hit_reads_no_csv(setup, monkeypatch) -> None:
    cfg, cache = setup
    first = values(cfg, cache, by=("channel",))

    def no_reading(*args, **kwargs):
        raise AssertionError("the CSV files were sniffed on a cache hit")

    monkeypatch.setattr("kpicli.ingest.scan.sniff_source", no_reading)
    assert values(cfg, cache, by=("channel",)) == first


def test_corrupt_daily_entry_is_rebuilt(setup) -> None:
    cfg, cache = setup
    first = values(cfg, cache, by=("channel",))
    (entry,) = entries(cache, DAILY_PREFIX)
    entry.write_bytes(entry.read_bytes()[:30])
    assert values(cfg, cache, by=("channel",)) == first
    assert entries(cache, DAILY_PREFIX)[0].stat().st_size > 30


def test_stage_dates_as_of_key_the_daily_entry(tmp_path: Path) -> None:
    """A lead's MQL date after --as-of has not happened yet: the daily counts of a source
    with such date columns depend on as-of, and are cached per as-of date."""
    (tmp_path / "leads.csv").write_text(
        "created_at,mql_at\n2026-01-01,2026-01-05\n2026-01-02,2026-02-10\n2026-01-03,\n"
    )
    cfg = tmp_path / "kpi_config.yaml"
    cfg.write_text(
        "version: 1\nsources:\n  leads: {path: leads.csv, date: created_at}\n"
        "kpis:\n  leads: {source: leads, formula: COUNT(*)}\n"
        "  mqls: {source: leads, formula: COUNT(*), date: mql_at}\n"
        "  with_mql: {source: leads, formula: COUNT(mql_at)}\n"
    )
    cache = tmp_path / "cache"
    for as_of, want in ((date(2026, 1, 31), 1), (date(2026, 2, 28), 2), (date(2026, 1, 31), 1)):
        r = run_report(load_config(cfg), Request(as_of=as_of, cache=str(cache)))
        got = dict(zip(r.rows["kpi"], r.rows["value"], strict=True))
        assert got == {"leads": 3, "mqls": want, "with_mql": want}, as_of
    # two as-of dates: two entries for each of the two date columns
    assert len(entries(cache, DAILY_PREFIX)) == 4


def test_formulas_that_do_not_decompose_use_the_rows(setup) -> None:
    cfg, cache = setup
    cfg.write_text(cfg.read_text() + "  channels: {source: a, formula: COUNT(DISTINCT channel)}\n")
    got = values(cfg, cache)
    assert got == values(cfg, None) == {"spend": 3.75, "n": 2, "channels": 2}
    assert entries(cache, DAILY_PREFIX) == []  # no daily entry: the rows are aggregated


def test_notices_are_given_again_on_a_hit(setup) -> None:
    from kpicli.errors import Notes

    cfg, cache = setup
    data = cfg.parent / "a.csv"
    data.write_text(data.read_text() + "2026-01-03,x\n")  # a short row: the tolerant reader

    def said() -> list[str]:
        notes = Notes()
        r = run_report(load_config(cfg), Request(as_of=AS_OF, cache=str(cache)), notes=notes)
        assert list(r.warnings) == notes.messages
        return notes.messages

    first = said()
    assert first and said() == first


# --- the formulas' memo (kpi-formulas.json) ---------------------------------------------------

HIT = """
import sys
from datetime import date
from kpicli.ingest.cache import open_cache
from kpicli import Request, load_config, run_report
cache = sys.argv[2]
opened = open_cache(__import__("pathlib").Path(cache))
with opened.memo() as memo:
    r = run_report(load_config(sys.argv[1]), Request(as_of=date(2026, 12, 31), by=("channel",),
                   cache=cache), cache=opened)
memo.save()
print(sorted(zip(r.rows["kpi"], r.rows["channel"], r.rows["value"])), "sqlglot" in sys.modules)
"""


@pytest.mark.slow
def test_a_repeated_report_parses_no_formula(setup) -> None:
    """The first run parses the formulas (sqlglot) and keeps the results with the cache; the
    next one computes the same report without importing sqlglot at all."""
    import subprocess
    import sys

    cfg, cache = setup
    cfg.write_text(cfg.read_text() + "  share: {formula: spend / n}\n")
    run = [sys.executable, "-c", HIT, str(cfg), str(cache)]
    first = subprocess.run(run, capture_output=True, text=True, check=True).stdout.split()
    (memo,) = cache.glob("kpi-formulas-*.json")
    assert first[-1] == "True"
    again = subprocess.run(run, capture_output=True, text=True, check=True).stdout.split()
    assert again[-1] == "False"
    assert again[:-1] == first[:-1]
    # a memo that does not verify, or garbage, is ignored, and rewritten
    memo.write_text('{"version": "kpi 0.0.0", "entries": {"x": 1}}')
    other = subprocess.run(run, capture_output=True, text=True, check=True).stdout.split()
    assert other == first
    memo.write_text("{not json")
    assert subprocess.run(run, capture_output=True, text=True, check=True).stdout.split() == first
    assert subprocess.run(run, capture_output=True, text=True, check=True).stdout.split() == again


SECRET = bytes(range(32))


def test_memoized_results_equal_computed_ones(tmp_path: Path) -> None:
    from kpicli.spec import formula

    texts = [
        ("SUM(spend) / COUNT(*)", "channel = 'x'"),
        ("AVG(spend) FILTER (WHERE n > 1)", None),
        ("MAX(spend) - MIN(spend)", "spend > 0"),
    ]

    def everything() -> list:
        out = []
        for text, pred in texts:
            partials: dict[str, str] = {}
            full = formula.with_filter(text, pred)
            exact = formula.exact_sums(full, {"spend"})
            out += [formula.parse(text), full, exact, formula.summed_columns(text)]
            out += [formula.decompose(exact, partials), dict(partials)]
            out += [formula.rollup_kind(p) for p in partials]
        return out

    plain = everything()
    memo, problem = formula.Memo.load(tmp_path, SECRET)
    assert problem is None
    with memo:
        assert everything() == plain  # computed, remembered
    memo.save()
    again, problem = formula.Memo.load(tmp_path, SECRET)
    assert problem is None  # read back from the file
    assert again.entries
    with again:
        assert everything() == plain
    assert not again.new  # every result came from the memo


@pytest.mark.slow
def test_runs_racing_to_fill_the_cache_all_succeed(tmp_path: Path) -> None:
    """Several reports filling the same cache at once: each gets the uncached result, and
    the folder ends with complete entries only (written to a temporary file, renamed)."""
    import json
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    cache = tmp_path / "cache"
    args = [sys.executable, "-m", "kpicli", "report", "-c", str(root / "kpi_config.yaml")]
    args += ["--as-of", "2026-11-15", "-p", "2026", "--grain", "month", "--by", "channel"]
    args += ["-f", "json"]

    def rows(out: str) -> list:
        return json.loads(out)["rows"]

    want = rows(subprocess.run(args, capture_output=True, text=True, check=True).stdout)
    racers = [
        subprocess.Popen([*args, "--cache", str(cache)], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outs = [p.communicate()[0] for p in racers]
    assert [p.returncode for p in racers] == [0] * 4
    assert all(rows(out) == want for out in outs)
    names = sorted(p.name for p in cache.iterdir())
    assert not [n for n in names if n.endswith(".tmp")], names
    # complete entries only: a hit verifies each one it uses, rebuilds none, warns of none
    hit = subprocess.run([*args, "--cache", str(cache)], capture_output=True, text=True)
    assert rows(hit.stdout) == want
    assert hit.stderr == ""
    assert sorted(p.name for p in cache.iterdir()) == names
