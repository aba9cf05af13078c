"""Coverage validation: do the grids of a community cover it "不留空白、不得交叉重叠"?

:func:`validate_coverage` checks a set of grids against their parent area and returns a
:class:`CoverageReport`: a list of problems, each with a kind, a severity, the codes involved,
its size in metres, its geometry (GeoJSON, for a map overlay) and a message in English and
Chinese. The checks:

=================  ========  ==================================================================
kind               severity  what
=================  ========  ==================================================================
invalid_geometry   error     the grid's geometry is not valid (reason and location from
                             ``ST_IsValidDetail``), empty, or not polygonal; the other checks
                             use its ``ST_MakeValid`` repair
duplicate_code     error     two grids of the set carry the same code
outside_parent     error     (street) a grid whose code names no community of the street and
                             whose point-on-surface lies in none of them
overlap            error /   the interiors of two sibling grids intersect (``ST_Relate``
                   sliver    ``2********``); one problem per piece of the intersection
gap                error /   part of the parent covered by no grid: parent minus the union of
                   sliver    the grids, one problem per piece, of any width
leak               error /   part of a grid outside its parent: grid minus parent, per piece
                   sliver
unmatched_edge     warning   boundary of a grid that does not match its neighbour's vertices
                             (T-junctions, near-coincident edges), not explained by a reported
                             overlap or gap next to it
multipart          warning   a grid made of several separate parts
no_building        warning   a grid holding no building (no footprint point-on-surface in it)
straddling_        warning   a building whose footprint lies in two or more grids, each part
building                     at least ``STRADDLE_MIN_M2`` and ``STRADDLE_MIN_SHARE`` of it (a
                             building inside an overlap is not one: the overlap is reported)
=================  ========  ==================================================================

**Slivers.** An overlap, gap or leak whose *width* is under ``tolerance_m`` is a sliver — a
drawing inaccuracy rather than a planning conflict — and is reported with severity ``sliver``,
apart from the real conflicts (``error``); :mod:`layers.grids.repair` can fix slivers
automatically. The width is the diameter of the largest inscribed circle
(``ST_MaximumInscribedCircle`` in the piece's UTM zone, metres), never less than
``2·area/perimeter`` (exact for long thin slivers, where the inscribed-circle search is coarse).

**Residue.** Overlay operations on floating-point coordinates leave pieces of ~1e-6 m²
(PITFALLS.md). Pieces under ``RESIDUE_M2`` are dropped: storage keeps about 1 cm, so nothing
smaller is a drawn feature. Misalignments that small still show up as unmatched edges.

**Street parents.** For a street, each community's grids are validated against the community
(a grid belongs to the community its code starts with; failing that, the one holding its
point-on-surface) *and* the communities against the street (overlaps, gaps and leaks of the
communities themselves, ``level = "community"``). Overlaps between grids are found across
community borders too.

**Where the work happens.** Everything is set-based SQL in PostGIS on temporary tables with a
GiST index: overlaps by a self-join on ``&&`` + ``ST_Relate(a, b, '2********')`` with
``a.code < b.code``; gaps by ``ST_Difference(parent, ST_Union(grids))`` and leaks by
``ST_Difference(grid, parent)`` after ``ST_MakeValid`` guards; areas and lengths on
``geography``; parts by ``ST_NumGeometries``; buildings by ``ST_PointOnSurface`` (no building)
and ``ST_Intersects`` without ``ST_CoveredBy`` (straddling). The one exception: PostGIS 3.3
has no ``ST_CoverageInvalidEdges``, so the unmatched edges are computed by
``shapely.coverage_invalid_edges`` (GEOS 3.14) on the grid set fetched once as WKB, and the
result goes back to SQL to be measured and filtered.

The default grid set is the current (``valid_to IS NULL``) basic and special grids of the
parent; micro-grids subdivide a basic grid and are not part of the community's coverage. Pass
``grids=`` (any selectable with columns ``id``, ``code``, ``geom``) to validate another set,
e.g. the grids of a draft plan or of a file being imported.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Select, column, insert, select, table, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import SelectBase

import shapely

from layers.access import Principal
from layers.errors import InvalidInput, NotFound
from layers.models import AdminUnit, Grid
from layers.models.grids import GridKind

# Pieces of overlap, gap or leak smaller than this (m²) are floating-point residue of overlay.
RESIDUE_M2 = 0.01
# An unmatched edge within this distance (m) of a reported overlap or gap belongs to it.
EDGE_TOUCH_M = 0.01
# A building straddles grids when at least two of them each hold this much of its footprint.
STRADDLE_MIN_M2 = 1.0
STRADDLE_MIN_SHARE = 0.01
# Metres per degree of latitude: converts the tolerance for GEOS, which works in degrees here.
METRES_PER_DEGREE = 111_320.0
# Bounds of the sliver tolerance (metres).
MAX_TOLERANCE_M = 50.0
DEFAULT_TOLERANCE_M = 0.5
# GeoJSON coordinate precision (7 decimals of a degree ≈ 1 cm), as in layers.features.
GEOJSON_DECIMALS = 7

SEVERITIES = ("error", "sliver", "warning")
KINDS = (
    "invalid_geometry",
    "duplicate_code",
    "outside_parent",
    "overlap",
    "gap",
    "leak",
    "unmatched_edge",
    "multipart",
    "no_building",
    "straddling_building",
)

# GEOS validity reasons (ST_IsValidDetail / shapely) in Chinese.
REASON_ZH = {
    "Topology Validation Error": "拓扑错误",
    "Repeated Point": "重复顶点",
    "Self-intersection": "自相交",
    "Ring Self-intersection": "环自相交",
    "Too few points": "顶点过少",
    "Too few points in geometry component": "几何部件顶点过少",
    "Hole lies outside shell": "内环位于外环之外",
    "Holes are nested": "内环嵌套",
    "Nested holes": "内环嵌套",
    "Interior is disconnected": "内部不连通",
    "Nested shells": "外环嵌套",
    "Duplicate Rings": "重复的环",
    "Invalid Coordinate": "坐标无效",
    "Ring is not closed": "环未闭合",
    "Empty geometry": "几何图形为空",
    "Not polygonal": "不是面状几何图形",
    "Missing geometry": "缺少几何图形",
}

ProgressFn = Callable[[str], None]


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CoverageProblem:
    """One problem found by the validator.

    ``area_m2`` (overlaps, gaps, leaks, buildings), ``length_m`` (unmatched edges) and
    ``width_m`` (overlaps, gaps, leaks) are metres measured on the spheroid or in the piece's
    UTM zone; ``geometry`` is RFC 7946 GeoJSON (lon/lat, 7 decimals).
    """

    kind: str
    severity: str
    codes: tuple[str, ...]
    level: str
    parent_code: str
    geometry: dict[str, Any]
    message_en: str
    message_zh: str
    area_m2: float | None = None
    length_m: float | None = None
    width_m: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_feature(self, feature_id: int) -> dict[str, Any]:
        """This problem as a GeoJSON Feature (for a map overlay)."""
        return {
            "type": "Feature",
            "id": feature_id,
            "geometry": self.geometry,
            "properties": {
                "kind": self.kind,
                "severity": self.severity,
                "codes": list(self.codes),
                "level": self.level,
                "parent_code": self.parent_code,
                "area_m2": _round(self.area_m2),
                "length_m": _round(self.length_m),
                "width_m": _round(self.width_m, 3),
                "message_en": self.message_en,
                "message_zh": self.message_zh,
                "detail": self.detail,
            },
        }


@dataclass(frozen=True, slots=True)
class CoverageReport:
    """The result of validating the grids of one parent area (community or street)."""

    parent_code: str
    parent_name: str
    parent_level: str
    tolerance_m: float
    grid_count: int
    community_count: int
    problems: list[CoverageProblem]

    @property
    def valid(self) -> bool:
        """True when the coverage rule holds: no errors and no slivers (warnings allowed)."""
        return not any(p.severity in ("error", "sliver") for p in self.problems)

    @property
    def ok(self) -> bool:
        """Alias of :attr:`valid`."""
        return self.valid

    def count(self, *, kind: str | None = None, severity: str | None = None) -> int:
        """How many problems of a kind and/or severity were found."""
        return sum(
            1
            for p in self.problems
            if (kind is None or p.kind == kind) and (severity is None or p.severity == severity)
        )

    def to_summary(self) -> dict[str, Any]:
        """Counts and totals as a JSON-ready dict, with a one-line message in both languages."""
        by_severity = Counter(p.severity for p in self.problems)
        by_kind = Counter(p.kind for p in self.problems)
        totals = {
            f"{kind}_area_m2": _round(
                sum(p.area_m2 or 0.0 for p in self.problems if p.kind == kind)
            )
            for kind in ("overlap", "gap", "leak")
        }
        errors, slivers, warnings = (by_severity.get(s, 0) for s in SEVERITIES)
        if self.valid and not warnings:
            en = f"The {self.grid_count} grids cover {self.parent_code} with no gap and no overlap"
            zh = f"{self.grid_count} 个网格完整覆盖{self.parent_name}，无空白、无交叉重叠"
        else:
            en = (
                f"{errors} error(s), {slivers} sliver(s) and {warnings} warning(s) "
                f"in the {self.grid_count} grids of {self.parent_code}"
            )
            zh = (
                f"{self.parent_name}的 {self.grid_count} 个网格中发现 {errors} 处错误、"
                f"{slivers} 处细小缝隙或重叠、{warnings} 条提示"
            )
        return {
            "parent": {
                "code": self.parent_code,
                "name": self.parent_name,
                "level": self.parent_level,
            },
            "tolerance_m": self.tolerance_m,
            "grids": self.grid_count,
            "communities": self.community_count,
            "valid": self.valid,
            "counts": {s: by_severity.get(s, 0) for s in SEVERITIES},
            "by_kind": {k: by_kind[k] for k in KINDS if by_kind.get(k)},
            **totals,
            "message_en": en,
            "message_zh": zh,
        }

    def to_geojson(self) -> dict[str, Any]:
        """The problems as a GeoJSON FeatureCollection, with the summary as a foreign member."""
        return {
            "type": "FeatureCollection",
            "features": [p.to_feature(i) for i, p in enumerate(self.problems, start=1)],
            "summary": self.to_summary(),
        }


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(float(value), digits)


# --------------------------------------------------------------------------------------------
# The parent area
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParentArea:
    """A community, or a street with its communities, whose grids are validated."""

    id: int
    code: str
    name: str
    level: str
    communities: tuple[tuple[int, str, str], ...]  # (id, code, name) of each community

    @property
    def community_ids(self) -> list[int]:
        """Ids of the communities whose grids make up the coverage."""
        return [c[0] for c in self.communities]


def check_tolerance(tolerance_m: float, *, field: str = "tolerance_m") -> float:
    """Return a usable sliver tolerance in metres, or raise InvalidInput naming ``field``."""
    if not isinstance(tolerance_m, (int, float)) or not math.isfinite(tolerance_m):
        raise InvalidInput(
            "tolerance_m must be a finite number of metres", "容差必须是有限的米数", field=field
        )
    if not 0 <= tolerance_m <= MAX_TOLERANCE_M:
        raise InvalidInput(
            f"tolerance_m must lie between 0 and {MAX_TOLERANCE_M:g} metres",
            f"容差必须在 0 到 {MAX_TOLERANCE_M:g} 米之间",
            field=field,
        )
    return float(tolerance_m)


def resolve_parent(
    session: Session,
    parent_code: str,
    *,
    principal: Principal | None = None,
    field: str = "parent",
) -> ParentArea:
    """Load the community or street ``parent_code``; with a principal, only inside their area.

    Raises InvalidInput for a malformed code or a level other than community/street, and
    NotFound for an unknown code or one outside the principal's area (answered alike, so the
    existence of other areas is not revealed).
    """
    code = (parent_code or "").strip()
    if not (len(code) == 12 and code.isascii() and code.isdigit()):
        raise InvalidInput(
            "parent must be a 12-digit community or street code",
            "parent 应为 12 位社区或街道代码",
            field=field,
        )
    unit = session.execute(
        select(AdminUnit.id, AdminUnit.code, AdminUnit.name, AdminUnit.level).where(
            AdminUnit.code == code
        )
    ).first()
    if unit is None or (principal is not None and not code.startswith(principal.area_prefix)):
        raise NotFound(
            f"There is no community or street {code} in your area",
            f"您的辖区内没有代码为 {code} 的社区或街道",
            field=field,
        )
    if unit.level == "community":
        communities: tuple[tuple[int, str, str], ...] = ((unit.id, unit.code, unit.name),)
    elif unit.level == "street":
        rows = session.execute(
            select(AdminUnit.id, AdminUnit.code, AdminUnit.name)
            .where(AdminUnit.parent_id == unit.id, AdminUnit.level == "community")
            .order_by(AdminUnit.code)
        ).all()
        communities = tuple((r.id, r.code, r.name) for r in rows)
    else:
        raise InvalidInput(
            f"{code} is a {unit.level}: validate a community or a street",
            f"{code} 是{'区县' if unit.level == 'district' else unit.level}：请选择社区或街道",
            field=field,
        )
    return ParentArea(unit.id, unit.code, unit.name, unit.level, communities)


def current_grids(parent: ParentArea) -> Select[Any]:
    """The current basic and special grids of the parent's communities: (id, code, geom)."""
    return select(Grid.id, Grid.code, Grid.geom).where(
        Grid.valid_to.is_(None),
        Grid.kind != GridKind.micro.value,
        Grid.community_id.in_(parent.community_ids),
    )


