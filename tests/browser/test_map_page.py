"""The map page in a real headless Chromium against a live server on 127.0.0.1.

uvicorn serves the real app (its own sessions, real commits) in a background thread, so the
synthetic world must be committed here, unlike every other test: it is removed before (leftovers
of a crashed run) and after the module. Chromium is Debian's (``WANGGE_CHROMIUM``, default
/usr/bin/chromium); if it is missing the tests fail, they never skip.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import uvicorn
from PIL import Image
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Request,
    Route,
    ViewportSize,
    expect,
    sync_playwright,
)
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from gis_api.main import create_app
from gis_api.settings import ApiSettings
from layers.settings import DatabaseSettings
from tests.fixtures.world import (
    GRID_A1,
    GRID_A2,
    GRID_BOXES,
    PASSWORD,
    build_world,
    remove_world,
)

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "screenshots" / "map.png"
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
CHROMIUM = os.environ.get("WANGGE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
TIMEOUT_MS = 20_000


# --- the committed world and the live server ----------------------------------------------------


def _remove_committed_world(engine: Engine) -> None:
    """Delete the committed world. Its audit rows stay: the log is append-only by design."""
    with Session(engine) as session, session.begin():
        remove_world(session)


@pytest.fixture(scope="module")
def committed_world(engine: Engine) -> Iterator[None]:
    """The synthetic world, committed for the live server, removed afterwards."""
    _remove_committed_world(engine)
    with Session(engine) as session, session.begin():
        build_world(session)
    try:
        yield
    finally:
        _remove_committed_world(engine)


@pytest.fixture(scope="module")
def live_server(
    committed_world: None, api_settings: ApiSettings, db_settings: DatabaseSettings
) -> Iterator[str]:
    """The real app served by uvicorn on a free 127.0.0.1 port; yields its base URL."""
    app = create_app(api_settings, db_settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # the kernel picks a free port; uvicorn serves this socket
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the live uvicorn server did not start", pytrace=False)
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium driven by Playwright; a missing browser is a failure, not a skip."""
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install Debian's `chromium` package "
            "(scripts/bootstrap.sh --browser) or set WANGGE_CHROMIUM to its path",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Tab:
    """One browser context (own cookies) with everything it requested and every error."""

    page: Page
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    """A fresh context and page that record requests, console errors and page errors."""
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", device_scale_factor=1)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    session = Tab(page)

    def on_request(request: Request) -> None:
        session.requests.append(request.url)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            session.errors.append(f"console: {message.text} @ {message.location}")

    context.on("request", on_request)
    page.on("console", on_console)
    page.on("pageerror", lambda exc: session.errors.append(f"pageerror: {exc}"))
    try:
        yield session
    finally:
        context.close()


# --- helpers ------------------------------------------------------------------------------------


def _log_in(page: Page, base: str, username: str, password: str = PASSWORD) -> None:
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-submit")


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


def _assert_only_local_requests(requests: list[str]) -> None:
    assert requests, "no requests were recorded"
    for url in requests:
        parts = urlsplit(url)
        if parts.scheme == "data":
            continue
        assert parts.scheme == "http" and parts.hostname == "127.0.0.1", f"off-host request {url}"


def _assert_real_picture(path: Path) -> None:
    with Image.open(path) as image:
        assert image.size == (VIEWPORT["width"], VIEWPORT["height"])
        rgb = image.convert("RGB")
    colours = rgb.getcolors(maxcolors=VIEWPORT["width"] * VIEWPORT["height"])
    assert colours is not None
    # Several colours each covering a visible share of the picture, not one flat fill.
    total = rgb.width * rgb.height
    buckets: dict[tuple[int, int, int], int] = {}
    for count, pixel in colours:
        r, g, b = pixel  # type: ignore[misc]  # RGB pixels are tuples; Pillow types say float
        key = (r // 32, g // 32, b // 32)
        buckets[key] = buckets.get(key, 0) + count
    visible = [key for key, count in buckets.items() if count >= total * 0.001]
    assert len(visible) >= 8, f"only {len(visible)} colour groups: a blank or broken picture?"
    # The title bar is drawn in its blue across the top.
    assert rgb.getpixel((VIEWPORT["width"] // 2, 5)) == (0x1F, 0x4E, 0x9C)


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
