"""The visibility rules of layers.scope, role by role, layer by layer, on the test world."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from layers.models import AdminUnit, Building, Grid, Incident, Place, Road
from layers.scope import SCOPES, ancestor_codes, area_filter
from layers.users import load_principal
from tests.fixtures.world import (
    COMMUNITY_A,
    COMMUNITY_B,
    DISTRICT_CODE,
    GRID_A1,
    GRID_A2,
    GRID_B1,
    GRID_B2,
    STREET_CODE,
    World,
)

ALL_GRIDS = {GRID_A1, GRID_A2, GRID_B1, GRID_B2}
STREET_UNITS = {DISTRICT_CODE, STREET_CODE, COMMUNITY_A, COMMUNITY_B}


def visible(db: Session, world: World, username: str) -> dict[str, set[str]]:
    """What one world user sees of every layer, by readable key."""
    principal = load_principal(db, world.users[username])
    names = {
        "buildings": {v: k for k, v in world.buildings.items()},
        "incidents": {v: k for k, v in world.incidents.items()},
        "places": {v: k for k, v in world.places.items()},
    }
    world_only = {
        "admin_units": AdminUnit.code.like("370199%"),
        "grids": Grid.code.like("370199%"),
        "roads": Road.id.in_(world.roads.values()),
        "buildings": Building.id.in_(world.buildings.values()),
        "places": Place.id.in_(world.places.values()),
        "incidents": Incident.id.in_(world.incidents.values()),
    }
    key = {
        "admin_units": AdminUnit.code,
        "grids": Grid.code,
        "roads": Road.name,
        "buildings": Building.id,
        "places": Place.id,
        "incidents": Incident.id,
    }
    seen: dict[str, set[str]] = {}
    for layer in SCOPES:
        rows = db.scalars(
            select(key[layer]).where(world_only[layer], area_filter(layer, principal))
        ).all()
        seen[layer] = {names[layer][r] if layer in names else r for r in rows}
    return seen


STREET_VIEW = {
    "admin_units": STREET_UNITS,
    "grids": ALL_GRIDS,
    "roads": {"测试路"},
    "buildings": {"1", "2", "3", "4"},
    "places": {"school"},
    "incidents": {"a1", "b1"},
}
COMMUNITY_A_VIEW = {
    "admin_units": {DISTRICT_CODE, STREET_CODE, COMMUNITY_A},
    "grids": {GRID_A1, GRID_A2},
    "roads": {"测试路"},
    "buildings": {"1", "2"},
    "places": {"school"},
    "incidents": {"a1"},
}


@pytest.mark.parametrize(
    ("username", "expected"),
    [
        ("t_admin", STREET_VIEW),  # district area: the whole world
        ("t_street", STREET_VIEW),
        ("t_planner", STREET_VIEW),
        ("t_dispatcher", STREET_VIEW),
        ("t_ca_a", COMMUNITY_A_VIEW),
        ("t_gw_a", COMMUNITY_A_VIEW),
        (
            "t_gw_b",
            {
                "admin_units": {DISTRICT_CODE, STREET_CODE, COMMUNITY_B},
                "grids": {GRID_B1, GRID_B2},
                "roads": {"测试路"},  # on the A/B border: touches both communities
                "buildings": {"3", "4"},
                "places": set(),
                "incidents": {"b1"},
            },
        ),
        # department handler: the street's map, but only their department's places/incidents
        ("t_handler", {**STREET_VIEW, "places": {"school"}, "incidents": set()}),
    ],
)
def test_each_role_sees_exactly_its_area(
    db: Session, world: World, username: str, expected: dict[str, set[str]]
) -> None:
    assert visible(db, world, username) == expected


def test_dept_handler_follows_the_department_of_each_row(db: Session, world: World) -> None:
    db.execute(
        update(Incident)
        .where(Incident.id == world.incidents["b1"])
        .values(department_id=world.department_id)
    )
    db.execute(update(Place).where(Place.id == world.places["school"]).values(department_id=None))
    db.flush()
    seen = visible(db, world, "t_handler")
    assert (seen["incidents"], seen["places"]) == ({"b1"}, set())
    # other roles are not narrowed by department
    assert visible(db, world, "t_dispatcher")["incidents"] == {"a1", "b1"}


def test_dept_handler_without_a_department_sees_no_incidents_or_places(
    db: Session, world: World
) -> None:
    principal = dataclasses.replace(
        load_principal(db, world.users["t_handler"]), department_id=None
    )
    for layer, model in (("incidents", Incident), ("places", Place)):
        assert db.scalars(select(model.id).where(area_filter(layer, principal))).all() == []


def test_rows_without_a_community_are_outside_every_area(db: Session, world: World) -> None:
    db.execute(
        update(Incident).where(Incident.id == world.incidents["a1"]).values(community_id=None)
    )
    db.flush()
    assert visible(db, world, "t_admin")["incidents"] == {"b1"}


def test_ancestor_codes_follow_the_code_structure(db: Session, world: World) -> None:
    def codes(username: str) -> list[str]:
        return ancestor_codes(load_principal(db, world.users[username]))

    assert codes("t_gw_a") == [DISTRICT_CODE, STREET_CODE]
    assert codes("t_planner") == [DISTRICT_CODE]
    assert codes("t_admin") == []