# --------------------------------------------------------------------------------------------
# SQL: temporary tables holding the parents and members of one validation
# --------------------------------------------------------------------------------------------

_INPUT = table("wangge_cov_input", column("id"), column("code"), column("geom"))

_DROP = text(
    "DROP TABLE IF EXISTS pg_temp.wangge_cov_input, pg_temp.wangge_cov_parents, "
    "pg_temp.wangge_cov_members, pg_temp.wangge_cov_pieces"
)

_CREATE = [
    text(
        "CREATE TEMP TABLE wangge_cov_input (id integer, code text, geom geometry) ON COMMIT DROP"
    ),
    # child_tier: which members are checked against this parent ('grid' or 'community').
    text(
        "CREATE TEMP TABLE wangge_cov_parents (key text, name text, level text, "
        "child_tier text, geom geometry) ON COMMIT DROP"
    ),
    text(
        "CREATE TEMP TABLE wangge_cov_members (id integer, code text, tier text, "
        "parent_key text, valid boolean, reason text, location geometry, raw_empty boolean, "
        "g geometry) ON COMMIT DROP"
    ),
    text(
        "CREATE TEMP TABLE wangge_cov_pieces (kind text, tier text, parent_key text, "
        "codes text[], piece geometry, area_m2 double precision, width_m double precision) "
        "ON COMMIT DROP"
    ),
]

