"""``wangge address search "..."`` / ``wangge address reverse LON LAT``: checks from a shell.

Each command is one transaction (committed: reading staff writes an audit row); tests hand it
their own session through ``ctx.obj`` (see :mod:`layers.cli_support`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from layers.cli_support import cli_fail, cli_transaction
from layers.errors import WanggeError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from layers.access import Principal

app = typer.Typer(help="Address register: search (地址查找).", no_args_is_help=True)
console = Console(soft_wrap=True, highlight=False)

_USER = typer.Option(help="Act as this account: its area, its masking, audited like the API.")


def _principal(session: Session, user: str | None) -> Principal | None:
    """The account's principal, None (the operator: every area, masked) without --user."""
    from sqlalchemy import select

    from layers.models import User
    from layers.users import load_principal

    if user is None:
        return None
    user_id = session.execute(select(User.id).where(User.username == user)).scalar()
    if user_id is None:
        console.print(f"[red]No account {user!r}[/red]\n账号 {user!r} 不存在")
        raise typer.Exit(code=1)
    return load_principal(session, user_id)


@app.command("search")
def search_command(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="Free-text address, e.g. 华信路12号3号楼2单元301")],
    limit: Annotated[int, typer.Option(min=1, max=50, help="Most hits shown")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full answer as JSON")] = False,
    user: Annotated[str | None, _USER] = None,
) -> None:
    """Search the address register (as the operator unless --user: every area, staff masked)."""
    from layers.address.search import search

    with cli_transaction(ctx, commit=True) as session:
        principal = _principal(session, user)
        try:
            result = search(session, principal, q=query, limit=limit)
        except WanggeError as exc:
            raise cli_fail(exc, console) from None
    if as_json:
        typer.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
        return
    parts = {k: v for k, v in result.parsed.as_dict().items() if v not in (None, "")}
    console.print(f"解析: {parts}")
    if not result.hits:
        console.print("未找到 (no match)")
    for hit in result.hits:
        grid = hit["grid"]["code"] if hit["grid"] else "-"
        console.print(
            f"{hit['rank']}. {hit['address']}  [建筑 {hit['building']['code']}, "
            f"网格 {grid}, 得分 {hit['score']}]"
        )


@app.command("reverse")
def reverse_command(
    ctx: typer.Context,
    lon: Annotated[float, typer.Argument(help="Longitude (or easting for a projected CRS).")],
    lat: Annotated[float, typer.Argument(help="Latitude (or northing for a projected CRS).")],
    crs: Annotated[
        str | None, typer.Option(help="CRS: WGS84 (default), CGCS2000, GCJ02, BD09, EPSG:<code>.")
    ] = None,
    user: Annotated[str | None, _USER] = None,
) -> None:
    """The address at a point: the building under it (or nearest) and the grid there."""
    from layers.address.search import reverse

    with cli_transaction(ctx, commit=True) as session:
        principal = _principal(session, user)
        try:
            answer = reverse(session, principal, lon=lon, lat=lat, crs=crs)
        except WanggeError as exc:
            raise cli_fail(exc, console) from None
    building, grid = answer["building"], answer["grid"]
    console.print(f"地址: {answer['address'] or '—'}")
    if building is not None:
        where = "覆盖该点" if building["covers_point"] else f"相距 {building['distance_m']} 米"
        console.print(f"建筑: {building['code']} ({where})")
    console.print(f"网格: {grid['code'] + ' ' + grid['name'] if grid else '—'}")
