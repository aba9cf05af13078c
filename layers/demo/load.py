"""Load a generated demo into PostGIS inside the caller's transaction, with COPY.

``load_demo`` never commits: the CLI runs it in one ``session_scope`` transaction, so a failure
anywhere (a constraint, the spatial assignment, Ctrl-C) leaves nothing behind. Row ids are
reserved from each table's sequence (one ``setval(nextval + n - 1)`` per table) and the
generator's local ids are shifted into those ranges before the rows are streamed with
``COPY ... FROM STDIN``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from psycopg import Connection, sql
from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.demo.arrays import IntArray
from layers.demo.constants import DISTRICT_CODE, STREET_CODE, STREET_PREFIX
from layers.demo.dataset import DemoDataset, Table
from layers.demo.events import DEPARTMENT_BY_CATEGORY, FALLBACK_DEPARTMENT
from layers.errors import WanggeError
from layers.spatial.assign import assign_all
from layers.stats.cells import refresh_rollup

#: Called while loading: (table, rows written so far, rows of the table).
LoadProgress = Callable[[str, int, int], None]
IfPresent = Literal["fail", "skip", "replace"]

#: Tables whose rows the demo writes, for ANALYZE after the load.
DEMO_TABLES = (
    "admin_units",
    "roads",
    "departments",
    "users",
    "grid_codes",
    "grids",
    "grid_staff",
    "buildings",
    "houses",
    "households",
    "persons",
    "person_care_groups",
    "places",
    "incidents",
    "incident_steps",
    "patrols",
)


class DemoAlreadyLoaded(WanggeError):
    """The demo street is already in the database."""

    code = "demo-present"
    default_zh = "演示数据已存在"
    default_en = "The demo street is already loaded"


class DemoConflict(WanggeError):
    """Rows outside the demo street block the load or the replacement."""

    code = "demo-conflict"
    default_zh = "演示数据与现有数据冲突"
    default_en = "The demo data conflicts with existing rows"


@dataclass
class LoadResult:
    """What a load did."""

    status: Literal["loaded", "replaced", "skipped"]
    counts: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    assigned: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def demo_present(session: Session) -> bool:
    """Whether the demo street (370112004000) exists."""
    found = session.execute(
        text("SELECT 1 FROM admin_units WHERE code = :code"), {"code": STREET_CODE}
    ).first()
    return found is not None


def load_demo(
    session: Session,
    dataset: DemoDataset,
    *,
    password_hash: str,
    if_present: IfPresent = "fail",
    progress: LoadProgress | None = None,
) -> LoadResult:
    """Write every demo table, assign rows to grids, ANALYZE; never commits.

    ``if_present`` decides what happens when the street already exists: ``"skip"`` returns
    without writing, ``"fail"`` raises :class:`DemoAlreadyLoaded`, ``"replace"`` deletes the
    demo rows first (same transaction). ``password_hash`` is stored for every demo user (they
    share one documented password, so one argon2 hash serves all of them).
    """
    seconds: dict[str, float] = {}
    session.execute(text("SET LOCAL statement_timeout = 0"))
    # The per-row grid triggers of migration 0003 stay off while COPY runs; assign_to_grids
    # files every row afterwards in one set-based statement per table.
    session.execute(text("SET LOCAL wangge.bulk_assign = 'on'"))
    status: Literal["loaded", "replaced"] = "loaded"
    deleted: dict[str, int] = {}
    if demo_present(session):
        if if_present == "skip":
            return LoadResult(status="skipped")
        if if_present == "fail":
            raise DemoAlreadyLoaded(
                f"street {STREET_CODE} is already loaded; use --if-empty to keep it "
                "or --replace to load it again",
                f"全福街道（{STREET_CODE}）已存在；保留请用 --if-empty，重新加载请用 --replace",
            )
        t = time.perf_counter()
        deleted = delete_demo(session, dataset)
        seconds["delete"] = time.perf_counter() - t
        status = "replaced"
    _check_conflicts(session, dataset)

    pg = _driver_connection(session)
    tables = dict(dataset.tables)
    district_id = session.execute(
        text("SELECT id FROM admin_units WHERE code = :code"), {"code": DISTRICT_CODE}
    ).scalar()
    if district_id is not None:
        # reuse an existing district row: leave it out and point the street at it
        units = tables["admin_units"]
        keep = units.columns["code"] != DISTRICT_CODE
        tables["admin_units"] = Table(
            units.name, {k: v[keep] for k, v in units.columns.items()}, units.refs, units.geometry
        )
    users = tables["users"]
    tables["users"] = Table(
        users.name,
        {**users.columns, "password_hash": np.full(len(users), password_hash, dtype=object)},
        users.refs,
        users.geometry,
    )

    t = time.perf_counter()
    id_maps = _reserve_ids(pg, tables, district_id)
    seconds["reserve ids"] = time.perf_counter() - t
    counts: dict[str, int] = {}
    for name, table in tables.items():
        t = time.perf_counter()
        counts[name] = _copy(pg, table, id_maps, progress)
        seconds[name] = time.perf_counter() - t

    t = time.perf_counter()
    _insert_dispatch_rules(session)
    seconds["dispatch rules"] = time.perf_counter() - t
    t = time.perf_counter()
    assigned = assign_to_grids(session)
    session.execute(text("SET LOCAL wangge.bulk_assign = 'off'"))
    seconds["assign to grids"] = time.perf_counter() - t
    t = time.perf_counter()
    session.execute(text("ANALYZE " + ", ".join(DEMO_TABLES)))
    seconds["analyze"] = time.perf_counter() - t
    # The dispatcher's heatmap reads the incident rollup; a fresh demo must show in it at once.
    t = time.perf_counter()
    refresh_rollup(session, concurrently=False)
    seconds["heat rollup"] = time.perf_counter() - t
    return LoadResult(
        status=status, counts=counts, deleted=deleted, assigned=assigned, seconds=seconds
    )


def _driver_connection(session: Session) -> Connection[tuple[object, ...]]:
    """The psycopg connection under the session's current transaction (for COPY)."""
    driver = session.connection().connection.driver_connection
    if not isinstance(driver, Connection):
        raise TypeError("the demo loader needs the psycopg (3) driver")
    return driver


