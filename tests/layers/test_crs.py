"""Coordinate conversion against the public reference pairs in tests/conformance/coords."""

from __future__ import annotations

import json

import pytest

from pyproj import Geod
from shapely.geometry import Point, Polygon

from layers.errors import InvalidInput, UnknownCRS
from layers.spatial.crs import (
    BD09,
    CGCS2000,
    GCJ02,
    WGS84,
    check_lonlat,
    from_storage,
    parse_crs,
    point_to_storage,
    to_storage,
)
from tests.conftest import SHARED_TESTDATA

REFERENCE = json.loads(
    (SHARED_TESTDATA / "coords" / "gcj02_bd09_wgs84_reference_pairs.json").read_text("utf-8")
)
GEOD = Geod(ellps="WGS84")


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(GEOD.inv(a[0], a[1], b[0], b[1])[2])


GCJ_CASES = [c for c in REFERENCE["cases"] if "gcj02" in c]
BD_CASES = [c for c in REFERENCE["cases"] if "bd09" in c]


@pytest.mark.parametrize("case", GCJ_CASES, ids=lambda c: c["name"])
def test_wgs84_to_gcj02_matches_the_reference(case: dict) -> None:
    wgs, gcj = case["wgs84"], case["gcj02"]
    out = from_storage(Point(wgs["lng"], wgs["lat"]), GCJ02)
    assert out.x == pytest.approx(gcj["lng"], abs=1e-6)
    assert out.y == pytest.approx(gcj["lat"], abs=1e-6)


@pytest.mark.parametrize("case", GCJ_CASES, ids=lambda c: c["name"])
def test_gcj02_input_is_stored_within_half_a_metre_of_wgs84(case: dict) -> None:
    wgs, gcj = case["wgs84"], case["gcj02"]
    lon, lat = point_to_storage(gcj["lng"], gcj["lat"], GCJ02)
    assert _metres((lon, lat), (wgs["lng"], wgs["lat"])) < 0.5


def test_points_outside_china_pass_through_gcj02_unchanged() -> None:
    outside = [c for c in GCJ_CASES if "outside_china" in c["name"]]
    assert len(outside) >= 3
    for case in outside:
        wgs = case["wgs84"]
        assert point_to_storage(wgs["lng"], wgs["lat"], GCJ02) == (wgs["lng"], wgs["lat"])


def test_bd09_exact_reference_case() -> None:
    js = REFERENCE["coordtransform_js_case"]
    lng, lat = js["input_lnglat"]
    # BD-09 → GCJ-02 is a closed formula: compare through storage and back out to GCJ-02.
    stored = to_storage(Point(lng, lat), BD09)
    as_gcj = from_storage(stored, GCJ02)
    assert as_gcj.x == pytest.approx(js["bd09togcj02"][0], abs=1e-6)
    assert as_gcj.y == pytest.approx(js["bd09togcj02"][1], abs=1e-6)


@pytest.mark.parametrize("case", BD_CASES, ids=lambda c: c["name"])
def test_bd09_disputed_pairs_agree_loosely(case: dict) -> None:
    """Upstream marks these pairs as digitised, not computed: a < 50 m check only."""
    bd, wgs = case["bd09"], case["wgs84"]
    lon, lat = point_to_storage(bd["lng"], bd["lat"], BD09)
    assert _metres((lon, lat), (wgs["lng"], wgs["lat"])) < 50


def test_cgcs2000_is_stored_unchanged() -> None:
    assert point_to_storage(117.06, 36.69, CGCS2000) == (117.06, 36.69)
    assert point_to_storage(117.06, 36.69, WGS84) == (117.06, 36.69)


def test_gauss_kruger_zone_input_is_projected_back_to_lonlat() -> None:
    # EPSG:4548 is CGCS2000 / 3-degree Gauss-Kruger CM 117E (no zone prefix in the easting).
    crs = parse_crs("EPSG:4548")
    easting, northing = from_storage(Point(117.06, 36.69), crs).coords[0]
    assert 500_000 < easting < 510_000  # just east of the central meridian
    lon, lat = point_to_storage(easting, northing, crs)
    assert _metres((lon, lat), (117.06, 36.69)) < 0.01


def test_polygon_round_trip_through_gcj02_keeps_shape_within_a_metre() -> None:
    poly = Polygon([(117.05, 36.68), (117.07, 36.68), (117.07, 36.70), (117.05, 36.70)])
    back = to_storage(from_storage(poly, GCJ02), GCJ02)
    for (x1, y1), (x2, y2) in zip(poly.exterior.coords, back.exterior.coords, strict=True):
        assert _metres((x1, y1), (x2, y2)) < 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "EPSG:4326"),
        ("", "EPSG:4326"),
        ("wgs84", "EPSG:4326"),
        ("CGCS2000", "EPSG:4490"),
        ("epsg:4490", "EPSG:4490"),
        ("4527", "EPSG:4527"),
        ("GCJ-02", "GCJ02"),
        ("bd09", "BD09"),
        ("http://www.opengis.net/def/crs/OGC/1.3/CRS84", "EPSG:4326"),
    ],
)
def test_crs_names_are_parsed(value: str | None, expected: str) -> None:
    assert parse_crs(value).label == expected


@pytest.mark.parametrize("value", ["EPSG:999999", "mercator-ish", "EPSG:", "4326; DROP TABLE"])
def test_unknown_crs_is_refused_with_the_field(value: str) -> None:
    with pytest.raises(UnknownCRS) as excinfo:
        parse_crs(value, field="crs")
    assert excinfo.value.field == "crs"
    assert "坐标" in excinfo.value.message_zh


def test_swapped_lat_lon_is_explained() -> None:
    with pytest.raises(InvalidInput) as excinfo:
        check_lonlat(36.69, 117.06)
    assert "lon,lat" in excinfo.value.message_en
    assert "经度,纬度" in excinfo.value.message_zh


@pytest.mark.parametrize(("lon", "lat"), [(181.0, 10.0), (float("nan"), 1.0), (200.0, 95.0)])
def test_out_of_range_coordinates_are_refused(lon: float, lat: float) -> None:
    with pytest.raises(InvalidInput):
        check_lonlat(lon, lat)
