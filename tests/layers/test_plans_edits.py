"""Reshape with neighbour adjustment, merge, retire, create, set attributes, undo, versions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

import shapely
from shapely.geometry import MultiPolygon, box

from layers.errors import Conflict, InvalidGeometry, InvalidInput
from layers.grids import edits, plans
from layers.grids.merge import merge_grids
from layers.grids.split import split_by_line
from layers.models import Grid, GridCode, GridLineage, GridStaff
from tests.fixtures.plans import principal, split_line
from tests.fixtures.world import (
    COMMUNITY_A,
    GRID_A1,
    GRID_A2,
    GRID_B1,
    GRID_B2,
    STREET_CODE,
    World,
)

EFFECTIVE = datetime(2026, 6, 1, tzinfo=UTC)
NEW_A = COMMUNITY_A + "003"


def _plan(db: Session, world: World, scope: str = COMMUNITY_A) -> tuple[Any, int]:
    planner = principal(db, world, "t_planner")
    return planner, plans.create_plan(db, principal=planner, scope_code=scope, name="调整").plan.id


def _draft_geoms(db: Session, world: World, plan_id: int) -> dict[str, Any]:
    """The draft's resulting grid set: key → shapely geometry."""
    ctx = plans.load_plan(db, principal=principal(db, world, "t_admin"), plan_id=plan_id)
    statement = f"SELECT d.key, ST_AsBinary(d.geom) AS wkb FROM ({plans.DRAFT_SET_SQL}) AS d"  # noqa: S608
    rows = db.execute(text(statement), ctx.draft_params).all()
    return {r.key: shapely.from_wkb(bytes(r.wkb)) for r in rows}


def _same_shape(a: Any, bounds: tuple[float, float, float, float]) -> bool:
    """Topologically equal (the same point set; kept vertices on straight edges allowed)."""
    return bool(a.equals(MultiPolygon([box(*bounds)])))


def _area(db: Session, bounds: tuple[float, float, float, float]) -> float:
    return float(
        db.execute(
            text("SELECT ST_Area(ST_MakeEnvelope(:a, :b, :c, :d, 4326)::geography)"),
            dict(zip("abcd", bounds, strict=True)),
        ).scalar_one()
    )


# ---------------------------------------------------------------------------------------------
# Reshape
# ---------------------------------------------------------------------------------------------


def test_moving_the_a1_a2_border_east_shrinks_a2_by_the_same_strip(
    db: Session, world: World
) -> None:
    planner, plan_id = _plan(db, world)
    edit = edits.reshape_grid(
        db,
        principal=planner,
        plan_id=plan_id,
        key=GRID_A1,
        shape=box(117.000, 36.600, 117.006, 36.610),
        expected_versions={GRID_A1: 1},
    )
    assert edit.op == "reshape"
    assert edit.sources == [(GRID_A1, 1), (GRID_A2, 1)]
    areas = {p.key: p.area_m2 for p in edit.parts}
    assert areas[GRID_A1] == pytest.approx(_area(db, (117.000, 36.600, 117.006, 36.610)))
    assert areas[GRID_A2] == pytest.approx(_area(db, (117.006, 36.600, 117.010, 36.610)))
    draft = _draft_geoms(db, world, plan_id)
    assert _same_shape(draft[GRID_A1], (117.000, 36.600, 117.006, 36.610))
    assert _same_shape(draft[GRID_A2], (117.006, 36.600, 117.010, 36.610))
    assert plans.validate_plan(db, principal=planner, plan_id=plan_id).ok

    result = plans.publish_plan(db, principal=planner, plan_id=plan_id, effective_at=EFFECTIVE)
    assert [(g.code, g.version) for g in result.created] == [(GRID_A1, 2), (GRID_A2, 2)]
    assert result.codes_issued == [] and result.codes_retired == []
    ids = {g.code: g.id for g in result.created}
    lineage = db.execute(
        select(GridLineage.grid_id, GridLineage.source_grid_id, GridLineage.relation)
    ).all()
    assert sorted(lineage) == sorted(
        [
            (ids[GRID_A1], world.grids[GRID_A1], "reshape"),
            (ids[GRID_A1], world.grids[GRID_A2], "reshape"),  # took a strip of A2
            (ids[GRID_A2], world.grids[GRID_A2], "reshape"),
        ]
    )
    # staff stay with the code
    assert db.execute(
        select(GridStaff.duty).where(GridStaff.grid_code == GRID_A1)
    ).scalars().all() == ["leader"]


