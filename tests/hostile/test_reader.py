"""Hostile inputs to the reader: how a source's files are matched and read.

Each class of issue 11 that belongs to the reader, through the front door (the CLI):

- files of one source whose headers differ (a column renamed, missing or added);
- globs that reach a file twice (symbolic links, loops, two spellings);
- repeated header names;
- devices, FIFOs and endless lines (as the config, as a source file, for `kpi clean`);
- a stray quote or a row with an extra cell in an export, in and past the sniffer's sample;
- `kpi validate` and `kpi report` agreeing about all of these.

Values are checked against DuckDB over the same files (or over `kpi clean`'s output).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kpicli import inputs
from kpicli.cli import app
from kpicli.ingest.scan import iglob, match_files
from kpicli.spec.config import load_config

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data"
FAST = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def kpi(*args: str | Path) -> tuple[int, str, str]:
    r = runner.invoke(app, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


def values(stdout: str) -> dict[str, float | None]:
    return {row["kpi"]: row["value"] for row in json.loads(stdout)["rows"]}


def write_config(folder: Path, path: str | list[str], *, extra: str = "", kpis: str = "") -> Path:
    paths = json.dumps(path)
    cfg = folder / "kpi_config.yaml"
    cfg.write_text(
        "version: 1\nsources:\n"
        f"  s:\n    path: {paths}\n    date: date\n{extra}"
        "kpis:\n  spend: {source: s, formula: SUM(spend)}\n"
        "  rows: {source: s, formula: COUNT(*)}\n" + kpis
    )
    return cfg


def sql(query: str) -> object:
    return duckdb.sql(query).fetchall()[0][0]


# ---------------------------------------------------------------------------- headers differ


def test_a_file_without_a_kpi_column_is_named(tmp_path: Path) -> None:
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts/p1.csv").write_text("date,channel,spend\n2026-01-01,a,10\n2026-01-02,b,20\n")
    (tmp_path / "parts/p2.csv").write_text("date,channel,cost\n2026-01-03,a,100\n")
    (tmp_path / "parts/p3.csv").write_text("date,channel,spend,extra\n2026-01-04,a,1000,x\n")
    cfg = write_config(tmp_path, "parts/*.csv")
    for command in (
        ["report"],
        ["validate"],
        ["report", "-p", "all", "-k", "spend", "--by", "channel"],
    ):
        code, out, err = kpi(*command, "-c", cfg)
        err += out  # validate lists its problems on stdout
        assert code == 3, err
        assert "parts/p2.csv" in err and "no column `spend`" in err and "KPI `spend`" in err
        assert "Traceback" not in err
    # a KPI that uses no missing column still runs, over every file
    code, out, err = kpi("report", "-p", "all", "-c", cfg, "-k", "rows", "-f", "json")
    assert code == 0, err
    want = sql(f"SELECT COUNT(*) FROM read_csv('{tmp_path}/parts/*.csv', union_by_name=true)")
    assert values(out) == {"rows": want}
    # `rename` makes the files agree: every file's spend is counted
    cfg = write_config(tmp_path, "parts/*.csv", extra="    rename: {cost: spend}\n")
    code, out, err = kpi("report", "-p", "all", "-c", cfg, "-k", "spend", "-f", "json")
    assert code == 0, err
    assert values(out) == {"spend": 1130.0}


def test_a_file_without_the_by_or_where_column_is_named(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("date,channel,spend\n2026-01-01,a,10\n")
    (tmp_path / "b.csv").write_text("date,spend\n2026-01-02,5\n")
    cfg = write_config(tmp_path, "*.csv")
    code, out, err = kpi("report", "-p", "all", "-c", cfg, "-f", "json")
    assert code == 0, err  # nothing uses `channel`
    assert values(out) == {"spend": 15.0, "rows": 2.0}
    for option in (["--by", "channel"], ["--where", "channel = 'a'"]):
        code, _, err = kpi("report", "-p", "all", "-c", cfg, *option)
        assert code == 3, err
        assert "b.csv" in err and "no column `channel`" in err


def test_source_level_columns_in_every_file(tmp_path: Path) -> None:
    """The date, a derive's and the filter's columns: an error naming the file, whatever
    the KPIs asked for."""
    (tmp_path / "a.csv").write_text("date,kind,spend\n2026-01-01,x,10\n")
    (tmp_path / "b.csv").write_text("date,spend\n2026-01-02,5\n")
    (tmp_path / "c.csv").write_text("day,kind,spend\n2026-01-03,x,5\n")
    cases = {
        "a.csv,b.csv": ("    filter: \"kind = 'x'\"\n", "b.csv", "`kind`"),
        "a.csv,b.csv ": ("    derive: {paid: \"kind = 'x'\"}\n", "b.csv", "`kind`"),
        "a.csv,c.csv": ("", "c.csv", "`date`"),
    }
    for files, (extra, culprit, column) in cases.items():
        cfg = write_config(tmp_path, files.strip().split(","), extra=extra)
        for command in (["report", "-p", "all", "-k", "rows"], ["validate"]):
            code, out, err = kpi(*command, "-c", cfg)
            err += out
            assert code == 3, err
            assert culprit in err and column in err


def test_report_written_into_the_folder_a_glob_reads(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data/ads.csv").write_text("date,spend\n2026-01-01,10\n2026-01-02,5\n")
    cfg = write_config(tmp_path, "data/*.csv")
    code, _, err = kpi("report", "-p", "all", "-c", cfg, "-o", tmp_path / "data/report.csv")
    assert code == 0, err
    code, _, err = kpi("report", "-p", "all", "-c", cfg)
    assert code == 3
    assert "data/report.csv" in err and "this file has no column" in err


def test_kpi_sources_names_the_uneven_columns(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("date,spend\n2026-01-01,10\n")
    (tmp_path / "b.csv").write_text("date,cost\n2026-01-02,5\n")
    cfg = write_config(tmp_path, "*.csv")
    code, out, err = kpi("sources", "-c", cfg)
    assert code == 0, err
    text = " ".join((out + err).split())
    assert "`spend` only in" in text and "`cost` only in" in text


def test_rename_onto_an_existing_column_is_named(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("date,spend,cost\n2026-01-01,10,3\n")
    cfg = write_config(tmp_path, "a.csv", extra="    rename: {cost: spend}\n")
    code, _, err = kpi("report", "-p", "all", "-c", cfg)
    assert code == 3
    assert "a.csv" in err and "`spend`" in err and "duplicate" not in err


def test_the_cache_keeps_each_files_columns(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("date,spend\n2026-01-01,10\n")
    (tmp_path / "b.csv").write_text("date,cost\n2026-01-02,5\n")
    cfg = write_config(tmp_path, "*.csv")
    cache = tmp_path / "cache"
    code, _, err = kpi("report", "-p", "all", "-c", cfg, "-k", "rows", "--cache", cache)
    assert code == 0, err
    code, _, err = kpi(
        "report", "-p", "all", "-c", cfg, "-k", "spend", "--cache", cache
    )  # a cache hit
    assert code == 3
    assert "b.csv" in err and "no column `spend`" in err


COLUMNS = ["date", "channel", "spend"]


@st.composite
def file_sets(draw: st.DrawFn) -> list[tuple[list[str], list[tuple[str, str, int]]]]:
    """Files of one source: each with the columns in some order, maybe an extra one, maybe
    one of the three missing or renamed; and a few rows."""
    files = []
    for _ in range(draw(st.integers(1, 4))):
        header = draw(st.permutations(COLUMNS))
        header = list(header)
        change = draw(st.sampled_from(["none", "none", "extra", "drop", "rename"]))
        if change == "extra":
            header.insert(draw(st.integers(0, len(header))), "note")
        elif change in ("drop", "rename"):
            victim = draw(st.sampled_from(COLUMNS))
            i = header.index(victim)
            if change == "drop":
                del header[i]
            else:
                header[i] = "cost" if victim == "spend" else victim + "_x"
        rows = draw(
            st.lists(
                st.tuples(
                    st.dates().map(lambda d: f"2026-01-{d.day % 28 + 1:02d}"),
                    st.sampled_from(["a", "b"]),
                    st.integers(0, 1000),
                ),
                min_size=1,
                max_size=4,
            )
        )
        files.append((header, rows))
    return files


@pytest.mark.slow
@FAST
@given(files=file_sets(), by=st.booleans())
def test_property_shuffled_extra_and_missing_columns(
    tmp_path_factory: pytest.TempPathFactory,
    files: list[tuple[list[str], list[tuple[str, str, int]]]],
    by: bool,
) -> None:
    folder = tmp_path_factory.mktemp("parts")
    names = []
    for i, (header, rows) in enumerate(files):
        lines = [",".join(header)]
        for d, c, v in rows:
            cell = {"date": d, "channel": c, "spend": str(v), "note": "n"}
            lines.append(",".join(cell.get(h, "zz") for h in header))
        name = f"p{i}.csv"
        (folder / name).write_text("\n".join(lines) + "\n")
        names.append(name)
    cfg = write_config(folder, "p*.csv")
    needed = ["date", "spend", *(["channel"] if by else [])]
    have = [set(h) for h, _ in files]
    args = [
        "report",
        "-p",
        "all",
        "-c",
        cfg,
        "-k",
        "spend",
        "-f",
        "json",
        *(["--by", "channel"] if by else []),
    ]
    code, out, err = kpi(*args)
    lacking = [n for n, h in zip(names, have, strict=True) if not set(needed) <= h]
    if not lacking:
        assert code == 0, err
        got = values(out) if not by else {r["channel"]: r["value"] for r in json.loads(out)["rows"]}
        want_sql = (
            f"SELECT {'channel, ' if by else ''}SUM(spend) FROM read_csv('{folder}/p*.csv', "
            f"union_by_name=true, all_varchar=true, header=true) "
            f"{'GROUP BY channel' if by else ''}"
        )
        rows = duckdb.sql(want_sql.replace("SUM(spend)", "SUM(spend::BIGINT)")).fetchall()
        want = {r[0]: float(r[1]) for r in rows} if by else {"spend": float(rows[0][0])}
        assert got == want
        return
    assert code == 3, err
    # the first file that lacks a column some other file has is named; a column that no
    # file has is the usual "no column" error
    uneven = [c for c in needed if any(c in h for h in have) and not all(c in h for h in have)]
    if uneven:
        culprits = [n for n, h in zip(names, have, strict=True) if any(c not in h for c in uneven)]
        assert any(f"{folder / n}:" in err for n in culprits), err
    else:
        assert "has no column" in err, err
    assert "Traceback" not in err and "duplicate" not in err


# ---------------------------------------------------------------------------- globs and links


def test_a_symlink_loop_reads_each_file_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.csv").write_text("date,spend\n2026-01-01,10\n")
    (data / "sub/b.csv").write_text("date,spend\n2026-01-02,5\n")
    os.symlink("..", data / "sub/loop")
    os.symlink(".", data / "self")
    cfg = write_config(tmp_path, "data/**/*.csv")
    code, out, err = kpi("report", "-p", "all", "-c", cfg, "-f", "json")
    assert code == 0, err
    want = sql(f"SELECT SUM(spend) FROM read_csv(['{data}/a.csv', '{data}/sub/b.csv'])")
    assert values(out) == {"spend": float(want), "rows": 2.0}  # type: ignore[arg-type]


def test_two_spellings_of_one_file_read_once(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data/a.csv").write_text("date,spend\n2026-01-01,10\n")
    os.symlink("data/a.csv", tmp_path / "link.csv")
    cfg = write_config(tmp_path, ["data/a.csv", "data/../data/*.csv", "link.csv", "*.csv"])
    code, out, err = kpi("report", "-p", "all", "-c", cfg, "-f", "json")
    assert code == 0, err
    assert values(out) == {"spend": 10.0, "rows": 1.0}


@st.composite
def trees(draw: st.DrawFn) -> list[tuple[str, str, str]]:
    """A random layout: (kind, path, target) with kind dir, file or link (to a folder
    above, beside or below, or to a file), loops allowed."""
    dirs = ["d"]
    entries: list[tuple[str, str, str]] = [("dir", "d", "")]
    for i in range(draw(st.integers(1, 6))):
        parent = draw(st.sampled_from(dirs))
        name = f"{parent}/s{i}"
        dirs.append(name)
        entries.append(("dir", name, ""))
    for i in range(draw(st.integers(1, 6))):
        entries.append(("file", f"{draw(st.sampled_from(dirs))}/f{i}.csv", ""))
    files = [p for k, p, _ in entries if k == "file"]
    for i in range(draw(st.integers(0, 5))):
        where = draw(st.sampled_from(dirs))
        target = draw(st.sampled_from(dirs + files))
        entries.append(("link", f"{where}/l{i}", target))
    return entries


@FAST
@given(tree=trees(), pattern=st.sampled_from(["d/**/*.csv", "d/**", "d/*/*.csv", "d/**/s*/*"]))
def test_property_globs_match_each_real_file_once(
    tmp_path_factory: pytest.TempPathFactory, tree: list[tuple[str, str, str]], pattern: str
) -> None:
    root = tmp_path_factory.mktemp("tree")
    for kind, path, target in tree:
        full = root / path
        if kind == "dir":
            full.mkdir(parents=True, exist_ok=True)
        elif kind == "file":
            full.write_text("date,spend\n2026-01-01,1\n")
        elif not full.exists() and not full.is_symlink():
            os.symlink(os.path.relpath(root / target, full.parent), full)
    cfg_path = root / "kpi_config.yaml"
    cfg_path.write_text(
        f"version: 1\nsources:\n  s: {{path: '{pattern}', date: date}}\n"
        "kpis:\n  rows: {source: s, formula: COUNT(*)}\n"
    )
    cfg = load_config(cfg_path)
    try:
        found = match_files(cfg, "s")
    except Exception as err:  # no file matches: the only error allowed
        assert "no file matches" in str(err)
        found = []
    real = [os.path.realpath(f) for f in found]
    assert len(real) == len(set(real))  # each real file once
    if not any(k == "link" for k, _, _ in tree):  # glob.glob terminates: the same files
        want = {
            os.path.realpath(p)
            for p in glob.glob(str(root / pattern), recursive=True)
            if os.path.isfile(p)
        }
        assert set(real) == want
    if pattern == "d/**/*.csv":  # every *.csv reachable from d, links followed, loops cut
        reachable: set[str] = set()
        seen: set[str] = set()
        todo = [root / "d"]
        while todo:
            folder = todo.pop()
            if os.path.realpath(folder) in seen:
                continue
            seen.add(os.path.realpath(folder))
            for entry in folder.iterdir():
                if entry.is_dir():
                    todo.append(entry)
                elif entry.is_file() and entry.name.endswith(".csv"):
                    reachable.add(os.path.realpath(entry))
        assert set(real) == reachable


def test_iglob_matches_glob_without_links(tmp_path: Path) -> None:
    for p in ("a/x.csv", "a/b/y.csv", "a/b/c/z.csv", "a/.h/w.csv", "a/b/.v.csv", "a/q.txt"):
        (tmp_path / p).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / p).write_text("x")
    for pattern in ("a/**/*.csv", "a/*/*.csv", "a/**", "a/b/**/*", "a/.*/*.csv", "a/[bq]*"):
        full = str(tmp_path / pattern)
        want = sorted(p.rstrip("/") for p in glob.glob(full, recursive=True))
        assert sorted(p.rstrip("/") for p in iglob(full)) == want, pattern


# ---------------------------------------------------------------------------- repeated headers


def test_repeated_header_names_warn_and_are_told_apart(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(
        "date,channel,channel,spend\n2026-01-01,a,x,10\n2026-01-02,b,x,5\n2026-01-03,a,y,1\n"
    )
    cfg = write_config(tmp_path, "a.csv")
    for by, want in (("channel", {"a": 11.0, "b": 5.0}), ("channel_2", {"x": 15.0, "y": 1.0})):
        code, out, err = kpi(
            "report", "-p", "all", "-c", cfg, "-k", "spend", "--by", by, "-f", "json"
        )
        assert code == 0, err
        assert {r[by]: r["value"] for r in json.loads(out)["rows"]} == want
        assert "a.csv" in err and "line 1" in err and "`channel` and `channel_2`" in err
    code, _, err = kpi("validate", "-c", cfg)
    assert code == 0 and "`channel` and `channel_2`" in err


# ---------------------------------------------------------------------------- devices, FIFOs


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """kpi in its own process, so that a hang fails the test instead of blocking it."""
    return subprocess.run(
        [sys.executable, "-m", "kpicli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.slow
@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_device_and_fifo_config(tmp_path: Path) -> None:
    fifo = tmp_path / "kpi_config.yaml"
    os.mkfifo(fifo)
    for path, what in (("/dev/zero", "a character device"), (str(fifo), "a FIFO")):
        for command in ("report", "validate"):
            r = run(command, "-c", path)
            text = r.stderr + r.stdout
            assert r.returncode == 2, text
            assert path in text and what in text and "not a regular file" in text


@pytest.mark.slow
@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_device_and_fifo_as_source_files_and_for_clean(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data/a.csv").write_text("date,spend\n2026-01-01,10\n")
    os.mkfifo(tmp_path / "data/b.csv")
    cfg = write_config(tmp_path, "data/*.csv")
    for command in ("report", "validate"):
        r = run(command, "-c", str(cfg))
        assert r.returncode == 3, r.stderr
        assert "data/b.csv" in r.stderr + r.stdout and "FIFO" in r.stderr + r.stdout
    cfg = write_config(tmp_path, "/dev/zero")
    r = run("report", "-p", "all", "-c", str(cfg))
    assert r.returncode == 3 and "/dev/zero" in r.stderr and "character device" in r.stderr
    for path in ("/dev/zero", str(tmp_path / "data/b.csv")):
        r = run("clean", path)
        assert r.returncode == 3, r.stderr
        assert path in r.stderr and "not a regular file" in r.stderr
        assert r.stdout == ""


def test_a_config_over_the_size_bound(tmp_path: Path) -> None:
    cfg = tmp_path / "kpi_config.yaml"
    cfg.write_text("# " + "x" * 2_000_000 + "\nversion: 1\n")
    code, _, err = kpi("report", "-p", "all", "-c", cfg)
    assert code == 2 and "larger than" in err


def test_a_line_over_the_bound_is_named(tmp_path: Path) -> None:
    """A real-size case for `kpi clean` (9 MiB, the bound is 8) and a lowered bound for the
    line number in the middle of a file."""
    big = tmp_path / "big.csv"
    with big.open("wb") as fh:
        fh.write(b"date,spend,note\n2026-01-01,1,a\n2026-01-02,2,")
        fh.write(b"x" * (inputs.MAX_LINE_BYTES + 1024 * 1024))
        fh.write(b"\n2026-01-03,3,c\n")
    code, out, err = kpi("clean", big)
    assert code == 3 and f"{big}:3" in err and "longer than 8 MiB" in err and out == ""
    cfg = write_config(tmp_path, "big.csv")
    for command in ("report", "validate"):
        code, out, err = kpi(command, "-c", cfg)
        err += out
        assert code == 3 and "big.csv:3" in err and "longer than" in err


def test_a_line_over_a_lowered_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inputs, "MAX_LINE_BYTES", 200_000)
    rows = [f"2026-01-{i % 28 + 1:02d},{i},n" for i in range(30_000)]
    rows[20_000] = "2026-01-01,1," + "y" * 300_000
    (tmp_path / "a.csv").write_text("date,spend,note\n" + "\n".join(rows) + "\n")
    cfg = write_config(tmp_path, "a.csv")
    code, _, err = kpi("report", "-p", "all", "-c", cfg)
    assert code == 3 and "a.csv:20002" in err, err


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 300), min_size=1, max_size=40),
    limit=st.integers(1, 250),
    crlf=st.booleans(),
)
def test_property_long_line_finds_the_first_long_line(
    tmp_path_factory: pytest.TempPathFactory, lengths: list[int], limit: int, crlf: bool
) -> None:
    end = b"\r\n" if crlf else b"\n"
    path = tmp_path_factory.mktemp("lines") / "f.csv"
    path.write_bytes(b"".join(b"x" * n + end for n in lengths))
    size = path.stat().st_size
    found = inputs.long_line(path, limit)
    sizes = [n + (1 if crlf else 0) for n in lengths]  # CR counts as the line's
    first = next((i + 1 for i, n in enumerate(sizes) if n > limit), None)
    if size <= limit:
        assert found is None
    else:
        assert (found[0] if found else None) == first


# ---------------------------------------------------------------------------- stray quotes


def sample_ads(folder: Path, line: int, edit: str) -> Path:
    """The shipped ads exports with line ``line`` of the Google Ads one edited: ``quote``
    puts a stray quote in its campaign, ``extra`` adds a cell."""
    (folder / "data").mkdir()
    for f in SAMPLE.glob("ads_*.csv"):
        shutil.copy(f, folder / "data" / f.name)
    target = folder / "data/ads_google_ads.csv"
    lines = target.read_text().split("\n")
    cells = lines[line - 1].split(",")
    if edit == "quote":
        cells[2] = 'brand "x'
    else:
        cells.append("9")
    lines[line - 1] = ",".join(cells)
    target.write_text("\n".join(lines))
    cfg = folder / "kpi_config.yaml"
    cfg.write_text(
        "version: 1\nsources:\n  ads: {path: data/ads_*.csv, date: date}\nkpis:\n"
        "  spend: {source: ads, formula: SUM(spend)}\n"
        "  clicks: {source: ads, formula: SUM(clicks)}\n"
        "  rows: {source: ads, formula: COUNT(*)}\n"
        "  campaigns: {source: ads, formula: COUNT(DISTINCT campaign)}\n"
    )
    return cfg


def cleaned_oracle(folder: Path) -> dict[str, float]:
    """The KPIs by DuckDB over `kpi clean`'s output of the edited file and the others."""
    clean = folder / "clean.csv"
    code, _, err = kpi("clean", folder / "data/ads_google_ads.csv", "-o", clean)
    assert code == 0, err
    others = [str(p) for p in sorted((folder / "data").glob("ads_*.csv"))]
    others = [p for p in others if not p.endswith("google_ads.csv")]
    files = ", ".join(f"'{p}'" for p in [str(clean), *others])
    row = duckdb.sql(
        "SELECT SUM(spend::DOUBLE), SUM(clicks::BIGINT), COUNT(*), COUNT(DISTINCT campaign) "
        f"FROM read_csv([{files}], union_by_name=true, all_varchar=true, header=true)"
    ).fetchall()[0]
    assert row is not None
    return {"spend": row[0], "clicks": float(row[1]), "rows": float(row[2]), "campaigns": row[3]}


