"""Draft → split A1 by a line → validate → diff → publish → re-assignment, with known answers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

import shapely
from shapely.geometry import LineString, box

from layers.errors import Conflict, InvalidGeometry, InvalidInput
from layers.grids import plans
from layers.grids.diff import plan_diff
from layers.grids.split import split_by_line
from layers.models import Grid, GridCode, GridLineage, GridStaff
from tests.fixtures.plans import SPLIT_LON, PlanWorld, build_plan_world, principal, split_line
from tests.fixtures.world import COMMUNITY_A, GRID_A1, GRID_A2, World

EFFECTIVE = datetime(2026, 6, 1, tzinfo=UTC)
WEST = COMMUNITY_A + "003"  # new codes: next after 002, in reading order (west first)
EAST = COMMUNITY_A + "004"


@pytest.fixture
def pw(db: Session, world: World) -> PlanWorld:
    return build_plan_world(db, world)


def _area(db: Session, wkt: str) -> float:
    return float(
        db.execute(
            text("SELECT ST_Area(ST_GeomFromText(:w, 4326)::geography)"), {"w": wkt}
        ).scalar_one()
    )


def _split_a1(db: Session, world: World) -> int:
    planner = principal(db, world, "t_planner")
    ctx = plans.create_plan(db, principal=planner, scope_code=COMMUNITY_A, name="拆分1001")
    split_by_line(
        db,
        principal=planner,
        plan_id=ctx.plan.id,
        key=GRID_A1,
        line=split_line(),
        expected_version=1,
    )
    return ctx.plan.id


def test_split_by_line_gives_two_exact_halves(db: Session, world: World) -> None:
    planner = principal(db, world, "t_planner")
    ctx = plans.create_plan(db, principal=planner, scope_code=COMMUNITY_A, name="拆分")
    edit = split_by_line(db, principal=planner, plan_id=ctx.plan.id, key=GRID_A1, line=split_line())
    assert edit.op == "split"
    assert edit.sources == [(GRID_A1, 1)]
    assert [p.key for p in edit.parts] == ["new-1-1", "new-1-2"]
    assert [p.name for p in edit.parts] == ["测试网格1001-1", "测试网格1001-2"]
    half = _area(db, box(117.000, 36.600, SPLIT_LON, 36.610).wkt)
    assert half == pytest.approx(_area(db, box(117.000, 36.600, 117.005, 36.610).wkt) / 2)
    for part in edit.parts:
        assert part.area_m2 == pytest.approx(half, rel=1e-9)
    rows = db.execute(
        text(
            "SELECT p.key, ST_AsBinary(p.geom) AS wkb FROM grid_plan_parts AS p "
            "JOIN grid_plan_edits AS e ON e.id = p.edit_id WHERE e.plan_id = :id ORDER BY p.key"
        ),
        {"id": ctx.plan.id},
    ).all()
    west, east = (shapely.from_wkb(bytes(r.wkb)) for r in rows)
    assert west.normalize().equals_exact(
        shapely.MultiPolygon([box(117.000, 36.600, SPLIT_LON, 36.610)]).normalize(), 1e-12
    )
    assert east.normalize().equals_exact(
        shapely.MultiPolygon([box(SPLIT_LON, 36.600, 117.005, 36.610)]).normalize(), 1e-12
    )
    # nothing in the published map changed
    assert db.scalar(select(Grid.valid_to).where(Grid.id == world.grids[GRID_A1])) is None


@pytest.mark.parametrize(
    "line",
    [
        LineString([(117.0025, 36.599), (117.0025, 36.605)]),  # stops inside the grid
        LineString([(117.006, 36.599), (117.006, 36.611)]),  # crosses A2, not A1
        LineString([(117.000, 36.599), (117.000, 36.611)]),  # runs along the west edge
    ],
)
def test_a_line_that_does_not_cross_the_grid_is_refused(
    db: Session, world: World, line: LineString
) -> None:
    planner = principal(db, world, "t_planner")
    ctx = plans.create_plan(db, principal=planner, scope_code=COMMUNITY_A, name="拆分")
    with pytest.raises(InvalidGeometry) as err:
        split_by_line(db, principal=planner, plan_id=ctx.plan.id, key=GRID_A1, line=line)
    assert err.value.field == "geometry"
    assert "does not cross grid 370199001001001" in err.value.message_en
    assert "没有穿过网格" in err.value.message_zh


def test_a_sliver_is_refused(db: Session, world: World) -> None:
    planner = principal(db, world, "t_planner")
    ctx = plans.create_plan(db, principal=planner, scope_code=COMMUNITY_A, name="拆分")
    line = LineString([(117.000001, 36.599), (117.000001, 36.611)])  # 0.09 m from the edge
    with pytest.raises(InvalidInput) as err:
        split_by_line(db, principal=planner, plan_id=ctx.plan.id, key=GRID_A1, line=line)
    assert err.value.field == "geometry"
    assert "sliver" in err.value.message_en


def test_diff_of_the_split_counts_every_row(db: Session, world: World, pw: PlanWorld) -> None:
    plan_id = _split_a1(db, world)
    diff = plan_diff(db, principal=principal(db, world, "t_planner"), plan_id=plan_id)
    assert diff.codes_created == [WEST, EAST]
    assert diff.codes_retired == [GRID_A1]
    assert diff.codes_kept == []
    assert diff.stale == []
    by_code = {g.code: g for g in diff.grids}
    assert list(by_code) == [GRID_A1, WEST, EAST]
    a1, west, east = by_code[GRID_A1], by_code[WEST], by_code[EAST]
    assert (a1.change, west.change, east.change) == ("retired", "created", "created")
    # A1 before: buildings 1, W1, W2, E1, E2; households 1+2+1+3; persons 1+3+2+4;
    # the school; open incidents a1, inc-w, inc-e (inc-x is closed).
    assert a1.before is not None and a1.after is None
    assert vars(a1.before) == {
        "buildings": 5,
        "households": 7,
        "persons": 10,
        "places": 1,
        "open_incidents": 3,
    }
    # West: building 1 (on the line; the smaller new code wins), W1, W2, incidents a1, inc-w.
    assert west.after is not None and vars(west.after) == {
        "buildings": 3,
        "households": 4,
        "persons": 6,
        "places": 0,
        "open_incidents": 2,
    }
    assert east.after is not None and vars(east.after) == {
        "buildings": 2,
        "households": 3,
        "persons": 4,
        "places": 1,
        "open_incidents": 1,
    }
    moves = {(m.layer, m.from_code, m.to_code): m.count for m in diff.moves}
    assert moves == {
        ("buildings", GRID_A1, WEST): 3,
        ("buildings", GRID_A1, EAST): 2,
        ("households", GRID_A1, WEST): 4,
        ("households", GRID_A1, EAST): 3,
        ("persons", GRID_A1, WEST): 6,
        ("persons", GRID_A1, EAST): 4,
        ("places", GRID_A1, EAST): 1,
        ("open_incidents", GRID_A1, WEST): 2,
        ("open_incidents", GRID_A1, EAST): 1,
    }
    # scattered: 120–160 households; 4 households are 116 short of the minimum
    assert west.deviation is not None
    assert (west.deviation.status, west.deviation.deviation) == ("below", -116)


def test_publish_closes_a1_and_files_everything_under_the_halves(
    db: Session, world: World, pw: PlanWorld
) -> None:
    plan_id = _split_a1(db, world)
    planner = principal(db, world, "t_planner")
    assert plans.validate_plan(db, principal=planner, plan_id=plan_id).ok
    result = plans.publish_plan(db, principal=planner, plan_id=plan_id, effective_at=EFFECTIVE)

    assert result.codes_issued == [WEST, EAST]
    assert result.codes_retired == [GRID_A1]
    assert result.closed == [(GRID_A1, 1)]
    assert [(g.code, g.version, g.name) for g in result.created] == [
        (WEST, 1, "测试网格1001-1"),
        (EAST, 1, "测试网格1001-2"),
    ]
    old = db.get(Grid, world.grids[GRID_A1])
    assert old is not None
    db.refresh(old)
    assert old.valid_to == EFFECTIVE
    new = {g.code: db.get(Grid, g.id) for g in result.created}
    assert all(
        g is not None and g.valid_from == EFFECTIVE and g.valid_to is None for g in new.values()
    )
    assert db.get(GridCode, GRID_A1).retired_at == EFFECTIVE  # type: ignore[union-attr]
    assert db.get(GridCode, WEST).retired_at is None  # type: ignore[union-attr]
    lineage = db.execute(
        select(GridLineage.grid_id, GridLineage.source_grid_id, GridLineage.relation)
    ).all()
    ids = {g.code: g.id for g in result.created}
    assert sorted(lineage) == sorted(
        [
            (ids[WEST], world.grids[GRID_A1], "split"),
            (ids[EAST], world.grids[GRID_A1], "split"),
        ]
    )
    # re-assignment: buildings, places, incidents moved; persons follow through buildings
    grid_of = dict(
        db.execute(text("SELECT code, grid_id FROM buildings WHERE code LIKE 'T-%'")).all()
    )
    assert grid_of == {
        "T-1": ids[WEST],
        "T-P-W1": ids[WEST],
        "T-P-W2": ids[WEST],
        "T-P-E1": ids[EAST],
        "T-P-E2": ids[EAST],
        "T-2": world.grids[GRID_A2],
        "T-3": world.grids["370199001002001"],
        "T-4": world.grids["370199001002002"],
    }
    incidents = dict(
        db.execute(text("SELECT code, grid_id FROM incidents WHERE code LIKE 'T-INC-%'")).all()
    )
    assert incidents["T-INC-a1"] == ids[WEST]
    assert incidents["T-INC-P-inc-w"] == ids[WEST]
    assert incidents["T-INC-P-inc-e"] == ids[EAST]
    assert incidents["T-INC-P-inc-x"] == ids[EAST]
    school = db.execute(
        text("SELECT grid_id FROM places WHERE id = :id"), {"id": world.places["school"]}
    ).scalar_one()
    assert school == ids[EAST]
    zhang = db.execute(
        text(
            "SELECT b.grid_id FROM persons p JOIN households hh ON hh.id = p.household_id "
            "JOIN houses h ON h.id = hh.house_id JOIN buildings b ON b.id = h.building_id "
            "WHERE p.id = :id"
        ),
        {"id": world.persons["张三"]},
    ).scalar_one()
    assert zhang == ids[WEST]
    assert result.reassigned == {"buildings": 5, "places": 1, "incidents": 4}
    # staff of the retired code went to both halves (the leader leads both)
    staff = db.execute(
        select(GridStaff.grid_code, GridStaff.duty).where(
            GridStaff.grid_code.like(COMMUNITY_A + "%")
        )
    ).all()
    assert sorted(staff) == [(WEST, "leader"), (EAST, "leader")]
    # 四至 regenerated for the halves and for A2, whose west neighbour is now the east half
    assert new[WEST] is not None and new[WEST].sizhi == (
        "东至测试网格1001-2，南至社区边界，西至社区边界，北至社区边界"
    )
    a2 = db.get(Grid, world.grids[GRID_A2])
    assert a2 is not None
    db.refresh(a2)
    assert a2.sizhi == "东至测试路，南至社区边界，西至测试网格1001-2，北至社区边界"
    plan = plans.get_plan(db, principal=planner, plan_id=plan_id)
    assert plan.status == "published"
    assert plan.effective_at == EFFECTIVE


def test_publish_twice_is_refused(db: Session, world: World, pw: PlanWorld) -> None:
    plan_id = _split_a1(db, world)
    planner = principal(db, world, "t_planner")
    plans.publish_plan(db, principal=planner, plan_id=plan_id, effective_at=EFFECTIVE)
    with pytest.raises(Conflict) as err:
        plans.publish_plan(db, principal=planner, plan_id=plan_id, effective_at=EFFECTIVE)
    assert err.value.field == "id"
