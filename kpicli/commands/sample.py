"""The demo marketing exports of ``sample_data/`` (and of ``kpi init --sample``), generated.

A fictional B2B SaaS company ("Acme KPI") advertises on Google Ads, Meta Ads and LinkedIn,
collects leads in its CRM, sends about two emails a week and measures its website with a
GA4-like tool. :func:`generate` writes one CSV per export into a folder:

    ads_google_ads.csv, ads_meta_ads.csv, ads_linkedin_ads.csv   daily ad platform stats
    crm_leads.csv                                                one row per lead
    email_campaigns.csv                                          one row per email send
    web_analytics.csv                                            daily sessions per channel x page

It covers 2025-01-01 to 2026-11-30 (inclusive, daily) and is fully deterministic: the
standard library only, one generator seeded with 20250101 (a ``random.Random`` subclass that adds
Poisson and binomial draws) consumed in a fixed order, so running it twice gives byte-identical
files.

Deliberate edge cases, so that null handling can be seen in reports:

* ``meta_ads`` / ``retargeting`` is paused 2025-08-04..2025-08-17 (rows of zeros);
* every ``linkedin_ads`` campaign is paused 2025-12-22..2026-01-04 (rows of zeros, no
  LinkedIn leads), so LinkedIn CTR, CPC, CPA and CPL are 0 / 0 on those days;
* ``competitor_search`` (Google) starts 2025-06-02, ``abm_retargeting`` (LinkedIn) 2025-03-03;
* the email send of 2025-10-16 went to a broken imported list: every message bounced
  (0 delivered, so open, click and unsubscribe rates are 0 / 0);
* the CTA widget of ``/blog/cost-per-lead`` was broken 2026-03-09..2026-03-12
  (0 cta_views and 0 cta_clicks on that page).

Anomalies for ``--anomalies`` and ``kpi anomalies`` to find, in the last week (after
2026-11-22, the latest ``--as-of`` of the README's examples; ``sample_data/ANOMALIES.md``
lists them). Each changes only its own rows: the random draws are the same as without it,
so every other value of every file is unchanged:

* 2026-11-24: a tracking outage: ``ads_linkedin_ads.csv`` has no rows that day (the
  campaigns ran: LinkedIn leads and sessions are there);
* 2026-11-25..2026-11-26: a CTR collapse on Meta: every Meta campaign's impressions x6
  (ads moved to a low-quality placement), the same clicks;
* 2026-11-27: a cost spike on Google: ``generic_search`` spend x4 (a bid-rule misfire on
  Black Friday), the same clicks and leads;
* 2026-11-30: a lead spike from Meta: 48 bot sign-ups on the webinar lead form (appended
  after the day's leads, so no other lead id changes; none qualifies).

The data is generated rather than shipped, so the wheel stays small: ``kpi init --sample``
calls :func:`generate`, and ``python sample_data/generate.py`` rewrites the committed copy
in ``sample_data/`` (the same bytes).
"""

from __future__ import annotations

import csv
import math
import random
from datetime import date, timedelta
from pathlib import Path

START = date(2025, 1, 1)
END = date(2026, 11, 30)
DAYS = [START + timedelta(days=i) for i in range((END - START).days + 1)]
N_DAYS = len(DAYS)
#: The files :func:`generate` writes, in order.
FILE_NAMES = (
    "ads_google_ads.csv",
    "ads_meta_ads.csv",
    "ads_linkedin_ads.csv",
    "crm_leads.csv",
    "email_campaigns.csv",
    "web_analytics.csv",
)

# --- shared shapes ------------------------------------------------------------------------

