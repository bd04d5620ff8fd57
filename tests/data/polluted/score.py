"""Pollock-style scores of `kpi clean` over the files of ``generate.py``.

A loaded file is compared with its clean twin, both read as RFC 4180 CSV, as the Pollock
benchmark does: precision, recall and F1 of the header (the first row's cells), of the
records (the other rows, each as the string of its cells) and of the cells (every cell of
the file), over multisets; cells are normalised first (numbers as numbers, booleans as 0
or 1, text lower-cased). With 1 for a successful load, a file scores at most 10.

    python tests/data/polluted/score.py            # every row × column combination
    python tests/data/polluted/score.py --subset   # the files written to csv/

Besides the mean over our files, it estimates the two figures Pollock publishes from the
per-kind means (:func:`pollock_estimate`): the *simple* score is the mean over Pollock's
2,290 files (22 file-level ones, then 672 ``row_less_sep``, 756 ``row_more_sep``, 756
``row_extra_quote`` and 84 ``row_field_delimiter`` files: each of our kinds stands for as
many), the *weighted* one weighs each file by how often real files show its pollution
(Pollock's ``pollock_weights.json``, :data:`WEIGHTS`). Our extra kinds (encodings, summary
rows, footers) are not Pollock's and are left out of both.
"""

from __future__ import annotations

import csv
import io
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from generate import family, pollock_kind, pollutions  # noqa: E402

#: Pollock's files by kind: (how many files, weight of each), from the benchmark's
#: ``pollock_weights.json`` (HPI-Information-Systems/Pollock).
WEIGHTS: dict[str, tuple[int, float]] = {
    "source": (1, 1.0),
    "file_no_payload": (1, 15.0),
    "file_no_trailing_newline": (1, 184.0),
    "file_double_trailing_newline": (1, 5.0),
    "file_no_header": (1, 470.0),
    "file_header_multirow_2": (1, 47.0),
    "file_header_multirow_3": (1, 47.0),
    "file_preamble": (1, 282.0),
    "file_multitable_same": (1, 188 / 3),
    "file_multitable_more": (1, 188 / 3),
    "file_multitable_less": (1, 188 / 3),
    "file_header_only": (1, 3.0),
    "file_one_data_row": (1, 4.0),
    "file_record_delimiter_0xD": (1, 7.0),
    "file_record_delimiter_0xA": (1, 1691.0),
    "file_field_delimiter_0x9": (1, 4.0),
    "file_field_delimiter_0x3B": (1, 834.0),
    "file_field_delimiter_0x20": (1, 4.0),
    "file_field_delimiter_0x2C_0x20": (1, 101.0),
    "file_quotation_char_0x27": (1, 11.0),
    "file_escape_char_0x5C": (1, 1.0),
    "file_escape_char_0x00": (1, 7.0),
    "row_less_sep": (672, 0.36775106082036774),
    "row_more_sep": (756, 0.36775106082036774),
    "row_extra_quote": (756, 0.009259259259259259),
    "row_field_delimiter": (84, 0.14285714285714285),
}


def normalize(cell: str) -> str:
    if cell == "":
        return ""
    if cell in ("True", "true", "False", "false"):
        return "1" if cell.lower() == "true" else "0"
    try:
        number = int(cell)
        return "1" if number == 1 else "0" if number == 0 else str(number)
    except ValueError:
        pass
    try:
        return str(float(cell))
    except ValueError:
        return cell.lower()


def _prf(expected: list[str], loaded: list[str]) -> tuple[float, float, float]:
    if not expected:
        return 1.0, 1.0, 1.0
    common = sum((Counter(expected) & Counter(loaded)).values())
    if not common:
        return 0.0, 0.0, 0.0
    p, r = common / len(expected), common / len(loaded)
    return p, r, 2 * p * r / (p + r)


def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def score(expected: bytes, loaded: bytes | None) -> dict[str, float]:
    """The ten measures of one file (``loaded`` None: the load failed)."""
    keys = ("success", "header", "record", "cell")
    if loaded is None:
        return dict.fromkeys(keys, 0.0) | {"total": 0.0}
    src, got = _rows(expected), _rows(loaded)
    if not src:
        return dict.fromkeys(keys, 1.0) | {"total": 10.0}
    header = _prf([normalize(c) for c in src[0]], [normalize(c) for c in got[0]] if got else [])
    if not got:
        header = (0.0, 0.0, 0.0)
    records = _prf(
        ["".join(normalize(c) for c in r) for r in src[1:]],
        ["".join(normalize(c) for c in r) for r in got[1:]],
    )
    cells = _prf([c for r in src for c in r], [c for r in got for c in r])
    total = 1.0 + sum(header) + sum(records) + sum(cells)
    return {
        "success": 1.0,
        "header": header[2],
        "record": records[2],
        "cell": cells[2],
        "total": total,
    }


def load(data: bytes, tmp: Path) -> bytes | None:
    """`kpi clean` through its Python API (the CLI adds only option parsing and output)."""
    from kpicli.commands.clean import clean_file

    path = tmp / "input.csv"
    path.write_bytes(data)
    try:
        return clean_file(path).data
    except Exception:
        return None


def run(full: bool = True, tmp: Path | None = None) -> tuple[dict[str, list[float]], dict]:
    """Scores by kind, and each file's score."""
    import tempfile

    folder = Path(tmp or tempfile.mkdtemp())
    by_kind: dict[str, list[float]] = defaultdict(list)
    files: dict[str, float] = {}
    for name, polluted, twin in pollutions(full=full):
        s = score(twin, load(polluted, folder))["total"]
        by_kind[family(name)].append(s)
        files[name] = s
    return by_kind, files


def pollock_estimate(files: dict[str, float]) -> tuple[float, float, dict[str, float]]:
    """(simple, weighted, mean per Pollock kind) estimated from our files' scores."""
    kinds: dict[str, list[float]] = defaultdict(list)
    for name, s in files.items():
        kind = pollock_kind(name)
        if kind in WEIGHTS:
            kinds[kind].append(s)
    means = {k: sum(v) / len(v) for k, v in kinds.items()}
    missing = set(WEIGHTS) - set(means)
    assert not missing, f"no file of Pollock's kinds {sorted(missing)}"
    count = sum(n for n, _ in WEIGHTS.values())
    weight = sum(n * w for n, w in WEIGHTS.values())
    simple = sum(n * means[k] for k, (n, _) in WEIGHTS.items()) / count
    weighted = sum(n * w * means[k] for k, (n, w) in WEIGHTS.items()) / weight
    return simple, weighted, means


def main() -> None:
    full = "--subset" not in sys.argv
    start = time.perf_counter()
    by_kind, files = run(full)
    seconds = time.perf_counter() - start
    print(f"{'kind':40} {'files':>5} {'score':>7} {'min':>6}")
    for kind, scores in sorted(by_kind.items()):
        print(f"{kind:40} {len(scores):5d} {sum(scores) / len(scores):7.4f} {min(scores):6.2f}")
    total = sum(files.values()) / len(files)
    print(f"{'all':40} {len(files):5d} {total:7.4f}   ({seconds:.1f} s)")
    simple, weighted, _ = pollock_estimate(files)
    print(f"as Pollock counts its 2,290 files: simple {simple:.4f}, weighted {weighted:.4f}")
    worst = sorted(files.items(), key=lambda kv: kv[1])[:15]
    print("worst:", ", ".join(f"{n} {s:.2f}" for n, s in worst))


if __name__ == "__main__":
    main()
