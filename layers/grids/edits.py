"""Reshape, create, retire and re-attribute grids in a draft plan, keeping the coverage whole.

**Reshape** gives a grid a new shape *G* (drawn by the planner, EPSG:4326):

1. *G* is clipped to the grid's community. If more than :data:`LEAK_TOLERANCE_M2` of it lay
   outside, the edit is refused (a grid never crosses its community's border).
2. *Taking*: every neighbour of the same level (basic/special, or micro-grids of the same parent)
   whose interior meets *G* loses that area (``ST_Difference``), so the shared boundary moves
   with the new shape.
3. *Releasing*: the part of the old shape outside *G* is cut into pieces; each piece goes to the
   neighbour (same community and level) that shares the longest border with it (``ST_Union``).
4. Refused, listing every conflict (409): a neighbour swallowed (less than
   :data:`MIN_REMAINING_M2` left), a neighbour cut into separate pieces, a released piece no
   neighbour borders (it would become a gap), the new shape not in one piece, or leaking out of
   the community. Pieces under :data:`RESIDUE_M2` are floating-point residue and ignored.

The grid keeps its code (a new version at publish); every neighbour that lost or gained area
gets a new version too, and all their versions are checked at publish.

**Create** is a reshape of nothing: a new grid (new code at publish) taking its area from the
neighbours it covers. **Retire** removes a grid; with ``absorb_into`` a bordering grid of the
same community takes its whole area, otherwise its area is left uncovered (validation reports
the gap). **Set attributes** changes name, kind, sizing type or the typed 四至 on a new version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.orm import Session

import shapely
from shapely.geometry.base import BaseGeometry

from layers.access import Principal
from layers.base import STORAGE_SRID
from layers.errors import Conflict, InvalidGeometry, InvalidInput
from layers.grids.plans import (
    DRAFT_SET_SQL,
    EditSummary,
    LiveGrid,
    NewPart,
    PlanContext,
    check_expected_versions,
    live_grids,
    open_draft,
    record_edit,
)
from layers.models.grids import GridKind, SizingType
from layers.models.plans import EditOp

#: Area (m²) of a new shape outside its community that is clipped silently; more is refused.
LEAK_TOLERANCE_M2 = 10.0
#: A neighbour left with less than this (m²) counts as swallowed.
MIN_REMAINING_M2 = 50.0
#: Pieces below this (m²) are floating-point residue of overlay, not territory.
RESIDUE_M2 = 0.01

_EMPTY = "ST_GeomFromText('MULTIPOLYGON EMPTY', 4326)"

# The new shape clipped to the community, with what leaked out.
_CLIP_SQL = """
WITH g AS (SELECT ST_GeomFromWKB(:shape, :srid) AS geom),
     c AS (SELECT geom FROM admin_units WHERE id = :community_id)
SELECT ST_AsEWKB(k.geom) AS clipped, ST_Area(k.geom::geography) AS area_m2,
       ST_NumGeometries(k.geom) AS polygons,
       ST_Area(ST_Difference(g.geom, c.geom)::geography) AS leak_m2
FROM g, c
CROSS JOIN LATERAL (
    SELECT ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_Intersection(g.geom, c.geom)), 3))
        AS geom
) AS k
"""

# Neighbours of the same community and level touching the old or new shape, with what is left
# of each after the new shape takes its area (pieces under the residue dropped).
_NEIGHBOURS_SQL = f"""
WITH g AS (SELECT ST_GeomFromEWKB(:clipped) AS geom),
     x AS (SELECT coalesce(ST_GeomFromEWKB(:old), {_EMPTY}) AS geom),
     near AS (
         SELECT d.key, d.geom, ST_Relate(d.geom, g.geom, 'T********') AS taken
         FROM ({DRAFT_SET_SQL}) AS d, g, x
         WHERE d.key <> :key AND d.community_id = :community_id
           AND (d.kind = 'micro') = :micro
           AND (NOT :micro OR d.parent_grid_code IS NOT DISTINCT FROM :parent)
           AND (ST_Intersects(d.geom, g.geom) OR ST_Intersects(d.geom, x.geom))
     )
SELECT n.key, n.taken,
       CASE WHEN n.taken
            THEN ST_Area(ST_Intersection(n.geom, g.geom)::geography) ELSE 0 END AS taken_m2,
       ST_AsEWKB(r.geom) AS rest, coalesce(ST_Area(r.geom::geography), 0) AS rest_m2,
       ST_NumGeometries(r.geom) AS rest_polygons
