"""Coverage validation finds every seeded problem, with the right size, and nothing else."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Integer, LargeBinary, String, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

import shapely
from geoalchemy2.shape import from_shape
from pyproj import Geod
from shapely.geometry import LineString, MultiPolygon, Polygon, box, shape

from layers.errors import InvalidInput, NotFound
from layers.grids.coverage import CoverageReport, validate_coverage
from layers.models import Grid, GridCode
from tests.fixtures.coverage import (
    COMMUNITY_C,
    D1,
    GAP_G5_G6,
    GAP_HOLE_G6,
    LEAK_G3,
    OVERLAP_G2_G3,
    OVERLAP_G2_G5,
    STREET_2,
    STREET_GAP,
    CoverageWorld,
    G,
    build_coverage_world,
    geodesic_area,
)
from tests.fixtures.world import (
    COMMUNITY_A,
    COMMUNITY_B,
    GRID_A1,
    GRID_A2,
    GRID_B1,
    GRID_B2,
    STREET_CODE,
    World,
)

GEOD = Geod(ellps="WGS84")

# The problems seeded into community C, as (severity, kind, codes).
SEEDED = {
    ("error", "overlap", (G[2], G[3])),
    ("error", "gap", ()),
    ("error", "leak", (G[3],)),
    ("sliver", "overlap", (G[2], G[5])),
    ("sliver", "gap", ()),
    ("warning", "unmatched_edge", (G[1],)),
    ("warning", "unmatched_edge", (G[2],)),
    ("warning", "multipart", (G[4],)),
    ("warning", "no_building", (G[6],)),
    ("warning", "straddling_building", (G[1], G[2])),
}


@pytest.fixture
def cw(db: Session, world: World) -> CoverageWorld:
    """The world plus street 2 with the seeded community C and the clean community D."""
    return build_coverage_world(db, world)


def _keys(report: CoverageReport) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(p.severity, p.kind, p.codes) for p in report.problems]


def _one(report: CoverageReport, severity: str, kind: str, codes: tuple[str, ...] = ()) -> Any:
    found = [p for p in report.problems if (p.severity, p.kind, p.codes) == (severity, kind, codes)]
    assert len(found) == 1, (severity, kind, codes, _keys(report))
    return found[0]


def _geodesic_length(line: LineString) -> float:
    return GEOD.geometry_length(line)


def test_seeded_community_every_problem_found_and_nothing_else(db: Session, cw: CoverageWorld):
    report = validate_coverage(db, parent_code=COMMUNITY_C)

    assert sorted(_keys(report)) == sorted(SEEDED)
    assert report.grid_count == 6 and report.community_count == 1
    assert not report.valid
    assert all(p.level == "grid" and p.parent_code == COMMUNITY_C for p in report.problems)

    expected_areas = {
        ("error", "overlap", (G[2], G[3])): OVERLAP_G2_G3,
        ("error", "gap", ()): GAP_HOLE_G6,
        ("error", "leak", (G[3],)): LEAK_G3,
        ("sliver", "overlap", (G[2], G[5])): OVERLAP_G2_G5,
        ("sliver", "gap", ()): GAP_G5_G6,
    }
    for key, piece in expected_areas.items():
        problem = _one(report, *key)
        assert problem.area_m2 == pytest.approx(geodesic_area(piece), rel=0.01), key
        # the geometry is the seeded piece itself (to the 7 decimals of GeoJSON, about 1 cm)
        assert shape(problem.geometry).hausdorff_distance(piece) < 1e-7, key

    # widths: the slivers are 0.1 m wide, the overlap 0.0002° of longitude, the hole 0.0005°
    assert _one(report, "sliver", "gap").width_m == pytest.approx(0.1, rel=0.05)
    assert _one(report, "sliver", "overlap", (G[2], G[5])).width_m == pytest.approx(0.1, rel=0.05)
    assert _one(report, "error", "overlap", (G[2], G[3])).width_m == pytest.approx(17.89, rel=0.01)
    assert _one(report, "error", "leak", (G[3],)).width_m == pytest.approx(8.94, rel=0.01)
    assert _one(report, "error", "gap").width_m == pytest.approx(44.7, rel=0.01)

    # the edge G1 and G2 share, where only G1 has a vertex at 36.602
    shared_edge = LineString([(117.103, 36.600), (117.103, 36.603)])
    for code in (G[1], G[2]):
        edge = _one(report, "warning", "unmatched_edge", (code,))
        assert edge.length_m == pytest.approx(_geodesic_length(shared_edge), rel=0.01)
        assert shape(edge.geometry).hausdorff_distance(shared_edge) < 1e-9

    multipart = _one(report, "warning", "multipart", (G[4],))
    assert multipart.detail["parts"] == 2
    straddle = _one(report, "warning", "straddling_building", (G[1], G[2]))
    assert straddle.detail["building_code"] == "CV-X"
    assert [round(a / straddle.area_m2, 2) for a in straddle.detail["part_areas_m2"]] == [0.5, 0.5]

    summary = report.to_summary()
    assert summary["counts"] == {"error": 3, "sliver": 2, "warning": 5}
    assert summary["by_kind"] == {
        "overlap": 2,
        "gap": 2,
        "leak": 1,
        "unmatched_edge": 2,
        "multipart": 1,
        "no_building": 1,
        "straddling_building": 1,
    }
    assert summary["valid"] is False
    assert (
        summary["message_zh"] == "春风社区的 6 个网格中发现 3 处错误、2 处细小缝隙或重叠、5 条提示"
    )


def test_problems_come_ordered_errors_first_with_messages_in_both_languages(
    db: Session, cw: CoverageWorld
):
    report = validate_coverage(db, parent_code=COMMUNITY_C)
    severities = [p.severity for p in report.problems]
    assert severities == sorted(severities, key=["error", "sliver", "warning"].index)
    overlap = _one(report, "error", "overlap", (G[2], G[3]))
    area = f"{overlap.area_m2:.1f}"
    assert overlap.message_en == f"The grids {G[2]} and {G[3]} overlap by {area} m²"
    assert overlap.message_zh == f"网格 {G[2]} 与 {G[3]} 交叉重叠 {area} 平方米"
    gap = _one(report, "sliver", "gap")
    assert gap.message_zh.startswith("春风社区有 ") and "细长碎片，宽约 0.10 米" in gap.message_zh
    assert _one(report, "warning", "no_building", (G[6],)).message_zh == f"网格 {G[6]} 内没有建筑"


def test_street_validates_communities_against_the_street_too(db: Session, cw: CoverageWorld):
    report = validate_coverage(db, parent_code=STREET_2)

    street_gap = ("error", "gap", ())
    keys = _keys(report)
    assert sorted(keys) == sorted([*SEEDED, street_gap])
    community_level = [p for p in report.problems if p.level == "community"]
    assert len(community_level) == 1
    gap = community_level[0]
    assert gap.parent_code == STREET_2
    assert gap.area_m2 == pytest.approx(geodesic_area(STREET_GAP), rel=0.01)
    assert gap.message_zh.startswith("测试二街道有 ") and "未被任何社区覆盖" in gap.message_zh
    assert report.grid_count == 7 and report.community_count == 2
    # D1 is clean: no problem names it
    assert not [p for p in report.problems if D1 in p.codes]


def test_clean_world_community_has_no_problem(db: Session, world: World):
    for community in (COMMUNITY_A, COMMUNITY_B):
        report = validate_coverage(db, parent_code=community)
        assert report.problems == []
        assert report.valid
        assert report.to_summary()["message_zh"].endswith("无空白、无交叉重叠")


def test_world_street_reports_only_the_t_junction_on_the_community_border(
    db: Session, world: World
):
    """A2's east edge has no vertex where B1 and B2 meet (117.010, 36.605)."""
    report = validate_coverage(db, parent_code=STREET_CODE)
    assert _keys(report) == [
        ("warning", "unmatched_edge", (GRID_A2,)),
        ("warning", "unmatched_edge", (GRID_B1,)),
        ("warning", "unmatched_edge", (GRID_B2,)),
    ]
    assert report.valid  # warnings only
    lengths = [p.length_m for p in report.problems]
    whole = _geodesic_length(LineString([(117.010, 36.600), (117.010, 36.610)]))
    half = _geodesic_length(LineString([(117.010, 36.600), (117.010, 36.605)]))
    assert lengths == pytest.approx([whole, half, half], rel=0.001)


