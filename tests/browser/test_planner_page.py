"""The planner page (/map/planner) end to end in headless Chromium against a live server.

The known answer: world grid A1 (117.000–117.005 × 36.600–36.610) split by a line drawn with
the mouse along lon 117.0025 becomes two grids; after validation and publishing, the current
map holds 5 grids of the street, A1's code is retired and its one household (building 1, centred
on the line, filed to the western half by the smallest-code rule) is counted in the new grids.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Dialog, Page, expect
from sqlalchemy import Engine, text

from tests.browser.helpers import (
    Tab,
    assert_only_local_requests,
    assert_real_picture,
    log_in,
    open_forbidden_page,
)
from tests.fixtures.world import COMMUNITY_A, GRID_A1, GRID_A2, GRID_B1, GRID_B2

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
PAGE = "/map/planner"


def _open_planner(tab: Tab, base: str, username: str) -> Page:
    page = tab.page
    page.goto(f"{base}{PAGE}")
    page.wait_for_url(f"{base}/login?next={PAGE}")
    log_in(page, base, username)
    page.wait_for_url(f"{base}{PAGE}")
    # Selectors, not wait_for_function: the page's CSP forbids the eval that one needs.
    page.locator("body[data-planner-ready='true']").wait_for(state="attached")
    page.locator("body[data-tiles-grids='loaded']").wait_for(state="attached")
    return page


def _wait_idle(page: Page) -> None:
    page.locator("body[data-busy='false']").wait_for(state="attached")


def _screen(page: Page, lon: float, lat: float) -> tuple[float, float]:
    """Page coordinates of a storage lon/lat on the planner map."""
    x, y = page.evaluate(
        """([lon, lat]) => {
            const s = window.wanggePlanner;
            const p = s.map.latLngToContainerPoint(WanggeMap.displayLatLng(s.cfg, lon, lat));
            const box = s.map.getContainer().getBoundingClientRect();
            return [box.left + p.x, box.top + p.y];
        }""",
        [lon, lat],
    )
    return float(x), float(y)


def _current_codes(engine: Engine) -> dict[str, int]:
    """Current grid codes of the world with the households filed under each."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                """
                SELECT g.code, count(h.id) AS households
                FROM grids g
                LEFT JOIN buildings b ON b.grid_id = g.id
                LEFT JOIN houses ho ON ho.building_id = b.id
                LEFT JOIN households h ON h.house_id = ho.id
                WHERE g.code LIKE '370199%' AND g.valid_to IS NULL
                GROUP BY g.code
                """
            )
        )
        return {row.code: row.households for row in rows}


def test_drawing_a_line_splits_a_grid_end_to_end(
    live_server: str, tab: Tab, engine: Engine
) -> None:
    page = _open_planner(tab, live_server, "t_planner")
    expect(page.locator("#wangge-title")).to_have_text("网格规划 · 测试t_planner（网格规划员）")
    # Current grids, communities and buildings as vector tiles (SVG paths, one per feature
    # and tile); no GeoJSON of them in the page.
    page.locator("body[data-tiles-buildings='loaded']").wait_for(state="attached")
    assert page.locator("path.wangge-grids").count() >= 4
    assert page.locator("path.wangge-buildings").count() >= 4
    assert page.locator("path.wangge-admin_units").count() >= 2
    expect(page.locator("#wangge-status")).to_have_text("现行网格 4 个")

    # Open a new draft: its grid set (the four current grids) is drawn from the plan API.
    page.click("#plan-new")
    page.locator("body[data-grid-count='4']").wait_for(state="attached")
    _wait_idle(page)
    expect(page.locator("#diff-panel")).to_have_text("方案尚无修改。")

    # Select A1 by clicking inside it (off its building), then draw the line across it.
    page.mouse.click(*_screen(page, 117.001, 36.602))
    expect(page.locator("#selection")).to_contain_text(GRID_A1)
    page.click("#tool-split-line")
    expect(page.locator("#tool-hint")).to_contain_text("分割线")
    start = _screen(page, 117.0025, 36.5985)
    end = _screen(page, 117.0025, 36.6115)
    page.mouse.click(*start)
    page.mouse.click(*end)
    page.mouse.click(*end)  # a click on the last vertex finishes the line
    page.locator("body[data-grid-count='5']").wait_for(state="attached")
    _wait_idle(page)
    expect(page.locator("#wangge-error")).to_be_hidden()
    diff = page.locator("#diff-panel")
    expect(diff).to_contain_text("新建")
    expect(diff).to_contain_text("撤销")
    expect(diff).to_contain_text("新增编码 2 个，撤销编码 1 个")
    assert page.locator("path.wangge-grid-draft").count() == 2

    # Validate: the split leaves no gap and no overlap.
    page.click("#tool-validate")
    page.locator("body[data-validation]").wait_for(state="attached")
    assert page.get_attribute("body", "data-validation") == "ok"
    expect(page.locator("#validation-summary")).to_contain_text("校验通过")

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / "planner.png"
    page.screenshot(path=str(shot))
    assert_real_picture(shot)

    # Publish (confirm dialog accepted): the current map changes and the counts follow.
    def accept(dialog: Dialog) -> None:
        assert "确定发布方案" in dialog.message
        dialog.accept()

    page.once("dialog", accept)
    page.click("#tool-publish")
    page.locator("body[data-published]").wait_for(state="attached")
    _wait_idle(page)
    published = page.get_attribute("body", "data-published")
    assert published is not None
    new_codes = published.split(",")
    assert len(new_codes) == 2 and all(c.startswith("370199001001") for c in new_codes)
    expect(page.locator("#plan-info")).to_contain_text("方案已发布：新增网格 2 个，撤销 1 个")
    expect(page.locator("#wangge-status")).to_have_text("现行网格 5 个")
    sizing = dict(
        page.evaluate("Object.values(wanggePlanner.sizing).map(g => [g.code, g.households])")
    )
    assert GRID_A1 not in sizing
    assert sorted(sizing) == sorted([*new_codes, GRID_A2, GRID_B1, GRID_B2])
    assert sum(sizing[c] for c in new_codes) == 1

    live = _current_codes(engine)
    assert sorted(live) == sorted(sizing)
    assert {code: live[code] for code in new_codes} == {code: sizing[code] for code in new_codes}
    assert live[min(new_codes)] == 1  # the western half (smaller code) holds building 1

    assert tab.errors == []
    assert_only_local_requests(tab.requests)
    paths = {urlsplit(url).path for url in tab.requests}
    assert any(p.startswith("/tiles/buildings/") and p.endswith(".mvt") for p in paths)
    assert "/static/vendor/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js" in paths


def test_merge_and_undo_as_street_admin(live_server: str, tab: Tab) -> None:
    page = _open_planner(tab, live_server, "t_street")
    page.click("#plan-new")
    page.locator("body[data-plan-id]").wait_for(state="attached")
    _wait_idle(page)
    count = page.get_attribute("body", "data-grid-count")
    assert count is not None
    before = int(count)
    # Select the two B grids (stacked north/south, one shared border) and merge them.
    page.mouse.click(*_screen(page, 117.012, 36.609))
    page.mouse.click(*_screen(page, 117.012, 36.601))
    expect(page.locator("#selection")).to_contain_text(GRID_B1)
    expect(page.locator("#selection")).to_contain_text(GRID_B2)
    page.click("#tool-merge")
    page.locator(f"body[data-grid-count='{before - 1}']").wait_for(state="attached")
    _wait_idle(page)
    expect(page.locator("#diff-panel")).to_contain_text("新增编码 1 个，撤销编码 2 个")
    page.click("#tool-undo")
    page.locator(f"body[data-grid-count='{before}']").wait_for(state="attached")
    _wait_idle(page)
    expect(page.locator("#diff-panel")).to_have_text("方案尚无修改。")
    assert tab.errors == []
    assert_only_local_requests(tab.requests)


def test_community_admin_reads_plans_without_editing(
    live_server: str, tab: Tab, engine: Engine
) -> None:
    page = _open_planner(tab, live_server, "t_ca_a")
    expect(page.locator("#wangge-title")).to_have_text("网格规划 · 测试t_ca_a（社区管理员）")
    expect(page.locator("#plan-new")).to_be_disabled()
    expect(page.locator("#tool-split-line")).to_be_disabled()
    # Only community A's grids (2, or 3 once another test published a split of A1).
    own = [code for code in _current_codes(engine) if code.startswith(COMMUNITY_A)]
    expect(page.locator("#wangge-status")).to_have_text(f"现行网格 {len(own)} 个")
    assert tab.errors == []
    assert_only_local_requests(tab.requests)


def test_admin_loads_the_page_with_every_grid(live_server: str, tab: Tab, engine: Engine) -> None:
    page = _open_planner(tab, live_server, "t_admin")
    expect(page.locator("#wangge-title")).to_have_text("网格规划 · 测试t_admin（系统管理员）")
    expect(page.locator("#plan-new")).to_be_enabled()
    expect(page.locator("#wangge-status")).to_have_text(
        f"现行网格 {len(_current_codes(engine))} 个"
    )
    assert tab.errors == []
    assert_only_local_requests(tab.requests)


@pytest.mark.parametrize("username", ["t_gw_a", "t_dispatcher", "t_handler"])
def test_other_roles_get_a_chinese_403_page(live_server: str, tab: Tab, username: str) -> None:
    open_forbidden_page(tab, live_server, PAGE, username)


def _drag(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=8)
    page.mouse.up()


def test_reshape_by_dragging_vertices_moves_the_shared_border(
    live_server: str, tab: Tab, engine: Engine
) -> None:
    """B1/B2 share lat 36.605; dragging B1's two southern vertices to 36.606 hands the strip
    36.605–36.606 to B2 (the reshape's neighbour adjustment)."""
    page = _open_planner(tab, live_server, "t_planner")
    page.click("#plan-new")
    page.locator("body[data-plan-id]").wait_for(state="attached")
    _wait_idle(page)
    page.mouse.click(*_screen(page, 117.012, 36.609))
    expect(page.locator("#selection")).to_contain_text(GRID_B1)
    page.click("#tool-reshape")
    expect(page.locator("#tool-reshape-save")).to_be_visible()
    for lon in (117.010, 117.020):
        _drag(page, _screen(page, lon, 36.605), _screen(page, lon, 36.606))
    page.click("#tool-reshape-save")
    page.locator("body[data-busy='false']").wait_for(state="attached")
    expect(page.locator("#wangge-error")).to_be_hidden()
    page.locator("path.wangge-grid-draft").first.wait_for(state="attached")
    _wait_idle(page)
    expect(page.locator("#diff-panel")).to_contain_text("调整")
    plan_id = int(page.get_attribute("body", "data-plan-id") or 0)
    with engine.connect() as conn:
        parts = {
            row.key: (row.ymin, row.ymax)
            for row in conn.execute(
                text(
                    """
                    SELECT p.key, ST_YMin(p.geom) AS ymin, ST_YMax(p.geom) AS ymax
                    FROM grid_plan_parts p JOIN grid_plan_edits e ON e.id = p.edit_id
                    WHERE e.plan_id = :plan AND NOT e.undone
                    """
                ),
                {"plan": plan_id},
            )
        }
    pixel = 360 / (256 * 2 ** page.evaluate("wanggePlanner.map.getZoom()"))
    assert sorted(parts) == sorted([GRID_B1, GRID_B2])
    assert parts[GRID_B1][0] == pytest.approx(36.606, abs=1.5 * pixel)
    assert parts[GRID_B1][1] == pytest.approx(36.610, abs=1e-7)
    assert parts[GRID_B2] == pytest.approx((36.600, parts[GRID_B1][0]), abs=1e-7)
    assert tab.errors == []
    assert_only_local_requests(tab.requests)


def test_balanced_split_into_two_parts_tiles_the_grid(
    live_server: str, tab: Tab, engine: Engine
) -> None:
    """均衡拆分 of B2 with k = 2: two parts that together are exactly B2, no building cut."""
    page = _open_planner(tab, live_server, "t_street")
    page.click("#plan-new")
    page.locator("body[data-plan-id]").wait_for(state="attached")
    _wait_idle(page)
    before = int(page.get_attribute("body", "data-grid-count") or 0)
    page.mouse.click(*_screen(page, 117.012, 36.601))
    expect(page.locator("#selection")).to_contain_text(GRID_B2)
    page.fill("#split-k", "2")
    page.click("#tool-split-k")
    page.locator(f"body[data-grid-count='{before + 1}']").wait_for(state="attached")
    _wait_idle(page)
    expect(page.locator("#wangge-error")).to_be_hidden()
    expect(page.locator("#diff-panel")).to_contain_text("新增编码 2 个，撤销编码 1 个")
    plan_id = int(page.get_attribute("body", "data-plan-id") or 0)
    with engine.connect() as conn:
        row = conn.execute(
            text(
                """
                SELECT count(*) AS parts,
                       ST_Area(ST_SymDifference(ST_Union(p.geom),
                               ST_MakeEnvelope(117.010, 36.600, 117.020, 36.605, 4326))::geography)
                           AS mismatch_m2,
                       bool_or(ST_Intersects(p.geom, b.geom) AND NOT ST_Covers(p.geom, b.geom))
                           AS cuts_building
                FROM grid_plan_parts p
                JOIN grid_plan_edits e ON e.id = p.edit_id
                CROSS JOIN buildings b
                WHERE e.plan_id = :plan AND NOT e.undone AND b.code = 'T-4'
                """
            ),
            {"plan": plan_id},
        ).one()
    assert row.parts == 2
    assert row.mismatch_m2 < 0.01
    assert row.cuts_building is False
    assert tab.errors == []
    assert_only_local_requests(tab.requests)