def _reserve_ids(
    pg: Connection[tuple[object, ...]], tables: dict[str, Table], district_id: int | None
) -> dict[str, IntArray]:
    """Reserve a block of ids per table; return lookup arrays local id → database id.

    ``setval(nextval + n - 1)`` is a single statement, so a concurrent writer can at worst make
    this load fail on the primary key (and roll back), never share ids with it.
    """
    maps: dict[str, IntArray] = {}
    with pg.cursor() as cur:
        for name, table in tables.items():
            if not table.has_id:
                continue
            local = table.columns["id"].astype(np.int64)
            lut = np.zeros(int(local.max(initial=0)) + 2, dtype=np.int64)
            n = len(local)
            if n:
                cur.execute(
                    "SELECT setval(pg_get_serial_sequence(%(t)s, 'id'),"
                    " nextval(pg_get_serial_sequence(%(t)s, 'id')) + %(n)s - 1)",
                    {"t": name, "n": n},
                )
                row = cur.fetchone()
                assert row is not None
                last = int(row[0])  # type: ignore[call-overload]
                lut[local] = np.arange(last - n + 1, last + 1)
            maps[name] = lut
    if district_id is not None:
        maps["admin_units"][1] = district_id  # the generator's district is local id 1
    return maps


def _copy(
    pg: Connection[tuple[object, ...]],
    table: Table,
    id_maps: dict[str, IntArray],
    progress: LoadProgress | None,
) -> int:
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, table.columns))
    )
    total = len(table)
    done = 0
    with pg.cursor() as cur, cur.copy(statement) as copy:
        for chunk in table.copy_chunks(id_maps):
            copy.write(chunk)
            done = min(total, done + chunk.count("\n"))
            if progress is not None:
                progress(table.name, done, total)
    if progress is not None and total == 0:
        progress(table.name, 0, 0)
    return total


