"""The Parquet cache under attack and under faults: it is trusted only as far as it verifies.

Every report here is checked against DuckDB over the CSV files (never against kpi's own
output): a tampered, stale, truncated, swapped or vanished entry, or a cache folder that
cannot be used, must change nothing but a warning on stderr.

Permission cases run kpi in a subprocess; when the tests run as root (who ignores
permission bits), that subprocess drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH first, so
that a read-only folder is read-only for it too.
"""

from __future__ import annotations

import ctypes
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kpicli import Request, load_config
from kpicli.cli import app
from kpicli.ingest.cache import DAILY_PREFIX, DATA_PREFIX, PREFIX, clear

AS_OF = "2026-12-31"
BY = ("--by", "channel")
CONFIG = """\
version: 1
sources:
  ads: {path: ads.csv, date: day}
  visits: {path: visits.csv, date: day}
kpis:
  spend: {source: ads, formula: SUM(spend)}
  clicks: {source: ads, formula: SUM(clicks)}
  ad_rows: {source: ads, formula: COUNT(*)}
  visitors: {source: visits, formula: COUNT(DISTINCT visitor)}
  spend_per_visitor: {formula: spend / visitors}
"""
#: `ads` decomposes into daily entries; COUNT(DISTINCT …) makes `visits` read its rows, so
#: both kinds of entries, and the source entries' data, are read by every report here.

runner = CliRunner()


# --- data and the oracle ----------------------------------------------------------------------


def write_data(folder: Path, rows: int = 400, seed: int = 7) -> Path:
    rnd = random.Random(seed)
    start = date(2026, 1, 1)
    ads = ["day,channel,campaign,spend,clicks"]
    visits = ["day,channel,visitor"]
    for i in range(rows):
        day = start + timedelta(days=rnd.randrange(120))
        channel = rnd.choice(["search", "social", "email"])
        ads.append(f"{day},{channel},c{rnd.randrange(9)},{rnd.randrange(1, 99999) / 100},{i % 17}")
        visits.append(f"{day},{channel},v{rnd.randrange(rows // 3)}")
    (folder / "ads.csv").write_text("\n".join(ads) + "\n")
    (folder / "visits.csv").write_text("\n".join(visits) + "\n")
    cfg = folder / "kpi_config.yaml"
    cfg.write_text(CONFIG)
    return cfg


def oracle(folder: Path) -> dict[tuple[str, str | None], float | None]:
    """Every KPI per channel and in total, by DuckDB over the CSV files."""
    con = duckdb.connect()
    ads = f"read_csv('{folder / 'ads.csv'}', types={{'spend': 'DECIMAL(18,2)'}})"
    visits = f"read_csv('{folder / 'visits.csv'}')"
    out: dict[tuple[str, str | None], float | None] = {}
    for key, group in (("channel", "GROUP BY channel"), ("NULL", "")):
        a = con.sql(
            f"SELECT {key}, SUM(spend), SUM(clicks), COUNT(*) FROM {ads} {group}"
        ).fetchall()
        v = dict(con.sql(f"SELECT {key}, COUNT(DISTINCT visitor) FROM {visits} {group}").fetchall())
        for channel, spend, clicks, n in a:
            out["spend", channel] = float(spend)
            out["clicks", channel] = float(clicks)
            out["ad_rows", channel] = float(n)
            out["visitors", channel] = float(v[channel])
            out["spend_per_visitor", channel] = float(spend) / v[channel]
    return out


def values(doc: dict) -> dict[tuple[str, str | None], float | None]:
    got = {(r["kpi"], r.get("channel")): r["value"] for r in doc["rows"]}
    got.update({(r["kpi"], None): r["value"] for r in doc.get("totals") or []})
    return got


def same(got: dict, want: dict) -> bool:
    return got.keys() == want.keys() and all(
        abs(got[k] - want[k]) <= 1e-9 * max(1.0, abs(want[k])) for k in want
    )


