"""Remote paths (`path: s3a://…`, `hdfs://…`, `gs://…`): files Spark reads where they are.

kpi lists and samples such files through the Spark session's Hadoop file system, the one
Spark then reads the rows with. Here the store is the local disk behind ``file://`` URIs
(the same code path as ``s3a://`` once a connector is on Spark's classpath): a report over
the URIs on Spark must equal the report over the same files as local paths on Polars,
which the oracle suite checks against DuckDB. The other engines refuse a remote path
before anything is read.
"""

from __future__ import annotations

import json
import shutil
from functools import partial
from pathlib import Path

import polars as pl
import pytest

from conftest import invoke_kpi
from conftest import report_csv as report_csv_of

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data"
CONFIG = ROOT / "kpi_config.yaml"
REAL = ROOT / "tests" / "data" / "exports" / "real"
AS_OF = "2026-11-20"


invoke = partial(invoke_kpi, as_of=AS_OF)
report_csv = partial(report_csv_of, as_of=AS_OF)


def configs(tmp_path: Path, *, parquet: bool = False) -> tuple[Path, Path]:
    """(local, remote): the shipped config over a copy of sample_data/, its paths local in
    one and `file://` URIs in the other; ``parquet``: `ads` read from Parquet copies."""
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    text = CONFIG.read_text(encoding="utf-8")
    if parquet:
        for csv_file in data.glob("ads_*.csv"):
            pl.read_csv(csv_file, try_parse_dates=True).write_parquet(
                csv_file.with_suffix(".parquet")
            )
            csv_file.unlink()
        text = text.replace("sample_data/ads_*.csv", "sample_data/ads_*.parquet", 1)
    local = tmp_path / "local.yaml"
    local.write_text(text.replace("path: sample_data/", f"path: {data}/"), encoding="utf-8")
    remote = tmp_path / "remote.yaml"
    uris = text.replace("path: sample_data/", f"path: {data.as_uri()}/")
    assert uris.count("file:///") == 4
    remote.write_text(uris, encoding="utf-8")
    return local, remote


SHAPES = {
    "month by channel, previous": ["-p", "2026-10", "--by", "channel", "--compare", "previous"],
    "weeks, where": ["-p", "2026-Q3", "--grain", "week", "--where", "channel <> 'email'"],
}


# --- the other engines refuse a remote path, before anything is read ----------------------


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
def test_other_engines_refuse_a_remote_path(tmp_path: Path, engine: str) -> None:
    _, remote = configs(tmp_path)
    result = invoke("report", "-c", str(remote), "--engine", engine, code=2)
    assert result.stderr.startswith("usage error: source `ads` reads `file:///")
    assert f"which --engine {engine} cannot read" in result.stderr
    assert "--engine spark" in result.stderr


def test_the_schema_and_help_mention_remote_paths() -> None:
    from kpicli.spec.config import Source

    assert "s3a://" in Source.model_fields["path"].description
    assert "s3a://" in invoke("report", "--help").stdout


# --- Spark reads them, as the local files -------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("options", SHAPES.values(), ids=SHAPES.keys())
def test_spark_reports_remote_files_as_the_local_ones(
    spark, tmp_path: Path, options: list[str]
) -> None:
    local, remote = configs(tmp_path)
    want = report_csv(local, *options)
    assert want.count("\n") > 10
    assert report_csv(remote, *options, engine="spark") == want


@pytest.mark.slow
def test_spark_reads_remote_parquet_as_the_local_files(spark, tmp_path: Path) -> None:
    local, remote = configs(tmp_path, parquet=True)
    options = ["-p", "2026", "--grain", "quarter", "--by", "channel"]
    want = report_csv(local, *options)
    assert want.count("\n") > 10 and "cpa" in want
    assert report_csv(remote, *options, engine="spark") == want


