"""The planner page over a GCJ-02 (AMap-style) basemap: our layers are shifted to match it.

The basemap is configured at ``http://127.0.0.1:9/amap/{z}/{x}/{y}.png`` and its tiles are
answered by Playwright (a plain picture), so every request still goes to 127.0.0.1. Known
answers: grid A1's corners are drawn at their GCJ-02 positions (prcoords, ~500 m away from
WGS-84), vector tiles are requested with ``crs=gcj02``, and a line drawn on the shifted map at
the GCJ-02 position of lon 117.0025 splits A1 at lon 117.0025 in storage (within one pixel).
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import Page, Route, expect
from sqlalchemy import Engine, text

import prcoords

from gis_api.settings import ApiSettings
from tests.browser.helpers import Tab, assert_only_local_requests, assert_real_picture, log_in
from tests.fixtures.world import GRID_A1, GRID_BOXES

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "screenshots" / "planner_gcj02.png"
BASEMAP = "http://127.0.0.1:9/amap/{z}/{x}/{y}.png"
PAGE = "/map/planner"


@pytest.fixture(scope="module")
def live_settings(api_settings: ApiSettings) -> ApiSettings:
    """The live server of this module has a GCJ-02 basemap."""
    return api_settings.model_copy(
        update={"basemap_url": BASEMAP, "basemap_crs": "gcj02", "basemap_attribution": "测试底图"}
    )


def _tile_png() -> bytes:
    image = Image.new("RGB", (256, 256), (236, 240, 232))
    draw = ImageDraw.Draw(image)
    for i in range(0, 256, 32):
        draw.line([(i, 0), (i, 255)], fill=(214, 220, 208))
        draw.line([(0, i), (255, i)], fill=(214, 220, 208))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _gcj(lon: float, lat: float) -> tuple[float, float]:
    point = prcoords.wgs_gcj(prcoords.Coords(lat, lon))
    return point.lon, point.lat


def _screen_display(page: Page, lon: float, lat: float) -> tuple[float, float]:
    """Page coordinates of a display (GCJ-02) lon/lat."""
    x, y = page.evaluate(
        """([lon, lat]) => {
            const s = window.wanggePlanner;
            const p = s.map.latLngToContainerPoint(L.latLng(lat, lon));
            const box = s.map.getContainer().getBoundingClientRect();
            return [box.left + p.x, box.top + p.y];
        }""",
        [lon, lat],
    )
    return float(x), float(y)


def test_layers_and_drawing_follow_a_gcj02_basemap(
    live_server: str, tab: Tab, engine: Engine
) -> None:
    page = tab.page
    png = _tile_png()

    def basemap(route: Route) -> None:
        route.fulfill(status=200, content_type="image/png", body=png)

    page.route("http://127.0.0.1:9/amap/**", basemap)
    page.goto(f"{live_server}{PAGE}")
    page.wait_for_url(f"{live_server}/login?next={PAGE}")
    log_in(page, live_server, "t_planner")
    page.wait_for_url(f"{live_server}{PAGE}")
    page.locator("body[data-planner-ready='true']").wait_for(state="attached")
    page.locator("body[data-tiles-grids='loaded']").wait_for(state="attached")

    # Basemap tiles were requested (from 127.0.0.1), and our vector tiles in GCJ-02.
    assert any(urlsplit(u).path.startswith("/amap/") for u in tab.requests)
    tile_queries = [
        parse_qs(urlsplit(u).query) for u in tab.requests if urlsplit(u).path.endswith(".mvt")
    ]
    assert tile_queries and all(q.get("crs") == ["gcj02"] for q in tile_queries)

    # A draft's GeoJSON grids are converted in the browser: A1 sits at its GCJ-02 corners.
    page.click("#plan-new")
    page.locator("body[data-grid-count='4']").wait_for(state="attached")
    page.locator("body[data-busy='false']").wait_for(state="attached")
    west, south, east, north = GRID_BOXES[GRID_A1]
    drawn = page.evaluate(
        """(code) => {
            const layer = window.wanggePlanner.gridsLayer.getLayers()
                .find((l) => l.feature.properties.code === code);
            const b = layer.getBounds();
            return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()];
        }""",
        GRID_A1,
    )
    sw, ne = _gcj(west, south), _gcj(east, north)
    assert drawn == pytest.approx([sw[0], sw[1], ne[0], ne[1]], abs=2e-6)
    shift_m = math.hypot(
        (sw[0] - west) * 111_320 * math.cos(math.radians(south)), (sw[1] - south) * 110_574
    )
    assert shift_m > 100

    # Draw the split line where the basemap shows lon 117.0025: storage gets lon 117.0025.
    page.mouse.click(*_screen_display(page, *_gcj(117.001, 36.602)))
    expect(page.locator("#selection")).to_contain_text(GRID_A1)
    page.click("#tool-split-line")
    start = _screen_display(page, *_gcj(117.0025, 36.5985))
    end = _screen_display(page, *_gcj(117.0025, 36.6115))
    page.mouse.click(*start)
    page.mouse.click(*end)
    page.mouse.click(*end)
    page.locator("body[data-grid-count='5']").wait_for(state="attached")
    page.locator("body[data-busy='false']").wait_for(state="attached")
    expect(page.locator("#wangge-error")).to_be_hidden()
    plan_id = page.get_attribute("body", "data-plan-id")
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                """
                SELECT ST_XMin(p.geom) AS xmin, ST_XMax(p.geom) AS xmax
                FROM grid_plan_parts p JOIN grid_plan_edits e ON e.id = p.edit_id
                WHERE e.plan_id = :plan ORDER BY ST_XMin(p.geom)
                """
            ),
            {"plan": int(plan_id or 0)},
        ).all()
    assert len(rows) == 2
    pixel = 360 / (256 * 2 ** page.evaluate("wanggePlanner.map.getZoom()"))
    assert rows[0].xmin == pytest.approx(117.0, abs=1e-7)
    assert rows[0].xmax == pytest.approx(117.0025, abs=1.5 * pixel)
    assert rows[1].xmax == pytest.approx(117.005, abs=1e-7)

    page.screenshot(path=str(SCREENSHOT))
    assert_real_picture(SCREENSHOT)
    assert tab.errors == []
    assert_only_local_requests(tab.requests)