_LOAD_PARENTS = text(
    """
    INSERT INTO wangge_cov_parents (key, name, level, child_tier, geom)
    SELECT code, name, level, 'grid', geom FROM admin_units
    WHERE id = ANY(CAST(:community_ids AS integer[]))
    UNION ALL
    SELECT code, name, level, 'community', geom FROM admin_units
    WHERE id = :street_id
    """
)

# Each grid of the input: its storage-SRID geometry, validity detail, community (by code prefix,
# else by point-on-surface for a street) and a valid polygonal version ``g`` for the checks.
_LOAD_GRIDS = text(
    """
    INSERT INTO wangge_cov_members
        (id, code, tier, parent_key, valid, reason, location, raw_empty, g)
    SELECT i.id, i.code, 'grid',
           COALESCE(by_code.key, by_place.key),
           COALESCE(d.valid, false), d.reason,
           CASE WHEN d.valid AND NOT ST_IsEmpty(s.geom) AND ST_Dimension(s.geom) < 2
                THEN ST_PointOnSurface(s.geom)
                -- GEOS puts "Invalid Coordinate" at NaN/Infinity: no location then
                WHEN abs(ST_X(d.location)) < 'Infinity'::float8
                 AND abs(ST_Y(d.location)) < 'Infinity'::float8 THEN d.location END,
           CASE WHEN s.geom IS NOT NULL THEN ST_IsEmpty(s.geom) END,
           COALESCE(ST_Multi(ST_CollectionExtract(
               CASE WHEN d.valid THEN s.geom ELSE ST_MakeValid(s.geom) END, 3)),
               ST_SetSRID('MULTIPOLYGON EMPTY'::geometry, 4326))
    FROM wangge_cov_input AS i
    CROSS JOIN LATERAL (
        SELECT CASE WHEN ST_SRID(i.geom) = 0 THEN ST_SetSRID(i.geom, 4326)
                    WHEN ST_SRID(i.geom) <> 4326 THEN ST_Transform(i.geom, 4326)
                    ELSE i.geom END AS geom
    ) AS s
    LEFT JOIN LATERAL ST_IsValidDetail(s.geom) AS d ON true
    LEFT JOIN wangge_cov_parents AS by_code
           ON by_code.child_tier = 'grid'
          AND (:single OR by_code.key = left(i.code, 12))
    LEFT JOIN LATERAL (
        SELECT p.key FROM wangge_cov_parents AS p
        WHERE by_code.key IS NULL AND p.child_tier = 'grid' AND s.geom IS NOT NULL
          AND NOT ST_IsEmpty(s.geom)
          AND ST_Covers(p.geom, ST_PointOnSurface(ST_MakeValid(s.geom)))
        ORDER BY p.key LIMIT 1
    ) AS by_place ON true
    """
)