# Monday .. Sunday. B2B: weekends are quiet.
WEEKDAY_ADS = [1.00, 1.05, 1.05, 1.00, 0.92, 0.62, 0.58]
WEEKDAY_WEB = [1.08, 1.12, 1.10, 1.05, 0.92, 0.55, 0.50]
MONTH = {
    1: 0.97,
    2: 1.00,
    3: 1.04,
    4: 1.00,
    5: 1.02,
    6: 0.97,
    7: 0.88,
    8: 0.80,
    9: 1.04,
    10: 1.08,
    11: 1.08,
    12: 0.85,
}


def progress(d: date) -> float:
    """0.0 on the first day, 1.0 on the last."""
    return (d - START).days / (N_DAYS - 1)


def growth(d: date, total: float) -> float:
    """Linear growth from 1.0 to 1.0 + total over the whole range."""
    return 1.0 + total * progress(d)


class Rng(random.Random):
    """random.Random plus the few distributions the generator needs (stdlib only)."""

    def noise(self, sd: float) -> float:
        """A multiplicative noise factor around 1, clipped to stay positive and plausible."""
        return min(max(self.gauss(1.0, sd), 1.0 - 3 * sd), 1.0 + 3 * sd)

    def poisson(self, lam: float) -> int:
        if lam <= 0:
            return 0
        if lam < 40:
            limit, k, p = math.exp(-lam), 0, 1.0
            while True:
                p *= self.random()
                if p <= limit:
                    return k
                k += 1
        return max(0, round(self.gauss(lam, math.sqrt(lam))))

    def binomial(self, n: int, p: float) -> int:
        if n <= 0 or p <= 0:
            return 0
        if p >= 1:
            return n
        if n <= 60:
            return sum(1 for _ in range(n) if self.random() < p)
        mean = n * p
        return min(n, max(0, round(self.gauss(mean, math.sqrt(mean * (1 - p))))))

    def pick(self, weights: dict[str, float]) -> str:
        """Weighted choice over a dict (insertion order is fixed, so this is deterministic)."""
        r = self.random() * sum(weights.values())
        for key, w in weights.items():
            r -= w
            if r < 0:
                return key
        return key


def money(x: float) -> str:
    return f"{x:.2f}"


def iso(d: date | None) -> str:
    return d.isoformat() if d is not None else ""


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def in_range(d: date, first: str, last: str) -> bool:
    return date.fromisoformat(first) <= d <= date.fromisoformat(last)


# --- ads ----------------------------------------------------------------------------------

# campaign: daily budget (EUR), cost per click, click-through rate, conversion rate,
# value per conversion (EUR), first day
CAMPAIGNS = {
    "google_ads": {
        "brand_search": (55, 0.85, 0.085, 0.070, 110, "2025-01-01"),
        "generic_search": (115, 2.20, 0.034, 0.034, 95, "2025-01-01"),
        "competitor_search": (40, 3.10, 0.024, 0.024, 95, "2025-06-02"),
        "retargeting_display": (32, 0.55, 0.0065, 0.018, 80, "2025-01-01"),
    },
    "meta_ads": {
        "prospecting": (75, 0.55, 0.011, 0.014, 55, "2025-01-01"),
        "retargeting": (32, 0.45, 0.018, 0.033, 65, "2025-01-01"),
        "lead_gen_webinar": (40, 0.70, 0.012, 0.055, 40, "2025-01-01"),
    },
    "linkedin_ads": {
        "sponsored_content": (65, 6.00, 0.0072, 0.020, 190, "2025-01-01"),
        "lead_gen_whitepaper": (85, 7.00, 0.0090, 0.110, 120, "2025-01-01"),
        "abm_retargeting": (28, 5.00, 0.0105, 0.030, 240, "2025-03-03"),
    },
}
PAUSED = {
    ("meta_ads", "retargeting"): ("2025-08-04", "2025-08-17"),
    ("linkedin_ads", "sponsored_content"): ("2025-12-22", "2026-01-04"),
    ("linkedin_ads", "lead_gen_whitepaper"): ("2025-12-22", "2026-01-04"),
    ("linkedin_ads", "abm_retargeting"): ("2025-12-22", "2026-01-04"),
}

