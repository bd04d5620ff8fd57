"""Writes the fixtures of this folder, byte for byte as the vendors' downloads are packed:
gzip (mtime 0, so the bytes do not change), zip with the zipfile module, xlsx with
xlsxwriter, an .ods by hand (a zip of content.xml), CSVs in Windows code pages.

Run ``python tests/data/exports14/files/make_fixtures.py`` to write them again.
"""

from __future__ import annotations

import datetime as dt
import gzip
import zipfile
from pathlib import Path

HERE = Path(__file__).parent

#: Search Console's Performance export (a .zip of seven CSVs), English UI.
SC_QUERIES = (
    "Top queries,Clicks,Impressions,CTR,Position\r\n"
    "kpi cli,120,1500,8%,3.2\r\n"
    "marketing kpis,45,3000,1.5%,7.9\r\n"
    "csv report tool,9,800,1.13%,12.4\r\n"
)
SC_PAGES = (
    "Top pages,Clicks,Impressions,CTR,Position\r\n"
    "https://example.com/,150,4000,3.75%,4.1\r\n"
    "https://example.com/docs,24,1300,1.85%,9.7\r\n"
)
SC_DATES = "Date,Clicks,Impressions,CTR,Position\r\n" + "".join(
    f"2026-01-{d:02d},{10 + d},{200 + 7 * d},{(10 + d) / (200 + 7 * d):.2%},{5 + d / 10:.1f}\r\n"
    for d in range(1, 15)
)
SC_OTHERS = {
    "Countries.csv": "Country,Clicks,Impressions,CTR,Position\r\nFrance,100,2000,5%,4\r\n"
    "Germany,74,3300,2.24%,6.5\r\n",
    "Devices.csv": "Device,Clicks,Impressions,CTR,Position\r\nDesktop,130,3800,3.42%,5\r\n"
    "Mobile,44,1500,2.93%,6.1\r\n",
    "Search appearance.csv": "Search Appearance,Clicks,Impressions,CTR,Position\r\n"
    "Videos,3,90,3.33%,8\r\n",
    "Filters.csv": "Filter,Value\r\nSearch type,Web\r\nDate,Last 14 days\r\n",
}

META_ROWS = [
    (dt.date(2026, 1, 5), "Winter sale", 12.5, 1000, 23, 0.0123),
    (dt.date(2026, 1, 5), "Brand", 7.25, 640, 5, 1 / 3),
    (dt.date(2026, 1, 6), "Winter sale", 1.234, 20, 1, 0.05),
    (dt.date(2026, 1, 7), "Brand", 30.1, 2100, 44, 0.021),
]
META_HEADER = ["Day", "Campaign name", "Amount spent (EUR)", "Impressions", "Link clicks", "CTR"]

GA4_SNAPSHOT = (
    "# ----------------------------------------\r\n"
    "# Reports snapshot\r\n"
    "# Account: Example shop\r\n"
    "# Property: Example shop GA4\r\n"
    "# ----------------------------------------\r\n"
    "#\r\n"
    "# All Users\r\n"
    "# Start date: 20260101\r\n"
    "# End date: 20260107\r\n"
    "Nth day,Active users\r\n"
    "0000,120\r\n0001,135\r\n0002,101\r\n"
    "\r\n"
    "# ----------------------------------------\r\n"
    "# Session default channel group\r\n"
    "# ----------------------------------------\r\n"
    "Session default channel group,Sessions,Engaged sessions\r\n"
    "Organic Search,540,300\r\nDirect,220,110\r\n"
    '"Paid Search, Brand",75,40\r\n'
    "\r\n"
    "# ----------------------------------------\r\n"
    "# Country\r\n"
    "# ----------------------------------------\r\n"
    "Country,Active users\r\n"
    "France,210\r\nGermany,95\r\n"
)

#: The same campaign rows, as Excel saves a CSV in each Windows code page.
CODE_PAGE_FILES = {
    "greek_cp1253.csv": (
        "cp1253",
        "Ημέρα;Καμπάνια;Κόστος\r\n2026-01-05;Καλοκαίρι;12,50\r\n2026-01-05;Χειμώνας;3,40\r\n"
        "2026-01-06;Εκπτώσεις Ιανουαρίου;7,00\r\n",
    ),
    "cyrillic_cp1251.csv": (
        "cp1251",
        "День;Кампания;Расход\r\n2026-01-05;Летняя распродажа;12,50\r\n2026-01-05;Зима;3,40\r\n"
        "2026-01-06;Новый год;7,00\r\n",
    ),
    "japanese_shift_jis.csv": (
        "shift_jis",
        "日付,キャンペーン,費用\r\n2026-01-05,夏のセール,1250\r\n2026-01-05,冬のセール,340\r\n"
        "2026-01-06,新年キャンペーン,700\r\n",
    ),
    "turkish_cp1254.csv": (
        "cp1254",
        "Gün;Kampanya;Maliyet\r\n2026-01-05;Yaz kampanyası;12,50\r\n"
        "2026-01-05;Kış indirimi;3,40\r\n"
        "2026-01-06;Şubat özel;7,00\r\n",
    ),
}


