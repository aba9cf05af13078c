"""The coverage validator and cleaner against public conformance cases (JTS, shapely, PostGIS).

``tests/conformance/geometry``: ``jts_coverage_cases.json`` (CoverageValidator,
CoveragePolygonValidator, CoverageGapFinder, CoverageUnion, CoverageCleaner),
``shapely_postgis_coverage_cases.json`` (gap-width edge cases, coverage_clean, PostGIS
regressions) and ``jts_polygon_validity.json``.

Three levels:

1. the unmatched-edge helper (the one place shapely backs the validator) gives exactly the
   invalid edges the cases expect, in their own planar coordinates;
2. the whole validator, through PostGIS: each case is placed near 117°E 36.6°N (affinely, a
   unit read as 10 m), validated against its bounding box (or the expected union)
   as the parent community, and must agree with the case: invalid exactly when it reports an
   overlap, a gap narrower than the case's gap width (a sliver at ``tolerance_m = 10 ×
   gap_width``) or an unmatched edge — plus known areas derived by hand;
3. the cleaner used by the repair gives the cleaned polygons the cases expect.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Integer, LargeBinary, String, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

import shapely
from geoalchemy2.shape import from_shape
from pyproj import Geod
from shapely import wkt
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry

from layers.grids.coverage import REASON_ZH, CoverageReport, invalid_edges, invalid_geometries
from layers.grids.coverage import validate_coverage as validate
from layers.grids.repair import clean_coverage
from layers.models import AdminUnit
from tests.conftest import SHARED_TESTDATA

GEOMETRY = SHARED_TESTDATA / "geometry"
JTS = json.loads((GEOMETRY / "jts_coverage_cases.json").read_text(encoding="utf-8"))["cases"]
SHAPELY_POSTGIS = json.loads(
    (GEOMETRY / "shapely_postgis_coverage_cases.json").read_text(encoding="utf-8")
)
SHAPELY_VALIDATION = SHAPELY_POSTGIS["shapely_tests"]["coverage_validation"]
SHAPELY_CLEAN = SHAPELY_POSTGIS["shapely_tests"]["coverage_clean"]
POSTGIS_REGRESS = SHAPELY_POSTGIS["postgis_regress"]["cases"]
VALIDITY = json.loads((GEOMETRY / "jts_polygon_validity.json").read_text(encoding="utf-8"))

# Two transcription slips in jts_coverage_cases.json (an extra closing parenthesis each); the
# upstream Java tests have the corrected text.
WKT_FIXES = {
    "MULTIPOLYGON (((1 3, 1 1, 3 1, 3 3, 1 3))), ((5 3, 5 1, 3 1, 3 3, 5 3)))": (
        "MULTIPOLYGON (((1 3, 1 1, 3 1, 3 3, 1 3)), ((5 3, 5 1, 3 1, 3 3, 5 3)))"
    ),
    "LINESTRING (1 7, 5 7, 9 7, 9 3, 5 3, 1 3, 1 7))": (
        "LINESTRING (1 7, 5 7, 9 7, 9 3, 5 3, 1 3, 1 7)"
    ),
}

# One unit of a case is this many metres once placed on the map, around 117°E 36.6°N. The
# placement is affine (straight lines stay straight, so a vertex on an edge stays on it); the
# degrees per metre come from the WGS-84 ellipsoid at that latitude.
METRES_PER_UNIT = 10.0
ORIGIN = (117.0, 36.6)
_GEOD = Geod(ellps="WGS84")
DEG_LON_PER_M = 0.001 / _GEOD.inv(117.0, 36.6, 117.001, 36.6)[2]
DEG_LAT_PER_M = 0.001 / _GEOD.inv(117.0, 36.6, 117.0, 36.601)[2]

DISTRICT = "370198000000"
STREET = "370198001000"


def load(text: str | None) -> BaseGeometry | None:
    """A case's WKT (with the transcription fixes), or None."""
    return None if text is None else wkt.loads(WKT_FIXES.get(text, text))


def _parts(geom: BaseGeometry) -> list[BaseGeometry]:
    return list(geom.geoms) if hasattr(geom, "geoms") else [geom]


def _same_lines(got: BaseGeometry | None, expected: BaseGeometry | None) -> bool:
    got_empty = got is None or got.is_empty
    expected_empty = expected is None or expected.is_empty
    if got_empty or expected_empty:
        return got_empty and expected_empty
    return bool(shapely.equals(got, expected))


def _case_id(case: dict[str, Any]) -> str:
    return case.get("test") or case["source"].split("::")[-1]


