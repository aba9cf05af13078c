"""``wangge address search "..."``: quick checks of the address search from a shell."""

from __future__ import annotations

import json

import typer

app = typer.Typer(help="Address register: search (地址查找).", no_args_is_help=True)


@app.command("search")
def search_command(
    query: str = typer.Argument(..., help="Free-text address, e.g. 华信路12号3号楼2单元301"),
    limit: int = typer.Option(5, min=1, max=50, help="Most hits shown"),
    as_json: bool = typer.Option(False, "--json", help="Print the full answer as JSON"),
) -> None:
    """Search the address register as the operator (every area, staff masked, audited as cli)."""
    from layers.address.search import search
    from layers.db import make_engine, session_scope

    engine = make_engine()
    with session_scope(engine) as session:
        result = search(session, None, q=query, limit=limit)
        if as_json:
            typer.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
            return
        parts = {k: v for k, v in result.parsed.as_dict().items() if v not in (None, "")}
        typer.echo(f"解析: {parts}")
        if not result.hits:
            typer.echo("未找到")
        for hit in result.hits:
            grid = hit["grid"]["code"] if hit["grid"] else "-"
            typer.echo(
                f"{hit['rank']}. {hit['address']}  [建筑 {hit['building']['code']}, "
                f"网格 {grid}, 得分 {hit['score']}]"
            )
