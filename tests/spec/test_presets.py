"""Presets: canonical columns, header aliases, summary rows, and the shapes of vendors' exports.

Each export shape is written by the test as the vendor's documentation and public files show
it (UTF-16 tab files, preambles, footers, grand-total rows); a source of `{path, preset}`
must read it as downloaded. Expected values come from the data written here.
"""

from __future__ import annotations

import codecs
from datetime import date
from pathlib import Path

import pytest

from kpicli import ConfigError, Request, UsageError, load_config, run_report
from kpicli.commands.sources import describe_sources
from kpicli.ingest.scan import scan_source
from kpicli.spec.presets import PRESETS, canonical_names, snake_case

from conftest import config, values

AS_OF = date(2026, 12, 31)

#: SPEC.md's table of presets and their canonical columns.
CANONICAL = {
    "google_ads": "campaign campaign_type campaign_status currency impressions clicks spend "
    "conversions revenue date",
    "meta_ads": "date date_end campaign reach impressions clicks spend results revenue",
    "linkedin_ads": "date campaign impressions clicks spend leads conversions",
    "microsoft_ads": "date campaign impressions clicks spend conversions revenue",
    "ga4": "sessions active_users new_users engaged_sessions session_duration engagement_time "
    "conversions revenue event_count date",
    "search_console": "query page country device date clicks impressions position",
    "hubspot_contacts": "record_id created_at lifecycle_stage lead_status original_source "
    "lead_at mql_at sql_at customer_at",
    "hubspot_deals": "record_id created_at close_date amount deal_stage pipeline is_closed_won "
    "original_source",
    "mailchimp": "campaign subject audience date recipients delivered bounces opens clicks "
    "unsubscribes complaints",
    "tiktok_ads": "date campaign spend impressions clicks conversions",
    "salesforce_opportunities": "opportunity account owner created_at close_date stage amount "
    "lead_source",
    "salesforce_leads": "owner company created_at lead_source status",
}


def utf16(text: str) -> bytes:
    return codecs.BOM_UTF16_LE + text.replace("\n", "\r\n").encode("utf-16-le")


# ---------------------------------------------------------------------------- the data


@pytest.mark.parametrize("name", sorted(CANONICAL))
def test_presets_have_the_canonical_columns(name: str) -> None:
    assert set(CANONICAL[name].split()) <= set(PRESETS[name].columns)
    for canonical, aliases in PRESETS[name].columns.items():
        assert aliases, canonical


def test_every_preset_is_in_the_spec() -> None:
    assert set(PRESETS) == set(CANONICAL)


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("Event count", "event_count"),
        ("Impr.", "impr"),
        ("Cost / conv.", "cost_conv"),
        ("Search lost IS (budget)", "search_lost_is_budget"),
        ("Requêtes les plus fréquentes", "requetes_les_plus_frequentes"),
        ("Send_Date", "send_date"),
        ("Pages/Visit", "pages_visit"),
        ("Is Deal Closed?", "is_deal_closed"),
        ("CTR", "ctr"),
    ],
)
def test_snake_case(header: str, name: str) -> None:
    assert snake_case(header) == name


def test_aliases_first_found_wins_and_wildcards() -> None:
    ads = PRESETS["google_ads"]
    # Clicks, or Interactions where there is no Clicks
    assert canonical_names(ads, ["Campaign", "Interactions", "Clicks"]) == [
        "campaign",
        "interactions",
        "clicks",
    ]
    assert canonical_names(ads, ["Campaign", "Interactions"]) == ["campaign", "clicks"]
    meta = PRESETS["meta_ads"]
    assert canonical_names(meta, ["Amount spent (EUR)", "Reporting starts"]) == ["spend", "date"]
    gsc = PRESETS["search_console"]
    assert canonical_names(gsc, ["Requêtes les plus fréquentes", "Clics", "Pays", "Appareil"]) == [
        "query",
        "clicks",
        "country",
        "device",
    ]
    # names never repeat: a second header that snake_cases to a taken name gets _2
    assert canonical_names(ads, ["Cost", "spend"]) == ["spend", "spend_2"]


def test_without_a_preset_headers_are_kept() -> None:
    assert canonical_names(None, ["Impr.", "Event count"]) == ["Impr.", "Event count"]


def test_unknown_preset_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("a\n1\n")
    p = config(
        tmp_path, "  a: {path: a.csv, preset: google_add}", "  n: {source: a, formula: COUNT(*)}"
    )
    with pytest.raises(ConfigError) as info:
        load_config(p)
    assert "unknown preset `google_add`" in info.value.message
    assert info.value.hint == "did you mean `google_ads`?"


# ---------------------------------------------------------------------------- Google Ads

