"""Repair of a grid coverage, previewed first, applied as new grid versions.

What the repair does, to the current basic and special grids of a community (or of every
community of a street), in this order:

1. **clip leaks**: every grid is cut to its community (``ST_Intersection``);
2. **make shared edges identical and give slivers away** (``shapely.coverage_clean``, GEOS
   3.14, on the set fetched as WKB): the linework is noded with a snapping distance of 1 cm (the
   precision storage keeps), so T-junctions get the missing vertex and near-coincident edges
   become sliver faces; every overlap face goes to the neighbour with the longest shared border,
   and enclosed gaps narrower than the tolerance are merged into the neighbour with the longest
   shared border;
3. **keep real overlaps**: an overlap at least ``tolerance_m`` wide is a planning conflict, not a
   drawing error, so it is given back to both grids (a planner decides; validation still
   reports it);
4. **clip again and close border slivers** (PostGIS): snapping may move a vertex by up to the
   tolerance, so the grids are cut to the community again; gaps narrower than the tolerance
   between a grid and the community border (which coverage cleaning does not see as gaps) go to
   the grid with the longest shared border.

The tolerance is metres; GEOS works in the storage coordinates (degrees), so it gets
``tolerance_m / 111 320`` — never more than the tolerance in any direction. The result is then
**verified with the validator** (:func:`layers.grids.coverage.validate_coverage` on the proposed
set): no slivers and no leaks may remain, and no overlap or gap error may be new. Only grids
whose geometry changed (vertex by vertex) are part of the plan.

:func:`apply_repair` runs in the caller's one transaction: it locks the current versions, refuses
with ``Conflict`` when any differs from what the preview saw, recomputes the plan, and for each
changed grid closes the current version (``valid_to = now()``), inserts version + 1 with the same
code (``valid_from = now()``) and a ``grid_lineage`` row with relation ``repair`` — never an
overwrite — then re-files buildings, places and incidents through
``layers.spatial.assign.reassign_after_grid_change``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import column, select, table, text
from sqlalchemy.orm import Session

import shapely

from layers.access import Principal
from layers.audit import record
from layers.errors import Conflict, Forbidden, InvalidInput
from layers.grids.coverage import (
    DEFAULT_TOLERANCE_M,
    METRES_PER_DEGREE,
    RESIDUE_M2,
    CoverageReport,
    ParentArea,
    check_tolerance,
    resolve_parent,
    validate_coverage,
    without_jit,
)
from layers.models.grids import GridKind

MERGE_STRATEGY = "longest_border"
# Vertices and crossings closer than this (metres) are snapped together: the precision storage
# keeps. Wider misalignments become sliver faces, which are merged whole (a snapping distance
# as large as the tolerance would move single vertices and leave tent-shaped edges instead).
SNAP_M = 0.01

_REPAIR = table("wangge_repair", column("id"), column("code"), column("new_geom"))

_DROP = text("DROP TABLE IF EXISTS pg_temp.wangge_repair")

_CREATE = text(
    "CREATE TEMP TABLE wangge_repair (id integer, code text, version integer, name text, "
    "community_key text, community_geom geometry, old_geom geometry, clipped geometry, "
    "new_geom geometry) ON COMMIT DROP"
)

_LOAD = text(
    """
    INSERT INTO wangge_repair
        (id, code, version, name, community_key, community_geom, old_geom, clipped)
    SELECT g.id, g.code, g.version, g.name, a.code, a.geom, g.geom,
           ST_Multi(ST_CollectionExtract(ST_Intersection(g.geom, a.geom), 3))
    FROM grids AS g JOIN admin_units AS a ON a.id = g.community_id
    WHERE g.valid_to IS NULL AND g.kind <> :micro
      AND g.community_id = ANY(CAST(:community_ids AS integer[]))
    """
)

_CLIPPED_WKB = text(
    "SELECT id, code, ST_AsBinary(clipped) AS wkb FROM wangge_repair ORDER BY code, id"
)

_SET_CLEANED = text(
    """
    UPDATE wangge_repair AS r
    SET new_geom = ST_Multi(ST_CollectionExtract(ST_SetSRID(ST_GeomFromWKB(c.wkb), 4326), 3))
    FROM unnest(CAST(:ids AS integer[]), CAST(:wkbs AS bytea[])) AS c(id, wkb)
    WHERE r.id = c.id
    """
)

# Overlaps at least tolerance_m wide (the validator's width: inscribed circle in the UTM zone,
# at least 2·area/perimeter) go back to both grids.
_RESTORE_REAL_OVERLAPS = text(
    """
    WITH pairs AS (
        SELECT a.id AS a_id, b.id AS b_id,
               (ST_Dump(ST_CollectionExtract(ST_Intersection(a.clipped, b.clipped), 3))).geom
                   AS piece
        FROM wangge_repair AS a JOIN wangge_repair AS b
          ON (a.code, a.id) < (b.code, b.id) AND a.clipped && b.clipped
         AND ST_Relate(a.clipped, b.clipped, '2********')
    ),
    measured AS (
        SELECT a_id, b_id, piece, ST_Area(piece::geography) AS area_m2 FROM pairs
    ),
    real_overlaps AS (
        SELECT a_id, b_id, piece FROM measured
        CROSS JOIN LATERAL (SELECT ST_Centroid(piece) AS c) AS centre
        CROSS JOIN LATERAL (
            SELECT CASE WHEN ST_Y(centre.c) >= 0 THEN 32600 ELSE 32700 END
                   + LEAST(60, GREATEST(1, floor((ST_X(centre.c) + 180) / 6)::integer + 1))
                   AS srid
        ) AS utm
        WHERE area_m2 >= :residue
          AND GREATEST(
                2 * (ST_MaximumInscribedCircle(ST_Transform(piece, utm.srid))).radius,
                2 * area_m2 / NULLIF(ST_Perimeter(piece::geography), 0)
              ) >= :tolerance
    ),
    restore AS (
        SELECT id, ST_Union(piece) AS pieces FROM (
            SELECT a_id AS id, piece FROM real_overlaps
            UNION ALL SELECT b_id, piece FROM real_overlaps
        ) AS both_sides
        GROUP BY id
    )
    UPDATE wangge_repair AS r
    SET new_geom = ST_Multi(ST_CollectionExtract(ST_Union(r.new_geom, x.pieces), 3))
    FROM restore AS x WHERE x.id = r.id
    """
)

_CLIP_AGAIN = text(
    """
    UPDATE wangge_repair
    SET new_geom = ST_Multi(ST_CollectionExtract(ST_Intersection(new_geom, community_geom), 3))
    WHERE NOT ST_CoveredBy(new_geom, community_geom)
    """
)

# Gaps narrower than the tolerance left between the grids and the community border go to the
# grid sharing the longest border with them (ties: the smaller code).
_CLOSE_BORDER_SLIVERS = text(
    """
    WITH communities AS (
        SELECT c.community_key, a.geom, c.covered
        FROM (SELECT community_key, ST_Union(new_geom) AS covered
              FROM wangge_repair GROUP BY community_key) AS c
        JOIN admin_units AS a ON a.code = c.community_key
    ),
    gaps AS (
        SELECT community_key,
               (ST_Dump(ST_CollectionExtract(ST_Difference(geom, covered), 3))).geom AS piece
        FROM communities
    ),
    slivers AS (
        SELECT row_number() OVER () AS gap_id, community_key, piece
        FROM gaps
        CROSS JOIN LATERAL (SELECT ST_Centroid(piece) AS c) AS centre
        CROSS JOIN LATERAL (
            SELECT CASE WHEN ST_Y(centre.c) >= 0 THEN 32600 ELSE 32700 END
                   + LEAST(60, GREATEST(1, floor((ST_X(centre.c) + 180) / 6)::integer + 1))
                   AS srid
        ) AS utm
        WHERE ST_Area(piece::geography) >= :residue
          AND GREATEST(
                2 * (ST_MaximumInscribedCircle(ST_Transform(piece, utm.srid))).radius,
                2 * ST_Area(piece::geography) / NULLIF(ST_Perimeter(piece::geography), 0)
              ) < :tolerance
    ),
    best AS (
        SELECT DISTINCT ON (s.gap_id) s.gap_id, r.id, s.piece
        FROM slivers AS s
        JOIN wangge_repair AS r
          ON r.community_key = s.community_key AND r.new_geom && s.piece
         AND ST_Intersects(r.new_geom, s.piece)
        ORDER BY s.gap_id,
                 ST_Length(ST_CollectionExtract(
                     ST_Intersection(ST_Boundary(s.piece), r.new_geom), 2)::geography) DESC,
                 r.code
    ),
    added AS (SELECT id, ST_Union(piece) AS pieces FROM best GROUP BY id)
    UPDATE wangge_repair AS r
    SET new_geom = ST_Multi(ST_CollectionExtract(ST_Union(r.new_geom, a.pieces), 3))
    FROM added AS a WHERE a.id = r.id
    """
)

# Per changed grid: what would move. A building belongs to the grid covering its footprint's
# point-on-surface (the assignment rule), so gained/lost buildings are computed the same way.
_CHANGES = text(
    """
    SELECT r.id, r.code, r.version, r.name, r.community_key,
           ST_Area(r.old_geom::geography) AS area_before_m2,
           ST_Area(r.new_geom::geography) AS area_after_m2,
           ST_Area(ST_Difference(r.new_geom, r.old_geom)::geography) AS gained_m2,
           ST_Area(ST_Difference(r.old_geom, r.new_geom)::geography) AS lost_m2,
           ST_Area(ST_Difference(r.old_geom, r.community_geom)::geography) AS leak_m2,
           ST_NPoints(r.old_geom) AS vertices_before, ST_NPoints(r.new_geom) AS vertices_after,
           ARRAY(SELECT b.code FROM buildings AS b
                 CROSS JOIN LATERAL (SELECT ST_PointOnSurface(b.geom) AS pos) AS p
                 WHERE b.geom && r.new_geom AND ST_Covers(r.new_geom, p.pos)
                   AND NOT ST_Covers(r.old_geom, p.pos) ORDER BY b.code) AS buildings_gained,
           ARRAY(SELECT b.code FROM buildings AS b
                 CROSS JOIN LATERAL (SELECT ST_PointOnSurface(b.geom) AS pos) AS p
                 WHERE b.geom && r.old_geom AND ST_Covers(r.old_geom, p.pos)
                   AND NOT ST_Covers(r.new_geom, p.pos) ORDER BY b.code) AS buildings_lost,
           NOT ST_IsEmpty(r.new_geom) AS storable,
           ST_AsGeoJSON(ST_ForcePolygonCCW(r.new_geom), 7, 0)::json AS gj,
           ST_AsBinary(r.new_geom) AS wkb
    FROM wangge_repair AS r
    WHERE ST_AsBinary(ST_Normalize(r.new_geom)) IS DISTINCT FROM
          ST_AsBinary(ST_Normalize(r.old_geom))
    ORDER BY r.code
    """
)

_CURRENT_VERSIONS = text("SELECT code, version FROM wangge_repair ORDER BY code")


@dataclass(frozen=True, slots=True)
class GridChange:
    """What a repair would do to one grid. Areas in m² (geography); buildings by code."""

    grid_id: int
    code: str
    version: int
    name: str
    community_code: str
    area_before_m2: float
    area_after_m2: float
    area_gained_m2: float
    area_lost_m2: float
    leak_clipped_m2: float
    vertices_before: int
    vertices_after: int
    buildings_gained: list[str]
    buildings_lost: list[str]
    geometry: dict[str, Any]
    wkb: bytes = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view (the new geometry as GeoJSON, no WKB)."""
        return {
            "grid_id": self.grid_id,
            "code": self.code,
            "version": self.version,
            "new_version": self.version + 1,
            "name": self.name,
            "community_code": self.community_code,
            "area_before_m2": round(self.area_before_m2, 2),
            "area_after_m2": round(self.area_after_m2, 2),
            "area_gained_m2": round(self.area_gained_m2, 2),
            "area_lost_m2": round(self.area_lost_m2, 2),
            "leak_clipped_m2": round(self.leak_clipped_m2, 2),
            "vertices_before": self.vertices_before,
            "vertices_after": self.vertices_after,
            "buildings_gained": self.buildings_gained,
            "buildings_lost": self.buildings_lost,
        }