_LOAD_COMMUNITIES = text(
    """
    INSERT INTO wangge_cov_members
        (id, code, tier, parent_key, valid, reason, location, raw_empty, g)
    SELECT a.id, a.code, 'community', :street_code, true, NULL, NULL, false, ST_Multi(a.geom)
    FROM admin_units AS a WHERE a.id = ANY(CAST(:community_ids AS integer[]))
    """
)

_INDEX = [
    text("CREATE INDEX ON wangge_cov_members USING gist (g)"),
    text("CREATE INDEX ON wangge_cov_parents USING gist (geom)"),
    # Temporary tables are never auto-analysed: without statistics the planner would not use
    # the GiST index for the self-join.
    text("ANALYZE wangge_cov_members"),
    text("ANALYZE wangge_cov_parents"),
]

_INVALID = text(
    """
    SELECT code, tier, COALESCE(parent_key, '') AS parent_key, valid, raw_empty, reason,
           ST_X(location) AS x, ST_Y(location) AS y,
           ST_AsGeoJSON(location, 7, 0)::json AS gj
    FROM wangge_cov_members
    WHERE NOT valid OR raw_empty IS NOT FALSE OR ST_IsEmpty(g)
    ORDER BY code, id
    """
)

_DUPLICATES = text(
    """
    SELECT code, count(*) AS n,
           ST_AsGeoJSON(ST_ForcePolygonCCW(ST_Collect(g)), 7, 0)::json AS gj
    FROM wangge_cov_members WHERE tier = 'grid'
    GROUP BY code HAVING count(*) > 1 ORDER BY code
    """
)

_OUTSIDE_PARENT = text(
    """
    SELECT code, ST_AsGeoJSON(ST_ForcePolygonCCW(g), 7, 0)::json AS gj
    FROM wangge_cov_members
    WHERE tier = 'grid' AND parent_key IS NULL AND NOT ST_IsEmpty(g)
    ORDER BY code
    """
)

