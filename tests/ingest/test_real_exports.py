"""Every real export of tests/data/exports/real/, read as downloaded with `{path, preset}`.

The files are byte-for-byte copies of exports users committed to public repositories (see
the README beside them). Each is read through the public API with a source of `path` and
`preset` only, and its KPIs are checked against an independent reading of the raw file
(Python's csv module and plain string handling here, never kpi's reader) and, where the
export has them, against its own total rows.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import date
from pathlib import Path

import pytest

from kpicli import Request, UsageError, load_config, run_report
from kpicli.commands.sources import describe_sources
from kpicli.render.sources import render_sources

REAL = Path(__file__).parents[1] / "data" / "exports" / "real"
GOOGLE_ADS = "google_ads__intragoinc_cp-mktg-google-ads-i.csv"
GA4 = "ga4__Anas3rdshade_Teefusion.csv"
GSC = "gsc_queries__DanielTheC_internal-lnking-tool.csv"
MAILCHIMP = "mailchimp_campaigns__jamestthompson3_mailchimp_data.csv"
META = "meta_ads__DanielTheC_internal-lnking-tool.csv"
CONTACTS = "hubspot_contacts_HEADER-ONLY__helenakatsios-bot_workspacelive.csv"
DEALS = "hubspot_deals_HEADER-ONLY__HummingAgent_crm.csv"

#: The copies must stay byte for byte what was downloaded (CRLF, no final newline…).
SHA256 = {
    GA4: "13e4b8851a09be85192abcb31f5f3db0f847a1a9aa1c4977a87d82b3a62cae15",
    GOOGLE_ADS: "a9bbf496d49928594103d6010ac333737f3fa8ec56109aa49995fcf07ca51bde",
    GSC: "375f9f6bb8a0356bf4ad431e1b33742d9447663ad5cd42bff60a14afa59f8c47",
    CONTACTS: "2fe9211ec228f503269b2cc3e10cda8f2b061da6ce92b04967cb395cfae2a392",
    DEALS: "f2fb6758fcb22cc526422719dcbdebc208dd28ce93b9b33b0c462f3bd3b163cd",
    MAILCHIMP: "b8aada8e64172e69054b723c4a9e2c8a9bc7ca57abbffd80963231866146032a",
    META: "c09af52a7af149765512c5d0777c083e5c600c0018b3d8a41ce3c7478dc21ca1",
}
AS_OF = date(2026, 12, 31)


def config(tmp_path: Path, sources: dict[str, str], kpis: dict[str, str]) -> Path:
    """A config whose sources are `{path, preset}` (plus `date` where given as `preset@date`)."""
    lines = ["version: 1", "sources:"]
    for name, spec in sources.items():
        file, _, rest = spec.partition(":")
        preset, _, dated = rest.partition("@")
        extra = f", date: {dated}" if dated else ""
        lines.append(f"  {name}: {{path: '{REAL / file}', preset: {preset}{extra}}}")
    lines.append("kpis:")
    lines += [f"  {name}: {{{spec}}}" for name, spec in kpis.items()]
    path = tmp_path / "kpi_config.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def values(path: Path, **request) -> dict[str, float | None]:
    result = run_report(load_config(path), Request(as_of=AS_OF, **request))
    return dict(zip(result.rows["kpi"], result.rows["value"], strict=True))


def raw_rows(file: str, skip: int = 0) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of a raw export by Python's csv, after `skip` lines (comments too)."""
    text = (REAL / file).read_bytes().decode("utf-8")
    lines = text.splitlines(keepends=True)[skip:]
    rows = list(csv.reader(io.StringIO("".join(lines), newline="")))
    return rows[0], rows[1:]


def plain(cell: str) -> float:
    """A raw cell as a number, the simple way: separators out, ` --` and blanks as 0."""
    cell = cell.strip().replace(",", "").replace("$", "")
    if cell in ("", "--", "n/a"):
        return 0.0
    if cell.endswith("%"):
        return float(cell[:-1]) / 100
    return float(cell)


@pytest.mark.parametrize("file", sorted(SHA256))
def test_copies_are_byte_for_byte(file: str) -> None:
    assert hashlib.sha256((REAL / file).read_bytes()).hexdigest() == SHA256[file]


# ---------------------------------------------------------------------------- Google Ads


