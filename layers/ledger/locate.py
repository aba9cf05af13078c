"""Locating staged ledger rows: address → building, point → building and grid. Set-based.

Each step is one SQL statement over the whole staging table (``ledger_rows``):

1. **Scope.** The buildings and current grids the principal may see are materialised as id
   lists (:func:`layers.scope.area_filter` decides, as everywhere else), and the in-scope
   buildings' address keys (:func:`layers.ledger.address.sql_normalise` of the full address, of
   compound + building number, and of road + door number) go into ``ledger_building_keys``,
   indexed on the reversed key in the ``C`` collation so that "ends with" is an index range.
2. **Address.** Each distinct row key is matched: exact full address (rank 1), exact compound +
   building or road + number (rank 2), or a suffix of a full address that starts at a word
   boundary (rank 3: the ledger left out city, district and street). The best rank wins; more
   than one building at that rank is ambiguous and reported, never guessed.
3. **Point.** The building whose footprint covers the point, else the nearest within
   :data:`NEAR_BUILDING_M` metres (KNN ``<->`` on the GiST index, then an exact re-sort on
   ``geography``). The point's grid is found too, by the grid rule of migration 0003
   (``wangge_grid_at``), to tell "outside every grid" from "outside your area" from "no
   building here".
4. **Checks.** Unknown or ambiguous address, a point outside every grid / the area / any
   building, and an address and a point that name different buildings become problems.
"""

from __future__ import annotations

from sqlalchemy import Integer, Text, case, func, insert, literal, select, text, union_all
from sqlalchemy.orm import Session
from sqlalchemy.sql import column as sql_column
from sqlalchemy.sql import table as sql_table

from layers.access import Principal
from layers.base import STORAGE_SRID
from layers.ledger.address import sql_normalise
from layers.ledger.staging import (
    BUILDING_KEYS,
    ROWS,
    SCOPE_BUILDINGS,
    SCOPE_GRIDS,
    add_problems,
    analyze,
    create_table,
)
from layers.models import Building, Grid
from layers.scope import area_filter

# A point within this distance of a footprint (metres, on the spheroid) belongs to it when no
# footprint covers it: GPS readings taken at the door land a few metres outside the wall.
NEAR_BUILDING_M = 15.0
# Candidates fetched by KNN before the exact re-sort in metres.
NEAR_CANDIDATES = 5

_scope_buildings = sql_table(SCOPE_BUILDINGS, sql_column("id", Integer))
_scope_grids = sql_table(SCOPE_GRIDS, sql_column("id", Integer))
_building_keys = sql_table(
    BUILDING_KEYS,
    sql_column("building_id", Integer),
    sql_column("rank", Integer),
    sql_column("key", Text),
    sql_column("rev", Text),
)


def build_scope(session: Session, principal: Principal) -> None:
    """Materialise the in-scope building and grid ids, and the buildings' address keys."""
    create_table(session, SCOPE_BUILDINGS, (("id", "integer PRIMARY KEY"),))
    create_table(session, SCOPE_GRIDS, (("id", "integer PRIMARY KEY"),))
    session.execute(
        insert(_scope_buildings).from_select(
            ["id"], select(Building.id).where(area_filter("buildings", principal))
        )
    )
    session.execute(
        insert(_scope_grids).from_select(
            ["id"],
            select(Grid.id).where(Grid.valid_to.is_(None), area_filter("grids", principal)),
        )
    )
    analyze(session, SCOPE_BUILDINGS)
    analyze(session, SCOPE_GRIDS)
    create_table(
        session,
        BUILDING_KEYS,
        (
            ("building_id", "integer"),
            ("rank", "integer"),
            ("key", "text"),
            ("rev", 'text COLLATE "C"'),
        ),
    )
    in_scope = Building.id.in_(select(_scope_buildings.c.id))
    compound_key = func.coalesce(Building.compound, "").concat(Building.building_no)
    # road + door number, with the 号 the full address writes after a bare number
    door_key = Building.road_name.concat(Building.house_number).concat(
        case((Building.house_number.endswith("号"), ""), else_="号")
    )
    keys = union_all(
        select(
            Building.id.label("building_id"),
            literal(1).label("rank"),
            sql_normalise(Building.address).label("key"),
        ).where(in_scope),
        select(Building.id, literal(2), sql_normalise(compound_key)).where(
            in_scope, Building.building_no.is_not(None)
        ),
        select(Building.id, literal(2), sql_normalise(door_key)).where(
            in_scope,
            Building.compound.is_(None),
            Building.road_name.is_not(None),
            Building.house_number.is_not(None),
        ),
    ).subquery("keys")
    session.execute(
        insert(_building_keys).from_select(
            ["building_id", "rank", "key", "rev"],
            select(keys.c.building_id, keys.c.rank, keys.c.key, func.reverse(keys.c.key)).where(
                keys.c.key != ""
            ),
        )
    )
    session.execute(text("CREATE INDEX ON ledger_building_keys (rev)"))
    analyze(session, BUILDING_KEYS)