@dataclass(frozen=True, slots=True)
class RepairPlan:
    """The preview of a repair: changed grids, and the validation before and after."""

    parent_code: str
    parent_name: str
    tolerance_m: float
    expected_versions: dict[str, int]
    changes: list[GridChange]
    before: CoverageReport
    after: CoverageReport
    verified: bool
    refusal_en: str | None = None
    refusal_zh: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready preview; ``changes`` is a FeatureCollection of the repaired grids."""
        return {
            "parent": {"code": self.parent_code, "name": self.parent_name},
            "tolerance_m": self.tolerance_m,
            "expected_versions": self.expected_versions,
            "verified": self.verified,
            "refusal_en": self.refusal_en,
            "refusal_zh": self.refusal_zh,
            "grids": [c.to_dict() for c in self.changes],
            "changes": {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "id": c.grid_id,
                        "geometry": c.geometry,
                        "properties": c.to_dict(),
                    }
                    for c in self.changes
                ],
            },
            "before": self.before.to_summary(),
            "after": self.after.to_summary(),
            "remaining": self.after.to_geojson(),
        }


@dataclass(frozen=True, slots=True)
class RepairedGrid:
    """One grid version written by a repair."""

    code: str
    old_id: int
    old_version: int
    new_id: int
    new_version: int


@dataclass(frozen=True, slots=True)
class RepairResult:
    """What :func:`apply_repair` wrote."""

    parent_code: str
    repaired: list[RepairedGrid]
    reassigned: dict[str, int]
    after: CoverageReport

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready result."""
        return {
            "parent": {"code": self.parent_code},
            "repaired": [
                {
                    "code": g.code,
                    "old_id": g.old_id,
                    "old_version": g.old_version,
                    "new_id": g.new_id,
                    "new_version": g.new_version,
                }
                for g in self.repaired
            ],
            "reassigned": self.reassigned,
            "after": self.after.to_summary(),
        }