def google_ads_raw() -> tuple[list[dict[str, str]], dict[str, dict[str, str]]]:
    """(campaign rows, total rows by their first cell), from the raw file."""
    header, rows = raw_rows(GOOGLE_ADS, skip=2)
    records = [dict(zip(header, r, strict=True)) for r in rows]
    campaigns = [r for r in records if not r["Campaign status"].startswith("Total: ")]
    totals = {r["Campaign status"]: r for r in records if r["Campaign status"].startswith("Total")}
    return campaigns, totals


def test_google_ads_sums_are_the_files_total_row(tmp_path: Path) -> None:
    campaigns, totals = google_ads_raw()
    p = config(
        tmp_path,
        {"ads": f"{GOOGLE_ADS}:google_ads"},
        {
            "impressions": "source: ads, formula: SUM(impressions)",
            "clicks": "source: ads, formula: SUM(clicks)",
            "interactions": "source: ads, formula: SUM(interactions)",
            "spend": "source: ads, formula: SUM(spend)",
            "conversions": "source: ads, formula: SUM(conversions)",
            "campaigns": "source: ads, formula: COUNT(*)",
            "budget_type_total": "source: ads, formula: COUNT(*) FILTER "
            "(WHERE budget_type = 'Campaign Total')",
        },
    )
    got = values(p)
    total = totals["Total: Campaigns"]
    # the file's own total row is the sum of its campaign rows…
    for header in ("Impr.", "Clicks", "Interactions", "Cost", "Conversions"):
        assert sum(plain(c[header]) for c in campaigns) == pytest.approx(plain(total[header]))
    # …and kpi, reading the file as downloaded, gives those totals
    assert got["impressions"] == plain(total["Impr."]) == 14_117_313
    assert got["clicks"] == plain(total["Clicks"]) == 167_739
    assert got["interactions"] == plain(total["Interactions"]) == 283_527
    assert got["spend"] == pytest.approx(plain(total["Cost"]), abs=1e-9)
    assert got["spend"] == pytest.approx(199_421.15, abs=1e-9)
    assert got["conversions"] == pytest.approx(18_703.32, abs=1e-9)
    # the five Total rows are dropped; a campaign whose budget type is "Campaign Total" is kept
    assert got["campaigns"] == len(campaigns) == 12
    assert got["budget_type_total"] == 1


def test_google_ads_by_campaign_type(tmp_path: Path) -> None:
    campaigns, totals = google_ads_raw()
    # the per-type Total rows cover the account (removed campaigns too), as `Total: Account`
    kinds = ("Search", "Display", "Performance Max")
    account = sum(plain(totals[f"Total: {k}"]["Cost"]) for k in kinds)
    assert account == pytest.approx(plain(totals["Total: Account"]["Cost"]))
    p = config(
        tmp_path,
        {"ads": f"{GOOGLE_ADS}:google_ads"},
        {
            "spend": "source: ads, formula: SUM(spend)",
            "impr": "source: ads, formula: SUM(impressions)",
        },
    )
    result = run_report(load_config(p), Request(as_of=AS_OF, by=("campaign_type",)))
    rows = {(r["kpi"], r["campaign_type"]): r["value"] for r in result.rows.iter_rows(named=True)}
    for kind in kinds:
        mine = [c for c in campaigns if c["Campaign type"] == kind]
        assert rows[("spend", kind)] == pytest.approx(sum(plain(c["Cost"]) for c in mine))
        assert rows[("impr", kind)] == sum(plain(c["Impr."]) for c in mine)
    spend = sum(rows[("spend", k)] for k in kinds)
    assert spend == pytest.approx(plain(totals["Total: Campaigns"]["Cost"]))


def test_google_ads_percentages_are_fractions_and_dashes_missing(tmp_path: Path) -> None:
    campaigns, _ = google_ads_raw()
    p = config(
        tmp_path,
        {"ads": f"{GOOGLE_ADS}:google_ads"},
        {
            "rate": "source: ads, formula: SUM(interaction_rate)",
            "rated": "source: ads, formula: COUNT(interaction_rate)",
            "share": "source: ads, formula: SUM(search_impr_share)",
        },
    )
    got = values(p)
    rates = [c["Interaction rate"].strip() for c in campaigns]
    assert got["rated"] == sum(1 for r in rates if r != "--") == 11
    assert got["rate"] == pytest.approx(sum(plain(r) for r in rates))
    # "< 10%" is the bound the export gives: 0.1
    shares = [c["Search impr. share"].strip() for c in campaigns]
    expected = sum(float(s.strip("<> %")) / 100 for s in shares if s != "--")
    assert got["share"] == pytest.approx(expected)