GOOGLE_ADS_ROWS = [
    # campaign, type, budget type, impressions, clicks, cost, conversions, conv. value
    ("Brand", "Search", "Daily", "1,234", "56", "78.90", "3.00", "120.00"),
    ("Generic", "Search", "Campaign Total", "10,000", "100", "1,234.56", "10.00", "500.00"),
    ("Total brand", "Display", "Daily", "500", " --", "0.00", "0.00", "0.00"),
]


def google_ads_excel(tmp_path: Path) -> Path:
    header = "Campaign\tCampaign type\tBudget type\tImpr.\tClicks\tCost\tConversions\tConv. value"
    lines = [
        "Campaign report",
        "27 January 2026 - 23 February 2026",
        header,
        *("\t".join(r) for r in GOOGLE_ADS_ROWS),
        "Total: Campaigns\t\t\t11,734\t156\t1,313.46\t13.00\t620.00",
        "Total: Account\t\t\t11,734\t156\t1,313.46\t13.00\t620.00",
    ]
    path = tmp_path / "Campaign report.csv"
    path.write_bytes(utf16("\n".join(lines) + "\n"))
    return path


def test_google_ads_excel_download(tmp_path: Path) -> None:
    google_ads_excel(tmp_path)
    p = config(
        tmp_path,
        "  ads: {path: Campaign report.csv, preset: google_ads}",
        "  impressions: {source: ads, formula: SUM(impressions)}\n"
        "  clicks: {source: ads, formula: SUM(clicks)}\n"
        "  spend: {source: ads, formula: SUM(spend)}\n"
        "  revenue: {source: ads, formula: SUM(revenue)}\n"
        "  campaigns: {source: ads, formula: COUNT(*)}",
    )
    assert values(p) == {
        "impressions": 11_734,
        "clicks": 156,
        "spend": pytest.approx(1313.46, abs=1e-9),
        "revenue": 620.0,
        "campaigns": 3,  # "Campaign Total" budget and a campaign named "Total brand" are data
    }
    (report,) = describe_sources(load_config(p))
    f = report.files[0]
    assert (f.encoding, f.bom, f.delimiter, f.header_line) == ("utf-16-le", True, "\t", 3)
    assert f.rows_dropped == {"summary row `Total: …`": 2}
    assert f.period == {
        "text": "27 January 2026 - 23 February 2026",
        "start": "2026-01-27",
        "end": "2026-02-23",
    }
    for request in ({"period": "2026-02"}, {"compare": "previous", "period": "2026"}):
        with pytest.raises(UsageError) as info:
            values(p, **request)
        assert "source `ads` has no date column" in info.value.message


def test_google_ads_segmented_by_day_with_french_headers(tmp_path: Path) -> None:
    text = (
        "Rapport sur les campagnes\n1 janvier 2026 - 31 janvier 2026\n"
        "Jour,Campagne,Impr.,Clics,Coût\n"
        '2026-01-05,Marque,"1,000",10,12.50\n2026-01-20,Marque,500,5,7.25\n'
        'Total: Compte,,"1,500",15,19.75\n'
    )
    (tmp_path / "fr.csv").write_text(text, encoding="utf-8")
    p = config(
        tmp_path,
        "  ads: {path: fr.csv, preset: google_ads, date: date}",
        "  spend: {source: ads, formula: SUM(spend)}\n"
        "  clicks: {source: ads, formula: SUM(clicks)}",
    )
    assert values(p, period="2026-01") == {"spend": pytest.approx(19.75), "clicks": 15}
    result = run_report(load_config(p), Request(as_of=AS_OF, period="2026-01", grain="week"))
    weekly = result.rows.filter(result.rows["kpi"] == "clicks")["value"].to_list()
    assert weekly == [None, 10, None, 5, None]  # SUM over a week without rows is null


def test_user_options_override_the_preset(tmp_path: Path) -> None:
    google_ads_excel(tmp_path)
    p = config(
        tmp_path,
        "  ads:\n    path: Campaign report.csv\n    preset: google_ads\n"
        "    rename: {'Impr.': shown, spend: cost}\n    filter: \"campaign_type = 'Search'\"",
        "  shown: {source: ads, formula: SUM(shown)}\n  cost: {source: ads, formula: SUM(cost)}",
    )
    assert values(p) == {"shown": 11_234, "cost": pytest.approx(1313.46)}


# ---------------------------------------------------------------------------- other ad platforms