# --------------------------------------------------------------------------------------------
# Preview
# --------------------------------------------------------------------------------------------


def clean_coverage(
    geoms: Any,
    *,
    snapping_distance: float,
    gap_width: float,
    merge_strategy: str = MERGE_STRATEGY,
) -> Any:
    """Snap a polygon coverage and merge its overlaps and narrow gaps (GEOS CoverageCleaner).

    A thin wrapper of ``shapely.coverage_clean``, in the units of the coordinates: vertices
    closer than ``snapping_distance`` are snapped together, every overlap goes to the neighbour
    chosen by ``merge_strategy`` (Wangge uses ``longest_border``), and enclosed gaps narrower
    than ``gap_width`` to the neighbour with the longest shared border.
    """
    return shapely.coverage_clean(
        geoms,
        snapping_distance=snapping_distance,
        gap_width=gap_width,
        merge_strategy=merge_strategy,
    )


def preview_repair(
    session: Session, *, parent_code: str, tolerance_m: float = DEFAULT_TOLERANCE_M
) -> RepairPlan:
    """Compute what a repair of the parent's current grids would change (writes nothing).

    Parameters
    ----------
    parent_code
        12-digit community or street code (a street repairs the grids of all its communities).
    tolerance_m
        Metres: overlaps and gaps narrower than this are slivers, given to a neighbour.
    """
    tolerance = check_tolerance(tolerance_m)
    parent = resolve_parent(session, parent_code)
    before = validate_coverage(session, parent_code=parent.code, tolerance_m=tolerance)
    with without_jit(session):
        _propose(session, parent, tolerance)
        rows = session.execute(_CHANGES).all()
    versions = {row.code: row.version for row in session.execute(_CURRENT_VERSIONS)}
    changes = []
    for row in rows:
        if not row.storable:
            _refuse_empty(row.code)
        change = GridChange(
            grid_id=row.id,
            code=row.code,
            version=row.version,
            name=row.name,
            community_code=row.community_key,
            area_before_m2=float(row.area_before_m2),
            area_after_m2=float(row.area_after_m2),
            area_gained_m2=float(row.gained_m2),
            area_lost_m2=float(row.lost_m2),
            leak_clipped_m2=float(row.leak_m2),
            vertices_before=row.vertices_before,
            vertices_after=row.vertices_after,
            buildings_gained=list(row.buildings_gained),
            buildings_lost=list(row.buildings_lost),
            geometry=row.gj,
            wkb=bytes(row.wkb),
        )
        changes.append(change)
    proposed = select(_REPAIR.c.id, _REPAIR.c.code, _REPAIR.c.new_geom.label("geom"))
    after = validate_coverage(
        session, parent_code=parent.code, tolerance_m=tolerance, grids=proposed
    )
    session.execute(_DROP)
    refusal = _verify(before, after)
    return RepairPlan(
        parent_code=parent.code,
        parent_name=parent.name,
        tolerance_m=tolerance,
        expected_versions=versions,
        changes=changes,
        before=before,
        after=after,
        verified=refusal is None,
        refusal_en=refusal[0] if refusal else None,
        refusal_zh=refusal[1] if refusal else None,
    )


