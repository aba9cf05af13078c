"""Split a grid into k parts balanced by households, never cutting a building or a compound.

The heuristic (recursive bisection):

1. **Units.** Buildings of the grid are grouped into units: the buildings sharing a ``compound``
   (小区, a closed compound) form one unit whose outline is the convex hull of their footprints;
   every other building is a unit of its own. A unit weighs the households of its buildings
   whose point-on-surface lies in the grid (the assignment rule); buildings that only poke into
   the grid weigh nothing but are still obstacles.
2. **Bisect.** To cut a region into k parts, it is cut in two with household shares
   ``⌊k/2⌋/k`` and the rest, and each side is cut again, until every region is one part.
3. **Cuts along named roads first.** Each named road that crosses the region in two without
   touching a unit is a candidate; the best balanced one is taken when its imbalance is within
   :data:`ROAD_TOLERANCE` of the region's households (roads make the borders people know).
4. **Otherwise straight cuts through gaps.** For directions every :data:`ANGLE_STEP_DEG`
   degrees, every unit is projected onto the direction; where the projections leave a gap of at
   least :data:`MIN_GAP_M`, a straight line across the region through the middle of the gap
   touches no unit. The gap whose households on one side come closest to the target share wins
   (within :data:`BALANCE_STEP`, the shorter cut). Cuts that would leave a side in several
   pieces are skipped, so every part is contiguous.

Guarantees (tested): no cut crosses a building footprint or a compound's hull; every part is one
polygon; the parts tile the grid exactly (its outer boundary is kept vertex for vertex). The
balance is as good as the gaps between buildings allow; each part's households and deviation
from the sizing target are reported.

Where the work happens: buildings, households and roads are read in one SQL statement each
(GiST-indexed), and the result is checked in PostGIS. The search over candidate cuts is
numeric (numpy projections) and cuts regions with shapely (the same GEOS as PostGIS), because
it tries dozens of candidate lines per step on a few hundred units. Directions and gap widths
are measured in a local metric plane (lon/lat scaled by metres per degree at the grid's
latitude, an affine map, so straight lines stay straight); the cut lines themselves are built
back in lon/lat and applied to the stored geometry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sqlalchemy import text
from sqlalchemy.orm import Session

import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import split as shapely_split

from layers.access import Principal
from layers.base import STORAGE_SRID
from layers.errors import InvalidInput
from layers.grids import codes, sizing
from layers.grids.plans import (
    EditSummary,
    LiveGrid,
    NewPart,
    check_expected_versions,
    live_grids,
    open_draft,
    record_edit,
)
from layers.models.plans import EditOp

#: A road is taken as a border when its imbalance is at most this share of the region's
#: households.
ROAD_TOLERANCE = 0.10
#: Imbalances closer than this share of the region's households count as equal, and then the
#: shorter cut wins (compact parts rather than a sliver of extra balance).
BALANCE_STEP = 0.01
#: Directions tried for straight cuts.
ANGLE_STEP_DEG = 15
#: Narrowest gap (m) between units a straight cut may pass through.
MIN_GAP_M = 2.0
#: Smallest part (m²) a cut may leave.
MIN_PART_AREA_M2 = 50.0
#: How far (degrees, about 1 mm) each cut is lengthened past its ends before noding.
OVERSHOOT_DEG = 1e-8
#: At most this many parts.
MAX_PARTS = 12
#: Metres per degree of latitude, and of longitude at the equator (WGS-84, mean).
M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON = 111_320.0

_UNITS_SQL = """
WITH g AS (SELECT ST_GeomFromEWKB(:grid) AS geom),
b AS (
    SELECT b.id, b.compound, b.geom,
           ST_Covers(g.geom, wangge_assign_point(b.geom)) AS inside,
           (SELECT count(*) FROM houses AS h JOIN households AS hh ON hh.house_id = h.id
            WHERE h.building_id = b.id) AS households
    FROM buildings AS b, g
    WHERE b.geom && g.geom AND ST_Intersects(b.geom, g.geom)
)
SELECT coalesce('c:' || nullif(trim(compound), ''), 'b:' || id) AS unit,
       coalesce(sum(households) FILTER (WHERE inside), 0)::int AS households,
       count(*) FILTER (WHERE inside)::int AS buildings,
       ST_AsBinary(ST_ConvexHull(ST_Collect(geom))) AS hull,
       ST_AsBinary(ST_PointOnSurface(ST_ConvexHull(ST_Collect(geom)))) AS rep
