"""Live counts per grid follow the derived chain person → household → house → building → grid."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import event, update
from sqlalchemy.orm import Session

from shapely.geometry import box

from layers.counts import GridCounts, grid_counts, household_counts
from layers.errors import InvalidInput
from layers.models import (
    Building,
    CareGroupCategory,
    Grid,
    House,
    Household,
    Incident,
    Person,
    PersonCareGroup,
)
from layers.spatial.assign import reassign_after_grid_change
from tests.fixtures.assign import add_building, add_grid, add_incident
from tests.fixtures.world import COMMUNITY_A, COMMUNITY_B, GRID_A1, GRID_A2, GRID_B1, GRID_B2, World


def world_counts(db: Session, world: World) -> dict[str, GridCounts]:
    by_id = grid_counts(db, grid_ids=list(world.grids.values()))
    return {code: by_id[grid_id] for code, grid_id in world.grids.items()}


def add_household(db: Session, building_id: int, room: str, people: int, *, key: str) -> list[int]:
    """A house in a building with one household of ``people`` persons; their ids."""
    house = House(building_id=building_id, unit="2", floor=1, room=room)
    db.add(house)
    db.flush()
    household = Household(house_id=house.id, household_no=f"C-HH-{key}")
    db.add(household)
    db.flush()
    persons = [
        Person(household_id=household.id, name=f"居民{key}{n}", gender="female")
        for n in range(people)
    ]
    db.add_all(persons)
    db.flush()
    return [p.id for p in persons]


def test_the_world_counts_per_grid(db: Session, world: World) -> None:
    assert world_counts(db, world) == {
        GRID_A1: GridCounts(
            buildings=1,
            houses=1,
            households=1,
            persons=1,
            persons_in_care_groups=0,
            places=1,
            open_incidents=1,
        ),
        GRID_A2: GridCounts(buildings=1),
        GRID_B1: GridCounts(buildings=1, open_incidents=1),
        GRID_B2: GridCounts(buildings=1),
    }


def test_grid_counts_is_one_sql_statement(db: Session, world: World) -> None:
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    connection = db.connection()
    event.listen(connection, "before_cursor_execute", seen)
    try:
        grid_counts(db, community_prefix=COMMUNITY_A)
    finally:
        event.remove(connection, "before_cursor_execute", seen)
    assert len(statements) == 1


def test_persons_care_groups_and_incidents_count_by_their_rules(db: Session, world: World) -> None:
    building = world.buildings["3"]  # in B1
    alice, bob, carol, dave = add_household(db, building, "101", 4, key="b3")
    add_household(db, building, "102", 0, key="b3-empty")
    db.add_all(
        [
            # two categories, counted once
            PersonCareGroup(person_id=alice, category_code="elderly_alone"),
            PersonCareGroup(person_id=alice, category_code="low_income"),
            # only in a category the authority has switched off: not counted
            PersonCareGroup(person_id=bob, category_code="disabled"),
            # in a care group, but moved away: counted nowhere
            PersonCareGroup(person_id=carol, category_code="left_behind_child"),
        ]
    )
    db.flush()
    db.execute(
        update(CareGroupCategory)
        .where(CareGroupCategory.code == "disabled")
        .values(is_active=False)
    )
    db.execute(
        update(Person)
        .where(Person.id == carol)
        .values(
            is_active=False,
            left_on=datetime(2026, 10, 1, tzinfo=UTC).date(),
            left_reason="moved_away",
        )
    )
    closed = add_incident(db, "C-CLOSED", 117.0150, 36.6090)
    db.execute(
        update(Incident)
        .where(Incident.id == closed)
        .values(status="closed", closed_at=datetime(2026, 10, 2, tzinfo=UTC))
    )
    add_incident(db, "C-OPEN", 117.0160, 36.6090)
    assert world_counts(db, world)[GRID_B1] == GridCounts(
        buildings=1,
        houses=2,
        households=2,
        persons=3,  # alice, bob, dave
        persons_in_care_groups=1,  # alice
        places=0,
        open_incidents=2,  # the world's b1 and C-OPEN
    )
    assert dave  # four persons were made


def test_counts_follow_a_moved_building_and_a_redrawn_grid(db: Session, world: World) -> None:
    # A new building in A2 with 3 persons counts at once (the trigger files it).
    new = add_building(db, "C-NEW", box(117.0070, 36.6070, 117.0074, 36.6072))
    add_household(db, new, "201", 3, key="new")
    assert world_counts(db, world)[GRID_A2] == GridCounts(
        buildings=2, houses=1, households=1, persons=3
    )
    # A1 and A2 merge into one grid: after re-filing, the merged grid holds both, the closed
    # versions nothing.
    when = datetime(2026, 11, 1, tzinfo=UTC)
    old = [world.grids[GRID_A1], world.grids[GRID_A2]]
    db.execute(update(Grid).where(Grid.id.in_(old)).values(valid_to=when))
    merged = add_grid(db, COMMUNITY_A + "003", box(117.0, 36.6, 117.01, 36.61), valid_from=when)
    reassign_after_grid_change(db, changed_grid_ids=[*old, merged])
    counts = grid_counts(db, grid_ids=[*old, merged])
    assert counts[merged] == GridCounts(
        buildings=3, houses=2, households=2, persons=4, places=1, open_incidents=1
    )
    assert counts[old[0]] == GridCounts() and counts[old[1]] == GridCounts()
    # the current grids of community A are now only the merged one
    assert list(grid_counts(db, community_prefix=COMMUNITY_A)) == [merged]


def test_selection_by_prefix_and_ids(db: Session, world: World) -> None:
    community_b = grid_counts(db, community_prefix=COMMUNITY_B)
    assert sorted(community_b) == sorted([world.grids[GRID_B1], world.grids[GRID_B2]])
    every = grid_counts(db)
    assert set(world.grids.values()) <= set(every)
    both = grid_counts(
        db, grid_ids=[world.grids[GRID_A1], world.grids[GRID_B1]], community_prefix=COMMUNITY_B
    )
    assert list(both) == [world.grids[GRID_B1]]
    assert grid_counts(db, grid_ids=[]) == {}
    moved = db.execute(
        update(Building).where(Building.id == world.buildings["4"]).values(grid_id=None)
    )
    assert moved.rowcount == 1  # type: ignore[attr-defined]
    assert grid_counts(db, grid_ids=[world.grids[GRID_B2]])[world.grids[GRID_B2]].buildings == 0


@pytest.mark.parametrize("prefix", ["", "37019900100a", "3701990010010011", "37%"])
def test_a_bad_prefix_is_refused(db: Session, prefix: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        grid_counts(db, community_prefix=prefix)
    assert excinfo.value.field == "community_prefix"


def test_household_counts_agree_with_grid_counts(db: Session, world: World) -> None:
    add_household(db, world.buildings["3"], "101", 2, key="H1")
    add_household(db, world.buildings["3"], "102", 1, key="H2")
    ids = list(world.grids.values())
    assert household_counts(db, grid_ids=ids) == {
        gid: counts.households for gid, counts in grid_counts(db, grid_ids=ids).items()
    }
    assert household_counts(db, grid_ids=[world.grids[GRID_A1], world.grids[GRID_B1]]) == {
        world.grids[GRID_A1]: 1,
        world.grids[GRID_B1]: 2,
    }
    assert household_counts(db, grid_ids=[]) == {}
