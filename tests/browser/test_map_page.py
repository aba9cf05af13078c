"""The map page in a real headless Chromium against a live server on 127.0.0.1.

The live server, the committed world and Chromium are fixtures of tests/browser/conftest.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.helpers import Tab
from tests.browser.helpers import assert_only_local_requests as _assert_only_local_requests
from tests.browser.helpers import assert_real_picture as _assert_real_picture
from tests.browser.helpers import log_in as _log_in
from tests.fixtures.world import GRID_A1, GRID_A2, GRID_BOXES

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "screenshots" / "map.png"


# --- helpers ------------------------------------------------------------------------------------


def _wait_for_layers(page: Page) -> None:
    # A selector, not wait_for_function: the page's CSP forbids the eval that one needs.
    page.locator("body[data-layers-done='true']").wait_for(state="attached")


def _open_map_as(tab: Tab, base: str, username: str) -> Page:
    page = tab.page
    page.goto(f"{base}/map/")
    page.wait_for_url(f"{base}/login?next=/map/")
    _log_in(page, base, username)
    page.wait_for_url(f"{base}/map/")
    _wait_for_layers(page)
    return page


def _grid_codes(page: Page) -> list[str]:
    return sorted(
        page.evaluate(
            "window.wanggeGridMap.layers.grids.getLayers().map(l => l.feature.properties.code)"
        )
    )


def _point_inside_grid(page: Page, code: str) -> tuple[float, float]:
    """Page coordinates a quarter of the way into a grid from its SW corner (off its building)."""
    x, y = page.evaluate(
        """(code) => {
            const state = window.wanggeGridMap;
            const layer = state.layers.grids.getLayers()
                .find((l) => l.feature.properties.code === code);
            const b = layer.getBounds();
            const inside = L.latLng(
                b.getSouth() + 0.25 * (b.getNorth() - b.getSouth()),
                b.getWest() + 0.25 * (b.getEast() - b.getWest()));
            const p = state.map.latLngToContainerPoint(inside);
            const box = state.map.getContainer().getBoundingClientRect();
            return [box.left + p.x, box.top + p.y];
        }""",
        code,
    )
    return float(x), float(y)


# --- tests --------------------------------------------------------------------------------------


def test_planner_sees_every_grid_with_tooltips(live_server: str, tab: Tab) -> None:
    page = _open_map_as(tab, live_server, "t_planner")

    assert page.evaluate("document.body.dataset.layersLoaded") == "admin_units,grids,buildings"
    assert page.evaluate("document.body.dataset.layersFailed") is None
    expect(page.locator("#wangge-title")).to_have_text("网格地图 · 测试t_planner（网格规划员）")
    expect(page.locator("#wangge-error")).to_be_hidden()
    expect(page.locator("#wangge-status")).to_have_text("已加载：社区边界 2 · 网格 4 · 建筑 4")

    # Drawn as SVG paths, one per feature.
    assert page.locator("path.wangge-grids").count() == 4
    assert page.locator("path.wangge-buildings").count() == 4
    assert page.locator("path.wangge-admin_units").count() == 2
    assert _grid_codes(page) == sorted(GRID_BOXES)

    # The view was fitted to the data: every grid is inside the visible map.
    assert page.evaluate(
        """() => {
            const s = window.wanggeGridMap;
            return s.map.getBounds().contains(s.layers.grids.getBounds());
        }"""
    )
    assert page.evaluate("window.wanggeGridMap.map.getZoom()") >= 14

    # Map furniture: layer control with the Chinese layer names, a metric scale bar.
    overlays = page.locator(".leaflet-control-layers-overlays")
    for label in ("社区边界", "网格", "建筑"):
        expect(overlays).to_contain_text(label)
    expect(page.locator(".leaflet-control-scale-line")).to_be_visible()
    expect(page.locator("#wangge-logout")).to_have_text("退出登录")

    # Hovering a grid shows its code and name.
    x, y = _point_inside_grid(page, GRID_A1)
    page.mouse.move(x - 20, y - 20)
    page.mouse.move(x, y, steps=5)
    tooltip = page.locator(".leaflet-tooltip")
    expect(tooltip).to_be_visible()
    expect(tooltip).to_contain_text(GRID_A1)
    expect(tooltip).to_contain_text("测试网格1001")
    expect(tooltip).to_contain_text("网格编码")

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    _assert_real_picture(SCREENSHOT)

    assert tab.errors == []
    _assert_only_local_requests(tab.requests)
    paths = {urlsplit(url).path for url in tab.requests}
    assert "/static/vendor/leaflet/leaflet.js" in paths
    assert "/collections/grids/items" in paths


def test_grid_worker_sees_only_their_community(live_server: str, tab: Tab) -> None:
    page = _open_map_as(tab, live_server, "t_gw_a")

    assert page.evaluate("document.body.dataset.layersLoaded") == "admin_units,grids,buildings"
    expect(page.locator("#wangge-title")).to_have_text("网格地图 · 测试t_gw_a（网格员）")
    assert page.locator("path.wangge-grids").count() == 2
    assert _grid_codes(page) == sorted([GRID_A1, GRID_A2])
    assert page.locator("path.wangge-buildings").count() == 2
    assert page.locator("path.wangge-admin_units").count() == 1
    assert tab.errors == []
    _assert_only_local_requests(tab.requests)


def test_wrong_password_shows_the_chinese_reason(live_server: str, tab: Tab) -> None:
    page = tab.page
    page.goto(f"{live_server}/login")
    _log_in(page, live_server, "t_planner", "wrong-password")
    error = page.locator("#login-error")
    expect(error).to_be_visible()
    expect(error).to_have_text("用户名或密码错误")
    assert urlsplit(page.url).path == "/login"


def test_login_ignores_an_offsite_next_and_logout_ends_the_session(
    live_server: str, tab: Tab
) -> None:
    page = tab.page
    page.goto(f"{live_server}/login?next=https://evil.example/")
    _log_in(page, live_server, "t_gw_a")
    page.wait_for_url(f"{live_server}/map/")
    _wait_for_layers(page)

    page.click("#wangge-logout")
    page.wait_for_url(f"{live_server}/login")
    page.goto(f"{live_server}/map/")
    page.wait_for_url(f"{live_server}/login?next=/map/")
    _assert_only_local_requests(tab.requests)


def test_api_errors_are_shown_not_swallowed(live_server: str, tab: Tab) -> None:
    page = tab.page
    problem = {
        "type": "/problems/database-error",
        "title": "Database unavailable",
        "status": 503,
        "code": "database-error",
        "title_zh": "数据库暂不可用",
        "detail_zh": "数据库暂不可用",
    }
    page.route(
        "**/collections/buildings/items*",
        lambda route: route.fulfill(
            status=503, content_type="application/problem+json", body=json.dumps(problem)
        ),
    )
    _open_map_as(tab, live_server, "t_planner")

    assert page.evaluate("document.body.dataset.layersLoaded") == "admin_units,grids"
    assert page.evaluate("document.body.dataset.layersFailed") == "buildings"
    error = page.locator("#wangge-error")
    expect(error).to_be_visible()
    expect(error).to_have_text("加载“建筑”图层失败：数据库暂不可用")
    assert page.locator("path.wangge-grids").count() == 4


def test_feature_text_is_shown_as_text_not_html(live_server: str, tab: Tab) -> None:
    page = tab.page
    evil = '<img src="/x" onerror="window.__pwned = 1">{{ 7*7 }}'

    def poison(route: Route) -> None:
        response = route.fetch()
        body = response.json()
        for feature in body["features"]:
            feature["properties"]["name"] = evil
        route.fulfill(response=response, body=json.dumps(body, ensure_ascii=False))

    page.route("**/collections/grids/items*", poison)
    _open_map_as(tab, live_server, "t_planner")
    x, y = _point_inside_grid(page, GRID_A1)
    page.mouse.move(x - 20, y - 20)
    page.mouse.move(x, y, steps=5)
    tooltip = page.locator(".leaflet-tooltip")
    expect(tooltip).to_contain_text(evil)
    assert tooltip.locator("img").count() == 0
    assert page.evaluate("window.__pwned") is None
    assert tab.errors == []
