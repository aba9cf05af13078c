"""Assertions shared by the API tests: GeoJSON and problem+json responses, checked whole."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from shapely.geometry import shape
from shapely.geometry.polygon import orient

from tests.fixtures.world import GRID_BOXES

GEOJSON = "application/geo+json"
PROBLEM = "application/problem+json"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"

# Everything the world holds lies in this lon/lat box (the district's outline).
WORLD_BOUNDS = (116.99, 36.59, 117.03, 36.62)

_CJK = re.compile(r"[\u4e00-\u9fff]")
_LEAKS = ("select ", "sqlalchemy", "psycopg", "traceback", "st_", "from admin_units")


def get_features(
    client: TestClient, path: str, headers: dict[str, str], **params: Any
) -> dict[str, Any]:
    """GET a FeatureCollection; assert status, media type and the collection's members."""
    # httpx replaces a URL's own query string by `params`, even an empty one: pass it only when
    # there are parameters (paging links come with their query string).
    response = client.get(path, headers=headers, params=params or None)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == GEOJSON
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert isinstance(body["features"], list)
    assert body["numberReturned"] == len(body["features"])
    assert body["numberMatched"] >= body["numberReturned"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", body["timeStamp"])
    assert "crs" not in body
    assert [link["rel"] for link in body["links"]][:2] == ["self", "collection"]
    for feature in body["features"]:
        assert_rfc7946_feature(feature)
    return body


def get_feature(client: TestClient, path: str, headers: dict[str, str]) -> dict[str, Any]:
    """GET one Feature; assert status, media type and its members."""
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == GEOJSON
    body = response.json()
    assert_rfc7946_feature(body)
    assert {link["rel"] for link in body["links"]} == {"self", "collection"}
    return body


def ids(body: dict[str, Any]) -> list[int]:
    """Feature ids of a FeatureCollection, in response order."""
    return [f["id"] for f in body["features"]]


def prop(body: dict[str, Any], key: str) -> list[Any]:
    """One property of every feature of a FeatureCollection, in response order."""
    return [f["properties"][key] for f in body["features"]]


def _positions(coordinates: Any) -> list[list[float]]:
    if coordinates and isinstance(coordinates[0], (int, float)):
        return [coordinates]
    return [p for part in coordinates for p in _positions(part)]


def assert_rfc7946_feature(feature: dict[str, Any]) -> None:
    """A GeoJSON Feature as RFC 7946 wants it: lon,lat within the world, valid, CCW shells."""
    assert feature["type"] == "Feature"
    assert isinstance(feature["id"], int)
    assert isinstance(feature["properties"], dict)
    geometry = feature["geometry"]
    assert "crs" not in geometry and "crs" not in feature
    assert geometry["type"] in {"Point", "LineString", "Polygon", "MultiPolygon"}
    minx, miny, maxx, maxy = WORLD_BOUNDS
    for position in _positions(geometry["coordinates"]):
        assert len(position) == 2
        lon, lat = position
        assert minx <= lon <= maxx, position  # longitude first
        assert miny <= lat <= maxy, position
        # at most 7 decimals (about 1 cm)
        assert round(lon, 7) == lon and round(lat, 7) == lat
    geom = shape(geometry)
    assert geom.is_valid and not geom.is_empty
    polygons = list(getattr(geom, "geoms", [geom])) if "Polygon" in geometry["type"] else []
    for polygon in polygons:
        assert polygon.exterior.is_ccw  # RFC 7946 §3.1.6 right-hand rule
        assert orient(polygon, 1.0).equals_exact(polygon, 0)


def assert_problem(response: Response, status: int, field: str, code: str | None = None) -> dict:
    """A problem+json response with both languages, the offending field and no internals."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    assert body["field"] == field
    if code is not None:
        assert body["code"] == code
    assert body["type"].startswith("/problems/")
    for key in ("title", "detail"):
        assert body[key] and not _CJK.search(body[key]), body  # English
    for key in ("title_zh", "detail_zh"):
        assert _CJK.search(body[key]), body  # Chinese
    text = response.text.lower()
    for leak in _LEAKS:
        assert leak not in text, (leak, body)
    return body


def grid_box_ring(code: str) -> set[tuple[float, float]]:
    """The corner positions of a world grid's box."""
    minx, miny, maxx, maxy = GRID_BOXES[code]
    return {(minx, miny), (maxx, miny), (maxx, maxy), (minx, maxy)}
