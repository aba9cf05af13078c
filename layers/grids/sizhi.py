"""四至: the text that says what lies east, south, west and north of a grid.

Generated per grid in one SQL statement, in the UTM zone of the grid (metres):

1. For each direction the grid's *edge zone* is a strip :data:`EDGE_ZONE_M` wide on either side
   of that side of the grid's bounding box (the east zone spans ``xmax ± EDGE_ZONE_M`` over the
   grid's full height).
2. **Road.** Named roads whose part inside the edge zone is at least :data:`ROAD_SHARE` of the
   side's length run *along* that side (a road that only crosses the zone is shorter). The
   nearest of them to the side wins (then the longer, then by name). Segments of one road name
   are taken together.
3. **Neighbouring grid.** Without such a road: the current grids of the same level (basic and
   special grids, or micro-grids of micro-grids) covering at least :data:`NEIGHBOUR_SHARE` of
   the strip just outside the side, named along the side (north to south on the east and west,
   west to east on the north and south) and joined by "、".
4. **Community border.** Otherwise ``社区边界``.

The text reads ``东至…，南至…，西至…，北至…``. A planner may type their own text for a grid
version (``grid_sizhi_overrides``); regeneration never overwrites it. 四至 is a description of
the boundary, not the boundary, so it is refreshed on the current version in place, without a
new version.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from layers.access import Principal
from layers.errors import Forbidden, InvalidInput, NotFound
from layers.models import Grid
from layers.scope import area_filter

#: Width (m) of the strip on each side of a grid's edge in which roads are looked for.
EDGE_ZONE_M = 30.0
#: A road names a side when this share of the side's length runs inside the edge zone.
ROAD_SHARE = 0.3
#: A neighbouring grid names a side when it covers this share of the strip outside it.
NEIGHBOUR_SHARE = 0.1
#: What lies beyond a side with neither road nor grid.
COMMUNITY_BORDER = "社区边界"
#: At most this many 四至 characters are kept (a typed text is refused beyond it).
MAX_SIZHI_CHARS = 500

_SIZHI_SQL = """
WITH target AS (
    SELECT g.id, g.code, g.kind, g.parent_grid_code, g.geom,
           32600 + floor((ST_X(ST_Centroid(g.geom)) + 180) / 6)::int + 1
           + CASE WHEN ST_Y(ST_Centroid(g.geom)) < 0 THEN 100 ELSE 0 END AS srid
    FROM grids AS g
    WHERE g.id = ANY(CAST(:ids AS integer[]))
), box AS (
    SELECT t.*, ST_XMin(b.m) AS x0, ST_YMin(b.m) AS y0, ST_XMax(b.m) AS x1, ST_YMax(b.m) AS y1
    FROM target AS t CROSS JOIN LATERAL (SELECT ST_Transform(t.geom, t.srid) AS m) AS b
), sides AS (
    SELECT b.id, b.code, b.kind, b.parent_grid_code, b.srid, s.ord, s.dir, s.label,
           CASE s.dir
               WHEN 'E' THEN ST_MakeEnvelope(b.x1 - :d, b.y0, b.x1 + :d, b.y1, b.srid)
               WHEN 'S' THEN ST_MakeEnvelope(b.x0, b.y0 - :d, b.x1, b.y0 + :d, b.srid)
               WHEN 'W' THEN ST_MakeEnvelope(b.x0 - :d, b.y0, b.x0 + :d, b.y1, b.srid)
               ELSE ST_MakeEnvelope(b.x0, b.y1 - :d, b.x1, b.y1 + :d, b.srid)
           END AS zone,
           CASE s.dir
               WHEN 'E' THEN ST_MakeEnvelope(b.x1, b.y0, b.x1 + :d, b.y1, b.srid)
               WHEN 'S' THEN ST_MakeEnvelope(b.x0, b.y0 - :d, b.x1, b.y0, b.srid)
               WHEN 'W' THEN ST_MakeEnvelope(b.x0 - :d, b.y0, b.x0, b.y1, b.srid)
               ELSE ST_MakeEnvelope(b.x0, b.y1, b.x1, b.y1 + :d, b.srid)
           END AS outside,
           CASE s.dir
               WHEN 'E' THEN ST_MakeLine(ST_Point(b.x1, b.y0, b.srid), ST_Point(b.x1, b.y1, b.srid))
               WHEN 'S' THEN ST_MakeLine(ST_Point(b.x0, b.y0, b.srid), ST_Point(b.x1, b.y0, b.srid))
               WHEN 'W' THEN ST_MakeLine(ST_Point(b.x0, b.y0, b.srid), ST_Point(b.x0, b.y1, b.srid))
               ELSE ST_MakeLine(ST_Point(b.x0, b.y1, b.srid), ST_Point(b.x1, b.y1, b.srid))
           END AS edge,
           CASE WHEN s.dir IN ('E', 'W') THEN b.y1 - b.y0 ELSE b.x1 - b.x0 END AS side_m
    FROM box AS b
    CROSS JOIN (VALUES (1, 'E', '东至'), (2, 'S', '南至'), (3, 'W', '西至'), (4, 'N', '北至'))
         AS s(ord, dir, label)
), road AS (
    SELECT DISTINCT ON (sd.id, sd.ord) sd.id, sd.ord, r.name
    FROM sides AS sd
    JOIN LATERAL (
        SELECT rd.name, ST_Union(ST_Intersection(ST_Transform(rd.geom, sd.srid), sd.zone)) AS part
        FROM roads AS rd
        WHERE ST_Intersects(rd.geom, ST_Transform(sd.zone, 4326))
        GROUP BY rd.name
    ) AS r ON ST_Length(r.part) >= :road_share * sd.side_m
    ORDER BY sd.id, sd.ord, ST_Distance(r.part, sd.edge), ST_Length(r.part) DESC, r.name
), neighbour AS (
    SELECT sd.id, sd.ord, string_agg(n.name, '、' ORDER BY n.along, n.code) AS names
    FROM sides AS sd
    JOIN LATERAL (
        SELECT o.name, o.code, ST_Area(i.part) / nullif(ST_Area(sd.outside), 0) AS share,
               CASE WHEN sd.dir IN ('E', 'W') THEN -ST_Y(ST_Centroid(i.part))
                    ELSE ST_X(ST_Centroid(i.part)) END AS along
        FROM grids AS o
        CROSS JOIN LATERAL (
            SELECT ST_Intersection(ST_Transform(o.geom, sd.srid), sd.outside) AS part
        ) AS i
        WHERE o.valid_to IS NULL AND o.code <> sd.code
          AND (o.kind = 'micro') = (sd.kind = 'micro')
          AND (sd.kind <> 'micro' OR o.parent_grid_code = sd.parent_grid_code)
          AND ST_Intersects(o.geom, ST_Transform(sd.outside, 4326))
    ) AS n ON n.share >= :neighbour_share
    GROUP BY sd.id, sd.ord
)
SELECT sd.id,
       string_agg(sd.label || coalesce(r.name, n.names, :border), '，' ORDER BY sd.ord) AS sizhi
