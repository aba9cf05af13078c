"""Input geometry parsing: every bad shape gets a defined, bilingual answer."""

from __future__ import annotations

import pytest

from shapely.geometry import MultiPolygon, Point

from layers.errors import InvalidGeometry, InvalidInput
from layers.spatial.crs import GCJ02, parse_crs
from layers.spatial.geometry import parse_geometry

AREA = {"Polygon", "MultiPolygon"}
SQUARE = [[117.0, 36.6], [117.01, 36.6], [117.01, 36.61], [117.0, 36.61], [117.0, 36.6]]


def test_polygon_is_promoted_to_multipolygon() -> None:
    geom = parse_geometry({"type": "Polygon", "coordinates": [SQUARE]}, allowed=AREA)
    assert isinstance(geom, MultiPolygon)
    assert geom.bounds == (117.0, 36.6, 117.01, 36.61)


def test_bowtie_is_refused_with_reason_and_location() -> None:
    bowtie = [[117.0, 36.6], [117.01, 36.61], [117.01, 36.6], [117.0, 36.61], [117.0, 36.6]]
    with pytest.raises(InvalidGeometry) as excinfo:
        parse_geometry({"type": "Polygon", "coordinates": [bowtie]}, allowed=AREA)
    err = excinfo.value
    assert err.extra["reason"] == "Self-intersection"
    assert err.extra["location"] == pytest.approx([117.005, 36.605])
    assert "自相交" in err.message_zh
    assert err.field == "geometry"


def test_wrong_type_is_refused() -> None:
    with pytest.raises(InvalidGeometry, match="not allowed"):
        parse_geometry({"type": "Point", "coordinates": [117.0, 36.6]}, allowed=AREA)


@pytest.mark.parametrize(
    "obj",
    [
        None,
        {},
        {"type": "Polygon"},
        {"type": "Polygon", "coordinates": "nope"},
        {"type": "Polygon", "coordinates": []},
        {"type": "Polygon", "coordinates": [[[117.0, 36.6], [117.01, 36.6]]]},
    ],
)
def test_malformed_or_empty_input_is_refused(obj: dict | None) -> None:
    with pytest.raises(InvalidGeometry):
        parse_geometry(obj, allowed=AREA)


def test_swapped_coordinates_are_named() -> None:
    swapped = [[y, x] for x, y in SQUARE]
    with pytest.raises(InvalidInput, match="lon,lat"):
        parse_geometry({"type": "Polygon", "coordinates": [swapped]}, allowed=AREA)


def test_too_many_vertices_is_refused() -> None:
    with pytest.raises(InvalidInput, match="at most 4"):
        parse_geometry({"type": "Polygon", "coordinates": [SQUARE]}, allowed=AREA, max_vertices=4)


def test_gcj02_point_is_converted() -> None:
    geom = parse_geometry(
        {"type": "Point", "coordinates": [117.066070503401, 36.69043079175114]},
        allowed={"Point"},
        crs=GCJ02,
    )
    assert isinstance(geom, Point)
    assert geom.x == pytest.approx(117.06, abs=1e-6)
    assert geom.y == pytest.approx(36.69, abs=1e-6)


def test_projected_input_skips_lonlat_checks_and_is_converted() -> None:
    geom = parse_geometry(
        {"type": "Point", "coordinates": [505_375.0, 4_061_000.0]},
        allowed={"Point"},
        crs=parse_crs("EPSG:4548"),
    )
    assert 117.0 < geom.x < 117.1
    assert 36.6 < geom.y < 36.7
