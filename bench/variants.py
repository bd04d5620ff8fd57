"""Engine experiments: kpi's own plan for the benchmark report, run with one change at a time.

    python bench/variants.py VARIANT CONFIG [--kpi a,b] [--phases]

Builds the plan of ``kpi report -c CONFIG --period 2026 --grain month --compare previous --by
channel --as-of 2026-11-30`` with the kpi library, then collects it, changed in one way.
Nothing in ``kpicli/`` is edited: a variant rebuilds the lazy frames from the plan's parts
(its sources' lazy frames, its KPI formulas, its buckets and counterparts), the way
``kpicli/plan.py`` builds them, with one thing done differently. Run each variant in a fresh
process (``bench/run.py --variants`` does) to compare wall time and peak RSS.

- ``report``: ``execute(plan)`` and render JSONL: the library path of ``kpi report``.
- ``collect``: only ``pl.collect_all`` of the plan's own frames (rows and totals).
- ``in-memory``: the same with ``engine="in-memory"``. ``engine="auto"``, which kpi and every
  other variant use, is the streaming engine in Polars 2.
- ``rows-only``: the plan's per-dimension frames only (what the totals add).
- ``before-7cbd7ce``: the engine before commit 7cbd7ce: a calendar listing each day once per
  bucket and once per counterpart it belongs to (with ``--grain month --compare previous``
  most days twice), then one group_by for the rows and another for the totals.
- ``before-32194b9``: each day joined to the one distinct span it is in (7cbd7ce), and still
  a second group_by for the totals (32194b9 rolls them up from the rows' partial
  aggregates).
- ``rows-exact``: distinct spans, the per-dimension group_by only, kpi's exact sums
  (``DECIMAL(38,10)`` plus a float remainder for floats, Int128 for integers).
- ``rows-float``: the same with Polars' own sums (Float64, Int64): what exactness costs.
- ``scan-only``: the sources' frames, date-filtered, reduced to one max per column used: the
  cost of reading and parsing alone.

``--phases`` prints where the time goes (import, config, plan, collect, post-processing,
render) to stderr, as ``phase<TAB>seconds`` lines.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from itertools import pairwise

T0 = time.perf_counter()
import polars as pl  # noqa: E402

T_IMPORT = time.perf_counter()

REQUEST = dict(
    period="2026",
    grain="month",
    compare="previous",
    by=("channel",),
    as_of=date(2026, 11, 30),
)
VARIANTS = [
    "report",
    "collect",
    "in-memory",
    "rows-only",
    "before-7cbd7ce",
    "before-32194b9",
    "rows-exact",
    "rows-float",
    "scan-only",
]


def _build(config: str, kpis: tuple[str, ...]):
    """The prepared report (plan and described sources), and the seconds spent importing
    kpicli, loading the config, describing the sources and planning."""
    t0 = time.perf_counter()
    from kpicli.execute.engine import prepare_report
    from kpicli.plan.build import Request
    from kpicli.spec.config import load_config

    t = time.perf_counter()
    cfg = load_config(config)
    t_cfg = time.perf_counter()
    prepared = prepare_report(cfg, Request(kpis=kpis, **REQUEST))
    return prepared, (t - t0, t_cfg - t, time.perf_counter() - t_cfg)


def _source_frame(prepared, agg, exact: bool = True) -> pl.LazyFrame:
    """The source's rows as the engine prepares them, before the calendar join."""
    import kpicli.spec.formula

    plan, sf = prepared.plan, prepared.sources[agg.source]
    spans = [*plan.buckets, *plan.counterparts]
    low = min(r.start for r in spans)
    high = min(max(r.end for r in spans), plan.as_of)
    lf = sf.frame.with_columns(
        pl.when(pl.col(c) <= plan.as_of).then(pl.col(c)).alias(c) for c in sf.date_columns
    )
    lf = lf.filter(pl.col(agg.date_column).is_between(low, high))
    summed_columns = getattr(kpicli.spec.formula, "summed_columns", None)
    if exact and summed_columns is not None:  # plan.py sums integers as Int128 (no wrap-around)
        cfg = plan.config
        summed = {c for n in agg.formulas for c in summed_columns(cfg.kpis[n].formula)}
        ints = [c for c, t in sf.schema.items() if t.is_integer() and c in summed]
        if ints:
            lf = lf.with_columns(pl.col(ints).cast(pl.Int128))
    return lf


def _exprs(plan, agg, exact: bool) -> list[pl.Expr]:
    from kpicli.spec.formula import with_filter

    cfg = plan.config
    if exact:
        texts = agg.formulas
    else:  # as written: Polars' own Float64 and Int64 sums
        texts = {n: with_filter(cfg.kpis[n].formula, cfg.kpis[n].filter) for n in agg.formulas}
    exprs = [pl.sql_expr(text).cast(pl.Float64).alias(n) for n, text in texts.items()]
    d = pl.col(agg.date_column)
    return [*exprs, pl.len().alias(agg.count), d.min().alias(agg.first), d.max().alias(agg.last)]


