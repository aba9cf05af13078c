"""assignment: the grid rule as SQL functions, and triggers that file new rows under their grid

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

The rule of "房进网格" lives here, once, as SQL functions (documented in
layers/spatial/assign.py):

* ``wangge_assign_point(geometry)``: the location that decides a row's grid — a point as it is,
  anything else by ``ST_PointOnSurface`` (a point guaranteed to lie on the footprint);
* ``wangge_covering_grid(geometry)``: the current (``valid_to IS NULL``), non-micro grid that
  covers that location (``ST_Covers``: a boundary point counts) as one row ``(grid_id,
  community_id)``; on a shared edge or vertex the grid with the smallest code wins; no row when
  no grid covers it;
* ``wangge_grid_at(geometry)``: the same grid's id as a scalar (NULL outside every grid).

``BEFORE INSERT OR UPDATE OF geom`` triggers on buildings, places and incidents fill ``grid_id``
and ``community_id`` (the grid's community) with that rule, so a new or moved row is filed at
once. Bulk loaders switch the triggers off for their transaction with
``SET LOCAL wangge.bulk_assign = 'on'`` and call ``layers.spatial.assign.assign_all`` after the
load. ``current_setting(..., true)`` is NULL in a session that never set the variable and ``''``
on a pooled connection after an earlier ``SET LOCAL`` ended; only the exact value ``'on'``
disables the trigger, so neither of those can switch assignment off by accident.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ASSIGNED_TABLES = ("buildings", "places", "incidents")

# Not STRICT and a single expression: PostgreSQL inlines it into the calling query, so the
# bulk path can use it without a function call per row.
ASSIGN_POINT = """
CREATE FUNCTION wangge_assign_point(target geometry) RETURNS geometry
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN GeometryType(target) = 'POINT' THEN target
                ELSE ST_PointOnSurface(target) END
$$
"""

# Steps 2-4 of the rule, as a one-statement set-returning SQL function: PostgreSQL inlines it
# where it is used in FROM (``LEFT JOIN LATERAL wangge_covering_grid(r.geom) ON TRUE``), so a
# set-based caller pays no function call per row. ST_Covers(g.geom, <expression>) is
# index-aware: each evaluation is one GiST probe of ix_grids_geom_gist.
COVERING_GRID = """
CREATE FUNCTION wangge_covering_grid(target geometry)
RETURNS TABLE (grid_id integer, community_id integer)
LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
AS $$
    SELECT g.id, g.community_id
    FROM grids AS g
    WHERE g.valid_to IS NULL
      AND g.kind <> 'micro'
      AND ST_Covers(g.geom, wangge_assign_point(target))
    ORDER BY g.code
    LIMIT 1
$$
"""

# The same answer as a scalar, for expressions and ad-hoc queries.
GRID_AT = """
CREATE FUNCTION wangge_grid_at(target geometry) RETURNS integer
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT c.grid_id FROM wangge_covering_grid(target) AS c
$$
"""

ASSIGN_TRIGGER = """
CREATE FUNCTION wangge_assign_trigger() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    -- NULL (never set) and '' (set in an earlier transaction of a pooled connection) both
    -- mean "assign": only the exact value 'on' hands assignment over to a bulk loader.
    IF coalesce(current_setting('wangge.bulk_assign', true), '') = 'on' THEN
        RETURN NEW;
    END IF;
    -- No covering grid: SELECT INTO sets both columns to NULL.
    SELECT c.grid_id, c.community_id INTO NEW.grid_id, NEW.community_id
    FROM wangge_covering_grid(NEW.geom) AS c;
    RETURN NEW;
END
$$
"""


def upgrade() -> None:
    op.execute(ASSIGN_POINT)
    op.execute(COVERING_GRID)
    op.execute(GRID_AT)
    op.execute(ASSIGN_TRIGGER)
    for table in ASSIGNED_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_assign_grid BEFORE INSERT OR UPDATE OF geom ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION wangge_assign_trigger()"
        )


def downgrade() -> None:
    for table in ASSIGNED_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_assign_grid ON {table}")
    op.execute("DROP FUNCTION IF EXISTS wangge_assign_trigger()")
    op.execute("DROP FUNCTION IF EXISTS wangge_grid_at(geometry)")
    op.execute("DROP FUNCTION IF EXISTS wangge_covering_grid(geometry)")
    op.execute("DROP FUNCTION IF EXISTS wangge_assign_point(geometry)")
