"""The statistics API over HTTP: media types, caching headers, roles, scope, problems."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

import mapbox_vector_tile
import mercantile

from tests.api.helpers import GEOJSON, assert_problem
from tests.conftest import login
from tests.fixtures.stats import CLUSTER_SIZE, StatsWorld, build_stats_world
from tests.fixtures.world import GRID_A1, GRID_A2, World

BBOX = "117.0,36.6,117.02,36.61"


@pytest.fixture
def sw(db: Session, world: World) -> StatsWorld:
    return build_stats_world(db, world)


def test_cells_geojson(client: TestClient, sw: StatsWorld) -> None:
    headers = login(client, "t_dispatcher")
    r = client.get(
        "/stats/cells", headers=headers, params={"bbox": BBOX, "size": 100, "shape": "hexagon"}
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == GEOJSON
    assert r.headers["cache-control"] == "private, max-age=60"
    assert "Authorization" in r.headers["vary"]
    body = r.json()
    assert body["type"] == "FeatureCollection" and body["total"] == 72
    assert body["max"] >= CLUSTER_SIZE and body["metric_crs"] == "EPSG:4527"
    fire = client.get(
        "/stats/cells",
        headers=headers,
        params={"bbox": BBOX, "category": "hazard.fire", "status": "reported"},
    ).json()
    assert CLUSTER_SIZE <= fire["total"] < 72


def test_community_admin_does_not_see_b(client: TestClient, sw: StatsWorld) -> None:
    a = client.get("/stats/grids", headers=login(client, "t_ca_a")).json()
    assert {f["properties"]["code"] for f in a["features"]} == {GRID_A1, GRID_A2}
    everything = client.get("/stats/grids", headers=login(client, "t_street")).json()
    assert len(everything["features"]) == 4
    assert a["total"] < everything["total"] == 72
    cells_a = client.get("/stats/cells", headers=login(client, "t_ca_a")).json()
    assert cells_a["total"] == a["total"]


def test_heat_tile(client: TestClient, sw: StatsWorld) -> None:
    headers = login(client, "t_admin")
    tile = mercantile.tile(117.0075, 36.6050, 15)
    r = client.get(f"/stats/heat/15/{tile.x}/{tile.y}.mvt", headers=headers, params={"size": 100})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert r.headers["cache-control"] == "private, max-age=60"
    counts = [
        f["properties"]["count"] for f in mapbox_vector_tile.decode(r.content)["heat"]["features"]
    ]
    assert max(counts) >= CLUSTER_SIZE
    empty = client.get("/stats/heat/15/0/0.mvt", headers=headers)
    assert empty.status_code == 200 and empty.content == b""
    assert_problem(client.get("/stats/heat/2/9/0.mvt", headers=headers), 422, "x")


def test_hotspots_and_weekly(client: TestClient, sw: StatsWorld) -> None:
    headers = login(client, "t_planner")
    hot = client.get(
        "/stats/hotspots",
        headers=headers,
        params={"unit": "cell", "size": 100, "bbox": BBOX, "permutations": 99},
    )
    assert hot.status_code == 200 and hot.headers["content-type"] == GEOJSON
    assert hot.json()["classes"].get("hot_99", 0) >= 1
    weekly = client.get(
        "/stats/weekly",
        headers=headers,
        params={"start": "2026-02-23T00:00:00+08:00", "end": "2026-03-16T00:00:00+08:00"},
    )
    assert weekly.status_code == 200, weekly.text
    assert [w["week"] for w in weekly.json()["weeks"]] == ["2026-W09", "2026-W10", "2026-W11"]


@pytest.mark.parametrize("username", ["t_gw_a", "t_handler"])
def test_roles_without_statistics_get_403(client: TestClient, world: World, username: str) -> None:
    r = client.get("/stats/cells", headers=login(client, username))
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")


def test_needs_login(client: TestClient, world: World) -> None:
    assert client.get("/stats/cells").status_code == 401
    assert client.get("/stats/heat/1/0/0.mvt").status_code == 401


def test_bad_input_is_problem_json(client: TestClient, world: World) -> None:
    headers = login(client, "t_admin")
    assert_problem(
        client.get("/stats/cells", headers=headers, params={"bbox": "1,2,3"}), 422, "bbox"
    )
    assert_problem(client.get("/stats/cells", headers=headers, params={"size": 5}), 422, "size")
    assert_problem(
        client.get("/stats/cells", headers=headers, params={"status": "lost"}), 422, "status"
    )
    assert_problem(
        client.get(
            "/stats/cells", headers=headers, params={"source": "rollup", "shape": "hexagon"}
        ),
        422,
        "shape",
    )
    assert_problem(
        client.get("/stats/weekly", headers=headers, params={"start": "2026-03-01T00:00:00"}),
        422,
        "start",
    )