def frames(prepared, *, dup: bool = False, exact: bool = True, totals: bool = True) -> list:
    """The plan's aggregations rebuilt the simple way: a calendar join, then a group_by per
    aggregation, and (``totals``) a second group_by of the same rows for the totals.

    ``dup``: the calendar of kpi before 7cbd7ce, a day listed once per bucket and once per
    counterpart it belongs to (so most days twice). Otherwise each day maps to the one
    distinct span it is in. Either way the (bucket, comparison) pairs would be joined to the
    small aggregated frames after the collect (a few rows: not timed).
    """
    plan = prepared.plan
    dims = list(plan.dimensions)

    def days(start, end, key) -> pl.DataFrame:
        d = pl.date_range(start, min(end, plan.as_of), "1d", eager=True)
        return pl.DataFrame({"__day": d}).with_columns(pl.lit(key).alias("__key"))

    if dup:
        n = len(plan.buckets)
        ranges = [(b, i) for i, b in enumerate(plan.buckets)]
        ranges += [(c, n + i) for i, c in enumerate(plan.counterparts)]
        cal = pl.concat(days(r.start, r.end, k) for r, k in ranges if r.start <= plan.as_of)
    else:
        spans = sorted({(r.start, r.end) for r in [*plan.buckets, *plan.counterparts]})
        for (_, end), (start, _) in pairwise(spans):
            assert end < start, "ranges overlap: this variant needs disjoint ranges"
        cal = pl.concat(days(s, e, i) for i, (s, e) in enumerate(spans) if s <= plan.as_of)
    out = []
    for agg in plan.aggregations:
        lf = _source_frame(prepared, agg, exact).join(
            cal.lazy(), left_on=agg.date_column, right_on="__day", how="inner"
        )
        exprs = _exprs(plan, agg, exact)
        out.append(lf.group_by(["__key", *dims]).agg(exprs))
        if totals and dims:
            out.append(lf.group_by("__key").agg(exprs))
    return out


def scan_only(prepared) -> list[pl.LazyFrame]:
    from kpicli.spec.formula import parse

    plan = prepared.plan
    out = []
    for agg in plan.aggregations:
        cfg = plan.config
        used = {agg.date_column, *plan.dimensions}
        for n in agg.formulas:
            for text in (cfg.kpis[n].formula, cfg.kpis[n].filter):
                if text:
                    used.update(parse(text).names)
        lf = _source_frame(prepared, agg)
        out.append(lf.select(pl.col(sorted(used)).max(), pl.len()))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("variant", choices=VARIANTS)
    ap.add_argument("config")
    ap.add_argument("--kpi", default="", help="KPIs to show (default: all visible)")
    ap.add_argument("--phases", action="store_true", help="print phase timings to stderr")
    args = ap.parse_args(argv)
    v = args.variant
    kpis = tuple(k for k in args.kpi.split(",") if k)
    prepared, (t_imp, t_cfg, t_plan) = _build(args.config, kpis)
    plan = prepared.plan
    phases = {
        "import polars": T_IMPORT - T0,
        "import kpicli (config, plan: pydantic, yaml)": t_imp,
        "load config (imports sqlglot, parses every formula)": t_cfg,
        "build plan (sniffing, schemas, formulas rewritten)": t_plan,
    }

    t = time.perf_counter()
    engine = "in-memory" if v == "in-memory" else "auto"
    if v == "report":
        t_eng = time.perf_counter()
        from kpicli.render import render

        phases["import engine, render"] = time.perf_counter() - t_eng
        t = time.perf_counter()

        collect_all, spent = pl.collect_all, []

        def timed_collect_all(*a, **k):  # the one collect of execute(), timed
            t1 = time.perf_counter()
            try:
                return collect_all(*a, **k)
            finally:
                spent.append(time.perf_counter() - t1)

        pl.collect_all = timed_collect_all
        result = prepared.run()
        t2 = time.perf_counter()
        phases["collect_all"] = sum(spent)
        phases["post-processing (execute - collect)"] = (t2 - t) - sum(spent)
        out = render(result, "jsonl")
        phases["render jsonl"] = time.perf_counter() - t2
        n = len(out.splitlines())
    else:
        from kpicli.execute.queries import queries

        built = queries(plan, prepared.sources)
        if v in ("collect", "in-memory"):
            lazies = [q.rows for q in built]
            lazies += [q.totals for q in built if q.totals is not None]
        elif v == "rows-only":
            lazies = [q.rows for q in built]
        elif v == "before-7cbd7ce":
            lazies = frames(prepared, dup=True)
        elif v == "before-32194b9":
            lazies = frames(prepared)
        elif v == "rows-exact":
            lazies = frames(prepared, totals=False)
        elif v == "rows-float":
            lazies = frames(prepared, totals=False, exact=False)
        else:
            lazies = scan_only(prepared)
        result = pl.collect_all(lazies, engine=engine)
        phases[f"collect_all ({engine})"] = time.perf_counter() - t
        n = sum(f.height for f in result)
    if args.phases:
        for k, s in phases.items():
            print(f"{k}\t{s:.4f}", file=sys.stderr)
        print(f"result rows\t{n}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
