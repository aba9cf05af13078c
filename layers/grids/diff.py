"""Plan diff: what publishing a draft would change, grid by grid, counted live in SQL.

For every grid the plan replaces (*before*) and every grid it produces (*after*) the diff gives
the buildings, households, persons, places and open incidents it holds, the codes created and
retired, and the households against the sizing target of the grid's type. ``moves`` says how
many rows go from which grid to which.

The "after" grid of a row is found with exactly the rule publishing applies
(:mod:`layers.spatial.assign`): the row's location (``wangge_assign_point``) covered by a
non-micro grid of the draft's resulting set, the smallest code winning on a shared edge — with
the codes new grids would get if the plan were published now. Rows looked at: those filed under
a replaced grid, and those whose geometry touches a new part. Households and persons are
counted through their buildings (以房管人), persons only while active; open incidents are
those not closed (销号) — the definitions of :mod:`layers.counts`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.access import Principal
from layers.grids import sizing
from layers.grids.plans import (
    DRAFT_SET_SQL,
    FinalPart,
    consumed_sources,
    final_parts,
    load_plan,
    stale_sources,
)

LAYERS = ("buildings", "households", "persons", "places", "open_incidents")

# Candidate rows of one table and their grid before and after. {table} is one of buildings,
# places, incidents (constants below); values are bound.
_MOVES_SQL = """
WITH draft AS (
    SELECT d.key, coalesce(d.code, m.code) AS final_code, d.part_id, d.geom
    FROM ({draft}) AS d
    LEFT JOIN unnest(CAST(:new_keys AS varchar[]), CAST(:new_codes AS varchar[])) AS m(key, code)
           ON m.key = d.key
    WHERE d.kind <> 'micro'
), parts AS (
    SELECT * FROM draft WHERE part_id IS NOT NULL
), cand AS (
    SELECT r.id, r.grid_id AS before_id, wangge_assign_point(r.geom) AS pt
    FROM {table} AS r
    WHERE r.grid_id = ANY(CAST(:before_ids AS integer[])) {extra}
    UNION
    SELECT r.id, r.grid_id, wangge_assign_point(r.geom)
    FROM parts AS p JOIN {table} AS r ON ST_Intersects(r.geom, p.geom)
    WHERE TRUE {extra}
), moved AS (
    SELECT c.id, b.code AS before_code,
           (SELECT d.final_code FROM draft AS d
            WHERE d.geom && c.pt AND ST_Covers(d.geom, c.pt)
            ORDER BY d.final_code LIMIT 1) AS after_code
    FROM cand AS c LEFT JOIN grids AS b ON b.id = c.before_id
)
"""

_ROW_MOVES = """
SELECT before_code, after_code, count(*) AS n, 0 AS households, 0 AS persons
FROM moved GROUP BY before_code, after_code
"""

_BUILDING_MOVES = """
, people AS (
    SELECT h.building_id, count(DISTINCT hh.id) AS households,
           count(p.id) FILTER (WHERE p.is_active) AS persons
    FROM houses AS h
    JOIN households AS hh ON hh.house_id = h.id
    LEFT JOIN persons AS p ON p.household_id = hh.id
    WHERE h.building_id IN (SELECT id FROM moved)
    GROUP BY h.building_id
)
SELECT m.before_code, m.after_code, count(*) AS n,
       coalesce(sum(pe.households), 0) AS households, coalesce(sum(pe.persons), 0) AS persons
FROM moved AS m LEFT JOIN people AS pe ON pe.building_id = m.id
GROUP BY m.before_code, m.after_code
"""

_OPEN_INCIDENT = "AND r.status <> 'closed'"


@dataclass
class Counts:
    """What a grid holds."""

    buildings: int = 0
    households: int = 0
    persons: int = 0
    places: int = 0
    open_incidents: int = 0

    def add(self, layer: str, n: int) -> None:
        """Add ``n`` to one layer's count."""
        setattr(self, layer, getattr(self, layer) + n)


@dataclass
class GridDiff:
    """One grid before and after the plan.

    ``change``: ``reshaped`` (code kept, new version), ``created`` (new code) or ``retired``.
    ``code`` of a created grid is provisional: what a publish now would issue.
    """

    code: str
    key: str
    change: str
    name: str
    sizing_type: str | None
    version_before: int | None
    before: Counts | None
    after: Counts | None
    target: sizing.Target | None
    deviation: sizing.Deviation | None


@dataclass(frozen=True, slots=True)
class Move:
    """Rows of one layer moving from one grid to another (None: no grid)."""

    layer: str
    from_code: str | None
    to_code: str | None
    count: int


