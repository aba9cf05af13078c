"""The planner page and the shared Leaflet scaffolding through the real app (TestClient)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from gis_api.db import get_session
from gis_api.main import create_app
from gis_api.settings import ApiSettings
from layers.models import User
from layers.settings import DatabaseSettings
from map_ui.pages import page_csp
from tests.conftest import login
from tests.fixtures.world import World


class _Page(HTMLParser):
    """Script/link URLs, inline scripts that would run, and the JSON config block."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts: list[str] = []
        self.config_text = ""
        self._script: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for attr in ("src", "href"):
            if tag in {"script", "link", "img"} and values.get(attr):
                self.urls.append(values[attr] or "")
        if tag == "script" and not values.get("src"):
            self._script = "config" if values.get("id") == "wangge-config" else "inline"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script == "config":
            self.config_text += data
        elif self._script == "inline":
            self.inline_scripts.append(data)


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def test_planner_without_login_redirects(client: TestClient) -> None:
    response = client.get("/map/planner", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/map/planner"


def test_planner_page_for_a_planner(client: TestClient, world: World) -> None:
    login(client, "t_planner")
    response = client.get("/map/planner")
    assert response.status_code == 200
    html = response.text
    assert "网格规划 · 测试t_planner（网格规划员）" in html
    for label in ("画线分割", "均衡拆分", "合并所选", "调整边界", "撤销", "校验", "发布方案"):
        assert label in html
    page = _parse(html)
    assert page.inline_scripts == []  # no inline script: CSP script-src 'self'
    for url in page.urls:
        assert url.startswith("/static/") or url.startswith("data:"), url
    assert "/static/vendor/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js" in page.urls
    assert "/static/vendor/@geoman-io/leaflet-geoman-free/leaflet-geoman.min.js" in page.urls
    assert "FeatureCollection" not in html
    config = json.loads(page.config_text)
    assert config["user"] == {
        "username": "t_planner",
        "name": "测试t_planner",
        "role": "planner",
        "roleZh": "网格规划员",
        "areaCode": "370199001000",
    }
    assert config["canEdit"] is True
    assert config["bounds"] == pytest.approx([117.0, 36.6, 117.02, 36.61])
    assert config["basemap"] is None and config["displayCrs"] == "wgs84"
    assert config["tileUrl"] == "/tiles/{layer}/{z}/{x}/{y}.mvt"
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "style-src 'self';" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "connect-src 'self'" in csp and "img-src 'self' data:;" in csp
    assert response.headers["cache-control"] == "no-store"


def test_community_admin_may_look_but_not_edit(client: TestClient, world: World) -> None:
    login(client, "t_ca_a")
    config = json.loads(_parse(client.get("/map/planner").text).config_text)
    assert config["canEdit"] is False
    assert config["bounds"] == pytest.approx([117.0, 36.6, 117.01, 36.61])


@pytest.mark.parametrize("username", ["t_gw_a", "t_dispatcher", "t_handler"])
def test_other_roles_get_403(client: TestClient, world: World, username: str) -> None:
    login(client, username)
    response = client.get("/map/planner")
    assert response.status_code == 403
    assert "不能使用此页面" in response.text
    assert "网格规划员" in response.text


def test_config_json_cannot_break_out_of_its_script(
    client: TestClient, world: World, db: Session
) -> None:
    user = db.get_one(User, world.users["t_planner"])
    user.full_name = "</script><script>alert(1)</script>"
    db.flush()
    login(client, "t_planner")
    html = client.get("/map/planner").text
    assert "<script>alert(1)</script>" not in html
    page = _parse(html)
    assert page.inline_scripts == []
    assert json.loads(page.config_text)["user"]["name"] == "</script><script>alert(1)</script>"


@pytest.fixture
def gcj_client(
    db: Session, api_settings: ApiSettings, db_settings: DatabaseSettings
) -> Iterator[TestClient]:
    """The app configured with an AMap-style GCJ-02 basemap on the intranet."""
    settings = api_settings.model_copy(
        update={
            "basemap_url": "http://{s}.tiles.intranet.example/amap/{z}/{x}/{y}.png",
            "basemap_crs": "gcj02",
            "basemap_attribution": "高德底图（内网镜像）",
        }
    )
    app = create_app(settings, db_settings)

    def _session() -> Iterator[Session]:
        with db.begin_nested():
            yield db

    app.dependency_overrides[get_session] = _session
    with TestClient(app) as client:
        yield client


def test_gcj02_basemap_is_configured_for_the_page(gcj_client: TestClient, world: World) -> None:
    login(gcj_client, "t_planner")
    response = gcj_client.get("/map/planner")
    config: dict[str, Any] = json.loads(_parse(response.text).config_text)
    assert config["basemap"] == {
        "url": "http://{s}.tiles.intranet.example/amap/{z}/{x}/{y}.png",
        "attribution": "高德底图（内网镜像）",
        "crs": "gcj02",
    }
    assert config["displayCrs"] == "gcj02"
    csp = response.headers["content-security-policy"]
    assert "img-src 'self' data: http://*.tiles.intranet.example;" in csp
    assert "connect-src 'self'" in csp


def test_page_csp_without_basemap() -> None:
    settings = ApiSettings(jwt_secret="x" * 40)  # type: ignore[arg-type]
    assert "img-src 'self' data:;" in page_csp(settings)
