"""Personal data in feature reads: masked by role, and every read of it audited once."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import String, func, literal, select, update
from sqlalchemy.orm import Session

from layers.access import mask_name, mask_phone
from layers.features import sql_mask_name, sql_mask_phone
from layers.models import AuditLog, Incident
from tests.api.helpers import assert_problem, get_feature, get_features, ids
from tests.conftest import audit_rows, login
from tests.fixtures.world import GRID_A1, GRID_B1, REPORTER_PHONE, World

INCIDENT_FIELDS = ["reporter_name", "reporter_phone"]


def read_audits(db: Session, username: str) -> list[AuditLog]:
    """The audit rows of feature reads by one user in this test, oldest first."""
    return audit_rows(db, action="read", username=username)


def reporters(body: dict) -> list[tuple[str, str]]:
    return [
        (f["properties"]["reporter_name"], f["properties"]["reporter_phone"])
        for f in body["features"]
    ]


def test_planner_sees_reporters_masked_and_the_read_is_audited_as_masked(
    client: TestClient, world: World, db: Session
) -> None:
    body = get_features(client, "/collections/incidents/items", login(client, "t_planner"))
    assert reporters(body) == [("李*", "139****4321"), ("李*", "139****4321")]
    assert REPORTER_PHONE not in str(body)
    [audit] = read_audits(db, "t_planner")
    assert audit.resource == "incidents"
    assert audit.resource_ids == sorted(world.incidents.values())
    assert audit.fields == INCIDENT_FIELDS
    assert audit.unmasked is False
    assert audit.user_id == world.users["t_planner"]
    assert audit.detail == {"endpoint": "items", "masked_fields": INCIDENT_FIELDS}


def test_street_admin_sees_reporters_in_full_and_the_read_is_audited_as_unmasked(
    client: TestClient, world: World, db: Session
) -> None:
    body = get_features(client, "/collections/incidents/items", login(client, "t_street"))
    assert reporters(body) == [("李四", REPORTER_PHONE), ("李四", REPORTER_PHONE)]
    [audit] = read_audits(db, "t_street")
    assert (audit.resource, audit.unmasked) == ("incidents", True)
    assert audit.resource_ids == sorted(world.incidents.values())
    assert audit.fields == INCIDENT_FIELDS
    assert audit.detail["masked_fields"] == []


@pytest.mark.parametrize(
    ("username", "expected", "unmasked"),
    [
        ("t_admin", ("李四", REPORTER_PHONE), True),
        ("t_ca_a", ("李四", REPORTER_PHONE), True),
        ("t_dispatcher", ("李四", REPORTER_PHONE), True),
        ("t_gw_a", ("李四", REPORTER_PHONE), True),
        ("t_planner", ("李*", "139****4321"), False),
    ],
)
def test_reporter_masking_follows_the_role(
    client: TestClient,
    world: World,
    db: Session,
    username: str,
    expected: tuple[str, str],
    unmasked: bool,
) -> None:
    url = f"/collections/incidents/items/{world.incidents['a1']}"
    feature = get_feature(client, url, login(client, username))
    props = feature["properties"]
    assert (props["reporter_name"], props["reporter_phone"]) == expected
    [audit] = read_audits(db, username)
    assert audit.resource_ids == [world.incidents["a1"]]
    assert audit.unmasked is unmasked
    assert audit.detail["endpoint"] == "item"


def test_dept_handler_sees_reporters_of_their_items_to_call_back(
    client: TestClient, world: World, db: Session
) -> None:
    db.execute(
        update(Incident)
        .where(Incident.id == world.incidents["b1"])
        .values(department_id=world.department_id)
    )
    db.flush()
    body = get_features(client, "/collections/incidents/items", login(client, "t_handler"))
    assert ids(body) == [world.incidents["b1"]]
    assert reporters(body) == [("李四", "13987654321")]
    [audit] = read_audits(db, "t_handler")
    assert (audit.resource_ids, audit.unmasked) == ([world.incidents["b1"]], True)


def test_grid_staff_are_masked_for_planners_and_full_for_grid_workers(
    client: TestClient, world: World, db: Session
) -> None:
    planner = get_features(client, "/collections/grids/items", login(client, "t_planner"))
    staff = {f["properties"]["code"]: f["properties"]["staff"] for f in planner["features"]}
    assert staff[GRID_A1] == [{"name": "测*******", "duty": "leader", "phone": "137****2222"}]
    assert staff[GRID_B1] == [{"name": "测*******", "duty": "worker", "phone": "137****4444"}]
    [audit] = read_audits(db, "t_planner")
    # only the grids that list staff carry personal data
    assert audit.resource == "grids"
    assert audit.resource_ids == sorted([world.grids[GRID_A1], world.grids[GRID_B1]])
    assert audit.fields == ["staff.name", "staff.phone"]
    assert audit.unmasked is False

    worker = get_features(client, "/collections/grids/items", login(client, "t_gw_a"))
    a1 = worker["features"][0]["properties"]
    assert a1["staff"] == [{"name": "测试t_gw_a", "duty": "leader", "phone": "13711112222"}]
    [audit] = read_audits(db, "t_gw_a")
    assert (audit.resource_ids, audit.unmasked) == ([world.grids[GRID_A1]], True)


def test_place_contacts_are_masked_for_planners(
    client: TestClient, world: World, db: Session
) -> None:
    body = get_features(client, "/collections/places/items", login(client, "t_planner"))
    props = body["features"][0]["properties"]
    assert (props["contact_name"], props["contact_phone"]) == ("王*", "136****6666")
    [audit] = read_audits(db, "t_planner")
    assert audit.resource == "places"
    assert audit.resource_ids == [world.places["school"]]
    assert audit.fields == ["contact_name", "contact_phone"]
    assert audit.unmasked is False


def test_reads_without_personal_data_write_no_audit_row(
    client: TestClient, world: World, db: Session
) -> None:
    headers = login(client, "t_street")
    before = db.scalar(select(func.count()).select_from(AuditLog))
    for layer in ("admin_units", "roads", "buildings"):
        assert get_features(client, f"/collections/{layer}/items", headers)["features"]
    get_feature(client, f"/collections/buildings/items/{world.buildings['1']}", headers)
    # a layer with personal fields, but a page that returns no row carrying them
    empty = get_features(client, "/collections/incidents/items", headers, status="closed")
    assert empty["features"] == []
    a2 = get_features(
        client, "/collections/grids/items", headers, bbox="117.006,36.601,117.009,36.609"
    )
    assert a2["features"][0]["properties"]["staff"] == []
    # a rejected request reads nothing
    assert client.get("/collections/incidents/items?bbox=1,2", headers=headers).status_code == 422
    assert db.scalar(select(func.count()).select_from(AuditLog)) == before
    assert read_audits(db, "t_street") == []


@pytest.mark.parametrize(
    "value",
    [
        REPORTER_PHONE,
        "1234567",
        "12345678",
        "",
        "+86 139 8765 4321",
        "0531-88776655",
        "李四",
        "欧阳娜娜",
        "A",
        None,
    ],
)
def test_sql_masks_equal_the_python_masks(db: Session, value: str | None) -> None:
    bound = literal(value, String)
    phone, name = db.execute(select(sql_mask_phone(bound), sql_mask_name(bound))).one()
    assert phone == mask_phone(value)
    assert name == mask_name(value)


# --- property selection (`properties`): a map asks only for what it draws ---------------------


def test_selecting_properties_without_reporters_returns_only_them_and_is_not_audited(
    client: TestClient, world: World, db: Session
) -> None:
    body = get_features(
        client,
        "/collections/incidents/items",
        login(client, "t_street"),
        properties="code,title,status",
    )
    assert len(body["features"]) == len(world.incidents)
    for feature in body["features"]:
        assert list(feature["properties"]) == ["code", "title", "status"]
        assert feature["geometry"]["type"] == "Point"
    assert REPORTER_PHONE not in str(body)
    assert read_audits(db, "t_street") == []


def test_selecting_a_personal_property_is_audited_as_before(
    client: TestClient, world: World, db: Session
) -> None:
    body = get_features(
        client,
        "/collections/incidents/items",
        login(client, "t_street"),
        properties="code,reporter_phone",
    )
    assert {f["properties"]["reporter_phone"] for f in body["features"]} == {REPORTER_PHONE}
    [audit] = read_audits(db, "t_street")
    assert audit.resource_ids == sorted(world.incidents.values())


def test_an_unknown_or_empty_property_selection_is_a_clear_422(
    client: TestClient, world: World
) -> None:
    headers = login(client, "t_street")
    for value in ("code,no_such_field", " , "):
        response = client.get(
            "/collections/incidents/items", headers=headers, params={"properties": value}
        )
        assert_problem(response, 422, "properties", "invalid-input")
