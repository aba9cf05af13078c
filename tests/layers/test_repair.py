"""Repair with preview: slivers to a neighbour, leaks clipped, edges snapped; new versions."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from geoalchemy2.shape import to_shape

from layers.access import Principal
from layers.errors import Conflict, Forbidden, NotFound
from layers.grids.coverage import validate_coverage
from layers.grids.repair import apply_repair, preview_repair, preview_repair_in_area
from layers.models import AuditLog, Building, Grid, GridLineage
from layers.users import load_principal
from tests.fixtures.coverage import (
    COMMUNITY_C,
    GAP_G5_G6,
    LEAK_G3,
    OVERLAP_G2_G5,
    STREET_2,
    CoverageWorld,
    G,
    build_coverage_world,
    geodesic_area,
)
from tests.fixtures.world import COMMUNITY_A, GRID_A2, STREET_CODE, World

# What validation still finds after the repair: the real conflicts and the warnings that are
# not about edges (a planner's decisions).
REMAINING = [
    ("error", "overlap", (G[2], G[3])),
    ("error", "gap", ()),
    ("warning", "multipart", (G[4],)),
    ("warning", "no_building", (G[6],)),
    ("warning", "straddling_building", (G[1], G[2])),
]


@pytest.fixture
def cw(db: Session, world: World) -> CoverageWorld:
    return build_coverage_world(db, world)


def _principal(db: Session, users: dict[str, int], username: str) -> Principal:
    return load_principal(db, users[username])


def _current(db: Session, code: str) -> Grid:
    return db.scalars(select(Grid).where(Grid.code == code, Grid.valid_to.is_(None))).one()


def _versions(db: Session) -> list[tuple[str, int, bool]]:
    rows = db.execute(
        select(Grid.code, Grid.version, Grid.valid_to.is_(None)).order_by(Grid.code, Grid.version)
    )
    return [tuple(r) for r in rows]


def test_preview_lists_what_would_move_and_writes_nothing(db: Session, cw: CoverageWorld):
    before = _versions(db)
    plan = preview_repair(db, parent_code=COMMUNITY_C, tolerance_m=0.5)

    assert _versions(db) == before
    assert plan.verified and plan.refusal_en is None
    assert plan.expected_versions == {G[n]: 1 for n in range(1, 7)}
    changes = {c.code: c for c in plan.changes}
    # G2 gives the 0.1 m overlap to G5 (longest border), G3 loses its leak, G5 takes the
    # 0.1 m gap next to G6 (equal borders: the smaller code). G1, G4 and G6 keep their shape.
    assert sorted(changes) == [G[2], G[3], G[5]]
    g2, g3, g5 = changes[G[2]], changes[G[3]], changes[G[5]]
    assert g2.area_lost_m2 == pytest.approx(geodesic_area(OVERLAP_G2_G5), rel=0.01)
    assert g2.area_gained_m2 == pytest.approx(0, abs=0.01)
    assert g3.area_lost_m2 == pytest.approx(geodesic_area(LEAK_G3), rel=0.01)
    assert g3.leak_clipped_m2 == pytest.approx(geodesic_area(LEAK_G3), rel=0.01)
    assert g5.area_gained_m2 == pytest.approx(geodesic_area(GAP_G5_G6), rel=0.01)
    assert g5.area_lost_m2 == pytest.approx(0, abs=0.01)
    for change in plan.changes:
        # (geodesic areas of different polygons agree to about a millionth)
        assert change.area_after_m2 == pytest.approx(
            change.area_before_m2 + change.area_gained_m2 - change.area_lost_m2, rel=1e-5
        )
        assert change.buildings_gained == [] and change.buildings_lost == []
        assert change.version == 1

    # the validation before and after: slivers, leak and unmatched edges are gone
    assert plan.before.count(severity="sliver") == 2
    assert [(p.severity, p.kind, p.codes) for p in plan.after.problems] == REMAINING
    assert plan.after.to_summary()["valid"] is False  # the real overlap and gap remain


def test_preview_as_dict_carries_geometries_and_summaries(db: Session, cw: CoverageWorld):
    body = preview_repair(db, parent_code=COMMUNITY_C).to_dict()
    assert body["changes"]["type"] == "FeatureCollection"
    assert [f["properties"]["code"] for f in body["changes"]["features"]] == [G[2], G[3], G[5]]
    assert [g["new_version"] for g in body["grids"]] == [2, 2, 2]
    assert body["before"]["counts"] == {"error": 3, "sliver": 2, "warning": 5}
    assert body["after"]["counts"] == {"error": 2, "sliver": 0, "warning": 3}
    assert len(body["remaining"]["features"]) == len(REMAINING)


def test_apply_writes_new_versions_with_lineage_and_refiles_buildings(
    db: Session, cw: CoverageWorld
):
    planner = _principal(db, cw.users, "t_planner2")
    plan = preview_repair(db, parent_code=COMMUNITY_C)
    old = {code: _current(db, code) for code in (G[2], G[3], G[5])}
    old_ids = {code: grid.id for code, grid in old.items()}
    # a building filed under the old version of G3 must follow it to the new version
    building_3 = db.get(Building, cw.buildings["3"])
    assert building_3 is not None
    db.execute(text("UPDATE buildings SET grid_id = :g WHERE id = :b"),
               {"g": old_ids[G[3]], "b": building_3.id})  # fmt: skip

    result = apply_repair(
        db,
        planner,
        parent_code=COMMUNITY_C,
        tolerance_m=0.5,
        expected_versions=plan.expected_versions,
    )

    now = db.scalar(select(func.now()))
    assert [(g.code, g.old_version, g.new_version) for g in result.repaired] == [
        (G[2], 1, 2),
        (G[3], 1, 2),
        (G[5], 1, 2),
    ]
    for repaired in result.repaired:
        closed = db.get(Grid, repaired.old_id)
        new = db.get(Grid, repaired.new_id)
        assert closed is not None and new is not None
        db.refresh(closed)
        assert closed.valid_to == now
        assert new.valid_from == now and new.valid_to is None
        assert (new.code, new.name, new.kind, new.community_id) == (
            closed.code,
            closed.name,
            closed.kind,
            closed.community_id,
        )
        assert new.created_by == planner.user_id
        lineage = db.scalars(
            select(GridLineage).where(GridLineage.grid_id == repaired.new_id)
        ).one()
        assert (lineage.source_grid_id, lineage.relation) == (repaired.old_id, "repair")
        change = next(c for c in plan.changes if c.code == repaired.code)
        assert to_shape(new.geom).equals(to_shape(closed.geom)) is False
        assert abs(to_shape(new.geom).area - to_shape(closed.geom).area) > 0
        assert change.grid_id == repaired.old_id
    # untouched grids keep their only version
    assert [v for v in _versions(db) if v[0] in (G[1], G[4], G[6])] == [
        (G[1], 1, True),
        (G[4], 1, True),
        (G[6], 1, True),
    ]
    # buildings re-filed: CV-3 now points at G3's new version
    db.refresh(building_3)
    new_g3 = next(g.new_id for g in result.repaired if g.code == G[3])
    assert building_3.grid_id == new_g3
    assert result.reassigned["buildings"] >= 1
    # the validation of the current grids now shows what the preview promised
    after = validate_coverage(db, parent_code=COMMUNITY_C)
    assert [(p.severity, p.kind, p.codes) for p in after.problems] == REMAINING
    audit = db.scalars(
        select(AuditLog).where(AuditLog.action == "repair", AuditLog.username == "t_planner2")
    ).one()
    assert sorted(audit.resource_ids) == sorted(g.new_id for g in result.repaired)
    assert audit.detail["codes"] == [G[2], G[3], G[5]]


def test_apply_refuses_versions_changed_since_the_preview(db: Session, cw: CoverageWorld):
    planner = _principal(db, cw.users, "t_planner2")
    plan = preview_repair(db, parent_code=COMMUNITY_C)
    stale = dict(plan.expected_versions) | {G[5]: 0}
    before = _versions(db)
    with pytest.raises(Conflict) as caught:
        apply_repair(db, planner, parent_code=COMMUNITY_C, expected_versions=stale)
    assert caught.value.extra["conflicts"] == [{"code": G[5], "expected": 0, "current": 1}]
    assert caught.value.field == "expected_versions"
    assert _versions(db) == before

    missing = {k: v for k, v in plan.expected_versions.items() if k != G[6]}
    with pytest.raises(Conflict) as caught:
        apply_repair(db, planner, parent_code=COMMUNITY_C, expected_versions=missing)
    assert caught.value.extra["conflicts"] == [{"code": G[6], "expected": None, "current": 1}]
    assert _versions(db) == before


def test_apply_twice_second_time_conflicts_then_has_nothing_to_do(db: Session, cw: CoverageWorld):
    planner = _principal(db, cw.users, "t_planner2")
    plan = preview_repair(db, parent_code=COMMUNITY_C)
    apply_repair(db, planner, parent_code=COMMUNITY_C, expected_versions=plan.expected_versions)
    with pytest.raises(Conflict):
        apply_repair(db, planner, parent_code=COMMUNITY_C, expected_versions=plan.expected_versions)
    again = preview_repair(db, parent_code=COMMUNITY_C)
    assert again.changes == []
    result = apply_repair(
        db, planner, parent_code=COMMUNITY_C, expected_versions=again.expected_versions
    )
    assert result.repaired == [] and result.reassigned == {}


def test_street_repair_snaps_the_t_junction_between_communities(db: Session, world: World):
    plan = preview_repair(db, parent_code=STREET_CODE)
    assert [(c.code, c.vertices_before, c.vertices_after) for c in plan.changes] == [
        (GRID_A2, 5, 6)
    ]
    (change,) = plan.changes
    assert change.area_gained_m2 == pytest.approx(0, abs=1e-3)
    assert change.area_lost_m2 == pytest.approx(0, abs=1e-3)
    assert plan.before.count(kind="unmatched_edge") == 3
    assert plan.after.problems == []


def test_a_clean_community_needs_no_repair(db: Session, world: World):
    plan = preview_repair(db, parent_code=COMMUNITY_A)
    assert plan.changes == [] and plan.verified


def test_roles_and_areas(db: Session, world: World, cw: CoverageWorld):
    community_admin = _principal(db, cw.users, "t_ca_c")
    with pytest.raises(Forbidden):
        preview_repair_in_area(db, principal=community_admin, parent_code=COMMUNITY_C)
    with pytest.raises(Forbidden):
        apply_repair(db, community_admin, parent_code=COMMUNITY_C, expected_versions={G[1]: 1})
    other_street_planner = load_principal(db, world.users["t_planner"])
    with pytest.raises(NotFound):
        preview_repair_in_area(db, principal=other_street_planner, parent_code=COMMUNITY_C)
    with pytest.raises(NotFound):
        apply_repair(db, other_street_planner, parent_code=STREET_2, expected_versions={G[1]: 1})
    planner = _principal(db, cw.users, "t_planner2")
    assert preview_repair_in_area(db, principal=planner, parent_code=STREET_2).verified


def test_a_grid_version_taking_effect_later_blocks_the_repair(db: Session, cw: CoverageWorld):
    planner = _principal(db, cw.users, "t_planner2")
    plan = preview_repair(db, parent_code=COMMUNITY_C)
    db.execute(
        text("UPDATE grids SET valid_from = :t WHERE code = :c"),
        {"t": datetime.fromisoformat("2099-01-01T00:00:00+08:00"), "c": G[1]},
    )
    with pytest.raises(Conflict) as caught:
        apply_repair(db, planner, parent_code=COMMUNITY_C, expected_versions=plan.expected_versions)
    assert caught.value.extra["codes"] == [G[1]]