FROM sides AS sd
LEFT JOIN road AS r ON r.id = sd.id AND r.ord = sd.ord
LEFT JOIN neighbour AS n ON n.id = sd.id AND n.ord = sd.ord
GROUP BY sd.id
"""


def _params(ids: Sequence[int]) -> dict[str, object]:
    return {
        "ids": list(ids),
        "d": EDGE_ZONE_M,
        "road_share": ROAD_SHARE,
        "neighbour_share": NEIGHBOUR_SHARE,
        "border": COMMUNITY_BORDER,
    }


def compute_sizhi(session: Session, *, grid_ids: Sequence[int]) -> dict[int, str]:
    """The generated 四至 text of each grid version (against the current grids around it)."""
    if not grid_ids:
        return {}
    rows = session.execute(text(_SIZHI_SQL), _params(grid_ids))
    return {r.id: r.sizhi for r in rows}


def regenerate_sizhi(
    session: Session,
    *,
    grid_ids: Sequence[int],
    include_neighbours: bool = True,
    neighbours_of: Sequence[int] = (),
) -> dict[int, str]:
    """Rewrite the generated 四至 of current grids; return the texts that changed by grid id.

    Targets: the current versions among ``grid_ids`` and, with ``include_neighbours``, the
    current grids touching any version in ``grid_ids`` or ``neighbours_of`` (e.g. the versions a
    publish closed). Grids with a typed text (``grid_sizhi_overrides``) are left alone.
    """
    seeds = list({*grid_ids, *neighbours_of})
    if not seeds:
        return {}
    targets = list(
        session.execute(
            text(
                """