@pytest.mark.slow
def test_real_downloads_with_a_preamble_read_remotely(
    spark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Google Ads' and GA4's real downloads (a title and period above the header, a totals
    row, thousands separators, a space in the name) as `kpi init` configures them."""
    shutil.copyfile(REAL / "ga4__Anas3rdshade_Teefusion.csv", tmp_path / "Landing_page.csv")
    shutil.copyfile(
        REAL / "google_ads__intragoinc_cp-mktg-google-ads-i.csv", tmp_path / "Campaign report.csv"
    )
    monkeypatch.chdir(tmp_path)
    invoke("init")
    local = tmp_path / "kpi_config.yaml"
    text = local.read_text(encoding="utf-8")
    remote = tmp_path / "remote.yaml"
    remote.write_text(
        text.replace('path: "', f'path: "file://{tmp_path}/'),
        encoding="utf-8",
    )
    assert remote.read_text(encoding="utf-8").count("file://") == 2, text
    options = ["-p", "all", "--as-of", "2026-12-31"]
    want = invoke("report", "-c", str(local), "-f", "json", "-q", *options).stdout
    got = invoke("report", "-c", str(remote), "-f", "json", "-q", "--engine", "spark", *options)
    rows = json.loads(want)["rows"]
    assert len(rows) > 3 and any(r["value"] for r in rows)
    assert json.loads(got.stdout)["rows"] == rows


# --- errors: named, with the exit codes of local files ------------------------------------


def _one_source(tmp_path: Path, source: str) -> Path:
    config = tmp_path / "kpi_config.yaml"
    config.write_text(
        f"version: 1\nsources:\n  t: {source}\nkpis:\n  n: {{source: t, formula: COUNT(*)}}\n",
        encoding="utf-8",
    )
    return config


@pytest.mark.slow
def test_remote_errors_name_the_path_and_the_fix(spark, tmp_path: Path) -> None:
    folder = tmp_path.as_uri()
    config = _one_source(tmp_path, f"{{path: '{folder}/nothing_*.csv'}}")
    result = invoke("report", "-c", str(config), "--engine", "spark", code=3)
    assert f"no file matches `{folder}/nothing_*.csv`" in result.stderr

    config = _one_source(tmp_path, f"{{path: '{folder}/**/*.csv'}}")
    result = invoke("report", "-c", str(config), "--engine", "spark", code=2)
    assert "`**` does not reach into sub-folders" in result.stderr
    assert "kpi_config.yaml:3" in result.stderr

    (tmp_path / "a.csv").write_text("day,x\n2026-10-01,1\n", encoding="utf-8")
    config = _one_source(tmp_path, f"{{path: '{folder}/a.csv', member: a.csv}}")
    result = invoke("report", "-c", str(config), "--engine", "spark", code=2)
    assert "`member:` reads inside a local file" in result.stderr

    config = _one_source(tmp_path, "{path: 's3a://kpi-test-bucket/exports/*.csv'}")
    result = invoke("report", "-c", str(config), "--engine", "spark", code=2)
    assert "s3a://kpi-test-bucket/exports/*.csv" in result.stderr
    assert "hadoop-aws" in result.stderr


@pytest.mark.slow
def test_a_remote_file_that_needs_repair_is_refused(spark, tmp_path: Path) -> None:
    """A stray quote leaves a record shorter than the header: kpi's tolerant reader
    repairs it locally; Spark would read it another way, so it is an error naming the file
    and `kpi clean`, never a different number."""
    lines = ["day,channel,x", "2026-10-01,a,1", '2026-10-02,"b,2', "2026-10-03,c,3"]
    (tmp_path / "broken.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = _one_source(tmp_path, f"{{path: '{tmp_path.as_uri()}/broken.csv', date: day}}")
    local = invoke("report", "-c", str(config), code=2)
    assert "remote path" in local.stderr  # polars: refused before reading
    result = invoke("report", "-c", str(config), "--engine", "spark", "-p", "all", code=3)
    assert "broken.csv" in result.stderr and "Spark cannot read this file" in result.stderr
    assert "kpi clean" in result.stderr


@pytest.mark.slow
def test_sources_and_validate_describe_remote_files(spark, tmp_path: Path) -> None:
    local, remote = configs(tmp_path)
    got = json.loads(invoke("sources", "-c", str(remote), "leads", "-f", "json").stdout)
    want = json.loads(invoke("sources", "-c", str(local), "leads", "-f", "json").stdout)
    (g,), (w,) = got["sources"], want["sources"]
    assert g["rows"] is None and w["rows"] > 100  # Spark counts them, not `kpi sources`
    assert g["files"][0]["path"].startswith("file:/") and g["files"][0]["path"].endswith(
        "crm_leads.csv"
    )
    assert [c["name"] for c in g["columns"]] == [c["name"] for c in w["columns"]]
    assert [c["type"] for c in g["columns"]] == [c["type"] for c in w["columns"]]
    table = invoke("sources", "-c", str(remote), "leads").stdout
    assert "rows read by --engine spark" in table

    result = invoke("validate", "-c", str(remote))
    assert "the report was not run: source `ads` is the remote path" in result.output
    spark_config = remote.with_name("spark.yaml")
    spark_config.write_text(
        remote.read_text(encoding="utf-8").replace("settings:\n", "settings:\n  engine: spark\n"),
        encoding="utf-8",
    )
    result = invoke("validate", "-c", str(spark_config))
    assert "not run" not in result.output and "valid" in result.output


@pytest.mark.slow
def test_a_remote_stream_reads_as_the_file(spark, tmp_path: Path, monkeypatch) -> None:
    """Bytes fetched a chunk at a time, from where the reader seeks (a sample's head and
    tail, a Parquet footer)."""
    from kpicli.ingest import remote

    data = bytes(range(256)) * 400 + b"end"
    (tmp_path / "b.bin").write_bytes(data)
    monkeypatch.setattr(remote, "CHUNK", 7_001)
    (path,) = remote.glob(f"{tmp_path.as_uri()}/b.*")
    assert str(path).endswith("/b.bin") and path.stat().st_size == len(data)
    with path.open() as fh:
        assert fh.read(10) == data[:10]
        fh.seek(50_000)
        assert fh.read(20_000) == data[50_000:70_000]
        fh.seek(-3, 2)
        assert fh.read() == b"end"
    assert path.read_bytes() == data


@pytest.mark.slow
def test_a_big_remote_file_sampled_head_and_tail(spark, tmp_path: Path) -> None:
    """A file larger than the sample, ending in a totals row: described from its first and
    last bytes, the totals row left out as it is locally."""
    rows = [f"2026-10-{1 + i % 28:02d},ch{i % 7},{i % 13}.25" for i in range(40_000)]
    text = "day,channel,spend\n" + "\n".join(rows) + "\nTotal,,123456.00\n"
    (tmp_path / "big.csv").write_text(text, encoding="utf-8")
    assert len(text) > 4 * 128 * 1024
    kpis = "kpis:\n  spend: {source: t, formula: SUM(spend)}\n  n: {source: t, formula: COUNT(*)}\n"
    local = tmp_path / "local.yaml"
    local.write_text(f"version: 1\nsources:\n  t: {{path: big.csv, date: day}}\n{kpis}")
    remote = tmp_path / "remote.yaml"
    uri = f"{tmp_path.as_uri()}/big.csv"
    remote.write_text(f"version: 1\nsources:\n  t: {{path: '{uri}', date: day}}\n{kpis}")
    options = ["-p", "2026-10", "--by", "channel"]
    want = report_csv(local, *options)
    assert "ch6" in want and "123456" not in want
    assert report_csv(remote, *options, engine="spark") == want
