"""/care-groups and /persons/{id}/care-groups: configuration rights, filings, 包保, audit."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from layers.models import CareGroupCategory, PersonCareGroup
from tests.api.helpers import assert_problem
from tests.conftest import audit_rows, login
from tests.fixtures.registries import Registry, registry_fixture  # noqa: F401

JSON = "application/json"
DEFAULTS = ["elderly_alone", "disabled", "low_income", "unattended_child", "left_behind_child"]


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == JSON
    return response.json()


def test_every_role_reads_the_categories_admins_also_see_counts(
    client: TestClient, registry: Registry
) -> None:
    planner = ok(client.get("/care-groups", headers=login(client, "t_planner")))
    assert [c["code"] for c in planner] == DEFAULTS
    assert planner[0] == {
        "code": "elderly_alone",
        "name_zh": "独居/孤寡老人",
        "name_en": "Elderly living alone",
        "sort_order": 10,
        "is_active": True,
        "filing_count": None,
    }
    street = ok(client.get("/care-groups", headers=login(client, "t_street")))
    counts = {c["code"]: c["filing_count"] for c in street}
    assert (counts["elderly_alone"], counts["disabled"], counts["low_income"]) == (1, 1, 0)


@pytest.mark.parametrize("username", ["t_admin", "t_street"])
def test_admins_add_categories_and_the_change_is_audited(
    client: TestClient, registry: Registry, db: Session, username: str
) -> None:
    body = {
        "code": "elderly_sick",
        "name_zh": "失能老人",
        "name_en": "Frail elderly",
        "sort_order": 15,
    }
    created = ok(client.post("/care-groups", headers=login(client, username), json=body), 201)
    assert created == body | {"is_active": True, "filing_count": 0}
    listed = ok(client.get("/care-groups", headers=login(client, "t_gw_a")))
    assert [c["code"] for c in listed][:3] == ["elderly_alone", "elderly_sick", "disabled"]
    [audit] = audit_rows(db, action="create", username=username)
    assert audit.resource == "care_group_categories"
    assert audit.detail == {
        "code": "elderly_sick",
        "changes": {"name_zh": "失能老人", "name_en": "Frail elderly", "sort_order": 15},
    }


@pytest.mark.parametrize("username", ["t_ca_a", "t_gw_a", "t_planner", "t_dispatcher", "t_handler"])
def test_other_roles_may_not_configure_categories(
    client: TestClient, registry: Registry, db: Session, username: str
) -> None:
    headers = login(client, username)
    body = {"code": "new_group", "name_zh": "新类别", "name_en": "New group"}
    assert client.post("/care-groups", headers=headers, json=body).status_code == 403
    renamed = client.patch("/care-groups/disabled", headers=headers, json={"name_zh": "残障人士"})
    assert renamed.status_code == 403
    name = db.execute(
        select(CareGroupCategory.name_zh).where(CareGroupCategory.code == "disabled")
    ).scalar_one()
    assert name == "残疾人"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"code": "disabled", "name_zh": "别名", "name_en": "Alias"}, 409, "code"),
        ({"code": "other_group", "name_zh": "残疾人", "name_en": "Alias"}, 409, "name_zh"),
        ({"code": "Bad-Code", "name_zh": "坏代码", "name_en": "Bad"}, 422, "code"),
        ({"code": "x", "name_zh": "太短", "name_en": "Short"}, 422, "code"),
        ({"code": "no_name", "name_zh": "", "name_en": "No name"}, 422, "name_zh"),
    ],
)
def test_bad_categories_are_refused(
    client: TestClient, registry: Registry, body: dict, status: int, field: str
) -> None:
    response = client.post("/care-groups", headers=login(client, "t_street"), json=body)
    assert_problem(response, status, field)


def test_a_deactivated_category_is_hidden_and_takes_no_new_filings(
    client: TestClient, registry: Registry, db: Session
) -> None:
    street = login(client, "t_street")
    changed = ok(client.patch("/care-groups/low_income", headers=street, json={"is_active": False}))
    assert changed["is_active"] is False
    assert "low_income" not in [c["code"] for c in ok(client.get("/care-groups", headers=street))]
    everything = ok(client.get("/care-groups?include_inactive=true", headers=street))
    assert "low_income" in [c["code"] for c in everything]
    filing = client.post(
        f"/persons/{registry.persons['王芳']}/care-groups",
        headers=login(client, "t_gw_b"),
        json={"category_code": "low_income"},
    )
    assert_problem(filing, 422, "category_code")
    [audit] = audit_rows(db, action="update", username="t_street")
    assert audit.detail == {
        "code": "low_income",
        "changes": {"is_active": False},
        "before": {"is_active": True},
    }
    assert_problem(client.patch("/care-groups/nothing", headers=street, json={}), 404, "code")
    assert_problem(
        client.patch("/care-groups/disabled", headers=street, json={"is_active": None}),
        422,
        "is_active",
    )


def test_filing_a_person_with_a_responsible_team_member(
    client: TestClient, registry: Registry, db: Session
) -> None:
    worker = login(client, "t_gw_b")
    person = registry.persons["王芳"]
    filed = ok(
        client.post(
            f"/persons/{person}/care-groups",
            headers=worker,
            json={
                "category_code": "low_income",
                "responsible_user_id": registry.world.users["t_gw_b"],
                "visit_interval_days": 14,
                "since": "2026-04-01",
                "note": "每两周走访",
            },
        ),
        201,
    )
    assert filed == {
        "person_id": person,
        "category_code": "low_income",
        "category_name_zh": "低保户",
        "category_name_en": "Low-income (minimum living allowance) households",
        "category_active": True,
        "since": "2026-04-01",
        "responsible_user_id": registry.world.users["t_gw_b"],
        "responsible_name": "测试t_gw_b",
        "visit_interval_days": 14,
        "note": "每两周走访",
    }
    listed = ok(client.get(f"/persons/{person}/care-groups", headers=worker))
    assert [f["category_code"] for f in listed] == ["disabled", "low_income"]
    [read] = audit_rows(db, action="read", username="t_gw_b")
    assert (read.resource, read.resource_ids) == ("person_care_groups", [person])
    [created] = audit_rows(db, action="create", username="t_gw_b")
    assert created.detail == {"category_code": "low_income"}

    duplicate = client.post(
        f"/persons/{person}/care-groups", headers=worker, json={"category_code": "low_income"}
    )
    assert_problem(duplicate, 409, "category_code", "conflict")
    updated = ok(
        client.patch(
            f"/persons/{person}/care-groups/low_income",
            headers=worker,
            json={"visit_interval_days": 7, "responsible_user_id": None},
        )
    )
    assert (updated["visit_interval_days"], updated["responsible_user_id"]) == (7, None)
    removed = client.delete(f"/persons/{person}/care-groups/low_income", headers=worker)
    assert removed.status_code == 204 and removed.content == b""
    gone = db.execute(
        select(PersonCareGroup).where(
            PersonCareGroup.person_id == person, PersonCareGroup.category_code == "low_income"
        )
    ).first()
    assert gone is None
    assert_problem(
        client.delete(f"/persons/{person}/care-groups/low_income", headers=worker),
        404,
        "category_code",
    )


@pytest.mark.parametrize(
    ("responsible", "why"),
    [
        ("t_gw_a", "a grid worker of the other community"),
        ("t_planner", "a role without person duties"),
    ],
)
def test_the_responsible_user_must_cover_the_person(
    client: TestClient, registry: Registry, responsible: str, why: str
) -> None:
    response = client.post(
        f"/persons/{registry.persons['王芳']}/care-groups",
        headers=login(client, "t_street"),
        json={
            "category_code": "low_income",
            "responsible_user_id": registry.world.users[responsible],
        },
    )
    assert_problem(response, 422, "responsible_user_id"), why


def test_the_street_admin_may_be_responsible_for_anyone_in_the_street(
    client: TestClient, registry: Registry
) -> None:
    response = client.post(
        f"/persons/{registry.persons['王芳']}/care-groups",
        headers=login(client, "t_gw_b"),
        json={
            "category_code": "low_income",
            "responsible_user_id": registry.world.users["t_street"],
        },
    )
    assert ok(response, 201)["responsible_name"] == "测试t_street"


def test_filings_of_persons_outside_the_area_are_not_found(
    client: TestClient, registry: Registry
) -> None:
    headers = login(client, "t_gw_a")
    person = registry.persons["王芳"]
    assert_problem(client.get(f"/persons/{person}/care-groups", headers=headers), 404, "person_id")
    assert_problem(
        client.post(
            f"/persons/{person}/care-groups", headers=headers, json={"category_code": "disabled"}
        ),
        404,
        "person_id",
    )
    unknown = client.post(
        f"/persons/{registry.persons['李梅']}/care-groups",
        headers=headers,
        json={"category_code": "no_such"},
    )
    assert_problem(unknown, 422, "category_code")
