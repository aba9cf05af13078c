"""OGC API Features reads: collections, items, bbox, paging, grid versions, scoping by role."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, box

from layers.models import Grid, Incident, Place
from tests.api.helpers import (
    CRS84,
    GEOJSON,
    assert_problem,
    get_feature,
    get_features,
    grid_box_ring,
    ids,
    prop,
)
from tests.conftest import login
from tests.fixtures.world import (
    COMMUNITY_A,
    COMMUNITY_B,
    GRID_A1,
    GRID_A2,
    GRID_B1,
    GRID_B2,
    World,
)

LAYERS = ["admin_units", "grids", "roads", "buildings", "places", "incidents"]
ALL_GRIDS = [GRID_A1, GRID_A2, GRID_B1, GRID_B2]


# ---------------------------------------------------------------------------------------------
# Collections metadata
# ---------------------------------------------------------------------------------------------


def test_collections_list_every_layer_with_titles_links_extent_and_crs(
    client: TestClient, world: World
) -> None:
    response = client.get("/collections", headers=login(client, "t_planner"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert [c["id"] for c in body["collections"]] == LAYERS
    assert body["links"] == [
        {"href": "http://testserver/collections", "rel": "self", "type": "application/json"}
    ]
    titles = {c["id"]: (c["title_zh"], c["title"]) for c in body["collections"]}
    assert titles["grids"] == ("网格", "Grids")
    assert titles["incidents"] == ("事件", "Incidents")
    for collection in body["collections"]:
        layer = collection["id"]
        assert collection["itemType"] == "feature"
        assert collection["crs"] == [CRS84]
        # the planner's area is the street: its outline is the extent
        assert collection["extent"]["spatial"] == {
            "bbox": [[117.0, 36.6, 117.02, 36.61]],
            "crs": CRS84,
        }
        links = {link["rel"]: link for link in collection["links"]}
        assert links["self"]["href"] == f"http://testserver/collections/{layer}"
        assert links["items"] == {
            "href": f"http://testserver/collections/{layer}/items",
            "rel": "items",
            "type": GEOJSON,
            "title": f"{collection['title_zh']}要素 Features",
        }


def test_one_collection_names_its_filters_and_personal_fields(
    client: TestClient, world: World
) -> None:
    response = client.get("/collections/grids", headers=login(client, "t_gw_a"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["id"] == "grids"
    assert body["geometryType"] == "MultiPolygon"
    assert body["queryables"] == ["community", "kind", "at"]
    assert body["personalFields"] == ["staff.name", "staff.phone"]
    # a grid worker's area is community A
    assert body["extent"]["spatial"]["bbox"] == [[117.0, 36.6, 117.01, 36.61]]


def test_conformance_declares_core_and_geojson(client: TestClient, world: World) -> None:
    response = client.get("/conformance", headers=login(client, "t_planner"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "conformsTo": [
            "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
            "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
        ]
    }


def test_items_need_a_login(client: TestClient, world: World) -> None:
    response = client.get("/collections/grids/items")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "unauthenticated"


# ---------------------------------------------------------------------------------------------
# Items: properties, geometry, scoping
# ---------------------------------------------------------------------------------------------


def test_planner_of_the_street_sees_all_four_grids_with_properties_and_geometry(
    client: TestClient, world: World
) -> None:
    body = get_features(client, "/collections/grids/items", login(client, "t_planner"))
    assert prop(body, "code") == ALL_GRIDS
    assert ids(body) == sorted(world.grids.values())
    assert body["numberMatched"] == 4
    a1 = body["features"][0]
    assert a1["id"] == world.grids[GRID_A1]
    props = a1["properties"]
    assert props["name"] == "测试网格1001"
    assert props["kind"] == "basic"
    assert props["sizing_type"] == "scattered"
    assert props["community_code"] == COMMUNITY_A
    assert props["community_name"] == "东风社区"
    assert props["sizhi"].startswith("东至测试路")
    assert props["version"] == 1
    assert datetime.fromisoformat(props["valid_from"]) == datetime(2026, 1, 1, tzinfo=UTC)
    assert props["valid_to"] is None
    assert props["staff"] == [{"name": "测*******", "duty": "leader", "phone": "137****2222"}]
    assert a1["geometry"]["type"] == "MultiPolygon"
    [[ring]] = a1["geometry"]["coordinates"]
    assert {tuple(p) for p in ring} == grid_box_ring(GRID_A1)  # lon,lat order


def test_grid_worker_sees_only_community_a(client: TestClient, world: World) -> None:
    headers = login(client, "t_gw_a")
    grids = get_features(client, "/collections/grids/items", headers)
    assert prop(grids, "code") == [GRID_A1, GRID_A2]
    incidents = get_features(client, "/collections/incidents/items", headers)
    assert ids(incidents) == [world.incidents["a1"]]
    buildings = get_features(client, "/collections/buildings/items", headers)
    assert ids(buildings) == [world.buildings["1"], world.buildings["2"]]
    assert prop(buildings, "grid_code") == [GRID_A1, GRID_A2]
    places = get_features(client, "/collections/places/items", headers)
    assert ids(places) == [world.places["school"]]
    # units: community A itself and, for context, its street and district; not community B
    units = get_features(client, "/collections/admin_units/items", headers)
    assert sorted(prop(units, "code")) == ["370199000000", "370199001000", COMMUNITY_A]
    assert dict(zip(prop(units, "code"), prop(units, "parent_code"), strict=True)) == {
        "370199000000": None,
        "370199001000": "370199000000",
        COMMUNITY_A: "370199001000",
    }
    # the road runs along A's eastern edge: it touches A's polygon, so it is shown
    roads = get_features(client, "/collections/roads/items", headers)
    assert prop(roads, "name") == ["测试路"]


def test_grid_worker_gets_404_for_rows_of_another_community(
    client: TestClient, world: World
) -> None:
    headers = login(client, "t_gw_a")
    hidden = client.get(f"/collections/incidents/items/{world.incidents['b1']}", headers=headers)
    missing = client.get("/collections/incidents/items/2000000000", headers=headers)
    body = assert_problem(hidden, 404, "featureId", "not-found")
    other = assert_problem(missing, 404, "featureId", "not-found")
    # the answer for a hidden row is the answer for a missing one (only the id differs)
    hidden_id = str(world.incidents["b1"])
    assert body["detail"].replace(hidden_id, "N") == other["detail"].replace("2000000000", "N")
    assert body["detail_zh"].replace(hidden_id, "N") == other["detail_zh"].replace(
        "2000000000", "N"
    )
    for code in (GRID_B1, GRID_B2):
        response = client.get(f"/collections/grids/items/{world.grids[code]}", headers=headers)
        assert_problem(response, 404, "featureId", "not-found")
    response = client.get(f"/collections/buildings/items/{world.buildings['3']}", headers=headers)
    assert_problem(response, 404, "featureId", "not-found")
    # and their own rows are there
    own = get_feature(client, f"/collections/grids/items/{world.grids[GRID_A1]}", headers)
    assert own["properties"]["code"] == GRID_A1
    assert own["links"][0]["href"].endswith(f"/collections/grids/items/{world.grids[GRID_A1]}")


def test_community_b_worker_sees_the_mirror_image(client: TestClient, world: World) -> None:
    headers = login(client, "t_gw_b")
    assert prop(get_features(client, "/collections/grids/items", headers), "code") == [
        GRID_B1,
        GRID_B2,
    ]
    incidents = get_features(client, "/collections/incidents/items", headers)
    assert ids(incidents) == [world.incidents["b1"]]
    assert get_features(client, "/collections/places/items", headers)["features"] == []


def test_dept_handler_sees_only_incidents_and_places_of_their_department(
    client: TestClient, world: World, db: Session
) -> None:
    headers = login(client, "t_handler")
    # nothing is routed to the department yet: no incidents; the school is theirs
    assert get_features(client, "/collections/incidents/items", headers)["numberMatched"] == 0
    places = get_features(client, "/collections/places/items", headers)
    assert ids(places) == [world.places["school"]]
    assert places["features"][0]["properties"]["department"] == "测试消防救援站"

    db.execute(
        update(Incident)
        .where(Incident.id == world.incidents["a1"])
        .values(department_id=world.department_id)
    )
    db.execute(update(Place).values(department_id=None).where(Place.id == world.places["school"]))
    db.flush()
    incidents = get_features(client, "/collections/incidents/items", headers)
    assert ids(incidents) == [world.incidents["a1"]]
    assert incidents["features"][0]["properties"]["department"] == "测试消防救援站"
    assert get_features(client, "/collections/places/items", headers)["features"] == []
    response = client.get(f"/collections/incidents/items/{world.incidents['b1']}", headers=headers)
    assert_problem(response, 404, "featureId")
    # the map context (grids, buildings) is not narrowed by department
    grids = get_features(client, "/collections/grids/items", headers)
    assert prop(grids, "code") == ALL_GRIDS
    # a planner of the same street still sees both incidents
    planner = get_features(client, "/collections/incidents/items", login(client, "t_planner"))
    assert ids(planner) == sorted(world.incidents.values())


# ---------------------------------------------------------------------------------------------
# bbox
# ---------------------------------------------------------------------------------------------

INSIDE_A1 = "117.001,36.601,117.004,36.609"
ACROSS_A1_A2 = "117.004,36.604,117.006,36.606"


def test_bbox_strictly_inside_a1_returns_grid_a1_and_building_1(
    client: TestClient, world: World
) -> None:
    headers = login(client, "t_planner")
    grids = get_features(client, "/collections/grids/items", headers, bbox=INSIDE_A1)
    assert prop(grids, "code") == [GRID_A1]
    assert grids["numberMatched"] == 1
    buildings = get_features(client, "/collections/buildings/items", headers, bbox=INSIDE_A1)
    assert ids(buildings) == [world.buildings["1"]]
    incidents = get_features(client, "/collections/incidents/items", headers, bbox=INSIDE_A1)
    assert ids(incidents) == [world.incidents["a1"]]
    roads = get_features(client, "/collections/roads/items", headers, bbox=INSIDE_A1)
    assert roads["features"] == []


def test_bbox_across_a1_and_a2_returns_both(client: TestClient, world: World) -> None:
    grids = get_features(
        client, "/collections/grids/items", login(client, "t_planner"), bbox=ACROSS_A1_A2
    )
    assert prop(grids, "code") == [GRID_A1, GRID_A2]


def test_bbox_crs_names_all_read_lon_lat(client: TestClient, world: World) -> None:
    headers = login(client, "t_planner")
    for crs in (CRS84, "EPSG:4326", "EPSG:4490", "epsg:4490"):
        grids = get_features(
            client, "/collections/grids/items", headers, bbox=ACROSS_A1_A2, **{"bbox-crs": crs}
        )
        assert prop(grids, "code") == [GRID_A1, GRID_A2], crs


def test_bbox_is_kept_in_the_paging_links(client: TestClient, world: World) -> None:
    headers = login(client, "t_planner")
    body = get_features(client, "/collections/grids/items", headers, bbox=ACROSS_A1_A2, limit=1)
    next_href = next(link["href"] for link in body["links"] if link["rel"] == "next")
    assert "bbox=117.004%2C36.604%2C117.006%2C36.606" in next_href
    second = get_features(client, next_href, headers)
    assert prop(second, "code") == [GRID_A2]
    assert "next" not in [link["rel"] for link in second["links"]]


# ---------------------------------------------------------------------------------------------
# Paging
# ---------------------------------------------------------------------------------------------


def test_limit_1_walks_all_grids_through_next_links(client: TestClient, world: World) -> None:
    headers = login(client, "t_planner")
    body = get_features(client, "/collections/grids/items", headers, limit=1)
    seen: list[str] = []
    pages = 0
    while True:
        pages += 1
        assert body["numberMatched"] == 4
        assert body["numberReturned"] == 1
        seen += prop(body, "code")
        rels = {link["rel"]: link["href"] for link in body["links"]}
        assert ("prev" in rels) == (pages > 1)
        if "next" not in rels:
            break
        body = get_features(client, rels["next"], headers)
        assert pages < 10
    assert seen == ALL_GRIDS
    # and back one page from the last
    back = get_features(client, rels["prev"], headers)
    assert prop(back, "code") == [GRID_B1]


def test_default_limit_comes_from_settings_and_offset_past_the_end_is_empty(
    client: TestClient, world: World
) -> None:
    headers = login(client, "t_planner")
    body = get_features(client, "/collections/grids/items", headers)
    assert "limit=100" not in body["links"][0]["href"]  # self is the request as sent
    assert body["numberReturned"] == 4
    past = get_features(client, "/collections/grids/items", headers, offset=10, limit=2)
    assert past["features"] == []
    assert past["numberMatched"] == 4
    rels = {link["rel"]: link["href"] for link in past["links"]}
    assert "next" not in rels
    assert "offset=8" in rels["prev"] and "limit=2" in rels["prev"]


# ---------------------------------------------------------------------------------------------
# Grid versions: the current map, and `at`
# ---------------------------------------------------------------------------------------------


def test_at_before_the_grids_existed_returns_none(client: TestClient, world: World) -> None:
    headers = login(client, "t_planner")
    before = get_features(
        client, "/collections/grids/items", headers, at="2025-12-31T23:59:59+00:00"
    )
    assert before["features"] == [] and before["numberMatched"] == 0
    # 08:00 in Beijing on 1 January is exactly the moment they became valid
    first = get_features(
        client, "/collections/grids/items", headers, at="2026-01-01T08:00:00+08:00"
    )
    assert prop(first, "code") == ALL_GRIDS


def test_redrawn_grid_shows_the_new_version_now_and_the_old_one_at_a_past_time(
    client: TestClient, world: World, db: Session
) -> None:
    redrawn_at = datetime(2026, 6, 1, tzinfo=UTC)
    db.execute(update(Grid).where(Grid.id == world.grids[GRID_A1]).values(valid_to=redrawn_at))
    v2 = Grid(
        code=GRID_A1,
        version=2,
        name="测试网格1001（调整后）",
        community_id=world.units[COMMUNITY_A],
        geom=from_shape(MultiPolygon([box(117.000, 36.600, 117.004, 36.610)]), 4326),
        valid_from=redrawn_at,
    )
    db.add(v2)
    db.flush()
    headers = login(client, "t_planner")

    now = get_features(client, "/collections/grids/items", headers, community=COMMUNITY_A)
    assert [(f["id"], f["properties"]["version"]) for f in now["features"]] == [
        (world.grids[GRID_A2], 1),
        (v2.id, 2),
    ]
    march = get_features(
        client,
        "/collections/grids/items",
        headers,
        community=COMMUNITY_A,
        at="2026-03-01T00:00:00Z",
    )
    assert ids(march) == [world.grids[GRID_A1], world.grids[GRID_A2]]
    old = march["features"][0]["properties"]
    assert old["version"] == 1
    assert datetime.fromisoformat(old["valid_to"]) == redrawn_at
    # the retired version is still reachable by id
    retired = get_feature(client, f"/collections/grids/items/{world.grids[GRID_A1]}", headers)
    assert retired["properties"]["valid_to"] is not None


# ---------------------------------------------------------------------------------------------
# Property and time filters
# ---------------------------------------------------------------------------------------------


def test_grid_filters_by_community_and_kind(client: TestClient, world: World) -> None:
    headers = login(client, "t_planner")
    b = get_features(client, "/collections/grids/items", headers, community=COMMUNITY_B)
    assert prop(b, "code") == [GRID_B1, GRID_B2]
    basic = get_features(client, "/collections/grids/items", headers, kind="basic,special")
    assert prop(basic, "code") == ALL_GRIDS
    micro = get_features(client, "/collections/grids/items", headers, kind="micro")
    assert micro["features"] == []
    # a community outside the area is simply empty for a worker of A
    outside = get_features(
        client, "/collections/grids/items", login(client, "t_gw_a"), community=COMMUNITY_B
    )
    assert outside["features"] == [] and outside["numberMatched"] == 0


def test_incident_filters_by_status_category_and_datetime(
    client: TestClient, world: World, db: Session
) -> None:
    db.execute(
        update(Incident)
        .where(Incident.id == world.incidents["b1"])
        .values(
            status="closed",
            closed_at=datetime(2026, 3, 5, tzinfo=UTC),
            reported_at=datetime(2026, 3, 2, 12, tzinfo=UTC),
            category_code="dispute.neighbour",
        )
    )
    db.flush()
    a1, b1 = world.incidents["a1"], world.incidents["b1"]
    headers = login(client, "t_dispatcher")

    def incidents(**params: str) -> list[int]:
        return ids(get_features(client, "/collections/incidents/items", headers, **params))

    assert incidents(status="reported") == [a1]
    assert incidents(status="reported,closed") == [a1, b1]
    assert incidents(category="hazard") == [a1]  # a group includes its children
    assert incidents(category="hazard.fire") == [a1]
    assert incidents(category="dispute") == [b1]
    assert incidents(category="public_order") == []
    assert incidents(datetime="2026-03-01T00:00:00Z") == [a1]  # an instant
    assert incidents(datetime="2026-03-01T08:00:00+08:00") == [a1]  # the same instant
    assert incidents(datetime="2026-02-01T00:00:00Z/2026-04-01T00:00:00Z") == [a1, b1]
    assert incidents(datetime="2026-03-02T00:00:00Z/..") == [b1]
    assert incidents(datetime="../2026-03-02T00:00:00Z") == [a1]
    assert incidents(datetime="/2026-02-01T00:00:00Z") == []
    assert incidents(community=COMMUNITY_B, status="closed") == [b1]
    closed = get_features(client, "/collections/incidents/items", headers, status="closed")
    props = closed["features"][0]["properties"]
    assert props["status"] == "closed"
    assert props["category_code"] == "dispute.neighbour"
    assert props["category_name"] == "邻里纠纷"
    assert datetime.fromisoformat(props["closed_at"]) == datetime(2026, 3, 5, tzinfo=UTC)


def test_every_layer_returns_valid_rfc7946_geometry(client: TestClient, world: World) -> None:
    headers = login(client, "t_admin")
    counts = {}
    for layer in LAYERS:
        body = get_features(client, f"/collections/{layer}/items", headers)  # checks geometry
        counts[layer] = body["numberMatched"]
    assert counts == {
        "admin_units": 4,
        "grids": 4,
        "roads": 1,
        "buildings": 4,
        "places": 1,
        "incidents": 2,
    }
    place = get_feature(client, f"/collections/places/items/{world.places['school']}", headers)
    assert place["geometry"] == {"type": "Point", "coordinates": [117.003, 36.608]}
    assert place["properties"]["kind_zh"] == "学校"
