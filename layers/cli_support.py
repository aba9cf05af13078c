"""Plumbing shared by the ``wangge`` command groups: one transaction per command, errors.

Tests hand a command a session of their own through ``ctx.obj = {"session": opener}`` (typer's
context object), so the command runs inside the test's rolled-back transaction; without it the
command opens an engine from ``DATABASE_URL`` and commits only when asked to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from layers.errors import WanggeError

if TYPE_CHECKING:
    from layers.access import Principal

#: A factory of sessions a test injects through ``ctx.obj["session"]``.
SessionOpener = Callable[[], AbstractContextManager[Session]]


@contextmanager
def cli_transaction(ctx: typer.Context, *, commit: bool) -> Iterator[Session]:
    """One transaction: committed when ``commit`` and the block succeeds, else rolled back."""
    opener: SessionOpener | None = (
        (ctx.obj or {}).get("session") if isinstance(ctx.obj, dict) else None
    )
    if opener is not None:
        # The injected session belongs to the caller (a test's outer transaction): a savepoint
        # gives the command its own commit-or-rollback inside it.
        with opener() as session:
            nested = session.begin_nested()
            try:
                yield session
            except BaseException:
                nested.rollback()
                raise
            if commit:
                nested.commit()
            else:
                nested.rollback()
        return
    from layers.db import make_engine, make_sessionmaker

    engine = make_engine()
    try:
        with make_sessionmaker(engine)() as session:
            transaction = session.begin()
            try:
                yield session
            except BaseException:
                transaction.rollback()
                raise
            if commit:
                transaction.commit()
            else:
                transaction.rollback()
    finally:
        engine.dispose()


def cli_fail(exc: WanggeError, console: Console | None = None) -> typer.Exit:
    """Print a domain error in Chinese and English (and its conflicts); exit status 1."""
    out = console or Console(soft_wrap=True)
    out.print(f"[red]{exc.message_zh}[/red]\n{exc.message_en}")
    for conflict in exc.extra.get("conflicts", []):
        out.print(f"  - {conflict}")
    return typer.Exit(code=1)


def operator_principal() -> Principal:
    """A principal that sees every area: the operator at the server's own command line."""
    from layers.access import Principal
    from layers.models.users import Role

    return Principal(
        user_id=0, username="cli", role=Role.admin, area_id=0, area_code="", area_prefix=""
    )