# Overlaps, gaps and leaks: every piece, measured, residue dropped, kept for the edge check.
_AREA_PIECES = text(
    """
    INSERT INTO wangge_cov_pieces (kind, tier, parent_key, codes, piece, area_m2, width_m)
    WITH overlap_pieces AS (
        SELECT 'overlap'::text AS kind, a.tier, a.parent_key,
               ARRAY[a.code, b.code] AS codes,
               (ST_Dump(ST_CollectionExtract(ST_Intersection(a.g, b.g), 3))).geom AS piece
        FROM wangge_cov_members AS a
        JOIN wangge_cov_members AS b
          ON a.tier = b.tier AND (a.code, a.id) < (b.code, b.id)
         AND a.g && b.g AND ST_Relate(a.g, b.g, '2********')
    ),
    covered AS (
        SELECT p.key, p.child_tier, p.geom,
               (SELECT ST_Union(m.g) FROM wangge_cov_members AS m
                WHERE m.parent_key = p.key AND m.tier = p.child_tier
                  AND NOT ST_IsEmpty(m.g)) AS union_geom
        FROM wangge_cov_parents AS p
    ),
    gap_pieces AS (
        SELECT 'gap'::text, child_tier, key, ARRAY[]::text[],
               (ST_Dump(ST_CollectionExtract(ST_Difference(
                   geom, COALESCE(union_geom, ST_SetSRID('POLYGON EMPTY'::geometry, 4326))
               ), 3))).geom
        FROM covered
    ),
    leak_pieces AS (
        SELECT 'leak'::text, m.tier, m.parent_key, ARRAY[m.code],
               (ST_Dump(ST_CollectionExtract(ST_Difference(m.g, p.geom), 3))).geom
        FROM wangge_cov_members AS m
        JOIN wangge_cov_parents AS p ON p.key = m.parent_key AND p.child_tier = m.tier
        WHERE NOT ST_IsEmpty(m.g) AND NOT ST_CoveredBy(m.g, p.geom)
    ),
    pieces AS (
        SELECT * FROM overlap_pieces UNION ALL SELECT * FROM gap_pieces
        UNION ALL SELECT * FROM leak_pieces
    ),
    measured AS (
        SELECT kind, tier, parent_key, codes, piece, ST_Area(piece::geography) AS area_m2
        FROM pieces
    )
    SELECT kind, tier, parent_key, codes, piece, area_m2,
           GREATEST(
               2 * (ST_MaximumInscribedCircle(ST_Transform(piece, utm.srid))).radius,
               2 * area_m2 / NULLIF(ST_Perimeter(piece::geography), 0)
           )
    FROM measured
    CROSS JOIN LATERAL (SELECT ST_Centroid(piece) AS c) AS centre
    CROSS JOIN LATERAL (
        SELECT CASE WHEN ST_Y(centre.c) >= 0 THEN 32600 ELSE 32700 END
               + LEAST(60, GREATEST(1, floor((ST_X(centre.c) + 180) / 6)::integer + 1)) AS srid
    ) AS utm
    WHERE area_m2 >= :residue
    """
)

_READ_PIECES = text(
    """
    SELECT kind, tier, parent_key, codes, area_m2, width_m,
           ST_AsGeoJSON(ST_ForcePolygonCCW(piece), 7, 0)::json AS gj
    FROM wangge_cov_pieces
    ORDER BY kind, tier, codes, area_m2 DESC
    """
)

_GRID_WKB = text(
    """
    SELECT code, ST_AsBinary(g) AS wkb FROM wangge_cov_members
    WHERE tier = 'grid' AND NOT ST_IsEmpty(g)
    ORDER BY code, id
    """
)

# Unmatched edges computed by GEOS, measured in SQL; a segment next to a reported overlap, gap
# or leak is part of that problem and not reported twice.
_UNMATCHED = text(
    """
    WITH segments AS (
        SELECT e.code, s.geom AS seg
        FROM unnest(CAST(:codes AS text[]), CAST(:wkbs AS bytea[])) AS e(code, wkb)
        CROSS JOIN LATERAL ST_DumpSegments(ST_SetSRID(ST_GeomFromWKB(e.wkb), 4326)) AS s
    ),
    unexplained AS (
        SELECT e.code, e.seg FROM segments AS e
        WHERE NOT EXISTS (
            SELECT 1 FROM wangge_cov_pieces AS p
            WHERE p.tier = 'grid' AND p.piece && ST_Expand(e.seg, 0.0001)
              AND ST_DWithin(p.piece::geography, e.seg::geography, :touch_m)
        )
    ),
    lines AS (
        SELECT code, ST_LineMerge(ST_Collect(seg)) AS line FROM unexplained GROUP BY code
    )
    SELECT l.code, COALESCE(m.parent_key, '') AS parent_key,
           ST_Length(l.line::geography) AS length_m,
           ST_NumGeometries(l.line) AS pieces,
           ST_AsGeoJSON(l.line, 7, 0)::json AS gj
    FROM lines AS l
    LEFT JOIN LATERAL (
        SELECT parent_key FROM wangge_cov_members
        WHERE code = l.code AND tier = 'grid' LIMIT 1
    ) AS m ON true
    ORDER BY l.code
    """
)

_MULTIPART = text(
    """
    SELECT code, COALESCE(parent_key, '') AS parent_key, ST_NumGeometries(g) AS parts,
           ARRAY(SELECT round(ST_Area(d.geom::geography)::numeric, 1)::float8
                 FROM ST_Dump(g) AS d ORDER BY 1 DESC) AS part_areas,
           ST_AsGeoJSON(ST_ForcePolygonCCW(g), 7, 0)::json AS gj
    FROM wangge_cov_members
    WHERE tier = 'grid' AND valid AND ST_NumGeometries(g) > 1
    ORDER BY code
    """
)

_NO_BUILDING = text(
    """
    SELECT m.code, COALESCE(m.parent_key, '') AS parent_key,
           ST_AsGeoJSON(ST_ForcePolygonCCW(m.g), 7, 0)::json AS gj
    FROM wangge_cov_members AS m
    WHERE m.tier = 'grid' AND NOT ST_IsEmpty(m.g)
      AND NOT EXISTS (
          SELECT 1 FROM buildings AS b
          WHERE b.geom && m.g AND ST_Covers(m.g, ST_PointOnSurface(b.geom))
      )
    ORDER BY m.code
    """
)

