"""`python -m kpicli` runs the `kpi` command."""

from kpicli.cli import app

app(prog_name="kpi")