def _on_the_map(geom: BaseGeometry) -> BaseGeometry:
    """Case units → lon/lat near 117°E 36.6°N, ``METRES_PER_UNIT`` metres to the unit."""

    def convert(coords: Any) -> Any:
        lon = ORIGIN[0] + coords[:, 0] * METRES_PER_UNIT * DEG_LON_PER_M
        lat = ORIGIN[1] + coords[:, 1] * METRES_PER_UNIT * DEG_LAT_PER_M
        return np.column_stack([lon, lat])

    return shapely.transform(geom, convert)


# --------------------------------------------------------------------------------------------
# 1. Unmatched edges (shapely-backed), in the cases' own coordinates
# --------------------------------------------------------------------------------------------

VALIDATOR_CASES = [c for c in JTS if c["suite"] == "CoverageValidator"]
POLYGON_CASES = [c for c in JTS if c["suite"] == "CoveragePolygonValidator"]
EDGE_CASES_SHAPELY = [c for c in SHAPELY_VALIDATION if "expected_invalid_edges" in c]
EDGE_CASES_POSTGIS = [c for c in POSTGIS_REGRESS if "expected_invalid_edges" in c]


@pytest.mark.parametrize(
    "case", VALIDATOR_CASES + EDGE_CASES_SHAPELY + EDGE_CASES_POSTGIS, ids=_case_id
)
def test_invalid_edges_of_every_polygon_match_the_validator_cases(case: dict[str, Any]) -> None:
    coverage = [load(w) for w in case["coverage"]]
    got = invalid_edges(coverage, gap_width=case.get("gap_width", 0.0))
    expected = [load(e) for e in case["expected_invalid_edges"]]
    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        assert _same_lines(g, e), (i, g, e)


@pytest.mark.parametrize("case", POLYGON_CASES, ids=_case_id)
def test_invalid_edges_of_a_target_against_its_neighbours(case: dict[str, Any]) -> None:
    target = load(case["target"])
    adjacent = _parts(load(case["adjacent"]))
    got = invalid_edges([target, *adjacent], gap_width=case["gap_width"])[0]
    assert _same_lines(got, load(case["expected_invalid_edges"]))


# --------------------------------------------------------------------------------------------
# 2. The whole validator through PostGIS
# --------------------------------------------------------------------------------------------


class Places:
    """Communities made on demand, one per case, under a test street."""

    def __init__(self, db: Session) -> None:
        self.db = db
        self.count = 0
        district = self._unit(DISTRICT, "一致性测试区", "district", box(116, 36, 118, 37), None)
        self.street = self._unit(
            STREET, "一致性测试街道", "street", box(116, 36, 118, 37), district
        )

    def _unit(self, code: str, name: str, level: str, geom: Any, parent: int | None) -> int:
        row = AdminUnit(
            code=code,
            name=name,
            level=level,
            parent_id=parent,
            geom=from_shape(MultiPolygon(_parts(geom)), 4326),
        )
        self.db.add(row)
        self.db.flush()
        return row.id

    def community(self, geom: BaseGeometry) -> str:
        """A new community with this lon/lat outline; returns its code."""
        self.count += 1
        code = f"{STREET[:9]}{self.count:03d}"
        self._unit(code, f"一致性社区{self.count}", "community", geom, self.street)
        return code


@pytest.fixture
def places(db: Session) -> Places:
    return Places(db)


def grid_set(code: str, geoms: list[BaseGeometry | None]) -> Any:
    """A (id, code, geom) select of lon/lat geometries, one grid per case polygon."""
    rows = [(i + 1, f"{code}{i + 1:03d}", g) for i, g in enumerate(geoms)]
    values = (
        func.unnest(
            bindparam("ids", [r[0] for r in rows], type_=ARRAY(Integer)),
            bindparam("codes", [r[1] for r in rows], type_=ARRAY(String)),
            bindparam(
                "wkbs",
                [None if r[2] is None else shapely.to_wkb(r[2]) for r in rows],
                type_=ARRAY(LargeBinary),
            ),
        )
        .table_valued("id", "code", "wkb")
        .render_derived()
    )
    return select(
        values.c.id,
        values.c.code,
        func.ST_SetSRID(func.ST_GeomFromWKB(values.c.wkb), 4326).label("geom"),
    )


