"""Grid plans over HTTP: draft → split by a line → validate → diff → publish, conflicts, roles,
sizing, history, building grid on a date, 四至."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from layers.models import Grid
from tests.api.helpers import PROBLEM, assert_problem
from tests.conftest import audit_rows, login
from tests.fixtures.plans import PlanWorld, build_plan_world
from tests.fixtures.world import COMMUNITY_A, COMMUNITY_B, GRID_A1, GRID_A2, GRID_B1, World

JSON = "application/json"
WEST, EAST = COMMUNITY_A + "003", COMMUNITY_A + "004"
LINE = {"type": "LineString", "coordinates": [[117.0025, 36.599], [117.0025, 36.611]]}


@pytest.fixture
def pw(db: Session, world: World) -> PlanWorld:
    return build_plan_world(db, world)


def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == JSON
    body: dict[str, Any] = response.json()
    return body


def _forbidden(response: Any) -> None:
    """A 403 problem+json in both languages."""
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["code"] == "forbidden" and body["detail"] and body["detail_zh"]


def _new_plan(client: TestClient, headers: dict[str, str], scope: str = COMMUNITY_A) -> int:
    body = _ok(
        client.post("/plans", json={"scope_code": scope, "name": "东风社区调整"}, headers=headers),
        201,
    )
    assert body["status"] == "draft" and body["edits"] == []
    assert (body["scope_code"], body["scope_name"], body["scope_level"]) == (
        scope,
        "东风社区" if scope == COMMUNITY_A else body["scope_name"],
        "community" if len(scope.rstrip("0")) > 9 else "street",
    )
    return int(body["id"])


def test_split_validate_diff_publish_end_to_end(
    client: TestClient, db: Session, world: World, pw: PlanWorld
) -> None:
    headers = login(client, "t_planner")
    plan_id = _new_plan(client, headers)

    edit = _ok(
        client.post(
            f"/plans/{plan_id}/edits",
            json={"op": "split", "key": GRID_A1, "geometry": LINE, "expected_version": 1},
            headers=headers,
        ),
        201,
    )
    assert edit["seq"] == 1 and edit["op"] == "split"
    assert edit["sources"] == [{"key": GRID_A1, "version": 1}]
    assert [p["key"] for p in edit["parts"]] == ["new-1-1", "new-1-2"]
    assert edit["parts"][0]["area_m2"] == pytest.approx(edit["parts"][1]["area_m2"])

    grids = client.get(f"/plans/{plan_id}/grids", headers=headers)
    assert grids.status_code == 200
    assert grids.headers["content-type"] == "application/geo+json"
    features = grids.json()["features"]
    assert [(f["id"], f["properties"]["draft"]) for f in features] == [
        (GRID_A2, False),
        ("new-1-1", True),
        ("new-1-2", True),
    ]
    assert features[1]["geometry"]["type"] == "MultiPolygon"
    assert {tuple(p) for p in features[1]["geometry"]["coordinates"][0][0]} == {
        (117.0, 36.6),
        (117.0025, 36.6),
        (117.0025, 36.61),
        (117.0, 36.61),
    }

    validation = _ok(client.get(f"/plans/{plan_id}/validate", headers=headers))
    assert validation["ok"] is True
    assert validation["stale"] == []
    assert validation["active_edits"] == 1
    assert validation["coverage"]["parent"]["code"] == COMMUNITY_A

    diff = _ok(client.get(f"/plans/{plan_id}/diff", headers=headers))
    assert diff["codes_created"] == [WEST, EAST]
    assert diff["codes_retired"] == [GRID_A1]
    rows = {g["code"]: g for g in diff["grids"]}
    assert rows[GRID_A1]["before"] == {
        "buildings": 5,
        "households": 7,
        "persons": 10,
        "places": 1,
        "open_incidents": 3,
    }
    assert rows[WEST]["after"]["persons"] == 6 and rows[EAST]["after"]["persons"] == 4
    assert rows[WEST]["after"]["open_incidents"] == 2
    assert rows[EAST]["after"]["open_incidents"] == 1
    assert rows[WEST]["target"] == {
        "sizing_type": "scattered",
        "min_households": 120,
        "max_households": 160,
    }
    assert rows[EAST]["deviation"]["status"] == "below"
    moves = {(m["layer"], m["to_code"]): m["count"] for m in diff["moves"]}
    assert moves[("persons", WEST)] == 6 and moves[("open_incidents", EAST)] == 1

    published = _ok(
        client.post(
            f"/plans/{plan_id}/publish",
            json={"effective_at": "2026-06-01T00:00:00+08:00"},
            headers=headers,
        )
    )
    assert published["effective_at"] == "2026-05-31T16:00:00Z"
    assert [(g["code"], g["version"]) for g in published["created"]] == [(WEST, 1), (EAST, 1)]
    assert published["closed"] == [{"key": GRID_A1, "version": 1}]
    assert published["codes_issued"] == [WEST, EAST]
    assert published["codes_retired"] == [GRID_A1]
    assert published["reassigned"] == {"buildings": 5, "places": 1, "incidents": 4}

    # persons and open incidents landed in the new grids, as the diff said
    new_ids = {g["code"]: g["id"] for g in published["created"]}
    persons = dict(
        db.execute(
            text(
                "SELECT b.grid_id, count(p.id) FROM persons p "
                "JOIN households hh ON hh.id = p.household_id JOIN houses h ON h.id = hh.house_id "
                "JOIN buildings b ON b.id = h.building_id WHERE b.grid_id = ANY(:ids) "
                "GROUP BY b.grid_id"
            ),
            {"ids": list(new_ids.values())},
        ).all()
    )
    assert persons == {new_ids[WEST]: 6, new_ids[EAST]: 4}
    open_incidents = dict(
        db.execute(
            text(
                "SELECT grid_id, count(*) FROM incidents WHERE status <> 'closed' "
                "AND grid_id = ANY(:ids) GROUP BY grid_id"
            ),
            {"ids": list(new_ids.values())},
        ).all()
    )
    assert open_incidents == {new_ids[WEST]: 2, new_ids[EAST]: 1}
    (audit,) = audit_rows(db, action="publish", username="t_planner")
    assert audit.resource == "grid_plans" and audit.resource_ids == [plan_id]

    plan = _ok(client.get(f"/plans/{plan_id}", headers=headers))
    assert plan["status"] == "published"
    assert plan["effective_at"] == "2026-05-31T16:00:00Z"
    listed = _ok(client.get("/plans", params={"status": "published"}, headers=headers))
    assert [p["id"] for p in listed["plans"]] == [plan_id]


def test_a_line_not_crossing_the_grid_is_a_422_naming_the_geometry(
    client: TestClient, world: World
) -> None:
    headers = login(client, "t_planner")
    plan_id = _new_plan(client, headers)
    response = client.post(
        f"/plans/{plan_id}/edits",
        json={
            "op": "split",
            "key": GRID_A1,
            "geometry": {
                "type": "LineString",
                "coordinates": [[117.0025, 36.599], [117.0025, 36.605]],
            },
        },
        headers=headers,
    )
    body = assert_problem(response, 422, "geometry", "invalid-geometry")
    assert "does not cross grid" in body["detail"]
    plan = _ok(client.get(f"/plans/{plan_id}", headers=headers))
    assert plan["edits"] == []  # a failed request leaves nothing behind


def test_swapped_coordinates_and_polygons_are_refused_for_a_split(
    client: TestClient, world: World
) -> None:
    headers = login(client, "t_planner")
    plan_id = _new_plan(client, headers)
    swapped = {"type": "LineString", "coordinates": [[36.599, 117.0025], [36.611, 117.0025]]}
    response = client.post(
        f"/plans/{plan_id}/edits",
        json={"op": "split", "key": GRID_A1, "geometry": swapped},
        headers=headers,
    )
    assert "lon,lat" in assert_problem(response, 422, "geometry")["detail"]
    polygon = {
        "type": "Polygon",
        "coordinates": [[[117, 36.6], [117.001, 36.6], [117, 36.601], [117, 36.6]]],
    }
    response = client.post(
        f"/plans/{plan_id}/edits",
        json={"op": "split", "key": GRID_A1, "geometry": polygon},
        headers=headers,
    )
    assert_problem(response, 422, "geometry", "invalid-geometry")


def test_second_draft_on_the_same_grid_gets_a_409_and_changes_nothing(
    client: TestClient, db: Session, world: World
) -> None:
    headers = login(client, "t_planner")
    first, second = _new_plan(client, headers), _new_plan(client, headers)
    for plan_id in (first, second):
        _ok(
            client.post(
                f"/plans/{plan_id}/edits",
                json={"op": "split", "key": GRID_A1, "geometry": LINE},
                headers=headers,
            ),
            201,
        )
    _ok(client.post(f"/plans/{first}/publish", json={}, headers=headers))
    before = db.execute(text("SELECT id, code, version, valid_to FROM grids ORDER BY id")).all()
    codes_before = db.execute(text("SELECT code, retired_at FROM grid_codes ORDER BY code")).all()
    response = client.post(f"/plans/{second}/publish", json={}, headers=headers)
    body = assert_problem(response, 409, "id", "conflict")
    assert body["conflicts"] == [{"code": GRID_A1, "expected_version": 1, "current_version": None}]
    assert (
        db.execute(text("SELECT id, code, version, valid_to FROM grids ORDER BY id")).all()
        == before
    )
    assert (
        db.execute(text("SELECT code, retired_at FROM grid_codes ORDER BY code")).all()
        == codes_before
    )
    assert _ok(client.get(f"/plans/{second}", headers=headers))["status"] == "draft"
    validation = _ok(client.get(f"/plans/{second}/validate", headers=headers))
    assert validation["ok"] is False and validation["stale"] == body["conflicts"]


def test_an_edit_against_an_older_version_is_a_409(client: TestClient, world: World) -> None:
    headers = login(client, "t_planner")
    plan_id = _new_plan(client, headers)
    response = client.post(
        f"/plans/{plan_id}/edits",
        json={
            "op": "reshape",
            "key": GRID_A1,
            "expected_versions": {GRID_A1: 3},
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    [
                        [117.0, 36.6],
                        [117.006, 36.6],
                        [117.006, 36.61],
                        [117.0, 36.61],
                        [117.0, 36.6],
                    ]
                ],
            },
        },
        headers=headers,
    )
    body = assert_problem(response, 409, "expected_versions", "conflict")
    assert body["conflicts"] == [{"code": GRID_A1, "expected_version": 3, "current_version": 1}]


def test_reshape_conflicts_are_listed(client: TestClient, world: World) -> None:
    headers = login(client, "t_planner")
    plan_id = _new_plan(client, headers)
    shape = {
        "type": "Polygon",
        "coordinates": [
            [[117.0, 36.6], [117.0105, 36.6], [117.0105, 36.61], [117.0, 36.61], [117.0, 36.6]]
        ],
    }
    response = client.post(
        f"/plans/{plan_id}/edits",
        json={"op": "reshape", "key": GRID_A1, "geometry": shape},
        headers=headers,
    )
    body = assert_problem(response, 409, "geometry", "conflict")
    assert sorted(c["kind"] for c in body["conflicts"]) == ["leak", "swallows"]


def test_merge_undo_and_abandon(client: TestClient, world: World) -> None:
    headers = login(client, "t_planner")
    plan_id = _new_plan(client, headers)
    merged = _ok(
        client.post(
            f"/plans/{plan_id}/edits",
            json={"op": "merge", "keys": [GRID_A1, GRID_A2], "name": "东风网格"},
            headers=headers,
        ),
        201,
    )
    assert [p["name"] for p in merged["parts"]] == ["东风网格"]
    undone = _ok(client.post(f"/plans/{plan_id}/undo", headers=headers))
    assert [e["undone"] for e in undone["edits"]] == [True]
    assert_problem(client.post(f"/plans/{plan_id}/undo", headers=headers), 422, "id")
    abandoned = _ok(client.post(f"/plans/{plan_id}/abandon", headers=headers))
    assert abandoned["status"] == "abandoned" and abandoned["closed_at"] is not None
    response = client.post(
        f"/plans/{plan_id}/edits",
        json={"op": "retire", "key": GRID_A1, "absorb_into": GRID_A2},
        headers=headers,
    )
    assert_problem(response, 409, "id", "conflict")


def test_not_adjacent_merge_is_a_422(client: TestClient, world: World) -> None:
    headers = login(client, "t_planner")
    plan_id = _new_plan(client, headers, "370199001000")
    response = client.post(
        f"/plans/{plan_id}/edits",
        json={"op": "merge", "keys": [GRID_A1, "370199001002002"]},
        headers=headers,
    )
    body = assert_problem(response, 422, "keys", "invalid-input")
    assert body["not_adjacent"] == [GRID_A1, "370199001002002"]


def test_roles_and_scope(client: TestClient, world: World) -> None:
    planner = login(client, "t_planner")
    plan_id = _new_plan(client, planner)
    # a community admin of community A may look, not edit
    ca = login(client, "t_ca_a")
    assert _ok(client.get(f"/plans/{plan_id}", headers=ca))["id"] == plan_id
    response = client.post(
        f"/plans/{plan_id}/edits",
        json={"op": "split", "key": GRID_A1, "geometry": LINE},
        headers=ca,
    )
    _forbidden(response)
    # dispatchers and grid workers may not see plans at all
    _forbidden(client.get(f"/plans/{plan_id}", headers=login(client, "t_dispatcher")))
    _forbidden(client.get(f"/plans/{plan_id}", headers=login(client, "t_gw_b")))
    # planner may not open a plan outside their area; unknown plans are 404
    assert_problem(
        client.post("/plans", json={"scope_code": "370112004001", "name": "x"}, headers=planner),
        404,
        "scope_code",
    )
    assert_problem(client.get("/plans/999999", headers=planner), 404, "id")
    # no token (and no login cookie), no plans
    client.cookies.clear()
    assert client.get("/plans").status_code == 401


def test_a_street_plan_is_hidden_from_another_community_admin(
    client: TestClient, db: Session, world: World
) -> None:
    # a plan for community B is outside community A's admin's area: 404, not 403
    plan_id = _new_plan(client, login(client, "t_planner"), COMMUNITY_B)
    assert_problem(client.get(f"/plans/{plan_id}", headers=login(client, "t_ca_a")), 404, "id")


def test_sizing_history_grid_at_and_sizhi(
    client: TestClient, db: Session, world: World, pw: PlanWorld
) -> None:
    planner = login(client, "t_planner")
    sizing = _ok(client.get("/grids/sizing", params={"community": COMMUNITY_A}, headers=planner))
    assert [t["sizing_type"] for t in sizing["targets"]] == ["bungalow", "compound", "scattered"]
    by_code = {g["code"]: g for g in sizing["grids"]}
    assert list(by_code) == [GRID_A1, GRID_A2]
    assert by_code[GRID_A1]["households"] == 7
    assert by_code[GRID_A1]["deviation"] == {
        "status": "below",
        "households": 7,
        "deviation": -113,
        "ratio": pytest.approx(-113 / 120),
    }
    # only admins configure targets
    _forbidden(
        client.put(
            "/grids/sizing/targets/scattered",
            json={"min_households": 5, "max_households": 10},
            headers=planner,
        )
    )
    admin = login(client, "t_admin")
    target = _ok(
        client.put(
            "/grids/sizing/targets/scattered",
            json={"min_households": 5, "max_households": 10},
            headers=admin,
        )
    )
    assert target == {"sizing_type": "scattered", "min_households": 5, "max_households": 10}
    sizing = _ok(client.get("/grids/sizing", params={"community": COMMUNITY_A}, headers=planner))
    assert sizing["grids"][0]["deviation"]["status"] == "within"

    # publish a split dated 2026-06-01, then ask about building W1 before and after
    plan_id = _new_plan(client, planner)
    _ok(
        client.post(
            f"/plans/{plan_id}/edits",
            json={"op": "split", "key": GRID_A1, "geometry": LINE},
            headers=planner,
        ),
        201,
    )
    _ok(
        client.post(
            f"/plans/{plan_id}/publish",
            json={"effective_at": "2026-06-01T00:00:00+08:00"},
            headers=planner,
        )
    )
    w1 = pw.buildings["W1"]
    before = _ok(
        client.get(f"/buildings/{w1}/grid-at", params={"date": "2026-05-31"}, headers=planner)
    )
    assert (before["code"], before["version"]) == (GRID_A1, 1)
    after = _ok(
        client.get(f"/buildings/{w1}/grid-at", params={"date": "2026-06-01"}, headers=planner)
    )
    assert (after["code"], after["version"]) == (WEST, 1)
    assert after["at"] == "2026-05-31T16:00:00Z"
    early = _ok(
        client.get(
            f"/buildings/{w1}/grid-at", params={"date": "2025-01-01T00:00:00Z"}, headers=planner
        )
    )
    assert early["code"] is None  # the world's grids start in 2026
    assert_problem(
        client.get(f"/buildings/{w1}/grid-at", params={"date": "yesterday"}, headers=planner),
        422,
        "date",
    )

    history = _ok(client.get(f"/grids/{GRID_A1}/history", headers=planner))
    assert history["retired_at"] == "2026-05-31T16:00:00Z"
    (version,) = history["versions"]
    assert version["valid_to"] == "2026-05-31T16:00:00Z"
    assert [(w["code"], w["relation"]) for w in version["went_to"]] == [
        (WEST, "split"),
        (EAST, "split"),
    ]
    west = _ok(client.get(f"/grids/{WEST}/history", headers=planner))
    assert [(c["code"], c["version"]) for c in west["versions"][0]["came_from"]] == [(GRID_A1, 1)]
    assert_problem(client.get("/grids/370112004001001/history", headers=planner), 404, "code")

    sizhi = _ok(client.get(f"/grids/{GRID_A2}/sizhi", headers=planner))
    assert sizhi == {
        "code": GRID_A2,
        "sizhi": "东至测试路，南至社区边界，西至测试网格1001-2，北至社区边界",
        "generated": "东至测试路，南至社区边界，西至测试网格1001-2，北至社区边界",
        "typed": False,
    }
    typed = _ok(
        client.put(
            f"/grids/{GRID_A2}/sizhi",
            json={"sizhi": "东至华信路，南至工业北路，西至一网格，北至小清河"},
            headers=planner,
        )
    )
    assert typed["typed"] is True
    row = db.execute(
        select(Grid.sizhi).where(Grid.code == GRID_A2, Grid.valid_to.is_(None))
    ).scalar_one()
    assert row == "东至华信路，南至工业北路，西至一网格，北至小清河"
    back = _ok(client.put(f"/grids/{GRID_A2}/sizhi", json={"sizhi": None}, headers=planner))
    assert back == {
        "code": GRID_A2,
        "sizhi": "东至测试路，南至社区边界，西至测试网格1001-2，北至社区边界",
        "generated": None,
        "typed": False,
    }
    _forbidden(
        client.put(f"/grids/{GRID_B1}/sizhi", json={"sizhi": "x"}, headers=login(client, "t_ca_a"))
    )
