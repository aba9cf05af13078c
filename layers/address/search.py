"""Address search (forward) and the address at a point (reverse), over the address register.

Forward: the query is parsed (:mod:`layers.address.parse`), compound aliases (俗称) are written as
the compound they name, and one SQL statement finds the building:

1. **Candidates** are building rows of ``address_register`` whose normalised ``key`` contains
   something like the query's building key: pg_trgm ``word_similarity`` through the partial GIN
   index (``<%``, threshold :data:`WORD_SIMILARITY_THRESHOLD` — low enough for a typo in a
   four-character name, for a partial input while typing, and for a skipped compound). A query
   of ASCII letters and digits also matches the pinyin ``initials`` (``hxjy3`` → 华信家园3号楼).
   Only rows in the principal's area (community code under the area prefix) are candidates.
2. **Rank**: the trigram score plus agreement of the parsed parts — same building number
   (strongest), same door number, same compound, same road — and disagreement penalties; ties
   go to the shorter address (``similarity``), then the lowest building id.
3. **House**: when the query names a room, the house row of the found building with that room
   (and unit / floor when given) is attached.

Each hit carries the building's location (point on the footprint, storage lon/lat), its grid
and the grid's staff (masked per role as in :mod:`layers.locate`; reading staff is audited).

Reverse: the building whose footprint covers the point, else the nearest one within
:data:`REVERSE_MAX_M` metres (KNN ``<->`` on the GiST index, exact re-sort on ``geography``),
and the grid at the point by ``wangge_grid_at`` (the assignment rule of migration 0003).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.access import Principal
from layers.address.parse import ParsedAddress, building_key, parse_address
from layers.audit import record
from layers.base import STORAGE_SRID
from layers.errors import InvalidInput, NotFound
from layers.locate import STAFF_FIELDS, _as_crs, _staff, _view, to_storage_point
from layers.spatial.crs import Crs

#: word_similarity threshold for candidates (pg_trgm's default 0.6 misses one typo in a name).
WORD_SIMILARITY_THRESHOLD = 0.3
#: Candidates ranked per query before the best ``limit`` are returned.
CANDIDATE_POOL = 200
#: Longest query accepted (characters).
MAX_QUERY_CHARS = 200
#: Largest ``limit``.
MAX_LIMIT = 50
#: Reverse: the nearest building is reported only up to this distance (metres, WGS-84 spheroid).
REVERSE_MAX_M = 50.0
#: Reverse: KNN candidates fetched by ``<->`` (degrees) before the exact re-sort in metres.
REVERSE_CANDIDATES = 10

_PINYIN_QUERY = re.compile(r"^[a-z0-9]*[a-z][a-z0-9]*$")

_SEARCH_SQL_TEMPLATE = """
WITH matched AS MATERIALIZED (
    -- every building row the query can mean; its trigram score computed once per row
    SELECT r.building_id, r.key, r.road, r.house_number, r.compound, r.aliases, r.building,
           greatest(word_similarity(wangge_address_key(:bkey), r.key),
                    CASE WHEN :initials <> '' THEN word_similarity(:initials, r.initials)
                         ELSE 0 END) AS ws
    FROM address_register AS r
    WHERE r.house_id IS NULL
      AND /*candidates*/
), cand AS (
    SELECT m.* FROM matched AS m
    ORDER BY m.ws + CASE WHEN m.house_number = :number THEN 0.2 ELSE 0 END DESC, m.building_id
    LIMIT :pool
), ranked AS (
    SELECT c.building_id, similarity(wangge_address_key(:bkey), c.key) AS s,
           greatest(c.ws, word_similarity(wangge_address_key(:bkey), p.key))
           + 0.3 * wangge_name_likeness(wangge_address_key(:bkey), p.key)
           + CASE WHEN :building = '' THEN 0
                  WHEN p.building = :building THEN 0.5
                  WHEN c.building IS NOT NULL THEN -0.2 ELSE -0.1 END
           + CASE WHEN :number = '' THEN 0
                  WHEN c.house_number = :number THEN 0.2 ELSE -0.1 END
           + CASE WHEN :compound = '' THEN 0
                  WHEN c.compound = :compound OR :compound = ANY (c.aliases) THEN 0.3
                  ELSE 0.3 * wangge_name_likeness(:compound, c.compound) END
           + CASE WHEN :road = '' THEN 0 ELSE 0.3 * wangge_name_likeness(:road, c.road) END
           + CASE WHEN :building = '' AND c.building IS NULL THEN 0.05 ELSE 0 END
             AS score
    FROM cand AS c
    CROSS JOIN LATERAL (SELECT wangge_address_key(c.building) AS building) AS nb
    -- the candidate written with only the parts the query names (no building name): what
    -- was typed is compared with that, so a typo'd road is not outscored by a shorter key
    CROSS JOIN LATERAL (
        SELECT nb.building,
               lower(concat(CASE WHEN :road <> '' THEN c.road END,
                            CASE WHEN :number <> '' THEN c.house_number END,
                            CASE WHEN :compound <> '' THEN c.compound END,
                            CASE WHEN :building <> '' THEN nb.building END)) AS key
    ) AS p
), best AS (
    SELECT * FROM ranked ORDER BY score DESC, s DESC, building_id LIMIT :limit
)
SELECT r.building_id, r.score, b.code AS building_code, b.name AS building_name,
       b.kind AS building_kind, b.address, b.compound, b.building_no, b.road_name,
       b.house_number,
       ST_X(ST_PointOnSurface(b.geom)) AS lon, ST_Y(ST_PointOnSurface(b.geom)) AS lat,
       ST_XMin(b.geom) AS xmin, ST_YMin(b.geom) AS ymin, ST_XMax(b.geom) AS xmax,
       ST_YMax(b.geom) AS ymax,
       g.id AS grid_id, g.code AS grid_code, g.name AS grid_name,
       h.house_id, h.unit, h.floor, h.room, h.full_text AS house_address
