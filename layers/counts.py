"""Live counts per grid: buildings, houses, households, persons, care groups, places, incidents.

Nothing here is typed in or cached. The counts follow the derived chain of 以房管人 — a building
is filed under a grid by spatial query (:mod:`layers.spatial.assign`), a house belongs to its
building, a household to its house, a person to a household — so a count changes the moment a
row is added, moved, or a grid is re-drawn and its rows re-filed. Places and incidents count by
their own derived ``grid_id``.

What is counted
---------------
==========================  ================================================================
``buildings``               buildings filed under the grid
``houses``                  houses in those buildings
``households``              households registered at those houses
``persons``                 active persons (``persons.is_active``) of those households; people
                            who moved away or died keep their record but are not counted
``persons_in_care_groups``  of those, persons filed under at least one active care-group
                            category (each person once, however many categories)
``places``                  places filed under the grid
``open_incidents``          incidents filed under the grid whose status is not ``closed``
==========================  ================================================================

:func:`grid_counts` is one SQL statement: per-table aggregates joined on the selected grid ids,
each reached through the ``grid_id`` / foreign-key indexes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from layers.access import Principal
from layers.errors import InvalidInput, NotFound
from layers.models import AdminUnit, Grid
from layers.scope import area_filter

_GRID_CODE = re.compile(r"^[0-9]{15}$")
_PREFIX = re.compile(r"^[0-9]{1,15}$")


@dataclass(frozen=True, slots=True)
class GridCounts:
    """What one grid holds right now."""

    buildings: int = 0
    houses: int = 0
    households: int = 0
    persons: int = 0
    persons_in_care_groups: int = 0
    places: int = 0
    open_incidents: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts as a plain dict (for JSON)."""
        return asdict(self)


_COUNTS_SQL = """
WITH sel AS (
    SELECT g.id FROM grids AS g WHERE {grid_where}
), b AS (
    SELECT b.grid_id, count(*) AS n
    FROM buildings AS b JOIN sel ON sel.id = b.grid_id
    GROUP BY b.grid_id
), h AS (
    SELECT b.grid_id, count(*) AS n
    FROM houses AS h
    JOIN buildings AS b ON b.id = h.building_id
    JOIN sel ON sel.id = b.grid_id
    GROUP BY b.grid_id
), hh AS (
    SELECT b.grid_id, count(*) AS n
    FROM households AS hh
    JOIN houses AS h ON h.id = hh.house_id
    JOIN buildings AS b ON b.id = h.building_id
    JOIN sel ON sel.id = b.grid_id
    GROUP BY b.grid_id
), p AS (
    SELECT b.grid_id, count(*) AS n,
           count(*) FILTER (WHERE EXISTS (
               SELECT 1 FROM person_care_groups AS pc
               JOIN care_group_categories AS cc ON cc.code = pc.category_code
               WHERE pc.person_id = p.id AND cc.is_active)) AS care
    FROM persons AS p
    JOIN households AS hh ON hh.id = p.household_id
    JOIN houses AS h ON h.id = hh.house_id
    JOIN buildings AS b ON b.id = h.building_id
    JOIN sel ON sel.id = b.grid_id
    WHERE p.is_active
    GROUP BY b.grid_id
), pl AS (
    SELECT pl.grid_id, count(*) AS n
    FROM places AS pl JOIN sel ON sel.id = pl.grid_id
    GROUP BY pl.grid_id
), inc AS (
    SELECT i.grid_id, count(*) AS n
    FROM incidents AS i JOIN sel ON sel.id = i.grid_id
    WHERE i.status <> 'closed'
    GROUP BY i.grid_id
)
SELECT sel.id,
       coalesce(b.n, 0) AS buildings, coalesce(h.n, 0) AS houses,
       coalesce(hh.n, 0) AS households, coalesce(p.n, 0) AS persons,
       coalesce(p.care, 0) AS persons_in_care_groups, coalesce(pl.n, 0) AS places,
       coalesce(inc.n, 0) AS open_incidents
FROM sel
LEFT JOIN b ON b.grid_id = sel.id
LEFT JOIN h ON h.grid_id = sel.id
LEFT JOIN hh ON hh.grid_id = sel.id
LEFT JOIN p ON p.grid_id = sel.id
LEFT JOIN pl ON pl.grid_id = sel.id
LEFT JOIN inc ON inc.grid_id = sel.id
ORDER BY sel.id
"""


