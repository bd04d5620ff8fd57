"""Nothing run, nothing lost, nothing modified: code injection, overflow, formula injection,
paths outside the config's folder, atomic and locked writes, read-only inputs."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kpicli import outputs as W
from kpicli.cli import app

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


# ---------------------------------------------------------------------------- injection


def test_no_code_execution_anywhere() -> None:
    """Formulas and filters go through Polars' SQL parser only: no eval, exec, pickle or
    unsafe YAML loader in kpicli/."""
    banned = re.compile(r"\b(?:eval|exec)\s*\(|\bpickle\b|\bmarshal\b|__import__\s*\(")
    for path in (ROOT / "kpicli").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for n, line in enumerate(text.splitlines(), start=1):
            code = line.split("#", 1)[0]
            assert not banned.search(code), f"{path}:{n}: {line.strip()}"
            if "yaml.load(" in code:
                assert "Loader=_Loader" in code, f"{path}:{n}: yaml.load without SafeLoader"
    import yaml

    from kpicli.spec.config import _Loader

    # libyaml's safe loader when PyYAML has it, else PyYAML's: safe constructors only
    assert issubclass(_Loader, yaml.constructor.SafeConstructor)
    assert not issubclass(_Loader, yaml.constructor.FullConstructor)
    assert _Loader.__mro__[1] in (getattr(yaml, "CSafeLoader", None), yaml.SafeLoader)


def _config(folder: Path, data: str, kpis: str, extra: str = "") -> Path:
    (folder / "data.csv").write_text(data)
    cfg = folder / "kpi_config.yaml"
    cfg.write_text(f"version: 1\nsources:\n  s: {{path: data.csv{extra}}}\nkpis:\n{kpis}")
    return cfg


def test_a_formula_cannot_call_python(tmp_path: Path) -> None:
    cfg = _config(
        tmp_path,
        "campaign,spend\na,1\n",
        "  x: {source: s, formula: \"__import__('os').system('touch pwned')\"}\n",
    )
    r = runner.invoke(app, ["report", "-p", "all", "-c", str(cfg)])
    assert r.exit_code == 2 and "config error" in r.stderr
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


BIG = 900_000_000_000_000_000  # 9e17: eleven of them pass 2**63 - 1


def test_a_sum_beyond_int64_does_not_wrap_around(tmp_path: Path) -> None:
    data = "campaign,clicks\n" + "".join(f"c{i},{BIG}\n" for i in range(11))
    cfg = _config(tmp_path, data, "  clicks: {source: s, formula: SUM(clicks)}\n")
    r = runner.invoke(app, ["report", "-p", "all", "-c", str(cfg), "-f", "json"])
    assert r.exit_code == 0, r.stderr
    (row,) = json.loads(r.stdout)["rows"]
    assert row["value"] == pytest.approx(11 * BIG)


def test_polars_wraps_int64_sums() -> None:
    """Why plan.py sums integer columns as Int128 (fails when Polars changes its sums)."""
    import polars as pl

    total = pl.DataFrame({"x": [2**62, 2**62]}).select(pl.col("x").sum()).item()
    assert total == -(2**63)
    exact = pl.DataFrame({"x": [2**62, 2**62]}).select(pl.col("x").cast(pl.Int128).sum()).item()
    assert exact == 2**63


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_formula_injection_is_neutralised(tmp_path: Path, fmt: str) -> None:
    data = 'campaign,spend\n=HYPERLINK("http://x"),1\n@SUM(A1),2\n+1,3\n-1,4\nplain,5\n'
    cfg = _config(tmp_path, data, "  spend: {source: s, formula: SUM(spend)}\n")
    out = tmp_path / f"r.{fmt}"
    r = runner.invoke(
        app, ["report", "-p", "all", "-c", str(cfg), "--by", "campaign", "-o", str(out)]
    )
    assert r.exit_code == 0, r.stderr
    if fmt == "csv":
        text = out.read_text()
        for cell in ("=HYPERLINK", "@SUM(A1)", "+1", "-1"):
            assert f"'{cell}" in text or f"\"'{cell}" in text, cell
        assert not re.search(r"(^|,)[=@+]", text, flags=re.M)
    else:
        import openpyxl

        book = openpyxl.load_workbook(out)
        for sheet in book.worksheets:
            for row in sheet.iter_rows():
                for cell in row:
                    assert cell.data_type != "f", (cell.coordinate, cell.value)
    r = runner.invoke(
        app, ["report", "-p", "all", "-c", str(cfg), "--by", "campaign", "-f", "csv", "--raw"]
    )
    assert "=HYPERLINK" in r.stdout and "'=HYPERLINK" not in r.stdout


def test_paths_outside_the_config_folder_are_reported(tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "data.csv").write_text("campaign,spend\na,1\n")
    folder = tmp_path / "project"
    folder.mkdir()
    cfg = folder / "kpi_config.yaml"
    cfg.write_text(
        "version: 1\nsources:\n  s: {path: ../outside/data.csv}\n"
        "kpis:\n  spend: {source: s, formula: SUM(spend)}\n"
    )
    r = runner.invoke(app, ["report", "-p", "all", "-c", str(cfg)])
    assert r.exit_code == 0
    assert "warning: source `s`:" in r.stderr and "outside the folder" in r.stderr
    r = runner.invoke(app, ["report", "-p", "all", "-c", str(cfg), "-q"])
    assert r.exit_code == 0 and r.stderr == ""
    r = runner.invoke(app, ["sources", "-c", str(cfg), "-f", "json"])
    assert r.exit_code == 0 and "outside the folder" in r.stderr


# ---------------------------------------------------------------------------- writes


def test_a_failed_write_leaves_the_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "report.json"
    out.write_bytes(b"old")

    real_fdopen = os.fdopen

    class Broken:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data: bytes) -> None:
            self.handle.write(data[: len(data) // 2])
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(W.os, "fdopen", lambda fd, mode: Broken(real_fdopen(fd, mode)))
    with pytest.raises(W.OutputError, match="no space"):
        W.write_atomic(out, b"new" * 1000)
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []


_SLOW_WRITER = textwrap.dedent(
    """
    import os, sys, time
    from kpicli import outputs as W
    real = os.fsync
    def slow(fd):
        print("writing", flush=True)
        time.sleep(float(sys.argv[3]))
        real(fd)
    W.os.fsync = slow
    W.write_atomic(sys.argv[1], sys.argv[2].encode() * 100_000)
    """
)


def _writer(out: Path, payload: str, sleep: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", _SLOW_WRITER, str(out), payload, str(sleep)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def test_a_run_killed_mid_write_leaves_the_old_file(tmp_path: Path) -> None:
    out = tmp_path / "big.json"
    out.write_bytes(b"previous report")
    proc = _writer(out, "x", 30)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert out.read_bytes() == b"previous report"
    # its temp file is removed by the next write of that output, under the lock
    W.write_atomic(out, b"next report")
    assert out.read_bytes() == b"next report"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.slow
def test_two_writers_take_turns(tmp_path: Path) -> None:
    import fcntl

    out = tmp_path / "report.json"
    lock = os.open(W.lock_path(out), os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(lock, fcntl.LOCK_EX)  # a first cron run is writing
    proc = _writer(out, "b", 0)
    time.sleep(1.0)
    assert proc.poll() is None and not out.exists()  # the second one waits
    fcntl.flock(lock, fcntl.LOCK_UN)
    os.close(lock)
    assert proc.wait(timeout=30) == 0
    assert out.read_bytes() == b"b" * 100_000
    # two at once: the file is always one writer's whole output
    first, second = _writer(out, "1", 0.3), _writer(out, "2", 0.3)
    seen = set()
    while first.poll() is None or second.poll() is None:
        data = out.read_bytes()
        seen.add(data[:1])
        assert data in (b"1" * 100_000, b"2" * 100_000, b"b" * 100_000)
        time.sleep(0.01)
    assert first.returncode == 0 and second.returncode == 0


# ---------------------------------------------------------------------------- read-only


def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_inputs_are_never_modified(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    data = "".join(f"2026-01-{d:02d},c{d % 3},{d}.5,{d}\n" for d in range(1, 29))
    (folder / "ads.csv").write_text("day,campaign,spend,clicks\n" + data)
    (folder / "odd.csv").write_bytes(b'x;y\n1;"2\n3;4;5\n')
    (folder / "kpi_config.yaml").write_text(
        "version: 1\nsources:\n  ads: {path: ads.csv, date: day}\n"
        "kpis:\n  spend: {source: ads, formula: SUM(spend), target: 10}\n"
        "  cpc: {formula: spend / clicks}\n"
        "  clicks: {source: ads, formula: SUM(clicks)}\n"
    )
    for p in folder.iterdir():
        p.chmod(0o444)
    folder.chmod(0o555)
    before = _hashes(folder)
    cfg = str(folder / "kpi_config.yaml")
    out = tmp_path / "out"
    out.mkdir()
    try:
        commands = [
            ["report", "-p", "all", "-c", cfg, "-p", "2026-01", "--by", "campaign"],
            ["report", "-p", "all", "-c", cfg, "-o", str(out / "r.json")],
            ["sources", "-c", cfg],
            ["validate", "-c", cfg],
            ["list", "-c", cfg],
            ["explain", "cpc", "-c", cfg],
            ["clean", str(folder / "ads.csv")],
            ["clean", str(folder / "odd.csv"), "-o", str(out / "odd.csv")],
        ]
        for args in commands:
            r = runner.invoke(app, args)
            assert r.exit_code == 0, (args, r.stderr)
            assert _hashes(folder) == before, args
            assert sorted(p.name for p in folder.iterdir()) == sorted(before), args
    finally:
        folder.chmod(0o755)
