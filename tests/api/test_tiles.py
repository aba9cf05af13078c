"""Vector tiles and TileJSON against the synthetic world (known answers in lon/lat).

Tiles are decoded with mapbox-vector-tile and their tile coordinates mapped back to lon/lat, so
the tests check real positions, not only that bytes came back.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

import mapbox_vector_tile
import mercantile
import prcoords
from geoalchemy2.shape import from_shape
from shapely.geometry import Point

from gis_api.main import create_app
from gis_api.settings import ApiSettings
from layers.models import Incident
from layers.tiles import GcjShift
from tests.api.helpers import assert_problem
from tests.conftest import login
from tests.fixtures.world import GRID_A1, GRID_A2, GRID_B1, GRID_B2, GRID_BOXES, World

MVT = "application/vnd.mapbox-vector-tile"
# The whole world (117.000–117.020 × 36.600–36.610) lies inside this one z13 tile.
Z13 = mercantile.tile(117.01, 36.605, 13)


def _tile(z: int, lon: float, lat: float) -> mercantile.Tile:
    return mercantile.tile(lon, lat, z)


def _url(layer: str, tile: mercantile.Tile) -> str:
    return f"/tiles/{layer}/{tile.z}/{tile.x}/{tile.y}.mvt"


def _lonlat(tile: mercantile.Tile, px: float, py: float, extent: int = 4096) -> tuple[float, float]:
    """Tile coordinates (y up, as mapbox-vector-tile decodes by default) → lon/lat."""
    b = mercantile.xy_bounds(tile)
    x = b.left + px / extent * (b.right - b.left)
    y = b.bottom + py / extent * (b.top - b.bottom)
    return mercantile.lnglat(x, y)


def _features(
    client: TestClient, headers: dict[str, str], layer: str, tile: mercantile.Tile, **params: Any
) -> list[dict[str, Any]]:
    response = client.get(_url(layer, tile), headers=headers, params=params or None)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == MVT
    if not response.content:
        return []
    decoded = mapbox_vector_tile.decode(response.content)
    assert set(decoded) <= {layer}
    return decoded[layer]["features"] if layer in decoded else []


def _ring_bounds(tile: mercantile.Tile, ring: list[list[float]]) -> tuple[float, ...]:
    points = [_lonlat(tile, x, y) for x, y in ring]
    lons, lats = [p[0] for p in points], [p[1] for p in points]
    return min(lons), min(lats), max(lons), max(lats)


def _pixel_deg(tile: mercantile.Tile) -> float:
    west, _, east, _ = mercantile.bounds(tile)
    return (east - west) / 4096


def test_world_fits_the_test_tile() -> None:
    west, south, east, north = mercantile.bounds(Z13)
    assert west < 117.0 and east > 117.02 and south < 36.6 and north > 36.61


def test_planner_gets_every_grid_at_its_true_position(client: TestClient, world: World) -> None:
    headers = login(client, "t_planner")
    features = _features(client, headers, "grids", Z13)
    by_code = {f["properties"]["code"]: f for f in features}
    assert sorted(by_code) == sorted([GRID_A1, GRID_A2, GRID_B1, GRID_B2])
    tolerance = 2 * _pixel_deg(Z13)
    for code, box in GRID_BOXES.items():
        feature = by_code[code]
        assert feature["id"] == world.grids[code]
        assert feature["geometry"]["type"] == "Polygon"
        assert feature["properties"]["kind"] == "basic"
        assert feature["properties"]["version"] == 1
        ring = feature["geometry"]["coordinates"][0]
        got = _ring_bounds(Z13, ring)
        assert all(abs(g - e) < tolerance for g, e in zip(got, box, strict=True)), (code, got)


def test_grid_worker_gets_only_their_community(client: TestClient, world: World) -> None:
    headers = login(client, "t_gw_a")
    codes = sorted(f["properties"]["code"] for f in _features(client, headers, "grids", Z13))
    assert codes == [GRID_A1, GRID_A2]
    buildings = _features(client, headers, "buildings", Z13)
    assert sorted(f["id"] for f in buildings) == sorted(
        [world.buildings["1"], world.buildings["2"]]
    )


def test_buildings_roads_and_places(client: TestClient, world: World) -> None:
    headers = login(client, "t_planner")
    # Below the buildings' minimum zoom (13) the tile is empty.
    assert _features(client, headers, "buildings", _tile(12, 117.01, 36.605)) == []
    buildings = _features(client, headers, "buildings", Z13)
    assert len(buildings) == 4
    one = next(f for f in buildings if f["id"] == world.buildings["1"])
    assert one["properties"]["address"].startswith("济南市测试区")
    assert one["properties"]["compound"] == "测试小区"
    roads = _features(client, headers, "roads", Z13)
    assert [r["properties"]["name"] for r in roads] == ["测试路"]
    assert roads[0]["geometry"]["type"] == "LineString"
    places = _features(client, headers, "places", Z13)
    assert [p["properties"]["name"] for p in places] == ["测试小学"]
    # No personal data in tiles: the place's contact never leaves the database.
    assert set(places[0]["properties"]) <= {"name", "kind", "address"}
    communities = [
        f["properties"]["name"]
        for f in _features(client, headers, "admin_units", Z13)
        if f["properties"]["level"] == "community"
    ]
    assert len(communities) == 2


def test_incident_filters_and_no_reporter(client: TestClient, world: World) -> None:
    headers = login(client, "t_dispatcher")
    detail = _tile(15, 117.0020, 36.6030)
    features = _features(client, headers, "incidents", detail)
    a1 = next(f for f in features if f["id"] == world.incidents["a1"])
    assert a1["properties"] == {
        "code": "T-INC-a1",
        "category_code": "hazard.fire",
        "status": "reported",
        "risk_level": "high",
        "reported_at": "2026-03-01T00:00:00Z",
    }
    lon, lat = _lonlat(detail, *a1["geometry"]["coordinates"])
    assert abs(lon - 117.0020) < 2 * _pixel_deg(detail)
    assert abs(lat - 36.6030) < 2 * _pixel_deg(detail)

    def count(**params: Any) -> int:
        return len(_features(client, headers, "incidents", detail, **params))

    assert count(status="reported") == count() >= 1
    assert count(status="closed,handled") == 0
    assert count(category="hazard") == count()
    assert count(category="dispute") == 0
    assert count(datetime="2026-02-01T00:00:00Z/2026-03-02T00:00:00Z") == count()
    assert count(datetime="2026-03-02T00:00:00Z/..") == 0


def test_incident_clusters_below_detail_zoom(client: TestClient, world: World) -> None:
    headers = login(client, "t_dispatcher")
    clusters = _features(client, headers, "incidents", Z13)
    assert sum(f["properties"]["count"] for f in clusters) == 2
    assert all(set(f["properties"]) == {"count"} for f in clusters)
    assert _features(client, headers, "incidents", Z13, status="closed") == []


def test_nearby_incidents_share_a_cluster_at_their_mean(
    client: TestClient, world: World, db: Session
) -> None:
    """A third incident 10 m east of a1 joins a1's cluster at z13 (cells of ~77 m)."""
    a1 = db.get_one(Incident, world.incidents["a1"])
    near = Incident(
        code="T-INC-near",
        category_code="hazard.fire",
        title="附近事件",
        channel="walk_in",
        geom=from_shape(Point(117.0020 + 10 / 89_400, 36.6030), 4326),
        grid_id=a1.grid_id,
        community_id=a1.community_id,
    )
    db.add(near)
    db.flush()
    headers = login(client, "t_dispatcher")
    clusters = _features(client, headers, "incidents", Z13)
    counts = sorted(f["properties"]["count"] for f in clusters)
    assert counts == [1, 2]
    pair = next(f for f in clusters if f["properties"]["count"] == 2)
    lon, lat = _lonlat(Z13, *pair["geometry"]["coordinates"])
    assert abs(lon - (117.0020 + 5 / 89_400)) < 2 * _pixel_deg(Z13)
    assert abs(lat - 36.6030) < 2 * _pixel_deg(Z13)


