"""Filing buildings, places and incidents under the grid they lie in (房进网格).

The rule
--------
A row of ``buildings``, ``places`` or ``incidents`` belongs to one grid, derived by spatial query
and never typed in:

1. **Location.** A point (an incident, a point place) is taken as it is. A polygon (a building
   footprint, a polygon place) is represented by ``ST_PointOnSurface`` of its geometry: a point
   guaranteed to lie on the footprint (a centroid may fall outside an L-shaped building). A
   building that straddles a grid boundary therefore goes to the grid holding that point; the
   grid validation flags such buildings for the planner.
2. **Candidates.** The current grids (``valid_to IS NULL``) that are not micro-grids. Micro-grids
   subdivide a basic grid; the grid of a row is the level that tiles the territory (basic and
   special grids), so a row keeps its grid when micro-grids are drawn inside it.
3. **Covered.** ``ST_Covers(grid, location)``: a point on a grid's edge or vertex counts as
   covered (``ST_Contains`` would leave boundary points in no grid at all).
4. **Ties.** A point on an edge or vertex shared by several grids (or inside an overlap that
   validation has not yet removed) goes to the covering grid with the **smallest code**. Codes are
   unique among current grids, so the answer never depends on a query plan.
5. **Community.** ``community_id`` is the chosen grid's community. A row no grid covers gets
   NULL in both columns and appears in the review list (:func:`unassigned_rows`), with the
   nearest grid and the distance to it in metres.

Houses, households and persons are not assigned here: they follow their building (以房管人:
person → household → house → building → grid), so they move with it when grids change.

Where the rule lives
--------------------
The SQL of the rule is written once, in migration 0003, as functions:
``wangge_assign_point(geometry)`` (step 1), ``wangge_covering_grid(geometry)`` (steps 2–5: one
row ``(grid_id, community_id)``, or none), and ``wangge_grid_at(geometry)`` (its grid id as a
scalar). The first two are single SQL statements that PostgreSQL inlines into the calling query.
They serve three paths:

* the ``BEFORE INSERT OR UPDATE OF geom`` triggers of the three tables (a new or moved row is
  filed at once; bulk loaders turn them off with ``SET LOCAL wangge.bulk_assign = 'on'`` and call
  :func:`assign_all` afterwards);
* :func:`assign_rows` for a small list of ids (``LEFT JOIN LATERAL wangge_covering_grid(...)``:
  one index probe of the grids per row);
* the bulk path (:func:`assign_all`, :func:`reassign_after_grid_change`, large id lists), which
  is driven by the grids instead: for each candidate grid a ``CROSS JOIN LATERAL`` subquery
  probes the row table's GiST index, fenced with ``OFFSET 0`` so the planner keeps that shape and
  the prepared grid geometry stays cached (a point-driven join over a million rows is an order of
  magnitude slower here, see shared/PITFALLS.md "Join plans"). It uses
  ``wangge_assign_point`` (inlined by PostgreSQL) and repeats steps 2–4 as predicates plus
  ``DISTINCT ON (row) ORDER BY row, code``; the tests check that it gives exactly the answers of
  ``wangge_grid_at``.

Every path writes only rows whose ``grid_id`` or ``community_id`` actually changes, so running
it twice is cheap and the returned count is the number of rows moved. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

import shapely
from shapely.geometry.base import BaseGeometry

from layers.access import Principal
from layers.base import STORAGE_SRID
from layers.errors import InvalidInput

#: The tables whose rows are filed under a grid, in the order :func:`assign_all` runs them.
ASSIGNED_TABLES: tuple[str, ...] = ("buildings", "places", "incidents")

#: Names of the tables in Chinese, for messages and the CLI.
TABLE_LABELS_ZH = {"buildings": "建筑", "places": "场所", "incidents": "事件"}

#: Up to this many rows, :func:`assign_rows` probes the grids per row (``wangge_covering_grid``,
#: one GiST probe each); above it, the grid-driven LATERAL path is cheaper.
POINT_DRIVEN_MAX_IDS = 2_000

#: KNN candidates fetched by ``<->`` (planar distance in degrees) before the exact re-sort on
#: ``geography``: a degree of longitude is shorter than a degree of latitude away from the
#: equator, so the planar nearest is not always the nearest in metres.
NEAREST_CANDIDATES = 10

#: Memory for the sort that settles ties in the bulk path (``SET LOCAL`` for that statement).
BULK_WORK_MEM = "256MB"

# The candidate grids (rule step 2), for the grid-driven path. Keep in step with
# wangge_covering_grid in migrations/versions/20261122_0003_assignment.py.
CANDIDATE_GRID_SQL = "g.valid_to IS NULL AND g.kind <> 'micro'"

# Nearest current candidate grid to a point expression ``{point}``, in metres: KNN on the GiST
# index, then the exact geography distance re-sorts the few candidates. ``{grid_filter}``
# narrows the grids (e.g. to a user's area); pass ``TRUE`` for none.
NEAREST_GRID_LATERAL = """
LEFT JOIN LATERAL (
    SELECT c.id, c.code, c.name, c.distance_m
    FROM (
        SELECT g.id, g.code, g.name,
               ST_Distance(g.geom::geography, ({point})::geography) AS distance_m
        FROM grids AS g
        WHERE {candidate} AND {grid_filter}
        ORDER BY g.geom <-> ({point})
        LIMIT {k}
    ) AS c
    ORDER BY c.distance_m, c.code
    LIMIT 1
) AS nearest ON TRUE
"""


def nearest_grid_lateral(point: str, grid_filter: str = "TRUE") -> str:
    """SQL of a ``LEFT JOIN LATERAL ... AS nearest`` giving the nearest grid to ``point``.

    Parameters
    ----------
    point
        A SQL expression of a storage-CRS (EPSG:4326) point, e.g. ``p.pt``.
    grid_filter
        A SQL condition on ``g`` (``grids``), e.g. a code prefix with a bound parameter.

    Returns
    -------
    str
        SQL exposing ``nearest.id``, ``nearest.code``, ``nearest.name`` and
        ``nearest.distance_m`` (metres on the WGS-84 spheroid; 0 when the point is covered).
    """
    return NEAREST_GRID_LATERAL.format(
        point=point, grid_filter=grid_filter, candidate=CANDIDATE_GRID_SQL, k=NEAREST_CANDIDATES
    )


def _check_table(table: str) -> str:
    if table not in ASSIGNED_TABLES:
        raise InvalidInput(
            f"table must be one of {', '.join(ASSIGNED_TABLES)}; got {table[:40]!r}",
            f"表名应为 {'、'.join(ASSIGNED_TABLES)} 之一，实际为 {table[:40]!r}",
            field="table",
        )
    return table


def _ids_param(ids: Sequence[int]) -> list[int]:
    return [int(i) for i in ids]


def _point_driven_changes(table: str) -> str:
    """Rows ``:ids`` whose grid (``wangge_covering_grid``, inlined: one GiST probe of the grids
    per row) differs from the stored one."""
    return f"""