def test_tolerance_decides_what_is_a_sliver(db: Session, cw: CoverageWorld):
    strict = validate_coverage(db, parent_code=COMMUNITY_C, tolerance_m=0)
    assert strict.count(severity="sliver") == 0
    assert strict.count(kind="overlap", severity="error") == 2
    assert strict.count(kind="gap", severity="error") == 2

    loose = validate_coverage(db, parent_code=COMMUNITY_C, tolerance_m=20)
    # 17.9 m overlap and 8.9 m leak are now slivers; the 44.7 m hole stays an error
    assert sorted(_keys(loose)) == sorted(
        {
            ("sliver", "overlap", (G[2], G[3])),
            ("error", "gap", ()),
            ("sliver", "leak", (G[3],)),
            ("sliver", "overlap", (G[2], G[5])),
            ("sliver", "gap", ()),
        }
        | {k for k in SEEDED if k[0] == "warning"}
    )


def _grid_set(rows: list[tuple[int, str, Any]]) -> Any:
    """A select of (id, code, geom) from literal geometries (SRID 4326), like a draft plan."""
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


def test_custom_grid_set_reports_invalid_geometries_with_reason_and_location(
    db: Session, world: World
):
    """A draft set may hold what the grids table refuses: invalid, empty, non-polygonal."""
    a1, a2 = box(117.000, 36.600, 117.005, 36.610), box(117.005, 36.600, 117.010, 36.610)
    bowtie = Polygon([(117.005, 36.600), (117.010, 36.610), (117.010, 36.600), (117.005, 36.610)])
    rows = [
        (1, GRID_A1, a1),
        (2, GRID_A2, bowtie),
        (3, COMMUNITY_A + "003", Polygon()),
        (4, COMMUNITY_A + "004", LineString([(117.001, 36.601), (117.002, 36.602)])),
        (5, COMMUNITY_A + "005", None),
    ]
    report = validate_coverage(db, parent_code=COMMUNITY_A, grids=_grid_set(rows))
    invalid = {p.codes[0]: p for p in report.problems if p.kind == "invalid_geometry"}
    assert set(invalid) == {GRID_A2, COMMUNITY_A + "003", COMMUNITY_A + "004", COMMUNITY_A + "005"}
    assert invalid[GRID_A2].detail["reason"] == "Self-intersection"
    assert invalid[GRID_A2].detail["location"] == pytest.approx([117.0075, 36.605])
    assert invalid[GRID_A2].message_zh == (
        f"网格 {GRID_A2} 几何图形无效：自相交，位置 117.0075000,36.6050000"
    )
    assert invalid[COMMUNITY_A + "003"].detail["reason"] == "Empty geometry"
    assert invalid[COMMUNITY_A + "004"].detail["reason"] == "Not polygonal"
    assert invalid[COMMUNITY_A + "005"].detail["reason"] == "Missing geometry"
    # the bowtie was made valid for the other checks: its two triangles leave two gaps
    gaps = [p for p in report.problems if p.kind == "gap"]
    assert len(gaps) == 2
    assert sum(p.area_m2 for p in gaps) == pytest.approx(geodesic_area(a2) / 2, rel=0.01)
    assert not [p for p in report.problems if p.kind == "multipart"]  # not for an invalid grid