def test_moving_the_border_west_gives_the_released_strip_to_a2(db: Session, world: World) -> None:
    planner, plan_id = _plan(db, world)
    edits.reshape_grid(
        db, principal=planner, plan_id=plan_id, key=GRID_A1, shape=box(117.0, 36.6, 117.004, 36.61)
    )
    draft = _draft_geoms(db, world, plan_id)
    assert _same_shape(draft[GRID_A1], (117.000, 36.600, 117.004, 36.610))
    assert _same_shape(draft[GRID_A2], (117.004, 36.600, 117.010, 36.610))
    assert plans.validate_plan(db, principal=planner, plan_id=plan_id).ok


def test_a_reshape_that_swallows_a2_and_leaks_out_lists_both_conflicts(
    db: Session, world: World
) -> None:
    planner, plan_id = _plan(db, world)
    with pytest.raises(Conflict) as err:
        edits.reshape_grid(
            db,
            principal=planner,
            plan_id=plan_id,
            key=GRID_A1,
            shape=box(117.000, 36.600, 117.0105, 36.610),
        )
    assert err.value.field == "geometry"
    kinds = {(c["kind"], c["grid"]) for c in err.value.extra["conflicts"]}
    assert kinds == {("leak", None), ("swallows", GRID_A2)}
    assert "swallows grid 370199001001002 whole" in err.value.message_en
    assert "吞并了整个网格" in err.value.message_zh
    assert _draft_geoms(db, world, plan_id).keys() == {GRID_A1, GRID_A2, GRID_B1, GRID_B2} - {
        GRID_B1,
        GRID_B2,
    }


def test_a_reshape_cutting_a2_in_two_is_refused(db: Session, world: World) -> None:
    planner, plan_id = _plan(db, world)
    band = box(117.000, 36.600, 117.005, 36.610).union(box(117.005, 36.604, 117.010, 36.606))
    with pytest.raises(Conflict) as err:
        edits.reshape_grid(db, principal=planner, plan_id=plan_id, key=GRID_A1, shape=band)
    assert [(c["kind"], c["grid"]) for c in err.value.extra["conflicts"]] == [("cuts", GRID_A2)]


def test_a_reshape_leaving_a_gap_is_refused(db: Session, world: World) -> None:
    planner, plan_id = _plan(db, world)
    with pytest.raises(Conflict) as err:
        edits.reshape_grid(
            db,
            principal=planner,
            plan_id=plan_id,
            key=GRID_A1,
            shape=box(117.001, 36.6, 117.005, 36.61),
        )
    (conflict,) = err.value.extra["conflicts"]
    assert conflict["kind"] == "gap"
    assert conflict["area_m2"] == pytest.approx(
        _area(db, (117.000, 36.600, 117.001, 36.610)), abs=0.1
    )
    assert conflict["location"][0] == pytest.approx(117.0005, abs=1e-4)


def test_a_reshape_elsewhere_is_refused(db: Session, world: World) -> None:
    planner, plan_id = _plan(db, world)
    with pytest.raises(InvalidGeometry):
        edits.reshape_grid(
            db,
            principal=planner,
            plan_id=plan_id,
            key=GRID_A1,
            shape=box(117.006, 36.6, 117.008, 36.61),
        )


# ---------------------------------------------------------------------------------------------
# Merge, retire, create, attributes
# ---------------------------------------------------------------------------------------------


def test_merge_a1_and_a2_issues_a_new_code_and_retires_both(db: Session, world: World) -> None:
    planner, plan_id = _plan(db, world)
    edit = merge_grids(
        db, principal=planner, plan_id=plan_id, keys=[GRID_A1, GRID_A2], name="东风网格"
    )
    assert edit.sources == [(GRID_A1, 1), (GRID_A2, 1)]
    (part,) = edit.parts
    assert part.name == "东风网格"
    assert part.area_m2 == pytest.approx(_area(db, (117.000, 36.600, 117.010, 36.610)))
    assert _same_shape(
        _draft_geoms(db, world, plan_id)[part.key], (117.000, 36.600, 117.010, 36.610)
    )
    result = plans.publish_plan(db, principal=planner, plan_id=plan_id, effective_at=EFFECTIVE)
    assert [(g.code, g.version) for g in result.created] == [(NEW_A, 1)]
    assert result.codes_retired == [GRID_A1, GRID_A2]
    new_id = result.created[0].id
    relations = db.execute(
        select(GridLineage.source_grid_id, GridLineage.relation).where(
            GridLineage.grid_id == new_id
        )
    ).all()
    assert sorted(relations) == sorted(
        [(world.grids[GRID_A1], "merge"), (world.grids[GRID_A2], "merge")]
    )
    for code in (GRID_A1, GRID_A2):
        assert db.get(GridCode, code).retired_at == EFFECTIVE  # type: ignore[union-attr]
    # the building of A2 and the persons of A1 now sit in the merged grid
    grid_ids = (
        db.execute(text("SELECT DISTINCT grid_id FROM buildings WHERE code IN ('T-1', 'T-2')"))
        .scalars()
        .all()
    )
    assert grid_ids == [new_id]
    # A1's leader leads the merged grid (A1 and A2 are the same size: the smaller code ranks first)
    assert db.execute(
        select(GridStaff.grid_code, GridStaff.duty).where(
            GridStaff.grid_code.like(COMMUNITY_A + "%")
        )
    ).all() == [(NEW_A, "leader")]


