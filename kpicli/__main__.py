"""`python -m kpicli` runs the `kpi` command."""

from kpicli.cli import run

run()
