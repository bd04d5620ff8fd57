"""Rewrite the demo exports of ``sample_data/`` (the same bytes on every run).

The generator itself lives in the package, ``kpicli/sample.py``, so that ``kpi init --sample``
can write the same files from an installed copy of kpi; see its docstring for what shapes
the data. Usage: ``python sample_data/generate.py``
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

try:
    from kpicli.commands.sample import generate
except ImportError:  # run from a checkout without kpi installed
    sys.path.insert(0, str(HERE.parent))
    from kpicli.commands.sample import generate


def main() -> None:
    for path in generate(HERE):
        with open(path, encoding="utf-8") as f:
            rows = sum(1 for _ in f) - 1
        print(f"{path.name:24} {rows:>7} rows {path.stat().st_size / 1024:>8.0f} KiB")


if __name__ == "__main__":
    main()