def report(cfg: Path, cache: Path | str | None, *extra: str, by: bool = True):
    """`kpi report [--by channel] -f json --cache CACHE` in this process (CliRunner)."""
    args = [
        "report",
        "-p",
        "all",
        "-c",
        str(cfg),
        "--as-of",
        AS_OF,
        *(BY if by else ()),
        "-f",
        "json",
    ]
    return runner.invoke(app, [*args, *(["--cache", str(cache)] if cache else []), *extra])


def totals(want: dict) -> dict:
    """The oracle of a report without --by."""
    return {k: v for k, v in want.items() if k[1] is None}


def check(r, want: dict, *, warns: str | None) -> None:
    """Exit 0, the oracle's numbers, and a warning on stderr saying ``warns`` (or none)."""
    assert r.exit_code == 0, r.stderr
    assert same(values(json.loads(r.stdout)), want), r.stderr
    if warns is None:
        assert "warning" not in r.stderr, r.stderr
    else:
        assert warns in r.stderr, r.stderr
        assert "Traceback" not in r.stderr


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, Path, dict]:
    """A config over two CSV files, its oracle, and a cache folder filled by a report with
    --by channel and one without."""
    cfg = write_data(tmp_path)
    cache = tmp_path / "cache"
    want = oracle(tmp_path)
    check(report(cfg, cache), want, warns=None)
    check(report(cfg, cache, by=False), totals(want), warns=None)
    return cfg, cache, want


def sigs(cache: Path, prefix: str, source: str = "") -> list[Path]:
    return sorted(cache.glob(f"{prefix}{source}-*.json" if source else f"{prefix}*.json"))


def sig(cache: Path, prefix: str, source: str) -> Path:
    (found,) = sigs(cache, prefix, source)
    return found


def data_of(signature: Path) -> Path:
    """The data file a signature names."""
    body = json.loads(signature.read_bytes().partition(b"\n")[2])
    return signature.parent / body["data"]


def both(cfg: Path, cache: Path, want: dict, warns: str | None) -> None:
    """The reports with and without --by, right; each warning (or none) when told."""
    check(report(cfg, cache), want, warns=warns)
    check(report(cfg, cache, by=False), totals(want), warns=warns)


# --- tampering: every kind of entry -----------------------------------------------------------


@pytest.mark.parametrize("source", ["ads", "visits"])
def test_a_number_changed_in_a_source_entry(data, source: str) -> None:
    cfg, cache, want = data
    entry = sig(cache, PREFIX, source)
    path = data_of(entry)
    frame = pl.read_parquet(path)
    col = "spend" if source == "ads" else "visitor"
    frame.with_columns(pl.col(col).reverse().shift(1, fill_value=pl.col(col).last())).write_parquet(
        path
    )
    for daily in sigs(cache, DAILY_PREFIX):  # so that the ads rows are read again
        daily.unlink()
    check(report(cfg, cache), want, warns=f"cache entry {entry}: its data {path.name} is not")
    both(cfg, cache, want, warns=None)  # rebuilt: the next runs trust it again


def flip(path: Path) -> None:
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 3] ^= 0x01  # the size is the same
    path.write_bytes(bytes(blob))


def test_a_bit_flipped_in_daily_entries(data) -> None:
    cfg, cache, want = data
    for entry in sigs(cache, DAILY_PREFIX, "ads"):
        flip(data_of(entry))
    both(cfg, cache, want, warns="is not what its signature names (changed, or corrupt); rebuilt")
    both(cfg, cache, want, warns=None)
    for entry in sigs(cache, DAILY_PREFIX, "ads"):
        flip(data_of(entry))
    quiet = report(cfg, cache, "--quiet")
    assert quiet.exit_code == 0 and quiet.stderr == ""
    assert same(values(json.loads(quiet.stdout)), want)