def test_merging_grids_that_are_not_adjacent_is_refused(db: Session, world: World) -> None:
    planner, plan_id = _plan(db, world, STREET_CODE)
    with pytest.raises(InvalidInput) as err:
        merge_grids(db, principal=planner, plan_id=plan_id, keys=[GRID_A1, GRID_B2])
    assert err.value.field == "keys"
    assert err.value.extra == {"not_adjacent": [GRID_A1, GRID_B2]}
    assert "Only adjacent grids can be merged" in err.value.message_en
    assert "只能合并相邻的网格" in err.value.message_zh


def test_merging_across_communities_is_refused(db: Session, world: World) -> None:
    planner, plan_id = _plan(db, world, STREET_CODE)
    with pytest.raises(InvalidInput) as err:
        merge_grids(db, principal=planner, plan_id=plan_id, keys=[GRID_A2, GRID_B1])
    assert "different communities" in err.value.message_en


def test_merge_outside_the_plans_area_names_the_missing_grid(db: Session, world: World) -> None:
    planner, plan_id = _plan(db, world)
    with pytest.raises(InvalidInput) as err:
        merge_grids(db, principal=planner, plan_id=plan_id, keys=[GRID_A2, GRID_B1])
    assert err.value.extra == {"keys": [GRID_B1]}


def test_retire_into_a_neighbour(db: Session, world: World) -> None:
    planner, plan_id = _plan(db, world)
    edit = edits.retire_grid(
        db, principal=planner, plan_id=plan_id, key=GRID_A1, absorb_into=GRID_A2
    )
    assert [p.key for p in edit.parts] == [GRID_A2]
    result = plans.publish_plan(db, principal=planner, plan_id=plan_id, effective_at=EFFECTIVE)
    assert [(g.code, g.version) for g in result.created] == [(GRID_A2, 2)]
    assert result.codes_retired == [GRID_A1]
    # A1's leader joins A2 as a worker (A2 keeps its code, it may have its own leader)
    assert db.execute(
        select(GridStaff.grid_code, GridStaff.duty).where(
            GridStaff.grid_code.like(COMMUNITY_A + "%")
        )
    ).all() == [(GRID_A2, "worker")]


def test_retire_without_heir_leaves_a_gap_that_validation_reports(
    db: Session, world: World
) -> None:
    planner, plan_id = _plan(db, world)
    edits.retire_grid(db, principal=planner, plan_id=plan_id, key=GRID_A1)
    validation = plans.validate_plan(db, principal=planner, plan_id=plan_id)
    assert not validation.ok
    assert validation.coverage.count(kind="gap", severity="error") == 1
    with pytest.raises(Conflict):
        plans.publish_plan(db, principal=planner, plan_id=plan_id, effective_at=EFFECTIVE)


def test_create_carves_a_new_grid_out_of_a1_and_a2(db: Session, world: World) -> None:
    planner, plan_id = _plan(db, world)
    edit = edits.create_grid(
        db,
        principal=planner,
        plan_id=plan_id,
        shape=box(117.004, 36.604, 117.006, 36.606),
        name="社区服务中心",
        kind="special",
        sizing_type="special",
    )
    assert edit.sources == [(GRID_A1, 1), (GRID_A2, 1)]
    assert [p.key for p in edit.parts] == ["new-1-1", GRID_A1, GRID_A2]
    draft = _draft_geoms(db, world, plan_id)
    assert draft[GRID_A1].area == pytest.approx(0.005 * 0.010 - 0.001 * 0.002)
    assert plans.validate_plan(db, principal=planner, plan_id=plan_id).ok
    result = plans.publish_plan(db, principal=planner, plan_id=plan_id, effective_at=EFFECTIVE)
    assert [(g.code, g.version) for g in result.created] == [
        (GRID_A1, 2),
        (GRID_A2, 2),
        (NEW_A, 1),
    ]