def test_department_handler_sees_only_their_department(client: TestClient, world: World) -> None:
    headers = login(client, "t_handler")
    # The world's incidents are routed to no department: the handler sees none.
    assert _features(client, headers, "incidents", Z13) == []
    assert [p["properties"]["name"] for p in _features(client, headers, "places", Z13)] == [
        "测试小学"
    ]


def test_cache_headers_and_not_modified(client: TestClient, world: World) -> None:
    headers = login(client, "t_planner")
    first = client.get(_url("grids", Z13), headers=headers)
    assert first.status_code == 200
    assert first.headers["cache-control"] == "private, max-age=60"
    assert "Cookie" in first.headers["vary"]
    etag = first.headers["etag"]
    again = client.get(_url("grids", Z13), headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    other = client.get(_url("grids", Z13), headers={**headers, "If-None-Match": '"stale"'})
    assert other.status_code == 200 and other.content == first.content
    # v is a client cache key: accepted, ignored (same bytes, same ETag).
    keyed = client.get(_url("grids", Z13), headers=headers, params={"v": "1700000000"})
    assert keyed.status_code == 200 and keyed.headers["etag"] == etag
    # A grid worker's tile differs, and so does its ETag.
    gw = client.get(_url("grids", Z13), headers=login(client, "t_gw_a"))
    assert gw.headers["etag"] != etag


def test_errors_are_problems(client: TestClient, world: World) -> None:
    unauthenticated = client.get(_url("grids", Z13))
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["content-type"].startswith("application/problem+json")
    headers = login(client, "t_planner")
    assert_problem(client.get("/tiles/persons/13/1/1.mvt", headers=headers), 404, "layer")
    assert_problem(client.get("/tiles/grids/23/1/1.mvt", headers=headers), 422, "z")
    assert_problem(client.get("/tiles/grids/2/4/1.mvt", headers=headers), 422, "x")
    assert_problem(client.get("/tiles/grids/2/1/-1.mvt", headers=headers), 422, "y")
    url = _url("grids", Z13)
    assert_problem(client.get(url, headers=headers, params={"status": "closed"}), 422, "status")
    assert_problem(client.get(url, headers=headers, params={"kind": "castle"}), 422, "kind")
    assert_problem(client.get(url, headers=headers, params={"bogus": "1"}), 422, "bogus")
    incidents = _url("incidents", Z13)
    assert_problem(
        client.get(incidents, headers=headers, params={"datetime": "yesterday"}), 422, "datetime"
    )


def test_tilejson(client: TestClient, world: World) -> None:
    headers = login(client, "t_gw_a")
    response = client.get(
        "/tiles/incidents/tilejson.json", headers=headers, params={"status": "reported"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["tilejson"] == "3.0.0"
    assert body["tiles"] == ["http://testserver/tiles/incidents/{z}/{x}/{y}.mvt?status=reported"]
    assert body["minzoom"] == 8 and body["maxzoom"] == 22
    # Bounds: community A of t_gw_a.
    assert body["bounds"] == pytest.approx([117.0, 36.6, 117.01, 36.61])
    layer = body["vector_layers"][0]
    assert layer["id"] == "incidents"
    assert "reporter_name" not in layer["fields"]
    listing = client.get("/tiles", headers=headers).json()
    assert [layer["id"] for layer in listing["layers"]] == [
        "admin_units",
        "grids",
        "buildings",
        "roads",
        "places",
        "incidents",
    ]


def test_tilejson_follows_a_gcj02_basemap(
    db: Session, world: World, api_settings: ApiSettings, db_settings: Any
) -> None:
    from gis_api.db import get_session

    settings = api_settings.model_copy(
        update={"basemap_url": "http://10.0.0.5/amap/{z}/{x}/{y}.png", "basemap_crs": "gcj02"}
    )
    app = create_app(settings, db_settings)

    def _session() -> Any:
        with db.begin_nested():
            yield db

    app.dependency_overrides[get_session] = _session
    with TestClient(app) as client:
        headers = login(client, "t_planner")
        body = client.get("/tiles/grids/tilejson.json", headers=headers).json()
        assert body["tiles"] == ["http://testserver/tiles/grids/{z}/{x}/{y}.mvt?crs=gcj02"]


def test_gcj02_tiles_put_our_data_where_the_basemap_draws_it(
    client: TestClient, world: World
) -> None:
    """Building 1 (centre 117.0025, 36.6050) lands at its GCJ-02 position, hundreds of m away."""
    headers = login(client, "t_planner")
    centre = prcoords.wgs_gcj(prcoords.Coords(36.6050, 117.0025))
    tile = _tile(16, centre.lon, centre.lat)

    def centre_of(features: list[dict[str, Any]]) -> tuple[float, float]:
        one = next(f for f in features if f["id"] == world.buildings["1"])
        west, south, east, north = _ring_bounds(tile, one["geometry"]["coordinates"][0])
        return (west + east) / 2, (south + north) / 2

    shifted = centre_of(_features(client, headers, "buildings", tile, crs="gcj02"))
    pixel = _pixel_deg(tile)
    assert abs(shifted[0] - centre.lon) < 2 * pixel
    assert abs(shifted[1] - centre.lat) < 2 * pixel
    # The plain tile at the same address does not hold building 1 (it is ~500 m away).
    plain = _features(client, headers, "buildings", tile)
    assert world.buildings["1"] not in [f["id"] for f in plain]
    # Clusters are shifted too (the mean point goes through the same affine map).
    clusters = _features(client, headers, "incidents", Z13, crs="gcj02")
    assert sum(f["properties"]["count"] for f in clusters) == 2
    offset_m = math.hypot(
        (centre.lon - 117.0025) * 111_320 * math.cos(math.radians(36.605)),
        (centre.lat - 36.6050) * 110_574,
    )
    assert offset_m > 100


@pytest.mark.parametrize("z", [8, 10, 12, 14, 16, 18])
def test_gcj_affine_fit_is_below_half_a_pixel(z: int) -> None:
    """The per-tile affine GCJ-02 map against prcoords on a 9 × 9 lattice over the tile."""
    tile = mercantile.tile(117.01, 36.605, z)
    shift = GcjShift.for_tile(tile.z, tile.x, tile.y)
    west, south, east, north = mercantile.bounds(tile)
    worst = 0.0
    for i in range(9):
        for j in range(9):
            lon = west + (east - west) * i / 8
            lat = south + (north - south) * j / 8
            exact = prcoords.wgs_gcj(prcoords.Coords(lat, lon))
            got = shift.apply(lon, lat)
            dx = (got[0] - exact.lon) * 111_320 * math.cos(math.radians(lat))
            dy = (got[1] - exact.lat) * 110_574
            worst = max(worst, math.hypot(dx, dy))
            back = shift.invert(*got)
            assert back == pytest.approx((lon, lat), abs=1e-9)
    merc = mercantile.xy_bounds(tile)
    unit_m = (merc.right - merc.left) / 4096 * math.cos(math.radians(36.605))  # one tile unit
    pixel_m = 16 * unit_m  # one screen pixel of a 256 px tile
    assert worst < 0.5 * pixel_m, f"affine GCJ-02 fit off by {worst:.3f} m at z{z}"
    if z >= 15:
        assert worst < 0.1 * unit_m and worst < 0.05  # centimetres at street zooms