def _check_conflicts(session: Session, dataset: DemoDataset) -> None:
    """Refuse clearly when a demo username or department code is taken by another row."""
    usernames = dataset.tables["users"].columns["username"].tolist()
    dept_codes = dataset.tables["departments"].columns["code"].tolist()
    taken_users = (
        session.execute(
            text("SELECT username FROM users WHERE username = ANY(:u) ORDER BY username"),
            {"u": usernames},
        )
        .scalars()
        .all()
    )
    taken_depts = (
        session.execute(
            text("SELECT code FROM departments WHERE code = ANY(:c) ORDER BY code"),
            {"c": dept_codes},
        )
        .scalars()
        .all()
    )
    if taken_users or taken_depts:
        names = ", ".join([*taken_users[:5], *taken_depts[:5]])
        raise DemoConflict(
            f"{len(taken_users)} demo username(s) and {len(taken_depts)} department code(s) "
            f"already exist outside the demo street (e.g. {names})",
            f"已有 {len(taken_users)} 个同名用户、{len(taken_depts)} 个同编码部门（如 {names}）",
        )


# Scope of the demo: everything filed under the street, plus the generator's users,
# departments, building/incident codes and roads (by name, where they cross the street).
_SCOPE = """
    demo_units AS (SELECT id FROM admin_units WHERE code LIKE :prefix || '%'),
    demo_grids AS (SELECT id FROM grids WHERE community_id IN (SELECT id FROM demo_units)),
    demo_depts AS (
        SELECT id FROM departments
        WHERE code = ANY(:dept_codes) OR admin_unit_id IN (SELECT id FROM demo_units)
    ),
    demo_users AS (
        SELECT id FROM users
        WHERE username = ANY(:usernames)
           OR area_id IN (SELECT id FROM demo_units)
           OR department_id IN (SELECT id FROM demo_depts)
    ),
    demo_buildings AS (
        SELECT id FROM buildings
        WHERE code LIKE :prefix || '-B%'
           OR community_id IN (SELECT id FROM demo_units)
           OR grid_id IN (SELECT id FROM demo_grids)
    ),
    demo_houses AS (
        SELECT id FROM houses WHERE building_id IN (SELECT id FROM demo_buildings)
    ),
    demo_households AS (
        SELECT id FROM households WHERE house_id IN (SELECT id FROM demo_houses)
    ),
    demo_persons AS (
        SELECT id FROM persons WHERE household_id IN (SELECT id FROM demo_households)
    ),
    demo_places AS (
        SELECT id FROM places
        WHERE community_id IN (SELECT id FROM demo_units)
           OR grid_id IN (SELECT id FROM demo_grids)
           OR department_id IN (SELECT id FROM demo_depts)
    ),
    demo_incidents AS (
        SELECT id FROM incidents
        WHERE code LIKE :prefix || '-%'
           OR community_id IN (SELECT id FROM demo_units)
           OR grid_id IN (SELECT id FROM demo_grids)
    )
"""

# Children before parents (tenancies and grid plans of other modules would block with RESTRICT);
# person_care_groups, visits, incident_steps, grid_staff and sizhi overrides go by cascade.
_DELETES = (
    (
        "patrols",
        "DELETE FROM patrols WHERE place_id IN (SELECT id FROM demo_places)"
        " OR incident_id IN (SELECT id FROM demo_incidents)"
        " OR grid_id IN (SELECT id FROM demo_grids)",
    ),
    ("incidents", "DELETE FROM incidents WHERE id IN (SELECT id FROM demo_incidents)"),
    ("places", "DELETE FROM places WHERE id IN (SELECT id FROM demo_places)"),
    (
        "tenancies",
        "DELETE FROM tenancies WHERE house_id IN (SELECT id FROM demo_houses)"
        " OR tenant_household_id IN (SELECT id FROM demo_households)"
        " OR landlord_person_id IN (SELECT id FROM demo_persons)",
    ),
    ("persons", "DELETE FROM persons WHERE id IN (SELECT id FROM demo_persons)"),
    ("households", "DELETE FROM households WHERE id IN (SELECT id FROM demo_households)"),
    ("houses", "DELETE FROM houses WHERE id IN (SELECT id FROM demo_houses)"),
    ("buildings", "DELETE FROM buildings WHERE id IN (SELECT id FROM demo_buildings)"),
    (
        "grid_plan_parts",
        "DELETE FROM grid_plan_parts WHERE community_id IN (SELECT id FROM demo_units)"
        " OR parent_grid_code IN (SELECT code FROM grid_codes"
        " WHERE community_id IN (SELECT id FROM demo_units))",
    ),
    ("grid_plans", "DELETE FROM grid_plans WHERE scope_unit_id IN (SELECT id FROM demo_units)"),
    (
        "grid_lineage",
        "DELETE FROM grid_lineage WHERE grid_id IN (SELECT id FROM demo_grids)"
        " OR source_grid_id IN (SELECT id FROM demo_grids)",
    ),
    ("grids", "DELETE FROM grids WHERE id IN (SELECT id FROM demo_grids)"),
    (
        "grid_codes",
        "DELETE FROM grid_codes WHERE community_id IN (SELECT id FROM demo_units)",
    ),
    (
        "roads",
        "DELETE FROM roads WHERE name = ANY(:road_names) AND ST_Intersects(geom,"
        " (SELECT geom FROM admin_units WHERE code = :street))",
    ),
    ("users", "DELETE FROM users WHERE id IN (SELECT id FROM demo_users)"),
    ("departments", "DELETE FROM departments WHERE id IN (SELECT id FROM demo_depts)"),
    (
        "admin_units",
        "DELETE FROM admin_units WHERE code LIKE :prefix || '%' AND level = 'community'",
    ),
    ("admin_units", "DELETE FROM admin_units WHERE code = :street"),
)


