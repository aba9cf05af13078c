"""``wangge stats``: maintenance of the statistics rollup.

``wangge stats refresh`` recomputes the materialized view ``incident_heat_rollup`` (see
:mod:`layers.stats.cells`); schedule it (cron, systemd timer) as often as the dispatch centre
needs the rollup fresh. Tests hand in their own session through ``ctx.obj = {"session": ...}``.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import text

from layers.cli_support import cli_transaction

app = typer.Typer(help="Incident statistics (事件统计).", no_args_is_help=True)
console = Console()


@app.command("refresh")
def refresh(
    ctx: typer.Context,
    concurrently: Annotated[
        bool,
        typer.Option(
            "--concurrently/--blocking",
            help="CONCURRENTLY keeps the rollup readable while it is recomputed",
        ),
    ] = True,
) -> None:
    """Recompute the heat rollups (counts per 250 m cell, month, (category,) community)."""
    from layers.stats.cells import ROLLUP_VIEWS, refresh_rollup

    started = time.perf_counter()
    with cli_transaction(ctx, commit=True) as session:
        refresh_rollup(session, concurrently=concurrently)
        rows = {
            view: session.scalar(text(f"SELECT count(*) FROM {view}"))  # noqa: S608
            for view in ROLLUP_VIEWS
        }
    sizes = ", ".join(f"{view}: {n} rows" for view, n in rows.items())
    console.print(f"{sizes}; {time.perf_counter() - started:.2f} s（热力预聚合已刷新）")