def test_a_bit_flipped_in_source_entries(data) -> None:
    """Same size: only the SHA-256 of the data tells, when its rows are read (visits: at
    every report; ads: when a daily entry is computed from them)."""
    cfg, cache, want = data
    visits, ads = data_of(sig(cache, PREFIX, "visits")), data_of(sig(cache, PREFIX, "ads"))
    flip(visits)
    flip(ads)
    check(report(cfg, cache), want, warns=f"its data {visits.name} is not what its signature")
    ads_kpis = {k: v for k, v in want.items() if k[0] in ("spend", "clicks")}
    check(report(cfg, cache, "--kpi", "spend,clicks"), ads_kpis, warns=ads.name)  # a new daily
    both(cfg, cache, want, warns=None)


def test_a_forged_signature_does_not_verify(data) -> None:
    """Someone who can write the folder but has not the user's key: changes the data and
    the SHA-256 and size the signature names, consistently."""
    import hashlib

    cfg, cache, want = data
    for signature in sigs(cache, DAILY_PREFIX, "ads"):
        frame = pl.read_parquet(data_of(signature))
        numeric = [c for c, t in frame.schema.items() if t.is_numeric()]
        buf = io.BytesIO()
        frame.with_columns(pl.col(numeric) * 2).write_parquet(buf)
        blob = buf.getvalue()
        sha = hashlib.sha256(blob).hexdigest()
        mac, _, body = signature.read_bytes().partition(b"\n")
        content = json.loads(body)
        assert content["sha256"] != sha  # other numbers
        (cache / f"{DATA_PREFIX}{sha[:40]}.parquet").write_bytes(blob)
        content.update(data=f"{DATA_PREFIX}{sha[:40]}.parquet", sha256=sha, size=len(blob))
        signature.write_bytes(mac + b"\n" + json.dumps(content, sort_keys=True).encode())
    both(cfg, cache, want, warns="its signature does not verify")