_HOUSEHOLDS_SQL = """
SELECT b.grid_id, count(*) AS n
FROM households AS hh
JOIN houses AS h ON h.id = hh.house_id
JOIN buildings AS b ON b.id = h.building_id
WHERE b.grid_id = ANY(CAST(:ids AS integer[]))
GROUP BY b.grid_id
"""


def household_counts(session: Session, *, grid_ids: Sequence[int]) -> dict[int, int]:
    """Live household counts of these grids (zeros included); one statement.

    The same figure as :func:`grid_counts` ``households``, without the other six aggregates:
    sizing and per-100-household rates need only this, and counting open incidents or persons
    over a whole street costs seconds at a million rows.
    """
    ids = [int(i) for i in grid_ids]
    if not ids:
        return {}
    found: dict[int, int] = {
        int(grid_id): int(n) for grid_id, n in session.execute(text(_HOUSEHOLDS_SQL), {"ids": ids})
    }
    return {i: found.get(i, 0) for i in ids}


def grid_counts(
    session: Session,
    *,
    grid_ids: Sequence[int] | None = None,
    community_prefix: str | None = None,
) -> dict[int, GridCounts]:
    """Live counts for grids, keyed by grid id; one SQL statement.

    Parameters
    ----------
    grid_ids
        These grid versions (current or closed; a closed version normally counts 0, its rows
        having been re-filed). ``None``: every current grid.
    community_prefix
        Only grids whose code starts with this prefix (a community's 12 digits, a street's 9,
        a district's 6; digits only). Combined with ``grid_ids`` when both are given.

    Returns
    -------
    dict[int, GridCounts]
        One entry per selected grid, zeros included.
    """
    where: list[str] = []
    params: dict[str, Any] = {}
    if grid_ids is not None:
        if not grid_ids:
            return {}
        where.append("g.id = ANY(CAST(:ids AS integer[]))")
        params["ids"] = [int(i) for i in grid_ids]
    else:
        where.append("g.valid_to IS NULL")
    if community_prefix is not None:
        if not _PREFIX.match(community_prefix):
            raise InvalidInput(
                "community_prefix must be 1 to 15 digits, e.g. 370112004001",
                "community_prefix 应为 1 到 15 位数字，例如 370112004001",
                field="community_prefix",
            )
        where.append("starts_with(g.code, :prefix)")
        params["prefix"] = community_prefix
    statement = _COUNTS_SQL.format(grid_where=" AND ".join(where))
    return {
        row.id: GridCounts(
            buildings=row.buildings,
            houses=row.houses,
            households=row.households,
            persons=row.persons,
            persons_in_care_groups=row.persons_in_care_groups,
            places=row.places,
            open_incidents=row.open_incidents,
        )
        for row in session.execute(text(statement), params)
    }


def counts_for_grid_code(session: Session, principal: Principal, *, code: str) -> dict[str, Any]:
    """The live counts of the current version of one grid code in the principal's area.

    Raises InvalidInput for a code that is not 15 digits, and NotFound when no current grid
    has that code within the principal's area (another area's grid is answered the same way).
    """
    if not _GRID_CODE.match(code):
        raise InvalidInput(
            "A grid code has 15 digits (12-digit community code + 3-digit sequence)",
            "网格编码应为 15 位数字（12 位社区代码 + 3 位顺序号）",
            field="code",
        )
    row = session.execute(
        select(Grid.id, Grid.code, Grid.name, Grid.version, AdminUnit.code.label("community"))
        .join(AdminUnit, AdminUnit.id == Grid.community_id)
        .where(Grid.code == code, Grid.valid_to.is_(None), area_filter("grids", principal))
    ).first()
    if row is None:
        raise NotFound(
            f"There is no current grid {code} within your area",
            f"在您的辖区内未找到现行网格 {code}",
            field="code",
        )
    counts = grid_counts(session, grid_ids=[row.id])[row.id]
    return {
        "grid_id": row.id,
        "code": row.code,
        "name": row.name,
        "version": row.version,
        "community_code": row.community,
        "counts": counts.as_dict(),
    }


__all__ = ["GridCounts", "counts_for_grid_code", "grid_counts", "household_counts"]