_STRADDLING = text(
    """
    WITH parts AS (
        -- only grids that hold part, not all, of a footprint: a building inside one grid
        -- does not cross a boundary (inside an overlap, the overlap is what is reported)
        SELECT b.id, m.code, m.parent_key,
               ST_Area(ST_Intersection(b.geom, m.g)::geography) AS part_m2,
               ST_Area(b.geom::geography) AS footprint_m2
        FROM wangge_cov_members AS m
        JOIN buildings AS b
          ON b.geom && m.g AND ST_Intersects(b.geom, m.g) AND NOT ST_CoveredBy(b.geom, m.g)
        WHERE m.tier = 'grid'
    ),
    straddling AS (
        SELECT id, min(COALESCE(parent_key, '')) AS parent_key,
               array_agg(code ORDER BY code) AS codes,
               array_agg(round(part_m2::numeric, 1)::float8 ORDER BY code) AS part_m2,
               max(footprint_m2) AS footprint_m2
        FROM parts
        WHERE part_m2 >= :min_m2 AND part_m2 >= :min_share * footprint_m2
        GROUP BY id
        HAVING count(*) >= 2
    )
    SELECT s.*, b.code AS building_code,
           ST_AsGeoJSON(ST_ForcePolygonCCW(b.geom), 7, 0)::json AS gj
    FROM straddling AS s JOIN buildings AS b ON b.id = s.id
    ORDER BY b.code
    """
)


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def validate_coverage(
    session: Session,
    *,
    parent_code: str,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    grids: SelectBase | None = None,
    progress: ProgressFn | None = None,
) -> CoverageReport:
    """Validate the grids of a community or street against it (see the module docstring).

    Parameters
    ----------
    parent_code
        12-digit code of a community, or of a street (its communities' grids are checked
        against each community, and the communities against the street).
    tolerance_m
        Overlaps, gaps and leaks narrower than this (metres) are slivers, not errors.
    grids
        The grid set to validate: any select (or union) with columns ``id``, ``code``, ``geom``
        (geometry in EPSG:4326; SRID 0 is read as 4326). Default: the current basic and special
        grids of the parent. Invalid or non-polygonal geometries are reported, not refused.
    progress
        Called with a short English step name before each step (for a CLI progress display).

    Returns
    -------
    CoverageReport
        Problems ordered by severity (error, sliver, warning), kind and codes.
    """
    tolerance = check_tolerance(tolerance_m)
    parent = resolve_parent(session, parent_code)
    step = progress or (lambda _name: None)

    step("loading grids")
    with without_jit(session):
        return _validate(session, parent, tolerance, grids, step)


def _validate(
    session: Session,
    parent: ParentArea,
    tolerance: float,
    grids: SelectBase | None,
    step: ProgressFn,
) -> CoverageReport:
    street = parent.level == "street"
    _load(session, parent, grids if grids is not None else current_grids(parent))
    grid_count = int(
        session.scalar(text("SELECT count(*) FROM wangge_cov_members WHERE tier = 'grid'")) or 0
    )
    names = {c[1]: c[2] for c in parent.communities} | {parent.code: parent.name}

    problems: list[CoverageProblem] = []
    step("checking geometries and codes")
    problems += _invalid_problems(session)
    problems += _duplicate_problems(session, parent)
    if street:
        problems += _outside_parent_problems(session, parent)
    step("finding overlaps, gaps and leaks")
    session.execute(_AREA_PIECES, {"residue": RESIDUE_M2})
    problems += _area_problems(session, tolerance, names)
    step("matching edges")
    problems += _unmatched_edge_problems(session, tolerance)
    step("checking parts and buildings")
    problems += _multipart_problems(session)
    problems += _building_problems(session)
    session.execute(_DROP)

    problems.sort(key=_problem_order)
    return CoverageReport(
        parent_code=parent.code,
        parent_name=parent.name,
        parent_level=parent.level,
        tolerance_m=tolerance,
        grid_count=grid_count,
        community_count=len(parent.communities),
        problems=problems,
    )


def validate_in_area(
    session: Session,
    *,
    principal: Principal,
    parent_code: str,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
) -> CoverageReport:
    """Validate the current grids of a parent inside the principal's area (else NotFound)."""
    check_tolerance(tolerance_m)
    resolve_parent(session, parent_code, principal=principal)
    return validate_coverage(session, parent_code=parent_code, tolerance_m=tolerance_m)


@contextmanager
def without_jit(session: Session) -> Iterator[None]:
    """Turn PostgreSQL's JIT off for the statements inside, then restore the setting.

    The GEOS functions are declared expensive, so the planner JIT-compiles even a query over six
    grids; compiling costs about 0.7 s a statement here, far more than running it.
    """
    before = session.scalar(text("SELECT current_setting('jit')"))
    session.execute(text("SELECT set_config('jit', 'off', true)"))
    try:
        yield
    finally:
        session.execute(text("SELECT set_config('jit', :value, true)"), {"value": before})