# line 11 is in the sniffer's 128 KB sample, 2301 past it, 2645 (the last) in its tail
@pytest.mark.parametrize("line", [11, 2301, 2645])
def test_a_stray_quote_goes_through_the_tolerant_reader(tmp_path: Path, line: int) -> None:
    cfg = sample_ads(tmp_path, line, "quote")
    code, out, err = kpi("report", "-p", "all", "-c", cfg, "-f", "json")
    assert code == 0, err
    assert err.count("warning:") == 1
    assert "ads_google_ads.csv" in err and f"line {line}" in err and "tolerant reader" in err
    got = values(out)
    want = cleaned_oracle(tmp_path)
    assert got.keys() == want.keys()
    assert all(abs(got[k] - want[k]) < 1e-6 * max(1, abs(want[k])) for k in want), (got, want)
    code, out, err = kpi("validate", "-c", cfg)
    assert code == 0, err
    assert err.count("warning:") == 1 and f"line {line}" in err
    assert "error" not in (out + err)
    code, out, _ = kpi(
        "report", "-p", "all", "-c", cfg, "-f", "json", "--cache", tmp_path / "cache"
    )
    assert code == 0 and values(out) == got


@pytest.mark.parametrize("line", [11, 2301, 2645])
def test_a_row_with_an_extra_cell(tmp_path: Path, line: int) -> None:
    """The row is read under the header's columns, the surplus left out (as `kpi clean`
    writes it), with a warning naming the line: in the sample from the sniffing, past it
    from the whole-file check of a file up to WHOLE_CHECK_BYTES (a query reading some
    columns does not see the row's width); `kpi sources` and `kpi validate` too."""
    cfg = sample_ads(tmp_path, line, "extra")
    code, out, err = kpi("report", "-p", "all", "-c", cfg, "-f", "json")
    assert code == 0, err
    want = cleaned_oracle(tmp_path)
    got = values(out)
    assert all(abs(got[k] - want[k]) < 1e-6 * max(1, abs(want[k])) for k in want), (got, want)
    assert "ads_google_ads.csv" in err and f"line {line}" in err and "'9'" in err
    for command in ("validate", "sources"):
        code, _, err = kpi(command, "-c", cfg)
        assert code == 0, err
        assert "ads_google_ads.csv" in err and f"line {line}" in err, command


