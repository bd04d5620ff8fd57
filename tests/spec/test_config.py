"""Configuration loading: every mistake is a ConfigError naming file:line and key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from kpicli.errors import ConfigError
from kpicli.spec.config import config_issues, load_config

BASE = """\
version: 1
sources:
  ads:
    path: ads.csv
    date: day
kpis:
  spend: {source: ads, formula: SUM(spend), unit: currency}
  clicks: {source: ads, formula: SUM(clicks)}
  cpc: {formula: spend / clicks}
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "kpi_config.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def error(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return info.value


def test_valid_config_loads(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, BASE))
    assert list(cfg.kpis) == ["spend", "clicks", "cpc"]
    assert cfg.sources["ads"].path == ["ads.csv"]
    assert cfg.dependencies("cpc") == ("spend", "clicks")
    assert cfg.order(["cpc"]) == ["spend", "clicks", "cpc"]
    assert cfg.settings.week_start == "monday"


def test_number_target_is_a_value(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, BASE)).kpis["cpc"].target is None
    text = BASE.replace(
        "cpc: {formula: spend / clicks}", "cpc: {formula: spend / clicks, target: 2}"
    )
    cfg = load_config(write(tmp_path, text))
    assert cfg.kpis["cpc"].target.value == 2
    assert cfg.kpis["cpc"].target.tolerance == 0.1


def test_unknown_key_names_line_and_suggests(tmp_path: Path) -> None:
    err = error(tmp_path, BASE.replace("    date: day", "    dat: day"))
    assert err.location == f"{tmp_path / 'kpi_config.yaml'}:5 sources.ads.dat"
    assert "unknown key `dat`" in err.message
    assert err.hint == "did you mean `date`?"


def test_unknown_kpi_key_in_flow_mapping(tmp_path: Path) -> None:
    err = error(tmp_path, BASE.replace("unit: currency", "unti: currency"))
    assert err.location.endswith("kpi_config.yaml:7 kpis.spend.unti")
    assert err.hint == "did you mean `unit`?"


def test_bad_enum_value(tmp_path: Path) -> None:
    err = error(tmp_path, BASE.replace("unit: currency", "unit: dollars"))
    assert err.location.endswith(":7 kpis.spend.unit")
    assert "dollars" in err.message


def test_unknown_kpi_name_in_formula(tmp_path: Path) -> None:
    err = error(tmp_path, BASE.replace("spend / clicks", "spend / clikcs"))
    assert err.location.endswith(":9 kpis.cpc.formula")
    assert "unknown KPI `clikcs`" in err.message
    assert err.hint == "did you mean `clicks`?"


def test_unknown_source(tmp_path: Path) -> None:
    err = error(
        tmp_path,
        BASE.replace("{source: ads, formula: SUM(clicks)}", "{source: adds, formula: SUM(clicks)}"),
    )
    assert err.location.endswith(":8 kpis.clicks.source")
    assert err.hint == "did you mean `ads`?"


def test_reference_cycle(tmp_path: Path) -> None:
    text = BASE + "  a: {formula: b + 1}\n  b: {formula: c * 2}\n  c: {formula: a}\n"
    err = error(tmp_path, text)
    assert "reference cycle" in err.message
    assert "a → b → c → a" in err.message or "b → c → a → b" in err.message


def test_self_reference_is_a_cycle(tmp_path: Path) -> None:
    err = error(tmp_path, BASE + "  a: {formula: a + 1}\n")
    assert "reference cycle: a → a" in err.message
    assert err.location.endswith(":10 kpis.a.formula")


def test_malformed_yaml_names_line(tmp_path: Path) -> None:
    err = error(tmp_path, BASE + "  bad: {formula: [unclosed\n")
    assert err.message.startswith("invalid YAML")
    assert ":11:" in err.location or ":10:" in err.location


def test_duplicate_key_rejected(tmp_path: Path) -> None:
    err = error(tmp_path, BASE + "  spend: {source: ads, formula: SUM(x)}\n")
    assert "duplicate key `spend`" in err.message


def test_bad_formula_syntax(tmp_path: Path) -> None:
    err = error(tmp_path, BASE.replace("SUM(clicks)", "SUM(clicks"))
    assert err.location.endswith(":8 kpis.clicks.formula")
    assert "cannot parse" in err.message


def test_source_kpi_needs_an_aggregate(tmp_path: Path) -> None:
    err = error(tmp_path, BASE.replace("SUM(clicks)", "clicks * 2"))
    assert "has no aggregate" in err.message


def test_derived_kpi_cannot_filter(tmp_path: Path) -> None:
    err = error(
        tmp_path,
        BASE.replace("{formula: spend / clicks}", "{formula: spend / clicks, filter: x > 1}"),
    )
    assert "`filter` needs a `source`" in err.message
    assert err.location.endswith(":9 kpis.cpc.filter")


def test_target_values_need_by(tmp_path: Path) -> None:
    text = BASE.replace(
        "{formula: spend / clicks}", "{formula: spend / clicks, target: {value: 1, values: {a: 2}}}"
    )
    err = error(tmp_path, text)
    assert "needs `by`" in err.message


def test_target_per_validated(tmp_path: Path) -> None:
    text = BASE.replace(
        "{formula: spend / clicks}", "{formula: spend / clicks, target: {value: 1, per: fortnight}}"
    )
    err = error(tmp_path, text)
    assert err.location.endswith(":9 kpis.cpc.target.per")


