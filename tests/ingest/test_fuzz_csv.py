"""Random and mutated CSV bytes through the CLI: `kpi report` over a small config, `kpi
sources` and `kpi clean` always end with exit 0, 2 or 3 and a message, never a traceback
(exit 70) and never a hang.

Bounded: each input is at most a few kilobytes (one "huge line" of 100 KB), each test runs a
fixed number of examples, and each example is stopped by an alarm after 20 seconds. The
whole file runs in well under a minute. (Configs are fuzzed in test_fuzz_config.py.)
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kpicli.cli import app

runner = CliRunner()
FUZZ = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
CONFIG = (
    "version: 1\nsources:\n  ads: {path: data.csv, date: day}\n"
    "kpis:\n  spend: {source: ads, formula: SUM(spend)}\n"
    "  rows: {source: ads, formula: COUNT(*)}\n"
    "  cpc: {formula: spend / rows}\n"
)
VALID = (
    "day,campaign,spend\n"
    + "".join(f'2026-01-{d:02d},"camp, {d % 3}",{d}.25\n' for d in range(1, 21))
).encode()
PREFIXES = ("data error:", "config error:", "usage error:")


@contextmanager
def alarm(seconds: int) -> Iterator[None]:
    def stop(signum, frame):
        raise TimeoutError(f"no answer after {seconds} s: a hang")

    old = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def check(folder: Path, data: bytes) -> None:
    (folder / "data.csv").write_bytes(data)
    (folder / "kpi_config.yaml").write_text(CONFIG)
    cfg = str(folder / "kpi_config.yaml")
    for args in (
        ["report", "-c", cfg, "-f", "json", "--as-of", "2026-02-01"],
        ["sources", "-c", cfg, "-f", "json"],
        ["clean", str(folder / "data.csv"), "-o", str(folder / "clean.csv")],
    ):
        with alarm(20):
            r = runner.invoke(app, args)
        assert r.exit_code in (0, 2, 3), (args, r.exit_code, r.stderr[-500:])
        assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
        if r.exit_code and args[0] != "sources":
            assert any(line.startswith(PREFIXES) for line in r.stderr.splitlines()), r.stderr
    clean = folder / "clean.csv"
    if clean.exists():
        clean.read_bytes().decode("utf-8")  # always UTF-8
        clean.unlink()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path


@pytest.mark.slow
@FUZZ
@given(data=st.binary(max_size=2048))
def test_random_bytes(folder: Path, data: bytes) -> None:
    check(folder, data)


def _mutate(data: bytes, op: str, at: int, junk: bytes) -> bytes:
    i = at % (len(data) + 1)
    if op == "truncate":
        return data[:i]
    if op == "insert":
        return data[:i] + junk + data[i:]
    if op == "replace":
        return data[:i] + junk + data[i + len(junk) :]
    if op == "delete":
        return data[:i] + data[i + len(junk) :]
    if op == "utf16":
        return b"\xff\xfe" + data.decode("latin-1").encode("utf-16-le")[: i * 2]
    if op == "huge_line":
        return data[:i] + b"x" * 100_000 + data[i:]
    return data


JUNK = st.one_of(
    st.sampled_from(
        [
            b'"',
            b'""',
            b",",
            b";",
            b"\t",
            b"\n",
            b"\r",
            b"\r\n",
            b"\x00",
            b"\xef\xbb\xbf",
            b"\xff\xfe",
            b"\xe9",
            b"\xc3",
            "é".encode(),
            b"\\",
            b"'",
            b"Total: all,,",
            b"#",
            b"\n\n",
            b"=1+1",
            b"2026-13-45",
            b"1e999",
            b"NaN",
            b"-",
        ]
    ),
    st.binary(min_size=1, max_size=16),
)
OPS = st.sampled_from(["truncate", "insert", "replace", "delete", "utf16", "huge_line"])


@pytest.mark.slow
@FUZZ
@given(
    steps=st.lists(
        st.tuples(OPS, st.integers(min_value=0, max_value=4096), JUNK), min_size=1, max_size=4
    )
)
def test_mutated_csv(folder: Path, steps: list[tuple[str, int, bytes]]) -> None:
    data = VALID
    for op, at, junk in steps:
        if op == "huge_line" and len(data) > 100_000:
            continue
        data = _mutate(data, op, at, junk)
    check(folder, data)


@pytest.mark.slow
@settings(FUZZ, max_examples=50)
@given(
    cells=st.lists(st.lists(st.text(max_size=12), min_size=1, max_size=6), min_size=1, max_size=12),
    delim=st.sampled_from([",", ";", "\t", "|", " "]),
    quote_all=st.booleans(),
)
def test_random_tables(folder: Path, cells: list[list[str]], delim: str, quote_all: bool) -> None:
    """Tables of random text (unicode, quotes, delimiters inside cells) written any way."""

    def cell(v: str) -> str:
        if quote_all or any(c in v for c in (delim, '"', "\n", "\r")):
            return '"' + v.replace('"', '""') + '"'
        return v

    text = "".join(delim.join(cell(v) for v in row) + "\n" for row in cells)
    check(folder, text.encode("utf-8", "surrogatepass"))
