"""What a KPI is made of (kpicli.spec.formula.make_up): the statistics of kpicli.stats
model a ratio of counts by its counts, a count as Poisson, money on a log scale."""

from __future__ import annotations

import pytest

from kpicli.spec.formula import COUNT, FLOAT, INT, LEVEL, OTHER, RATIO, SUM, make_up

COLUMNS = {"clicks": INT, "impressions": INT, "spend": FLOAT, "converted": OTHER, "n": FLOAT}


@pytest.mark.parametrize(
    ("formula", "kind", "num", "den"),
    [
        ("SUM(clicks) / SUM(impressions)", RATIO, "SUM(clicks)", "SUM(impressions)"),
        ("COUNT(*) FILTER (WHERE converted) / COUNT(*)", RATIO, None, "COUNT(*)"),
        ("(SUM(clicks)) / (COUNT(*))", RATIO, "(SUM(clicks))", "(COUNT(*))"),
        ("COUNT(DISTINCT clicks)", COUNT, None, None),
        ("SUM(clicks) + COUNT(*)", COUNT, None, None),
        ("SUM(clicks * 2)", COUNT, None, None),
        ("SUM(spend)", SUM, None, None),  # money: a float column
        ("SUM(n)", SUM, None, None),  # a float column of a KPI not declared integer
        ("SUM(spend) / SUM(clicks)", LEVEL, None, None),  # a cost per: not a share of counts
        ("100 * SUM(clicks) / SUM(impressions)", LEVEL, None, None),  # a constant factor
        ("AVG(spend)", LEVEL, None, None),
        ("SUM(clicks) - SUM(impressions)", SUM, None, None),  # may be negative: not a count
    ],
)
def test_source_formulas(formula: str, kind: str, num: str | None, den: str | None) -> None:
    m = make_up(formula, columns=COLUMNS)
    assert m.kind == kind
    if num is not None:
        assert m.numerator == num
    if den is not None:
        assert m.denominator == den
    if kind != RATIO:
        assert m.numerator is None and m.denominator is None


def test_a_float_column_of_an_integer_kpi_is_a_count() -> None:
    """Exports write counts as 12.0: the KPI's unit says they are whole."""
    assert make_up("SUM(n)", columns=COLUMNS, integer=True).kind == COUNT
    assert make_up("SUM(n) / SUM(n)", columns=COLUMNS, integer=True).kind == RATIO


@pytest.mark.parametrize(
    ("formula", "kind"),
    [
        ("clicks / impressions", RATIO),
        ("clicks", COUNT),
        ("clicks + leads", COUNT),
        ("spend", SUM),
        ("spend + clicks", SUM),
        ("spend / clicks", LEVEL),
        ("(revenue - spend) / spend", LEVEL),
        ("clicks / 2", SUM),  # half the clicks: an amount, no longer whole
    ],
)
def test_derived_formulas(formula: str, kind: str) -> None:
    m = make_up(formula, counts={"clicks", "impressions", "leads"}, amounts={"spend", "revenue"})
    assert m.kind == kind
    if kind == RATIO:
        assert (m.numerator, m.denominator) == ("clicks", "impressions")
