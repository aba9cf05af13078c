"""/locate, /locate/bulk, /grids/{code}/counts and /assignment/review over HTTP.

Known answers: the world's four box grids (tests/fixtures/world.py) and, in community C, grids
drawn from JTS point-location test shapes (a triangle with a hole, a multipolygon touching at a
point) mapped exactly into lon/lat (tests/fixtures/assign.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

import prcoords
from pyproj import Geod, Transformer

from layers.locate import MAX_BULK_POINTS
from layers.models import AuditLog, Building, Grid, Incident
from tests.api.helpers import assert_problem
from tests.conftest import audit_rows, login
from tests.fixtures.assign import (
    GRID_C_FILL,
    GRID_C_HOLE,
    GRID_C_MULTI,
    JTS_MULTI_SHIFT,
    add_incident,
    build_jts_community,
    jts_lonlat,
)
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

JSON = "application/json"
GEOD = Geod(ellps="WGS84")


def get_locate(client: TestClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = client.get("/locate", headers=headers, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSON
    body = response.json()
    assert body["status"] in {"inside", "outside"}
    assert set(body) >= {"query", "location", "admin", "grid", "building", "nearest"}
    return body


def locate_audits(db: Session, username: str) -> list[AuditLog]:
    return [a for a in audit_rows(db, action="read", username=username) if a.resource == "grids"]


# --------------------------------------------------------------------------------------------
# GET /locate
# --------------------------------------------------------------------------------------------


def test_a_point_inside_a_grid_gets_chain_grid_staff_and_building(
    client: TestClient, world: World, db: Session
) -> None:
    body = get_locate(client, login(client, "t_gw_a"), lon=117.0025, lat=36.605)
    assert body["status"] == "inside"
    assert body["query"] == {"lon": 117.0025, "lat": 36.605, "crs": "EPSG:4326"}
    assert body["location"] == {"lon": 117.0025, "lat": 36.605, "crs": "EPSG:4326"}
    assert body["admin"] == {
        "district": {"code": DISTRICT_CODE, "name": "测试区"},
        "street": {"code": STREET_CODE, "name": "测试街道"},
        "community": {"code": COMMUNITY_A, "name": "东风社区"},
    }
    assert body["grid"] == {
        "id": world.grids[GRID_A1],
        "code": GRID_A1,
        "name": "测试网格1001",
        "kind": "basic",
        "sizing_type": "scattered",
        "sizhi": "东至测试路，南至测试南街，西至测试西路，北至测试北路",
        "staff": [{"name": "测试t_gw_a", "duty": "leader", "phone": "13711112222"}],
    }
    assert body["building"] == {
        "id": world.buildings["1"],
        "code": "T-1",
        "name": None,
        "kind": "residential",
        "floors": 6,
        "address": "济南市测试区测试街道测试路1号测试小区1号楼",
        "grid_code": GRID_A1,
    }
    assert body["boundary_of"] == [] and body["micro_grid"] is None and body["nearest"] is None
    [audit] = locate_audits(db, "t_gw_a")
    assert audit.resource_ids == [world.grids[GRID_A1]]
    assert audit.fields == ["staff.name", "staff.phone"]
    assert audit.unmasked is True
    assert audit.detail == {"endpoint": "locate", "masked_fields": []}


def test_a_planner_sees_staff_masked_and_the_read_is_audited_as_masked(
    client: TestClient, world: World, db: Session
) -> None:
    body = get_locate(client, login(client, "t_planner"), lon=117.0025, lat=36.605)
    assert body["grid"]["staff"] == [
        {"name": "测*******", "duty": "leader", "phone": "137****2222"}
    ]
    assert "13711112222" not in str(body)
    [audit] = locate_audits(db, "t_planner")
    assert audit.unmasked is False
    assert audit.detail == {"endpoint": "locate", "masked_fields": ["staff.name", "staff.phone"]}


def test_an_answer_without_staff_writes_no_audit_row(
    client: TestClient, world: World, db: Session
) -> None:
    body = get_locate(client, login(client, "t_street"), lon=117.0075, lat=36.6025)
    assert body["grid"]["code"] == GRID_A2
    assert body["grid"]["staff"] == []
    assert body["building"] is None
    assert locate_audits(db, "t_street") == []


@pytest.mark.parametrize(
    ("lon", "lat", "chosen", "boundary_of"),
    [
        (117.005, 36.605, GRID_A1, [GRID_A1, GRID_A2]),
        (117.010, 36.605, GRID_A2, [GRID_A2, GRID_B1, GRID_B2]),
        (117.015, 36.605, GRID_B1, [GRID_B1, GRID_B2]),
        (117.020, 36.610, GRID_B1, []),
    ],
)
def test_a_point_on_a_shared_edge_goes_to_the_smallest_code(
    client: TestClient, world: World, lon: float, lat: float, chosen: str, boundary_of: list[str]
) -> None:
    body = get_locate(client, login(client, "t_street"), lon=lon, lat=lat)
    assert body["grid"]["code"] == chosen
    assert body["boundary_of"] == boundary_of


def test_the_tie_rule_decides_whose_point_it_is_at_an_area_boundary(
    client: TestClient, world: World
) -> None:
    # The corner shared by A2, B1 and B2 belongs to A2: community A's admin gets it...
    body = get_locate(client, login(client, "t_ca_a"), lon=117.010, lat=36.605)
    assert body["grid"]["code"] == GRID_A2
    # ...and community B's grid worker is told there is no grid of theirs there.
    response = client.get(
        "/locate", headers=login(client, "t_gw_b"), params={"lon": 117.010, "lat": 36.605}
    )
    problem = assert_problem(response, 404, "lon,lat", "not-found")
    assert GRID_A2 not in response.text and "辖区" in problem["detail_zh"]


def test_a_point_outside_every_grid_gets_the_nearest_grid_and_distance(
    client: TestClient, world: World, db: Session
) -> None:
    # South of the world, below the corner A2/B2 share: equally near both; smallest code wins.
    body = get_locate(client, login(client, "t_admin"), lon=117.010, lat=36.595)
    assert body["status"] == "outside"
    assert body["grid"] is None
    assert body["message"] == "The location is outside every grid"
    assert body["message_zh"] == "该位置不在任何网格内"
    assert body["admin"] == {
        "district": {"code": DISTRICT_CODE, "name": "测试区"},
        "street": None,
        "community": None,
    }
    _, _, metres = GEOD.inv(117.010, 36.595, 117.010, 36.600)
    assert body["nearest"]["grid"] == {
        "id": world.grids[GRID_A2],
        "code": GRID_A2,
        "name": "测试网格1002",
    }
    assert body["nearest"]["distance_m"] == pytest.approx(metres, abs=0.05)
    assert locate_audits(db, "t_admin") == []


@pytest.mark.parametrize(
    ("username", "lon", "lat"),
    [
        ("t_ca_a", 117.0500, 36.6050),  # outside every area and grid
        ("t_ca_a", 117.0150, 36.6050),  # community B's grid
        ("t_street", 117.0100, 36.5950),  # no grid, and outside the street's polygon
    ],
)
def test_a_point_of_another_area_is_answered_like_an_unknown_place(
    client: TestClient, world: World, username: str, lon: float, lat: float
) -> None:
    response = client.get(
        "/locate", headers=login(client, username), params={"lon": lon, "lat": lat}
    )
    body = assert_problem(response, 404, "lon,lat", "not-found")
    assert "There is no grid of your area at" in body["detail"]
    assert "nearest" not in response.text and "37019900100" not in response.text


def test_coordinates_in_gcj02_and_in_a_gauss_kruger_zone_find_the_same_grid(
    client: TestClient, world: World
) -> None:
    headers = login(client, "t_street")
    gcj = prcoords.wgs_gcj(prcoords.Coords(36.6075, 117.0150))
    body = get_locate(client, headers, lon=gcj.lon, lat=gcj.lat, crs="GCJ-02")
    assert body["grid"]["code"] == GRID_B1
    assert body["query"]["crs"] == "GCJ02"
    assert body["location"]["lon"] == pytest.approx(117.0150, abs=1e-6)
    # CGCS2000 / 3-degree Gauss-Kruger CM 117E: easting, northing in metres
    x, y = Transformer.from_crs(4490, 4548, always_xy=True).transform(117.0150, 36.6025)
    body = get_locate(client, headers, lon=x, lat=y, crs="EPSG:4548")
    assert body["grid"]["code"] == GRID_B2
    assert body["location"]["lat"] == pytest.approx(36.6025, abs=1e-7)


@pytest.mark.parametrize(
    ("params", "status", "field", "code"),
    [
        ({"lon": 36.605, "lat": 117.0025}, 422, "lon,lat", "invalid-input"),
        ({"lon": 117.0, "lat": 91}, 422, "lon,lat", "invalid-input"),
        ({"lon": "nan", "lat": 36.6}, 422, "lon,lat", "invalid-input"),
        ({"lon": "east", "lat": 36.6}, 422, "lon", "invalid-input"),
        ({"lat": 36.6}, 422, "lon", "invalid-input"),
        ({"lon": 117.0, "lat": 36.6, "crs": "EPSG:99999"}, 422, "crs", "unknown-crs"),
        ({"lon": 117.0, "lat": 36.6, "crs": "mars-2"}, 422, "crs", "unknown-crs"),
        ({"lon": 117.0, "lat": 36.6, "radius": 5}, 422, "radius", "invalid-input"),
        ({"lon": 1e9, "lat": 1e9, "crs": "EPSG:4548"}, 422, "lon,lat", "invalid-input"),
    ],
)
def test_bad_input_is_a_bilingual_problem(
    client: TestClient, world: World, params: dict, status: int, field: str, code: str
) -> None:
    response = client.get("/locate", headers=login(client, "t_street"), params=params)
    assert_problem(response, status, field, code)


def test_locate_needs_a_login(client: TestClient, world: World) -> None:
    response = client.get("/locate", params={"lon": 117.0025, "lat": 36.605})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "unauthenticated"


# --------------------------------------------------------------------------------------------
# JTS point-location cases as /locate edge cases (community C)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "y", "shift", "expected", "boundary_of"),
    [
        # P/Ah-5: interior of the holed triangle
        (140, 120, 0, GRID_C_HOLE, []),
        # P/Ah-3-5: on the hole's boundary (non-vertex): covered by the holed grid and the grid
        # filling the hole; the smaller code wins
        (150, 100, 0, GRID_C_HOLE, [GRID_C_HOLE, GRID_C_FILL]),
        # P/Ah-3-4: the hole's closing point
        (280, 50, 0, GRID_C_HOLE, [GRID_C_HOLE, GRID_C_FILL]),
        # P/Ah-2-2: inside the hole, so not in the holed grid: the filling grid
        (190, 90, 0, GRID_C_FILL, []),
        # P/Ah-3-3: on the outer boundary at a non-vertex (diagonal edge)
        (130, 130, 0, GRID_C_HOLE, []),
        # P/mA-3-1: the point where the two squares of the multipolygon touch
        (100, 100, JTS_MULTI_SHIFT, GRID_C_MULTI, []),
        # P/mA-3-3: on the boundary of one square
        (60, 100, JTS_MULTI_SHIFT, GRID_C_MULTI, []),
        # interior of the second square
        (140, 140, JTS_MULTI_SHIFT, GRID_C_MULTI, []),
    ],
)
def test_jts_shapes_as_grids(
    client: TestClient,
    world: World,
    db: Session,
    x: int,
    y: int,
    shift: int,
    expected: str,
    boundary_of: list[str],
) -> None:
    build_jts_community(db)
    lon, lat = jts_lonlat(x, y, shift)
    body = get_locate(client, login(client, "t_ca_c"), lon=lon, lat=lat)
    assert body["status"] == "inside"
    assert body["grid"]["code"] == expected
    assert body["boundary_of"] == boundary_of
    assert body["admin"]["community"] == {"code": "370199001003", "name": "南山社区"}


@pytest.mark.parametrize(
    ("x", "y", "shift", "nearest", "near"),
    [
        # P/Ah-2-1: outside the holed triangle, nearest its left edge
        (60, 160, 0, GRID_C_HOLE, None),
        # the gap between the multipolygon's two squares: nearest the square to its left
        (140, 60, JTS_MULTI_SHIFT, GRID_C_MULTI, (100, 60)),
    ],
)
def test_jts_shapes_outside_points(
    client: TestClient,
    world: World,
    db: Session,
    x: int,
    y: int,
    shift: int,
    nearest: str,
    near: tuple[int, int] | None,
) -> None:
    build_jts_community(db)
    lon, lat = jts_lonlat(x, y, shift)
    body = get_locate(client, login(client, "t_ca_c"), lon=lon, lat=lat)
    assert body["status"] == "outside"
    assert body["nearest"]["grid"]["code"] == nearest
    assert body["nearest"]["distance_m"] > 0
    if near is not None:
        _, _, metres = GEOD.inv(lon, lat, *jts_lonlat(*near, shift))
        assert body["nearest"]["distance_m"] == pytest.approx(metres, abs=0.05)


# --------------------------------------------------------------------------------------------
# POST /locate/bulk
# --------------------------------------------------------------------------------------------


def test_bulk_locates_every_point_in_order(client: TestClient, world: World) -> None:
    points = [
        {"id": "inside-a1", "lon": 117.0025, "lat": 36.605},
        {"id": 2, "lon": 117.005, "lat": 36.605},
        {"id": "gap-south", "lon": 117.0075, "lat": 36.5999},
        {"id": "b-grid", "lon": 117.015, "lat": 36.6025},
        {"id": "far", "lon": 117.1, "lat": 36.7},
    ]
    response = client.post("/locate/bulk", headers=login(client, "t_ca_a"), json={"points": points})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSON
    body = response.json()
    assert (body["crs"], body["count"]) == ("EPSG:4326", 5)
    assert (body["inside"], body["outside"], body["not_in_area"]) == (2, 0, 3)
    results = body["results"]
    assert [r["id"] for r in results] == ["inside-a1", 2, "gap-south", "b-grid", "far"]
    assert results[0] == {
        "id": "inside-a1",
        "lon": 117.0025,
        "lat": 36.605,
        "status": "inside",
        "grid_code": GRID_A1,
        "grid_name": "测试网格1001",
        "community_code": COMMUNITY_A,
    }
    assert results[1]["grid_code"] == GRID_A1  # shared edge: smallest code
    # outside every grid but also outside community A's polygon; B's grid; far away
    assert [r["status"] for r in results[2:]] == ["not_in_area"] * 3
    assert set(results[3]) == {"id", "lon", "lat", "status"}


def test_bulk_outside_points_in_the_area_get_the_nearest_grid(
    client: TestClient, world: World
) -> None:
    response = client.post(
        "/locate/bulk",
        headers=login(client, "t_admin"),
        json={"crs": "EPSG:4490", "points": [{"id": "s", "lon": 117.010, "lat": 36.595}]},
    )
    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    _, _, metres = GEOD.inv(117.010, 36.595, 117.010, 36.600)
    assert result["status"] == "outside"
    assert result["nearest_grid_code"] == GRID_A2
    assert result["distance_m"] == pytest.approx(metres, abs=0.05)
    assert response.json()["crs"] == "EPSG:4490"


def test_bulk_and_single_answers_agree_on_a_lattice(client: TestClient, world: World) -> None:
    headers = login(client, "t_admin")
    # every grid line and corner of the world is on this lattice
    points = [
        {
            "id": f"p{i}-{j}",
            "lon": round(117.0 + i * 0.0025, 4),
            "lat": round(36.5975 + j * 0.0025, 4),
        }
        for i in range(10)
        for j in range(7)
    ]
    response = client.post("/locate/bulk", headers=headers, json={"points": points})
    assert response.status_code == 200, response.text
    for point, result in zip(points, response.json()["results"], strict=True):
        single = get_locate(client, headers, lon=point["lon"], lat=point["lat"])
        assert result["status"] == single["status"], point
        if single["status"] == "inside":
            assert result["grid_code"] == single["grid"]["code"], point
        else:
            assert result["nearest_grid_code"] == single["nearest"]["grid"]["code"], point
            assert result["distance_m"] == single["nearest"]["distance_m"], point


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"points": []}, "points", "invalid-input"),
        ({"points": [{"id": "a", "lon": 117.0}]}, "points.0.lat", "invalid-input"),
        (
            {
                "points": [
                    {"id": "a", "lon": 117.0, "lat": 36.6},
                    {"id": "b", "lon": 36.6, "lat": 117},
                ]
            },
            "points.1",
            "invalid-input",
        ),
        ({"points": [{"id": "a b;", "lon": 117.0, "lat": 36.6}]}, "points.0.id", "invalid-input"),
        ({"crs": "EPSG:0", "points": [{"id": 1, "lon": 117.0, "lat": 36.6}]}, "crs", "unknown-crs"),
        ({"points": [{"id": 1, "lon": 117.0, "lat": 36.6, "z": 3}]}, "points.0.z", "invalid-input"),
    ],
)
def test_bulk_bad_input_is_a_bilingual_problem(
    client: TestClient, world: World, body: dict, field: str, code: str
) -> None:
    response = client.post("/locate/bulk", headers=login(client, "t_street"), json=body)
    assert_problem(response, 422, field, code)


def test_bulk_above_the_limit_is_refused_before_any_query(client: TestClient, world: World) -> None:
    points = [{"id": i, "lon": 117.0025, "lat": 36.605} for i in range(MAX_BULK_POINTS + 1)]
    response = client.post(
        "/locate/bulk", headers=login(client, "t_street"), json={"points": points}
    )
    body = assert_problem(response, 422, "points", "invalid-input")
    assert str(MAX_BULK_POINTS) in body["detail"]


def test_a_body_above_the_size_limit_is_413(client: TestClient, world: World) -> None:
    headers = {**login(client, "t_street"), "content-type": "application/json"}
    response = client.post("/locate/bulk", headers=headers, content=b" " * (11 * 1024 * 1024))
    assert response.status_code == 413
    assert response.json()["code"] == "payload-too-large"


# --------------------------------------------------------------------------------------------
# GET /grids/{code}/counts
# --------------------------------------------------------------------------------------------


def test_grid_counts_are_live(client: TestClient, world: World, db: Session) -> None:
    headers = login(client, "t_gw_a")
    response = client.get(f"/grids/{GRID_A1}/counts", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSON
    assert response.json() == {
        "grid_id": world.grids[GRID_A1],
        "code": GRID_A1,
        "name": "测试网格1001",
        "version": 1,
        "community_code": COMMUNITY_A,
        "counts": {
            "buildings": 1,
            "houses": 1,
            "households": 1,
            "persons": 1,
            "persons_in_care_groups": 0,
            "places": 1,
            "open_incidents": 1,
        },
    }
    # A new incident in A1 counts at once (the trigger files it), and moving building 1 into A2
    # takes its house, household and person along.
    add_incident(db, "LIVE-1", 117.0010, 36.6010)
    db.execute(
        update(Building)
        .where(Building.id == world.buildings["1"])
        .values(geom=func.ST_Translate(Building.geom, 0.005, 0))
    )
    counts = client.get(f"/grids/{GRID_A1}/counts", headers=headers).json()["counts"]
    assert (counts["buildings"], counts["persons"], counts["open_incidents"]) == (0, 0, 2)
    counts = client.get(f"/grids/{GRID_A2}/counts", headers=headers).json()["counts"]
    assert (counts["buildings"], counts["households"], counts["persons"]) == (2, 1, 1)


@pytest.mark.parametrize(
    ("username", "code", "status", "problem_code"),
    [
        ("t_gw_b", GRID_A1, 404, "not-found"),  # another community's grid
        ("t_street", COMMUNITY_B + "999", 404, "not-found"),  # no such grid
        ("t_street", "37019900100100", 422, "invalid-input"),  # 14 digits
        ("t_street", "abc", 422, "invalid-input"),
    ],
)
def test_grid_counts_refusals(
    client: TestClient, world: World, username: str, code: str, status: int, problem_code: str
) -> None:
    response = client.get(f"/grids/{code}/counts", headers=login(client, username))
    assert_problem(response, status, "code", problem_code)


def test_grid_counts_of_a_closed_version_are_not_found(
    client: TestClient, world: World, db: Session
) -> None:
    db.execute(
        update(Grid)
        .where(Grid.code == GRID_B2)
        .values(valid_to=text("valid_from + interval '1 day'"))
    )
    response = client.get(f"/grids/{GRID_B2}/counts", headers=login(client, "t_street"))
    assert_problem(response, 404, "code", "not-found")


# --------------------------------------------------------------------------------------------
# GET /assignment/review
# --------------------------------------------------------------------------------------------


def test_the_review_list_shows_rows_outside_every_grid_in_the_area(
    client: TestClient, world: World, db: Session
) -> None:
    # In the district (t_admin's area) but south of every grid.
    outside = add_incident(db, "REV-1", 117.010, 36.595)
    assert db.execute(select(Incident.grid_id).where(Incident.id == outside)).scalar() is None
    response = client.get(
        "/assignment/review", headers=login(client, "t_admin"), params={"table": "incidents"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSON
    [row] = response.json()
    _, _, metres = GEOD.inv(117.010, 36.595, 117.010, 36.600)
    assert row["id"] == outside and row["table"] == "incidents"
    assert row["nearest_grid_code"] == GRID_A2
    assert row["distance_m"] == pytest.approx(metres, abs=0.05)
    # the street's polygon does not hold that point: not the street admin's gap
    response = client.get("/assignment/review", headers=login(client, "t_street"))
    assert response.status_code == 200 and response.json() == []


def test_grid_workers_do_not_review_assignment(client: TestClient, world: World) -> None:
    response = client.get("/assignment/review", headers=login(client, "t_gw_a"))
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "forbidden"
    assert body["detail_zh"].startswith("仅") and "planner" in body["detail"]


def test_the_review_list_table_must_be_known(client: TestClient, world: World) -> None:
    response = client.get(
        "/assignment/review", headers=login(client, "t_admin"), params={"table": "persons"}
    )
    assert_problem(response, 422, "table", "invalid-input")