FROM best AS r
JOIN buildings AS b ON b.id = r.building_id
LEFT JOIN grids AS g ON g.id = b.grid_id
LEFT JOIN LATERAL (
    SELECT hr.house_id, hr.unit, hr.floor, hr.room, hr.full_text
    FROM address_register AS hr
    WHERE :room <> '' AND hr.building_id = r.building_id AND hr.house_id IS NOT NULL
      AND lower(hr.room) = :room
      AND (:unit = '' OR hr.unit = :unit)
      AND (CAST(:floor AS integer) IS NULL OR hr.floor = CAST(:floor AS integer))
    ORDER BY hr.unit, hr.house_id
    LIMIT 1
) AS h ON TRUE
ORDER BY r.score DESC, r.s DESC, r.building_id
"""


@functools.cache
def _search_sql(*, initials: bool, number: bool, scoped: bool) -> str:
    """The search statement with only the candidate conditions this query uses.

    Leaving the unused ones out of the text (rather than ``:initials <> '' AND ...``) lets the
    plan stay good when psycopg prepares the statement and PostgreSQL reuses a generic plan,
    which saves the planning (about 2 ms) of every search after the first few.
    """
    alternatives = ["wangge_address_key(:bkey) <% r.key"]
    if initials:
        alternatives.append(":initials <% r.initials")
    if number:
        alternatives.append("r.house_number = :number")
    where = "(" + "\n           OR ".join(alternatives) + ")"
    if scoped:
        where += (
            "\n      AND r.community_id IN (SELECT a.id FROM admin_units AS a"
            " WHERE a.code LIKE :prefix || '%')"
        )
    return _SEARCH_SQL_TEMPLATE.replace("/*candidates*/", where)


# One round trip before the search: the aliases (俗称) written in the query, longest first, and
# pg_trgm's word_similarity threshold for the rest of the transaction.
_PREPARE_SQL = """
SELECT set_config('pg_trgm.word_similarity_threshold', :threshold, true) AS threshold,
       ARRAY(SELECT ARRAY[a.alias, a.name] FROM address_aliases AS a
             WHERE strpos(:q, a.alias) > 0
             ORDER BY char_length(a.alias) DESC, a.alias) AS aliases
"""


@dataclass(frozen=True, slots=True)
class SearchResult:
    """The parsed query and the ranked hits."""

    query: str
    parsed: ParsedAddress
    hits: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"query": self.query, "parsed": self.parsed.as_dict(), "hits": self.hits}


def _prepare(session: Session, query: str) -> str:
    """Set the search's settings; return the query with each alias written as its compound."""
    row = session.execute(
        text(_PREPARE_SQL), {"threshold": str(WORD_SIMILARITY_THRESHOLD), "q": query}
    ).one()
    for alias, name in row.aliases:
        query = query.replace(alias, name)
    return query