# Anomalies (see the module's docstring): applied after the day's draws, never instead.
#: (channel, day) whose rows are missing from the export.
OUTAGE = {("linkedin_ads", date(2026, 11, 24))}
#: (channel, day) -> factor on impressions (clicks unchanged: the CTR collapses).
IMPRESSIONS_FACTOR = {("meta_ads", date(2026, 11, 25)): 6.0, ("meta_ads", date(2026, 11, 26)): 6.0}
#: (channel, campaign, day) -> factor on the spend written (clicks and leads unchanged).
SPEND_FACTOR = {("google_ads", "generic_search", date(2026, 11, 27)): 4.0}
#: (channel, day) -> bot leads appended after the day's leads (webinar form, never qualified).
BOT_LEADS = {("meta_ads", date(2026, 11, 30)): 48}

ADS_HEADER = [
    "date",
    "channel",
    "campaign",
    "impressions",
    "clicks",
    "spend",
    "conversions",
    "revenue",
]


def gen_ads(rng: Rng) -> tuple[dict[str, list[list]], dict, dict]:
    """Daily rows per campaign, by channel; plus spend and clicks per (day, channel)."""
    ads_rows: dict[str, list[list]] = {ch: [] for ch in CAMPAIGNS}
    spend_by: dict[tuple[date, str], float] = {}
    clicks_by: dict[tuple[date, str], int] = {}

    for d in DAYS:
        season = WEEKDAY_ADS[d.weekday()] * MONTH[d.month] * growth(d, 0.25)
        for channel, campaigns in CAMPAIGNS.items():
            for campaign, (budget, cpc, ctr, cvr, value, first) in campaigns.items():
                if d < date.fromisoformat(first):
                    continue
                paused = PAUSED.get((channel, campaign))
                if paused and in_range(d, *paused):
                    ads_rows[channel].append(
                        [iso(d), channel, campaign, 0, 0, money(0), 0, money(0)]
                    )
                    continue
                spend = round(budget * season * rng.noise(0.10), 2)
                clicks = rng.poisson(spend / (cpc * rng.noise(0.08)))
                impressions = (
                    max(clicks, round(clicks / (ctr * rng.noise(0.10))))
                    if clicks
                    else rng.poisson(spend / cpc / ctr)
                )
                conversions = rng.binomial(clicks, cvr * rng.noise(0.15))
                revenue = round(conversions * value * rng.noise(0.20), 2) if conversions else 0.0
                spend_by[d, channel] = spend_by.get((d, channel), 0.0) + spend
                clicks_by[d, channel] = clicks_by.get((d, channel), 0) + clicks
                if (channel, d) in OUTAGE:
                    continue
                impressions = round(impressions * IMPRESSIONS_FACTOR.get((channel, d), 1.0))
                spend = round(spend * SPEND_FACTOR.get((channel, campaign, d), 1.0), 2)
                ads_rows[channel].append(
                    [
                        iso(d),
                        channel,
                        campaign,
                        impressions,
                        clicks,
                        money(spend),
                        conversions,
                        money(revenue),
                    ]
                )
    return ads_rows, spend_by, clicks_by


# --- email --------------------------------------------------------------------------------

# campaign series: share of the list targeted, unique open rate, click rate (of delivered)
THURSDAY_SERIES = ["product_update", "promo_offer", "webinar_invite", "nurture_case_study"]
SERIES = {
    "weekly_newsletter": (1.00, 0.31, 0.032),
    "product_update": (0.80, 0.35, 0.041),
    "promo_offer": (0.60, 0.23, 0.027),
    "webinar_invite": (0.50, 0.27, 0.045),
    "nurture_case_study": (0.35, 0.41, 0.052),
}
BROKEN_SEND = date(2025, 10, 16)