def test_google_ads_has_no_dates(tmp_path: Path) -> None:
    p = config(
        tmp_path, {"ads": f"{GOOGLE_ADS}:google_ads"}, {"spend": "source: ads, formula: SUM(spend)"}
    )
    for request in ({"period": "2026-01"}, {"grain": "month"}):
        with pytest.raises(UsageError) as info:
            values(p, **request)
        assert "source `ads` has no date column" in info.value.message
    (report,) = describe_sources(load_config(p))
    assert report.date_column is None
    assert report.files[0].period == {"text": "All time", "start": None, "end": None}


# ---------------------------------------------------------------------------- GA4, Search Console


def test_ga4_landing_pages(tmp_path: Path) -> None:
    header, rows = raw_rows(GA4, skip=9)
    assert header[0] == "Landing page"
    col = {h: i for i, h in enumerate(header)}
    p = config(
        tmp_path,
        {"ga4": f"{GA4}:ga4"},
        {
            "sessions": "source: ga4, formula: SUM(sessions)",
            "users": "source: ga4, formula: SUM(active_users)",
            "new": "source: ga4, formula: SUM(new_users)",
            "key_events": "source: ga4, formula: SUM(conversions)",
            "pages": "source: ga4, formula: COUNT(*)",
            "not_set": "source: ga4, formula: "
            "SUM(sessions) FILTER (WHERE landing_page = '(not set)')",
            "engagement": "source: ga4, formula: SUM(engagement_time * sessions)",
        },
    )
    got = values(p)
    assert got["pages"] == len(rows) == 211
    assert got["sessions"] == sum(int(r[col["Sessions"]]) for r in rows)
    assert got["users"] == sum(int(r[col["Active users"]]) for r in rows)
    assert got["new"] == sum(int(r[col["New users"]]) for r in rows)
    assert got["key_events"] == sum(int(r[col["Key events"]]) for r in rows)
    assert got["not_set"] == 113
    seconds = sum(
        float(r[col["Average engagement time per session"]]) * int(r[col["Sessions"]]) for r in rows
    )
    assert got["engagement"] == pytest.approx(seconds)
    (report,) = describe_sources(load_config(p))
    assert report.files[0].header_line == 10
    assert report.files[0].period == {
        "text": "20250201 - 20250804",
        "start": "2025-02-01",
        "end": "2025-08-04",
    }


def test_search_console_queries(tmp_path: Path) -> None:
    header, rows = raw_rows(GSC)
    assert header == ["Top queries", "Clicks", "Impressions", "CTR", "Position"]
    p = config(
        tmp_path,
        {"gsc": f"{GSC}:search_console"},
        {
            "clicks": "source: gsc, formula: SUM(clicks)",
            "impressions": "source: gsc, formula: SUM(impressions)",
            "ctr": "source: gsc, formula: SUM(ctr)",
            "position": "source: gsc, formula: AVG(position)",
            "queries": "source: gsc, formula: COUNT(DISTINCT query)",
        },
    )
    got = values(p)
    assert got["queries"] == len(rows) == 1000
    assert got["clicks"] == sum(int(r[1]) for r in rows)
    assert got["impressions"] == sum(int(r[2]) for r in rows)
    assert got["ctr"] == pytest.approx(sum(float(r[3].rstrip("%")) / 100 for r in rows))
    assert got["position"] == pytest.approx(sum(float(r[4]) for r in rows) / len(rows))


# ---------------------------------------------------------------------------- Mailchimp


