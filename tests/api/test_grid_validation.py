"""HTTP: /grids/validate, /grids/repair/preview|apply, /grids/import, /grids/export."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

import geopandas as gpd
import shapely
from shapely.geometry import Polygon, box, shape

from layers.models import Grid
from tests.api.helpers import GEOJSON, assert_problem
from tests.conftest import login
from tests.fixtures.coverage import (
    COMMUNITY_C,
    STREET_2,
    CoverageWorld,
    G,
    build_coverage_world,
)
from tests.fixtures.world import COMMUNITY_A, GRID_A1, GRID_A2, GRID_BOXES, World

JSON = "application/json"
CJK = re.compile(r"[\u4e00-\u9fff]")


def _forbidden(response: Any) -> None:
    """403 problem+json in both languages (no field: it is the role, not an input)."""
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "forbidden"
    assert CJK.search(body["detail_zh"]) and not CJK.search(body["detail"])


@pytest.fixture
def cw(db: Session, world: World) -> CoverageWorld:
    return build_coverage_world(db, world)


def _assert_feature(feature: dict[str, Any]) -> None:
    """An RFC 7946 Feature: lon/lat near the test street, ≤ 7 decimals, valid, CCW shells."""
    assert feature["type"] == "Feature" and isinstance(feature["id"], int)
    geom = shape(feature["geometry"])
    assert geom.is_valid and not geom.is_empty
    for x, y in shapely.get_coordinates(geom):
        assert 117.0 <= x <= 117.12 and 36.59 <= y <= 36.62
        assert round(x, 7) == x and round(y, 7) == y
    for part in getattr(geom, "geoms", [geom]):
        if isinstance(part, Polygon):
            assert part.exterior.is_ccw


# --------------------------------------------------------------------------------------------
# GET /grids/validate
# --------------------------------------------------------------------------------------------


def test_validate_answers_a_feature_collection_with_summary(client: TestClient, cw: CoverageWorld):
    response = client.get(
        "/grids/validate",
        params={"parent": COMMUNITY_C, "tolerance_m": 0.5},
        headers=login(client, "t_planner2"),
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == GEOJSON
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert body["summary"]["counts"] == {"error": 3, "sliver": 2, "warning": 5}
    assert body["summary"]["parent"] == {
        "code": COMMUNITY_C,
        "name": "春风社区",
        "level": "community",
    }
    assert body["summary"]["valid"] is False
    kinds = sorted((f["properties"]["severity"], f["properties"]["kind"]) for f in body["features"])
    assert kinds == sorted(
        [
            ("error", "overlap"),
            ("error", "gap"),
            ("error", "leak"),
            ("sliver", "overlap"),
            ("sliver", "gap"),
            ("warning", "unmatched_edge"),
            ("warning", "unmatched_edge"),
            ("warning", "multipart"),
            ("warning", "no_building"),
            ("warning", "straddling_building"),
        ]
    )
    for feature in body["features"]:
        _assert_feature(feature)
        assert CJK.search(feature["properties"]["message_zh"])
        assert not CJK.search(feature["properties"]["message_en"])
    overlap = next(f for f in body["features"] if f["properties"]["codes"] == [G[2], G[3]])
    assert overlap["properties"]["area_m2"] == pytest.approx(1985.8, abs=0.5)


def test_validate_street_and_tolerance(client: TestClient, cw: CoverageWorld):
    headers = login(client, "t_planner2")
    street = client.get("/grids/validate", params={"parent": STREET_2}, headers=headers).json()
    assert street["summary"]["communities"] == 2
    assert [f["properties"]["level"] for f in street["features"]].count("community") == 1
    strict = client.get(
        "/grids/validate", params={"parent": COMMUNITY_C, "tolerance_m": 0}, headers=headers
    ).json()
    assert strict["summary"]["counts"]["sliver"] == 0


@pytest.mark.parametrize(
    ("username", "status"),
    [
        ("t_planner2", 200),
        ("t_ca_c", 200),
        ("t_dispatcher2", 200),
        ("t_admin", 200),
        ("t_gw_c", 403),
        ("t_planner", 404),  # another street
        ("t_ca_a", 404),
    ],
)
def test_validate_roles_and_areas(
    client: TestClient, cw: CoverageWorld, username: str, status: int
):
    response = client.get(
        "/grids/validate", params={"parent": COMMUNITY_C}, headers=login(client, username)
    )
    if status == 200:
        assert response.status_code == 200 and response.headers["content-type"] == GEOJSON
    elif status == 403:
        _forbidden(response)
    else:
        assert_problem(response, 404, "parent", "not-found")


def test_community_admin_may_not_validate_their_street(client: TestClient, cw: CoverageWorld):
    response = client.get(
        "/grids/validate", params={"parent": STREET_2}, headers=login(client, "t_ca_c")
    )
    assert_problem(response, 404, "parent", "not-found")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"parent": "12345"}, "parent"),
        ({"parent": COMMUNITY_C, "tolerance_m": -1}, "tolerance_m"),
        ({"parent": COMMUNITY_C, "tolerance_m": "half"}, "tolerance_m"),
        ({"parent": COMMUNITY_C, "tolerance": 1}, "tolerance"),
        ({}, "parent"),
    ],
)
def test_validate_bad_input_is_a_problem_with_the_field(
    client: TestClient, cw: CoverageWorld, params: dict[str, Any], field: str
):
    response = client.get("/grids/validate", params=params, headers=login(client, "t_planner2"))
    assert_problem(response, 422, field)


def test_validate_refuses_a_district(client: TestClient, cw: CoverageWorld):
    response = client.get(
        "/grids/validate", params={"parent": "370199000000"}, headers=login(client, "t_admin")
    )
    body = assert_problem(response, 422, "parent", "invalid-input")
    assert body["detail_zh"] == "370199000000 是区县：请选择社区或街道"


def test_validate_needs_a_login(client: TestClient, cw: CoverageWorld):
    response = client.get("/grids/validate", params={"parent": COMMUNITY_C})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


# --------------------------------------------------------------------------------------------
# POST /grids/repair/preview and /grids/repair/apply
# --------------------------------------------------------------------------------------------


def test_repair_preview_then_apply_then_stale_apply_conflicts(
    client: TestClient, db: Session, cw: CoverageWorld
):
    headers = login(client, "t_planner2")
    preview = client.post(
        "/grids/repair/preview", json={"parent": COMMUNITY_C, "tolerance_m": 0.5}, headers=headers
    )
    assert preview.status_code == 200, preview.text
    assert preview.headers["content-type"] == JSON
    plan = preview.json()
    assert plan["verified"] is True
    assert plan["expected_versions"] == {G[n]: 1 for n in range(1, 7)}
    assert [g["code"] for g in plan["grids"]] == [G[2], G[3], G[5]]
    for feature in plan["changes"]["features"]:
        _assert_feature(feature)
    assert plan["after"]["counts"] == {"error": 2, "sliver": 0, "warning": 3}

    versions = plan["expected_versions"]
    applied = client.post(
        "/grids/repair/apply",
        json={"parent": COMMUNITY_C, "tolerance_m": 0.5, "expected_versions": versions},
        headers=headers,
    )
    assert applied.status_code == 200, applied.text
    result = applied.json()
    assert [(g["code"], g["new_version"]) for g in result["repaired"]] == [
        (G[2], 2),
        (G[3], 2),
        (G[5], 2),
    ]
    rows = db.execute(select(Grid.code, Grid.version).where(Grid.valid_to.is_(None))).all()
    current = {code: version for code, version in rows}
    assert {code: current[code] for code in (G[2], G[3], G[5])} == {G[2]: 2, G[3]: 2, G[5]: 2}

    stale = client.post(
        "/grids/repair/apply",
        json={"parent": COMMUNITY_C, "expected_versions": plan["expected_versions"]},
        headers=headers,
    )
    body = assert_problem(stale, 409, "expected_versions", "conflict")
    assert {c["code"] for c in body["conflicts"]} == {G[2], G[3], G[5]}


def test_repair_roles_and_bad_bodies(client: TestClient, cw: CoverageWorld):
    response = client.post(
        "/grids/repair/preview", json={"parent": COMMUNITY_C}, headers=login(client, "t_ca_c")
    )
    _forbidden(response)
    headers = login(client, "t_planner2")
    response = client.post(
        "/grids/repair/preview", json={"parent": COMMUNITY_C, "tolerance": 1}, headers=headers
    )
    assert_problem(response, 422, "tolerance")
    response = client.post(
        "/grids/repair/apply", json={"parent": COMMUNITY_C, "expected_versions": {}},
        headers=headers,
    )  # fmt: skip
    assert_problem(response, 422, "expected_versions")
    response = client.post("/grids/repair/preview", json={"parent": COMMUNITY_A}, headers=headers)
    assert_problem(response, 404, "parent", "not-found")


# --------------------------------------------------------------------------------------------
# POST /grids/import and GET /grids/export
# --------------------------------------------------------------------------------------------


def _geojson_file(rows: list[tuple[str, str, Any]]) -> bytes:
    frame = gpd.GeoDataFrame(
        {"code": [r[0] for r in rows], "name": [r[1] for r in rows]},
        geometry=[r[2] for r in rows],
        crs="EPSG:4326",
    )
    return frame.to_json().encode()


def test_import_dry_run_then_commit(client: TestClient, db: Session, world: World):
    headers = login(client, "t_planner")
    data = _geojson_file(
        [
            (GRID_A1, "测试网格1001", box(117.000, 36.600, 117.006, 36.610)),
            (GRID_A2, "测试网格1002", box(117.006, 36.600, 117.010, 36.610)),
        ]
    )
    files = {"file": ("grids.geojson", io.BytesIO(data), "application/geo+json")}
    dry = client.post("/grids/import", files=files, data={"parent": COMMUNITY_A}, headers=headers)
    assert dry.status_code == 200, dry.text
    assert dry.headers["content-type"] == JSON
    report = dry.json()
    assert report["counts"] == {"create": 0, "new_version": 2, "unchanged": 0, "error": 0}
    assert report["committable"] is True and report["committed"] is False
    assert report["crs"] == {"declared": None, "detected": "EPSG:4326", "used": "EPSG:4326"}
    assert report["problems"]["type"] == "FeatureCollection"
    versions = db.scalars(select(Grid.version).where(Grid.code == GRID_A1)).all()
    assert versions == [1]

    files = {"file": ("grids.geojson", io.BytesIO(data), "application/geo+json")}
    done = client.post(
        "/grids/import",
        files=files,
        data={"parent": COMMUNITY_A, "commit": "true", "crs": "CGCS2000"},
        headers=headers,
    )
    assert done.status_code == 200, done.text
    assert done.json()["committed"] is True and len(done.json()["written_ids"]) == 2
    assert done.json()["crs"]["used"] == "EPSG:4490"
    current = db.scalars(
        select(Grid.version).where(Grid.code == GRID_A1, Grid.valid_to.is_(None))
    ).one()
    assert current == 2


def test_import_refusals(client: TestClient, world: World, cw: CoverageWorld):
    planner = login(client, "t_planner")
    bad = _geojson_file([("123", "x", box(117.000, 36.600, 117.005, 36.610))])
    response = client.post(
        "/grids/import",
        files={"file": ("g.geojson", io.BytesIO(bad), "application/geo+json")},
        data={"parent": COMMUNITY_A, "commit": "true"},
        headers=planner,
    )
    body = assert_problem(response, 422, "file", "invalid-input")
    assert body["report"]["features"][0]["errors"][0]["field"] == "code"

    response = client.post(
        "/grids/import",
        files={"file": ("g.dxf", io.BytesIO(b"0"), "application/octet-stream")},
        data={"parent": COMMUNITY_A},
        headers=planner,
    )
    assert_problem(response, 422, "file", "invalid-input")

    response = client.post(
        "/grids/import",
        files={"file": ("g.geojson", io.BytesIO(bad), "application/geo+json")},
        data={"parent": COMMUNITY_A, "mapping": "{not json"},
        headers=planner,
    )
    assert_problem(response, 422, "mapping")

    response = client.post(
        "/grids/import",
        files={"file": ("g.geojson", io.BytesIO(bad), "application/geo+json")},
        data={"parent": COMMUNITY_A, "crs": "EPSG:999999"},
        headers=planner,
    )
    assert_problem(response, 422, "crs", "unknown-crs")

    response = client.post(
        "/grids/import",
        files={"file": ("g.geojson", io.BytesIO(bad), "application/geo+json")},
        data={"parent": COMMUNITY_C},
        headers=planner,
    )
    assert_problem(response, 404, "parent", "not-found")

    response = client.post(
        "/grids/import",
        files={"file": ("g.geojson", io.BytesIO(bad), "application/geo+json")},
        data={"parent": COMMUNITY_A},
        headers=login(client, "t_ca_a"),
    )
    _forbidden(response)


@pytest.mark.parametrize(
    ("fmt", "media_type", "suffix"),
    [
        ("geojson", "application/geo+json", "geojson"),
        ("gpkg", "application/geopackage+sqlite3", "gpkg"),
        ("shp", "application/zip", "zip"),
        ("kml", "application/vnd.google-earth.kml+xml", "kml"),
    ],
)
def test_export_files(client: TestClient, world: World, fmt: str, media_type: str, suffix: str):
    response = client.get(
        "/grids/export",
        params={"parent": COMMUNITY_A, "format": fmt},
        headers=login(client, "t_planner"),
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == media_type
    disposition = response.headers["content-disposition"]
    assert disposition.startswith(f"attachment; filename*=UTF-8''grids_{COMMUNITY_A}_")
    assert disposition.endswith(f".{suffix}")
    assert response.headers["x-feature-count"] == "2"
    if fmt == "geojson":
        body = json.loads(response.content)
        assert [f["properties"]["code"] for f in body["features"]] == [GRID_A1, GRID_A2]
        for feature in body["features"]:
            assert shapely.equals(
                shape(feature["geometry"]), box(*GRID_BOXES[feature["properties"]["code"]])
            )


def test_export_refusals(client: TestClient, world: World, cw: CoverageWorld):
    headers = login(client, "t_planner")
    response = client.get(
        "/grids/export", params={"parent": COMMUNITY_A, "format": "dxf"}, headers=headers
    )
    assert_problem(response, 422, "format")
    response = client.get(
        "/grids/export", params={"parent": COMMUNITY_A, "at": "yesterday"}, headers=headers
    )
    assert_problem(response, 422, "at")
    response = client.get("/grids/export", params={"parent": COMMUNITY_C}, headers=headers)
    assert_problem(response, 404, "parent", "not-found")
    response = client.get(
        "/grids/export", params={"parent": COMMUNITY_A}, headers=login(client, "t_gw_a")
    )
    _forbidden(response)
    response = client.get(
        "/grids/export",
        params={"parent": COMMUNITY_A, "at": "2025-01-01T00:00:00+08:00"},
        headers=headers,
    )
    assert response.status_code == 200 and response.headers["x-feature-count"] == "0"