# ---------------------------------------------------------------------------- validate = report


def _uneven(folder: Path) -> Path:
    (folder / "a.csv").write_text("date,spend\n2026-01-01,10\n")
    (folder / "b.csv").write_text("date,cost\n2026-01-02,5\n")
    return write_config(folder, "*.csv")


def _long(folder: Path) -> Path:
    with (folder / "a.csv").open("wb") as fh:
        fh.write(b"date,spend\n2026-01-01,1\n2026-01-02," + b"9" * (9 * 1024 * 1024) + b"\n")
    return write_config(folder, "a.csv")


def _device(folder: Path) -> Path:
    return write_config(folder, "/dev/null")


def _dupes(folder: Path) -> Path:
    (folder / "a.csv").write_text("date,spend,spend\n2026-01-01,10,3\n")
    return write_config(folder, "a.csv")


def _loop(folder: Path) -> Path:
    (folder / "d").mkdir()
    (folder / "d/a.csv").write_text("date,spend\n2026-01-01,10\n")
    os.symlink("..", folder / "d/up")
    return write_config(folder, "**/*.csv")


@pytest.mark.parametrize("make", [_uneven, _long, _device, _dupes, _loop])
def test_validate_and_report_agree(tmp_path: Path, make) -> None:
    cfg = make(tmp_path)
    report, _, report_err = kpi("report", "-p", "all", "-c", cfg)
    validate, _, validate_err = kpi("validate", "-c", cfg)
    assert report == validate, (report_err, validate_err)
    assert "Traceback" not in report_err + validate_err


def test_a_file_over_the_whole_check_bound_is_checked_by_validate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past WHOLE_CHECK_BYTES a file is not read whole before the report; but a file read
    in part is read with every column (a row of nulls past the sample, a blank line, is
    dropped: ingest/scan.Part._drops), so the report's own query meets a cell too many and
    reads the file with the tolerant reader, as `kpi validate` (which reads every row whole)
    does: both warn, naming the line, and give the same numbers."""
    from kpicli.ingest import scan as read

    monkeypatch.setattr(read, "WHOLE_CHECK_BYTES", 1000)
    cfg = sample_ads(tmp_path, 2301, "extra")
    code, out, err = kpi("report", "-p", "all", "-c", cfg, "-f", "json")
    assert code == 0 and "ads_google_ads.csv" in err and "line 2301" in err
    code, _, err = kpi("validate", "-c", cfg)
    assert code == 0 and "ads_google_ads.csv" in err and "line 2301" in err
    code, again, _ = kpi("report", "-p", "all", "-c", cfg, "-f", "json")
    assert json.loads(again)["rows"] == json.loads(out)["rows"]