def test_set_attributes_makes_a_new_version_with_the_same_shape(db: Session, world: World) -> None:
    planner, plan_id = _plan(db, world)
    edits.set_attributes(
        db,
        principal=planner,
        plan_id=plan_id,
        key=GRID_A1,
        name="东风一网格",
        sizing_type="compound",
    )
    result = plans.publish_plan(db, principal=planner, plan_id=plan_id, effective_at=EFFECTIVE)
    (created,) = result.created
    new = db.get(Grid, created.id)
    assert new is not None
    assert (new.code, new.version, new.name, new.sizing_type) == (
        GRID_A1,
        2,
        "东风一网格",
        "compound",
    )
    same = db.execute(
        text(
            "SELECT ST_Equals(a.geom, b.geom) FROM grids a, grids b WHERE a.id = :a AND b.id = :b"
        ),
        {"a": created.id, "b": world.grids[GRID_A1]},
    ).scalar_one()
    assert same


def test_unknown_kind_is_refused(db: Session, world: World) -> None:
    planner, plan_id = _plan(db, world)
    with pytest.raises(InvalidInput) as err:
        edits.set_attributes(db, principal=planner, plan_id=plan_id, key=GRID_A1, kind="huge")
    assert err.value.field == "kind"


# ---------------------------------------------------------------------------------------------
# Undo, chained edits, versions
# ---------------------------------------------------------------------------------------------


def test_undo_restores_the_previous_grid_set(db: Session, world: World) -> None:
    planner, plan_id = _plan(db, world)
    split_by_line(db, principal=planner, plan_id=plan_id, key=GRID_A1, line=split_line())
    assert set(_draft_geoms(db, world, plan_id)) == {"new-1-1", "new-1-2", GRID_A2}
    summary = plans.undo_last_edit(db, principal=planner, plan_id=plan_id)
    assert [e.undone for e in summary.edits] == [True]
    assert set(_draft_geoms(db, world, plan_id)) == {GRID_A1, GRID_A2}
    with pytest.raises(InvalidInput):
        plans.undo_last_edit(db, principal=planner, plan_id=plan_id)


def test_edits_chain_on_draft_parts_and_publish_with_lineage_to_real_versions(
    db: Session, world: World
) -> None:
    planner, plan_id = _plan(db, world)
    split_by_line(db, principal=planner, plan_id=plan_id, key=GRID_A1, line=split_line())
    # merge the east half into A2: chained on a draft part
    merge_grids(db, principal=planner, plan_id=plan_id, keys=["new-1-2", GRID_A2], name="合并")
    assert set(_draft_geoms(db, world, plan_id)) == {"new-1-1", "new-2-1"}
    result = plans.publish_plan(db, principal=planner, plan_id=plan_id, effective_at=EFFECTIVE)
    assert [(g.code, g.name) for g in result.created] == [
        (COMMUNITY_A + "003", "测试网格1001-1"),
        (COMMUNITY_A + "004", "合并"),
    ]
    assert result.codes_retired == [GRID_A1, GRID_A2]
    ids = {g.code: g.id for g in result.created}
    lineage = db.execute(
        select(GridLineage.grid_id, GridLineage.source_grid_id, GridLineage.relation)
    ).all()
    assert sorted(lineage) == sorted(
        [
            (ids[COMMUNITY_A + "003"], world.grids[GRID_A1], "split"),
            (ids[COMMUNITY_A + "004"], world.grids[GRID_A1], "merge"),
            (ids[COMMUNITY_A + "004"], world.grids[GRID_A2], "merge"),
        ]
    )


def test_an_edit_against_an_old_version_is_a_conflict(db: Session, world: World) -> None:
    planner, plan_id = _plan(db, world)
    with pytest.raises(Conflict) as err:
        split_by_line(
            db,
            principal=planner,
            plan_id=plan_id,
            key=GRID_A1,
            line=split_line(),
            expected_version=2,
        )
    assert err.value.extra == {
        "conflicts": [{"code": GRID_A1, "expected_version": 2, "current_version": 1}]
    }