def test_linkedin_campaign_manager(tmp_path: Path) -> None:
    text = (
        "Campaign Performance Report (in UTC)\n"
        "Report Start: Jan 1, 2026, 12:00 AM\nReport End: Jan 31, 2026, 11:59 PM\n"
        "Date Generated: Feb 2, 2026, 9:14 AM\n\n"
        "Start Date (in UTC)\tCampaign Name\tTotal Spent\tImpressions\tClicks\tLeads\tConversions\n"
        "1/5/2026\tWebinar\t120.50\t10000\t50\t4\t1\n"
        "1/20/2026\tWebinar\t99.50\t8000\t40\t3\t0\n"
        "2/1/2026\tEbook\t10.00\t100\t1\t0\t0\n"
    )
    (tmp_path / "linkedin.csv").write_bytes(utf16(text))
    p = config(
        tmp_path,
        "  li: {path: linkedin.csv, preset: linkedin_ads, date: date}",
        "  spend: {source: li, formula: SUM(spend)}\n  leads: {source: li, formula: SUM(leads)}",
    )
    assert values(p, period="2026-01") == {"spend": 220.0, "leads": 7}
    (report,) = describe_sources(load_config(p))
    assert report.date_format == "%m/%d/%Y"
    assert report.files[0].period["start"] == "2026-01-01"
    assert report.files[0].period["end"] == "2026-01-31"


MICROSOFT = (
    '"Report Name: Campaign performance"\n"Report Time: 1/1/2026 - 1/31/2026"\n'
    '"Time Zone: (GMT-08:00) Pacific Time (US & Canada); Tijuana"\n'
    '"Last Completed Available Day: 2/1/2026 2:00:00 AM"\n'
    '"Last Completed Available Hour: 2/1/2026 2:00:00 AM"\n"Report Aggregation: Daily"\n'
    '"Report Filter: "\n"Potential Incomplete Data: false"\n"Rows: 2"\n\n'
    '"Gregorian date","Campaign name","Impressions","Clicks","Spend","Conversions","Revenue"\n'
    '"1/13/2026","Brand","1,000","10","12.34","1","50.00"\n'
    '"1/14/2026","Brand","2,000","20","23.45","2","75.00"\n'
    '\n"©2026 Microsoft Corporation. All rights reserved. "\n'
)


def test_microsoft_ads_preamble_and_footer(tmp_path: Path) -> None:
    (tmp_path / "ms.csv").write_bytes(MICROSOFT.replace("\n", "\r\n").encode("utf-8-sig"))
    p = config(
        tmp_path,
        "  ms: {path: ms.csv, preset: microsoft_ads, date: date}",
        "  spend: {source: ms, formula: SUM(spend)}\n"
        "  impressions: {source: ms, formula: SUM(impressions)}\n"
        "  rows: {source: ms, formula: COUNT(*)}",
    )
    assert values(p) == {"spend": pytest.approx(35.79), "impressions": 3000, "rows": 2}
    (report,) = describe_sources(load_config(p))
    f = report.files[0]
    assert f.header_line == 11 and f.stated_rows == 2 and f.rows_read == 2
    assert f.rows_dropped == {"blank line": 1, "summary row `copyright footer`": 1}
    assert f.period == {"text": "1/1/2026 - 1/31/2026", "start": "2026-01-01", "end": "2026-01-31"}
    assert report.problems == []


def test_meta_ads_any_currency(tmp_path: Path) -> None:
    text = (
        '"Reporting starts","Reporting ends","Campaign name","Link clicks","Amount spent (EUR)"\n'
        '"2026-01-01","2026-01-31","Prospecting","120","1 234,50"\n'
        '"2026-01-01","2026-01-31","Retargeting","30","65,50"\n'
    )
    (tmp_path / "meta.csv").write_text(text)
    p = config(
        tmp_path,
        "  meta: {path: meta.csv, preset: meta_ads, date: date}",
        "  spend: {source: meta, formula: SUM(spend)}\n"
        "  clicks: {source: meta, formula: SUM(clicks)}",
    )
    assert values(p) == {"spend": pytest.approx(1300.0), "clicks": 150}


# ---------------------------------------------------------------------------- analytics, CRM


def test_ga4_exploration(tmp_path: Path) -> None:
    text = (
        "# ----------------------------------------\n# Free form 1\n# Account: Demo\n"
        "# Property: Demo\n# ----------------------------------------\n# \n"
        "# Start date: 20240101\n# End date: 20240131\n\n"
        "Session default channel group,Date,Sessions,Engaged sessions,Event count\n"
        ",,1500,900,5000,Grand total\n"
        "Organic Search,20240105,1000,600,3000\nDirect,20240106,500,300,2000\n"
    )
    (tmp_path / "ga4.csv").write_text(text, newline="")
    p = config(
        tmp_path,
        "  ga4: {path: ga4.csv, preset: ga4, date: date}",
        "  sessions: {source: ga4, formula: SUM(sessions)}\n"
        "  engaged: {source: ga4, formula: SUM(engaged_sessions)}",
    )
    assert values(p) == {"sessions": 1500, "engaged": 900}  # the grand total row is left out
    result = run_report(load_config(p), Request(as_of=AS_OF, by=("session_default_channel_group",)))
    sessions = result.rows.filter(result.rows["kpi"] == "sessions")
    by = dict(zip(sessions["session_default_channel_group"], sessions["value"], strict=True))
    assert by == {"Direct": 500, "Organic Search": 1000}
    (report,) = describe_sources(load_config(p))
    f = report.files[0]
    assert f.header_line == 10
    assert f.rows_dropped == {"summary row `Grand total`": 1}
    assert f.period == {"text": "20240101 - 20240131", "start": "2024-01-01", "end": "2024-01-31"}
    assert report.date_format == "%Y%m%d"