WITH target AS (
    SELECT r.id, r.grid_id AS old_grid_id, r.community_id AS old_community_id,
           c.grid_id, c.community_id
    FROM {table} AS r
    LEFT JOIN LATERAL wangge_covering_grid(r.geom) AS c ON TRUE
    WHERE r.id = ANY(CAST(:ids AS integer[]))
), changed AS (
    SELECT t.id, t.grid_id, t.community_id
    FROM target AS t
    WHERE t.old_grid_id IS DISTINCT FROM t.grid_id
       OR t.old_community_id IS DISTINCT FROM t.community_id
)"""  # noqa: S608 (table is one of ASSIGNED_TABLES, values are bound)


def hits_query(table: str, where: str = "TRUE", grid_where: str = "TRUE") -> str:
    """SQL of the grid-driven assignment: one row ``(id, grid_id, community_id)`` per covered row.

    Rows no grid covers are absent. ``where`` narrows the rows (alias ``r``), ``grid_where`` the
    candidate grids (alias ``g``). Exposed so the benchmark times exactly this statement.
    """
    _check_table(table)
    return f"""
SELECT DISTINCT ON (r.id) r.id, g.id AS grid_id, g.community_id
FROM grids AS g
CROSS JOIN LATERAL (
    SELECT r.id
    FROM {table} AS r
    WHERE r.geom && g.geom
      AND ST_Covers(g.geom, wangge_assign_point(r.geom))
      AND {where}
    OFFSET 0
) AS r
WHERE {CANDIDATE_GRID_SQL} AND {grid_where}
ORDER BY r.id, g.code
"""  # noqa: S608 (table is one of ASSIGNED_TABLES, values are bound)


def _grid_driven_changes(table: str, narrowed: bool) -> str:
    """Rows (all, or ``:ids`` when ``narrowed``) whose grid by the grid-driven LATERAL join
    differs from the stored one."""
    where = "r.id = ANY(CAST(:ids AS integer[]))" if narrowed else "TRUE"
    # Only grids that touch the rows in scope can cover them: the extent of those rows limits
    # the LATERAL loop to the grids of that neighbourhood.
    extent = f"SELECT ST_SetSRID(ST_Extent(r.geom)::geometry, {STORAGE_SRID}) FROM {table} AS r"  # noqa: S608
    grid_where = f"g.geom && ({extent} WHERE {where})" if narrowed else "TRUE"
    return f"""