EMAIL_HEADER = [
    "date",
    "campaign",
    "channel",
    "sent",
    "delivered",
    "bounces",
    "opens",
    "clicks",
    "unsubscribes",
]


def gen_email(rng: Rng) -> tuple[list[list], dict[date, int]]:
    """One row per send (Tuesday newsletter, Thursday rotation); plus clicks per day."""
    email_rows: list[list] = []
    email_clicks_by: dict[date, int] = {}
    thursday_index = 0
    for d in DAYS:
        holiday = (d.month == 12 and d.day >= 22) or (d.month == 1 and d.day <= 2)
        if d.weekday() == 1:
            series = "weekly_newsletter"
        elif d.weekday() == 3:
            series = THURSDAY_SERIES[thursday_index % len(THURSDAY_SERIES)]
            thursday_index += 1
        else:
            continue
        if holiday:
            continue
        share, open_rate, click_rate = SERIES[series]
        subscribers = 11000 + 8500 * progress(d)
        sent = round(subscribers * share * rng.noise(0.03))
        if d == BROKEN_SEND:
            # sent to a freshly imported trade-show list whose addresses all bounced
            sent = round(1400 * rng.noise(0.05))
            bounces, opens, clicks, unsubscribes = sent, 0, 0, 0
        else:
            summer = 0.95 if d.month in (7, 8) else 1.0
            unsub_rate = 0.0022 * (1.6 if series == "promo_offer" else 1.0)
            bounces = rng.binomial(sent, 0.011 * rng.noise(0.30))
            delivered = sent - bounces
            opens = rng.binomial(delivered, open_rate * summer * rng.noise(0.10))
            clicks = rng.binomial(opens, click_rate / open_rate * rng.noise(0.15))
            unsubscribes = rng.binomial(delivered, unsub_rate * rng.noise(0.35))
        email_rows.append(
            [iso(d), series, "email", sent, sent - bounces, bounces, opens, clicks, unsubscribes]
        )
        email_clicks_by[d] = clicks
    return email_rows, email_clicks_by


# --- CRM leads ----------------------------------------------------------------------------

SOURCE_LABEL = {
    "google_ads": "Paid Search",
    "meta_ads": "Paid Social",
    "linkedin_ads": "Paid Social",
    "organic_search": "Organic Search",
    "email": "Email Marketing",
    "direct": "Direct Traffic",
    "referral": "Referrals",
}
# base cost per lead for paid channels (start, end of range): Meta slowly gets worse
PAID_CPL = {"google_ads": (33.0, 30.0), "meta_ads": (30.0, 40.0), "linkedin_ads": (58.0, 62.0)}
# base leads per day for unpaid channels
UNPAID_BASE = {"organic_search": 6.2, "email": 1.1, "direct": 3.0, "referral": 1.6}
OFFER_MIX = {
    "google_ads": {
        "demo_request": 0.30,
        "free_trial": 0.30,
        "pricing_guide": 0.30,
        "webinar": 0.05,
        "newsletter": 0.05,
    },
    "meta_ads": {
        "free_trial": 0.25,
        "webinar": 0.35,
        "pricing_guide": 0.20,
        "newsletter": 0.15,
        "demo_request": 0.05,
    },
    "linkedin_ads": {
        "pricing_guide": 0.40,
        "webinar": 0.30,
        "demo_request": 0.20,
        "free_trial": 0.10,
    },
    "organic_search": {
        "newsletter": 0.35,
        "pricing_guide": 0.25,
        "free_trial": 0.20,
        "demo_request": 0.10,
        "webinar": 0.10,
    },
    "email": {"webinar": 0.40, "demo_request": 0.20, "free_trial": 0.20, "pricing_guide": 0.20},
    "direct": {"demo_request": 0.35, "free_trial": 0.35, "pricing_guide": 0.20, "newsletter": 0.10},
    "referral": {
        "demo_request": 0.30,
        "free_trial": 0.30,
        "pricing_guide": 0.20,
        "newsletter": 0.20,
    },
}
OFFER_PAGE = {
    "demo_request": {"/demo": 0.70, "/pricing": 0.20, "/": 0.10},
    "free_trial": {"/free-trial": 0.65, "/pricing": 0.20, "/": 0.15},
    "pricing_guide": {"/resources/pricing-guide": 0.75, "/pricing": 0.25},
    "webinar": {"/webinars/marketing-metrics": 0.90, "/blog/kpi-guide": 0.10},
    "newsletter": {"/blog/kpi-guide": 0.45, "/blog/cost-per-lead": 0.40, "/": 0.15},
}
# probability lead -> MQL, MQL -> SQL, SQL -> customer by offer
P_MQL = {
    "demo_request": 0.66,
    "free_trial": 0.47,
    "pricing_guide": 0.38,
    "webinar": 0.27,
    "newsletter": 0.10,
}
P_SQL = {
    "demo_request": 0.55,
    "free_trial": 0.45,
    "pricing_guide": 0.38,
    "webinar": 0.34,
    "newsletter": 0.28,
}
P_CUSTOMER = {
    "demo_request": 0.32,
    "free_trial": 0.30,
    "pricing_guide": 0.24,
    "webinar": 0.22,
    "newsletter": 0.18,
}
CHANNEL_QUALITY = {
    "google_ads": 1.00,
    "meta_ads": 0.80,
    "linkedin_ads": 1.15,
    "organic_search": 1.00,
    "email": 1.05,
    "direct": 1.10,
    "referral": 1.20,
}