def delete_demo(session: Session, dataset: DemoDataset) -> dict[str, int]:
    """Delete the demo street and everything filed under it (for ``--replace``); no commit.

    The district row is kept. Refuses (:class:`DemoConflict`) when demo users have audit-log
    rows: the log is append-only, so their ``ON DELETE SET NULL`` cannot be applied.
    """
    params = {
        "prefix": STREET_PREFIX,
        "street": STREET_CODE,
        "usernames": dataset.tables["users"].columns["username"].tolist(),
        "dept_codes": dataset.tables["departments"].columns["code"].tolist(),
        "road_names": sorted(set(dataset.tables["roads"].columns["name"].tolist())),
    }
    audited = session.execute(
        text(
            f"WITH {_SCOPE} SELECT count(*) FROM audit_log"  # noqa: S608 (constant SQL)
            " WHERE user_id IN (SELECT id FROM demo_users)"
        ),
        params,
    ).scalar_one()
    if audited:
        raise DemoConflict(
            f"demo users have {audited} audit-log rows, which are append-only, so --replace "
            "cannot delete those users; recreate the database instead (make demo)",
            f"演示用户已有 {audited} 条审计日志（只可追加），无法删除；请重建数据库（make demo）",
        )
    deleted: dict[str, int] = {}
    for table, statement in _DELETES:
        result = session.execute(text(f"WITH {_SCOPE} {statement}"), params)
        deleted[table] = deleted.get(table, 0) + (result.rowcount or 0)  # type: ignore[attr-defined]
    return deleted


def _insert_dispatch_rules(session: Session) -> None:
    """The street's dispatch rules (归口管理): each category to the department that handles most
    of the demo's incidents of that category, and a rule without category (属地兜底) to the
    street's urban management office."""
    rows: list[dict[str, str | None]] = [
        {"category": category, "department": max(weights, key=lambda w: w[1])[0]}
        for category, weights in DEPARTMENT_BY_CATEGORY.items()
    ]
    rows.append({"category": None, "department": FALLBACK_DEPARTMENT})
    session.execute(
        text(
            """
            INSERT INTO dispatch_rules (category_code, admin_unit_id, department_id)
            SELECT CAST(:category AS varchar), s.id, d.id
            FROM admin_units AS s, departments AS d
            WHERE s.code = :street AND d.code = :department
            """
        ),
        [{**row, "street": STREET_CODE} for row in rows],
    )


def assign_to_grids(session: Session) -> dict[str, int]:
    """File buildings, places and incidents under the current grid that covers them.

    The application's own bulk path (:func:`layers.spatial.assign.assign_all`: grid-driven,
    set-based, the documented tie rule of docs/LOCATE.md), so demo rows are filed exactly as
    rows written through the API would be. Returns the rows written per table; never commits.
    """
    return assign_all(session)