def test_search_console_in_french(tmp_path: Path) -> None:
    text = (
        "Requêtes les plus fréquentes,Clics,Impressions,CTR,Position\n"
        "abri de jardin,120,4000,3%,4.5\nserre,30,1000,3%,8.25\n"
    )
    (tmp_path / "Requêtes.csv").write_text(text, encoding="utf-8")
    p = config(
        tmp_path,
        "  gsc: {path: Requêtes.csv, preset: search_console}",
        "  clicks: {source: gsc, formula: SUM(clicks)}\n"
        "  queries: {source: gsc, formula: COUNT(query)}",
    )
    sf = scan_source(load_config(p), "gsc")
    assert list(sf.schema) == ["query", "clicks", "impressions", "ctr", "position"]
    assert sf.origins["query"] == "Requêtes les plus fréquentes"
    (report,) = describe_sources(load_config(p))
    assert report.rows == 2 and report.problems == []


def test_hubspot_contacts_with_repeated_headers(tmp_path: Path) -> None:
    text = (
        '"Record ID","First Name","Create Date","Lifecycle Stage",'
        '"Became a Marketing Qualified Lead Date","Associated Company","Create Date"\n'
        '"101","Ann","2026-01-28 12:48","lead","","Acme","2020-05-01 09:00"\n'
        '"102","Bob","2026-02-03 08:15","marketingqualifiedlead","2026-02-10 10:00","Beta",'
        '"2019-03-02 10:00"\n'
    )
    (tmp_path / "contacts.csv").write_text(text)
    p = config(
        tmp_path,
        "  contacts: {path: contacts.csv, preset: hubspot_contacts, date: created_at}",
        "  leads: {source: contacts, formula: COUNT(*)}\n"
        "  mqls: {source: contacts, formula: COUNT(*), date: mql_at}",
    )
    assert values(p, period="2026-02") == {"leads": 1, "mqls": 1}
    sf = scan_source(load_config(p), "contacts")
    assert "create_date_2" in sf.schema and sf.origins["create_date_2"] == "Create Date_2"
    assert sf.origins["created_at"] == "Create Date"


def test_salesforce_style_footer_without_preset(tmp_path: Path) -> None:
    text = (
        '"Opportunity Name","Amount","Close Date","Stage"\n'
        '"Total rebrand","1,000.00","1/15/2026","Closed Won"\n'
        '"B","2,500.50","2/3/2026","Prospecting"\n'
        '\n"Grand Totals (2 records)","3,500.50","",""\n\n'
        '"Confidential Information - Do Not Distribute"\n'
        '"Copyright (c) 2000-2026 salesforce.com, inc. All rights reserved."\n'
    )
    (tmp_path / "report.csv").write_text(text)
    p = config(
        tmp_path,
        "  sf: {path: report.csv, date: Close Date}",
        "  amount: {source: sf, formula: SUM(Amount)}\n  deals: {source: sf, formula: COUNT(*)}",
    )
    assert values(p) == {"amount": pytest.approx(3500.5), "deals": 2}
    (report,) = describe_sources(load_config(p))
    assert report.files[0].rows_dropped == {
        "blank line": 2,
        "summary row `Grand total`": 1,
        "summary row `confidentiality footer`": 1,
        "summary row `copyright footer`": 1,
    }


def test_mailchimp_audience_and_rates(tmp_path: Path) -> None:
    text = (
        "Title,Subject,Audience,Send Date,Total Recipients,Successful Deliveries,"
        "Total Bounces,Unique Opens,Open Rate,Unique Clicks,Unsubscribes,Abuse Complaints\n"
        'Launch,Hello,Customers,"Jun 01, 2023 09:46 pm",100,98,2,40,40.82%,10,1,0\n'
        'Follow-up,Again,Customers,"Jun 13, 2023 10:00 am",100,99,1,30,30.30%,5,0,0\n'
    )
    (tmp_path / "mc.csv").write_text(text)
    p = config(
        tmp_path,
        "  mc: {path: mc.csv, preset: mailchimp, date: date}",
        "  open_rate: {source: mc, formula: SUM(opens) / SUM(delivered)}\n"
        "  rate: {source: mc, formula: MAX(open_rate)}",
    )
    got = values(p, period="2023-06")
    assert got["open_rate"] == pytest.approx(70 / 197)
    assert got["rate"] == pytest.approx(0.4082)
