"""Dispatch rules (归口管理, 属地兜底) and duplicate suggestions.

Which department an incident goes to
------------------------------------
``dispatch_rules`` rows map (category, administrative unit) to a department. For an incident the
candidate rules are those whose unit is the incident's community, its street or its district,
and whose category is the incident's category, one of its parents, or NULL (any category). The
most specific category wins (exact, then parent, then NULL), and among equals the most specific
area (community, then street, then district). A rule with a NULL category is the territory's
fallback (属地兜底): the community or street itself takes what no department claims. With no
rule at all there is no suggestion and the dispatcher must name the department.

Duplicates
----------
Two reports of the same category within ``duplicate_distance_m`` metres and
``duplicate_hours`` hours of each other are suggested as duplicates; a dispatcher may merge one
into the other (action ``merge``), which closes it with ``duplicate_of`` set.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.access import Principal
from layers.incidents.settings import IncidentSettings

_SUGGEST_SQL = """
WITH inc AS (
    SELECT i.category_code, i.community_id FROM incidents AS i WHERE i.id = :id
), area AS (
    SELECT c.id, 1 AS rank FROM admin_units AS c, inc WHERE c.id = inc.community_id
    UNION ALL
    SELECT s.id, 2 FROM admin_units AS c JOIN admin_units AS s ON s.id = c.parent_id, inc
    WHERE c.id = inc.community_id
    UNION ALL
    SELECT d.id, 3 FROM admin_units AS c JOIN admin_units AS s ON s.id = c.parent_id
    JOIN admin_units AS d ON d.id = s.parent_id, inc WHERE c.id = inc.community_id
), cat AS (
    SELECT k.code, 1 AS rank FROM incident_categories AS k, inc WHERE k.code = inc.category_code
    UNION ALL
    SELECT k.parent_code, 2 FROM incident_categories AS k, inc
    WHERE k.code = inc.category_code AND k.parent_code IS NOT NULL
)
SELECT r.id AS rule_id, r.department_id, d.name, r.category_code, a.rank AS area_rank
FROM dispatch_rules AS r
JOIN area AS a ON a.id = r.admin_unit_id
LEFT JOIN cat AS k ON k.code = r.category_code
JOIN departments AS d ON d.id = r.department_id
WHERE r.category_code IS NULL OR k.code IS NOT NULL
ORDER BY coalesce(k.rank, 3), a.rank, r.id
LIMIT 1
"""


def suggest_department(session: Session, incident_id: int) -> dict[str, Any] | None:
    """The department the dispatch rules route the incident to, or None (see module doc)."""
    row = session.execute(text(_SUGGEST_SQL), {"id": incident_id}).first()
    if row is None:
        return None
    return {
        "department_id": row.department_id,
        "name": row.name,
        "rule_id": row.rule_id,
        "basis": "category" if row.category_code else "territory",
    }


_DUPLICATES_SQL = """
WITH me AS (
    SELECT i.id, i.geom, i.category_code, i.reported_at FROM incidents AS i WHERE i.id = :id
)
SELECT o.id, o.code, o.title, o.status, o.reported_at,
       round(ST_Distance(o.geom::geography, me.geom::geography)::numeric, 1) AS distance_m
FROM me
JOIN incidents AS o
  ON o.id <> me.id
 AND o.category_code = me.category_code
 AND o.duplicate_of IS NULL
 AND o.geom && ST_Expand(me.geom, :deg)
 AND ST_DWithin(o.geom::geography, me.geom::geography, :dist)
 AND o.reported_at BETWEEN me.reported_at - make_interval(secs => :secs)
                       AND me.reported_at + make_interval(secs => :secs)
WHERE o.id = ANY(CAST(:visible AS integer[])) OR CAST(:visible AS integer[]) IS NULL
ORDER BY distance_m, o.id
LIMIT 20
"""


def duplicates(
    session: Session, principal: Principal | None, incident_id: int, settings: IncidentSettings
) -> list[dict[str, Any]]:
    """Visible incidents of the same category near the given one in space and time.

    Distances in metres on the WGS-84 spheroid; the box prefilter (degrees) uses the GiST index.
    """
    params = {
        "id": incident_id,
        "deg": settings.duplicate_distance_m * 1.2e-5 + 1e-6,
        "dist": settings.duplicate_distance_m,
        "secs": settings.duplicate_hours * 3600.0,
        "visible": None,
    }
    rows = session.execute(text(_DUPLICATES_SQL), params).all()
    if principal is not None and rows:
        from sqlalchemy import select

        from layers.incidents.workflow import visible_incidents
        from layers.models import Incident

        ids = [r.id for r in rows]
        seen = set(
            session.scalars(
                select(Incident.id).where(Incident.id.in_(ids), visible_incidents(principal))
            )
        )
        rows = [r for r in rows if r.id in seen]
    return [
        {
            "id": r.id,
            "code": r.code,
            "title": r.title,
            "status": r.status,
            "reported_at": r.reported_at,
            "distance_m": float(r.distance_m),
        }
        for r in rows
    ]
