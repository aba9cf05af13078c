"""Every bad input to the feature endpoints is an RFC 9457 problem, in Chinese and English."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from gis_api.settings import ApiSettings
from layers.features import statement_timeout
from tests.api.helpers import assert_problem, get_features, prop
from tests.conftest import login
from tests.fixtures.world import World

ITEMS = "/collections/{layer}/items"


@pytest.mark.parametrize(
    ("layer", "params", "field", "code", "phrase"),
    [
        # bbox
        ("grids", {"bbox": "117.0,36.6,117.1"}, "bbox", "invalid-input", "4 numbers"),
        ("grids", {"bbox": "117,36.6,117.1,36.7,1"}, "bbox", "invalid-input", "got 5"),
        ("grids", {"bbox": "a,b,c,d"}, "bbox", "invalid-input", "decimal numbers"),
        ("grids", {"bbox": "117.0,36.6,,36.7"}, "bbox", "invalid-input", "decimal numbers"),
        ("grids", {"bbox": "nan,36.6,117.1,36.7"}, "bbox", "invalid-input", "finite"),
        ("grids", {"bbox": "117.1,36.6,117.0,36.7"}, "bbox", "invalid-input", "greater than"),
        ("grids", {"bbox": "117.0,36.7,117.1,36.6"}, "bbox", "invalid-input", "greater than"),
        ("grids", {"bbox": "117.0,36.6,181.0,36.7"}, "bbox", "invalid-input", "-180..180"),
        ("grids", {"bbox": "117.0,-91,117.1,36.7"}, "bbox", "invalid-input", "-90..90"),
        ("grids", {"bbox": "36.6,117.0,36.7,117.1"}, "bbox", "invalid-input", "lon,lat"),
        # bbox-crs
        (
            "grids",
            {"bbox": "117,36.6,117.1,36.7", "bbox-crs": "EPSG:3857"},
            "bbox-crs",
            "unknown-crs",
            "not supported",
        ),
        ("grids", {"bbox-crs": "EPSG:4490x"}, "bbox-crs", "unknown-crs", "not supported"),
        # paging
        ("grids", {"limit": "0"}, "limit", "invalid-input", None),
        ("grids", {"limit": "1001"}, "limit", "invalid-input", "between 1 and 1000"),
        ("grids", {"limit": "99999999999999999999999"}, "limit", "invalid-input", None),
        ("grids", {"limit": "ten"}, "limit", "invalid-input", None),
        ("grids", {"offset": "-1"}, "offset", "invalid-input", None),
        ("grids", {"offset": "100000000000"}, "offset", "invalid-input", None),
        # time
        ("incidents", {"datetime": "yesterday"}, "datetime", "invalid-input", "RFC 3339"),
        ("incidents", {"datetime": "2026-03-01"}, "datetime", "invalid-input", "RFC 3339"),
        ("incidents", {"datetime": "2026-03-01T00:00:00"}, "datetime", "invalid-input", "offset"),
        (
            "incidents",
            {"datetime": "2026-13-01T00:00:00Z"},
            "datetime",
            "invalid-input",
            "not a real date-time",
        ),
        (
            "incidents",
            {"datetime": "2026-04-01T00:00:00Z/2026-03-01T00:00:00Z"},
            "datetime",
            "invalid-input",
            "starts after it ends",
        ),
        ("incidents", {"datetime": "../.."}, "datetime", "invalid-input", "at least one end"),
        (
            "incidents",
            {"datetime": "2026-03-01T00:00:00Z/x/y"},
            "datetime",
            "invalid-input",
            "one interval",
        ),
        (
            "incidents",
            {"datetime": "2026-03-01T08:00:00 08:00"},
            "datetime",
            "invalid-input",
            "%2B",
        ),
        ("grids", {"at": "now"}, "at", "invalid-input", "RFC 3339"),
        # property filters
        ("incidents", {"status": "done"}, "status", "invalid-input", "not one of"),
        ("incidents", {"status": ","}, "status", "invalid-input", "not one of"),
        ("grids", {"kind": "huge"}, "kind", "invalid-input", "not one of"),
        (
            "incidents",
            {"category": "hazard.meteor"},
            "category",
            "invalid-input",
            "no incident category",
        ),
        (
            "incidents",
            {"category": "'; DROP TABLE incidents; --"},
            "category",
            "invalid-input",
            "category code",
        ),
        ("grids", {"community": "3701"}, "community", "invalid-input", "12-digit"),
        # parameters a layer does not have
        ("incidents", {"kind": "school"}, "kind", "invalid-input", "Unknown query parameter"),
        ("roads", {"at": "2026-01-01T00:00:00Z"}, "at", "invalid-input", "Unknown query"),
        ("buildings", {"colour": "red"}, "colour", "invalid-input", "Unknown query parameter"),
    ],
)
def test_bad_items_query_is_a_422_problem_naming_the_field(
    client: TestClient,
    world: World,
    layer: str,
    params: dict[str, str],
    field: str,
    code: str,
    phrase: str | None,
) -> None:
    response = client.get(
        ITEMS.format(layer=layer), headers=login(client, "t_planner"), params=params
    )
    body = assert_problem(response, 422, field, code)
    if phrase is not None:
        assert phrase in body["detail"], body


def test_swapped_lat_lon_explains_the_order_in_both_languages(
    client: TestClient, world: World
) -> None:
    response = client.get(
        "/collections/grids/items",
        headers=login(client, "t_planner"),
        params={"bbox": "36.6,117.0,36.7,117.1"},
    )
    body = assert_problem(response, 422, "bbox", "invalid-input")
    assert "coordinate order is lon,lat" in body["detail"]
    assert "坐标顺序应为经度,纬度" in body["detail_zh"]
    assert body["instance"] == "/collections/grids/items"


@pytest.mark.parametrize(
    "path",
    ["/collections/parcels", "/collections/parcels/items", "/collections/parcels/items/1"],
)
def test_unknown_layer_is_404(client: TestClient, world: World, path: str) -> None:
    body = assert_problem(client.get(path, headers=login(client, "t_planner")), 404, "layer")
    assert body["code"] == "not-found"
    assert "/collections" in body["detail"]


@pytest.mark.parametrize("feature_id", ["abc", "-1", "0", "2147483648", "99999999999", "1.5"])
def test_impossible_feature_id_is_404_not_500(
    client: TestClient, world: World, feature_id: str
) -> None:
    response = client.get(
        f"/collections/incidents/items/{feature_id}", headers=login(client, "t_street")
    )
    assert_problem(response, 404, "featureId", "not-found")


def test_default_and_maximum_page_size_come_from_settings(
    app: FastAPI, client: TestClient, world: World, api_settings: ApiSettings
) -> None:
    app.state.settings = api_settings.model_copy(
        update={"default_page_size": 3, "max_page_size": 10}
    )
    headers = login(client, "t_planner")
    body = get_features(client, "/collections/grids/items", headers)
    assert body["numberReturned"] == 3 and body["numberMatched"] == 4
    next_href = next(link["href"] for link in body["links"] if link["rel"] == "next")
    assert "offset=3" in next_href and "limit=3" in next_href
    assert (
        len(prop(get_features(client, "/collections/grids/items", headers, limit=10), "code")) == 4
    )
    response = client.get("/collections/grids/items", headers=headers, params={"limit": 11})
    body = assert_problem(response, 422, "limit", "invalid-input")
    assert "1 到 10" in body["detail_zh"]


def test_statement_timeout_applies_inside_the_block_and_is_restored(db: Session) -> None:
    before = db.execute(text("SHOW statement_timeout")).scalar_one()
    with statement_timeout(db, 10_000):
        assert db.execute(text("SHOW statement_timeout")).scalar_one() == "10s"
    assert db.execute(text("SHOW statement_timeout")).scalar_one() == before
    # a statement that runs longer than the cap is cancelled
    with (
        pytest.raises(OperationalError, match="statement timeout"),
        db.begin_nested(),
        statement_timeout(db, 50),
    ):
        db.execute(select(text("pg_sleep(1)")))
    assert db.execute(text("SHOW statement_timeout")).scalar_one() == before
