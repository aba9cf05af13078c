"""The dispatcher page (/map/dispatch) through the real app (TestClient), and the
``supervised`` filter of ``GET /incidents`` its supervised list uses."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from layers.models import Incident
from map_ui.dispatch import TIME_WINDOWS_DAYS
from tests.conftest import login
from tests.fixtures.world import World
from tests.map_ui.test_planner_page import _parse

NOW = datetime(2026, 3, 5, 8, 30, tzinfo=UTC)


def test_without_login_redirects(client: TestClient) -> None:
    response = client.get("/map/dispatch", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/map/dispatch"


@pytest.mark.parametrize(
    ("username", "bounds"),
    [
        ("t_dispatcher", [117.0, 36.6, 117.02, 36.61]),
        ("t_street", [117.0, 36.6, 117.02, 36.61]),
        ("t_ca_a", [117.0, 36.6, 117.01, 36.61]),
        ("t_admin", [116.99, 36.59, 117.03, 36.62]),
    ],
)
def test_page_for_the_dispatching_roles(
    app: FastAPI, client: TestClient, world: World, username: str, bounds: list[float]
) -> None:
    app.state.clock = lambda: NOW
    login(client, username)
    response = client.get("/map/dispatch")
    assert response.status_code == 200
    html = response.text
    for label in ("事件类别", "状态", "时间", "热点网格", "超期事件", "督办事件", "事件详情"):
        assert label in html
    page = _parse(html)
    assert page.inline_scripts == []
    for url in page.urls:
        assert url.startswith("/static/") or url.startswith("data:"), url
    for lib in (
        "/static/vendor/leaflet.markercluster/leaflet.markercluster.js",
        "/static/vendor/leaflet.heat/leaflet-heat.js",
        "/static/vendor/leaflet.markercluster/MarkerCluster.Default.css",
        "/static/js/dispatch.js",
    ):
        assert lib in page.urls
    assert "FeatureCollection" not in html  # data comes from the API, not the page
    config = json.loads(page.config_text)
    assert config["user"]["username"] == username
    assert config["bounds"] == pytest.approx(bounds)
    assert config["now"] == "2026-03-05T08:30:00+00:00"
    assert config["windowsDays"] == list(TIME_WINDOWS_DAYS)
    assert config["windowsDays"][-1] is None  # the slider's last step: everything
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "connect-src 'self'" in csp


@pytest.mark.parametrize("username", ["t_gw_a", "t_handler", "t_planner"])
def test_other_roles_get_403(client: TestClient, world: World, username: str) -> None:
    login(client, username)
    response = client.get("/map/dispatch")
    assert response.status_code == 403
    assert "不能使用此页面" in response.text
    assert "综治中心调度员" in response.text


def test_vendored_libraries_are_served(client: TestClient) -> None:
    for url, kind in (
        ("/static/vendor/leaflet.markercluster/leaflet.markercluster.js", "javascript"),
        ("/static/vendor/leaflet.heat/leaflet-heat.js", "javascript"),
        ("/static/js/dispatch.js", "javascript"),
        ("/static/js/field.js", "javascript"),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert kind in response.headers["content-type"]


def test_incident_list_filters_supervised(client: TestClient, world: World, db: Session) -> None:
    db.get_one(Incident, world.incidents["b1"]).supervision = "red"
    db.flush()
    headers = login(client, "t_dispatcher")
    supervised = client.get("/incidents", params={"supervised": "true"}, headers=headers).json()
    assert [i["code"] for i in supervised["items"]] == ["T-INC-b1"]
    assert supervised["total"] == 1 and supervised["items"][0]["supervision"] == "red"
    others = client.get("/incidents", params={"supervised": "false"}, headers=headers).json()
    assert "T-INC-b1" not in [i["code"] for i in others["items"]]
    assert "T-INC-a1" in [i["code"] for i in others["items"]]
    bad = client.get("/incidents", params={"supervised": "maybe"}, headers=headers)
    assert bad.status_code == 422
