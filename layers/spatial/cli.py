"""``wangge assign`` / ``wangge locate`` / ``wangge review``: assignment from the command line.

* ``assign`` files buildings, places and incidents under their grids (all three tables or one).
  It is a dry run unless ``--commit``: it prints how many rows would change, and writes nothing.
* ``locate LON LAT [--crs] [--user]`` prints what ``GET /locate`` answers. With ``--user`` it
  acts as that account (its area, its masking, and an audit row when staff are shown); without,
  as an operator who sees every area with staff names and phones masked.
* ``review`` lists the rows no grid covers, with the nearest grid and the distance in metres.

Each command runs in one transaction on ``DATABASE_URL``. Tests hand in their own session
through ``ctx.obj = {"session": <context manager factory>}``.
"""

from __future__ import annotations

import enum
import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from layers.cli_support import cli_fail, cli_transaction
from layers.errors import WanggeError

app = typer.Typer(
    help="Assignment of buildings, places and incidents to grids (房进网格), and point location.",
    no_args_is_help=True,
)
console = Console(soft_wrap=True)


class AssignTable(enum.StrEnum):
    """The tables whose rows are filed under a grid."""

    buildings = "buildings"
    places = "places"
    incidents = "incidents"


@app.command()
def assign(
    ctx: typer.Context,
    table: Annotated[
        AssignTable | None, typer.Option(help="Only this table (default: all three).")
    ] = None,
    commit: Annotated[
        bool, typer.Option("--commit", help="Write the changes (default: dry run, count only).")
    ] = False,
) -> None:
    """File rows under the grid that covers them; a dry run unless --commit."""
    from layers.spatial.assign import ASSIGNED_TABLES, TABLE_LABELS_ZH, assign_rows

    tables = [table.value] if table is not None else list(ASSIGNED_TABLES)
    changed: dict[str, int] = {}
    seconds: dict[str, float] = {}
    with (
        cli_transaction(ctx, commit=commit) as session,
        Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description:<24}"),
            TimeElapsedColumn(),
            console=console,
        ) as progress,
    ):
        for name in tables:
            task = progress.add_task(f"{name} ({TABLE_LABELS_ZH[name]})", total=1)
            started = time.perf_counter()
            changed[name] = assign_rows(session, table=name, dry_run=not commit)
            seconds[name] = time.perf_counter() - started
            progress.update(task, completed=1)
    result = RichTable(title="assignment (入格)" + ("" if commit else " — dry run"))
    result.add_column("table")
    result.add_column("rows changed" if commit else "rows that would change", justify="right")
    result.add_column("seconds", justify="right")
    for name in tables:
        result.add_row(name, f"{changed[name]:,}", f"{seconds[name]:.2f}")
    console.print(result)
    total = sum(changed.values())
    if commit:
        console.print(f"Committed: {total} rows changed. 已写入：{total} 条记录变更。")
    else:
        console.print(
            f"Dry run: {total} rows would change; nothing was written. "
            f"Run again with --commit to write. 试运行：{total} 条记录将变更，未写入。"
        )


@app.command()
def locate(
    ctx: typer.Context,
    lon: Annotated[float, typer.Argument(help="Longitude (or easting for a projected CRS).")],
    lat: Annotated[float, typer.Argument(help="Latitude (or northing for a projected CRS).")],
    crs: Annotated[
        str | None, typer.Option(help="CRS: WGS84 (default), CGCS2000, GCJ02, BD09, EPSG:<code>.")
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(help="Act as this account: its area, its masking, audited like the API."),
    ] = None,
) -> None:
    """Which grid, community and building is at a point (like GET /locate)."""
    from sqlalchemy import select

    from layers import locate as locating
    from layers.models import User
    from layers.users import load_principal

    with cli_transaction(ctx, commit=True) as session:
        principal = None
        if user is not None:
            user_id = session.execute(select(User.id).where(User.username == user)).scalar()
            if user_id is None:
                console.print(f"[red]No account {user!r}[/red]\n账号 {user!r} 不存在")
                raise typer.Exit(code=1)
            principal = load_principal(session, user_id)
        try:
            answer = locating.locate(session, principal, lon=lon, lat=lat, crs=crs)
        except WanggeError as exc:
            raise cli_fail(exc, console) from None
    _print_answer(answer)


def _print_answer(answer: dict[str, Any]) -> None:
    where = answer["location"]
    console.print(f"location {where['lon']:.7f}, {where['lat']:.7f} (EPSG:4326)")
    chain = [answer["admin"][level] for level in ("district", "street", "community")]
    console.print("admin    " + " / ".join(f"{u['name']} {u['code']}" for u in chain if u))
    grid = answer["grid"]
    if grid is None:
        console.print(f"status   outside — {answer['message']} ({answer['message_zh']})")
        nearest = answer["nearest"]
        if nearest is not None:
            console.print(
                f"nearest  {nearest['grid']['code']} {nearest['grid']['name']} "
                f"{nearest['distance_m']:.1f} m"
            )
    else:
        console.print(f"grid     {grid['code']} {grid['name']} ({grid['kind']})")
        console.print(f"四至     {grid['sizhi'] or '—'}")
        for person in grid["staff"]:
            console.print(f"staff    {person['duty']}: {person['name']} {person['phone'] or ''}")
        if answer["boundary_of"]:
            console.print("boundary " + ", ".join(answer["boundary_of"]) + " (smallest code wins)")
    building = answer["building"]
    if building is not None:
        console.print(f"building {building['code']} {building['address']}")


@app.command()
def review(
    ctx: typer.Context,
    table: Annotated[AssignTable | None, typer.Option(help="Only this table.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="Rows per table.")] = 100,
) -> None:
    """Rows outside every grid, with the nearest grid and the distance in metres."""
    from layers.spatial.assign import unassigned_rows

    with cli_transaction(ctx, commit=False) as session:
        rows = unassigned_rows(
            session, table=table.value if table is not None else None, limit=limit
        )
    # One line per row (not a table), so that the list can be piped into grep or a file.
    console.print(f"outside every grid (未入格): {len(rows)} rows")
    for row in rows:
        distance = "—" if row.distance_m is None else f"{row.distance_m:.1f} m"
        console.print(
            f"{row.table}\t{row.id}\t{row.lon:.7f},{row.lat:.7f}\t"
            f"nearest {row.nearest_grid_code or '—'} {distance}\t{row.label}"
        )
