"""Polluted CSV files and their clean twins, in the manner of the Pollock benchmark.

Pollock (Vitagliano et al., VLDB 2023) takes one clean table and writes 2,290 polluted
versions of it: file-level changes (no header, header rows repeated, a preamble, a second
table, an empty file, one data row, trailing newlines), dialect changes (delimiter `;` tab
space `, `, quote `'`, escape `\\` or none, LF or CR line ends) and row-level ones (a
delimiter added or removed, a stray quote, a row written with spaces) for every row and
column. Each polluted file has a clean twin: the table it should load as, in RFC 4180.

This script builds the same kinds from a table of its own (a campaign ledger: dates,
times, counts, ids, money, free text with commas and quotes, URLs, an empty notes column),
with kinds a marketing export adds (encodings, summary rows, footers), and variants of the
kinds a loader finds hardest (:data:`VARIANTS`: a file written with spaces where only the
cells the comma file quotes are quoted, as Pollock writes it; header rows written unquoted
above the header, as Pollock does, or a header of two levels; two tables separated by an
empty line). The clean twins follow Pollock's: a header spread over rows is the rows' cells
joined by a space (``DATE DATE``), and of two tables only the first is the file's. Run it to rewrite
``csv/`` and ``clean/`` beside it (a representative subset of the row-level files: first,
second, middle and last rows, first, second, middle and last columns). The tests import
:func:`pollutions` to run every row × column combination in memory.

    python tests/data/polluted/generate.py
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).parent

HEADER = [
    "DATE",
    "TIME",
    "Clicks",
    "CAMPAIGNID",
    "Cost",
    "Campaign",
    "Description",
    "URL",
    "Notes",
]
#: Columns written quoted in every row (as Pollock's source quotes its description and URL).
QUOTED = {6, 7}
_NAMES = [
    "Spring Sale",
    "Brand, Search",
    "Retargeting",
    'Shoes 10" Promo',
    "Newsletter",
    "Summer, Outdoor",
    "Generic",
    "Black Friday",
    "Webinar",
    "Local, Stores",
    "App Installs",
    "Holiday Gifts",
    "Men's Trail Shoes",
    "Women's  Fly Rod 8 Wt.",
    "Kids' Good Mocs",
]
_DESC = [
    "Search ads on brand terms, exact match.",
    "Display remarketing to cart abandoners.",
    'The "hero" banner, 300x250 and 728x90.',
    "Video pre-roll; 15 seconds, skippable.",
    "Lookalike audiences from past buyers.",
    "Promoted posts for the new collection, week 2.",
    "Shopping feed with price extensions.",
    "Email to lapsed customers: 20% off.",
    "Sitelinks to the store locator page.",
    "Discovery ads in the feed, broad targeting.",
    "Carousel of five products, each with a CTA.",
    "Gift guide landing page, A/B tested.",
    "A crisp, light feel in our 8\\'9\" rod.",
]


def source_rows(n: int = 24) -> list[list[str]]:
    """The clean table: a header and ``n`` data rows (deterministic)."""
    rows = [list(HEADER)]
    for i in range(n):
        day, month = 1 + (i * 3) % 28, 1 + i // 4
        rows.append(
            [
                f"{day:02d}/{month:02d}/2025",
                f"{(i * 37) % 24:02d}:{(i * 15) % 60:02d}",
                str((i * 7919) % 400),
                f"{'ABCDEFGH'[i % 8]}{'KLMN'[i % 4]}-{1000 + (i * 389) % 9000}",
                f"${(i * 1234) % 9000 / 100:.2f}",
                _NAMES[i % len(_NAMES)],
                _DESC[i % len(_DESC)],
                f"https://www.example.com/c/{i:03d}.html",
                "",
            ]
        )
    return rows


def write_cell(value: str, j: int, *, delim: str, quote: str, escape: str | None) -> str:
    """One cell as the polluting writer writes it: quoted when it must be or always for the
    quoted columns; a quote inside doubled, or preceded by ``escape``."""
    if j in QUOTED or delim in value or quote in value or "\n" in value:
        inner = value.replace(quote, (escape if escape is not None else quote) + quote)
        if escape == "":
            inner = value
        return quote + inner + quote
    return value


def write(
    rows: list[list[str]],
    *,
    delim: str = ",",
    quote: str = '"',
    escape: str | None = None,
    newline: str = "\r\n",
) -> str:
    return "".join(
        delim.join(
            write_cell(c, j, delim=delim, quote=quote, escape=escape) for j, c in enumerate(r)
        )
        + newline
        for r in rows
    )


def clean(rows: list[list[str]]) -> bytes:
    """The clean twin: RFC 4180, every cell quoted (as Pollock writes them)."""
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode("utf-8")


def _cells_line(row: list[str], delim: str = ",") -> list[str]:
    return [write_cell(c, j, delim=",", quote='"', escape=None) for j, c in enumerate(row)]


#: Suffixes of our variants of a Pollock file: each is scored as that file's kind.
VARIANTS = ("_unquoted", "_levels", "_separated")
#: The group row of the two-level header variant (over :data:`HEADER`).
LEVELS = ["When", "When", "Results", "Campaign", "Results", "Campaign", "Campaign", "Page", "Page"]


def pollutions(full: bool = True) -> Iterator[tuple[str, bytes, bytes]]:
    """(file name, polluted bytes, clean twin bytes) for every kind; ``full``: every row and
    column of the row-level kinds, else a subset."""
    rows = source_rows()
    text = write(rows)
    yield "source.csv", text.encode(), clean(rows)

    # file level
    yield "file_no_payload.csv", b"", b""
    yield "file_no_trailing_newline.csv", text.rstrip("\r\n").encode(), clean(rows)
    yield "file_double_trailing_newline.csv", (text + "\r\n").encode(), clean(rows)
    yield "file_no_header.csv", write(rows[1:]).encode(), clean(rows[1:])
    for k in (2, 3):
        joined = [" ".join([h] * k) for h in rows[0]]
        yield (
            f"file_header_multirow_{k}.csv",
            write([rows[0]] * k + rows[1:]).encode(),
            clean([joined, *rows[1:]]),
        )
        # as Pollock writes it: the rows added above the header unquoted
        above = "".join(",".join(rows[0]) + "\r\n" for _ in range(k - 1))
        yield (
            f"file_header_multirow_{k}_unquoted.csv",
            (above + text).encode(),
            clean([joined, *rows[1:]]),
        )
    levels = [f"{top} {h}" for top, h in zip(LEVELS, rows[0], strict=True)]
    yield (
        "file_header_multirow_2_levels.csv",
        write([LEVELS, *rows]).encode(),
        clean([levels, *rows[1:]]),
    )
    preamble = write([["PREAMBLE"] + [""] * 8, [""] * 9])
    yield "file_preamble.csv", (preamble + text).encode(), clean(rows)
    for name, width in (("less", 8), ("same", 9), ("more", 10)):
        second = [[*r[:width], *[""] * (width - len(r))] for r in rows]
        if width > 9:
            second[0] = [*rows[0], *[f"col{i}" for i in range(1, width - 8)]]
        plain = "".join(",".join(_plain(c) for c in r) + "\r\n" for r in second)
        yield f"file_multitable_{name}.csv", (text + plain).encode(), clean(rows)
        yield f"file_multitable_{name}_separated.csv", (text + "\r\n" + plain).encode(), clean(rows)
    yield "file_header_only.csv", write(rows[:1]).encode(), clean(rows[:1])
    yield "file_one_data_row.csv", write(rows[:2]).encode(), clean(rows[:2])

    # dialect
    yield "file_record_delimiter_0xA.csv", write(rows, newline="\n").encode(), clean(rows)
    yield "file_record_delimiter_0xD.csv", write(rows, newline="\r").encode(), clean(rows)
    for delim, code in ((";", "0x3B"), ("\t", "0x9"), (" ", "0x20")):
        yield f"file_field_delimiter_{code}.csv", write(rows, delim=delim).encode(), clean(rows)
    # as Pollock writes it: spaces between the cells, quotes only where the comma file has them
    spaced = "".join(" ".join(_cells_line(r)) + "\r\n" for r in rows)
    yield "file_field_delimiter_0x20_unquoted.csv", spaced.encode(), clean(rows)
    comma_space = "".join(", ".join(_cells_line(r)) + "\r\n" for r in rows)
    yield "file_field_delimiter_0x2C_0x20.csv", comma_space.encode(), clean(rows)
    yield "file_quotation_char_0x27.csv", write(rows, quote="'").encode(), clean(rows)
    yield "file_escape_char_0x5C.csv", write(rows, escape="\\").encode(), clean(rows)
    yield "file_escape_char_0x00.csv", write(rows, escape="").encode(), clean(rows)

    # encodings and what exports add
    accented = [list(r) for r in rows]
    accented[3][5] = "Été, Soldes"
    accented[5][6] = "Réduction de 20 % sur la collection"
    utf16 = b"\xff\xfe" + write(accented, delim="\t").encode("utf-16-le")
    yield "file_encoding_utf16_tab.csv", utf16, clean(accented)
    yield "file_encoding_cp1252.csv", write(accented).encode("cp1252"), clean(accented)
    mixed = (
        write(accented).encode("utf-8").replace("Réduction".encode(), "Réduction".encode("cp1252"))
    )
    yield "file_encoding_mixed.csv", mixed, clean(accented)
    report = (
        "Campaign report\r\nAll time\r\n"
        + text
        + write([["Total: Campaigns", "", "1234", "", "$99.00", "", "", "", ""]])
    )
    yield "file_report_preamble_total.csv", report.encode(), clean(rows)
    footer = text + "\r\n" + "Copyright (c) 2025 Example Corp. All rights reserved.\r\n"
    yield "file_footer.csv", footer.encode(), clean(rows)

    # row level
    n_rows, n_cols = len(rows), len(HEADER)
    row_ids = range(n_rows) if full else sorted({0, 1, n_rows // 2, n_rows - 1})
    col_ids = range(n_cols) if full else sorted({0, 1, n_cols // 2, n_cols - 1})
    lines = text.split("\r\n")[:-1]
    for i in row_ids:
        cells = [write_cell(c, j, delim=",", quote='"', escape=None) for j, c in enumerate(rows[i])]
        for j in col_ids:
            more = [*cells[:j], "", *cells[j:]] if j else ["", *cells]
            yield (
                f"row_more_sep_row{i}_col{j}.csv",
                _replace(lines, i, ",".join(more)),
                clean(rows),
            )
            if j > 0:
                glued = [*cells[: j - 1], cells[j - 1] + cells[j], *cells[j + 1 :]]
                yield (
                    f"row_less_sep_row{i}_col{j}.csv",
                    _replace(lines, i, ",".join(glued)),
                    clean(rows),
                )
            quoted = list(cells)
            c = quoted[j]
            quoted[j] = '""' + c[1:] if c.startswith('"') else '"' + c
            expected = [list(r) for r in rows]
            expected[i][j] = '"' + expected[i][j]
            yield (
                f"row_extra_quote{i}_col{j}.csv",
                _replace(lines, i, ",".join(quoted)),
                clean(expected),
            )
        spaced = " ".join(cells)
        yield f"row_field_delimiter_{i}_0x20.csv", _replace(lines, i, spaced), clean(rows)


def _plain(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if ("," in value or '"' in value) else value


def _replace(lines: list[str], i: int, line: str) -> bytes:
    out = list(lines)
    out[i] = line
    return ("\r\n".join(out) + "\r\n").encode()


def family(name: str) -> str:
    """The kind of a file, for the per-kind scores (a variant is its own kind)."""
    for prefix in ("row_more_sep", "row_less_sep", "row_extra_quote", "row_field_delimiter"):
        if name.startswith(prefix):
            return prefix
    return name.removesuffix(".csv")


def pollock_kind(name: str) -> str:
    """The Pollock file (or row-level family) a file of ours stands for: a variant is
    scored as the file it varies."""
    kind = family(name)
    for suffix in VARIANTS:
        kind = kind.removesuffix(suffix)
    return kind


def main() -> None:
    for sub in ("csv", "clean"):
        folder = HERE / sub
        folder.mkdir(exist_ok=True)
        for old in folder.glob("*.csv"):
            old.unlink()
    count = 0
    for name, polluted, twin in pollutions(full=False):
        (HERE / "csv" / name).write_bytes(polluted)
        (HERE / "clean" / name).write_bytes(twin)
        count += 1
    print(f"wrote {count} polluted files and their clean twins under {HERE}")


if __name__ == "__main__":
    main()