@dataclass
class PlanDiff:
    """The whole diff of a plan."""

    plan_id: int
    status: str
    grids: list[GridDiff] = field(default_factory=list)
    moves: list[Move] = field(default_factory=list)
    codes_created: list[str] = field(default_factory=list)
    codes_retired: list[str] = field(default_factory=list)
    codes_kept: list[str] = field(default_factory=list)
    stale: list[dict[str, Any]] = field(default_factory=list)


def _moves(
    session: Session, params: dict[str, Any], table: str, extra: str, query: str
) -> list[Any]:
    statement = _MOVES_SQL.format(draft=DRAFT_SET_SQL, table=table, extra=extra) + query
    return list(session.execute(text(statement), params))


def plan_diff(session: Session, *, principal: Principal, plan_id: int) -> PlanDiff:
    """Per grid before/after counts, moves, codes and sizing of a draft plan."""
    ctx = load_plan(session, principal=principal, plan_id=plan_id)
    if ctx.plan.status != "draft":
        return PlanDiff(plan_id=plan_id, status=ctx.plan.status)
    sources = consumed_sources(session, plan_id)
    stale, current = stale_sources(session, sources)
    parts: list[FinalPart] = final_parts(session, ctx)
    new_parts = [p for p in parts if p.is_new_code]
    before_ids = [current[c].id for c, _ in sources if c in current]
    params = {
        **ctx.draft_params,
        "new_keys": [p.key for p in new_parts],
        "new_codes": [p.code for p in new_parts],
        "before_ids": before_ids,
    }

    moves: list[Move] = []
    for before, after, n, households, persons in _moves(
        session, params, "buildings", "", _BUILDING_MOVES
    ):
        moves.append(Move("buildings", before, after, int(n)))
        moves.append(Move("households", before, after, int(households)))
        moves.append(Move("persons", before, after, int(persons)))
    for before, after, n, _, _ in _moves(session, params, "places", "", _ROW_MOVES):
        moves.append(Move("places", before, after, int(n)))
    for before, after, n, _, _ in _moves(session, params, "incidents", _OPEN_INCIDENT, _ROW_MOVES):
        moves.append(Move("open_incidents", before, after, int(n)))

    before_rows = {
        r.code: r
        for r in session.execute(
            text(
                "SELECT id, code, version, name, sizing_type FROM grids "
                "WHERE id = ANY(CAST(:ids AS integer[]))"
            ),
            {"ids": before_ids},
        )
    }
    after_rows = {p.code: p for p in parts}
    part_types: dict[int, str] = dict(
        session.execute(
            text(
                "SELECT id, sizing_type FROM grid_plan_parts "
                "WHERE id = ANY(CAST(:ids AS integer[]))"
            ),
            {"ids": [p.part_id for p in parts]},
        ).all()
    )
    targets = sizing.targets(session)
    before_counts = {code: Counts() for code in before_rows}
    after_counts = {code: Counts() for code in after_rows}
    for move in moves:
        if move.from_code in before_counts:
            before_counts[move.from_code].add(move.layer, move.count)
        if move.to_code in after_counts:
            after_counts[move.to_code].add(move.layer, move.count)

    grids: list[GridDiff] = []
    kept = sorted(code for code in after_rows if code in before_rows)
    for code in sorted(set(before_rows) | set(after_rows)):
        b = before_rows.get(code)
        a = after_rows.get(code)
        sizing_type = part_types[a.part_id] if a is not None else b.sizing_type if b else None
        target = targets.get(sizing_type) if sizing_type else None
        counts_after = after_counts.get(code)
        grids.append(
            GridDiff(
                code=code,
                key=a.key if a is not None else code,
                change="reshaped" if a and b else "created" if a else "retired",
                name=a.name if a is not None else b.name if b is not None else "",
                sizing_type=sizing_type,
                version_before=b.version if b is not None else None,
                before=before_counts.get(code),
                after=counts_after,
                target=target,
                deviation=(
                    sizing.deviation(counts_after.households, target)
                    if target is not None and counts_after is not None
                    else None
                ),
            )
        )
    return PlanDiff(
        plan_id=plan_id,
        status=ctx.plan.status,
        grids=grids,
        moves=[m for m in moves if m.count and m.from_code != m.to_code],
        codes_created=sorted(p.code for p in new_parts),
        codes_retired=sorted(code for code, _ in sources if code not in after_rows),
        codes_kept=kept,
        stale=stale,
    )
