"""/visits and /visits/overdue: recording with GPS and CRS, who may visit whom, the overdue list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import prcoords

from layers.models.registries import Visit
from tests.api.helpers import assert_problem
from tests.conftest import audit_rows, login
from tests.fixtures.registries import Registry, registry_fixture  # noqa: F401

JSON = "application/json"
# Building 1 spans lat 36.6049..36.6051: this point is 0.0001° (≈ 11.1 m) north of it.
NORTH_OF_BUILDING_1 = (117.0025, 36.6052)


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == JSON
    return response.json()


def visit_body(registry: Registry, **changes: Any) -> dict[str, Any]:
    body = {
        "person_id": registry.persons["李梅"],
        "visited_at": "2026-03-01T09:30:00+08:00",
        "location": {"type": "Point", "coordinates": list(NORTH_OF_BUILDING_1)},
        "note": "身体状况良好",
    }
    return body | changes


def test_a_grid_worker_records_a_visit_with_a_gps_point(
    client: TestClient, registry: Registry, db: Session
) -> None:
    body = ok(
        client.post("/visits", headers=login(client, "t_gw_a"), json=visit_body(registry)), 201
    )
    assert body["person_name"] == "李梅"
    assert (body["visitor_id"], body["visitor_name"]) == (
        registry.world.users["t_gw_a"],
        "测试t_gw_a",
    )
    assert datetime.fromisoformat(body["visited_at"]) == datetime(2026, 3, 1, 1, 30, tzinfo=UTC)
    assert body["location"] == {"type": "Point", "coordinates": list(NORTH_OF_BUILDING_1)}
    assert body["distance_to_home_m"] == 11  # metres on the ellipsoid, not degrees
    assert body["note"] == "身体状况良好"
    [audit] = audit_rows(db, action="create", username="t_gw_a")
    assert (audit.resource, audit.resource_ids) == ("visits", [body["id"]])
    assert audit.detail == {"person_id": registry.persons["李梅"]}


def test_a_gps_point_in_gcj02_is_stored_in_wgs84(client: TestClient, registry: Registry) -> None:
    lon, lat = NORTH_OF_BUILDING_1
    gcj = prcoords.wgs_gcj((lat, lon))  # (lat, lon) in, (lat, lon) out
    body = ok(
        client.post(
            "/visits?crs=GCJ-02",
            headers=login(client, "t_gw_a"),
            json=visit_body(registry, location={"type": "Point", "coordinates": [gcj[1], gcj[0]]}),
        ),
        201,
    )
    got_lon, got_lat = body["location"]["coordinates"]
    assert abs(got_lon - lon) < 1e-6 and abs(got_lat - lat) < 1e-6
    assert body["distance_to_home_m"] == 11


def test_a_visit_without_a_location_has_no_distance(client: TestClient, registry: Registry) -> None:
    body = ok(
        client.post(
            "/visits",
            headers=login(client, "t_gw_a"),
            json=visit_body(registry, location=None, visited_at=None),
        ),
        201,
    )
    assert (body["location"], body["distance_to_home_m"]) == (None, None)
    assert datetime.now(UTC) - datetime.fromisoformat(body["visited_at"]) < timedelta(minutes=5)


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"visited_at": "2026-03-01T09:30:00"}, "visited_at", "invalid-input"),  # no offset
        ({"visited_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()}, "visited_at", None),
        ({"visited_at": "1999-12-31T23:00:00+08:00"}, "visited_at", None),
        ({"location": {"type": "Point", "coordinates": [36.6052, 117.0025]}}, "location", None),
        (
            {"location": {"type": "LineString", "coordinates": [[117, 36], [117.1, 36]]}},
            "location",
            "invalid-geometry",
        ),
        ({"note": "长" * 2001}, "note", None),
        ({"visitor_id": 1}, "visitor_id", None),  # a grid worker records own visits only
    ],
)
def test_bad_visits_are_refused_and_leave_nothing(
    client: TestClient, registry: Registry, db: Session, changes: dict, field: str, code: str | None
) -> None:
    before = db.execute(select(func.count()).select_from(Visit)).scalar_one()
    response = client.post(
        "/visits", headers=login(client, "t_gw_a"), json=visit_body(registry, **changes)
    )
    assert_problem(response, 422, field, code)
    assert db.execute(select(func.count()).select_from(Visit)).scalar_one() == before


def test_visits_outside_the_area_or_by_other_roles_are_refused(
    client: TestClient, registry: Registry
) -> None:
    elsewhere = client.post(
        "/visits",
        headers=login(client, "t_gw_b"),
        json=visit_body(registry),  # 李梅 lives in community A
    )
    assert_problem(elsewhere, 404, "person_id", "not-found")
    for username in ("t_planner", "t_dispatcher", "t_handler"):
        response = client.post(
            "/visits", headers=login(client, username), json=visit_body(registry)
        )
        assert response.status_code == 403


def test_admins_may_record_a_visit_made_by_a_worker_of_their_area(
    client: TestClient, registry: Registry
) -> None:
    worker = registry.world.users["t_gw_a"]
    body = ok(
        client.post(
            "/visits", headers=login(client, "t_ca_a"), json=visit_body(registry, visitor_id=worker)
        ),
        201,
    )
    assert body["visitor_name"] == "测试t_gw_a"
    other = client.post(
        "/visits",
        headers=login(client, "t_ca_a"),
        json=visit_body(registry, visitor_id=registry.world.users["t_gw_b"]),
    )
    assert_problem(other, 422, "visitor_id")


def test_visits_are_listed_newest_first_and_the_read_is_audited(
    client: TestClient, registry: Registry, db: Session
) -> None:
    worker = login(client, "t_gw_a")
    first = ok(client.post("/visits", headers=worker, json=visit_body(registry)), 201)
    second = ok(
        client.post(
            "/visits",
            headers=worker,
            json=visit_body(registry, visited_at="2026-03-08T10:00:00+08:00"),
        ),
        201,
    )
    listed = ok(client.get(f"/visits?person_id={registry.persons['李梅']}", headers=worker))
    assert [v["id"] for v in listed["items"]] == [second["id"], first["id"]]
    window = ok(client.get("/visits?since=2026-03-02&until=2026-03-31", headers=worker))
    assert [v["id"] for v in window["items"]] == [second["id"]]
    assert ok(client.get("/visits", headers=login(client, "t_gw_b")))["total"] == 0
    reads = audit_rows(db, action="read", username="t_gw_a")
    assert [r.resource_ids for r in reads] == [[first["id"], second["id"]], [second["id"]]]
    assert reads[0].detail == {"endpoint": "list", "person_ids": [registry.persons["李梅"]]}
    assert_problem(
        client.get("/visits?since=2026-04-01&until=2026-03-01", headers=worker), 422, "since"
    )


def test_the_overdue_list_has_known_answers(
    client: TestClient, registry: Registry, db: Session
) -> None:
    street = login(client, "t_street")
    body = ok(client.get("/visits/overdue?as_of=2026-03-01", headers=street))
    assert body["total"] == 2
    assert [(r["name"], r["due_on"], r["days_overdue"]) for r in body["items"]] == [
        ("李梅", "2026-01-31", 29),
        ("王芳", "2026-02-08", 21),
    ]
    li = body["items"][0]
    assert li["responsible"] == [{"user_id": registry.world.users["t_gw_a"], "name": "测试t_gw_a"}]
    assert (li["interval_days"], li["last_visited_at"], li["categories"]) == (
        30,
        None,
        ["elderly_alone"],
    )
    [audit] = audit_rows(db, action="read", username="t_street")
    assert audit.resource_ids == sorted([registry.persons["李梅"], registry.persons["王芳"]])
    assert audit.detail == {"endpoint": "overdue", "masked_fields": []}

    # a visit on 02-20 moves 李梅's due date to 03-21
    ok(
        client.post(
            "/visits",
            headers=login(client, "t_gw_a"),
            json=visit_body(registry, visited_at="2026-02-20T15:00:00+08:00"),
        ),
        201,
    )
    after = ok(client.get("/visits/overdue?as_of=2026-03-01", headers=street))
    assert [r["name"] for r in after["items"]] == ["王芳"]


def test_mine_lists_only_the_filings_i_am_responsible_for(
    client: TestClient, registry: Registry
) -> None:
    mine = ok(
        client.get("/visits/overdue?as_of=2026-03-01&mine=true", headers=login(client, "t_gw_a"))
    )
    assert [r["name"] for r in mine["items"]] == ["李梅"]
    nobody = ok(
        client.get("/visits/overdue?as_of=2026-03-01&mine=true", headers=login(client, "t_gw_b"))
    )
    assert nobody["items"] == []
    both = client.get(
        "/visits/overdue?mine=true&responsible_user_id=1", headers=login(client, "t_gw_a")
    )
    assert_problem(both, 422, "mine")
    assert client.get("/visits/overdue", headers=login(client, "t_dispatcher")).status_code == 403