def points_from_coordinates(session: Session) -> None:
    """The storage point of every row that gave coordinates."""
    session.execute(
        text(
            "UPDATE ledger_rows SET pt = ST_SetSRID(ST_MakePoint(lon, lat), :srid) "
            "WHERE lon IS NOT NULL AND lat IS NOT NULL"
        ),
        {"srid": STORAGE_SRID},
    )


def match_addresses(session: Session) -> None:
    """Match every distinct address key against the in-scope building keys (ranked).

    Sets ``addr_matches`` (buildings at the best rank) and, when exactly one,
    ``addr_building_id``. A suffix match must start at a boundary: a key that begins with a
    digit may not continue a number (``1号楼`` is not the end of ``11号楼``).
    """
    session.execute(
        text(
            """
            WITH row_keys AS (
                SELECT DISTINCT addr_key AS key FROM ledger_rows WHERE ok AND addr_key IS NOT NULL
            ),
            hits AS (
                SELECT k.key, bk.building_id,
                       CASE WHEN bk.key = k.key THEN bk.rank ELSE 3 END AS rank
                FROM row_keys k
                JOIN ledger_building_keys bk
                  ON bk.rev >= reverse(k.key) COLLATE "C"
                 AND bk.rev < (reverse(k.key) || chr(1114111)) COLLATE "C"
                WHERE bk.key = k.key
                   OR (bk.rank = 1
                       AND (k.key !~ '^[0-9]'
                            OR substr(bk.key, length(bk.key) - length(k.key), 1) !~ '[0-9]'))
            ),
            best AS (SELECT key, min(rank) AS rank FROM hits GROUP BY key),
            chosen AS (
                SELECT h.key, count(DISTINCT h.building_id) AS n, min(h.building_id) AS one
                FROM hits h JOIN best b ON b.key = h.key AND b.rank = h.rank
                GROUP BY h.key
            )
            UPDATE ledger_rows r
               SET addr_matches = c.n,
                   addr_building_id = CASE WHEN c.n = 1 THEN c.one END
              FROM chosen c
             WHERE r.addr_key = c.key AND r.ok
            """
        )
    )


def find_buildings(session: Session) -> None:
    """For every row with a point: the covering footprint, else the nearest within 15 m.

    Each distinct point is looked up once (the rows of one building share it; the CTEs are
    ``MATERIALIZED`` so that the planner cannot push the lookup back into the per-row join).
    KNN (``<->``, GiST) fetches a few candidates by planar distance; they are re-sorted by the
    exact distance in metres on the spheroid. A covering footprint has distance 0; between
    overlapping footprints the smaller, then the lower id, wins.
    """
    session.execute(
        text(
            """
            WITH points AS MATERIALIZED (
                SELECT lon, lat, ST_SetSRID(ST_MakePoint(lon, lat), :srid) AS pt
                FROM (SELECT DISTINCT lon, lat FROM ledger_rows
                      WHERE ok AND lon IS NOT NULL AND lat IS NOT NULL) d
            ),
            hits AS MATERIALIZED (
                SELECT p.lon, p.lat, h.id
                FROM points p
                CROSS JOIN LATERAL (
                    SELECT near.id
                    FROM (
                        SELECT b.id, b.geom FROM buildings b
                        ORDER BY b.geom <-> p.pt LIMIT :candidates
                    ) near
                    WHERE ST_DWithin(near.geom::geography, p.pt::geography, :radius)
                    ORDER BY ST_Distance(near.geom::geography, p.pt::geography),
                             ST_Area(near.geom), near.id
                    LIMIT 1
                ) h
            )
            UPDATE ledger_rows r SET pt_building_id = hits.id
              FROM hits
             WHERE r.ok AND r.lon = hits.lon AND r.lat = hits.lat
            """
        ),
        {"candidates": NEAR_CANDIDATES, "radius": NEAR_BUILDING_M, "srid": STORAGE_SRID},
    )


