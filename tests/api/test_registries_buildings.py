"""/buildings, /houses, /households: roles, scope, footprints with CRS, grid filing, moves."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pyproj import Transformer

from layers.models import Building, House
from tests.api.helpers import assert_problem
from tests.conftest import audit_rows, login
from tests.fixtures.registries import Registry, registry_fixture  # noqa: F401
from tests.fixtures.world import COMMUNITY_A, COMMUNITY_B, GRID_A1, GRID_A2, GRID_B1, GRID_B2

JSON = "application/json"


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == JSON
    return response.json()


def square(x: float, y: float, half: float = 0.0001) -> dict[str, Any]:
    """A GeoJSON square footprint centred on lon/lat, counter-clockwise."""
    corners = [(-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1)]
    ring = [[round(x + dx * half, 7), round(y + dy * half, 7)] for dx, dy in corners]
    return {"type": "Polygon", "coordinates": [ring]}


def new_building(**changes: Any) -> dict[str, Any]:
    body = {
        "code": "T-NEW",
        "kind": "residential",
        "floors": 5,
        "address": "济南市测试区测试路9号",
        "compound": "新小区",
        "geometry": square(117.0025, 36.6020),
    }
    return body | changes


def test_buildings_are_listed_by_area_with_filters(client: TestClient, registry: Registry) -> None:
    planner = login(client, "t_planner")  # street: all four

    def codes(headers: dict[str, str], **params: Any) -> list[str]:
        body = ok(client.get("/buildings", headers=headers, params=params))
        return [b["code"] for b in body["items"]]

    assert codes(planner) == ["T-1", "T-2", "T-3", "T-4"]
    assert codes(planner, community=COMMUNITY_B) == ["T-3", "T-4"]
    assert codes(planner, grid=GRID_A2) == ["T-2"]
    assert codes(planner, compound="测试小区", q="4号楼") == ["T-4"]
    assert codes(planner, q="T-3") == ["T-3"]
    assert codes(planner, compound="别的小区") == []
    assert codes(login(client, "t_gw_b")) == ["T-3", "T-4"]
    first = ok(client.get("/buildings?limit=1", headers=planner))["items"][0]
    assert first["grid_code"] == GRID_A1 and first["community_code"] == COMMUNITY_A
    assert first["house_count"] == 2
    assert first["geometry"]["type"] == "Polygon"
    assert first["geometry"]["coordinates"][0][0] == [117.0027, 36.6049]


def test_department_handlers_do_not_read_buildings(client: TestClient, registry: Registry) -> None:
    headers = login(client, "t_handler")
    for path in ("/buildings", "/houses", "/households"):
        response = client.get(path, headers=headers)
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "forbidden"


def test_a_building_outside_the_area_is_not_found(client: TestClient, registry: Registry) -> None:
    other = registry.world.buildings["3"]
    headers = login(client, "t_ca_a")
    assert_problem(client.get(f"/buildings/{other}", headers=headers), 404, "building_id")
    assert_problem(
        client.patch(f"/buildings/{other}", headers=headers, json={"floors": 9}), 404, "building_id"
    )
    assert_problem(client.get(f"/buildings/{other}/houses", headers=headers), 404, "building_id")


def test_a_new_building_is_filed_under_the_grid_covering_it(
    client: TestClient, registry: Registry
) -> None:
    body = ok(client.post("/buildings", headers=login(client, "t_ca_a"), json=new_building()), 201)
    assert (body["code"], body["grid_code"], body["community_code"]) == (
        "T-NEW",
        GRID_A1,
        COMMUNITY_A,
    )
    assert body["house_count"] == 0
    assert body["geometry"] == square(117.0025, 36.6020)


def test_a_footprint_in_a_projected_crs_is_stored_in_lon_lat(
    client: TestClient, registry: Registry
) -> None:
    # CGCS2000 / 3-degree Gauss-Kruger zone 39 (EPSG:4527), easting/northing in metres
    to_gk = Transformer.from_crs(4326, 4527, always_xy=True)
    lonlat = square(117.0075, 36.6020)["coordinates"][0]
    metres = [list(to_gk.transform(lon, lat)) for lon, lat in lonlat]
    body = ok(
        client.post(
            "/buildings?crs=EPSG:4527",
            headers=login(client, "t_street"),
            json=new_building(geometry={"type": "Polygon", "coordinates": [metres]}),
        ),
        201,
    )
    assert body["grid_code"] == GRID_A2
    for (lon, lat), (got_lon, got_lat) in zip(
        lonlat, body["geometry"]["coordinates"][0], strict=True
    ):
        assert abs(lon - got_lon) < 2e-7 and abs(lat - got_lat) < 2e-7


@pytest.mark.parametrize(
    ("changes", "status", "field", "code"),
    [
        ({"geometry": square(117.0150, 36.6075)}, 403, "geometry", "forbidden"),  # community B
        ({"geometry": square(117.0250, 36.6150)}, 422, "geometry", "outside-all-grids"),
        (
            {
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [
                            [117.001, 36.601],
                            [117.002, 36.602],
                            [117.002, 36.601],
                            [117.001, 36.602],
                            [117.001, 36.601],
                        ]
                    ],
                }
            },
            422,
            "geometry",
            "invalid-geometry",
        ),  # a bow tie
        (
            {"geometry": {"type": "Point", "coordinates": [117.001, 36.601]}},
            422,
            "geometry",
            "invalid-geometry",
        ),
        ({"geometry": square(36.6020, 117.0025)}, 422, "geometry", "invalid-input"),  # lat,lon
        ({"code": "T-1"}, 409, "code", "conflict"),
        ({"floors": 0}, 422, "floors", "invalid-input"),
        ({"kind": "castle"}, 422, "kind", "invalid-input"),
    ],
)
def test_bad_buildings_are_refused_and_leave_nothing(
    client: TestClient,
    registry: Registry,
    db: Session,
    changes: dict[str, Any],
    status: int,
    field: str,
    code: str,
) -> None:
    before = db.execute(select(func.count()).select_from(Building)).scalar_one()
    response = client.post(
        "/buildings", headers=login(client, "t_ca_a"), json=new_building(**changes)
    )
    assert_problem(response, status, field, code)
    assert db.execute(select(func.count()).select_from(Building)).scalar_one() == before


@pytest.mark.parametrize("username", ["t_gw_a", "t_planner", "t_dispatcher"])
def test_only_admins_create_buildings(
    client: TestClient, registry: Registry, username: str
) -> None:
    response = client.post("/buildings", headers=login(client, username), json=new_building())
    assert response.status_code == 403, response.text


def test_moving_a_footprint_refiles_the_building_and_its_people(
    client: TestClient, registry: Registry
) -> None:
    admin = login(client, "t_ca_a")
    building = registry.world.buildings["1"]
    body = ok(
        client.patch(
            f"/buildings/{building}",
            headers=admin,
            json={"geometry": square(117.0075, 36.6080), "name": "一号楼"},
        )
    )
    assert (body["grid_code"], body["name"]) == (GRID_A2, "一号楼")
    people = ok(client.get(f"/persons?grid={GRID_A2}", headers=admin))["items"]
    assert sorted(p["name"] for p in people) == ["张三", "李梅"]
    assert_problem(
        client.patch(f"/buildings/{building}", headers=admin, json={"code": None}), 422, "code"
    )
    # moving it into community B would take it out of this admin's area: refused, unchanged
    moved_out = client.patch(
        f"/buildings/{building}", headers=admin, json={"geometry": square(117.0150, 36.6025)}
    )
    assert_problem(moved_out, 403, "geometry", "forbidden")
    assert ok(client.get(f"/buildings/{building}", headers=admin))["grid_code"] == GRID_A2


def test_houses_are_added_listed_and_unique_per_unit_and_room(
    client: TestClient, registry: Registry, db: Session
) -> None:
    worker = login(client, "t_gw_a")
    building = registry.world.buildings["1"]
    house = ok(
        client.post(
            "/houses",
            headers=worker,
            json={"building_id": building, "unit": "2", "floor": 5, "room": "501", "area_m2": 89.5},
        ),
        201,
    )
    assert (house["grid_code"], house["area_m2"], house["is_rental"]) == (GRID_A1, 89.5, False)
    duplicate = client.post(
        "/houses",
        headers=worker,
        json={"building_id": building, "unit": "2", "floor": 5, "room": "501"},
    )
    assert_problem(duplicate, 409, "room", "conflict")
    listed = ok(client.get(f"/buildings/{building}/houses", headers=worker))
    assert [(h["unit"], h["room"]) for h in listed["items"]] == [
        ("1", "301"),
        ("1", "302"),
        ("2", "501"),
    ]
    other = client.post(
        "/houses",
        headers=worker,
        json={"building_id": registry.world.buildings["3"], "floor": 1, "room": "102"},
    )
    assert_problem(other, 404, "building_id", "not-found")
    changed = ok(client.patch(f"/houses/{house['id']}", headers=worker, json={"is_rental": True}))
    assert changed["is_rental"] is True
    assert ok(client.get("/houses?is_rental=true", headers=worker))["total"] == 1
    planner = login(client, "t_planner")
    assert ok(client.get(f"/houses/{house['id']}", headers=planner))["room"] == "501"
    assert (
        client.patch(f"/houses/{house['id']}", headers=planner, json={"floor": 4}).status_code
        == 403
    )
    assert db.execute(select(House.floor).where(House.id == house["id"])).scalar_one() == 5


def test_a_moved_household_takes_its_grid_from_the_new_house(
    client: TestClient, registry: Registry, db: Session
) -> None:
    worker = login(client, "t_gw_b")
    household = registry.households["T-HH-3"]
    before = ok(client.get(f"/households/{household}", headers=worker))
    assert (before["grid_code"], before["member_count"]) == (GRID_B1, 1)
    after = ok(
        client.post(
            f"/households/{household}/move",
            headers=worker,
            json={"house_id": registry.houses["4-201"], "moved_on": "2026-05-01"},
        )
    )
    assert (after["house_id"], after["grid_code"], after["room"]) == (
        registry.houses["4-201"],
        GRID_B2,
        "201",
    )
    person = ok(client.get(f"/persons/{registry.persons['王芳']}", headers=worker))
    assert person["grid_code"] == GRID_B2
    [audit] = audit_rows(db, action="move", username="t_gw_b")
    assert audit.resource == "households" and audit.resource_ids == [household]
    assert audit.detail["person_ids"] == [registry.persons["王芳"]]
    assert (audit.detail["from_grid"], audit.detail["to_grid"]) == (GRID_B1, GRID_B2)
    again = client.post(
        f"/households/{household}/move", headers=worker, json={"house_id": registry.houses["4-201"]}
    )
    assert_problem(again, 422, "house_id")
    elsewhere = client.post(
        f"/households/{household}/move", headers=worker, json={"house_id": registry.houses["1-302"]}
    )
    assert_problem(elsewhere, 404, "house_id", "not-found")


def test_households_are_registered_with_unique_numbers(
    client: TestClient, registry: Registry
) -> None:
    worker = login(client, "t_gw_a")
    created = ok(
        client.post(
            "/households",
            headers=worker,
            json={
                "house_id": registry.houses["1-302"],
                "household_no": "T-HH-8",
                "residence": "floating",
            },
        ),
        201,
    )
    assert (created["member_count"], created["residence"]) == (0, "floating")
    duplicate = client.post(
        "/households",
        headers=worker,
        json={"house_id": registry.houses["1-302"], "household_no": "T-HH-1"},
    )
    assert_problem(duplicate, 409, "household_no", "conflict")
    renamed = ok(
        client.patch(
            f"/households/{created['id']}", headers=worker, json={"household_no": "T-HH-88"}
        )
    )
    assert renamed["household_no"] == "T-HH-88"
    # planners and dispatchers read households (no personal data) but do not change them
    dispatcher = login(client, "t_dispatcher")
    found = ok(client.get("/households?household_no=T-HH-88", headers=dispatcher))
    assert [h["id"] for h in found["items"]] == [created["id"]]
    refused = client.post(
        "/households",
        headers=dispatcher,
        json={"house_id": registry.houses["1-302"], "household_no": "X"},
    )
    assert refused.status_code == 403