FROM b GROUP BY 1 ORDER BY 1
"""

_ROADS_SQL = """
WITH g AS (SELECT ST_GeomFromEWKB(:grid) AS geom)
SELECT r.name, ST_AsBinary(ST_LineMerge(ST_Collect(r.geom))) AS geom
FROM roads AS r, g
WHERE r.geom && g.geom AND ST_Intersects(r.geom, g.geom)
GROUP BY r.name ORDER BY r.name
"""

# Every part's boundary against every footprint of the grid: a cut inside a footprint shows as
# an interior-interior intersection (the grid's own outer boundary is excluded).
_CHECK_SQL = """
WITH g AS (SELECT ST_GeomFromEWKB(:grid) AS geom),
parts AS (
    SELECT ST_Difference(ST_Boundary(ST_GeomFromEWKB(p)), ST_Boundary(g.geom)) AS cut
    FROM unnest(CAST(:parts AS bytea[])) AS p, g
)
SELECT count(*) FROM parts, buildings AS b, g
WHERE b.geom && g.geom AND ST_Intersects(b.geom, g.geom)
  AND ST_Relate(parts.cut, b.geom, 'T********')
"""


# The parts: faces of the grid's boundary and all cut lines noded together, so that every
# shared edge has the same vertices on both sides (cutting region by region would leave
# T-junctions where a later cut meets an earlier one). Faces in the grid's holes are dropped.
_FACES_SQL = """
WITH g AS (SELECT ST_GeomFromEWKB(:grid) AS geom),
lines AS (
    SELECT ST_UnaryUnion(ST_Collect(
        ST_Boundary(g.geom),
        ST_Collect(ARRAY(SELECT ST_GeomFromWKB(c, 4326) FROM unnest(CAST(:cuts AS bytea[])) AS c))
    )) AS geom
    FROM g
), faces AS (
    SELECT ST_Polygonize(lines.geom) AS geom FROM lines
)
SELECT ST_AsBinary(f.geom)
FROM faces, g, ST_Dump(faces.geom) AS f
WHERE ST_Covers(g.geom, ST_PointOnSurface(f.geom))
ORDER BY ST_YMax(f.geom) DESC, ST_XMin(f.geom)
"""


@dataclass(frozen=True)
class _Units:
    """Units of a region: hulls (lon/lat), representative points, weights, metric vertices."""

    names: list[str]
    hulls: npt.NDArray[np.object_]
    reps: npt.NDArray[np.object_]
    weights: npt.NDArray[np.int64]
    vertices: list[npt.NDArray[np.float64]]

    def subset(self, mask: npt.NDArray[np.bool_]) -> _Units:
        """The units where ``mask`` is true."""
        idx = np.flatnonzero(mask)
        return _Units(
            [self.names[i] for i in idx],
            self.hulls[idx],
            self.reps[idx],
            self.weights[idx],
            [self.vertices[i] for i in idx],
        )


@dataclass(frozen=True)
class _Plane:
    """A local metric plane: lon/lat scaled by metres per degree at ``lat0`` (affine)."""

    lon0: float
    lat0: float

    @property
    def kx(self) -> float:
        """Metres per degree of longitude at ``lat0``."""
        return M_PER_DEG_LON * math.cos(math.radians(self.lat0))

    def to_m(self, xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """(N, 2) lon/lat degrees → (N, 2) metres."""
        return np.column_stack(
            [(xy[:, 0] - self.lon0) * self.kx, (xy[:, 1] - self.lat0) * M_PER_DEG_LAT]
        )

    def to_lonlat(self, x: float, y: float) -> tuple[float, float]:
        """One point in metres → lon/lat degrees."""
        return self.lon0 + x / self.kx, self.lat0 + y / M_PER_DEG_LAT


@dataclass(frozen=True)
class _Cut:
    """A chosen cut: the line (lon/lat), the two sides and their unit masks."""

    line: BaseGeometry
    sides: tuple[Polygon, Polygon]
    masks: tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]
    road: str | None


def _read_units(session: Session, grid: LiveGrid, plane: _Plane) -> _Units:
    rows = session.execute(text(_UNITS_SQL), {"grid": grid.geom}).all()
    hulls = shapely.from_wkb([bytes(r.hull) for r in rows]) if rows else np.array([], dtype=object)
    reps = shapely.from_wkb([bytes(r.rep) for r in rows]) if rows else np.array([], dtype=object)
    vertices = [plane.to_m(shapely.get_coordinates(h)) for h in hulls]
    return _Units(
        [r.unit for r in rows],
        np.asarray(hulls, dtype=object),
        np.asarray(reps, dtype=object),
        np.asarray([r.households for r in rows], dtype=np.int64),
        vertices,
    )


def _sides(region: Polygon, line: BaseGeometry, plane: _Plane) -> tuple[Polygon, Polygon] | None:
    """The two contiguous pieces ``line`` cuts ``region`` into, or None (not exactly two)."""
    pieces = [g for g in shapely_split(region, line).geoms if isinstance(g, Polygon)]
    if len(pieces) != 2:
        return None
    for piece in pieces:
        area = shapely.area(Polygon(plane.to_m(np.asarray(piece.exterior.coords))))
        if area < MIN_PART_AREA_M2:
            return None
    return pieces[0], pieces[1]


def _masks(
    units: _Units, sides: tuple[Polygon, Polygon]
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    first = shapely.covers(sides[0], units.reps) if len(units.names) else np.zeros(0, bool)
    return first, ~first


def _road_cut(
    region: Polygon,
    units: _Units,
    roads: list[tuple[str, BaseGeometry]],
    share: float,
    plane: _Plane,
) -> _Cut | None:
    total = int(units.weights.sum())
    best: tuple[float, _Cut] | None = None
    for name, road in roads:
        if not road.intersects(region):
            continue
        if len(units.names) and shapely.intersects(units.hulls, road).any():
            continue
        sides = _sides(region, road, plane)
        if sides is None:
            continue
        masks = _masks(units, sides)
        for order in (0, 1):
            w = int(units.weights[masks[order]].sum())
            miss = abs(w - share * total) / max(total, 1)
            if best is None or miss < best[0]:
                cut = _Cut(
                    road,
                    (sides[order], sides[1 - order]),
                    (masks[order], masks[1 - order]),
                    name,
                )
                best = (miss, cut)
    if best is not None and best[0] <= ROAD_TOLERANCE:
        return best[1]
    return None


def _straight_cut(region: Polygon, units: _Units, share: float, plane: _Plane) -> _Cut | None:
    ring = plane.to_m(np.asarray(region.exterior.coords))
    total = float(units.weights.sum())
    weights = units.weights.astype(float) if total > 0 else np.ones(len(units.names))
    total = float(weights.sum())
    diameter = float(np.ptp(ring, axis=0).max()) * 2 + 100.0
    # (imbalance, cut length (filled in below), direction in degrees, position, which side
    # takes the share)
    candidates: list[tuple[float, float, int, float, bool]] = []
    for degrees in range(0, 180, ANGLE_STEP_DEG):
        theta = math.radians(degrees)
        u = np.array([math.cos(theta), math.sin(theta)])
        along = ring @ u
        lo_region, hi_region = float(along.min()), float(along.max())
        if len(units.names):
            lo = np.array([float((v @ u).min()) for v in units.vertices])
            hi = np.array([float((v @ u).max()) for v in units.vertices])
            order = np.argsort(lo, kind="stable")
            lo, hi, w = lo[order], hi[order], weights[order]
            reach = np.maximum.accumulate(hi)
            left_weight = np.cumsum(w)
            # a gap after unit i: every unit up to i ends before the next one starts
            gap_start = np.concatenate([[lo_region], reach])
            gap_end = np.concatenate([lo, [hi_region]])
            before = np.concatenate([[0.0], left_weight])
        else:
            gap_start = np.array([lo_region])
            gap_end = np.array([hi_region])
            before = np.array([0.0])
        for start, end, left in zip(gap_start, gap_end, before, strict=True):
            start, end = max(start, lo_region), min(end, hi_region)
            if end - start < MIN_GAP_M:
                continue
            if len(units.names):
                c = (start + end) / 2
            else:  # no units at all: cut at the share of the extent
                c = lo_region + share * (hi_region - lo_region)
            if c <= lo_region or c >= hi_region:
                continue
            # either side of the gap may take the target share
            for flip, weight in ((False, left), (True, total - left)):
                miss = abs(weight - share * total) / total if len(units.names) else 0.0
                candidates.append(
                    (round(miss / BALANCE_STEP) * BALANCE_STEP, 0.0, degrees, c, flip)
                )
    candidates = _with_cut_lengths(candidates, ring, diameter)
    for _miss, _length, degrees, c, flip in sorted(candidates):
        theta = math.radians(degrees)
        u = np.array([math.cos(theta), math.sin(theta)])
        v = np.array([-u[1], u[0]])
        a, b = c * u - diameter * v, c * u + diameter * v
        line = LineString([plane.to_lonlat(*a), plane.to_lonlat(*b)])
        if len(units.names) and shapely.intersects(units.hulls, line).any():
            continue
        sides = _sides(region, line, plane)
        if sides is None:
            continue
        masks = _masks(units, sides)
        # put first the side that takes the target share: before the gap, or after it if flipped
        first_along = shapely.get_coordinates(sides[0].representative_point())
        before_gap = float((plane.to_m(first_along) @ u)[0]) < c
        if before_gap == flip:
            sides, masks = (sides[1], sides[0]), (masks[1], masks[0])
        return _Cut(line, sides, masks, None)
    return None


def _with_cut_lengths(
    candidates: list[tuple[float, float, int, float, bool]],
    ring: npt.NDArray[np.float64],
    diameter: float,
) -> list[tuple[float, float, int, float, bool]]:
    """The candidates with the length (m) of each cut line inside the region filled in."""
    if not candidates:
        return candidates
    theta = np.radians([c[2] for c in candidates])
    pos = np.array([c[3] for c in candidates])
    u = np.column_stack([np.cos(theta), np.sin(theta)])
    v = np.column_stack([-u[:, 1], u[:, 0]])
    ends = np.stack([pos[:, None] * u - diameter * v, pos[:, None] * u + diameter * v], axis=1)
    lengths = shapely.length(shapely.intersection(shapely.linestrings(ends), Polygon(ring)))
    return [
        (miss, round(float(length), 1), degrees, c, flip)
        for (miss, _, degrees, c, flip), length in zip(candidates, lengths, strict=True)
    ]


def _bisect(
    region: Polygon,
    units: _Units,
    k: int,
    roads: list[tuple[str, BaseGeometry]],
    plane: _Plane,
    borders: list[str | None],
    cuts: list[BaseGeometry],
) -> None:
    """Cut ``region`` into ``k`` parts, appending each cut (clipped to its region) to ``cuts``."""
    if k == 1:
        return
    k1 = k // 2
    share = k1 / k
    cut = _road_cut(region, units, roads, share, plane) or _straight_cut(
        region, units, share, plane
    )
    if cut is None:
        raise InvalidInput(
            "The grid cannot be cut further without crossing a building or compound; "
            "ask for fewer parts or split it by a drawn line",
            "无法在不穿过建筑或小区的情况下继续分割该网格，请减少份数或手绘分割线",
            field="k",
        )
    borders.append(cut.road)
    cuts.append(_overshoot(cut.line.intersection(region)))
    _bisect(cut.sides[0], units.subset(cut.masks[0]), k1, roads, plane, borders, cuts)
    _bisect(cut.sides[1], units.subset(cut.masks[1]), k - k1, roads, plane, borders, cuts)


def _overshoot(lines: BaseGeometry, eps: float = OVERSHOOT_DEG) -> BaseGeometry:
    """Lengthen each line at both ends by ``eps`` degrees.

    A cut clipped to its region ends on the earlier cut or the grid boundary only up to
    floating-point error; overshooting makes the noding find the crossing, and the tiny loose
    ends it leaves are dropped by polygonize (dangles).
    """
    out = []
    for part in getattr(lines, "geoms", [lines]):
        coords = np.asarray(part.coords, dtype=float)
        if len(coords) < 2:
            continue
        head = coords[0] - coords[1]
        tail = coords[-1] - coords[-2]
        coords[0] += eps * head / max(float(np.hypot(*head)), 1e-15)
        coords[-1] += eps * tail / max(float(np.hypot(*tail)), 1e-15)
        out.append(LineString(coords))
    return shapely.MultiLineString(out)


def _ewkb(polygon: BaseGeometry) -> bytes:
    """A polygon as EWKB MultiPolygon in the storage CRS."""
    multi = polygon if isinstance(polygon, MultiPolygon) else MultiPolygon([polygon])
    return bytes(shapely.to_wkb(shapely.set_srid(multi, STORAGE_SRID), include_srid=True))


@dataclass(frozen=True, slots=True)
class BalancedPart:
    """One part of a balanced split, in lon/lat (EPSG:4326), with its households."""

    geom: BaseGeometry
    households: int


def balanced_parts(
    session: Session, *, grid: LiveGrid, k: int | None
) -> tuple[list[BalancedPart], int, list[str | None]]:
    """Cut ``grid`` into balanced parts; returns (parts, k used, road name or None per cut)."""
    region = shapely.from_wkb(grid.geom)
    if isinstance(region, MultiPolygon) and len(region.geoms) == 1:
        region = region.geoms[0]
    if not isinstance(region, Polygon):
        raise InvalidInput(
            "A balanced split needs a grid in one piece", "均衡分割需要网格为一个整体", field="key"
        )
    centre = region.centroid
    plane = _Plane(centre.x, centre.y)
    units = _read_units(session, grid, plane)
    total = int(units.weights.sum())
    if k is None:
        target = sizing.targets(session).get(grid.sizing_type)
        if target is None:
            raise InvalidInput(
                f"Grids of sizing type {grid.sizing_type} have no household target; give k",
                f"规模类型为 {grid.sizing_type} 的网格没有户数标准，请指定份数 k",
                field="k",
            )
        k = max(2, math.ceil(total / max(target.max_households, 1)))
    if not 2 <= k <= MAX_PARTS:
        raise InvalidInput(
            f"k must be between 2 and {MAX_PARTS}", f"k 应在 2 到 {MAX_PARTS} 之间", field="k"
        )
    roads = [
        (r.name, shapely.from_wkb(bytes(r.geom)))
        for r in session.execute(text(_ROADS_SQL), {"grid": grid.geom})
    ]
    borders: list[str | None] = []
    cuts: list[BaseGeometry] = []
    _bisect(region, units, k, roads, plane, borders, cuts)
    faces = [
        shapely.from_wkb(bytes(r[0]))
        for r in session.execute(
            text(_FACES_SQL), {"grid": grid.geom, "cuts": [shapely.to_wkb(c) for c in cuts]}
        )
    ]
    if len(faces) != k:  # a cut that did not separate (cannot happen for accepted cuts)
        raise InvalidInput(
            "The cuts do not divide the grid cleanly; split it by a drawn line",
            "分割线未能完整划分网格，请手绘分割线",
            field="k",
        )
    inside = units.weights > 0
    parts = [
        BalancedPart(face, int(units.weights[inside & shapely.covers(face, units.reps)].sum()))
        for face in faces
    ]
    wkbs = [_ewkb(p.geom) for p in parts]
    crossing = session.execute(text(_CHECK_SQL), {"grid": grid.geom, "parts": wkbs}).scalar_one()
    if crossing:
        raise InvalidInput(
            "No balanced split avoids every building; split the grid by a drawn line",
            "找不到避开所有建筑的均衡分割，请手绘分割线",
            field="k",
        )
    return parts, k, borders


def split_balanced(
    session: Session,
    *,
    principal: Principal,
    plan_id: int,
    key: str,
    k: int | None = None,
    expected_version: int | None = None,
) -> EditSummary:
    """Add to a draft the split of grid ``key`` into ``k`` parts balanced by households.

    ``k`` defaults to the fewest parts whose average households fit under the maximum of the
    grid's sizing target. The edit's ``params`` record the households and the sizing deviation
    of every part and the road (if any) each cut follows.
    """
    ctx = open_draft(session, principal=principal, plan_id=plan_id)
    grid = live_grids(session, ctx, [key], field_name="key")[key]
    check_expected_versions(
        {key: grid},
        None if expected_version is None else {key: expected_version},
        field_name="expected_version",
    )
    parts, k, borders = balanced_parts(session, grid=grid, k=k)
    placed = []
    for i, part in enumerate(parts):
        point = part.geom.representative_point()
        placed.append(
            codes.Placed(str(i), point.x, point.y, part.geom.bounds[3] - part.geom.bounds[1])
        )
    ordered = [parts[int(i)] for i in codes.reading_order(placed)]
    target = sizing.targets(session).get(grid.sizing_type)
    report = [
        {
            "name": f"{grid.name}-{i}",
            "households": p.households,
            "deviation": sizing.deviation(p.households, target).deviation if target else None,
        }
        for i, p in enumerate(ordered, start=1)
    ]
    new_parts = [
        NewPart(
            key=None,
            name=f"{grid.name}-{i}",
            kind=grid.kind,
            sizing_type=grid.sizing_type,
            community_id=grid.community_id,
            parent_grid_code=grid.parent_grid_code,
            geom=_ewkb(p.geom),
        )
        for i, p in enumerate(ordered, start=1)
    ]
    return record_edit(
        session,
        ctx,
        op=EditOp.split,
        sources=[grid],
        parts=new_parts,
        params={"method": "balanced", "k": k, "parts": report, "roads": borders},
    )