def test_second_plan_on_the_same_grid_cannot_publish(db: Session, world: World) -> None:
    planner, first = _plan(db, world)
    _, second = _plan(db, world)
    split_by_line(db, principal=planner, plan_id=first, key=GRID_A1, line=split_line())
    edits.reshape_grid(
        db, principal=planner, plan_id=second, key=GRID_A1, shape=box(117.0, 36.6, 117.006, 36.61)
    )
    plans.publish_plan(db, principal=planner, plan_id=second, effective_at=EFFECTIVE)
    before = db.execute(text("SELECT id, code, version, valid_to FROM grids ORDER BY id")).all()
    with pytest.raises(Conflict) as err:
        plans.publish_plan(
            db, principal=planner, plan_id=first, effective_at=datetime(2026, 7, 1, tzinfo=UTC)
        )
    assert err.value.extra == {
        "conflicts": [{"code": GRID_A1, "expected_version": 1, "current_version": 2}]
    }
    assert "370199001001001 (you edited version 1, current is 2)" in err.value.message_en
    assert (
        db.execute(text("SELECT id, code, version, valid_to FROM grids ORDER BY id")).all()
        == before
    )
    assert plans.get_plan(db, principal=planner, plan_id=first).status == "draft"
    validation = plans.validate_plan(db, principal=planner, plan_id=first)
    assert not validation.ok and validation.stale == err.value.extra["conflicts"]


def test_community_admin_may_look_but_not_edit(db: Session, world: World) -> None:
    _, plan_id = _plan(db, world)
    ca = principal(db, world, "t_ca_a")
    assert plans.get_plan(db, principal=ca, plan_id=plan_id).id == plan_id
    from layers.errors import Forbidden

    with pytest.raises(Forbidden):
        split_by_line(db, principal=ca, plan_id=plan_id, key=GRID_A1, line=split_line())
    with pytest.raises(Forbidden):
        plans.get_plan(db, principal=principal(db, world, "t_dispatcher"), plan_id=plan_id)


def test_effective_at_must_be_after_the_replaced_versions_and_not_in_the_future(
    db: Session, world: World
) -> None:
    planner, plan_id = _plan(db, world)
    split_by_line(db, principal=planner, plan_id=plan_id, key=GRID_A1, line=split_line())
    for moment in (datetime(2025, 12, 31, tzinfo=UTC), datetime(2099, 1, 1, tzinfo=UTC)):
        with pytest.raises(InvalidInput) as err:
            plans.publish_plan(db, principal=planner, plan_id=plan_id, effective_at=moment)
        assert err.value.field == "effective_at"
    assert plans.get_plan(db, principal=planner, plan_id=plan_id).status == "draft"


def test_a_typed_sizhi_survives_publish_and_regeneration(db: Session, world: World) -> None:
    planner, plan_id = _plan(db, world)
    typed = "东至华信路，南至工业北路，西至二环东路，北至小清河"
    edits.set_attributes(db, principal=planner, plan_id=plan_id, key=GRID_A1, sizhi=typed)
    # and a neighbour change that regenerates A1's neighbours
    edits.reshape_grid(
        db, principal=planner, plan_id=plan_id, key=GRID_A2, shape=box(117.004, 36.6, 117.01, 36.61)
    )
    result = plans.publish_plan(db, principal=planner, plan_id=plan_id, effective_at=EFFECTIVE)
    a1 = next(g for g in result.created if g.code == GRID_A1)
    assert db.execute(select(Grid.sizhi).where(Grid.id == a1.id)).scalar_one() == typed
    assert (
        db.execute(
            text("SELECT text FROM grid_sizhi_overrides WHERE grid_id = :id"), {"id": a1.id}
        ).scalar_one()
        == typed
    )


def test_a_typed_sizhi_stays_when_the_boundary_does_not_change(db: Session, world: World) -> None:
    from layers.grids.sizhi import set_sizhi

    planner, plan_id = _plan(db, world)
    typed = "东至华信路，南至工业北路，西至二环东路，北至小清河"
    set_sizhi(db, principal=planner, code=GRID_A1, sizhi=typed)
    edits.set_attributes(db, principal=planner, plan_id=plan_id, key=GRID_A1, name="改名")
    result = plans.publish_plan(db, principal=planner, plan_id=plan_id, effective_at=EFFECTIVE)
    (a1,) = result.created
    assert db.execute(select(Grid.sizhi).where(Grid.id == a1.id)).scalar_one() == typed