def find_grids(session: Session) -> None:
    """The grid of every row's point, by the one grid rule of migration 0003.

    ``wangge_grid_at`` (see :mod:`layers.spatial.assign`): the current non-micro grid covering
    the point, the smallest code on a shared edge; one GiST probe per distinct point.
    """
    session.execute(
        text(
            """
            WITH points AS MATERIALIZED (
                SELECT lon, lat, ST_SetSRID(ST_MakePoint(lon, lat), :srid) AS pt
                FROM (SELECT DISTINCT lon, lat FROM ledger_rows
                      WHERE ok AND pt IS NOT NULL) d
            ),
            hits AS MATERIALIZED (
                SELECT p.lon, p.lat, g.id, g.community_id,
                       EXISTS (SELECT 1 FROM ledger_scope_grids s WHERE s.id = g.id) AS in_scope
                  FROM points p JOIN grids g ON g.id = wangge_grid_at(p.pt)
            )
            UPDATE ledger_rows r
               SET pt_grid_id = hits.id, pt_community_id = hits.community_id,
                   pt_in_scope = hits.in_scope
              FROM hits
             WHERE r.ok AND r.lon = hits.lon AND r.lat = hits.lat
            """
        ),
        {"srid": STORAGE_SRID},
    )


def points_from_buildings(session: Session) -> None:
    """Rows located by address only get a point inside their building (point on surface)."""
    session.execute(
        text(
            "UPDATE ledger_rows r SET pt = s.pt, lon = ST_X(s.pt), lat = ST_Y(s.pt) "
            "FROM (SELECT id, ST_PointOnSurface(geom) AS pt FROM buildings) s "
            "WHERE r.ok AND r.pt IS NULL AND s.id = r.addr_building_id"
        )
    )


def _address_problems(session: Session) -> None:
    add_problems(
        session,
        "address-unknown",
        "r.addr_key IS NOT NULL AND r.addr_matches = 0",
        column_sql="r.addr_col",
    )
    add_problems(
        session,
        "address-ambiguous",
        "r.addr_matches > 1",
        column_sql="r.addr_col",
        detail="r.addr_matches",
    )


def _point_problems(session: Session, *, building_needed: bool) -> None:
    add_problems(
        session, "outside-all-grids", "r.pt IS NOT NULL AND r.pt_grid_id IS NULL", column="lon"
    )
    add_problems(
        session, "outside-area", "r.pt_grid_id IS NOT NULL AND NOT r.pt_in_scope", column="lon"
    )
    if not building_needed:
        return
    add_problems(
        session,
        "no-building-near",
        "r.pt IS NOT NULL AND r.pt_in_scope AND r.pt_building_id IS NULL",
        column="lon",
    )
    # A point on a building of another area (near a boundary) is outside the user's area too.
    add_problems(
        session,
        "outside-area",
        "r.pt_in_scope AND r.pt_building_id IS NOT NULL AND NOT EXISTS "
        "(SELECT 1 FROM ledger_scope_buildings s WHERE s.id = r.pt_building_id)",
        column="lon",
    )


def locate_in_buildings(session: Session) -> None:
    """Persons and houses: resolve each row to one in-scope building, or record why not."""
    points_from_coordinates(session)
    match_addresses(session)
    find_grids(session)
    find_buildings(session)
    analyze(session, ROWS)  # the checks below join on the columns just filled
    _address_problems(session)
    _point_problems(session, building_needed=True)
    add_problems(
        session,
        "location-conflict",
        "r.addr_building_id IS NOT NULL AND r.pt_building_id IS NOT NULL "
        "AND r.addr_building_id <> r.pt_building_id",
        column_sql="r.addr_col",
    )
    session.execute(
        text("UPDATE ledger_rows SET building_id = coalesce(addr_building_id, pt_building_id)")
    )


def locate_points(session: Session) -> None:
    """Places: the point itself (or a point inside the addressed building) and its grid."""
    points_from_coordinates(session)
    match_addresses(session)
    _address_problems(session)
    points_from_buildings(session)
    find_grids(session)
    analyze(session, ROWS)
    _point_problems(session, building_needed=False)
