"""The dispatcher page (/map/dispatch) in headless Chromium against a live server.

Known answers: the world's two fire incidents (2026-03-01) plus five committed here relative to
now — three disputes two days old (one overdue, one under yellow supervision), two CO hazards
twenty days old. The heat layer's total over the whole area is 7; filtered to disputes 3; the
time slider at "last 7 days" 3. Dispatching the overdue dispute from the page uses the street's
fallback dispatch rule and leaves it `dispatched` in the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import Connection, Engine, text

from map_ui.dispatch import TIME_WINDOWS_DAYS
from tests.browser.helpers import (
    Tab,
    assert_only_local_requests,
    assert_real_picture,
    log_in,
    open_forbidden_page,
)
from tests.browser.workflow_data import (
    TOTAL_ALL,
    TOTAL_DISPUTES,
    TOTAL_LAST_7_DAYS,
    add_workflow_data,
    remove_workflow_data,
)

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
PAGE = "/map/dispatch"


@pytest.fixture(scope="module")
def incidents(committed_world: None, engine: Engine) -> Iterator[dict[str, int]]:
    remove_workflow_data(engine)
    ids = add_workflow_data(engine, datetime.now(UTC))
    try:
        yield ids
    finally:
        remove_workflow_data(engine)


def _open(tab: Tab, base: str, username: str) -> Page:
    page = tab.page
    page.goto(f"{base}{PAGE}")
    page.wait_for_url(f"{base}/login?next={PAGE}")
    log_in(page, base, username)
    page.wait_for_url(f"{base}{PAGE}")
    page.locator("body[data-dispatch-ready='true'][data-busy='false']").wait_for(state="attached")
    return page


def _settled(page: Page, total: int) -> None:
    page.locator(f"body[data-busy='false'][data-heat-total='{total}']").wait_for(state="attached")


def _feature_reads(conn: Connection) -> int:
    """Audit rows of incident feature reads by the test dispatcher so far."""
    return int(
        conn.execute(
            text(
                "SELECT count(*) FROM audit_log WHERE action = 'read' AND resource = 'incidents'"
                " AND username = 't_dispatcher'"
            )
        ).scalar_one()
    )


def _cells(page: Page) -> int:
    value = page.get_attribute("body", "data-heat-cells")
    assert value is not None
    return int(value)


def test_heatmap_filters_lists_and_dispatch(
    live_server: str, tab: Tab, incidents: dict[str, int], engine: Engine
) -> None:
    page = _open(tab, live_server, "t_dispatcher")
    expect(page.locator("#wangge-title")).to_have_text(
        "事件调度 · 测试t_dispatcher（综治中心调度员）"
    )
    _settled(page, TOTAL_ALL)
    cells_all = _cells(page)
    assert cells_all >= 5  # the seven incidents lie in at least five distinct 25-50 m cells
    assert page.locator("path.wangge-heat-cell").count() == cells_all
    assert page.locator("path.wangge-grid-rate").count() == 4
    expect(page.locator("#heat-summary")).to_contain_text(f"事件 {TOTAL_ALL} 件")
    # The work lists: the overdue dispute, the supervised one.
    expect(page.locator("#overdue-list")).to_contain_text("T-INC-d1")
    expect(page.locator("#supervised-list")).to_contain_text("T-INC-d2")
    expect(page.locator("#supervised-list")).to_contain_text("黄牌")

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / "dispatch.png"
    page.screenshot(path=str(shot))
    assert_real_picture(shot)

    # A category filter re-queries: fewer incidents, fewer cells drawn.
    page.select_option("#filter-category", "dispute")
    _settled(page, TOTAL_DISPUTES)
    assert _cells(page) == page.locator("path.wangge-heat-cell").count() == 3
    expect(page.locator("#heat-summary")).to_contain_text(f"事件 {TOTAL_DISPUTES} 件")
    page.select_option("#filter-category", "")
    _settled(page, TOTAL_ALL)

    # The time slider: the last 7 days.
    index = TIME_WINDOWS_DAYS.index(7)
    page.locator("#filter-time").fill(str(index))
    _settled(page, TOTAL_LAST_7_DAYS)
    expect(page.locator("#filter-time-label")).to_have_text("最近 7 天")
    page.locator("#filter-time").fill(str(len(TIME_WINDOWS_DAYS) - 1))
    _settled(page, TOTAL_ALL)

    # A status filter: all seven are `reported`; none is `closed`.
    page.select_option("#filter-status", "closed")
    _settled(page, 0)
    assert page.locator("path.wangge-heat-cell").count() == 0
    page.select_option("#filter-status", "")
    _settled(page, TOTAL_ALL)

    # Close in on the south of grid A1 (about 860 x 720 m at z17): the world's a1 and d1 are
    # the incidents in view, drawn as markers (clustered when they overlap).
    with engine.connect() as conn:
        reads_before = _feature_reads(conn)
    page.evaluate("wanggeDispatch.map.setView([36.6021, 117.0026], 17)")
    page.locator("body[data-busy='false'][data-markers='2']").wait_for(state="attached")
    assert page.locator(".wangge-incident-icon, .marker-cluster").count() >= 1
    # The markers ask only for what they show: no reporter data read, no audit row written.
    with engine.connect() as conn:
        assert _feature_reads(conn) == reads_before

    # Open the overdue dispute from the list; the dispatcher may dispatch it.
    page.locator("#overdue-list li", has_text="T-INC-d1").click()
    page.locator(f"body[data-incident-id='{incidents['d1']}']").wait_for(state="attached")
    expect(page.locator("#incident-detail")).to_contain_text("已上报")
    buttons = page.locator("#incident-actions button")
    labels = buttons.all_text_contents()
    assert "派遣" in labels and "督办" in labels
    assert "受理" not in labels and "办结销号" not in labels  # not the dispatcher's, or not now
    page.fill("#action-note", "请消防站处理")
    page.click("#action-dispatch")
    page.locator("body[data-incident-status='dispatched']").wait_for(state="attached")
    expect(page.locator("#action-result")).to_contain_text("已派遣")
    expect(page.locator("#incident-steps")).to_contain_text("请消防站处理")
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT i.status, d.code FROM incidents i JOIN departments d "
                "ON d.id = i.department_id WHERE i.id = :id"
            ),
            {"id": incidents["d1"]},
        ).one()
    assert tuple(row) == ("dispatched", "test-fire")

    assert tab.errors == []
    assert_only_local_requests(tab.requests)


def test_community_admin_sees_only_community_a(
    live_server: str, tab: Tab, incidents: dict[str, int]
) -> None:
    page = _open(tab, live_server, "t_ca_a")
    # World a1 plus d1, d2 and c1 lie in community A.
    _settled(page, 4)
    assert page.locator("path.wangge-grid-rate").count() == 2
    expect(page.locator("#hotspot-list")).to_contain_text("至少需要 3 个网格")
    assert tab.errors == []
    assert_only_local_requests(tab.requests)


@pytest.mark.parametrize("username", ["t_gw_a", "t_handler", "t_planner"])
def test_other_roles_get_a_chinese_403_page(live_server: str, tab: Tab, username: str) -> None:
    page = open_forbidden_page(tab, live_server, PAGE, username)
    expect(page.locator("h1")).to_contain_text("事件调度")


@pytest.mark.parametrize("username", ["t_street", "t_admin"])
def test_page_loads_for_street_admin_and_admin(
    live_server: str, tab: Tab, incidents: dict[str, int], username: str
) -> None:
    page = _open(tab, live_server, username)
    _settled(page, TOTAL_ALL)  # both see the whole test street
    assert page.locator("path.wangge-heat-cell").count() == _cells(page) >= 5
    expect(page.locator("#overdue-list")).to_contain_text("T-INC-d1")
    assert tab.errors == []
    assert_only_local_requests(tab.requests)