def test_full_target_syntax_accepted(tmp_path: Path) -> None:
    text = BASE.replace(
        "{formula: spend / clicks}",
        "{formula: spend / clicks, target: {value: 50, per: week, by: channel, "
        "values: {google_ads: 60}, total: 300, tolerance: 0.2}}",
    )
    t = load_config(write(tmp_path, text)).kpis["cpc"].target
    assert (t.value, t.per, t.by, t.values, t.total, t.tolerance) == (
        50,
        "week",
        "channel",
        {"google_ads": 60},
        300,
        0.2,
    )


def test_source_options(tmp_path: Path) -> None:
    text = BASE.replace(
        "    date: day\n",
        "    date: day\n    delimiter: ';'\n    decimal: ','\n    skip_rows: 2\n"
        "    date_format: '%d/%m/%Y'\n    encoding: cp1252\n    rename: {Cost: spend}\n"
        "    derive: {channel: \"'x'\"}\n    filter: spend > 0\n",
    )
    src = load_config(write(tmp_path, text)).sources["ads"]
    assert (src.delimiter, src.decimal, src.skip_rows, src.encoding) == (";", ",", 2, "cp1252")
    assert src.rename == {"Cost": "spend"} and src.derive == {"channel": "'x'"}


def test_bad_kpi_name(tmp_path: Path) -> None:
    err = error(tmp_path, BASE + "  cost-per: {formula: spend}\n")
    assert "not an identifier" in err.message


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml")
    assert info.value.message == "configuration file not found"
    assert "kpi init" in info.value.hint


def test_validate_collects_every_problem(tmp_path: Path) -> None:
    text = (
        BASE.replace("spend / clicks", "spend / clikcs")
        + "  a: {source: nowhere, formula: SUM(x)}\n"
    )
    _, issues = config_issues(write(tmp_path, text))
    assert len(issues) == 2
    assert {i.location.split(" ")[1] for i in issues} == {"kpis.cpc.formula", "kpis.a.source"}


def test_kpi_config_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = write(tmp_path, BASE)
    monkeypatch.setenv("KPI_CONFIG", str(p))
    assert load_config().path == p


# ------------------------------------------------------------------ problems as data


def test_a_problem_carries_its_location_as_fields(tmp_path: Path) -> None:
    from kpicli.errors import IssueCode, Location

    path = write(tmp_path, BASE.replace("    date: day", "    dat: day"))
    err = error(tmp_path, BASE.replace("    date: day", "    dat: day"))
    assert err.where == Location(str(path), 5, key="sources.ads.dat")
    assert err.location == str(err.where) == f"{path}:5 sources.ads.dat"
    _, issues = config_issues(write(tmp_path, BASE.replace("source: ads", "source: adz", 1)))
    assert [i.code for i in issues] == [IssueCode.CONFIG]
    assert issues[0].where is not None and issues[0].where.key == "kpis.spend.source"
    assert issues[0].refers == ("sources", "adz")  # what validate leaves out once removed


def test_a_yaml_error_has_a_line_and_column(tmp_path: Path) -> None:
    err = error(tmp_path, BASE + "  bad: [unclosed\n")
    assert err.where is not None and err.where.line is not None
    assert err.where.column is not None and err.where.key is None
    assert err.location == f"{err.where.file}:{err.where.line}:{err.where.column}"


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("kpi_config.yaml:12 kpis.cpl.formula", ("kpi_config.yaml", 12, None, "kpis.cpl.formula")),
        ("kpi_config.yaml:3:5", ("kpi_config.yaml", 3, 5, None)),
        ("data/ads.csv:7", ("data/ads.csv", 7, None, None)),
        ("a.csv, b.csv", ("a.csv, b.csv", None, None, None)),
        ("kpi_config.yaml", ("kpi_config.yaml", None, None, None)),
        ("x.csv:7 ", ("x.csv:7 ", None, None, None)),  # does not read back: all file
    ],
)
def test_a_location_given_as_text_reads_back_exactly(text: str, fields: tuple) -> None:
    from kpicli.errors import ConfigError, Location

    where = Location.parse(text)
    assert (where.file, where.line, where.column, where.key) == fields
    assert str(where) == text
    assert ConfigError("m", location=text).where == where


def test_a_location_naming_a_request_field_is_worded_by_the_reader() -> None:
    from kpicli.errors import Location, UsageError

    err = UsageError("bad path", location=Location(request="output"))
    assert err.location == "`output`"
    assert err.render(lambda field: f"--{field}") == "usage error: --output: bad path"


def test_the_user_presets_are_read_only_when_there_is_a_folder(tmp_path: Path) -> None:
    """Without presets/ beside the configuration (nor settings.presets), the module of one's
    own presets (and its models) is not imported; with one, its presets are read."""
    import os
    import subprocess
    import sys

    cfg = tmp_path / "kpi_config.yaml"
    cfg.write_text(
        "version: 1\nsources:\n  s: {path: a.csv, preset: mine}\nkpis:\n"
        "  n: {source: s, formula: COUNT(*)}\n"
    )
    code = (
        "import sys; from pathlib import Path; from kpicli.spec.config import config_issues\n"
        f"cfg, issues = config_issues(Path({str(cfg)!r}))\n"
        "print('kpicli.spec.user_presets' in sys.modules, [i.message for i in issues])"
    )
    root = str(Path(__file__).resolve().parents[2])

    def run() -> str:
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": root},  # the test's own XDG_CACHE_HOME
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert run() == "False ['unknown preset `mine`']"
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "mine.yaml").write_text("columns:\n  n: N\n")
    assert run() == "True []"