def later(rng: Rng, d: date, lo: int, hi: int, same_day_share: float = 0.0) -> date | None:
    """A date lo..hi days after d (or d itself with some probability); None past the end."""
    days = 0 if rng.random() < same_day_share else rng.randint(lo, hi)
    out = d + timedelta(days=days)
    return out if out <= END else None


LEADS_HEADER = [
    "lead_id",
    "created_at",
    "channel",
    "original_source",
    "offer",
    "landing_page",
    "mql_at",
    "sql_at",
    "customer_at",
    "deal_amount",
]


def gen_leads(rng: Rng, spend_by: dict, email_clicks_by: dict[date, int]) -> list[list]:
    """One row per lead; paid leads follow that day's spend, email leads the email clicks."""
    lead_rows: list[list] = []
    lead_no = 0
    for d in DAYS:
        season = WEEKDAY_WEB[d.weekday()] * MONTH[d.month] * growth(d, 0.30)
        for channel in SOURCE_LABEL:
            if channel in PAID_CPL:
                lo, hi = PAID_CPL[channel]
                cpl = lo + (hi - lo) * progress(d)
                lam = spend_by.get((d, channel), 0.0) / cpl
            elif channel == "email":
                prev = d - timedelta(days=1)
                lam = (
                    UNPAID_BASE[channel] * season
                    + 0.011 * email_clicks_by.get(d, 0)
                    + 0.004 * email_clicks_by.get(prev, 0)
                )
            else:
                lam = UNPAID_BASE[channel] * season
            for _ in range(rng.poisson(lam * rng.noise(0.08))):
                lead_no += 1
                offer = rng.pick(OFFER_MIX[channel])
                page = rng.pick(OFFER_PAGE[offer])
                quality = CHANNEL_QUALITY[channel]
                mql_at = sql_at = customer_at = None
                deal_amount = ""
                if rng.random() < min(0.95, P_MQL[offer] * quality):
                    mql_at = later(rng, d, 1, 20, same_day_share=0.35)
                    if mql_at and rng.random() < P_SQL[offer]:
                        sql_at = later(rng, mql_at, 1, 30)
                        if sql_at and rng.random() < P_CUSTOMER[offer] * quality:
                            customer_at = later(rng, sql_at, 7, 75)
                            if customer_at:
                                amount = math.exp(rng.gauss(math.log(4200), 0.7))
                                deal_amount = money(min(20000, max(500, round(amount / 50) * 50)))
                lead_rows.append(
                    [
                        f"L{lead_no:06d}",
                        iso(d),
                        channel,
                        SOURCE_LABEL[channel],
                        offer,
                        page,
                        iso(mql_at),
                        iso(sql_at),
                        iso(customer_at),
                        deal_amount,
                    ]
                )
        bots = bot_leads(d, lead_no)
        lead_rows += bots
        lead_no += len(bots)
    return lead_rows


