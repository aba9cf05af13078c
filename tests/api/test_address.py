"""/address/search, /geocode/search and /address/reverse over HTTP, on the test world.

Known answers: the world's four buildings (tests/fixtures/world.py) are 测试路{n}号测试小区{n}号楼,
n = 1..4; 1 and 2 are in community A (grids A1, A2), 3 and 4 in community B. Building 1 has the
house 1单元301 and grid A1 has the grid worker t_gw_a (phone 13711112222) as its leader.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from layers.address.search import MAX_LIMIT, MAX_QUERY_CHARS
from layers.models import AuditLog
from tests.api.helpers import assert_problem
from tests.conftest import audit_rows, login
from tests.fixtures.world import COMMUNITY_B, GRID_A1, GRID_B1, World

JSON = "application/json"
ADDRESS_1 = "济南市测试区测试街道测试路1号测试小区1号楼"


def get_json(client: TestClient, path: str, headers: dict[str, str], **params: Any) -> Any:
    response = client.get(path, headers=headers, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSON
    return response.json()


def staff_audits(db: Session, username: str) -> list[AuditLog]:
    return [a for a in audit_rows(db, action="read", username=username) if a.resource == "grids"]


# --------------------------------------------------------------------------------------------
# GET /address/search
# --------------------------------------------------------------------------------------------


def test_search_finds_the_house_with_grid_and_unmasked_staff_for_the_grid_worker(
    client: TestClient, world: World, db: Session
) -> None:
    body = get_json(
        client, "/address/search", login(client, "t_gw_a"), q="测试小区1栋1单元301室", limit=1
    )
    assert body["query"] == "测试小区1栋1单元301室"
    assert body["parsed"]["compound"] == "测试小区"
    assert body["parsed"]["building"] == "1号楼"
    assert (body["parsed"]["unit"], body["parsed"]["room"]) == ("1", "301")
    [hit] = body["hits"]
    assert hit["rank"] == 1
    assert hit["building"]["id"] == world.buildings["1"]
    assert hit["building"]["code"] == "T-1"
    assert hit["building"]["address"] == ADDRESS_1
    assert hit["building"]["bbox"] == pytest.approx([117.0023, 36.6049, 117.0027, 36.6051])
    assert hit["location"]["crs"] == "EPSG:4326"
    assert hit["location"]["lon"] == pytest.approx(117.0025, abs=2e-4)
    assert hit["location"]["lat"] == pytest.approx(36.605, abs=1e-4)
    assert hit["house"]["unit"] == "1" and hit["house"]["room"] == "301"
    assert hit["house"]["floor"] == 3
    assert hit["address"] == ADDRESS_1 + "1单元301室"
    assert hit["grid"] == {
        "id": world.grids[GRID_A1],
        "code": GRID_A1,
        "name": "测试网格1001",
        "staff": [{"name": "测试t_gw_a", "duty": "leader", "phone": "13711112222"}],
    }
    [audit] = staff_audits(db, "t_gw_a")
    assert audit.resource_ids == [world.grids[GRID_A1]]
    assert audit.fields == ["staff.name", "staff.phone"]
    assert audit.unmasked is True
    assert audit.detail == {"endpoint": "address.search", "masked_fields": []}


def test_search_masks_staff_for_a_planner_and_audits_the_read_as_masked(
    client: TestClient, world: World, db: Session
) -> None:
    body = get_json(client, "/address/search", login(client, "t_planner"), q="测试路1号", limit=1)
    [hit] = body["hits"]
    assert hit["building"]["id"] == world.buildings["1"]
    assert hit["house"] is None
    assert hit["grid"]["staff"] == [{"name": "测*******", "duty": "leader", "phone": "137****2222"}]
    assert "13711112222" not in str(body)
    [audit] = staff_audits(db, "t_planner")
    assert audit.unmasked is False
    assert audit.detail == {
        "endpoint": "address.search",
        "masked_fields": ["staff.name", "staff.phone"],
    }


@pytest.mark.parametrize(
    ("q", "key"),
    [
        ("济南市测试区测试街道测试路2号测试小区2号楼", "2"),
        ("测试小区二号楼", "2"),
        ("测试路3号", "3"),
        ("测试小区4#", "4"),
        ("csxq4hl", "4"),  # pinyin initials of 测试小区4号楼
    ],
)
def test_search_known_answers_for_the_street_admin(
    client: TestClient, world: World, q: str, key: str
) -> None:
    body = get_json(client, "/address/search", login(client, "t_street"), q=q, limit=3)
    assert body["hits"][0]["building"]["id"] == world.buildings[key], body["hits"]
    assert [h["rank"] for h in body["hits"]] == list(range(1, len(body["hits"]) + 1))
    scores = [h["score"] for h in body["hits"]]
    assert scores == sorted(scores, reverse=True)


def test_a_grid_worker_of_community_a_never_gets_community_b_buildings(
    client: TestClient, world: World
) -> None:
    headers = login(client, "t_gw_a")
    body = get_json(client, "/address/search", headers, q="测试小区3号楼", limit=MAX_LIMIT)
    found = {h["building"]["id"] for h in body["hits"]}
    assert found <= {world.buildings["1"], world.buildings["2"]}
    assert world.buildings["3"] not in found and world.buildings["4"] not in found
    # the street admin of both communities does get building 3 first
    body = get_json(client, "/address/search", login(client, "t_street"), q="测试小区3号楼")
    assert body["hits"][0]["building"]["id"] == world.buildings["3"]
    assert body["hits"][0]["grid"]["code"] == GRID_B1


def test_search_with_nothing_searchable_returns_no_hits(client: TestClient, world: World) -> None:
    body = get_json(client, "/address/search", login(client, "t_street"), q="，。、")
    assert body["hits"] == []


def test_search_honours_limit(client: TestClient, world: World) -> None:
    body = get_json(client, "/address/search", login(client, "t_admin"), q="测试小区", limit=2)
    assert len(body["hits"]) == 2


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": ""}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "测" * (MAX_QUERY_CHARS + 1)}, "q"),
        ({"q": "测试路1号", "limit": 0}, "limit"),
        ({"q": "测试路1号", "limit": MAX_LIMIT + 1}, "limit"),
        ({"q": "测试路1号", "limit": "ten"}, "limit"),
        ({}, "q"),
    ],
)
@pytest.mark.parametrize("path", ["/address/search", "/geocode/search"])
def test_bad_search_input_is_a_problem_naming_the_field(
    client: TestClient, world: World, path: str, params: dict[str, Any], field: str
) -> None:
    response = client.get(path, headers=login(client, "t_street"), params=params)
    assert_problem(response, 422, field)


@pytest.mark.parametrize(
    "path",
    [
        "/address/search?q=测试路1号",
        "/geocode/search?q=测试路1号",
        "/address/reverse?lon=117&lat=36.6",
    ],
)
def test_address_endpoints_require_a_login(client: TestClient, world: World, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    response = client.get(path, headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401


# --------------------------------------------------------------------------------------------
# GET /geocode/search (Nominatim JSON for the map's search control)
# --------------------------------------------------------------------------------------------


def test_geocode_search_answers_in_nominatim_shape_without_staff(
    client: TestClient, world: World, db: Session
) -> None:
    places = get_json(
        client, "/geocode/search", login(client, "t_gw_a"), q="测试路1号测试小区1号楼", limit=1
    )
    [place] = places
    assert place["place_id"] == world.buildings["1"]
    assert place["display_name"] == ADDRESS_1
    assert place["osm_type"] == "way" and place["category"] == "building"
    assert place["type"] == "residential"
    assert place["grid_code"] == GRID_A1
    # Nominatim writes coordinates as text: lat/lon and [south, north, west, east]
    assert float(place["lat"]) == pytest.approx(36.605, abs=1e-4)
    assert float(place["lon"]) == pytest.approx(117.0025, abs=2e-4)
    assert [float(v) for v in place["boundingbox"]] == pytest.approx(
        [36.6049, 36.6051, 117.0023, 117.0027]
    )
    assert all(isinstance(v, str) for v in [place["lat"], place["lon"], *place["boundingbox"]])
    assert "staff" not in str(place) and "137" not in str(place)
    assert staff_audits(db, "t_gw_a") == []


def test_geocode_search_type_is_house_when_a_room_is_matched(
    client: TestClient, world: World
) -> None:
    [place] = get_json(
        client, "/geocode/search", login(client, "t_admin"), q="测试小区1-1-301", limit=1
    )
    assert place["place_id"] == world.buildings["1"]
    assert place["type"] == "house"
    assert place["display_name"] == ADDRESS_1 + "1单元301室"


def test_geocode_search_is_scoped_too(client: TestClient, world: World) -> None:
    places = get_json(client, "/geocode/search", login(client, "t_gw_b"), q="测试小区1号楼")
    assert world.buildings["1"] not in {p["place_id"] for p in places}
    assert {p["grid_code"][:12] for p in places} <= {COMMUNITY_B}


# --------------------------------------------------------------------------------------------
# GET /address/reverse
# --------------------------------------------------------------------------------------------


def test_reverse_inside_a_building(client: TestClient, world: World, db: Session) -> None:
    body = get_json(client, "/address/reverse", login(client, "t_ca_a"), lon=117.0025, lat=36.605)
    assert body["query"] == {"lon": 117.0025, "lat": 36.605, "crs": "EPSG:4326"}
    assert body["address"] == ADDRESS_1
    assert body["admin"] == {"district": "测试区", "street": "测试街道", "community": "东风社区"}
    assert body["building"]["id"] == world.buildings["1"]
    assert body["building"]["covers_point"] is True
    assert body["building"]["distance_m"] == 0
    assert body["grid"]["code"] == GRID_A1
    assert body["grid"]["staff"] == [
        {"name": "测试t_gw_a", "duty": "leader", "phone": "13711112222"}
    ]
    [audit] = staff_audits(db, "t_ca_a")
    assert audit.detail == {"endpoint": "address.reverse", "masked_fields": []}


def test_reverse_near_a_building_reports_the_distance(client: TestClient, world: World) -> None:
    # 0.0001° east of building 1's east edge (117.0027): 8.9 m at 36.605°N
    body = get_json(
        client, "/address/reverse", login(client, "t_planner"), lon=117.0028, lat=36.605
    )
    assert body["building"]["id"] == world.buildings["1"]
    assert body["building"]["covers_point"] is False
    assert body["building"]["distance_m"] == pytest.approx(8.94, abs=0.05)
    assert body["grid"]["staff"][0]["phone"] == "137****2222"
    # with max_m below that distance only the grid is left
    body = get_json(
        client, "/address/reverse", login(client, "t_planner"), lon=117.0028, lat=36.605, max_m=5
    )
    assert body["building"] is None and body["address"] is None
    assert body["grid"]["code"] == GRID_A1


def test_reverse_takes_gcj02_coordinates(client: TestClient, world: World) -> None:
    import prcoords

    lat, lon = prcoords.wgs_gcj((36.605, 117.0025))
    body = get_json(
        client, "/address/reverse", login(client, "t_admin"), lon=lon, lat=lat, crs="GCJ02"
    )
    assert body["query"]["crs"] == "GCJ02"
    assert body["location"]["lon"] == pytest.approx(117.0025, abs=1e-5)
    assert body["building"]["id"] == world.buildings["1"]


def test_reverse_is_scoped(client: TestClient, world: World) -> None:
    # building 3 and grid B1 belong to community B: the grid worker of A gets a 404 there
    response = client.get(
        "/address/reverse", headers=login(client, "t_gw_a"), params={"lon": 117.015, "lat": 36.6075}
    )
    assert_problem(response, 404, "lon,lat")
    body = get_json(client, "/address/reverse", login(client, "t_gw_b"), lon=117.015, lat=36.6075)
    assert body["building"]["id"] == world.buildings["3"]
    assert body["grid"]["code"] == GRID_B1


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"lon": 36.605, "lat": 117.0025}, 422, "lon,lat"),  # swapped
        ({"lon": 117.0025, "lat": 36.605, "crs": "EPSG:999999"}, 422, "crs"),
        ({"lon": 117.0025, "lat": 36.605, "crs": "Mars2000"}, 422, "crs"),
        ({"lon": 117.0025, "lat": 36.605, "max_m": 0}, 422, "max_m"),
        ({"lon": 117.0025, "lat": 36.605, "max_m": 5000}, 422, "max_m"),
        ({"lon": "east", "lat": 36.605}, 422, "lon"),
        ({"lon": 117.0025}, 422, "lat"),
        ({"lon": 121.47, "lat": 31.23}, 404, "lon,lat"),  # Shanghai: far outside every grid
    ],
)
def test_bad_reverse_input_is_a_problem_naming_the_field(
    client: TestClient, world: World, params: dict[str, Any], status: int, field: str
) -> None:
    response = client.get("/address/reverse", headers=login(client, "t_admin"), params=params)
    assert_problem(response, status, field)
