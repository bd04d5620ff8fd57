"""Regenerate the terminal tables the README shows, from the shipped sample.

    python docs/capture.py           # rewrite README.md's captured blocks
    python docs/capture.py --check   # exit 1 when one is out of date (what the tests run)

A captured block in README.md is a ```text fence right after a marker comment that names
the command's arguments::

    <!-- capture: report -p last-month --by channel --compare previous -->

The block is what `kpi <arguments> --as-of 2026-12-01` prints, 100 columns wide, without
colors, run from the repository's root with this checkout's ``kpicli``.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: The date the captured reports are as of (the sample's data ends the day before).
AS_OF = "2026-12-01"
WIDTH = 100
MARKER = re.compile(r"<!-- capture: (?P<args>[^>]*?) -->\n```text\n(?P<body>.*?)```\n", re.S)


def run(args: str) -> str:
    """What ``kpi <args>`` prints as the README shows it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": str(WIDTH), "NO_COLOR": "1"}
    argv = [sys.executable, "-m", "kpicli", *shlex.split(args), "--as-of", AS_OF]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return done.stdout


def captured(text: str) -> str:
    """``text`` with every captured block as the command prints it today."""

    def block(match: re.Match[str]) -> str:
        return f"<!-- capture: {match['args']} -->\n```text\n{run(match['args'])}```\n"

    return MARKER.sub(block, text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only say whether they are current")
    args = ap.parse_args(argv)
    text = README.read_text(encoding="utf-8")
    new = captured(text)
    if args.check:
        if new != text:
            print("README.md: a captured block is out of date: run python docs/capture.py")
            return 1
        return 0
    if new != text:
        README.write_text(new, encoding="utf-8")
        print("README.md: captured blocks rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
