"""Known export formats, as data: header aliases, summary-row patterns, column types.

A preset is a table, not a code path: the reader (``read.py``) does the same thing for every
export, and a preset only tells it which verbatim headers are which canonical column, which
extra rows are summaries, and which canonical columns are numbers, dates or booleans even when
a file has no row to show it (an empty export). Encoding, delimiter, header row, decimal and
date formats are detected for every source, preset or not; an explicit option always wins.

Header aliases are matched on the header's snake_case form (``Send_Date``, ``Send Date`` and
``send date`` are one alias), a ``*`` matching anything (``Amount spent (*)`` for any
currency); the first alias present in a file wins, so ``("Clicks", "Interactions")`` means
"Interactions where there is no Clicks". Every other header becomes snake_case.

Summary rows are matched on a row's first cell as a whole (never a substring anywhere: a
Google Ads campaign whose budget type is ``Campaign Total`` is a real campaign); ``alone``
patterns also need the rest of the row empty (footer lines, ``No data available.``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from fnmatch import fnmatchcase


@dataclass(frozen=True)
class SummaryRow:
    """A row that is not data: dropped, and counted under ``label`` for `kpi sources`."""

    label: str
    pattern: str  # regex matched against the whole first cell, case-insensitively
    alone: bool = False  # the rest of the row must be empty too


@dataclass(frozen=True)
class Preset:
    """A known export format."""

    name: str
    title: str
    columns: dict[str, tuple[str, ...]]  # canonical name → verbatim headers, first found wins
    summary_rows: tuple[SummaryRow, ...] = ()
    #: canonical name → number|date|boolean|percent_points (a rate written 23.5 for 23.5 %)
    #: |duration (``1:40``, ``00:01:40``: seconds)
    types: dict[str, str] = field(default_factory=dict)
    #: the canonical column that dates the rows, where a download has it: a source with this
    #: preset and no ``date:`` is dated by it (see kpicli.ingest.preset_dates)
    date: str | None = None


#: Summary rows of any export (with or without a preset).
SUMMARY_ROWS: tuple[SummaryRow, ...] = (
    SummaryRow("Total: …", r"totals?(?:\s*:.*)?"),
    SummaryRow("Grand total", r"grand totals?(?:\s*\(\d+ records?\))?"),
    SummaryRow("No data available.", r"no data available\.?", alone=True),
    SummaryRow("copyright footer", r"(?:©|\(c\)\s|copyright\s).*", alone=True),
    SummaryRow("confidentiality footer", r"confidential information.*", alone=True),
)

#: Lines of a preamble that state the period a report covers (matched on the line's text,
#: without a leading ``#``). Groups: ``start``, ``end``, ``range`` (two dates around a dash),
#: ``label`` (a period without dates, such as Google Ads' ``All time``), ``rows``.
PREAMBLE_FACTS: tuple[str, ...] = (
    r"(?:report\s+)?start(?:\s+date)?\s*:\s*(?P<start>.+)",
    r"(?:report\s+)?end(?:\s+date)?\s*:\s*(?P<end>.+)",
    r"(?:report time|date range|reporting period|time period|period|période|plage de dates)"
    r"\s*:\s*(?P<range>.+)",
    r"(?:[^:]*:\s*)?(?P<range>\S.*\d{4}\s+[-–]\s+\S.*\d{4})",
    r"(?P<label>all time|lifetime|today|yesterday|last \d+ days|this month|last month)",
    r"rows\s*:\s*(?P<rows>\d+)",
)

_NUMBERS = "number"

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "google_ads",
            "Google Ads report (CSV or Excel CSV download)",
            {
                "campaign": ("Campaign", "Campagne"),
                "campaign_type": ("Campaign type", "Type de campagne"),
                "campaign_status": ("Campaign status", "État de la campagne"),
                "currency": ("Currency code", "Currency", "Code de la devise"),
                "impressions": ("Impr.", "Impressions"),
                "clicks": ("Clicks", "Clics", "Interactions"),
                "spend": ("Cost", "Coût"),
                "conversions": ("Conversions",),
                "revenue": ("Conv. value", "Conversion value", "Valeur de conv."),
                "date": ("Day", "Jour"),
            },
            date="date",
            types={
                "impressions": _NUMBERS,
                "clicks": _NUMBERS,
                "spend": _NUMBERS,
                "conversions": _NUMBERS,
                "revenue": _NUMBERS,
                "date": "date",
            },
        ),
        Preset(
            "meta_ads",
            "Meta Ads Manager export",
            {
                "date": ("Reporting starts", "Day", "Début des rapports"),
                "date_end": ("Reporting ends", "Fin des rapports"),
                "campaign": ("Campaign name", "Nom de la campagne"),
                "reach": ("Reach", "Couverture"),
                "impressions": ("Impressions",),
                "clicks": ("Link clicks", "Clics sur un lien"),
                "spend": ("Amount spent (*)", "Amount spent", "Montant dépensé (*)"),
                "results": ("Results", "Résultats"),
                "revenue": (
                    "Purchases conversion value",
                    "Website purchases conversion value",
                    "Conversion value",
                ),
            },
            date="date",
            types={
                "date": "date",
                "date_end": "date",
                "reach": _NUMBERS,
                "impressions": _NUMBERS,
                "clicks": _NUMBERS,
                "spend": _NUMBERS,
                "results": _NUMBERS,
                "revenue": _NUMBERS,
            },
        ),
        Preset(
            "linkedin_ads",
            "LinkedIn Campaign Manager performance report",
            {
                "date": ("Start Date (in UTC)", "Start Date"),
                "campaign": ("Campaign Name", "Campaign"),
                "impressions": ("Impressions",),
                "clicks": ("Clicks",),
                "spend": ("Total Spent", "Amount Spent"),
                "leads": ("Leads",),
                "conversions": ("Conversions",),
            },
            date="date",
            types={
                "date": "date",
                "impressions": _NUMBERS,
                "clicks": _NUMBERS,
                "spend": _NUMBERS,
                "leads": _NUMBERS,
                "conversions": _NUMBERS,
            },
        ),
        Preset(
            "microsoft_ads",
            "Microsoft Advertising report download",
            {
                "date": ("Gregorian date", "Date", "Day"),
                "campaign": ("Campaign name", "Campaign"),
                "impressions": ("Impressions", "Impr."),
                "clicks": ("Clicks",),
                "spend": ("Spend", "Cost"),
                "conversions": ("Conversions", "Conv."),
                "revenue": ("Revenue",),
            },
            summary_rows=(
                SummaryRow(
                    "copyright footer", r".*microsoft corporation\. all rights reserved\..*", True
                ),
            ),
            date="date",
            types={
                "date": "date",
                "impressions": _NUMBERS,
                "clicks": _NUMBERS,
                "spend": _NUMBERS,
                "conversions": _NUMBERS,
                "revenue": _NUMBERS,
            },
        ),
        Preset(
            "ga4",
            "Google Analytics 4 report or exploration download",
            {
                "sessions": ("Sessions",),
                "active_users": ("Active users", "Utilisateurs actifs"),
                "new_users": ("New users", "Nouveaux utilisateurs"),
                "engaged_sessions": ("Engaged sessions", "Sessions avec engagement"),
                "session_duration": ("Average session duration",),
                "engagement_time": (
                    "Average engagement time per session",
                    "Average engagement time",
                ),
                "conversions": ("Key events", "Conversions", "Événements clés"),
                "revenue": ("Total revenue", "Revenus totaux"),
                "event_count": ("Event count", "Nombre d'événements"),
                "date": ("Date",),
            },
            date="date",
            types={
                "sessions": _NUMBERS,
                "active_users": _NUMBERS,
                "new_users": _NUMBERS,
                "engaged_sessions": _NUMBERS,
                "session_duration": "duration",
                "engagement_time": "duration",
                "conversions": _NUMBERS,
                "revenue": _NUMBERS,
                "event_count": _NUMBERS,
                "date": "date",
            },
        ),
        Preset(
            "search_console",
            "Google Search Console performance export (English or French)",
            {
                "query": ("Top queries", "Query", "Queries", "Requêtes les plus fréquentes"),
                "page": ("Top pages", "Page", "Pages", "Pages les plus populaires"),
                "country": ("Country", "Pays"),
                "device": ("Device", "Appareil"),
                "date": ("Date",),
                "clicks": ("Clicks", "Clics"),
                "impressions": ("Impressions",),
                "ctr": ("CTR",),
                "position": ("Position",),
            },
            date="date",
            types={
                "date": "date",
                "clicks": _NUMBERS,
                "impressions": _NUMBERS,
                "ctr": _NUMBERS,
                "position": _NUMBERS,
            },
        ),
        Preset(
            "hubspot_contacts",
            "HubSpot contacts export",
            {
                "record_id": ("Record ID", "Contact ID"),
                "created_at": ("Create Date", "Created Date"),
                "lifecycle_stage": ("Lifecycle Stage",),
                "lead_status": ("Lead Status",),
                "original_source": ("Original Source", "Original Traffic Source"),
                "lead_at": ("Became a Lead Date",),
                "mql_at": ("Became a Marketing Qualified Lead Date",),
                "sql_at": ("Became a Sales Qualified Lead Date",),
                "customer_at": ("Became a Customer Date",),
            },
            date="created_at",
            types={
                "created_at": "date",
                "lead_at": "date",
                "mql_at": "date",
                "sql_at": "date",
                "customer_at": "date",
            },
        ),
        Preset(
            "hubspot_deals",
            "HubSpot deals export",
            {
                "record_id": ("Record ID", "Deal ID"),
                "created_at": ("Create Date", "Created Date"),
                "close_date": ("Close Date",),
                "amount": ("Amount",),
                "deal_stage": ("Deal Stage",),
                "pipeline": ("Pipeline",),
                "is_closed_won": ("Is Closed Won",),
                "original_source": ("Original Traffic Source", "Original Source"),
            },
            date="created_at",
            types={
                "created_at": "date",
                "close_date": "date",
                "amount": _NUMBERS,
                "is_closed_won": "boolean",
            },
        ),
        Preset(
            "mailchimp",
            "Mailchimp campaigns report",
            {
                "campaign": ("Title", "Campaign Title", "Campaign Name"),
                "subject": ("Subject", "Subject Line"),
                "audience": ("List", "Audience", "List Name", "Audience Name"),
                "date": ("Send Date", "Send Time"),
                "recipients": ("Total Recipients", "Recipients"),
                "delivered": ("Successful Deliveries",),
                "bounces": ("Total Bounces",),
                "opens": ("Unique Opens",),
                "clicks": ("Unique Clicks",),
                "unsubscribes": ("Unsubscribes",),
                "complaints": ("Abuse Complaints",),
            },
            date="date",
            types={
                "date": "date",
                "recipients": _NUMBERS,
                "delivered": _NUMBERS,
                "bounces": _NUMBERS,
                "opens": _NUMBERS,
                "clicks": _NUMBERS,
                "unsubscribes": _NUMBERS,
                "complaints": _NUMBERS,
                "open_rate": "percent_points",
                "click_rate": "percent_points",
                "bounce_rate": "percent_points",
                "goal_conversion_rate": "percent_points",
                "ecommerce_conversion_rate": "percent_points",
                "time_on_site": "duration",
            },
        ),
    )
}


def snake_case(header: str) -> str:
    """``Event count`` → ``event_count``; ``Requêtes`` → ``requetes``; ``Cost / conv.`` →
    ``cost_conv``. Empty when the header has no letter or digit."""
    text = unicodedata.normalize("NFKD", header)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text) if not text.isupper() else text
    return re.sub(r"[^0-9a-zA-Z]+", "_", text).strip("_").lower()


def _matches(key: str, alias: str) -> bool:
    if "*" in alias:
        pattern = snake_case(alias.replace("*", " 0wildcard0 ")).replace("0wildcard0", "*")
        return fnmatchcase(key, pattern)
    return key == snake_case(alias)


def canonical_names(preset: Preset | None, headers: list[str]) -> list[str]:
    """The column names a preset gives to a file's (deduplicated) headers, in order.

    Without a preset, headers are kept as they are. With one, a header named by the preset
    takes its canonical name (the first alias present wins), any other becomes snake_case;
    names that would repeat get ``_2``, ``_3``.
    """
    if preset is None:
        return list(headers)
    keys = [snake_case(h) for h in headers]
    names: list[str | None] = [None] * len(headers)
    for canonical, aliases in preset.columns.items():
        for alias in aliases:
            hit = next(
                (i for i, k in enumerate(keys) if names[i] is None and _matches(k, alias)), None
            )
            if hit is not None:
                names[hit] = canonical
                break
    out: list[str] = []
    taken = {n for n in names if n is not None}
    for i, name in enumerate(names):
        if name is None:
            base = keys[i] or f"column_{i + 1}"
            name, n = base, 1
            while name in taken or name in out:
                n += 1
                name = f"{base}_{n}"
        out.append(name)
    return out
