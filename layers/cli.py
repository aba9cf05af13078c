"""The ``wangge`` command line: a thin root that only registers one sub-app per area.

Each area keeps its commands in its own module (heavy imports inside the commands, so
``wangge --help`` stays fast) and is added here with one line.
"""

from __future__ import annotations

import typer

from layers.address.cli import app as address_app
from layers.demo.commands import app as demo_app
from layers.grids import plan_cli, validate_cli
from layers.ledger.cli import app as ledger_app
from layers.registries.cli import app as registries_app
from layers.spatial import cli as spatial_cli
from layers.stats.cli import app as stats_app

app = typer.Typer(
    name="wangge",
    help="Wangge (网格) grid management: command line tools.",
    no_args_is_help=True,
)
app.add_typer(address_app, name="address")
app.add_typer(demo_app, name="demo")
validate_cli.app.registered_commands += plan_cli.grids_app.registered_commands
app.add_typer(validate_cli.app, name="grids")
app.add_typer(plan_cli.plans_app, name="plans")
app.add_typer(registries_app, name="registries")
app.add_typer(ledger_app)
app.add_typer(stats_app, name="stats")
app.command("assign")(spatial_cli.assign)
app.command("locate")(spatial_cli.locate)
app.command("review")(spatial_cli.review)


if __name__ == "__main__":
    app()