def preview_repair_in_area(
    session: Session,
    *,
    principal: Principal,
    parent_code: str,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
) -> RepairPlan:
    """:func:`preview_repair` for a user who edits grids, of a parent inside their area."""
    _require_editor(principal)
    check_tolerance(tolerance_m)
    resolve_parent(session, parent_code, principal=principal)
    return preview_repair(session, parent_code=parent_code, tolerance_m=tolerance_m)


def _require_editor(principal: Principal) -> None:
    if not principal.may_edit_grids():
        raise Forbidden(
            "Only planners, street admins and admins may repair grids",
            "仅网格规划员、街道管理员和系统管理员可以修复网格",
        )


def _refuse_empty(code: str) -> None:
    raise Conflict(
        f"Repair would leave grid {code} empty (it lies inside other grids): merge or retire it "
        "with the planning tools first",
        f"修复会使网格 {code} 变为空（它完全位于其他网格内）：请先用网格规划工具合并或撤销该网格",
        field="parent",
        extra={"codes": [code]},
    )


def _propose(session: Session, parent: ParentArea, tolerance: float) -> None:
    """Fill ``wangge_repair`` with each grid's old, clipped and proposed geometry."""
    session.execute(_DROP)
    session.execute(_CREATE)
    session.execute(_LOAD, {"micro": GridKind.micro.value, "community_ids": parent.community_ids})
    rows = session.execute(_CLIPPED_WKB).all()
    if not rows:
        return
    clipped = shapely.from_wkb([r.wkb for r in rows])
    cleaned = clean_coverage(
        clipped,
        snapping_distance=min(tolerance, SNAP_M) / METRES_PER_DEGREE,
        gap_width=tolerance / METRES_PER_DEGREE,
    )
    session.execute(
        _SET_CLEANED,
        {"ids": [r.id for r in rows], "wkbs": [shapely.to_wkb(g) for g in cleaned]},
    )
    params = {"tolerance": tolerance, "residue": RESIDUE_M2}
    session.execute(_RESTORE_REAL_OVERLAPS, params)
    session.execute(_CLIP_AGAIN)
    if tolerance > 0:
        session.execute(_CLOSE_BORDER_SLIVERS, params)