def bot_leads(d: date, last_no: int) -> list[list]:
    """The day's bot sign-ups (:data:`BOT_LEADS`), numbered after ``last_no``; no draws."""
    rows = []
    for (channel, day), count in BOT_LEADS.items():
        if day == d:
            for _ in range(count):
                last_no += 1
                lead = [f"L{last_no:06d}", iso(d), channel, SOURCE_LABEL[channel], "webinar"]
                rows.append([*lead, "/webinars/marketing-metrics", "", "", "", ""])
    return rows


# --- web analytics ------------------------------------------------------------------------

# (landing_page, keyword, share of the channel's sessions); keyword "" means none
TRAFFIC = {
    "google_ads": [
        ("/", "acme kpi", 0.25),
        ("/pricing", "kpi dashboard software", 0.15),
        ("/pricing", "marketing kpi tool", 0.10),
        ("/demo", "kpi dashboard software", 0.20),
        ("/free-trial", "marketing kpi tool", 0.18),
        ("/free-trial", "cost per lead calculator", 0.12),
    ],
    "meta_ads": [
        ("/free-trial", "", 0.30),
        ("/webinars/marketing-metrics", "", 0.25),
        ("/resources/pricing-guide", "", 0.20),
        ("/blog/kpi-guide", "", 0.25),
    ],
    "linkedin_ads": [
        ("/demo", "", 0.25),
        ("/resources/pricing-guide", "", 0.45),
        ("/webinars/marketing-metrics", "", 0.30),
    ],
    "organic_search": [
        ("/", "acme kpi", 0.14),
        ("/", "marketing kpi tool", 0.08),
        ("/pricing", "kpi dashboard software", 0.06),
        ("/pricing", "acme kpi", 0.04),
        ("/blog/kpi-guide", "marketing kpi examples", 0.16),
        ("/blog/kpi-guide", "kpi tracking template", 0.10),
        ("/blog/kpi-guide", "mql vs sql", 0.07),
        ("/blog/cost-per-lead", "cost per lead calculator", 0.12),
        ("/blog/cost-per-lead", "marketing roi calculator", 0.06),
        ("/blog/cost-per-lead", "email open rate benchmark", 0.05),
        ("/resources/pricing-guide", "saas pricing guide", 0.05),
        ("/webinars/marketing-metrics", "marketing kpi examples", 0.02),
        ("/demo", "acme kpi", 0.03),
        ("/free-trial", "marketing kpi tool", 0.02),
    ],
    "email": [
        ("/blog/kpi-guide", "", 0.30),
        ("/blog/cost-per-lead", "", 0.20),
        ("/webinars/marketing-metrics", "", 0.30),
        ("/pricing", "", 0.20),
    ],
    "direct": [("/", "", 0.60), ("/pricing", "", 0.25), ("/demo", "", 0.15)],
    "referral": [("/", "", 0.40), ("/blog/kpi-guide", "", 0.35), ("/blog/cost-per-lead", "", 0.25)],
}
# engagement rate, mean session seconds
CHANNEL_ENGAGEMENT = {
    "google_ads": (0.56, 95),
    "meta_ads": (0.38, 45),
    "linkedin_ads": (0.50, 70),
    "organic_search": (0.64, 150),
    "email": (0.68, 120),
    "direct": (0.60, 130),
    "referral": (0.62, 110),
}
# duration factor, share of sessions that see the CTA, CTA click rate
PAGE = {
    "/": (0.80, 0.80, 0.05),
    "/pricing": (1.10, 0.85, 0.09),
    "/demo": (0.90, 0.90, 0.12),
    "/free-trial": (0.85, 0.90, 0.10),
    "/blog/kpi-guide": (1.45, 0.60, 0.030),
    "/blog/cost-per-lead": (1.35, 0.55, 0.035),
    "/webinars/marketing-metrics": (1.00, 0.75, 0.08),
    "/resources/pricing-guide": (1.05, 0.70, 0.07),
}
UNPAID_SESSIONS = {"organic_search": 640, "direct": 230, "referral": 95}
SESSIONS_PER_CLICK = {"google_ads": 0.90, "meta_ads": 0.75, "linkedin_ads": 0.85}

