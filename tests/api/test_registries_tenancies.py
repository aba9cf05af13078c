"""/tenancies and /houses/{id}/tenancies: rental houses over time, masked landlords, the flag."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.api.helpers import assert_problem
from tests.conftest import audit_rows, login
from tests.fixtures.registries import Registry, registry_fixture  # noqa: F401

JSON = "application/json"
LAST_MONTH = (date.today() - timedelta(days=30)).isoformat()
YESTERDAY = (date.today() - timedelta(days=1)).isoformat()


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == JSON
    return response.json()


def tenancy_body(registry: Registry, **changes: Any) -> dict[str, Any]:
    body = {
        "house_id": registry.houses["4-201"],
        "tenant_household_id": registry.households["T-HH-3"],
        "landlord_name": "赵六",
        "landlord_phone": "13512345678",
        "started_on": LAST_MONTH,
    }
    return body | changes


def test_recording_a_tenancy_marks_the_house_as_rental(
    client: TestClient, registry: Registry, db: Session
) -> None:
    worker = login(client, "t_gw_b")
    body = ok(client.post("/tenancies", headers=worker, json=tenancy_body(registry)), 201)
    assert (body["landlord_name"], body["landlord_phone"]) == ("赵六", "135****5678")
    assert body["tenants"] == [{"person_id": registry.persons["王芳"], "name": "王芳"}]
    assert (body["is_current"], body["ended_on"], body["room"]) == (True, None, "201")
    house = ok(client.get(f"/houses/{registry.houses['4-201']}", headers=worker))
    assert (house["is_rental"], house["current_tenancy_count"]) == (True, 1)
    [audit] = audit_rows(db, action="create", username="t_gw_b")
    assert (audit.resource, audit.resource_ids) == ("tenancies", [body["id"]])
    # the flag cannot be cleared by hand while the tenancy runs
    cleared = client.patch(
        f"/houses/{registry.houses['4-201']}", headers=worker, json={"is_rental": False}
    )
    assert_problem(cleared, 409, "is_rental", "conflict")


def test_ending_a_tenancy_clears_the_flag_and_keeps_the_history(
    client: TestClient, registry: Registry
) -> None:
    worker = login(client, "t_gw_b")
    first = ok(client.post("/tenancies", headers=worker, json=tenancy_body(registry)), 201)
    ended = ok(
        client.patch(f"/tenancies/{first['id']}", headers=worker, json={"ended_on": YESTERDAY})
    )
    assert (ended["is_current"], ended["ended_on"]) == (False, YESTERDAY)
    house = registry.houses["4-201"]
    assert ok(client.get(f"/houses/{house}", headers=worker))["is_rental"] is False
    # a new landlord lets the house again from today: a new row, the history keeps both
    second = ok(
        client.post(
            "/tenancies",
            headers=worker,
            json=tenancy_body(
                registry,
                landlord_name=None,
                landlord_phone=None,
                landlord_person_id=registry.persons["王芳"],
                started_on=date.today().isoformat(),
            ),
        ),
        201,
    )
    assert (second["landlord_name"], second["landlord_phone"]) == ("王芳", "053******1234")
    history = ok(client.get(f"/houses/{house}/tenancies", headers=worker))
    assert [t["id"] for t in history["items"]] == [second["id"], first["id"]]
    current = ok(client.get(f"/houses/{house}/tenancies?current=true", headers=worker))
    assert [t["id"] for t in current["items"]] == [second["id"]]
    assert ok(client.get(f"/houses/{house}", headers=worker))["is_rental"] is True


@pytest.mark.parametrize(
    ("changes", "status", "field"),
    [
        ({"landlord_name": None, "landlord_phone": None}, 422, "landlord_name"),
        ({"landlord_person_id": 1}, 422, "landlord_name"),  # person and name together
        ({"ended_on": "2000-01-01"}, 422, "ended_on"),
        ({"landlord_phone": "555"}, 422, "landlord_phone"),
        ({"house_id": 2**31 + 1}, 404, "house_id"),
        ({"note": "x" * 1001}, 422, "note"),
    ],
)
def test_bad_tenancies_are_refused(
    client: TestClient, registry: Registry, changes: dict, status: int, field: str
) -> None:
    if changes.get("landlord_person_id"):
        changes = changes | {"landlord_person_id": registry.persons["王芳"]}
    response = client.post(
        "/tenancies", headers=login(client, "t_gw_b"), json=tenancy_body(registry, **changes)
    )
    assert_problem(response, status, field)


def test_overlapping_tenancies_of_one_household_conflict(
    client: TestClient, registry: Registry
) -> None:
    worker = login(client, "t_gw_b")
    ok(client.post("/tenancies", headers=worker, json=tenancy_body(registry)), 201)
    again = client.post(
        "/tenancies", headers=worker, json=tenancy_body(registry, started_on="2030-01-01")
    )
    assert_problem(again, 409, "started_on", "conflict")
    moved = client.patch(
        "/tenancies/1", headers=worker, json={"house_id": registry.houses["3-101"]}
    )
    assert_problem(moved, 422, "house_id")


def test_landlord_phones_are_revealed_to_admins_only(
    client: TestClient, registry: Registry, db: Session
) -> None:
    tenancy = ok(
        client.post("/tenancies", headers=login(client, "t_gw_b"), json=tenancy_body(registry)), 201
    )
    street = login(client, "t_street")
    full = ok(client.get(f"/tenancies/{tenancy['id']}?reveal=true", headers=street))
    assert full["landlord_phone"] == "13512345678"
    [audit] = audit_rows(db, action="read", username="t_street")
    assert (audit.resource_ids, audit.unmasked) == ([tenancy["id"]], True)
    assert audit.fields == ["landlord_name", "landlord_phone", "tenants.name"]
    refused = client.get(f"/tenancies/{tenancy['id']}?reveal=true", headers=login(client, "t_gw_b"))
    assert_problem(refused, 403, "reveal", "forbidden")


def test_tenancies_are_scoped_and_closed_to_roles_without_person_duties(
    client: TestClient, registry: Registry
) -> None:
    tenancy = ok(
        client.post("/tenancies", headers=login(client, "t_gw_b"), json=tenancy_body(registry)), 201
    )
    other = login(client, "t_gw_a")
    assert_problem(client.get(f"/tenancies/{tenancy['id']}", headers=other), 404, "tenancy_id")
    assert ok(client.get("/tenancies", headers=other))["total"] == 0
    assert_problem(
        client.get(f"/houses/{registry.houses['4-201']}/tenancies", headers=other), 404, "house_id"
    )
    planner = login(client, "t_planner")
    assert client.get("/tenancies", headers=planner).status_code == 403
    # planners read houses, but a house's tenancies name people
    house_tenancies = client.get(f"/houses/{registry.houses['4-201']}/tenancies", headers=planner)
    assert house_tenancies.status_code == 403