def _verify(before: CoverageReport, after: CoverageReport) -> tuple[str, str] | None:
    """Why the proposed set may not be written, or None when it is an improvement."""
    if after.count(severity="sliver"):
        return (
            f"{after.count(severity='sliver')} sliver(s) would remain after the repair",
            f"修复后仍会残留 {after.count(severity='sliver')} 处细小缝隙或重叠",
        )
    if after.count(kind="leak") or after.count(kind="invalid_geometry"):
        return (
            "The repaired grids would still leak out of their community",
            "修复后的网格仍会超出社区边界",
        )
    for kind, en, zh in (("overlap", "overlaps", "重叠"), ("gap", "gaps", "空白")):
        if after.count(kind=kind, severity="error") > before.count(kind=kind, severity="error"):
            return (
                f"The repair would create new {en}",
                f"修复会产生新的{zh}",
            )
    return None


# --------------------------------------------------------------------------------------------
# Apply
# --------------------------------------------------------------------------------------------

_LOCK = text(
    """
    SELECT id, code, version, valid_from > now() AS future, valid_from = now() AS just_written
    FROM grids
    WHERE valid_to IS NULL AND kind <> :micro
      AND community_id = ANY(CAST(:community_ids AS integer[]))
    ORDER BY code
    FOR UPDATE
    """
)

_CLOSE = text(
    """
    UPDATE grids SET valid_to = now()
    WHERE id = ANY(CAST(:ids AS integer[])) AND valid_to IS NULL
    RETURNING id
    """
)

_INSERT_VERSIONS = text(
    """
    INSERT INTO grids (code, version, name, kind, sizing_type, community_id, parent_grid_code,
                       sizhi, geom, valid_from, created_by)
    SELECT g.code, g.version + 1, g.name, g.kind, g.sizing_type, g.community_id,
           g.parent_grid_code, g.sizhi, ST_Multi(ST_SetSRID(ST_GeomFromWKB(n.wkb), 4326)),
           now(), :user_id
    FROM unnest(CAST(:ids AS integer[]), CAST(:wkbs AS bytea[])) AS n(id, wkb)
    JOIN grids AS g ON g.id = n.id
    ORDER BY g.code
    RETURNING id, code, version
    """
)

_LINEAGE = text(
    """
    INSERT INTO grid_lineage (grid_id, source_grid_id, relation)
    SELECT n.new_id, n.old_id, 'repair'
    FROM unnest(CAST(:new_ids AS integer[]), CAST(:old_ids AS integer[])) AS n(new_id, old_id)
    """
)


