"""Pollock-style scores of `kpi clean` over the files of ``generate.py``.

A loaded file is compared with its clean twin, both read as RFC 4180 CSV, as the Pollock
benchmark does: precision, recall and F1 of the header (the first row's cells), of the
records (the other rows, each as the string of its cells) and of the cells (every cell of
the file), over multisets; cells are normalised first (numbers as numbers, booleans as 0
or 1, text lower-cased). With 1 for a successful load, a file scores at most 10.

    python tests/data/polluted/score.py            # every row × column combination
    python tests/data/polluted/score.py --subset   # the files written to csv/
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

from generate import family, pollutions  # noqa: E402


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
    from kpicli.clean import clean_file

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
    worst = sorted(files.items(), key=lambda kv: kv[1])[:15]
    print("worst:", ", ".join(f"{n} {s:.2f}" for n, s in worst))


if __name__ == "__main__":
    main()
