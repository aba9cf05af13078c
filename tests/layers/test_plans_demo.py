"""On the demo street: draw a line across a grid, publish, and find persons and open incidents
in the new grids exactly as the diff said."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from layers.counts import grid_counts
from layers.demo.constants import DEMO_PASSWORD, STREET_PREFIX
from layers.demo.generate import generate
from layers.demo.load import load_demo
from layers.grids import plans
from layers.grids.diff import plan_diff
from layers.grids.split import split_by_line
from layers.models import GridLineage, User
from layers.security import hash_password
from layers.users import load_principal
from tests.fixtures.plans import household_median_line


@pytest.fixture(scope="module")
def demo(engine: Engine) -> Iterator[Session]:
    """The small demo street loaded in a transaction rolled back after the module."""
    connection = engine.connect()
    outer = connection.begin()
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    try:
        load_demo(
            session,
            generate(2026, "small"),
            password_hash=hash_password(DEMO_PASSWORD),
            if_present="replace",
        )
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()


def test_split_on_the_demo_street_lands_persons_and_open_incidents_as_the_diff_says(
    demo: Session,
) -> None:
    # the demo grid with the most open incidents
    code, grid_id, community = demo.execute(
        text(
            "SELECT g.code, g.id, a.code FROM grids g JOIN admin_units a ON a.id = g.community_id "
            "JOIN incidents i ON i.grid_id = g.id "
            "WHERE g.valid_to IS NULL AND g.code LIKE :p AND i.status <> 'closed' "
            "GROUP BY g.id, a.code ORDER BY count(*) DESC, g.code LIMIT 1"
        ),
        {"p": STREET_PREFIX + "%"},
    ).one()
    before = grid_counts(demo, grid_ids=[grid_id])[grid_id]
    assert before.persons > 0 and before.open_incidents > 0
    planner = load_principal(
        demo, demo.execute(select(User.id).where(User.username == "planner")).scalar_one()
    )
    plan_id = plans.create_plan(
        demo, principal=planner, scope_code=community, name="演示拆分"
    ).plan.id
    split_by_line(
        demo,
        principal=planner,
        plan_id=plan_id,
        key=code,
        line=household_median_line(demo, code),
        expected_version=1,
    )
    assert plans.validate_plan(demo, principal=planner, plan_id=plan_id).stale == []

    diff = plan_diff(demo, principal=planner, plan_id=plan_id)
    by_code = {g.code: g for g in diff.grids}
    old = by_code[code]
    assert old.change == "retired" and old.before is not None
    assert (old.before.persons, old.before.households, old.before.open_incidents) == (
        before.persons,
        before.households,
        before.open_incidents,
    )
    new = [g for g in diff.grids if g.change == "created"]
    assert len(new) == 2
    assert all(g.after is not None and g.after.persons > 0 for g in new)
    assert sum(g.after.persons for g in new if g.after) == before.persons
    assert sum(g.after.open_incidents for g in new if g.after) == before.open_incidents

    result = plans.publish_plan(
        demo, principal=planner, plan_id=plan_id, effective_at=datetime(2026, 11, 1, tzinfo=UTC)
    )
    assert sorted(g.code for g in result.created) == sorted(g.code for g in new)
    live = grid_counts(demo, grid_ids=[g.id for g in result.created] + [grid_id])
    for grid in result.created:
        expected = by_code[grid.code].after
        assert expected is not None
        got = live[grid.id]
        assert (got.buildings, got.households, got.persons, got.places, got.open_incidents) == (
            expected.buildings,
            expected.households,
            expected.persons,
            expected.places,
            expected.open_incidents,
        )
    assert live[grid_id].persons == 0 and live[grid_id].buildings == 0
    # every person of the old grid is in one of the new ones, through their building
    assert demo.execute(
        select(GridLineage.relation).where(GridLineage.grid_id.in_([g.id for g in result.created]))
    ).scalars().all() == ["split", "split"]