def run_case(
    db: Session,
    places: Places,
    polygons: list[BaseGeometry | None],
    gap_width: float,
    parent: BaseGeometry | None = None,
) -> CoverageReport:
    """Validate planar case polygons on the map; the parent is their union with holes filled.

    JTS validates a coverage without a parent, so the parent is the area the polygons claim:
    an enclosed gap is a gap, an opening on the outside is not. Building checks (the cases
    have no buildings) are left out of the report.
    """
    if parent is None:
        planar = [shapely.make_valid(g) for g in polygons if g is not None and not g.is_empty]
        union = shapely.union_all(planar)
        parent = MultiPolygon([Polygon(p.exterior) for p in _parts(union) if p.area > 0])
    code = places.community(_on_the_map(parent))
    # PostGIS cannot even build a ring of fewer than four points (JTS reads it as empty): such
    # a polygon can never be part of a grid set, so it goes in as a missing geometry.
    geoms = [None if g is None or _collapsed(g) else _on_the_map(g) for g in polygons]
    report = validate(
        db,
        parent_code=code,
        tolerance_m=gap_width * METRES_PER_UNIT,
        grids=grid_set(code, geoms),
    )
    coverage_problems = [p for p in report.problems if p.kind not in BUILDING_KINDS]
    return replace(report, problems=coverage_problems)


BUILDING_KINDS = ("no_building", "straddling_building")


def _collapsed(geom: BaseGeometry) -> bool:
    rings = [r for p in _parts(geom) if not p.is_empty for r in (p.exterior, *p.interiors)]
    return any(len(r.coords) < 4 for r in rings)


def invalid_by_jts_rules(report: CoverageReport) -> bool:
    """What makes a coverage invalid for JTS: overlaps, narrow gaps, unmatched edges."""
    return any(
        p.kind in ("overlap", "unmatched_edge") or (p.kind == "gap" and p.severity == "sliver")
        for p in report.problems
    )


# GEOS reports no gap for this case at gap_width 2 although it does at 1 and 1.5 (the upstream
# test says "TODO why this behaviour?"). Wangge's rule is the width alone: the gap is 0.94 units
# wide, so it is a sliver at any tolerance above that.
GEOS_SPECIFIC = {"test_coverage_is_valid_gap_width[gap 1 wide,gap_width=2.0]"}

WHOLE_CASES = (
    VALIDATOR_CASES
    + SHAPELY_VALIDATION
    + [
        c
        for c in POSTGIS_REGRESS
        if "coverage" in c and any(w and "EMPTY" not in w for w in c["coverage"])
    ]
)


@pytest.mark.parametrize("case", WHOLE_CASES, ids=_case_id)
def test_validator_agrees_with_the_cases_on_validity(
    db: Session, places: Places, case: dict[str, Any]
) -> None:
    polygons = [load(w) for w in case["coverage"]]
    report = run_case(db, places, polygons, case.get("gap_width", 0.0))
    if "expected_valid" in case:
        expected_invalid = not case["expected_valid"]
    elif "expected_invalid_edges" in case:  # PostGIS: valid when no polygon has invalid edges
        expected_invalid = any(e is not None for e in case["expected_invalid_edges"])
    else:
        expected_invalid = not case["shapely_check_valid"]
    if _case_id(case) in GEOS_SPECIFIC:
        gap = [p for p in report.problems if p.kind == "gap"]
        assert [(p.severity, round(p.width_m / METRES_PER_UNIT, 2)) for p in gap] == [
            ("sliver", 0.94)
        ]
        return
    assert invalid_by_jts_rules(report) == expected_invalid, [
        (p.severity, p.kind, p.codes) for p in report.problems
    ]


def _areas(report: CoverageReport, kind: str) -> list[tuple[tuple[str, ...], float]]:
    return sorted(
        (tuple(c[-3:] for c in p.codes), round(p.area_m2 / METRES_PER_UNIT**2, 2))
        for p in report.problems
        if p.kind == kind
    )


def _case(suite: str, test: str) -> dict[str, Any]:
    return next(c for c in JTS if c["suite"] == suite and c["test"] == test)


def test_overlapping_squares_overlap_by_four_square_units(db: Session, places: Places) -> None:
    case = _case("CoverageValidator", "testOverlappingSquares")
    report = run_case(db, places, [load(w) for w in case["coverage"]], 0.0)
    assert _areas(report, "overlap") == [(("001", "002"), 4.0)]


def test_fully_covered_triangles_overlap_the_square_twice(db: Session, places: Places) -> None:
    case = _case("CoverageValidator", "testFullyCoveredTriangles")
    report = run_case(db, places, [load(w) for w in case["coverage"]], 0.0)
    # each triangle (32 square units) lies inside the square; the triangles only touch
    assert _areas(report, "overlap") == [(("001", "003"), 32.0), (("002", "003"), 32.0)]
    assert report.count(kind="gap") == 0