FROM near AS n, g
CROSS JOIN LATERAL (
    SELECT ST_Multi(ST_Collect(p.geom)) AS geom
    FROM ST_Dump(CASE WHEN n.taken
                      THEN ST_CollectionExtract(ST_Difference(n.geom, g.geom), 3)
                      ELSE n.geom END) AS p
    WHERE ST_Area(p.geom::geography) >= :residue
) AS r
ORDER BY n.key
"""  # noqa: S608 (constant SQL; values are bound)

# Pieces of the old shape released by the new one, each with the neighbour sharing the longest
# border with it (length in metres on the spheroid).
_RELEASED_SQL = f"""
WITH g AS (SELECT ST_GeomFromEWKB(:clipped) AS geom),
     x AS (SELECT coalesce(ST_GeomFromEWKB(:old), {_EMPTY}) AS geom),
     nb AS (
         SELECT t.key, ST_GeomFromEWKB(t.geom) AS geom
         FROM unnest(CAST(:keys AS varchar[]), CAST(:rests AS bytea[])) AS t(key, geom)
     ),
     pieces AS (
         SELECT p.geom FROM x, g,
                ST_Dump(ST_CollectionExtract(ST_Difference(x.geom, g.geom), 3)) AS p
         WHERE ST_Area(p.geom::geography) >= :residue
     )
SELECT ST_AsEWKB(p.geom) AS geom, ST_Area(p.geom::geography) AS area_m2,
       ST_X(ST_PointOnSurface(p.geom)) AS x, ST_Y(ST_PointOnSurface(p.geom)) AS y,
       best.key AS claimant
FROM pieces AS p
LEFT JOIN LATERAL (
    SELECT nb.key,
           ST_Length(ST_CollectionExtract(ST_Intersection(nb.geom, p.geom), 2)::geography)
               AS shared_m
    FROM nb WHERE ST_Intersects(nb.geom, p.geom)
    ORDER BY 2 DESC, nb.key LIMIT 1
) AS best ON best.shared_m > 0
"""  # noqa: S608 (constant SQL; values are bound)

# The union of geometries per key (a neighbour's rest plus the pieces it receives).
_UNION_SQL = """
SELECT t.key, ST_AsEWKB(ST_Multi(ST_CollectionExtract(ST_UnaryUnion(ST_Collect(
           ST_GeomFromEWKB(t.geom))), 3))) AS geom
