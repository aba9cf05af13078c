"""GeoJSON output in GCJ-02 / BD-09 for maps over AMap or Baidu basemaps (``crs`` parameter)."""

from __future__ import annotations

import math

import pytest
from fastapi.testclient import TestClient

import prcoords

from tests.api.helpers import GEOJSON, assert_problem, get_features
from tests.conftest import login
from tests.fixtures.world import GRID_A1, World

CRS84_HEADER = "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Approximate ground distance between two lon/lat points (equirectangular, fine at 1 km)."""
    lat = math.radians((a[1] + b[1]) / 2)
    dx = (a[0] - b[0]) * 111_320 * math.cos(lat)
    dy = (a[1] - b[1]) * 110_574
    return math.hypot(dx, dy)


def _incident_point(body: dict, incident_id: int) -> tuple[float, float]:
    (feature,) = [f for f in body["features"] if f["id"] == incident_id]
    lon, lat = feature["geometry"]["coordinates"]
    return lon, lat


def test_default_output_is_crs84_and_says_so(client: TestClient, world: World) -> None:
    headers = login(client, "t_planner")
    response = client.get("/collections/grids/items", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-crs"] == CRS84_HEADER


def test_gcj02_output_shifts_every_point_by_the_published_algorithm(
    client: TestClient, world: World
) -> None:
    headers = login(client, "t_planner")
    plain = get_features(client, "/collections/incidents/items", headers)
    shifted_response = client.get(
        "/collections/incidents/items", headers=headers, params={"crs": "GCJ02"}
    )
    assert shifted_response.status_code == 200
    assert shifted_response.headers["content-type"] == GEOJSON
    assert shifted_response.headers["content-crs"] == "<urn:wangge:crs:gcj02>"
    shifted = shifted_response.json()
    assert shifted["numberMatched"] == plain["numberMatched"]
    assert [f["id"] for f in shifted["features"]] == [f["id"] for f in plain["features"]]
    incident = world.incidents["a1"]
    wgs = _incident_point(plain, incident)
    gcj = _incident_point(shifted, incident)
    expected = prcoords.wgs_gcj(prcoords.Coords(wgs[1], wgs[0]))
    assert gcj == (pytest.approx(expected.lon, abs=1e-9), pytest.approx(expected.lat, abs=1e-9))
    # In Jinan the GCJ-02 offset is a few hundred metres, never zero.
    assert 100 < _metres(wgs, gcj) < 1000
    # Properties are untouched.
    assert shifted["features"][0]["properties"] == plain["features"][0]["properties"]


def test_gcj02_grid_polygon_keeps_its_vertices_and_moves_them_all(
    client: TestClient, world: World
) -> None:
    headers = login(client, "t_planner")
    path = f"/collections/grids/items/{world.grids[GRID_A1]}"
    plain = client.get(path, headers=headers).json()
    shifted = client.get(path, headers=headers, params={"crs": "gcj02"}).json()
    plain_ring = plain["geometry"]["coordinates"][0][0]
    shifted_ring = shifted["geometry"]["coordinates"][0][0]
    assert len(shifted_ring) == len(plain_ring)
    for a, b in zip(plain_ring, shifted_ring, strict=True):
        assert 100 < _metres(tuple(a), tuple(b)) < 1000
    assert shifted["properties"]["code"] == GRID_A1


def test_bd09_output_for_one_item(client: TestClient, world: World) -> None:
    headers = login(client, "t_planner")
    path = f"/collections/incidents/items/{world.incidents['a1']}"
    plain = client.get(path, headers=headers).json()
    response = client.get(path, headers=headers, params={"crs": "BD09"})
    assert response.status_code == 200
    assert response.headers["content-crs"] == "<urn:wangge:crs:bd09>"
    lon, lat = plain["geometry"]["coordinates"]
    expected = prcoords.wgs_bd(prcoords.Coords(lat, lon))
    got = response.json()["geometry"]["coordinates"]
    assert abs(got[0] - expected.lon) < 1e-9 and abs(got[1] - expected.lat) < 1e-9


def test_cgcs2000_output_is_numerically_the_stored_coordinates(
    client: TestClient, world: World
) -> None:
    headers = login(client, "t_planner")
    plain = client.get("/collections/grids/items", headers=headers)
    same = client.get("/collections/grids/items", headers=headers, params={"crs": "EPSG:4490"})
    assert same.headers["content-crs"] == "<http://www.opengis.net/def/crs/EPSG/0/4490>"
    assert same.json()["features"] == plain.json()["features"]


def test_projected_or_unknown_output_crs_is_a_clear_422(client: TestClient, world: World) -> None:
    headers = login(client, "t_planner")
    for value in ("EPSG:4527", "EPSG:99999", "not-a-crs"):
        response = client.get("/collections/grids/items", headers=headers, params={"crs": value})
        assert_problem(response, 422, "crs", "unknown-crs")