WEB_HEADER = [
    "date",
    "channel",
    "landing_page",
    "keyword",
    "sessions",
    "engaged_sessions",
    "session_duration",
    "cta_views",
    "cta_clicks",
]


def gen_web(rng: Rng, clicks_by: dict, email_clicks_by: dict[date, int]) -> list[list]:
    """One row per day x channel x landing page (x keyword) that had sessions."""
    web_rows: list[list] = []
    for d in DAYS:
        season = WEEKDAY_WEB[d.weekday()] * MONTH[d.month] * growth(d, 0.35)
        for channel, combos in TRAFFIC.items():
            if channel in SESSIONS_PER_CLICK:
                total = clicks_by.get((d, channel), 0) * SESSIONS_PER_CLICK[channel]
            elif channel == "email":
                prev = d - timedelta(days=1)
                total = (
                    0.8 * email_clicks_by.get(d, 0)
                    + 0.25 * email_clicks_by.get(prev, 0)
                    + 12 * season
                )
            else:
                total = UNPAID_SESSIONS[channel] * season
            total *= rng.noise(0.06)
            engagement, seconds = CHANNEL_ENGAGEMENT[channel]
            for page, keyword, share in combos:
                sessions = rng.poisson(total * share)
                if sessions == 0:
                    continue
                duration_factor, cta_share, cta_rate = PAGE[page]
                engaged = rng.binomial(sessions, engagement * rng.noise(0.05))
                duration = round(sessions * seconds * duration_factor * rng.noise(0.12))
                cta_views = rng.binomial(sessions, cta_share * rng.noise(0.05))
                cta_clicks = rng.binomial(cta_views, cta_rate * rng.noise(0.15))
                if page == "/blog/cost-per-lead" and in_range(d, "2026-03-09", "2026-03-12"):
                    cta_views = cta_clicks = 0
                web_rows.append(
                    [
                        iso(d),
                        channel,
                        page,
                        keyword,
                        sessions,
                        engaged,
                        duration,
                        cta_views,
                        cta_clicks,
                    ]
                )
    return web_rows


def generate(out_dir: Path) -> list[Path]:
    """Write every CSV into ``out_dir`` (created if needed); return their paths.

    The same bytes on every run and every platform.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = Rng(20250101)
    ads_rows, spend_by, clicks_by = gen_ads(rng)
    email_rows, email_clicks_by = gen_email(rng)
    lead_rows = gen_leads(rng, spend_by, email_clicks_by)
    web_rows = gen_web(rng, clicks_by, email_clicks_by)
    files = {f"ads_{channel}.csv": (ADS_HEADER, rows) for channel, rows in ads_rows.items()}
    files["crm_leads.csv"] = (LEADS_HEADER, lead_rows)
    files["email_campaigns.csv"] = (EMAIL_HEADER, email_rows)
    files["web_analytics.csv"] = (WEB_HEADER, web_rows)
    paths = []
    for name, (head, rows) in files.items():
        write_csv(out / name, head, rows)
        paths.append(out / name)
    return paths