def _scope_prefix(principal: Principal | None) -> str:
    return "" if principal is None else principal.area_prefix


def _staff_by_grid(
    session: Session,
    principal: Principal | None,
    grids: dict[str, int],
    client_ip: str | None,
    endpoint: str,
) -> dict[str, list[dict[str, Any]]]:
    """Staff of each grid code (masked per role); one audit row when any staff is shown."""
    staff = {code: _staff(session, principal, code) for code in grids}
    shown_ids = sorted(grids[code] for code, people in staff.items() if people)
    if shown_ids:
        view = _view(principal)
        shown = {"staff.name": view.names_full, "staff.phone": view.phones_full}
        record(
            session,
            action="read",
            resource="grids",
            resource_ids=shown_ids,
            fields=STAFF_FIELDS,
            unmasked=view.unmasked,
            principal=principal,
            username=None if principal else "cli",
            client_ip=client_ip,
            detail={"endpoint": endpoint, "masked_fields": [f for f, v in shown.items() if not v]},
        )
    return staff


def search(
    session: Session,
    principal: Principal | None,
    *,
    q: str,
    limit: int = 10,
    with_staff: bool = True,
    client_ip: str | None = None,
) -> SearchResult:
    """Buildings (and the house, when a room is named) best matching a free-text address.

    ``principal`` None is the command-line operator: every area, staff masked. Raises
    InvalidInput for an empty or over-long query or a ``limit`` outside 1..MAX_LIMIT.
    """
    query = (q or "").strip()
    if not query:
        raise InvalidInput("The query is empty", "请输入要查找的地址", field="q")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidInput(
            f"The query is longer than {MAX_QUERY_CHARS} characters",
            f"地址不能超过 {MAX_QUERY_CHARS} 个字",
            field="q",
        )
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(
            f"limit must be between 1 and {MAX_LIMIT}",
            f"limit 须在 1 到 {MAX_LIMIT} 之间",
            field="limit",
        )
    parsed = parse_address(_prepare(session, query))
    bkey = building_key(parsed).lower()
    compact = re.sub(r"\s+", "", query.lower())
    initials = compact if _PINYIN_QUERY.match(compact) else ""
    if not bkey and not initials:
        return SearchResult(query=query, parsed=parsed, hits=[])
    prefix = _scope_prefix(principal)
    sql = _search_sql(
        initials=bool(initials), number=bool(parsed.house_number), scoped=bool(prefix)
    )
    rows = session.execute(
        text(sql),
        {
            "bkey": bkey,
            "initials": initials,
            "prefix": prefix,
            "pool": CANDIDATE_POOL,
            "building": (parsed.building or "").lower(),
            "number": parsed.house_number or "",
            "compound": parsed.compound or "",
            "road": parsed.road or "",
            "room": (parsed.room or "").lower(),
            "unit": parsed.unit or "",
            "floor": parsed.floor,
            "limit": limit,
        },
    ).all()
    grids = {r.grid_code: r.grid_id for r in rows if r.grid_code}
    staff = (
        _staff_by_grid(session, principal, grids, client_ip, "address.search")
        if (with_staff)
        else {}
    )
    hits = [
        {
            "rank": i + 1,
            "score": round(float(r.score), 4),
            "address": r.house_address or r.address,
            "location": {"lon": float(r.lon), "lat": float(r.lat), "crs": "EPSG:4326"},
            "building": {
                "id": r.building_id,
                "code": r.building_code,
                "name": r.building_name,
                "kind": r.building_kind,
                "address": r.address,
                "road": r.road_name,
                "house_number": r.house_number,
                "compound": r.compound,
                "building_no": r.building_no,
                "bbox": [float(r.xmin), float(r.ymin), float(r.xmax), float(r.ymax)],
            },
            "house": (
                {"id": r.house_id, "unit": r.unit, "floor": r.floor, "room": r.room}
                if r.house_id is not None
                else None
            ),
            "grid": (
                {
                    "id": r.grid_id,
                    "code": r.grid_code,
                    "name": r.grid_name,
                    "staff": staff.get(r.grid_code, []),
                }
                if r.grid_code
                else None
            ),
        }
        for i, r in enumerate(rows)
    ]
    return SearchResult(query=query, parsed=parsed, hits=hits)