def test_custom_set_duplicate_codes_and_draft_keys(db: Session, world: World):
    a1, a2 = box(117.000, 36.600, 117.005, 36.610), box(117.005, 36.600, 117.010, 36.610)
    rows = [(1, GRID_A1, a1), (-1, "new-1", a2), (-2, "new-1", a2)]
    report = validate_coverage(db, parent_code=COMMUNITY_A, grids=_grid_set(rows))
    assert _keys(report) == [
        ("error", "duplicate_code", ("new-1",)),
        ("error", "overlap", ("new-1", "new-1")),
    ]
    assert report.problems[1].area_m2 == pytest.approx(geodesic_area(a2), rel=0.01)


def test_street_set_places_draft_grids_by_position(db: Session, world: World):
    """A grid whose key names no community goes to the one holding its point-on-surface."""
    rows = [
        (1, GRID_A1, box(117.000, 36.600, 117.005, 36.610)),
        (-1, "new-1", box(117.005, 36.600, 117.010, 36.610)),
        (3, GRID_B1, box(117.010, 36.605, 117.020, 36.610)),
        (4, GRID_B2, box(117.010, 36.600, 117.020, 36.605)),
        (-2, "new-2", box(117.050, 36.600, 117.060, 36.610)),  # outside the street
    ]
    report = validate_coverage(db, parent_code=STREET_CODE, grids=_grid_set(rows))
    assert [k for k in _keys(report) if k[0] != "warning"] == [
        ("error", "outside_parent", ("new-2",))
    ]
    # "new-1" was checked against community A: no gap in A
    assert not [p for p in report.problems if p.kind == "gap"]


