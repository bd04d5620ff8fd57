"""Reading exports: one kind of export in, one clean LazyFrame out.

- ``read.py``: :func:`~kpicli.sources.read.scan_source`, the lazy frame of a source (the
  engine's one entry point), and :func:`~kpicli.sources.read.locate_bad_value`;
- ``sniff.py``: detection on a bounded sample (encoding, delimiter, header, preamble, footer);
- ``values.py``: number, date and boolean cells: detection and the Polars conversions;
- ``presets.py``: known export formats, as data;
- ``describe.py``: what `kpi sources` shows;
- ``locate.py``: the diagnostic re-read that names the cell behind a failed query.
"""