def test_gap_finder_finds_the_three_polygon_gap(db: Session, places: Places) -> None:
    case = _case("CoverageGapFinder", "testThreePolygonGap")
    polygons = _parts(load(case["coverage_multipolygon"]))
    report = run_case(db, places, polygons, case["gap_width"])
    expected = load(case["expected_gaps"])
    assert [(p.severity, p.kind) for p in report.problems] == [("sliver", "gap")]
    (gap,) = report.problems
    assert gap.area_m2 / METRES_PER_UNIT**2 == pytest.approx(expected.area, rel=0.01)
    # the largest inscribed circle of the triangle (3 5, 7 5, 5 6) is 0.944 units across
    assert gap.width_m / METRES_PER_UNIT == pytest.approx(0.944, rel=0.01)


UNION_CASES = [c for c in JTS if c["suite"] == "CoverageUnion" and c.get("expected_union")]


@pytest.mark.parametrize("case", UNION_CASES, ids=_case_id)
def test_coverage_unions_leave_no_gap_against_the_expected_union(
    db: Session, places: Places, case: dict[str, Any]
) -> None:
    polygons = _parts(load(case["coverage_collection"]))
    report = run_case(db, places, polygons, 0.0, parent=load(case["expected_union"]))
    assert report.problems == []


def test_where_coverage_union_fails_the_validator_names_the_overlap(
    db: Session, places: Places
) -> None:
    """GEOS CoverageUnion throws on this badly noded coverage; Wangge reports why."""
    case = _case("CoverageUnion", "testInvalidNodingError")
    polygons = _parts(load(case["coverage_collection"]))
    report = run_case(db, places, polygons, 0.0)
    assert _areas(report, "overlap") == [(("001", "002"), 0.05)]
    assert report.count(kind="gap") == 0


def test_an_empty_grid_set_leaves_the_whole_parent_as_a_gap(db: Session, places: Places) -> None:
    report = run_case(db, places, [], 0.0, parent=MultiPolygon([box(1, 1, 9, 9)]))
    assert _areas(report, "gap") == [((), 64.0)]


def test_postgis_union_regression_areas(db: Session, places: Places) -> None:
    cases = {c["test"]: c for c in POSTGIS_REGRESS}
    for name in ("one partition a", "union 3"):
        case = cases[name]
        polygons = [load(w) for w in case["coverage"]]
        union = shapely.union_all(polygons)
        assert union.area == pytest.approx(case["expected_union_area"])
        assert run_case(db, places, polygons, 0.0, parent=union).problems == []


def test_postgis_square_grid_is_a_clean_coverage(db: Session, places: Places) -> None:
    """ST_SquareGrid(100, 0..1000): 121 squares covering 0..1100 (regress 'grid lanes')."""
    squares = [
        box(100 * i, 100 * j, 100 * (i + 1), 100 * (j + 1)) for i in range(11) for j in range(11)
    ]
    lanes = [shapely.union_all(squares[i * 11 : (i + 1) * 11]).area for i in range(11)]
    assert lanes == [110_000.0] * 11
    scaled = [shapely.affinity.scale(s, 0.01, 0.01, origin=(0, 0)) for s in squares]
    report = run_case(db, places, scaled, 0.0, parent=box(0, 0, 11, 11))
    assert report.problems == []
    assert report.grid_count == 121


# --------------------------------------------------------------------------------------------
# Polygon validity: the validator's invalid-geometry check against JTS
# --------------------------------------------------------------------------------------------

AREAL = [
    c
    for c in VALIDITY["cases"]
    if c["a"]
    and c["a"].lstrip().upper().startswith(("POLYGON", "MULTIPOLYGON"))
    and "EMPTY" not in c["a"].upper()
]