def invalid_geometries(session: Session, *, grids: SelectBase) -> list[CoverageProblem]:
    """Only the geometry check of the validator: invalid, empty or non-polygonal members.

    ``grids`` is a select with ``id``, ``code``, ``geom``. No parent and no metric work is
    involved, so any planar coordinates may be checked (the conformance tests use this).
    """
    with without_jit(session):
        _create_tables(session, grids)
        session.execute(_LOAD_GRIDS, {"single": False})
        problems = _invalid_problems(session)
        session.execute(_DROP)
    return problems


def _create_tables(session: Session, grids: Any) -> None:
    """Create the temporary tables of one validation and copy the grid set into them."""
    session.execute(_DROP)
    for statement in _CREATE:
        session.execute(statement)
    session.execute(insert(_INPUT).from_select(["id", "code", "geom"], grids))


def _load(session: Session, parent: ParentArea, grids: Any) -> None:
    """Fill the temporary tables: parents, grid members and (street) community members."""
    _create_tables(session, grids)
    street = parent.level == "street"
    session.execute(
        _LOAD_PARENTS,
        {"community_ids": parent.community_ids, "street_id": parent.id if street else None},
    )
    session.execute(_LOAD_GRIDS, {"single": not street})
    if street:
        session.execute(
            _LOAD_COMMUNITIES,
            {"community_ids": parent.community_ids, "street_code": parent.code},
        )
    for statement in _INDEX:
        session.execute(statement)


_SEVERITY_ORDER = {s: i for i, s in enumerate(SEVERITIES)}
_KIND_ORDER = {k: i for i, k in enumerate(KINDS)}


def _problem_order(p: CoverageProblem) -> tuple[Any, ...]:
    return (
        _SEVERITY_ORDER[p.severity],
        _KIND_ORDER[p.kind],
        p.level != "community",
        p.codes,
        -(p.area_m2 or p.length_m or 0.0),
    )


def _invalid_problems(session: Session) -> list[CoverageProblem]:
    problems = []
    for row in session.execute(_INVALID):
        if row.raw_empty is None:
            reason = "Missing geometry"
        elif row.raw_empty:
            reason = "Empty geometry"
        elif not row.valid:
            reason = (row.reason or "Invalid").split("[", 1)[0].strip()
        else:
            reason = "Not polygonal"
        location = [row.x, row.y] if row.x is not None else None
        where_en = f" at {row.x:.7f},{row.y:.7f}" if location else ""
        where_zh = f"，位置 {row.x:.7f},{row.y:.7f}" if location else ""
        level = "grid" if row.tier == "grid" else "community"
        noun_en, noun_zh = ("Grid", "网格") if level == "grid" else ("Community", "社区")
        problems.append(
            CoverageProblem(
                kind="invalid_geometry",
                severity="error",
                codes=(row.code,),
                level=level,
                parent_code=row.parent_key,
                geometry=row.gj or {"type": "GeometryCollection", "geometries": []},
                message_en=f"{noun_en} {row.code} has an invalid geometry: {reason}{where_en}",
                message_zh=f"{noun_zh} {row.code} 几何图形无效：{REASON_ZH.get(reason, reason)}"
                f"{where_zh}",
                detail={"reason": reason, "location": location},
            )
        )
    return problems


def _duplicate_problems(session: Session, parent: ParentArea) -> list[CoverageProblem]:
    return [
        CoverageProblem(
            kind="duplicate_code",
            severity="error",
            codes=(row.code,),
            level="grid",
            parent_code=parent.code,
            geometry=row.gj,
            message_en=f"Code {row.code} is used by {row.n} grids of the set",
            message_zh=f"网格编码 {row.code} 被 {row.n} 个网格重复使用",
            detail={"count": row.n},
        )
        for row in session.execute(_DUPLICATES)
    ]


def _outside_parent_problems(session: Session, parent: ParentArea) -> list[CoverageProblem]:
    return [
        CoverageProblem(
            kind="outside_parent",
            severity="error",
            codes=(row.code,),
            level="grid",
            parent_code=parent.code,
            geometry=row.gj,
            message_en=f"Grid {row.code} belongs to no community of street {parent.code}",
            message_zh=f"网格 {row.code} 不属于{parent.name}的任何社区",
        )
        for row in session.execute(_OUTSIDE_PARENT)
    ]


def _area_problems(
    session: Session, tolerance_m: float, names: dict[str, str]
) -> list[CoverageProblem]:
    problems = []
    for row in session.execute(_READ_PIECES):
        sliver = row.width_m < tolerance_m
        level = "grid" if row.tier == "grid" else "community"
        en, zh = _area_message(
            row.kind, level, tuple(row.codes), row.parent_key, names, row.area_m2, row.width_m
        )
        if sliver:
            en += f" (a sliver {row.width_m:.2f} m wide)"
            zh += f"（细长碎片，宽约 {row.width_m:.2f} 米）"
        problems.append(
            CoverageProblem(
                kind=row.kind,
                severity="sliver" if sliver else "error",
                codes=tuple(row.codes),
                level=level,
                parent_code=row.parent_key,
                geometry=row.gj,
                message_en=en,
                message_zh=zh,
                area_m2=float(row.area_m2),
                width_m=float(row.width_m),
            )
        )
    return problems