def kpi(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """kpi in its own process (the memo is written when a process ends)."""
    return subprocess.run(
        [sys.executable, "-m", "kpicli", *args], capture_output=True, text=True, **kwargs
    )


@pytest.mark.slow
def test_a_formula_text_changed_in_the_memo(tmp_path: Path) -> None:
    cfg = write_data(tmp_path)
    want = oracle(tmp_path)
    cache = tmp_path / "cache"
    args = [
        "report",
        "-p",
        "all",
        "-c",
        str(cfg),
        "--as-of",
        AS_OF,
        *BY,
        "-f",
        "json",
        "--cache",
        str(cache),
    ]

    def run(warns: str | None) -> None:
        r = kpi(*args)
        assert r.returncode == 0, r.stderr
        assert same(values(json.loads(r.stdout)), want), r.stderr
        if warns is None:
            assert "warning" not in r.stderr, r.stderr
        else:
            assert warns in r.stderr, r.stderr

    run(None)
    (memo,) = cache.glob("kpi-formulas-*.json")
    text = memo.read_text()
    assert '\\"spend\\"' in text
    body = json.loads(text.partition("\n")[2])
    for damaged in (
        text[: len(text) // 2],  # truncated
        text.replace('\\"spend\\"', '\\"clicks\\"'),  # SUM(spend) read as SUM(clicks)
        json.dumps(body).replace('\\"spend\\"', '\\"clicks\\"'),  # the same, no MAC
    ):
        memo.write_text(damaged)
        for entry in sigs(cache, DAILY_PREFIX):  # so that the formulas are used again
            entry.unlink()
        run(f"cache entry {memo}: it does not verify")
    run(None)  # rewritten, verified


def test_an_entry_of_another_kpi_version_is_not_used(data, monkeypatch) -> None:
    import kpicli.version

    cfg, cache, want = data
    before = set(sigs(cache, PREFIX))
    monkeypatch.setattr(kpicli.version, "__version__", "0.0.1")
    check(report(cfg, cache), want, warns=None)
    assert len(set(sigs(cache, PREFIX)) - before) == 2  # parsed again, both sources


@pytest.mark.parametrize("kind", [PREFIX, DAILY_PREFIX, "data"])
def test_a_truncated_entry_is_rebuilt(data, kind: str) -> None:
    cfg, cache, want = data
    if kind == "data":
        paths = [data_of(sig(cache, PREFIX, "visits"))]
    else:
        paths = sigs(cache, kind, "ads" if kind == DAILY_PREFIX else "visits")
    for path in paths:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    warns = paths[0].name if kind == "data" else "does not verify"
    if kind == DAILY_PREFIX:  # one for each report
        both(cfg, cache, want, warns=warns)
    else:  # the first report rebuilds the source entry
        check(report(cfg, cache), want, warns=warns)
    both(cfg, cache, want, warns=None)


def test_entries_replaced_by_other_valid_ones_or_swapped(data) -> None:
    """Each signature is valid for its own name only: copied over another's, or swapped
    with it, it does not verify. A data file replaced by another valid Parquet file does
    not match its signature."""
    cfg, cache, want = data
    first, second = sigs(cache, DAILY_PREFIX, "ads")  # with and without --by
    saved = first.read_bytes()
    first.write_bytes(second.read_bytes())
    second.write_bytes(saved)
    both(cfg, cache, want, warns="its signature does not verify")
    both(cfg, cache, want, warns=None)

    shutil.copyfile(second, first)
    with_by, without = report(cfg, cache), report(cfg, cache, by=False)
    check(with_by, want, warns=None if "does not" in without.stderr else "does not verify")
    check(without, totals(want), warns=None if "does not" in with_by.stderr else "does not")

    visits, ads = data_of(sig(cache, PREFIX, "visits")), data_of(sig(cache, PREFIX, "ads"))
    shutil.copyfile(ads, visits)
    check(report(cfg, cache), want, warns=f"its data {visits.name} is not what")
    # two data files swapped: each is valid Parquet, neither is what its signature names
    x, y = (data_of(p) for p in sigs(cache, DAILY_PREFIX, "ads"))
    saved = x.read_bytes()
    x.write_bytes(y.read_bytes())
    y.write_bytes(saved)
    both(cfg, cache, want, warns="is not what its signature names")
    both(cfg, cache, want, warns=None)


def test_a_changed_input_with_its_size_and_modification_time_kept(data) -> None:
    """Stale: a file rewritten with the same size and its old modification time put back
    (`cp -p`, `rsync -t`, `touch -r`) is another entry (its change time and inode differ)."""
    cfg, cache, want = data
    ads = cfg.parent / "ads.csv"
    st = ads.stat()
    text = ads.read_text()
    changed = text.replace(",search,", ",social,", 5)
    assert changed != text and len(changed) == len(text)
    ads.write_text(changed)
    os.utime(ads, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (ads.stat().st_size, ads.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    new = oracle(cfg.parent)
    assert new != want
    check(report(cfg, cache), new, warns=None)


def test_a_long_source_name_is_a_valid_entry_name(tmp_path: Path) -> None:
    cfg = write_data(tmp_path)
    long = "a" * 300
    cfg.write_text(CONFIG.replace("ads", long).replace(f"{long}.csv", "ads.csv"))
    want = oracle(tmp_path)
    check(report(cfg, tmp_path / "cache"), want, warns=None)
    check(report(cfg, tmp_path / "cache"), want, warns=None)


@pytest.mark.slow
def test_entries_replaced_by_fifos_or_links_are_not_waited_on(tmp_path: Path) -> None:
    """A FIFO where an entry was (opening it for reading would wait forever), or a link to
    elsewhere: each is rebuilt, in a run that ends (with a timeout here, so that a wait
    fails the test instead of hanging it)."""
    cfg = write_data(tmp_path)
    want = oracle(tmp_path)
    cache = tmp_path / "cache"
    args = [
        "report",
        "-p",
        "all",
        "-c",
        str(cfg),
        "--as-of",
        AS_OF,
        *BY,
        "-f",
        "json",
        "--cache",
        str(cache),
    ]
    assert kpi(*args).returncode == 0
    (memo,) = cache.glob("kpi-formulas-*.json")
    fifos = [memo, sig(cache, PREFIX, "visits"), data_of(sig(cache, PREFIX, "ads"))]
    daily = sig(cache, DAILY_PREFIX, "ads")
    for path in fifos:
        path.unlink()
        os.mkfifo(path)
    (tmp_path / "elsewhere.json").write_bytes(daily.read_bytes())
    daily.unlink()
    daily.symlink_to(tmp_path / "elsewhere.json")
    r = kpi(*args, timeout=60)
    assert r.returncode == 0, r.stderr
    assert same(values(json.loads(r.stdout)), want), r.stderr
    for path in (memo, fifos[1], daily):
        assert f"cache entry {path}: " in r.stderr, r.stderr
    assert fifos[2].name in r.stderr


# --- faults: a cache that cannot be used degrades to none, with a warning ---------------------


def _drop_dac() -> None:
    """In a child about to exec: no CAP_DAC_OVERRIDE, no CAP_DAC_READ_SEARCH (root then
    obeys permission bits as any user does)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def as_user(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """kpi in its own process, subject to permission bits even when the tests run as root."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        if not sys.platform.startswith("linux"):
            pytest.skip("running as root: permission bits do not apply")
        kwargs["preexec_fn"] = _drop_dac
    return kpi(*args, **kwargs)


def report_as_user(cfg: Path, cache: Path, *extra: str, **kwargs) -> subprocess.CompletedProcess:
    args = [
        "report",
        "-p",
        "all",
        "-c",
        str(cfg),
        "--as-of",
        AS_OF,
        *BY,
        "-f",
        "json",
        "--cache",
        str(cache),
    ]
    return as_user(*args, *extra, **kwargs)


def check_process(r: subprocess.CompletedProcess, want: dict, warns: str | None) -> None:
    assert r.returncode == 0, r.stderr
    assert same(values(json.loads(r.stdout)), want), r.stderr
    if warns is None:
        assert r.stderr == "", r.stderr
    else:
        assert r.stderr.count(warns) == 1, r.stderr  # once per run
        assert "Traceback" not in r.stderr and "panicked" not in r.stderr


def running_without(folder: Path, why: str) -> str:
    return f"warning: cache folder {folder}: {why}; running without the cache\n"


@pytest.fixture
def plain(tmp_path: Path) -> tuple[Path, dict]:
    return write_data(tmp_path), oracle(tmp_path)


@pytest.mark.slow
def test_a_read_only_cache_folder(plain) -> None:
    cfg, want = plain
    cache = cfg.parent / "cache"
    cache.mkdir()
    cache.chmod(0o555)
    try:
        r = report_as_user(cfg, cache)
        check_process(r, want, running_without(cache, "cannot write: Permission denied"))
        assert r.stderr == running_without(cache, "cannot write: Permission denied")
        check_process(report_as_user(cfg, cache, "--quiet"), want, None)
        # a read-only cache that was filled is used as it is: nothing to write, no warning
        cache.chmod(0o755)
        check_process(report_as_user(cfg, cache), want, None)
        cache.chmod(0o555)
        check_process(report_as_user(cfg, cache), want, None)
    finally:
        cache.chmod(0o755)


def test_an_unreadable_cache_folder(data) -> None:
    cfg, cache, want = data
    cache.chmod(0)
    try:
        r = report_as_user(cfg, cache)
    finally:
        cache.chmod(0o755)
    check_process(r, want, running_without(cache, "cannot read it: Permission denied"))
    assert r.stderr == running_without(cache, "cannot read it: Permission denied")


def test_a_cache_folder_that_is_a_file(plain) -> None:
    cfg, want = plain
    cache = cfg.parent / "cache"
    cache.write_text("not a folder")
    check(report(cfg, cache), want, warns=running_without(cache, "not a folder"))
    r = runner.invoke(app, ["cache", "clear", "--cache", str(cache)])
    assert r.exit_code == 4
    assert r.stderr == (
        f"output error: {cache}: cannot clear the cache: not a folder\n"
        "  hint: the cache is a folder: check --cache or settings.cache\n"
    )
    assert cache.read_text() == "not a folder"


def test_a_parent_folder_that_cannot_be_created(plain) -> None:
    cfg, want = plain
    blocked = cfg.parent / "a-file"
    blocked.write_text("")
    cache = blocked / "cache"
    check(
        report(cfg, cache), want, warns=running_without(cache, "cannot create it: Not a directory")
    )
    parent = cfg.parent / "read-only"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        cache = parent / "sub" / "cache"
        r = report_as_user(cfg, cache)
        check_process(r, want, running_without(cache, "cannot create it: Permission denied"))
    finally:
        parent.chmod(0o755)


@pytest.mark.slow
def test_permission_denied_on_one_entry(data) -> None:
    cfg, cache, want = data
    denied = [sig(cache, PREFIX, "visits"), *map(data_of, sigs(cache, DAILY_PREFIX, "ads"))]
    for path in denied:
        path.chmod(0)
    # without the per-user cache, which may already know the files and so never need the
    # project cache's visits entry: this test is about that entry
    env = {**os.environ, "KPI_NO_CACHE": "1"}
    r = report_as_user(cfg, cache, env=env)
    check_process(r, want, f"cache entry {denied[0]}: cannot read it: Permission denied; rebuilt")
    assert f"cannot read its data {denied[1].name}: Permission denied; rebuilt" in r.stderr or (
        f"cannot read its data {denied[2].name}: Permission denied; rebuilt" in r.stderr
    )
    check_process(report_as_user(cfg, cache), want, None)  # rebuilt (the folder is writable)


@contextmanager
def tiny_tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a {size} tmpfs to fill (needs root and CAP_SYS_ADMIN)")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


@pytest.mark.parametrize("size", ["4k", "12k"])  # full while Polars writes, or later
def test_a_full_disk_while_writing_an_entry(plain, size: str) -> None:
    cfg, want = plain
    with tiny_tmpfs(cfg.parent / "mnt", size) as mnt:
        r = report(cfg, mnt)
        check(r, want, warns=running_without(mnt, "cannot write: No space left on device"))
        assert r.stderr.count("warning") == 1
        assert not [p for p in mnt.iterdir() if p.name.endswith(".tmp")]
        check(report(cfg, mnt), want, warns="No space left on device")


def result_values(result) -> dict:
    got = {(r["kpi"], r["channel"]): r["value"] for r in result.rows.iter_rows(named=True)}
    got.update({(r["kpi"], None): r["value"] for r in result.totals.iter_rows(named=True)})
    return got


@pytest.mark.parametrize("how", ["removed", "replaced"])
def test_entries_gone_between_the_plan_and_the_collect(data, how: str) -> None:
    """The plan is built from the cache; then `kpi cache clear`, `rm -rf` or another run
    changes the folder; the collect reads what was verified when the plan was built."""
    from kpicli.execute.engine import prepare_report

    cfg, cache, want = data
    request = Request(as_of=date.fromisoformat(AS_OF), by=("channel",), cache=str(cache))
    plan = prepare_report(load_config(cfg), request)
    if how == "removed":
        shutil.rmtree(cache)
    else:  # cleared, then filled by another run (a new data file for each entry)
        assert clear(cache) > 0
        check(report(cfg, cache), want, warns=None)
        for entry in cache.glob(f"{DATA_PREFIX}*"):
            entry.write_bytes(b"another run's bytes")
    assert same(result_values(plan.run()), want)


CLEARER = """
import os, sys
from pathlib import Path
from kpicli.ingest.cache import clear
cache, stop = Path(sys.argv[1]), sys.argv[2]
while not os.path.exists(stop):
    try:
        clear(cache)
    except Exception as err:  # a failure of clear itself: reported to the test
        print(type(err).__name__, err)
        break
"""


@pytest.mark.slow
def test_cache_clear_racing_reports(plain) -> None:
    """Reports while a process clears the cache in a loop and `kpi cache clear` runs too:
    every report exits 0 with the oracle's numbers; every clear exits 0."""
    cfg, want = plain
    cache = cfg.parent / "cache"
    args = [
        "report",
        "-p",
        "all",
        "-c",
        str(cfg),
        "--as-of",
        AS_OF,
        *BY,
        "-f",
        "json",
        "--cache",
        str(cache),
    ]
    for i in range(2):
        stop = cfg.parent / f"stop-{i}"
        clearer = subprocess.Popen(
            [sys.executable, "-c", CLEARER, str(cache), str(stop)],
            stdout=subprocess.PIPE,
            text=True,
        )
        clear_cli = subprocess.Popen(
            [sys.executable, "-m", "kpicli", "cache", "clear", "--cache", str(cache)],
            stderr=subprocess.PIPE,
            text=True,
        )
        reports = [
            subprocess.Popen(
                [sys.executable, "-m", "kpicli", *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outs = [p.communicate() for p in reports]
        cleared = clear_cli.communicate()[1]
        stop.write_text("")
        assert clearer.communicate()[0] == ""
        for p, (out, err) in zip(reports, outs, strict=True):
            assert p.returncode == 0, err
            assert same(values(json.loads(out)), want), err
            assert "Traceback" not in err and "panicked" not in err
        assert clear_cli.returncode == 0, cleared
        assert cleared.startswith("removed "), cleared
    check(report(cfg, cache), want, warns=None)


def test_cache_clear_that_cannot_remove(data) -> None:
    _, cache, _ = data
    cache.chmod(0o555)
    try:
        r = as_user("cache", "clear", "--cache", str(cache))
    finally:
        cache.chmod(0o755)
    assert r.returncode == 4, r.stderr
    first = sorted(n for n in os.listdir(cache) if n.startswith("kpi-"))[0]
    assert r.stderr == (
        f"output error: {cache / first}: cannot remove the cache entry: Permission denied\n"
        "  hint: check the folder's permissions (removed so far: 0 entries)\n"
    )


# --- the key -----------------------------------------------------------------------------------


def test_a_key_others_can_read_turns_the_cache_off(plain, tmp_path, monkeypatch) -> None:
    cfg, want = plain
    state = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    cache = tmp_path / "cache"
    check(report(cfg, cache), want, warns=None)
    key = state / "kpi" / "cache-key"
    assert key.stat().st_mode & 0o777 == 0o600
    key.chmod(0o644)
    check(report(cfg, cache), want, warns=f"the key {key} is readable or writable by others")
    key.chmod(0o600)
    key.rename(state / "kpi" / "elsewhere")
    key.symlink_to(state / "kpi" / "elsewhere")
    check(report(cfg, cache), want, warns=f"cannot read the key {key}")


def test_users_sharing_a_folder_do_not_touch_each_others_entries(data, tmp_path, monkeypatch):
    """Entries written under another key (another user's, or before the key changed) are
    not found, not obeyed, not replaced: nothing to warn about, for either user."""
    cfg, cache, want = data
    mine = {p.name: p.stat().st_ino for p in cache.iterdir()}
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "other-user"))
    both(cfg, cache, want, warns=None)
    theirs = {p.name for p in cache.iterdir()} - set(mine)
    assert len([n for n in theirs if n.startswith(PREFIX)]) == 2  # their own entries
    assert {p.name: p.stat().st_ino for p in cache.iterdir() if p.name in mine} == mine
    monkeypatch.undo()
    both(cfg, cache, want, warns=None)


@pytest.mark.slow
def test_no_writable_state_folder(plain, tmp_path) -> None:
    """A read-only home: the key goes in the cache folder, only when that folder is the
    user's alone; else no cache."""
    cfg, want = plain
    state = tmp_path / "ro-state"
    state.mkdir(mode=0o555)
    env = {**os.environ, "XDG_STATE_HOME": str(state)}
    try:
        cache = tmp_path / "own"
        check_process(report_as_user(cfg, cache, env=env), want, None)
        assert (cache / ".kpi-cache-key").stat().st_mode & 0o777 == 0o600
        check_process(report_as_user(cfg, cache, env=env), want, None)
        shared = tmp_path / "shared"
        shared.mkdir()
        shared.chmod(0o775)
        r = report_as_user(cfg, shared, env=env)
        check_process(r, want, "and the cache folder is not yours alone; running without")
        assert not (shared / ".kpi-cache-key").exists()
    finally:
        state.chmod(0o755)


# --- a panic is a bug: exit 70, one line ------------------------------------------------------


def test_a_rust_panic_is_exit_70_with_one_line(capsys) -> None:
    import typer
    from polars.exceptions import PanicException

    from kpicli.cli import guarded

    def work() -> None:
        raise PanicException("called `Option::unwrap()` on a `None` value\nstack backtrace: …")

    with pytest.raises(typer.Exit) as exited:
        guarded(False, work)
    assert exited.value.exit_code == 70
    assert capsys.readouterr().err == (
        "internal error: PanicException: called `Option::unwrap()` on a `None` value\n"
        "  hint: this is a bug in kpi; re-run with --debug to see the traceback\n"
    )


# --- any damage to any entry ---------------------------------------------------------------


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """A cache filled by two reports in their own processes (so with the formulas' memo)."""
    folder = tmp_path_factory.mktemp("filled")
    cfg = write_data(folder, rows=200, seed=11)
    cache = folder / "cache"
    for extra in (BY, ()):
        args = [
            "report",
            "-p",
            "all",
            "-c",
            str(cfg),
            "--as-of",
            AS_OF,
            *extra,
            "--cache",
            str(cache),
        ]
        assert kpi(*args).returncode == 0
    assert len(list(cache.glob("kpi-formulas-*.json"))) == 1
    return cfg, cache, oracle(folder)


DAMAGE = ["truncate", "flip", "insert", "delete", "empty", "other", "swap", "remove", "fifo"]


@pytest.mark.slow
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(draw=st.data())
def test_any_damage_to_any_entry_changes_no_number(filled, draw) -> None:
    cfg, template, want = filled
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        shutil.copytree(template, cache)
        names = sorted(os.listdir(cache))
        target = cache / draw.draw(st.sampled_from(names), label="entry")
        other = cache / draw.draw(st.sampled_from(names), label="other")
        how = draw.draw(st.sampled_from(DAMAGE), label="damage")
        blob = target.read_bytes()
        at = draw.draw(st.integers(0, len(blob) - 1), label="at")
        if how == "truncate":
            target.write_bytes(blob[:at])
        elif how == "flip":
            target.write_bytes(blob[:at] + bytes([blob[at] ^ 0x20]) + blob[at + 1 :])
        elif how == "insert":
            target.write_bytes(blob[:at] + b"0" + blob[at:])
        elif how == "delete":
            target.write_bytes(blob[:at] + blob[at + 1 :])
        elif how == "empty":
            target.write_bytes(b"")
        elif how == "other":
            target.write_bytes(other.read_bytes())
        elif how == "swap":
            target.write_bytes(other.read_bytes())
            other.write_bytes(blob)
        elif how == "remove":
            target.unlink()
        else:  # a FIFO instead: opening it must not block
            target.unlink()
            os.mkfifo(target)
        for by in (True, False):
            r = report(cfg, cache, by=by)
            assert r.exit_code == 0, r.stderr
            assert same(values(json.loads(r.stdout)), want if by else totals(want)), r.stderr
            assert "Traceback" not in r.stderr