def test_mailchimp_campaigns_with_dates(tmp_path: Path) -> None:
    header, rows = raw_rows(MAILCHIMP)
    col = {h: i for i, h in enumerate(header)}
    p = config(
        tmp_path,
        {"mc": f"{MAILCHIMP}:mailchimp@date"},
        {
            "recipients": "source: mc, formula: SUM(recipients)",
            "delivered": "source: mc, formula: SUM(delivered)",
            "opens": "source: mc, formula: SUM(opens)",
            "clicks": "source: mc, formula: SUM(clicks)",
            "unsubscribes": "source: mc, formula: SUM(unsubscribes)",
            "cost": "source: mc, formula: SUM(campaign_cost)",
            "costed": "source: mc, formula: COUNT(campaign_cost)",
        },
    )
    got = values(p)
    for kpi, name in [
        ("recipients", "Total_Recipients"),
        ("delivered", "Successful_Deliveries"),
        ("opens", "Unique_Opens"),
        ("clicks", "Unique_Clicks"),
        ("unsubscribes", "Unsubscribes"),
    ]:
        assert got[kpi] == sum(int(r[col[name]]) for r in rows), kpi
    costs = [r[col["Campaign_Cost"]] for r in rows]
    assert got["costed"] == sum(1 for c in costs if c != "n/a") == 5
    assert got["cost"] == pytest.approx(sum(plain(c) for c in costs), abs=1e-9)

    # `2/24/17 11:29` is month/day/year: the March 2017 sends only
    march = [r for r in rows if r[col["Send_Date"]].startswith("3/")]
    got = values(p, period="2017-03")
    assert got["recipients"] == sum(int(r[col["Total_Recipients"]]) for r in march)
    (report,) = describe_sources(load_config(p))
    assert report.date_format == "%m/%d/%y"
    assert report.date_range == (date(2017, 2, 24), date(2017, 3, 9))


# ---------------------------------------------------------------------------- empty exports


def test_meta_no_data_available_is_an_empty_export(tmp_path: Path) -> None:
    p = config(
        tmp_path,
        {"meta": f"{META}:meta_ads@date"},
        {"spend": "source: meta, formula: SUM(spend)", "rows": "source: meta, formula: COUNT(*)"},
    )
    assert values(p) == {"spend": None, "rows": 0}
    (report,) = describe_sources(load_config(p))
    assert report.rows == 0 and report.problems == []
    assert report.files[0].rows_read == 0
    assert report.files[0].rows_dropped == {"summary row `No data available.`": 1}
    columns = {c.name: (c.dtype, c.header) for c in report.columns}
    assert columns["spend"] == ("Float64", "Amount spent (USD)")
    assert columns["date"] == ("Date", "Reporting starts")
    assert {"date_end", "campaign", "reach", "impressions", "results"} <= set(columns)


def test_hubspot_header_only_exports(tmp_path: Path) -> None:
    p = config(
        tmp_path,
        {"contacts": f"{CONTACTS}:hubspot_contacts@created_at", "deals": f"{DEALS}:hubspot_deals"},
        {
            "contacts": "source: contacts, formula: COUNT(*)",
            "amount": "source: deals, formula: SUM(amount)",
            "won": "source: deals, formula: COUNT(*) FILTER (WHERE is_closed_won)",
        },
    )
    assert values(p) == {"contacts": 0, "amount": None, "won": 0}
    contacts, deals = describe_sources(load_config(p), ["contacts", "deals"])
    names = {c.name for c in contacts.columns}
    assert {"record_id", "created_at", "lead_status"} <= names
    types = {c.name: c.dtype for c in deals.columns}
    assert len(types) == 146
    assert types["amount"] == "Float64" and types["is_closed_won"] == "Boolean"
    for col in ("record_id", "created_at", "close_date", "deal_stage", "pipeline"):
        assert col in types
    assert types["original_source"] == "String"


# ---------------------------------------------------------------------------- kpi sources


def all_sources(tmp_path: Path) -> Path:
    return config(
        tmp_path,
        {
            "google_ads": f"{GOOGLE_ADS}:google_ads",
            "ga4": f"{GA4}:ga4",
            "search_console": f"{GSC}:search_console",
            "mailchimp": f"{MAILCHIMP}:mailchimp@date",
            "meta": f"{META}:meta_ads@date",
            "contacts": f"{CONTACTS}:hubspot_contacts@created_at",
            "deals": f"{DEALS}:hubspot_deals@created_at",
        },
        {"n": "source: google_ads, formula: COUNT(*)"},
    )