WITH hit AS ({hits_query(table, where, grid_where)}
), changed AS (
    SELECT r.id, hit.grid_id, hit.community_id
    FROM {table} AS r LEFT JOIN hit ON hit.id = r.id
    WHERE {where}
      AND (r.grid_id IS DISTINCT FROM hit.grid_id
           OR r.community_id IS DISTINCT FROM hit.community_id)
)"""  # noqa: S608 (table is one of ASSIGNED_TABLES, values are bound)


def _apply(
    session: Session, table: str, changes: str, params: dict[str, Any], dry_run: bool
) -> int:
    if dry_run:
        statement = f"{changes}\nSELECT count(*) FROM changed"
        return int(session.execute(text(statement), params).scalar_one())
    statement = (
        f"{changes}\nUPDATE {table} AS r SET grid_id = c.grid_id, community_id = c.community_id "
        "FROM changed AS c WHERE r.id = c.id"
    )
    result = session.execute(text(statement), params)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@contextmanager
def _bulk_settings(session: Session) -> Iterator[None]:
    """Settings for the grid-driven statements, restored afterwards (``SET LOCAL`` semantics).

    The LATERAL join's cost estimate is large enough to trigger JIT compilation, which costs
    a fixed ~0.2 s here and gains nothing for this plan; the tie-settling sort wants memory.
    """
    settings = {"work_mem": BULK_WORK_MEM, "jit": "off"}
    previous = {
        name: session.execute(text("SELECT current_setting(:n)"), {"n": name}).scalar_one()
        for name in settings
    }
    for name, value in settings.items():
        session.execute(text("SELECT set_config(:n, :v, true)"), {"n": name, "v": value})
    yield
    for name, value in previous.items():
        session.execute(text("SELECT set_config(:n, :v, true)"), {"n": name, "v": value})


def _ids_within(session: Session, table: str, within: BaseGeometry) -> list[int]:
    """Ids of the rows whose geometry intersects ``within`` (GiST-indexed)."""
    if within.is_empty:
        raise InvalidInput("within is empty", "within 几何为空", field="within")
    statement = (
        f"SELECT r.id FROM {table} AS r WHERE ST_Intersects(r.geom, ST_GeomFromWKB(:w, :srid))"  # noqa: S608
    )
    params = {"w": shapely.to_wkb(within), "srid": STORAGE_SRID}
    return list(session.execute(text(statement), params).scalars())


def _ids_touched_by(session: Session, table: str, grid_ids: Sequence[int]) -> list[int]:
    """Ids of the rows a change of these grid versions can move.

    Rows inside the envelope of any of the versions (one GiST probe per version), and rows still
    filed under one of them (a closed version's rows must move even if they lay outside it).
    """
    statement = f"""
SELECT z_r.id FROM grids AS z JOIN {table} AS z_r ON z_r.geom && z.geom
WHERE z.id = ANY(CAST(:changed AS integer[]))
UNION
SELECT f_r.id FROM {table} AS f_r WHERE f_r.grid_id = ANY(CAST(:changed AS integer[]))
"""  # noqa: S608 (table is one of ASSIGNED_TABLES, values are bound)
    return list(session.execute(text(statement), {"changed": _ids_param(grid_ids)}).scalars())


def assign_rows(
    session: Session,
    *,
    table: str,
    ids: Sequence[int] | None = None,
    within: BaseGeometry | None = None,
    dry_run: bool = False,
) -> int:
    """File rows of ``table`` under the grid that covers them; return the rows changed.

    Parameters
    ----------
    session
        The caller's session; nothing is committed.
    table
        ``"buildings"``, ``"places"`` or ``"incidents"``.
    ids
        Only these row ids (``None``: every row).
    within
        Only rows whose geometry intersects this shape (storage CRS, EPSG:4326 lon/lat);
        combined with ``ids`` when both are given.
    dry_run
        Count the rows that would change without writing them.

    Returns
    -------
    int
        Rows whose ``grid_id`` or ``community_id`` changed (or would change). Rows no grid
        covers are set to NULL in both columns.

    Notes
    -----
    A narrowed call first collects the ids in scope (one indexed query), then files up to
    :data:`POINT_DRIVEN_MAX_IDS` of them with ``wangge_covering_grid`` per row and more with the
    grid-driven LATERAL join restricted to those ids and the grids around them. Without
    ``ids`` and ``within`` every row goes through the grid-driven join.
    """
    _check_table(table)
    if within is not None:
        inside = _ids_within(session, table, within)
        ids = inside if ids is None else sorted(set(inside) & {int(i) for i in ids})
    if ids is not None:
        if len(ids) == 0:
            return 0
        params = {"ids": _ids_param(ids)}
        if len(ids) <= POINT_DRIVEN_MAX_IDS:
            return _apply(session, table, _point_driven_changes(table), params, dry_run)
        with _bulk_settings(session):
            return _apply(session, table, _grid_driven_changes(table, True), params, dry_run)
    with _bulk_settings(session):
        return _apply(session, table, _grid_driven_changes(table, False), {}, dry_run)


def assign_all(session: Session, *, dry_run: bool = False) -> dict[str, int]:
    """File every building, place and incident under its grid (grid-driven bulk path).

    Returns the rows changed (or, with ``dry_run``, that would change) per table. Callers that
    changed many rows should ``ANALYZE`` the tables afterwards.
    """
    return {table: assign_rows(session, table=table, dry_run=dry_run) for table in ASSIGNED_TABLES}


def reassign_after_grid_change(
    session: Session, *, changed_grid_ids: Sequence[int], dry_run: bool = False
) -> dict[str, int]:
    """Re-file the rows a grid edit can have moved; return the rows changed per table.

    Call after publishing a grid edit (old versions closed, new versions inserted), with the
    ids of both the closed and the new versions. Only rows inside the envelope of one of those
    versions, or still filed under one of them, are looked at; every other row keeps its grid.
    """
    out: dict[str, int] = {}
    for table in ASSIGNED_TABLES:
        touched = _ids_touched_by(session, table, changed_grid_ids) if changed_grid_ids else []
        out[table] = assign_rows(session, table=table, ids=touched, dry_run=dry_run)
    return out


def grid_at_point(session: Session, *, lon: float, lat: float) -> int | None:
    """The id of the grid a storage-CRS point (EPSG:4326 lon/lat degrees) is filed under."""
    return session.execute(
        text("SELECT wangge_grid_at(ST_SetSRID(ST_MakePoint(:lon, :lat), :srid))"),
        {"lon": lon, "lat": lat, "srid": STORAGE_SRID},
    ).scalar_one_or_none()


# --------------------------------------------------------------------------------------------
# Review list: rows outside every grid
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnassignedRow:
    """A row no current grid covers, with the nearest grid (for the planner's review)."""

    table: str
    id: int
    label: str
    lon: float
    lat: float
    nearest_grid_id: int | None
    nearest_grid_code: str | None
    nearest_grid_name: str | None
    distance_m: float | None


# What the review list shows of a row, per table.
_ROW_LABEL = {
    "buildings": "coalesce(r.address, r.code)",
    "places": "r.name",
    "incidents": "r.code || ' ' || r.title",
}


def unassigned_rows(
    session: Session,
    *,
    table: str | None = None,
    principal: Principal | None = None,
    limit: int = 1000,
) -> list[UnassignedRow]:
    """Rows whose ``grid_id`` is NULL, with the nearest current grid and the distance in metres.

    Parameters
    ----------
    table
        One of :data:`ASSIGNED_TABLES`, or ``None`` for all three (in that order).
    principal
        Only rows whose location lies in the polygon of this user's area, and nearest grids
        of that area (code prefix); ``None`` for everything (CLI).
    limit
        At most this many rows per table, lowest ids first.

    Returns
    -------
    list[UnassignedRow]
        Location as storage-CRS lon/lat (EPSG:4326); ``distance_m`` on the WGS-84 spheroid
        between the location and the nearest grid (0 for a covered row that was loaded in bulk
        mode and not yet assigned).
    """
    tables = ASSIGNED_TABLES if table is None else (_check_table(table),)
    out: list[UnassignedRow] = []
    area_where = "TRUE"
    grid_filter = "TRUE"
    params: dict[str, Any] = {"limit": int(limit)}
    if principal is not None:
        area_where = "ST_Covers((SELECT a.geom FROM admin_units AS a WHERE a.id = :area), p.pt)"
        grid_filter = "starts_with(g.code, :prefix)"
        params["area"] = principal.area_id
        params["prefix"] = principal.area_prefix
    for name in tables:
        statement = f"""
SELECT r.id, {_ROW_LABEL[name]} AS label, ST_X(p.pt) AS lon, ST_Y(p.pt) AS lat,
       nearest.id AS grid_id, nearest.code, nearest.name, nearest.distance_m
FROM {name} AS r
CROSS JOIN LATERAL (SELECT wangge_assign_point(r.geom) AS pt) AS p
{nearest_grid_lateral("p.pt", grid_filter)}
WHERE r.grid_id IS NULL AND {area_where}
ORDER BY r.id
LIMIT :limit
"""  # noqa: S608 (table is one of ASSIGNED_TABLES, values are bound)
        for row in session.execute(text(statement), params):
            out.append(
                UnassignedRow(
                    table=name,
                    id=row.id,
                    label=row.label,
                    lon=row.lon,
                    lat=row.lat,
                    nearest_grid_id=row.grid_id,
                    nearest_grid_code=row.code,
                    nearest_grid_name=row.name,
                    distance_m=None if row.distance_m is None else float(row.distance_m),
                )
            )
    return out


__all__ = [
    "ASSIGNED_TABLES",
    "CANDIDATE_GRID_SQL",
    "NEAREST_CANDIDATES",
    "POINT_DRIVEN_MAX_IDS",
    "UnassignedRow",
    "assign_all",
    "assign_rows",
    "grid_at_point",
    "hits_query",
    "nearest_grid_lateral",
    "reassign_after_grid_change",
    "unassigned_rows",
]