def _area_message(
    kind: str,
    level: str,
    codes: tuple[str, ...],
    parent_key: str,
    names: dict[str, str],
    area: float,
    width: float,
) -> tuple[str, str]:
    noun_en, noun_zh = ("grids", "网格") if level == "grid" else ("communities", "社区")
    parent_zh = names.get(parent_key, parent_key)
    if kind == "overlap":
        a, b = codes
        return (
            f"The {noun_en} {a} and {b} overlap by {area:.1f} m²",
            f"{noun_zh} {a} 与 {b} 交叉重叠 {area:.1f} 平方米",
        )
    if kind == "gap":
        return (
            f"{area:.1f} m² of {parent_key} is covered by none of its {noun_en}",
            f"{parent_zh}有 {area:.1f} 平方米空白区域未被任何{noun_zh}覆盖",
        )
    (code,) = codes
    singular_en = "grid" if level == "grid" else "community"
    return (
        f"The {singular_en} {code} extends {area:.1f} m² beyond {parent_key}",
        f"{noun_zh} {code} 超出{parent_zh}边界 {area:.1f} 平方米",
    )


def invalid_edges(geoms: Iterable[Any], *, gap_width: float) -> np.ndarray:
    """Unmatched edges of each polygon of a coverage (GEOS ``CoverageValidator``).

    A thin wrapper of ``shapely.coverage_invalid_edges``: the lines of each polygon's boundary
    that do not match a neighbour's (overlapping, crossing or not sharing vertices), and the
    edges of gaps narrower than ``gap_width``. Units are those of the coordinates.
    """
    array = np.asarray(list(geoms), dtype=object)
    if len(array) == 0:
        return array
    return np.asarray(shapely.coverage_invalid_edges(array, gap_width=gap_width), dtype=object)


def _unmatched_edge_problems(session: Session, tolerance_m: float) -> list[CoverageProblem]:
    rows = session.execute(_GRID_WKB).all()
    if len(rows) < 2:
        return []
    geoms = shapely.from_wkb([r.wkb for r in rows])
    # GEOS works in the coordinates' units (degrees); a degree of latitude is the longest, so
    # this gap width is never more than tolerance_m in any direction.
    edges = invalid_edges(geoms, gap_width=tolerance_m / METRES_PER_DEGREE)
    found = [i for i, e in enumerate(edges) if e is not None and not shapely.is_empty(e)]
    if not found:
        return []
    result = session.execute(
        _UNMATCHED,
        {
            "codes": [rows[i].code for i in found],
            "wkbs": [shapely.to_wkb(edges[i]) for i in found],
            "touch_m": EDGE_TOUCH_M,
        },
    )
    return [
        CoverageProblem(
            kind="unmatched_edge",
            severity="warning",
            codes=(row.code,),
            level="grid",
            parent_code=row.parent_key,
            geometry=row.gj,
            message_en=f"{row.length_m:.1f} m of the boundary of grid {row.code} do not match "
            "the vertices of the neighbouring grid",
            message_zh=f"网格 {row.code} 有 {row.length_m:.1f} 米边界与相邻网格的顶点不一致",
            length_m=float(row.length_m),
            detail={"lines": int(row.pieces)},
        )
        for row in result
    ]


def _multipart_problems(session: Session) -> list[CoverageProblem]:
    return [
        CoverageProblem(
            kind="multipart",
            severity="warning",
            codes=(row.code,),
            level="grid",
            parent_code=row.parent_key,
            geometry=row.gj,
            message_en=f"Grid {row.code} consists of {row.parts} separate parts",
            message_zh=f"网格 {row.code} 由 {row.parts} 个互不相连的部分组成",
            area_m2=float(sum(row.part_areas)),
            detail={"parts": row.parts, "part_areas_m2": list(row.part_areas)},
        )
        for row in session.execute(_MULTIPART)
    ]


def _building_problems(session: Session) -> list[CoverageProblem]:
    problems = [
        CoverageProblem(
            kind="no_building",
            severity="warning",
            codes=(row.code,),
            level="grid",
            parent_code=row.parent_key,
            geometry=row.gj,
            message_en=f"Grid {row.code} contains no building",
            message_zh=f"网格 {row.code} 内没有建筑",
        )
        for row in session.execute(_NO_BUILDING)
    ]
    for row in session.execute(
        _STRADDLING, {"min_m2": STRADDLE_MIN_M2, "min_share": STRADDLE_MIN_SHARE}
    ):
        codes = tuple(row.codes)
        shares = [round(100 * a / row.footprint_m2) for a in row.part_m2]
        parts_en = ", ".join(f"{c} ({s}%)" for c, s in zip(codes, shares, strict=True))
        parts_zh = "、".join(f"{c}（{s}%）" for c, s in zip(codes, shares, strict=True))
        problems.append(
            CoverageProblem(
                kind="straddling_building",
                severity="warning",
                codes=codes,
                level="grid",
                parent_code=row.parent_key,
                geometry=row.gj,
                message_en=f"Building {row.building_code} straddles grids {parts_en}",
                message_zh=f"建筑 {row.building_code} 跨越网格 {parts_zh}",
                area_m2=float(row.footprint_m2),
                detail={
                    "building_id": row.id,
                    "building_code": row.building_code,
                    "part_areas_m2": list(row.part_m2),
                },
            )
        )
    return problems
