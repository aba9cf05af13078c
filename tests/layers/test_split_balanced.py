"""Balanced split of A1: no building or compound cut, contiguous parts tiling the grid, households
balanced, named roads preferred as borders."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

import shapely
from shapely.geometry import LineString, MultiPoint, box

from layers.errors import InvalidInput
from layers.grids import plans
from layers.grids.balance import split_balanced
from tests.fixtures.plans import add_building, add_road, principal
from tests.fixtures.world import COMMUNITY_A, GRID_A1, World

# A 4 × 4 lattice of buildings in A1, clear of the world's building 1 (centred 117.0025, 36.605).
XS = (117.0008, 117.0018, 117.0032, 117.0042)
YS = (36.6015, 36.6035, 36.6068, 36.6088)
HOUSEHOLDS = 18  # per lattice building: 16 × 18 + 1 (world building 1) = 289


def _lattice(
    db: Session, households: int = HOUSEHOLDS, compound: dict[str, str] | None = None
) -> None:
    for i, x in enumerate(XS):
        for j, y in enumerate(YS):
            key = f"L{i}{j}"
            add_building(
                db,
                key,
                (x, y),
                (0,) * households,
                compound=(compound or {}).get(key),
            )


def _split(db: Session, world: World, k: int | None) -> tuple[int, Any]:
    planner = principal(db, world, "t_planner")
    plan_id = plans.create_plan(db, principal=planner, scope_code=COMMUNITY_A, name="均衡").plan.id
    edit = split_balanced(db, principal=planner, plan_id=plan_id, key=GRID_A1, k=k)
    return plan_id, edit


def _parts(db: Session, plan_id: int) -> list[Any]:
    rows = db.execute(
        text(
            "SELECT p.key, ST_AsBinary(p.geom) AS wkb FROM grid_plan_parts p "
            "JOIN grid_plan_edits e ON e.id = p.edit_id WHERE e.plan_id = :id ORDER BY p.key"
        ),
        {"id": plan_id},
    ).all()
    return [shapely.from_wkb(bytes(r.wkb)) for r in rows]


def _assert_tiles_a1_without_cutting_buildings(db: Session, plan_id: int, k: int) -> None:
    parts = _parts(db, plan_id)
    assert len(parts) == k
    assert all(len(p.geoms) == 1 for p in parts)  # contiguous
    checks = db.execute(
        text(
            """
WITH p AS (SELECT p.geom FROM grid_plan_parts p JOIN grid_plan_edits e ON e.id = p.edit_id
           WHERE e.plan_id = :id),
a1 AS (SELECT geom FROM grids WHERE code = :a1 AND valid_to IS NULL)
SELECT ST_Equals((SELECT ST_Union(geom) FROM p), a1.geom) AS tiles,
       abs((SELECT sum(ST_Area(geom)) FROM p) - ST_Area(a1.geom)) < 1e-12 AS no_overlap,
       (SELECT count(*) FROM p, buildings b
        WHERE ST_Relate(ST_Difference(ST_Boundary(p.geom), ST_Boundary(a1.geom)), b.geom,
                        'T********')) AS buildings_cut
