"""/persons: roles, scope, masking with reveal, validation, deactivation, moves, audit."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from layers.models import Person
from tests.api.helpers import assert_problem
from tests.conftest import audit_rows, login
from tests.fixtures.registries import (
    LI_MEI_ID,
    NEW_MAN_ID,
    Registry,
    make_id_number,
    registry_fixture,  # noqa: F401
)
from tests.fixtures.world import GRID_A1, GRID_A2, PERSON_PHONE

JSON = "application/json"
MASKED = ["id_number", "phone", "birth_date"]
PERSONAL = ["name", "id_number", "phone", "birth_date"]


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == JSON
    return response.json()


def test_a_list_is_masked_by_default_and_audited(
    client: TestClient, registry: Registry, db: Session
) -> None:
    body = ok(client.get("/persons", headers=login(client, "t_ca_a")))
    assert body["total"] == 2 and body["limit"] == 100 and body["offset"] == 0
    by_name = {p["name"]: p for p in body["items"]}
    assert list(by_name) == ["张三", "李梅"]  # community A only, by id
    li = by_name["李梅"]
    assert li["id_number"] == "370102***********1"
    assert li["phone"] == "139****1111"
    assert li["birth_date"] is None
    assert li["age"] >= 86
    assert li["gender"] == "female"
    assert li["care_groups"] == ["elderly_alone"]
    assert (li["grid_code"], li["unit"], li["room"]) == (GRID_A1, "1", "302")
    assert by_name["张三"]["phone"] == "138****5678"
    [audit] = audit_rows(db, action="read", username="t_ca_a")
    assert audit.resource == "persons"
    assert audit.resource_ids == sorted(registry.persons[n] for n in ("张三", "李梅"))
    assert audit.fields == PERSONAL
    assert audit.unmasked is False
    assert audit.detail == {
        "endpoint": "list",
        "masked_fields": MASKED,
        "filters": {"status": "active"},
    }


def test_reveal_shows_identity_in_full_to_admins_and_is_audited_unmasked(
    client: TestClient, registry: Registry, db: Session
) -> None:
    person = registry.persons["李梅"]
    body = ok(client.get(f"/persons/{person}?reveal=true", headers=login(client, "t_street")))
    assert (body["id_number"], body["phone"], body["birth_date"]) == (
        LI_MEI_ID,
        "13900001111",
        "1940-03-15",
    )
    [audit] = audit_rows(db, action="read", username="t_street")
    assert (audit.resource_ids, audit.unmasked) == ([person], True)
    assert audit.detail == {"endpoint": "get", "masked_fields": []}


@pytest.mark.parametrize("path", ["/persons?reveal=true", "/persons/{id}?reveal=true"])
def test_grid_workers_may_not_reveal(
    client: TestClient, registry: Registry, db: Session, path: str
) -> None:
    url = path.format(id=registry.persons["李梅"])
    assert_problem(client.get(url, headers=login(client, "t_gw_a")), 403, "reveal", "forbidden")
    assert audit_rows(db, action="read", username="t_gw_a") == []


@pytest.mark.parametrize("username", ["t_planner", "t_dispatcher", "t_handler"])
def test_roles_without_person_duties_are_refused(
    client: TestClient, registry: Registry, username: str
) -> None:
    headers = login(client, username)
    person = registry.persons["李梅"]
    for response in (
        client.get("/persons", headers=headers),
        client.get(f"/persons/{person}", headers=headers),
        client.post("/persons", headers=headers, json={"household_id": 1, "name": "x"}),
        client.patch(f"/persons/{person}", headers=headers, json={"phone": "13900002222"}),
        client.delete(f"/persons/{person}?reason=other", headers=headers),
    ):
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == "application/problem+json"


def test_persons_outside_the_area_are_not_found_for_reads_and_writes(
    client: TestClient, registry: Registry, db: Session
) -> None:
    headers = login(client, "t_gw_b")
    person = registry.persons["李梅"]  # community A
    for response in (
        client.get(f"/persons/{person}", headers=headers),
        client.patch(f"/persons/{person}", headers=headers, json={"phone": "13900002222"}),
        client.delete(f"/persons/{person}?reason=other", headers=headers),
        client.post(f"/persons/{person}/move", headers=headers, json={"household_id": 1}),
    ):
        assert_problem(response, 404, "person_id", "not-found")
    assert client.get("/persons/0", headers=headers).status_code == 404
    assert client.get(f"/persons/{2**40}", headers=headers).status_code == 404
    phone = db.execute(select(Person.phone).where(Person.id == person)).scalar_one()
    assert phone == "13900001111"
    assert audit_rows(db, action="update", username="t_gw_b") == []


def test_filters_and_paging(client: TestClient, registry: Registry) -> None:
    headers = login(client, "t_street")

    def names(**params: Any) -> list[str]:
        return [
            p["name"] for p in ok(client.get("/persons", headers=headers, params=params))["items"]
        ]

    assert names() == ["张三", "李梅", "王芳"]
    assert names(q="李") == ["李梅"]
    assert names(q="%") == []  # wildcards are taken literally
    assert names(care_group="disabled") == ["王芳"]
    assert names(grid=GRID_A1) == ["张三", "李梅"]
    assert names(community="370199001002") == ["王芳"]
    assert names(household_id=registry.households["T-HH-2"]) == ["李梅"]
    assert names(id_number=LI_MEI_ID.lower()[:-1] + "1") == ["李梅"]
    page = ok(client.get("/persons", headers=headers, params={"limit": 1, "offset": 1}))
    assert (page["total"], [p["name"] for p in page["items"]]) == (3, ["李梅"])
    assert_problem(client.get("/persons?grid=123", headers=headers), 422, "grid")
    assert_problem(client.get("/persons?limit=0", headers=headers), 422, "limit")
    assert_problem(client.get("/persons?status=gone", headers=headers), 422, "status")
    assert_problem(client.get("/persons?comunity=1", headers=headers), 422, "comunity")


def test_registering_a_person_validates_and_derives_birth_date_and_gender(
    client: TestClient, registry: Registry, db: Session
) -> None:
    household = registry.households["T-HH-2"]
    body = ok(
        client.post(
            "/persons",
            headers=login(client, "t_gw_a"),
            json={
                "household_id": household,
                "name": " 赵新 ",
                "id_number": NEW_MAN_ID,
                "phone": "+86 137-0000-9999",
                "residence": "流动",
                "relation_to_head": "租户",
            },
        ),
        201,
    )
    assert body["name"] == "赵新"
    assert body["gender"] == "male"
    assert body["residence"] == "floating"
    assert body["id_number"] == NEW_MAN_ID[:6] + "*" * 11 + NEW_MAN_ID[-1]
    assert body["phone"] == "137****9999"
    stored = db.execute(select(Person).where(Person.id == body["id"])).scalar_one()
    assert (stored.phone, str(stored.birth_date)) == ("13700009999", "1990-01-01")
    [audit] = audit_rows(db, action="create", username="t_gw_a")
    assert audit.resource_ids == [body["id"]]
    assert audit.fields == [
        "birth_date",
        "gender",
        "id_number",
        "name",
        "phone",
        "relation_to_head",
        "residence",
    ]
    assert audit.detail == {"household_id": household}


@pytest.mark.parametrize(
    ("changes", "status", "field", "code"),
    [
        (
            {"id_number": NEW_MAN_ID[:-1] + ("1" if NEW_MAN_ID[-1] != "1" else "2")},
            422,
            "id_number",
            "invalid-input",
        ),
        ({"id_number": LI_MEI_ID, "gender": "female"}, 409, "id_number", "conflict"),  # taken
        ({"phone": "12345"}, 422, "phone", "invalid-input"),
        ({"gender": "male", "id_number": make_id_number("37010219900101002")}, 422, "gender", None),
        ({"birth_date": "2199-01-01", "gender": "male"}, 422, "birth_date", None),
        ({"name": "   "}, 422, "name", None),
        ({"nickname": "x"}, 422, "nickname", None),  # unknown field
        ({"household_id": 2**31 + 5}, 404, "household_id", "not-found"),
    ],
)
def test_bad_registrations_are_refused_and_leave_nothing(
    client: TestClient,
    registry: Registry,
    db: Session,
    changes: dict[str, Any],
    status: int,
    field: str,
    code: str | None,
) -> None:
    before = db.execute(select(func.count()).select_from(Person)).scalar_one()
    body = {"household_id": registry.households["T-HH-2"], "name": "赵新", "gender": "male"}
    response = client.post("/persons", headers=login(client, "t_gw_a"), json=body | changes)
    assert_problem(response, status, field, code)
    assert db.execute(select(func.count()).select_from(Person)).scalar_one() == before


def test_a_household_in_another_community_is_not_found(
    client: TestClient, registry: Registry
) -> None:
    response = client.post(
        "/persons",
        headers=login(client, "t_gw_a"),
        json={"household_id": registry.households["T-HH-3"], "name": "赵新", "gender": "male"},
    )
    assert_problem(response, 404, "household_id", "not-found")


def test_updating_a_person_checks_against_the_stored_id_number(
    client: TestClient, registry: Registry, db: Session
) -> None:
    headers = login(client, "t_gw_a")
    person = registry.persons["李梅"]
    body = ok(client.patch(f"/persons/{person}", headers=headers, json={"phone": "0531 8888 1234"}))
    assert body["phone"] == "053******1234"
    wrong = client.patch(f"/persons/{person}", headers=headers, json={"birth_date": "1941-03-15"})
    assert_problem(wrong, 422, "birth_date")
    assert_problem(
        client.patch(f"/persons/{person}", headers=headers, json={"gender": "male"}), 422, "gender"
    )
    assert_problem(
        client.patch(f"/persons/{person}", headers=headers, json={"id_number": PERSON_PHONE}),
        422,
        "id_number",
    )
    assert_problem(
        client.patch(f"/persons/{person}", headers=headers, json={"gender": None}), 422, "gender"
    )
    [audit] = audit_rows(db, action="update", username="t_gw_a")
    assert (audit.resource_ids, audit.fields) == ([person], ["phone"])


def test_deactivation_keeps_the_record_and_drops_it_from_default_lists(
    client: TestClient, registry: Registry, db: Session
) -> None:
    headers = login(client, "t_gw_a")
    person = registry.persons["李梅"]
    body = ok(
        client.delete(f"/persons/{person}?reason=deceased&left_on=2026-10-01", headers=headers)
    )
    assert (body["is_active"], body["left_on"], body["left_reason"]) == (
        False,
        "2026-10-01",
        "deceased",
    )
    listed = ok(client.get("/persons", headers=headers))["items"]
    assert [p["name"] for p in listed] == ["张三"]
    inactive = ok(client.get("/persons?status=inactive", headers=headers))["items"]
    assert [p["name"] for p in inactive] == ["李梅"]
    assert_problem(
        client.delete(f"/persons/{person}?reason=deceased", headers=headers), 409, "person_id"
    )
    assert_problem(client.delete(f"/persons/{person}?reason=gone", headers=headers), 422, "reason")
    assert_problem(client.delete(f"/persons/{person}", headers=headers), 422, "reason")
    [audit] = audit_rows(db, action="deactivate", username="t_gw_a")
    assert audit.detail == {"reason": "deceased", "left_on": "2026-10-01"}
    assert db.execute(select(Person.name).where(Person.id == person)).scalar_one() == "李梅"


def test_a_moved_person_follows_the_new_house_and_is_reactivated(
    client: TestClient, registry: Registry, db: Session
) -> None:
    admin = login(client, "t_ca_a")
    house = ok(
        client.post(
            "/houses",
            headers=admin,
            json={
                "building_id": registry.world.buildings["2"],
                "unit": "1",
                "floor": 1,
                "room": "101",
            },
        ),
        201,
    )
    household = ok(
        client.post(
            "/households", headers=admin, json={"house_id": house["id"], "household_no": "T-HH-7"}
        ),
        201,
    )
    person = registry.persons["李梅"]
    client.delete(f"/persons/{person}?reason=moved_away", headers=admin)
    body = ok(
        client.post(
            f"/persons/{person}/move",
            headers=admin,
            json={"household_id": household["id"], "relation_to_head": "户主"},
        )
    )
    assert (body["grid_code"], body["household_no"], body["is_active"]) == (GRID_A2, "T-HH-7", True)
    assert body["left_on"] is None and body["relation_to_head"] == "户主"
    [audit] = audit_rows(db, action="move", username="t_ca_a")
    assert audit.detail == {
        "from_household_id": registry.households["T-HH-2"],
        "to_household_id": household["id"],
        "from_grid": GRID_A1,
        "to_grid": GRID_A2,
        "reactivated": True,
    }
    assert_problem(
        client.post(
            f"/persons/{person}/move", headers=admin, json={"household_id": household["id"]}
        ),
        422,
        "household_id",
    )
