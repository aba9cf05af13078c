"""``wangge plans …`` and ``wangge grids sizhi / sizing``: grid plans from the command line.

* ``plans list [--status]`` — plans, newest first.
* ``plans diff ID`` — what publishing would change: grids before/after, rows moved, codes.
* ``plans publish ID --user NAME [--effective-at T] [--commit]`` — publishes in one transaction
  and prints what changed; without ``--commit`` the transaction is rolled back (a dry run that
  runs every check, including the version check and validation).
* ``grids sizhi CODE [--regenerate] [--commit]`` — the stored and the generated 四至; with
  ``--regenerate`` the grid and its neighbours get the generated text (typed texts are kept),
  written only with ``--commit``.
* ``grids sizing COMMUNITY`` — households per grid against the sizing targets (live).

Reads act as an operator who sees every area; ``publish`` acts as ``--user`` (role and area
checked, the change attributed to them). Each command is one transaction on ``DATABASE_URL``.
Tests hand in their own session through ``ctx.obj = {"session": <context manager factory>}``.

The root CLI registers :data:`app` (groups ``plans`` and ``grids``); :data:`plans_app` and
:data:`grids_app` are the two groups on their own, for merging ``grids`` with other grid
commands.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable
from sqlalchemy.orm import Session

from layers.cli_support import cli_fail, cli_transaction, operator_principal
from layers.errors import WanggeError

if TYPE_CHECKING:
    from layers.access import Principal

app = typer.Typer(help="Grid plans (网格调整方案) and grid descriptions.", no_args_is_help=True)
plans_app = typer.Typer(
    help="Draft grid plans: list, diff, publish (网格调整方案).", no_args_is_help=True
)
grids_app = typer.Typer(help="四至 and sizing of grids (网格四至与规模).", no_args_is_help=True)
app.add_typer(plans_app, name="plans")
app.add_typer(grids_app, name="grids")
console = Console(soft_wrap=True)

CommitOption = Annotated[
    bool, typer.Option("--commit", help="Write the changes (default: a dry run).")
]


def _user(session: Session, username: str) -> Principal:
    from sqlalchemy import select

    from layers.errors import InvalidInput
    from layers.models import User
    from layers.users import load_principal

    user_id = session.scalar(select(User.id).where(User.username == username.strip().lower()))
    if user_id is None:
        raise InvalidInput(f"There is no user {username!r}", f"没有用户 {username!r}", field="user")
    return load_principal(session, user_id)


def _spinner() -> Progress:
    return Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
    )


@plans_app.command("list")
def list_plans(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="draft, published or abandoned")] = None,
) -> None:
    """List grid plans, newest first."""
    from layers.grids import plans

    try:
        with cli_transaction(ctx, commit=False) as session:
            rows = plans.list_plans(session, principal=operator_principal(), status=status)
    except WanggeError as exc:
        raise cli_fail(exc, console) from exc
    table = RichTable(title="网格调整方案 Grid plans")
    for column in ("id", "name", "status", "scope", "effective_at"):
        table.add_column(column)
    for p in rows:
        effective = p.effective_at.isoformat() if p.effective_at else ""
        table.add_row(str(p.id), p.name, p.status, f"{p.scope_code} {p.scope_name}", effective)
    console.print(table)


def _counts(c: object | None) -> str:
    if c is None:
        return "—"
    return "/".join(
        str(getattr(c, k))
        for k in ("buildings", "households", "persons", "places", "open_incidents")
    )


@plans_app.command("diff")
def diff_plan(ctx: typer.Context, plan_id: int) -> None:
    """Show what publishing a draft would change (new codes are provisional)."""
    from layers.grids.diff import plan_diff

    try:
        with cli_transaction(ctx, commit=False) as session, _spinner() as spinner:
            spinner.add_task(f"diff of plan {plan_id}")
            diff = plan_diff(session, principal=operator_principal(), plan_id=plan_id)
    except WanggeError as exc:
        raise cli_fail(exc, console) from exc
    table = RichTable(title=f"Plan {plan_id}: buildings/households/persons/places/open incidents")
    for column in ("code", "change", "name", "before", "after", "households vs target"):
        table.add_column(column)
    for g in diff.grids:
        target = (
            f"{g.deviation.status} {g.deviation.deviation:+d} "
            f"({g.target.min_households}–{g.target.max_households})"
            if g.deviation and g.target
            else ""
        )
        table.add_row(g.code, g.change, g.name, _counts(g.before), _counts(g.after), target)
    console.print(table)
    moves = RichTable(title="Moves")
    for column in ("layer", "from", "to", "count"):
        moves.add_column(column)
    for m in diff.moves:
        moves.add_row(m.layer, m.from_code or "—", m.to_code or "—", str(m.count))
    console.print(moves)
    console.print(f"codes created: {', '.join(diff.codes_created) or '—'}")
    console.print(f"codes retired: {', '.join(diff.codes_retired) or '—'}")
    if diff.stale:
        console.print(f"[yellow]changed since edited: {diff.stale}[/yellow]")


@plans_app.command("publish")
def publish_plan(
    ctx: typer.Context,
    plan_id: int,
    user: Annotated[str, typer.Option("--user", help="Publish as this user (planner or admin).")],
    effective_at: Annotated[
        datetime | None,
        typer.Option(
            "--effective-at",
            formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S%z"],
            help="When the plan takes effect, with UTC offset (default: now).",
        ),
    ] = None,
    commit: CommitOption = False,
) -> None:
    """Publish a draft plan (dry run unless --commit)."""
    from layers.grids import plans

    try:
        with cli_transaction(ctx, commit=commit) as session, _spinner() as spinner:
            task = spinner.add_task(f"publishing plan {plan_id}")
            result = plans.publish_plan(
                session,
                principal=_user(session, user),
                plan_id=plan_id,
                effective_at=effective_at,
            )
            spinner.update(task, description=f"published plan {plan_id}")
    except WanggeError as exc:
        raise cli_fail(exc, console) from exc
    verb = "Published" if commit else "Dry run (nothing written; add --commit)"
    console.print(f"{verb}: plan {plan_id}, effective {result.effective_at.isoformat()}")
    for grid in result.created:
        console.print(f"  new version {grid.code} v{grid.version} {grid.name}")
    for code, version in result.closed:
        console.print(f"  closed {code} v{version}")
    console.print(f"  codes issued: {', '.join(result.codes_issued) or '—'}")
    console.print(f"  codes retired: {', '.join(result.codes_retired) or '—'}")
    console.print("  re-filed: " + ", ".join(f"{k} {v}" for k, v in result.reassigned.items()))


@grids_app.command("sizhi")
def sizhi(
    ctx: typer.Context,
    code: str,
    regenerate: Annotated[
        bool, typer.Option("--regenerate", help="Rewrite the generated 四至 of CODE and neighbours")
    ] = False,
    commit: CommitOption = False,
) -> None:
    """Show a grid's 四至 (stored and generated); --regenerate rewrites it and its neighbours'."""
    from sqlalchemy import select

    from layers.grids import sizhi as sizhi_layer
    from layers.models import Grid

    try:
        with cli_transaction(ctx, commit=commit) as session:
            stored, generated, typed = sizhi_layer.preview_sizhi(
                session, principal=operator_principal(), code=code
            )
            console.print(f"{code} stored{' (typed)' if typed else ''}: {stored}")
            console.print(f"{code} generated: {generated}")
            if regenerate:
                grid_id = session.scalar(
                    select(Grid.id).where(Grid.code == code, Grid.valid_to.is_(None))
                )
                assert grid_id is not None  # preview_sizhi found the current version
                changed = sizhi_layer.regenerate_sizhi(session, grid_ids=[grid_id])
                names = dict(
                    session.execute(
                        select(Grid.id, Grid.code).where(Grid.id.in_(list(changed)))
                    ).all()
                )
                for grid, value in sorted(changed.items(), key=lambda kv: names[kv[0]]):
                    console.print(f"  {names[grid]} → {value}")
                verb = "rewritten" if commit else "would be rewritten (add --commit)"
                console.print(f"{len(changed)} 四至 {verb}")
    except WanggeError as exc:
        raise cli_fail(exc, console) from exc


@grids_app.command("sizing")
def sizing(ctx: typer.Context, community: str) -> None:
    """Households per current grid of a community against the sizing targets."""
    from layers.grids import sizing as sizing_layer

    try:
        with cli_transaction(ctx, commit=False) as session:
            rows = sizing_layer.grid_sizing(
                session, principal=operator_principal(), community_code=community
            )
    except WanggeError as exc:
        raise cli_fail(exc, console) from exc
    table = RichTable(title=f"网格规模 Sizing of {community}")
    for column in ("code", "name", "type", "households", "target", "deviation"):
        table.add_column(column)
    for r in rows:
        target = f"{r.target.min_households}–{r.target.max_households}" if r.target else "—"
        deviation = f"{r.deviation.status} {r.deviation.deviation:+d}" if r.deviation else "—"
        table.add_row(r.code, r.name, r.sizing_type, str(r.households), target, deviation)
    console.print(table)