FROM a1
"""
        ),
        {"id": plan_id, "a1": GRID_A1},
    ).one()
    assert checks.tiles and checks.no_overlap
    assert checks.buildings_cut == 0


def test_two_parts_within_the_sizing_range(db: Session, world: World) -> None:
    _lattice(db)
    plan_id, edit = _split(db, world, None)  # k from the target: ceil(289 / 160) = 2
    assert edit.params["k"] == 2
    _assert_tiles_a1_without_cutting_buildings(db, plan_id, 2)
    households = [p["households"] for p in edit.params["parts"]]
    assert sum(households) == 16 * HOUSEHOLDS + 1
    # the best cut leaves the world's single-household building on one side: 145 / 144
    assert sorted(households) == [144, 145]
    assert all(120 <= h <= 160 for h in households)  # scattered: 120–160
    assert [p["deviation"] for p in edit.params["parts"]] == [0, 0]
    assert edit.params["roads"] == [None]
    assert plans.validate_plan(db, principal=principal(db, world, "t_planner"), plan_id=plan_id).ok


def test_three_and_four_parts_stay_balanced(db: Session, world: World) -> None:
    _lattice(db)
    for k in (3, 4):
        plan_id, edit = _split(db, world, k)
        _assert_tiles_a1_without_cutting_buildings(db, plan_id, k)
        households = [p["households"] for p in edit.params["parts"]]
        assert sum(households) == 289
        # within one building's households of an even share
        assert max(abs(h - 289 / k) for h in households) <= HOUSEHOLDS + 1, households


def test_a_named_road_is_preferred_as_the_border(db: Session, world: World) -> None:
    _lattice(db)
    # 测试中路 runs west–east through A1 between the southern and northern rows
    add_road(db, "测试中路", [(116.999, 36.6058), (117.006, 36.6058)])
    plan_id, edit = _split(db, world, 2)
    assert edit.params["roads"] == ["测试中路"]
    _assert_tiles_a1_without_cutting_buildings(db, plan_id, 2)
    south, north = sorted(_parts(db, plan_id), key=lambda p: p.centroid.y)
    assert south.equals(shapely.MultiPolygon([box(117.000, 36.600, 117.005, 36.6058)]))
    assert north.equals(shapely.MultiPolygon([box(117.000, 36.6058, 117.005, 36.610)]))
    # the road's split: south holds 8 buildings + building 1, north 8 buildings
    assert sorted(p["households"] for p in edit.params["parts"]) == [144, 145]


def test_a_compound_is_never_cut(db: Session, world: World) -> None:
    # the two southern rows form one compound spanning the grid's width, so no vertical cut
    # may pass between their columns
    compound = {f"L{i}{j}": "幸福小区" for i in range(4) for j in (0, 1)}
    _lattice(db, compound=compound)
    plan_id, _ = _split(db, world, 4)
    _assert_tiles_a1_without_cutting_buildings(db, plan_id, 4)
    hull = (
        MultiPoint([(x, y) for x in XS for y in YS[:2]])
        .buffer(0.0002, cap_style="square")
        .convex_hull
    )
    hits = [p for p in _parts(db, plan_id) if p.intersection(hull).area > 1e-12]
    assert len(hits) == 1  # the whole compound lies in one part


def test_a_grid_filled_by_one_compound_cannot_be_split(db: Session, world: World) -> None:
    # four buildings in A1's corners, one compound: its hull is the whole grid
    corners = [(117.0002, 36.6001), (117.0048, 36.6001), (117.0002, 36.6099), (117.0048, 36.6099)]
    for n, centre in enumerate(corners):
        add_building(db, f"C{n}", centre, (0, 0), compound="大院")
    with pytest.raises(InvalidInput) as err:
        _split(db, world, 2)
    assert err.value.field == "k"
    assert "without crossing a building" in err.value.message_en


def test_k_out_of_range(db: Session, world: World) -> None:
    with pytest.raises(InvalidInput) as err:
        _split(db, world, 13)
    assert err.value.field == "k"


def test_cut_lines_miss_every_footprint(db: Session, world: World) -> None:
    _lattice(db)
    plan_id, _ = _split(db, world, 4)
    footprints = [
        shapely.from_wkb(bytes(r[0]))
        for r in db.execute(text("SELECT ST_AsBinary(geom) FROM buildings WHERE code LIKE 'T-%'"))
    ]
    a1 = box(117.000, 36.600, 117.005, 36.610).boundary
    for part in _parts(db, plan_id):
        cut = part.boundary.difference(a1)
        assert not any(cut.crosses(f) or cut.within(f) for f in footprints)
        assert isinstance(cut, (LineString, shapely.MultiLineString))