FROM unnest(CAST(:keys AS varchar[]), CAST(:geoms AS bytea[])) AS t(key, geom)
GROUP BY t.key
"""


@dataclass(frozen=True, slots=True)
class Adjusted:
    """The outcome of fitting a new shape among its neighbours."""

    shape: bytes
    neighbours: list[tuple[LiveGrid, bytes]]


def _conflict(conflicts: list[dict[str, Any]]) -> Conflict:
    return Conflict(
        "The new shape conflicts with its surroundings: "
        + "; ".join(c["message_en"] for c in conflicts),
        "新形状与周边网格冲突：" + "；".join(c["message_zh"] for c in conflicts),
        field="geometry",
        extra={"conflicts": conflicts},
    )


def _clip(
    session: Session, shape: BaseGeometry, community_id: int, conflicts: list[dict[str, Any]]
) -> bytes:
    """The new shape clipped to the community (EWKB); leaks and multi-part shapes conflict."""
    row = session.execute(
        text(_CLIP_SQL),
        {"shape": shapely.to_wkb(shape), "srid": STORAGE_SRID, "community_id": community_id},
    ).one()
    if row.area_m2 < MIN_REMAINING_M2:
        raise InvalidGeometry(
            "The shape lies outside the grid's community",
            "该形状不在网格所属社区范围内",
            field="geometry",
        )
    if row.leak_m2 > LEAK_TOLERANCE_M2:
        conflicts.append(
            {
                "kind": "leak",
                "grid": None,
                "area_m2": round(row.leak_m2, 1),
                "message_en": f"{row.leak_m2:.1f} m² of the shape lie outside the community",
                "message_zh": f"形状有 {row.leak_m2:.1f} 平方米超出社区边界",
            }
        )
    if row.polygons > 1:
        conflicts.append(
            {
                "kind": "multipart",
                "grid": None,
                "message_en": f"inside the community the shape falls into {row.polygons} pieces",
                "message_zh": f"形状在社区范围内分成了 {row.polygons} 块",
            }
        )
    return bytes(row.clipped)


def fit_among_neighbours(
    session: Session,
    ctx: PlanContext,
    *,
    shape: BaseGeometry,
    key: str,
    old: LiveGrid | None,
    community_id: int,
    micro: bool,
    parent_grid_code: str | None,
) -> Adjusted:
    """Clip ``shape`` to the community, take its area from neighbours, hand out what ``old``
    releases; Conflict listing everything that prevents it (see the module docstring)."""
    conflicts: list[dict[str, Any]] = []
    clipped = _clip(session, shape, community_id, conflicts)
    params = {
        **ctx.draft_params,
        "clipped": clipped,
        "old": old.geom if old is not None else None,
        "key": key,
        "community_id": community_id,
        "micro": micro,
        "parent": parent_grid_code,
        "residue": RESIDUE_M2,
    }
    near = session.execute(text(_NEIGHBOURS_SQL), params).all()
    for n in near:
        if n.taken and n.rest_m2 < MIN_REMAINING_M2:
            conflicts.append(
                {
                    "kind": "swallows",
                    "grid": n.key,
                    "area_m2": round(n.taken_m2, 1),
                    "message_en": f"it swallows grid {n.key} whole",
                    "message_zh": f"吞并了整个网格 {n.key}",
                }
            )
        elif n.taken and n.rest_polygons > 1:
            conflicts.append(
                {
                    "kind": "cuts",
                    "grid": n.key,
                    "area_m2": round(n.taken_m2, 1),
                    "message_en": f"it cuts grid {n.key} into {n.rest_polygons} pieces",
                    "message_zh": f"把网格 {n.key} 切成了 {n.rest_polygons} 块",
                }
            )
    rests = {n.key: bytes(n.rest) for n in near if n.rest is not None}
    released: Sequence[Row[Any]] = []
    if old is not None:
        released = session.execute(
            text(_RELEASED_SQL),
            {**params, "keys": list(rests), "rests": list(rests.values())},
        ).all()
    for piece in released:
        if piece.claimant is None:
            conflicts.append(
                {
                    "kind": "gap",
                    "grid": None,
                    "area_m2": round(piece.area_m2, 1),
                    "location": [round(piece.x, 7), round(piece.y, 7)],
                    "message_en": f"{piece.area_m2:.1f} m² it gives up near "
                    f"{piece.x:.6f},{piece.y:.6f} border no other grid and would be left "
                    "uncovered",
                    "message_zh": f"让出的 {piece.area_m2:.1f} 平方米（{piece.x:.6f},{piece.y:.6f} "
                    "附近）不与任何其他网格相邻，将成为空白区域",
                }
            )
    if conflicts:
        raise _conflict(conflicts)

    taken = {n.key for n in near if n.taken}
    gains: dict[str, list[bytes]] = {}
    for piece in released:
        gains.setdefault(piece.claimant, []).append(bytes(piece.geom))
    changed = sorted(taken | set(gains))
    if not changed:
        return Adjusted(clipped, [])
    keys = [k for k in changed for _ in range(1 + len(gains.get(k, [])))]
    geoms = [g for k in changed for g in [rests[k], *gains.get(k, [])]]
    merged: dict[str, bytes] = {
        r.key: bytes(r.geom)
        for r in session.execute(text(_UNION_SQL), {"keys": keys, "geoms": geoms})
    }
    grids = live_grids(session, ctx, changed)
    return Adjusted(clipped, [(grids[k], bytes(merged[k])) for k in changed])


def _same(grid: LiveGrid, geom: bytes, **changes: Any) -> NewPart:
    """A part keeping ``grid``'s key and attributes, with a new geometry and ``changes``."""
    values: dict[str, Any] = {
        "key": grid.key,
        "name": grid.name,
        "kind": grid.kind,
        "sizing_type": grid.sizing_type,
        "community_id": grid.community_id,
        "parent_grid_code": grid.parent_grid_code,
        # a 四至 typed earlier in this draft stays; a published grid's stored text is
        # regenerated at publish (or carried, when its boundary does not change)
        "sizhi": None if grid.is_current_grid else grid.sizhi,
        "geom": geom,
    }
    values.update(changes)
    return NewPart(**values)