def test_micro_grids_and_closed_versions_are_not_part_of_the_coverage(db: Session, world: World):
    community_a = world.units[COMMUNITY_A]
    db.add(GridCode(code=COMMUNITY_A + "101", community_id=community_a))
    db.flush()
    db.add(
        Grid(
            code=COMMUNITY_A + "101",
            name="微网格",
            kind="micro",
            parent_grid_code=GRID_A1,
            community_id=community_a,
            geom=from_shape(MultiPolygon([box(117.001, 36.601, 117.002, 36.602)]), 4326),
        )
    )
    # an old version of A1 that covered A2 as well
    db.execute(
        update(Grid)
        .where(Grid.code == GRID_A1)
        .values(version=2, valid_from=datetime(2026, 2, 1, tzinfo=UTC))
    )
    db.add(
        Grid(
            code=GRID_A1,
            version=1,
            name="旧版本",
            community_id=community_a,
            geom=from_shape(MultiPolygon([box(117.000, 36.600, 117.010, 36.610)]), 4326),
            valid_from=datetime(2025, 1, 1, tzinfo=UTC),
            valid_to=datetime(2026, 2, 1, tzinfo=UTC),
        )
    )
    db.flush()
    assert validate_coverage(db, parent_code=COMMUNITY_A).problems == []


def test_report_as_geojson_for_a_map_overlay(db: Session, cw: CoverageWorld):
    report = validate_coverage(db, parent_code=COMMUNITY_C)
    collection = report.to_geojson()
    assert collection["type"] == "FeatureCollection"
    assert collection["summary"] == report.to_summary()
    assert [f["id"] for f in collection["features"]] == list(range(1, len(SEEDED) + 1))
    kinds = {f["properties"]["kind"]: f["geometry"]["type"] for f in collection["features"]}
    assert kinds == {
        "overlap": "Polygon",
        "gap": "Polygon",
        "leak": "Polygon",
        "unmatched_edge": "LineString",
        "multipart": "MultiPolygon",
        "no_building": "MultiPolygon",
        "straddling_building": "Polygon",
    }
    for feature in collection["features"]:
        props = feature["properties"]
        assert set(props) == {
            "kind",
            "severity",
            "codes",
            "level",
            "parent_code",
            "area_m2",
            "length_m",
            "width_m",
            "message_en",
            "message_zh",
            "detail",
        }
        geom = shape(feature["geometry"])
        assert geom.is_valid and not geom.is_empty
        for polygon in getattr(geom, "geoms", [geom]):
            if isinstance(polygon, Polygon):
                assert polygon.exterior.is_ccw  # RFC 7946 right-hand rule


@pytest.mark.parametrize(
    ("parent", "tolerance", "error", "field"),
    [
        ("37019900200", 0.5, InvalidInput, "parent"),
        ("37019900200x", 0.5, InvalidInput, "parent"),
        ("370199000000", 0.5, InvalidInput, "parent"),  # a district
        ("370199009999", 0.5, NotFound, "parent"),
        ("370199002001", -1.0, InvalidInput, "tolerance_m"),
        ("370199002001", float("nan"), InvalidInput, "tolerance_m"),
        ("370199002001", 51.0, InvalidInput, "tolerance_m"),
    ],
)
def test_bad_parent_or_tolerance_is_refused_with_field(
    db: Session, cw: CoverageWorld, parent: str, tolerance: float, error: type, field: str
):
    with pytest.raises(error) as caught:
        validate_coverage(db, parent_code=parent, tolerance_m=tolerance)
    assert caught.value.field == field
    assert caught.value.message_en and caught.value.message_zh


def test_validation_leaves_no_temporary_table_behind(db: Session, cw: CoverageWorld):
    validate_coverage(db, parent_code=COMMUNITY_C)
    validate_coverage(db, parent_code=STREET_2)  # twice in one transaction works
    names = db.scalars(text("SELECT relname FROM pg_class WHERE relname LIKE 'wangge_cov%'")).all()
    assert names == []
