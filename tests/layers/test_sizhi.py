"""四至 text: roads along a side, neighbouring grids, community border; typed texts kept."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from layers.grids.sizhi import compute_sizhi, preview_sizhi, regenerate_sizhi, set_sizhi
from layers.models import Grid, Road
from tests.fixtures.plans import add_road, principal
from tests.fixtures.world import GRID_A1, GRID_A2, GRID_B1, GRID_B2, World


def _texts(db: Session, world: World) -> dict[str, str]:
    by_id = compute_sizhi(db, grid_ids=list(world.grids.values()))
    return {code: by_id[grid_id] for code, grid_id in world.grids.items()}


def test_world_grids(db: Session, world: World) -> None:
    assert _texts(db, world) == {
        GRID_A1: "东至测试网格1002，南至社区边界，西至社区边界，北至社区边界",
        GRID_A2: "东至测试路，南至社区边界，西至测试网格1001，北至社区边界",
        GRID_B1: "东至社区边界，南至测试网格2002，西至测试路，北至社区边界",
        GRID_B2: "东至社区边界，南至社区边界，西至测试路，北至测试网格2001",
    }


def test_a_road_along_a_side_wins_and_a_crossing_road_does_not(db: Session, world: World) -> None:
    # 22 m north of A1 and A2, along their whole northern edge
    add_road(db, "北环路", [(116.999, 36.6102), (117.011, 36.6102)])
    # crossing A1 west–east: it meets A1's east and west zones only for ~60 m of 1,113 m
    add_road(db, "横穿路", [(116.999, 36.6051), (117.006, 36.6051)])
    texts = _texts(db, world)
    assert texts[GRID_A1] == "东至测试网格1002，南至社区边界，西至社区边界，北至北环路"
    assert texts[GRID_A2] == "东至测试路，南至社区边界，西至测试网格1001，北至北环路"


def test_two_neighbours_on_one_side_are_both_named(db: Session, world: World) -> None:
    db.execute(delete(Road).where(Road.name == "测试路"))
    texts = _texts(db, world)
    assert (
        texts[GRID_A2]
        == "东至测试网格2001、测试网格2002，南至社区边界，西至测试网格1001，北至社区边界"
    )
    assert texts[GRID_B1] == "东至社区边界，南至测试网格2002，西至测试网格1002，北至社区边界"


def test_regenerate_rewrites_stored_texts_but_keeps_typed_ones(db: Session, world: World) -> None:
    planner = principal(db, world, "t_planner")
    typed = "东至华信路，南至工业北路，西至二环东路，北至小清河"
    assert set_sizhi(db, principal=planner, code=GRID_A1, sizhi=typed) == (typed, True)
    changed = regenerate_sizhi(db, grid_ids=list(world.grids.values()))
    # the world stores a placeholder text; every grid but the typed one is rewritten
    assert set(changed) == {world.grids[c] for c in (GRID_A2, GRID_B1, GRID_B2)}
    stored = dict(db.execute(select(Grid.code, Grid.sizhi).where(Grid.valid_to.is_(None))).all())
    assert stored[GRID_A1] == typed
    assert stored[GRID_A2] == "东至测试路，南至社区边界，西至测试网格1001，北至社区边界"
    assert preview_sizhi(db, principal=planner, code=GRID_A1) == (
        typed,
        "东至测试网格1002，南至社区边界，西至社区边界，北至社区边界",
        True,
    )
    # back to generated
    text_, is_typed = set_sizhi(db, principal=planner, code=GRID_A1, sizhi=None)
    assert (text_, is_typed) == (
        "东至测试网格1002，南至社区边界，西至社区边界，北至社区边界",
        False,
    )
    assert regenerate_sizhi(db, grid_ids=list(world.grids.values())) == {}