def reshape_grid(
    session: Session,
    *,
    principal: Principal,
    plan_id: int,
    key: str,
    shape: BaseGeometry,
    expected_versions: Mapping[str, int] | None = None,
) -> EditSummary:
    """Add to a draft the new shape of grid ``key`` with its neighbours adjusted.

    Parameters
    ----------
    shape
        The new (Multi)Polygon in storage CRS (EPSG:4326), as returned by ``parse_geometry``.
    expected_versions
        Versions the planner saw, by grid code (the grid and any neighbour); a newer current
        version is a Conflict.

    Raises
    ------
    Conflict
        The shape cannot be fitted (``extra["conflicts"]`` lists why) or a version is stale.
    InvalidGeometry
        The shape lies outside the community, or does not overlap the grid.
    """
    ctx = open_draft(session, principal=principal, plan_id=plan_id)
    grid = live_grids(session, ctx, [key], field_name="key")[key]
    check_expected_versions({key: grid}, expected_versions, field_name="expected_versions")
    overlaps = session.execute(
        text("SELECT ST_Relate(ST_GeomFromEWKB(:a), ST_GeomFromWKB(:b, :srid), 'T********')"),
        {"a": grid.geom, "b": shapely.to_wkb(shape), "srid": STORAGE_SRID},
    ).scalar_one()
    if not overlaps:
        raise InvalidGeometry(
            f"The new shape does not overlap grid {key}; draw it over the grid's area",
            f"新形状与网格 {key} 没有重叠，请在该网格范围内绘制",
            field="geometry",
        )
    fitted = fit_among_neighbours(
        session,
        ctx,
        shape=shape,
        key=key,
        old=grid,
        community_id=grid.community_id,
        micro=grid.kind == GridKind.micro,
        parent_grid_code=grid.parent_grid_code,
    )
    check_expected_versions(
        {g.key: g for g, _ in fitted.neighbours}, expected_versions, field_name="expected_versions"
    )
    parts = [_same(grid, fitted.shape)] + [_same(n, g) for n, g in fitted.neighbours]
    return record_edit(
        session,
        ctx,
        op=EditOp.reshape,
        sources=[grid] + [n for n, _ in fitted.neighbours],
        parts=parts,
        params={"key": key, "shape": shapely.geometry.mapping(shape)},
    )


def check_attributes(kind: str, sizing_type: str, parent_grid_code: str | None) -> None:
    """InvalidInput for an unknown kind or sizing type, or a micro-grid without parent."""
    if kind not in GridKind.__members__:
        raise InvalidInput(
            f"kind must be one of {', '.join(GridKind)}",
            f"kind 应为 {'、'.join(GridKind)} 之一",
            field="kind",
        )
    if sizing_type not in SizingType.__members__:
        raise InvalidInput(
            f"sizing_type must be one of {', '.join(SizingType)}",
            f"sizing_type 应为 {'、'.join(SizingType)} 之一",
            field="sizing_type",
        )
    if kind == GridKind.micro and not parent_grid_code:
        raise InvalidInput(
            "A micro-grid needs parent_grid_code",
            "微网格需要指定上级网格编码",
            field="parent_grid_code",
        )


def _community_of(session: Session, ctx: PlanContext, shape: BaseGeometry) -> int:
    """The community of the plan's area holding most of ``shape``."""
    community = session.execute(
        text(
            """
SELECT a.id FROM admin_units AS a
WHERE a.level = 'community' AND starts_with(a.code, :prefix)
  AND ST_Intersects(a.geom, ST_GeomFromWKB(:shape, :srid))
ORDER BY ST_Area(ST_Intersection(a.geom, ST_GeomFromWKB(:shape, :srid))) DESC, a.code
LIMIT 1
"""
        ),
        {"prefix": ctx.prefix, "shape": shapely.to_wkb(shape), "srid": STORAGE_SRID},
    ).scalar_one_or_none()
    if community is None:
        raise InvalidGeometry(
            "The shape lies outside every community of the plan's area",
            "该形状不在方案范围内的任何社区中",
            field="geometry",
        )
    return int(community)


def create_grid(
    session: Session,
    *,
    principal: Principal,
    plan_id: int,
    shape: BaseGeometry,
    name: str,
    kind: str = "basic",
    sizing_type: str = "scattered",
    parent_grid_code: str | None = None,
    expected_versions: Mapping[str, int] | None = None,
) -> EditSummary:
    """Add a new grid to a draft, taking its area from the grids it covers (new code at publish).

    The community is the one of the plan's area holding most of the shape; the shape is clipped
    to it. Conflicts as for a reshape (a neighbour swallowed or cut in pieces, a leak).
    """
    check_attributes(kind, sizing_type, parent_grid_code)
    if not name.strip():
        raise InvalidInput("The new grid needs a name", "新网格需要名称", field="name")
    ctx = open_draft(session, principal=principal, plan_id=plan_id)
    community_id = _community_of(session, ctx, shape)
    fitted = fit_among_neighbours(
        session,
        ctx,
        shape=shape,
        key="",
        old=None,
        community_id=community_id,
        micro=kind == GridKind.micro,
        parent_grid_code=parent_grid_code,
    )
    check_expected_versions(
        {g.key: g for g, _ in fitted.neighbours}, expected_versions, field_name="expected_versions"
    )
    parts = [
        NewPart(
            key=None,
            name=name.strip(),
            kind=kind,
            sizing_type=sizing_type,
            community_id=community_id,
            parent_grid_code=parent_grid_code,
            geom=fitted.shape,
        ),
        *(_same(n, g) for n, g in fitted.neighbours),
    ]
    return record_edit(
        session,
        ctx,
        op=EditOp.create,
        sources=[n for n, _ in fitted.neighbours],
        parts=parts,
        params={"name": name.strip(), "shape": shapely.geometry.mapping(shape)},
    )


