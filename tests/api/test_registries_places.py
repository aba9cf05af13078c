"""/places: kinds with Chinese labels, department scope, checklist kind, CRUD, masking, audit."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from layers.models import Patrol, Place
from tests.api.helpers import assert_problem
from tests.conftest import audit_rows, login
from tests.fixtures.registries import Registry, registry_fixture  # noqa: F401
from tests.fixtures.world import COMMUNITY_A, GRID_A1, GRID_A2, GRID_B1

JSON = "application/json"


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == JSON
    return response.json()


def place_body(**changes: Any) -> dict[str, Any]:
    body = {
        "name": "老王饭店",
        "kind": "restaurant",
        "address": "测试路12号",
        "contact_name": "王大",
        "contact_phone": "136 0000 1234",
        "geometry": {"type": "Point", "coordinates": [117.0040, 36.6030]},
    }
    return body | changes


def test_kinds_come_with_chinese_labels_and_default_checklists(
    client: TestClient, registry: Registry
) -> None:
    body = ok(client.get("/places/kinds", headers=login(client, "t_handler")))
    kinds = {k["code"]: (k["name_zh"], k["default_checklist_kind"]) for k in body["kinds"]}
    assert len(kinds) == 13
    assert kinds["three_in_one"] == ("三合一场所", "three_in_one")
    assert kinds["construction_site"] == ("建筑工地", "construction_safety")
    checklists = {c["code"]: c["name_zh"] for c in body["checklist_kinds"]}
    assert checklists["co_poisoning"] == "防一氧化碳中毒"


def test_an_admin_creates_a_place_filed_under_its_grid(
    client: TestClient, registry: Registry, db: Session
) -> None:
    body = ok(client.post("/places", headers=login(client, "t_ca_a"), json=place_body()), 201)
    assert (body["kind"], body["kind_zh"]) == ("restaurant", "餐饮店")
    assert (body["checklist_kind"], body["checklist_kind_zh"]) == ("food_safety", "食品安全")
    assert (body["grid_code"], body["community_code"]) == (GRID_A1, COMMUNITY_A)
    assert (body["contact_name"], body["contact_phone"]) == ("王大", "13600001234")
    [audit] = audit_rows(db, action="create", username="t_ca_a")
    assert (audit.resource, audit.resource_ids) == ("places", [body["id"]])


def test_a_polygon_place_with_department_and_checklist(
    client: TestClient, registry: Registry
) -> None:
    site = {
        "type": "Polygon",
        "coordinates": [
            [
                [117.006, 36.606],
                [117.008, 36.606],
                [117.008, 36.608],
                [117.006, 36.608],
                [117.006, 36.606],
            ]
        ],
    }
    body = ok(
        client.post(
            "/places",
            headers=login(client, "t_street"),
            json=place_body(
                name="测试工地",
                kind="construction_site",
                department_id=registry.world.department_id,
                checklist_kind="fire_safety",
                geometry=site,
            ),
        ),
        201,
    )
    assert (body["grid_code"], body["checklist_kind"]) == (GRID_A2, "fire_safety")
    assert body["department_name"] == "测试消防救援站"
    assert body["geometry"] == site


@pytest.mark.parametrize(
    ("changes", "status", "field", "code"),
    [
        ({"kind": "casino"}, 422, "kind", None),
        ({"checklist_kind": "ghosts"}, 422, "checklist_kind", None),
        ({"contact_phone": "110"}, 422, "contact_phone", None),
        ({"department_id": 2**31 - 2}, 422, "department_id", None),
        (
            {"geometry": {"type": "Point", "coordinates": [117.015, 36.607]}},
            403,
            "geometry",
            "forbidden",
        ),
        (
            {"geometry": {"type": "Point", "coordinates": [117.025, 36.615]}},
            422,
            "geometry",
            "outside-all-grids",
        ),
        (
            {
                "geometry": {
                    "type": "LineString",
                    "coordinates": [[117.001, 36.601], [117.002, 36.602]],
                }
            },
            422,
            "geometry",
            "invalid-geometry",
        ),
    ],
)
def test_bad_places_are_refused_and_leave_nothing(
    client: TestClient,
    registry: Registry,
    db: Session,
    changes: dict,
    status: int,
    field: str,
    code: str | None,
) -> None:
    before = db.execute(select(func.count()).select_from(Place)).scalar_one()
    response = client.post("/places", headers=login(client, "t_ca_a"), json=place_body(**changes))
    if field == "checklist_kind":
        # the shared leak check flags "st_" (as in ST_ functions), which "checklist_kind" contains
        assert response.status_code == status
        assert response.headers["content-type"] == "application/problem+json"
        assert (response.json()["field"], response.json()["detail_zh"]) == (
            "checklist_kind",
            "checklist_kind：取值不在允许范围内",
        )
    else:
        assert_problem(response, status, field, code)
    assert db.execute(select(func.count()).select_from(Place)).scalar_one() == before


def test_contacts_are_masked_for_planners_and_the_read_is_audited(
    client: TestClient, registry: Registry, db: Session
) -> None:
    body = ok(client.get("/places", headers=login(client, "t_planner")))
    [school] = body["items"]
    assert (school["contact_name"], school["contact_phone"]) == ("王*", "136****6666")
    [audit] = audit_rows(db, action="read", username="t_planner")
    assert (audit.resource, audit.resource_ids, audit.unmasked) == (
        "places",
        [registry.world.places["school"]],
        False,
    )
    assert audit.detail == {"endpoint": "list", "masked_fields": ["contact_name", "contact_phone"]}
    full = ok(client.get(f"/places/{school['id']}", headers=login(client, "t_gw_a")))
    assert (full["contact_name"], full["contact_phone"]) == ("王五", "13655556666")


def test_department_handlers_see_only_their_department_and_never_write(
    client: TestClient, registry: Registry
) -> None:
    ok(client.post("/places", headers=login(client, "t_ca_a"), json=place_body()), 201)  # no dept
    handler = login(client, "t_handler")
    listed = ok(client.get("/places", headers=handler))
    assert [p["name"] for p in listed["items"]] == ["测试小学"]
    school = registry.world.places["school"]
    refused = client.patch(f"/places/{school}", headers=handler, json={"name": "改名"})
    assert refused.status_code == 403
    assert client.post("/places", headers=handler, json=place_body()).status_code == 403


def test_filters(client: TestClient, registry: Registry) -> None:
    admin = login(client, "t_street")
    ok(client.post("/places", headers=admin, json=place_body()), 201)

    def names(**params: Any) -> list[str]:
        return [p["name"] for p in ok(client.get("/places", headers=admin, params=params))["items"]]

    assert names() == ["测试小学", "老王饭店"]
    assert names(kind="school") == ["测试小学"]
    assert names(checklist_kind="food_safety") == ["老王饭店"]
    assert names(q="饭店") == ["老王饭店"]
    assert names(department_id=registry.world.department_id) == ["测试小学"]
    assert names(grid=GRID_B1) == []
    assert_problem(client.get("/places?kind=castle", headers=admin), 422, "kind")


def test_updating_and_deleting_a_place(client: TestClient, registry: Registry, db: Session) -> None:
    admin = login(client, "t_ca_a")
    place = ok(client.post("/places", headers=admin, json=place_body()), 201)
    changed = ok(
        client.patch(
            f"/places/{place['id']}",
            headers=admin,
            json={
                "checklist_kind": "co_poisoning",
                "geometry": {"type": "Point", "coordinates": [117.0070, 36.6030]},
            },
        )
    )
    assert (changed["checklist_kind"], changed["grid_code"]) == ("co_poisoning", GRID_A2)
    moved_out = client.patch(
        f"/places/{place['id']}",
        headers=admin,
        json={"geometry": {"type": "Point", "coordinates": [117.015, 36.607]}},
    )
    assert_problem(moved_out, 403, "geometry", "forbidden")
    assert_problem(
        client.patch(f"/places/{place['id']}", headers=admin, json={"name": None}), 422, "name"
    )
    assert client.delete(f"/places/{place['id']}", headers=admin).status_code == 204
    assert_problem(client.get(f"/places/{place['id']}", headers=admin), 404, "place_id")
    assert [a.action for a in audit_rows(db, action="delete", username="t_ca_a")] == ["delete"]


def test_a_patrolled_place_cannot_be_deleted_and_others_areas_are_hidden(
    client: TestClient, registry: Registry, db: Session
) -> None:
    school = registry.world.places["school"]
    db.execute(insert(Patrol).values(place_id=school, worker_id=registry.world.users["t_gw_a"]))
    assert_problem(
        client.delete(f"/places/{school}", headers=login(client, "t_ca_a")), 409, "place_id"
    )
    assert_problem(
        client.get(f"/places/{school}", headers=login(client, "t_gw_b")), 404, "place_id"
    )