_REVERSE_SQL = """
WITH pt AS (
    SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), :srid) AS g
), near AS (
    SELECT c.* FROM (
        SELECT b.id, ST_Covers(b.geom, pt.g) AS covers,
               ST_Distance(b.geom::geography, pt.g::geography) AS distance_m
        FROM buildings AS b, pt
        WHERE (:prefix = '' OR b.community_id IN (
                  SELECT a.id FROM admin_units AS a WHERE a.code LIKE :prefix || '%'))
        ORDER BY b.geom <-> pt.g
        LIMIT :k
    ) AS c
    WHERE c.covers OR c.distance_m <= :max_m
    ORDER BY c.covers DESC, c.distance_m, c.id
    LIMIT 1
), hit AS (
    SELECT wangge_grid_at(pt.g) AS grid_id FROM pt
)
SELECT n.id AS building_id, n.covers, n.distance_m, b.code AS building_code,
       b.name AS building_name, b.kind AS building_kind, b.address, b.road_name,
       b.house_number, b.compound, b.building_no,
       r.district, r.street, r.community,
       g.id AS grid_id, g.code AS grid_code, g.name AS grid_name,
       (:prefix = '' OR g.code LIKE :prefix || '%') AS grid_in_scope
FROM hit
LEFT JOIN near AS n ON TRUE
LEFT JOIN buildings AS b ON b.id = n.id
LEFT JOIN address_register AS r ON r.building_id = n.id AND r.house_id IS NULL
LEFT JOIN grids AS g ON g.id = hit.grid_id
"""


def reverse(
    session: Session,
    principal: Principal | None,
    *,
    lon: float,
    lat: float,
    crs: Crs | str | None = None,
    max_distance_m: float = REVERSE_MAX_M,
    client_ip: str | None = None,
) -> dict[str, Any]:
    """The building address at (or nearest to) a point and the grid containing the point.

    ``lon``/``lat`` are in ``crs`` (see :func:`layers.locate.to_storage_point`). The building
    is the one whose footprint covers the point, else the nearest within ``max_distance_m``
    metres; only buildings and grids of the principal's area count. Raises NotFound when
    neither a building nor a grid of the area is there.
    """
    if not 0 < max_distance_m <= 1000:
        raise InvalidInput(
            "max_distance_m must be in (0, 1000]", "最大距离须在 0 到 1000 米之间", field="max_m"
        )
    crs_obj = _as_crs(crs)
    point = to_storage_point(lon, lat, crs_obj)
    row = session.execute(
        text(_REVERSE_SQL),
        {
            "lon": point.lon,
            "lat": point.lat,
            "srid": STORAGE_SRID,
            "prefix": _scope_prefix(principal),
            "k": REVERSE_CANDIDATES,
            "max_m": max_distance_m,
        },
    ).one()
    grid_visible = row.grid_id is not None and row.grid_in_scope
    if row.building_id is None and not grid_visible:
        raise NotFound(
            f"No building or grid of your area at ({lon}, {lat}) in {crs_obj.label}",
            f"在您的辖区内，{crs_obj.label} 坐标 ({lon}, {lat}) 附近没有建筑或网格",
            field="lon,lat",
        )
    grid = None
    if grid_visible:
        staff = _staff_by_grid(
            session, principal, {row.grid_code: row.grid_id}, client_ip, "address.reverse"
        )
        grid = {
            "id": row.grid_id,
            "code": row.grid_code,
            "name": row.grid_name,
            "staff": staff[row.grid_code],
        }
    building = None
    if row.building_id is not None:
        building = {
            "id": row.building_id,
            "code": row.building_code,
            "name": row.building_name,
            "kind": row.building_kind,
            "address": row.address,
            "road": row.road_name,
            "house_number": row.house_number,
            "compound": row.compound,
            "building_no": row.building_no,
            "covers_point": bool(row.covers),
            "distance_m": round(float(row.distance_m), 2),
        }
    return {
        "query": {"lon": lon, "lat": lat, "crs": crs_obj.label},
        "location": {"lon": point.lon, "lat": point.lat, "crs": "EPSG:4326"},
        "address": row.address,
        "admin": {"district": row.district, "street": row.street, "community": row.community},
        "building": building,
        "grid": grid,
    }