def retire_grid(
    session: Session,
    *,
    principal: Principal,
    plan_id: int,
    key: str,
    absorb_into: str | None = None,
    expected_versions: Mapping[str, int] | None = None,
) -> EditSummary:
    """Add the retirement of grid ``key`` to a draft; ``absorb_into`` takes over its area.

    Raises
    ------
    InvalidInput
        ``absorb_into`` is the grid itself, of another community or level, or shares no border.
    """
    ctx = open_draft(session, principal=principal, plan_id=plan_id)
    keys = [key] if absorb_into is None else [key, absorb_into]
    grids = live_grids(session, ctx, keys, field_name="key")
    check_expected_versions(grids, expected_versions, field_name="expected_versions")
    grid = grids[key]
    if absorb_into is None:
        return record_edit(
            session, ctx, op=EditOp.retire, sources=[grid], parts=[], params={"key": key}
        )
    if absorb_into == key:
        raise InvalidInput("A grid cannot absorb itself", "网格不能并入自身", field="absorb_into")
    heir = grids[absorb_into]
    if heir.community_id != grid.community_id or (heir.kind == "micro") != (grid.kind == "micro"):
        raise InvalidInput(
            f"Grid {absorb_into} is of another community or level than {key}",
            f"网格 {absorb_into} 与 {key} 不属于同一社区或同一层级",
            field="absorb_into",
        )
    row = session.execute(
        text(
            """
SELECT ST_Length(ST_CollectionExtract(ST_Intersection(a.g, b.g), 2)::geography) AS shared_m,
       ST_AsEWKB(ST_Multi(ST_CollectionExtract(ST_UnaryUnion(ST_Collect(a.g, b.g)), 3))) AS geom
FROM (SELECT ST_GeomFromEWKB(:a) AS g) AS a, (SELECT ST_GeomFromEWKB(:b) AS g) AS b
"""
        ),
        {"a": grid.geom, "b": heir.geom},
    ).one()
    if row.shared_m <= 0:
        raise InvalidInput(
            f"Grid {absorb_into} shares no border with {key}",
            f"网格 {absorb_into} 与 {key} 不相邻",
            field="absorb_into",
        )
    return record_edit(
        session,
        ctx,
        op=EditOp.retire,
        sources=[grid, heir],
        parts=[_same(heir, bytes(row.geom))],
        params={"key": key, "absorb_into": absorb_into},
    )


def set_attributes(
    session: Session,
    *,
    principal: Principal,
    plan_id: int,
    key: str,
    name: str | None = None,
    kind: str | None = None,
    sizing_type: str | None = None,
    parent_grid_code: str | None = None,
    sizhi: str | None = None,
    expected_version: int | None = None,
) -> EditSummary:
    """Add a change of name, kind, sizing type, parent or typed 四至 of grid ``key``."""
    ctx = open_draft(session, principal=principal, plan_id=plan_id)
    grid = live_grids(session, ctx, [key], field_name="key")[key]
    check_expected_versions(
        {key: grid},
        None if expected_version is None else {key: expected_version},
        field_name="expected_version",
    )
    changes: dict[str, Any] = {
        k: v
        for k, v in {
            "name": name.strip() if name is not None else None,
            "kind": kind,
            "sizing_type": sizing_type,
            "parent_grid_code": parent_grid_code,
            "sizhi": sizhi.strip() if sizhi is not None else None,
        }.items()
        if v is not None
    }
    if not changes:
        raise InvalidInput("Nothing to change", "没有需要修改的属性", field="attributes")
    if changes.get("name") == "" or changes.get("sizhi") == "":
        raise InvalidInput("Name and 四至 cannot be blank", "名称和四至不能为空", field="name")
    part = _same(grid, grid.geom, **changes)
    check_attributes(part.kind, part.sizing_type, part.parent_grid_code)
    return record_edit(
        session,
        ctx,
        op=EditOp.set_attributes,
        sources=[grid],
        parts=[part],
        params={"key": key, **changes},
    )