def test_sources_report_every_real_export(tmp_path: Path) -> None:
    reports = describe_sources(load_config(all_sources(tmp_path)))
    got = {
        r.name: (r.rows, r.files[0].rows_read, r.files[0].rows_dropped, r.files[0].header_line)
        for r in reports
    }
    assert got == {
        "google_ads": (12, 12, {"summary row `Total: …`": 5}, 3),
        "ga4": (211, 211, {}, 10),
        "search_console": (1000, 1000, {}, 1),
        "mailchimp": (15, 15, {}, 1),
        "meta": (0, 0, {"summary row `No data available.`": 1}, 1),
        "contacts": (0, 0, {}, 1),
        "deals": (0, 0, {}, 1),
    }
    assert all(r.problems == [] for r in reports)
    assert {r.files[0].encoding for r in reports} == {"utf-8"}


def test_sources_json_and_table_golden(tmp_path: Path, golden) -> None:
    chosen = ["google_ads", "ga4", "mailchimp", "meta"]
    reports = describe_sources(load_config(all_sources(tmp_path)), chosen)
    prefix = str(REAL) + "/"
    data = json.loads(render_sources(reports, "json"))
    assert data["schema_version"] == 1
    text = json.dumps(data, indent=2, ensure_ascii=False).replace(prefix, "") + "\n"
    golden("sources_real_exports.json", text)
    # wide enough that nothing wraps: the file lines hold the checkout's absolute path, and
    # a width that depends on it would wrap the tables differently in another checkout
    table = render_sources(reports, "table", width=250).decode("utf-8")
    assert max(len(line) for line in table.splitlines()) < 250
    assert "\x1b[" not in table
    golden("sources_real_exports.txt", table.replace(prefix, ""))
    assert "\x1b[" in render_sources(reports, "table", color=True, width=100).decode("utf-8")


def test_sources_problems_are_reported_not_raised(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("day,spend\n2026-01-01,1\n2026-02-30,2\n")
    p = tmp_path / "kpi_config.yaml"
    p.write_text(
        "version: 1\nsources:\n  gone: {path: nowhere.csv}\n  bad: {path: bad.csv, date: day}\n"
        "kpis:\n  n: {source: bad, formula: COUNT(*)}\n",
        encoding="utf-8",
    )
    gone, bad = describe_sources(load_config(p))
    assert not gone.ok and "no file matches `nowhere.csv`" in gone.problems[0].message
    assert not bad.ok and bad.problems[0].location.endswith("bad.csv:3")
    assert [f.path for f in bad.files] == [str(tmp_path / "bad.csv")]
    data = json.loads(render_sources([gone, bad], "json"))
    assert data["sources"][0]["problems"][0]["severity"] == "error"
    with pytest.raises(UsageError) as info:
        describe_sources(load_config(p), ["bda"])
    assert info.value.hint == "did you mean `bad`?"


# ---------------------------------------------------------------------------- with --cache


@pytest.mark.parametrize(
    ("source", "kpis", "requests"),
    [
        (
            f"{MAILCHIMP}:mailchimp@date",
            {
                "recipients": "source: mc, formula: SUM(recipients)",
                "cost": "source: mc, formula: SUM(campaign_cost)",
                "costed": "source: mc, formula: COUNT(campaign_cost)",
                "open_rate": "formula: opens / delivered",
                "opens": "source: mc, formula: SUM(opens)",
                "delivered": "source: mc, formula: SUM(delivered)",
            },
            [dict(), dict(period="2017-03"), dict(period="2017", grain="week")],
        ),
        (
            f"{GA4}:ga4",
            {
                "sessions": "source: mc, formula: SUM(sessions)",
                "not_set": "source: mc, formula: "
                "SUM(sessions) FILTER (WHERE landing_page = '(not set)')",
            },
            [dict()],
        ),
        (
            f"{GSC}:search_console",
            {
                "position": "source: mc, formula: AVG(position)",
                "queries": "source: mc, formula: COUNT(DISTINCT query)",
            },
            [dict()],
        ),
    ],
    ids=["mailchimp", "ga4", "search-console"],
)
def test_reports_from_the_cache_equal_reports_from_the_files(
    tmp_path: Path, source: str, kpis: dict[str, str], requests: list[dict]
) -> None:
    """Real exports through the Parquet cache (filled, then hit): the same values."""
    p = config(tmp_path, {"mc": source}, kpis)
    cache = str(tmp_path / "cache")
    for request in requests:
        want = run_report(load_config(p), Request(as_of=AS_OF, **request)).rows
        assert want["value"].null_count() < want.height, request
        for _ in ("fill", "hit"):
            got = run_report(load_config(p), Request(as_of=AS_OF, cache=cache, **request)).rows
            assert got.equals(want), request