# Some cases hold NaN coordinates on purpose; reading them warns.
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_invalid_geometries_agree_with_jts_validity_cases(db: Session) -> None:
    parsed: list[tuple[dict[str, Any], BaseGeometry]] = []
    unparsable = []
    for case in AREAL:
        try:
            geom = wkt.loads(case["a"])
        except shapely.errors.GEOSException:
            unparsable.append(case)
            continue
        if _collapsed(geom):
            unparsable.append(case)  # PostGIS refuses to build such a polygon at all
        else:
            parsed.append((case, geom))
    # what cannot even be built is invalid for JTS too (unclosed rings, too few points)
    assert all(c["tests"][0]["expected"] == "false" for c in unparsable)
    assert len(parsed) > 300
    rows = [(i, f"case{i:04d}", g) for i, (_, g) in enumerate(parsed)]
    values = (
        func.unnest(
            bindparam("ids", [r[0] for r in rows], type_=ARRAY(Integer)),
            bindparam("codes", [r[1] for r in rows], type_=ARRAY(String)),
            bindparam("wkbs", [shapely.to_wkb(r[2]) for r in rows], type_=ARRAY(LargeBinary)),
        )
        .table_valued("id", "code", "wkb")
        .render_derived()
    )
    problems = invalid_geometries(
        db,
        grids=select(values.c.id, values.c.code, func.ST_GeomFromWKB(values.c.wkb)),
    )
    reported = {p.codes[0]: p for p in problems}
    mismatches = [
        case["desc"]
        for i, (case, _) in enumerate(parsed)
        if (f"case{i:04d}" in reported) != (case["tests"][0]["expected"] == "false")
    ]
    assert mismatches == []
    for problem in problems:
        # every GEOS reason has its Chinese name, so the message is Chinese throughout
        assert problem.detail["reason"] in REASON_ZH, problem.detail
        assert REASON_ZH[problem.detail["reason"]] in problem.message_zh
        # GEOS puts an invalid coordinate at NaN: the only reason without a location
        if problem.detail["reason"] != "Invalid Coordinate":
            assert problem.detail["location"] is not None
        assert problem.message_zh.startswith(f"网格 {problem.codes[0]} 几何图形无效：")


# --------------------------------------------------------------------------------------------
# 3. The cleaner of the repair
# --------------------------------------------------------------------------------------------

STRATEGY = {
    "MERGE_LONGEST_BORDER": "longest_border",
    "MERGE_MIN_AREA": "min_area",
    "MERGE_MAX_AREA": "max_area",
    "MERGE_MIN_INDEX": "min_index",
}
CLEANER_CASES = [c for c in JTS if c["suite"] == "CoverageCleaner"]


def _same_polygon(got: BaseGeometry, expected: BaseGeometry) -> bool:
    if got.is_empty or expected.is_empty:
        return got.is_empty and expected.is_empty
    return bool(shapely.equals(got, expected))


@pytest.mark.parametrize("case", CLEANER_CASES, ids=_case_id)
def test_cleaner_matches_jts_coverage_cleaner(case: dict[str, Any]) -> None:
    if "coverage_collection" in case:
        coverage = _parts(load(case["coverage_collection"]))
    else:
        coverage = [load(w) for w in case["coverage"]]
    cleaned = clean_coverage(
        coverage,
        snapping_distance=case.get("snap_distance", -1),
        gap_width=case.get("gap_width", 0.0),
        merge_strategy=STRATEGY.get(case.get("merge_strategy", ""), "longest_border"),
    )
    if "expected_collection" in case:
        expected = _parts(load(case["expected_collection"]))
    elif "expected" in case:
        expected = [load(w) for w in case["expected"]]
    else:  # upstream checks only that the result is a valid coverage
        assert shapely.coverage_is_valid(cleaned)
        return
    assert len(cleaned) == len(expected)
    for g, e in zip(cleaned, expected, strict=True):
        assert _same_polygon(g, e), (g, e)


@pytest.mark.parametrize("case", SHAPELY_CLEAN, ids=_case_id)
def test_cleaner_matches_shapely_coverage_clean_cases(case: dict[str, Any]) -> None:
    args = dict(case["args"])
    cleaned = clean_coverage(
        [load(w) for w in case["coverage"]],
        snapping_distance=args.get("snapping_distance", -1),
        gap_width=args.get("gap_width", 0.0),
        merge_strategy=args.get("merge_strategy", "longest_border"),
    )
    expected = [load(w) for w in case["expected_normalized"]]
    for g, e in zip(cleaned, expected, strict=True):
        assert shapely.equals_exact(shapely.normalize(g), e, tolerance=0), (g, e)


def test_polygon_types_round_trip_through_the_map_projection() -> None:
    """The placement keeps shapes: a 10×10 unit square is 100 m a side on the map."""
    square = _on_the_map(Polygon([(0, 0), (10, 0), (10, 10), (0, 10)]))
    area, perimeter = Geod(ellps="WGS84").geometry_area_perimeter(square)
    assert abs(area) == pytest.approx(10_000, rel=0.002)
    assert perimeter == pytest.approx(400, rel=0.001)
