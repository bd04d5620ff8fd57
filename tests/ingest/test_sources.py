"""Reading sources: dialect options, globs, rename → derive → filter, and data errors.

Every value is checked against DuckDB over the same files (an independent reader).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from kpicli import Request, load_config, run_report
from kpicli.errors import DataError

from conftest import config, values

AS_OF = date(2026, 12, 31)


def test_glob_concatenates_files(tmp_path: Path) -> None:
    for i, rows in enumerate([["2026-01-01,10", "2026-01-02,5"], ["2026-01-03,7.5"]]):
        (tmp_path / f"ads_{i}.csv").write_text("day,spend\n" + "\n".join(rows) + "\n")
    p = config(
        tmp_path,
        "  ads: {path: 'ads_*.csv', date: day}",
        "  spend: {source: ads, formula: SUM(spend)}\n  n: {source: ads, formula: COUNT(*)}",
    )
    expected = duckdb.sql(f"select sum(spend), count(*) from '{tmp_path}/ads_*.csv'").fetchall()[0]
    assert values(p) == {"spend": expected[0], "n": expected[1]}


def test_list_of_globs(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("day,spend\n2026-01-01,1\n")
    (tmp_path / "b.csv").write_text("day,spend\n2026-01-01,2\n")
    p = config(
        tmp_path,
        "  ads: {path: [a.csv, b.csv], date: day}",
        "  spend: {source: ads, formula: SUM(spend)}",
    )
    assert values(p) == {"spend": 3.0}


def test_semicolon_decimal_comma_and_date_format(tmp_path: Path) -> None:
    (tmp_path / "fr.csv").write_text(
        "jour;canal;cout\n01/02/2026;search;12,50\n15/02/2026;search;7,25\n02/03/2026;social;1,05\n"
    )
    p = config(
        tmp_path,
        "  ads:\n    path: fr.csv\n    date: jour\n    delimiter: ';'\n    decimal: ','\n"
        "    date_format: '%d/%m/%Y'\n    rename: {cout: spend}",
        "  spend: {source: ads, formula: SUM(spend)}",
    )
    assert values(p, period="2026-02") == {"spend": pytest.approx(19.75, abs=1e-9)}
    assert values(p, period="2026-03") == {"spend": pytest.approx(1.05, abs=1e-9)}


def test_skip_rows_and_cp1252(tmp_path: Path) -> None:
    text = (
        "Rapport de coûts\nPériode : février\n"
        "day,campagne,spend\n2026-02-01,Été,3\n2026-02-02,Noël,4\n"
    )
    (tmp_path / "r.csv").write_bytes(text.encode("cp1252"))
    p = config(
        tmp_path,
        "  ads: {path: r.csv, date: day, skip_rows: 2, encoding: cp1252}",
        "  spend: {source: ads, formula: SUM(spend) FILTER (WHERE campagne = 'Été')}",
    )
    assert values(p) == {"spend": 3.0}


def test_rename_then_derive_then_filter(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(
        "Day,Cost,Status\n2026-01-01,10,Active\n2026-01-02,20,Removed\n2026-01-03,30,Active\n"
    )
    p = config(
        tmp_path,
        "  ads:\n    path: a.csv\n    date: day\n"
        "    rename: {Day: day, Cost: spend, Status: status}\n"
        "    derive: {spend_cents: spend * 100, big: spend_cents > 1500}\n"
        "    filter: \"status != 'Removed'\"",
        "  spend: {source: ads, formula: SUM(spend)}\n"
        "  big_spend: {source: ads, formula: SUM(spend), filter: big}",
    )
    assert values(p) == {"spend": 40.0, "big_spend": 30.0}


def test_missing_file_is_data_error(tmp_path: Path) -> None:
    p = config(
        tmp_path, "  ads: {path: nowhere_*.csv, date: day}", "  n: {source: ads, formula: COUNT(*)}"
    )
    with pytest.raises(DataError) as info:
        run_report(load_config(p), Request(as_of=AS_OF))
    assert "no file matches `nowhere_*.csv`" in info.value.message
    assert info.value.location.endswith("kpi_config.yaml:3 sources.ads.path")
    assert info.value.exit_code == 3


def test_missing_column_is_data_error(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("day,spend\n2026-01-01,1\n")
    p = config(
        tmp_path, "  ads: {path: a.csv, date: day}", "  n: {source: ads, formula: SUM(spned)}"
    )
    with pytest.raises(DataError) as info:
        run_report(load_config(p), Request(as_of=AS_OF))
    assert "source `ads` has no column `spned`" in info.value.message
    assert info.value.hint == "did you mean `spend`?"
    assert info.value.location.endswith(":5 kpis.n.formula")


def test_missing_date_column(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("day,spend\n2026-01-01,1\n")
    p = config(
        tmp_path, "  ads: {path: a.csv, date: date}", "  n: {source: ads, formula: SUM(spend)}"
    )
    with pytest.raises(DataError) as info:
        run_report(load_config(p), Request(as_of=AS_OF))
    assert "no column `date`" in info.value.message
    assert info.value.location.endswith(":3 sources.ads.date")


def test_unparsable_date_is_data_error(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("day,spend\n2026-01-01,1\n2026-13-45,2\n")
    p = config(
        tmp_path, "  ads: {path: a.csv, date: day}", "  n: {source: ads, formula: SUM(spend)}"
    )
    with pytest.raises(DataError) as info:
        run_report(load_config(p), Request(as_of=AS_OF))
    assert "2026-13-45" in info.value.message
    assert "a.csv" in (info.value.location or "")


def test_rows_after_as_of_are_not_counted(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("day,spend\n2026-01-01,1\n2026-01-02,2\n2026-01-03,4\n")
    p = config(
        tmp_path, "  ads: {path: a.csv, date: day}", "  s: {source: ads, formula: SUM(spend)}"
    )
    r = run_report(load_config(p), Request(as_of=date(2026, 1, 2)))
    assert r.rows["value"].to_list() == [3.0]
    assert r.period == (date(2026, 1, 1), date(2026, 1, 2))


def test_money_sums_are_exact_to_the_cent(tmp_path: Path) -> None:
    rows = "\n".join(f"2026-01-01,{v}" for v in ["0.1", "0.2"] * 500)
    (tmp_path / "a.csv").write_text("day,spend\n" + rows + "\n")
    p = config(
        tmp_path, "  ads: {path: a.csv, date: day}", "  s: {source: ads, formula: SUM(spend)}"
    )
    assert values(p) == {"s": 150.0}  # float addition gives 149.9999999999986


def test_stage_dates_after_as_of_have_not_happened_yet(tmp_path: Path) -> None:
    (tmp_path / "l.csv").write_text(
        "created_at,mql_at\n2026-01-01,2026-01-02\n2026-01-01,2026-01-20\n2026-01-01,\n"
    )
    p = config(
        tmp_path,
        "  leads: {path: l.csv, date: created_at}",
        "  leads: {source: leads, formula: COUNT(*)}\n"
        "  with_mql: {source: leads, formula: COUNT(mql_at)}\n"
        "  mqls: {source: leads, formula: COUNT(*), date: mql_at}",
    )
    got = run_report(load_config(p), Request(as_of=date(2026, 1, 10)))
    assert dict(zip(got.rows["kpi"], got.rows["value"], strict=True)) == {
        "leads": 3,
        "with_mql": 1,  # the MQL of 20 January is in the future as of the 10th
        "mqls": 1,
    }


def test_source_without_dates_reports_over_the_whole_file(tmp_path: Path) -> None:
    (tmp_path / "q.csv").write_text("query,clicks\nkpi tool,10\ncpl,5\n")
    p = config(tmp_path, "  gsc: {path: q.csv}", "  clicks: {source: gsc, formula: SUM(clicks)}")
    result = run_report(load_config(p), Request(as_of=AS_OF))
    assert result.rows["value"].to_list() == [15.0]
    assert result.period is None and result.rows["period_start"].to_list() == [None]
    from kpicli.errors import UsageError

    with pytest.raises(UsageError) as info:
        run_report(load_config(p), Request(as_of=AS_OF, period="last-month"))
    assert "has no date column" in info.value.message