SELECT g.id FROM grids AS g
WHERE g.valid_to IS NULL
  AND NOT EXISTS (SELECT 1 FROM grid_sizhi_overrides AS o WHERE o.grid_id = g.id)
  AND (g.id = ANY(CAST(:ids AS integer[]))
       OR (:neighbours AND EXISTS (
           SELECT 1 FROM grids AS s
           WHERE s.id = ANY(CAST(:seeds AS integer[])) AND ST_Intersects(g.geom, s.geom))))
"""
            ),
            {"ids": list(grid_ids), "seeds": seeds, "neighbours": include_neighbours},
        ).scalars()
    )
    texts = compute_sizhi(session, grid_ids=targets)
    changed = session.execute(
        text(
            """
UPDATE grids AS g SET sizhi = t.sizhi
FROM unnest(CAST(:ids AS integer[]), CAST(:texts AS text[])) AS t(id, sizhi)
WHERE g.id = t.id AND g.sizhi IS DISTINCT FROM t.sizhi
RETURNING g.id, g.sizhi
"""
        ),
        {"ids": list(texts), "texts": list(texts.values())},
    )
    return {r.id: r.sizhi for r in changed}


def _current_grid(session: Session, principal: Principal, code: str) -> tuple[int, str | None]:
    row = session.execute(
        select(Grid.id, Grid.sizhi).where(
            Grid.code == code, Grid.valid_to.is_(None), area_filter("grids", principal)
        )
    ).first()
    if row is None:
        raise NotFound(
            f"No current grid {code} in your area",
            f"您的管辖区域内没有现行网格 {code}",
            field="code",
        )
    return row.id, row.sizhi


def set_sizhi(
    session: Session, *, principal: Principal, code: str, sizhi: str | None
) -> tuple[str, bool]:
    """Type the 四至 of a current grid (kept across regenerations), or with ``None`` go back to
    the generated text. Returns the text now in force and whether it is typed.
    """
    if not principal.may_edit_grids():
        raise Forbidden(
            "Only planners, street admins and admins may edit 四至",
            "仅网格规划员、街道管理员和系统管理员可编辑四至",
        )
    grid_id, _ = _current_grid(session, principal, code)
    if sizhi is None:
        session.execute(
            text("DELETE FROM grid_sizhi_overrides WHERE grid_id = :id"), {"id": grid_id}
        )
        regenerate_sizhi(session, grid_ids=[grid_id], include_neighbours=False)
        return _current_grid(session, principal, code)[1] or "", False
    value = sizhi.strip()
    if not value or len(value) > MAX_SIZHI_CHARS:
        raise InvalidInput(
            f"四至 text must have 1 to {MAX_SIZHI_CHARS} characters",
            f"四至文字应为 1 到 {MAX_SIZHI_CHARS} 个字符",
            field="sizhi",
        )
    session.execute(
        text(
            """
INSERT INTO grid_sizhi_overrides (grid_id, text, edited_by) VALUES (:id, :text, :user)
ON CONFLICT (grid_id) DO UPDATE
SET text = EXCLUDED.text, edited_by = EXCLUDED.edited_by, edited_at = now()
"""
        ),
        {"id": grid_id, "text": value, "user": principal.user_id},
    )
    session.execute(
        text("UPDATE grids SET sizhi = :text WHERE id = :id"), {"id": grid_id, "text": value}
    )
    return value, True


def preview_sizhi(
    session: Session, *, principal: Principal, code: str
) -> tuple[str | None, str, bool]:
    """The stored 四至 of a current grid, the text generation would give now, and whether the
    stored text is typed (an override)."""
    grid_id, stored = _current_grid(session, principal, code)
    typed = session.execute(
        text("SELECT 1 FROM grid_sizhi_overrides WHERE grid_id = :id"), {"id": grid_id}
    ).first()
    return stored, compute_sizhi(session, grid_ids=[grid_id])[grid_id], typed is not None