def apply_repair(
    session: Session,
    principal: Principal,
    *,
    parent_code: str,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    expected_versions: Mapping[str, int],
) -> RepairResult:
    """Write the repair previewed for ``expected_versions`` as new grid versions.

    Raises
    ------
    Forbidden
        The principal may not edit grids.
    NotFound
        The parent is unknown or outside the principal's area.
    Conflict
        A current grid's version differs from ``expected_versions`` (changed since the preview;
        ``extra["conflicts"]`` lists code, expected and current version), a grid has a version
        that takes effect in the future, or the repair cannot be verified. Nothing is written.
    """
    _require_editor(principal)
    tolerance = check_tolerance(tolerance_m)
    parent = resolve_parent(session, parent_code, principal=principal)
    if not isinstance(expected_versions, Mapping) or not expected_versions:
        raise InvalidInput(
            "expected_versions must map each grid code of the preview to its version",
            "expected_versions 应列出预览中每个网格编码及其版本号",
            field="expected_versions",
        )
    just_written = _check_versions(session, parent, expected_versions)
    plan = preview_repair(session, parent_code=parent.code, tolerance_m=tolerance)
    if not plan.verified:
        raise Conflict(
            f"The automatic repair cannot be applied: {plan.refusal_en}",
            f"无法自动修复：{plan.refusal_zh}",
            field="parent",
            extra={"after": plan.after.to_summary()},
        )
    if not plan.changes:
        return RepairResult(parent.code, [], {}, plan.after)
    again = sorted(just_written & {c.code for c in plan.changes})
    if again:
        # A version written earlier in this same transaction cannot be closed at now().
        raise Conflict(
            f"Grids {', '.join(again)} were changed earlier in this transaction: commit first",
            f"网格 {'、'.join(again)} 在本次事务中已被修改：请先提交",
            field="parent",
            extra={"codes": again},
        )

    old_ids = [c.grid_id for c in plan.changes]
    session.execute(_CLOSE, {"ids": old_ids})
    inserted = session.execute(
        _INSERT_VERSIONS,
        {"ids": old_ids, "wkbs": [c.wkb for c in plan.changes], "user_id": principal.user_id},
    ).all()
    new_by_code = {row.code: row for row in inserted}
    repaired = [
        RepairedGrid(
            code=c.code,
            old_id=c.grid_id,
            old_version=c.version,
            new_id=new_by_code[c.code].id,
            new_version=new_by_code[c.code].version,
        )
        for c in plan.changes
    ]
    session.execute(
        _LINEAGE,
        {"new_ids": [g.new_id for g in repaired], "old_ids": [g.old_id for g in repaired]},
    )
    record(
        session,
        action="repair",
        resource="grids",
        resource_ids=[g.new_id for g in repaired],
        principal=principal,
        detail={
            "parent": parent.code,
            "tolerance_m": tolerance,
            "codes": [g.code for g in repaired],
            "replaced_ids": old_ids,
        },
    )
    from layers.spatial.assign import reassign_after_grid_change

    reassigned = reassign_after_grid_change(
        session, changed_grid_ids=old_ids + [g.new_id for g in repaired]
    )
    return RepairResult(parent.code, repaired, dict(reassigned), plan.after)


def _check_versions(
    session: Session, parent: ParentArea, expected_versions: Mapping[str, int]
) -> set[str]:
    """Lock the current versions; Conflict when they are not the ones the preview saw.

    Returns the codes whose current version was written in this very transaction.
    """
    rows = session.execute(
        _LOCK, {"micro": GridKind.micro.value, "community_ids": parent.community_ids}
    ).all()
    current = {row.code: row.version for row in rows}
    conflicts = [
        {"code": code, "expected": expected_versions.get(code), "current": current.get(code)}
        for code in sorted(set(current) | set(expected_versions))
        if current.get(code) != expected_versions.get(code)
    ]
    if conflicts:
        codes = ", ".join(str(c["code"]) for c in conflicts[:10])
        raise Conflict(
            f"The grids changed since the preview ({codes}): preview the repair again",
            f"预览之后网格已被修改（{codes}）：请重新预览修复",
            field="expected_versions",
            extra={"conflicts": conflicts},
        )
    future = [row.code for row in rows if row.future]
    if future:
        raise Conflict(
            f"Grids {', '.join(future)} have a version that takes effect in the future: "
            "repair them after it takes effect",
            f"网格 {'、'.join(future)} 有尚未生效的新版本：请在其生效后再修复",
            field="parent",
            extra={"codes": future},
        )
    return {row.code for row in rows if row.just_written}