def write_gzip(path: Path, data: bytes) -> None:
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(data)


def write_zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 15, 9, 30, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)


def meta_csv() -> bytes:
    lines = [",".join(META_HEADER)]
    for day, name, spend, imps, clicks, ctr in META_ROWS:
        lines.append(f"{day.isoformat()},{name},{spend},{imps},{clicks},{ctr!r}")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def write_xlsx(path: Path) -> None:
    """A Meta Ads Manager-like export: a title row, the header, rows, a Total row."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path), {"in_memory": True})
    wb.set_properties({"created": dt.datetime(2026, 1, 15, 9, 30)})
    ws = wb.add_worksheet("Raw Data Report")
    day = wb.add_format({"num_format": "yyyy-mm-dd"})
    money = wb.add_format({"num_format": "#,##0.00 [$€-x-euro2]"})
    pct = wb.add_format({"num_format": "0.00%"})
    ws.write(0, 0, "Meta Ads report: 5 Jan 2026 - 7 Jan 2026")
    ws.write_row(2, 0, META_HEADER)
    for i, (d, name, spend, imps, clicks, ctr) in enumerate(META_ROWS, start=3):
        ws.write_datetime(i, 0, dt.datetime(d.year, d.month, d.day), day)
        ws.write_string(i, 1, name)
        ws.write_number(i, 2, spend, money)
        ws.write_number(i, 3, imps)
        ws.write_number(i, 4, clicks)
        ws.write_number(i, 5, ctr, pct)
    last = 3 + len(META_ROWS)
    ws.write(last, 0, "Total")
    ws.write_number(last, 2, sum(r[2] for r in META_ROWS), money)
    ws.write_number(last, 3, sum(r[3] for r in META_ROWS))
    ws.write_number(last, 4, sum(r[4] for r in META_ROWS))
    notes = wb.add_worksheet("Notes")
    notes.write(0, 0, "Exported from Ads Manager")
    wb.close()


ODS_CONTENT = """<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">
<office:body><office:spreadsheet><table:table table:name="Campaigns">{rows}</table:table>
</office:spreadsheet></office:body></office:document-content>"""


def _ods_cell(value: object) -> str:
    if isinstance(value, dt.date):
        return (
            f'<table:table-cell office:value-type="date" office:date-value="{value.isoformat()}">'
            f"<text:p>{value.isoformat()}</text:p></table:table-cell>"
        )
    if isinstance(value, int | float):
        return (
            f'<table:table-cell office:value-type="float" office:value="{value!r}">'
            f"<text:p>{value}</text:p></table:table-cell>"
        )
    return (
        f'<table:table-cell office:value-type="string"><text:p>{value}</text:p></table:table-cell>'
    )


def write_ods(path: Path) -> None:
    """An OpenDocument spreadsheet as LibreOffice writes one (its essentials): a zip whose
    first member is the stored mimetype, then content.xml and the manifest."""
    table = [META_HEADER] + [list(r) for r in META_ROWS]
    rows = "".join(
        "<table:table-row>" + "".join(_ods_cell(v) for v in row) + "</table:table-row>"
        for row in table
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
        'manifest:version="1.2">'
        '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/'
        'vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" '
        'manifest:media-type="text/xml"/></manifest:manifest>'
    )
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo("mimetype", date_time=(2026, 1, 15, 9, 30, 0))
        zf.writestr(info, "application/vnd.oasis.opendocument.spreadsheet")
        for name, data in (
            ("content.xml", ODS_CONTENT.format(rows=rows)),
            ("META-INF/manifest.xml", manifest),
        ):
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 15, 9, 30, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)


def main(out: Path = HERE) -> None:
    write_gzip(out / "meta_ads.csv.gz", meta_csv())
    members = {
        "Queries.csv": SC_QUERIES,
        "Pages.csv": SC_PAGES,
        **SC_OTHERS,
        "Dates.csv": SC_DATES,
    }
    write_zip(out / "search_console.zip", {k: v.encode("utf-8-sig") for k, v in members.items()})
    write_zip(out / "one_table.zip", {"export/Campaign report.csv": meta_csv()})
    write_xlsx(out / "meta_ads.xlsx")
    write_ods(out / "meta_ads.ods")
    (out / "ga4_snapshot.csv").write_bytes(GA4_SNAPSHOT.encode("utf-8"))
    for name, (codec, text) in CODE_PAGE_FILES.items():
        (out / name).write_bytes(text.encode(codec))


if __name__ == "__main__":
    main()
