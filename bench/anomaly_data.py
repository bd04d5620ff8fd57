"""Realistic daily ad exports with injected, labelled anomalies: the anomaly benchmark's data.

    python bench/anomaly_data.py --seed 101 --out bench/data/anomalies-101   # CSV + config

Eight channels of very different volumes (display 800k impressions a day down to a partner
channel of 2k), each with its weekly pattern, a trend, a Q4 bump (peak in late November),
and day-to-day variation of its rates beyond binomial noise (AR(1) noise on the log of the
impressions' level, the CTR, the conversion rate and the cost per click). Counts are drawn
from it (impressions Poisson, clicks and conversions binomial), money from the counts.

Injected anomalies (``inject=True``), each an :class:`Event` with the channel, the days,
and the raw columns it changes:

- ``spike``: one day of bot clicks (clicks × 2.5–4, which do not convert; spend follows);
- ``outage``: the channel's rows are missing for 1–2 days (tracking outage: counts and
  amounts 0/null);
- ``ctr_collapse``: CTR × 0.3–0.55 for 1–3 days (a broken ad);
- ``conversion_drop``: conversion rate × 0.2–0.5 for 1–3 days (a broken tracking pixel);
- ``cost_spike``: cost per click × 2–3.5 for one day (a bidding error);
- ``level_shift``: impressions × 0.45–0.65 or × 1.6–2.0 from a day on (a budget change);
  its first 3 days are the event's days, the 28 days from its start its grace days.

The two smallest channels (``podcast``, ``partners``) are decoys: no anomaly is injected
there; their rates swing by chance (a conversion rate on 30 clicks), and any flag there is
false. ``inject=False`` gives the same data without anomalies (the same seed).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np

START = date(2025, 1, 1)
DAYS = 455  # 2025-01-01 .. 2026-03-31: a Q4 in the middle
#: Days before this one are history only (no event, not scored).
FIRST_SCORED = 84
#: name: (impressions a day, CTR, conversion rate, cost per click, order value, campaigns)
CHANNELS = {
    "display": (800_000, 0.004, 0.010, 0.30, 60.0, 3),
    "search": (500_000, 0.030, 0.040, 0.80, 90.0, 4),
    "social": (300_000, 0.012, 0.020, 0.50, 70.0, 3),
    "video": (150_000, 0.006, 0.015, 0.60, 80.0, 2),
    "email": (60_000, 0.025, 0.050, 0.05, 85.0, 2),
    "affiliate": (25_000, 0.020, 0.060, 1.00, 95.0, 2),
    "podcast": (8_000, 0.010, 0.030, 1.50, 120.0, 1),
    "partners": (2_000, 0.015, 0.030, 1.20, 100.0, 1),
}
DECOYS = ("podcast", "partners")
RAW = ("impressions", "clicks", "conversions", "spend", "revenue")
#: KPI: (kind for kpi's detect, numerator, denominator): what the engine feeds detect.
KPIS = {
    "impressions": ("count", "impressions", None),
    "clicks": ("count", "clicks", None),
    "conversions": ("count", "conversions", None),
    "spend": ("sum", "spend", None),
    "revenue": ("sum", "revenue", None),
    "ctr": ("ratio", "clicks", "impressions"),
    "conversion_rate": ("ratio", "conversions", "clicks"),
    "cpa": ("level", "spend", "conversions"),
}
TYPES = ("spike", "outage", "ctr_collapse", "conversion_drop", "cost_spike", "level_shift")
#: The raw columns each type of anomaly changes (its affected KPIs follow from them).
CHANGES = {
    "spike": {"clicks", "spend"},
    "outage": set(RAW),
    "ctr_collapse": {"clicks", "conversions", "spend", "revenue"},
    "conversion_drop": {"conversions", "revenue"},
    "cost_spike": {"spend"},
    "level_shift": set(RAW),
}
EVENTS_PER_CHANNEL = 5


@dataclass
class Event:
    kind: str
    channel: str
    days: list[int]  # day indexes where it must be found
    grace: list[int]  # day indexes where flags of its series are not false (⊇ days)
    factor: float = 1.0
    changes: set[str] = field(default_factory=set)

    def kpis(self) -> list[str]:
        """The KPIs whose values the event changes (on its channel and in the totals)."""
        return [k for k, (_, num, den) in KPIS.items() if {num, den} & self.changes]


@dataclass
class Data:
    """One generated dataset: ``raw[channel][column]`` (arrays over days; nan = rows
    missing), the events injected, the dates."""

    raw: dict[str, dict[str, np.ndarray]]
    events: list[Event]
    dates: list[date]
    seed: int


def _ar1(rng: np.random.Generator, n: int, sd: float, phi: float) -> np.ndarray:
    """AR(1) noise with stationary standard deviation ``sd``."""
    e = rng.normal(0.0, sd * np.sqrt(1 - phi * phi), n)
    out = np.empty(n)
    out[0] = rng.normal(0.0, sd)
    for i in range(1, n):
        out[i] = phi * out[i - 1] + e[i]
    return out


def _q4(dates: list[date]) -> np.ndarray:
    """The Q4 bump: 0 outside Oct–Dec, up to 1 around Black Friday (late November)."""
    doy = np.array([d.timetuple().tm_yday for d in dates], dtype=float)
    return np.exp(-(((doy - 330.0) / 28.0) ** 2)) * (doy >= 274)


def _events(rng: np.random.Generator, n: int) -> list[Event]:
    """Non-overlapping events on the channels that are not decoys."""
    events = []
    for channel in CHANNELS:
        if channel in DECOYS:
            continue
        kinds = list(rng.choice(TYPES, EVENTS_PER_CHANNEL, replace=True))
        if kinds.count("level_shift") > 1:  # one budget change per channel at most
            kinds = [k for k in kinds if k != "level_shift"] + ["level_shift"]
            kinds += list(rng.choice(TYPES[:-1], EVENTS_PER_CHANNEL - len(kinds)))
        # a level shift last: it lasts until the end
        kinds.sort(key=lambda k: k == "level_shift")
        slots = np.sort(rng.choice(np.arange(FIRST_SCORED + 14, n - 10, 21), len(kinds), False))
        for kind, day in zip(kinds, slots, strict=True):
            day = int(day + rng.integers(0, 7))
            length = {"outage": rng.integers(1, 3), "ctr_collapse": rng.integers(1, 4)}.get(
                kind, rng.integers(1, 4) if kind == "conversion_drop" else 1
            )
            days = list(range(day, min(day + int(length), n)))
            grace = days
            factor = {
                "spike": rng.uniform(2.5, 4.0),
                "outage": 0.0,
                "ctr_collapse": rng.uniform(0.3, 0.55),
                "conversion_drop": rng.uniform(0.2, 0.5),
                "cost_spike": rng.uniform(2.0, 3.5),
                "level_shift": rng.uniform(0.45, 0.65)
                if rng.random() < 0.5
                else rng.uniform(1.6, 2.0),
            }[kind]
            if kind == "level_shift":
                days = list(range(day, min(day + 3, n)))
                grace = list(range(day, min(day + 28, n)))
            events.append(Event(kind, channel, days, grace, float(factor), CHANGES[kind]))
    return events


def generate(seed: int, inject: bool = True, days: int = DAYS) -> Data:
    """The dataset of ``seed``; ``inject=False``: the same without anomalies."""
    dates = [START + timedelta(days=i) for i in range(days)]
    weekday = np.array([d.weekday() for d in dates])
    q4 = _q4(dates)
    t = np.arange(days) / 365.0
    events = _events(np.random.default_rng([seed, 1]), days)
    raw = {}
    for i, (channel, (impr, ctr, cvr, cpc, aov, _)) in enumerate(CHANNELS.items()):
        r = np.random.default_rng([seed, 2, i])
        week = np.exp(r.normal(0, 0.25, 7))
        week[5:] *= r.uniform(0.45, 0.9)  # quieter weekends (B2B) …
        if r.random() < 0.3:
            week[5:] /= 0.5  # … or busier ones
        week /= week.mean()
        growth = r.uniform(-0.2, 0.5)
        bump = r.uniform(0.2, 0.6)
        m_impr = impr * week[weekday] * np.exp(growth * t) * (1 + bump * q4)
        m_impr *= np.exp(_ar1(r, days, 0.08, 0.6))
        m_ctr = ctr * np.exp(r.normal(0, 0.05, 7))[weekday] * np.exp(_ar1(r, days, 0.06, 0.5))
        m_cvr = cvr * (1 + 0.25 * q4) * np.exp(_ar1(r, days, 0.08, 0.5))
        m_cpc = cpc * (1 + 0.3 * q4) * np.exp(_ar1(r, days, 0.05, 0.7))
        bots = np.ones(days)
        missing = np.zeros(days, dtype=bool)
        for e in events if inject else []:
            if e.channel != channel:
                continue
            d = np.array(e.days)
            match e.kind:
                case "spike":
                    bots[d] = e.factor
                case "outage":
                    missing[d] = True
                case "ctr_collapse":
                    m_ctr[d] *= e.factor
                case "conversion_drop":
                    m_cvr[d] *= e.factor
                case "cost_spike":
                    m_cpc[d] *= e.factor
                case "level_shift":
                    m_impr[d[0] :] *= e.factor
        impressions = r.poisson(m_impr).astype(float)
        human = r.binomial(impressions.astype(np.int64), np.clip(m_ctr, 0, 1)).astype(float)
        clicks = np.round(human * bots)
        conversions = r.binomial(human.astype(np.int64), np.clip(m_cvr, 0, 1)).astype(float)
        spend = np.round(clicks * m_cpc * np.exp(r.normal(0, 0.03, days)), 2)
        spread = 0.35 / np.sqrt(np.maximum(conversions, 1))
        revenue = np.round(conversions * aov * np.exp(r.normal(0, 1, days) * spread), 2)
        cols = dict(zip(RAW, (impressions, clicks, conversions, spend, revenue), strict=True))
        for v in cols.values():
            v[missing] = np.nan
        raw[channel] = cols
    return Data(raw, events if inject else [], dates, seed)


def totals(data: Data) -> dict[str, np.ndarray]:
    """Each raw column summed over the channels (missing rows count as nothing)."""
    return {c: np.nansum([data.raw[ch][c] for ch in CHANNELS], axis=0) for c in RAW}


def series(data: Data) -> list[dict]:
    """The series the engine feeds ``detect``: every KPI per channel and in total, as dicts
    with ``kpi``, ``channel`` (None for the total), ``kind``, ``value``, ``num``, ``den``
    (arrays over days; a channel's missing rows give null values)."""
    out = []
    groups = [*((ch, data.raw[ch]) for ch in CHANNELS), (None, totals(data))]
    for kpi, (kind, num, den) in KPIS.items():
        for channel, cols in groups:
            n = cols[num]
            d = cols[den] if den else None
            with np.errstate(invalid="ignore", divide="ignore"):
                value = n if d is None else np.where(d > 0, n / d, np.nan)
            out.append(
                {
                    "kpi": kpi,
                    "channel": channel,
                    "kind": kind,
                    "value": value,
                    "num": n if kind == "ratio" else None,
                    "den": d if kind == "ratio" else None,
                }
            )
    return out


# --- CSV export ------------------------------------------------------------------------------

CONFIG = """\
# kpi_config.yaml of the anomaly benchmark's data (bench/anomaly_data.py, seed {seed}).
# Injected anomalies: events.csv. Try: kpi anomalies --by channel --last 30
version: 1

sources:
  ads:
    path: ads.csv
    date: date

kpis:
  impressions: {{source: ads, formula: SUM(impressions), unit: integer}}
  clicks: {{source: ads, formula: SUM(clicks), unit: integer}}
  conversions: {{source: ads, formula: SUM(conversions), unit: integer}}
  spend: {{source: ads, formula: SUM(spend), unit: currency, better: lower}}
  revenue: {{source: ads, formula: SUM(revenue), unit: currency}}
  ctr: {{label: CTR, formula: clicks / impressions, unit: percent}}
  conversion_rate: {{formula: conversions / clicks, unit: percent}}
  cpa: {{label: CPA, formula: spend / conversions, unit: currency, better: lower}}
"""


def write_csv(data: Data, out: Path) -> Path:
    """``out/ads.csv`` (one row per day × channel × campaign; a channel's rows absent on
    its outage days), ``out/events.csv`` (the injected anomalies) and ``out/kpi_config.yaml``.
    Counts are split over the campaigns multinomially, money in proportion to the clicks."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([data.seed, 3])
    lines = ["date,channel,campaign,impressions,clicks,spend,conversions,revenue"]
    for channel, spec in CHANNELS.items():
        share = rng.dirichlet(np.full(spec[5], 3.0))
        cols = data.raw[channel]
        for i, day in enumerate(data.dates):
            if np.isnan(cols["impressions"][i]):
                continue
            impr = rng.multinomial(int(cols["impressions"][i]), share)
            clicks = rng.multinomial(int(cols["clicks"][i]), share)
            conv = rng.multinomial(int(cols["conversions"][i]), share)
            w = clicks / max(clicks.sum(), 1)
            spend = _split(cols["spend"][i], w if clicks.sum() else share)
            revenue = _split(cols["revenue"][i], conv / max(conv.sum(), 1) if conv.sum() else share)
            for c in range(spec[5]):
                lines.append(
                    f"{day},{channel},{channel}_{c + 1},{impr[c]},{clicks[c]},"
                    f"{spend[c]:.2f},{conv[c]},{revenue[c]:.2f}"
                )
    (out / "ads.csv").write_text("\n".join(lines) + "\n")
    ev = ["kind,channel,first_day,last_day,factor,kpis"]
    for e in data.events:
        ev.append(
            f"{e.kind},{e.channel},{data.dates[e.days[0]]},{data.dates[e.days[-1]]},"
            f"{e.factor:.3f},{' '.join(e.kpis())}"
        )
    (out / "events.csv").write_text("\n".join(ev) + "\n")
    (out / "kpi_config.yaml").write_text(CONFIG.format(seed=data.seed))
    return out


def _split(amount: float, weights: np.ndarray) -> np.ndarray:
    """``amount`` split by ``weights`` in cents, the parts adding up to it exactly."""
    cents = round(amount * 100)
    parts = np.floor(weights * cents).astype(np.int64)
    parts[np.argmax(weights)] += cents - parts.sum()
    return parts / 100


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=101)
    ap.add_argument("--clean", action="store_true", help="without the anomalies")
    ap.add_argument("--out", type=Path, default=None, help="default: bench/data/anomalies-SEED")
    args = ap.parse_args()
    out = args.out or Path(__file__).parent / "data" / f"anomalies-{args.seed}"
    path = write_csv(generate(args.seed, inject=not args.clean), out)
    print(f"wrote {path}/ads.csv, events.csv, kpi_config.yaml")


if __name__ == "__main__":
    main()
