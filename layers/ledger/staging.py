"""Temporary staging tables of an import, filled with COPY.

An import loads its checked rows into a ``TEMP`` table (``ON COMMIT DROP``) and then works on
them with one SQL statement per step. Table and column names here are constants of the code,
never user input; every value travels through COPY or bound parameters.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

ROWS = "ledger_rows"
PROBLEMS = "ledger_problems"
SCOPE_BUILDINGS = "ledger_scope_buildings"
SCOPE_GRIDS = "ledger_scope_grids"
BUILDING_KEYS = "ledger_building_keys"

# The columns every kind's row table has: the row number, the location as read, and what the
# location steps resolve it to. ``pre_bad`` marks rows whose cells already failed in Python
# (their location is still checked); ``ok`` turns false when a problem is recorded for the row.
LOCATION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("row_no", "integer PRIMARY KEY"),
    ("pre_bad", "boolean NOT NULL DEFAULT false"),
    ("addr_key", "text"),
    ("addr_col", "text"),
    ("unit", "text"),
    ("floor", "integer"),
    ("room", "text"),
    ("lon", "double precision"),
    ("lat", "double precision"),
    ("pt", "geometry(Point, 4326)"),
    ("addr_building_id", "integer"),
    ("addr_matches", "integer NOT NULL DEFAULT 0"),
    ("pt_building_id", "integer"),
    ("pt_grid_id", "integer"),
    ("pt_community_id", "integer"),
    ("pt_in_scope", "boolean"),
    ("building_id", "integer"),
    ("ok", "boolean NOT NULL DEFAULT true"),
)

# Columns filled by COPY (the rest are derived in SQL).
LOCATION_INPUT = (
    "row_no",
    "pre_bad",
    "addr_key",
    "addr_col",
    "unit",
    "floor",
    "room",
    "lon",
    "lat",
)


def create_table(session: Session, name: str, columns: Sequence[tuple[str, str]]) -> None:
    """(Re)create a temporary table that disappears at the end of the transaction."""
    body = ", ".join(f"{column} {sql_type}" for column, sql_type in columns)
    session.execute(text(f"DROP TABLE IF EXISTS pg_temp.{name}"))
    session.execute(text(f"CREATE TEMP TABLE {name} ({body}) ON COMMIT DROP"))


def drop_tables(session: Session, *names: str) -> None:
    """Drop temporary tables now (a second import in the same transaction starts clean)."""
    for name in names:
        session.execute(text(f"DROP TABLE IF EXISTS pg_temp.{name}"))


def copy_rows(
    session: Session, name: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """COPY rows into a table over the session's own connection (same transaction)."""
    driver = session.connection().connection.driver_connection
    assert driver is not None
    count = 0
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def analyze(session: Session, name: str) -> None:
    """Gather planner statistics of a temporary table (autovacuum never sees them)."""
    session.execute(text(f"ANALYZE {name}"))


def create_problems_table(session: Session) -> None:
    """The table the SQL checks write their findings to."""
    create_table(
        session,
        PROBLEMS,
        (("row_no", "integer"), ("column_key", "text"), ("code", "text"), ("detail", "text")),
    )


def mark_bad_rows(session: Session, *, including_pre_bad: bool = False) -> None:
    """Turn ``ok`` off for every row with a recorded problem (and the ``pre_bad`` ones)."""
    session.execute(
        text(
            "UPDATE ledger_rows r SET ok = false WHERE r.ok "
            "AND (EXISTS (SELECT 1 FROM ledger_problems p WHERE p.row_no = r.row_no) "
            "     OR (r.pre_bad AND :including_pre_bad))"
        ),
        {"including_pre_bad": including_pre_bad},
    )


def add_problems(
    session: Session,
    code: str,
    where: str,
    *,
    column: str | None = None,
    column_sql: str | None = None,
    detail: str = "NULL",
    params: dict[str, Any] | None = None,
) -> None:
    """Record a problem for every good row matching ``where`` (SQL over ``ledger_rows r``).

    The column is a constant key (``column``) or an SQL expression over the row
    (``column_sql``, e.g. ``r.addr_col``). ``where``, ``column_sql`` and ``detail`` are SQL
    written in this package, never user input; the constants travel as bound parameters.
    """
    column_expr = column_sql if column_sql is not None else ":column_key"
    # The fragments are SQL of this package (never user input); values are bound parameters.
    session.execute(
        text(
            f"INSERT INTO ledger_problems (row_no, column_key, code, detail) "  # noqa: S608
            f"SELECT r.row_no, {column_expr}, :code, ({detail})::text FROM ledger_rows r "
            f"WHERE r.ok AND ({where})"
        ),
        {"column_key": column, "code": code, **(params or {})},
    )


def read_problems(session: Session) -> list[tuple[int, str, str, str | None]]:
    """Every problem the SQL checks recorded: (row, column key, code, detail)."""
    rows = session.execute(
        text("SELECT row_no, column_key, code, detail FROM ledger_problems ORDER BY row_no, code")
    )
    return [(r[0], r[1], r[2], r[3]) for r in rows]
