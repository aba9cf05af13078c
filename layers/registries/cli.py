"""``wangge registries``: look up persons, list overdue visits, refresh rental flags.

Every command acts as a named user (``--user``): the same scoping, masking and audit as the API
apply, and audit rows written from here carry ``client_ip = "cli"``. Data-changing commands are
dry runs unless ``--commit``.

Tests (and embedding programs) pass a session factory as the typer context object:
``CliRunner().invoke(app, [...], obj=factory)`` where ``factory()`` returns a context manager
yielding a Session; by default one transaction on the configured database is used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import date
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from layers.access import Principal
from layers.cli_support import cli_fail
from layers.errors import WanggeError

app = typer.Typer(
    help="Registries (人口、关爱对象、出租房屋): persons, overdue visits, rental flags.",
    no_args_is_help=True,
)
persons_app = typer.Typer(help="Persons (人员).", no_args_is_help=True)
visits_app = typer.Typer(help="Visits (走访).", no_args_is_help=True)
tenancies_app = typer.Typer(help="Tenancies and rental flags (出租房屋).", no_args_is_help=True)
app.add_typer(persons_app, name="persons")
app.add_typer(visits_app, name="visits")
app.add_typer(tenancies_app, name="tenancies")

CLI_CLIENT = "cli"

SessionFactory = Callable[[], AbstractContextManager[Session]]
UserOption = Annotated[
    str, typer.Option("--user", "-u", help="Act as this user: their area, masking and audit.")
]


@contextmanager
def _default_session() -> Iterator[Session]:
    from layers.db import make_engine, session_scope

    engine = make_engine()
    try:
        with session_scope(engine) as session:
            yield session
    finally:
        engine.dispose()


def _session(ctx: typer.Context) -> AbstractContextManager[Session]:
    factory: SessionFactory | None = ctx.obj if callable(ctx.obj) else None
    return factory() if factory is not None else _default_session()


def _principal(session: Session, username: str) -> Principal:
    from layers.models import User
    from layers.users import load_principal

    user_id = session.execute(
        select(User.id).where(User.username == username.strip().lower())
    ).scalar_one_or_none()
    if user_id is None:
        raise typer.BadParameter(f"no user {username!r} (没有该用户)", param_hint="--user")
    return load_principal(session, user_id)


def _console() -> Console:
    # built per command so that the terminal width (COLUMNS) is read when the command runs
    return Console()


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value) or "—"
    if isinstance(value, dict):
        return str(value.get("name", value))
    return str(value)


@persons_app.command("show")
def persons_show(
    ctx: typer.Context,
    person_id: Annotated[int, typer.Argument(help="Person id.")],
    user: UserOption,
    reveal: Annotated[
        bool, typer.Option("--reveal", help="Full ID number and phone (admins; audited).")
    ] = False,
) -> None:
    """Show one person, masked unless --reveal; the read is audited."""
    from layers.registries.persons import get_person

    try:
        with _session(ctx) as session:
            principal = _principal(session, user)
            person = get_person(
                session,
                principal=principal,
                person_id=person_id,
                reveal=reveal,
                client_ip=CLI_CLIENT,
            )
    except WanggeError as exc:
        raise cli_fail(exc, _console()) from None
    table = Table(title=f"人员 Person {person_id}", show_header=False)
    table.add_column("field")
    table.add_column("value")
    for key, value in person.items():
        table.add_row(key, _text(value))
    _console().print(table)


@visits_app.command("overdue")
def visits_overdue(
    ctx: typer.Context,
    user: UserOption,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Judge on this date, YYYY-MM-DD (default today).")
    ] = None,
    community: Annotated[str | None, typer.Option(help="12-digit community code.")] = None,
    grid: Annotated[str | None, typer.Option(help="15-digit grid code.")] = None,
    category: Annotated[str | None, typer.Option(help="Care-group category code.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Rows to show.")] = 50,
) -> None:
    """Persons whose visit is overdue in your area, most overdue first (audited)."""
    from layers.registries.visits import overdue_visits

    day = None
    if as_of is not None:
        try:
            day = date.fromisoformat(as_of)
        except ValueError:
            raise typer.BadParameter(
                "use YYYY-MM-DD (日期格式应为 YYYY-MM-DD)", param_hint="--as-of"
            ) from None
    try:
        with _session(ctx) as session:
            principal = _principal(session, user)
            page = overdue_visits(
                session,
                principal=principal,
                as_of=day,
                community=community,
                grid=grid,
                category=category,
                limit=limit,
                client_ip=CLI_CLIENT,
            )
    except WanggeError as exc:
        raise cli_fail(exc, _console()) from None
    table = Table(title=f"逾期走访 Overdue visits: {page.total}")
    for column in ("person", "name", "grid", "categories", "last visit", "due", "days overdue"):
        table.add_column(column, justify="right" if column == "days overdue" else "left")
    for row in page.items:
        last = row["last_visited_at"]
        table.add_row(
            str(row["person_id"]),
            row["name"],
            _text(row["grid_code"]),
            _text(row["categories"]),
            last.date().isoformat() if last is not None else "never 从未",
            row["due_on"].isoformat(),
            str(row["days_overdue"]),
        )
    _console().print(table)
    if page.total > len(page.items):
        _console().print(f"showing {len(page.items)} of {page.total} (use --limit)")


@tenancies_app.command("refresh-flags")
def tenancies_refresh_flags(
    ctx: typer.Context,
    commit: Annotated[bool, typer.Option("--commit", help="Write the changes.")] = False,
) -> None:
    """Set each house's rental flag from its current tenancies (run daily). Dry run by default."""
    from layers.registries.tenancies import count_stale_rental_flags, refresh_rental_flags

    console = _console()
    with _session(ctx) as session, console.status("checking rental flags 检查出租标记…"):
        stale = count_stale_rental_flags(session)
        changed = refresh_rental_flags(session) if commit else 0
    if commit:
        console.print(f"updated {changed} house(s) 已更新 {changed} 套房屋的出租标记")
    else:
        console.print(
            f"would update {stale} house(s) 将更新 {stale} 套房屋的出租标记 "
            "(dry run; add --commit to write)"
        )
