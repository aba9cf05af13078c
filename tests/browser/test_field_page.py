"""The field page (/map/field) on a phone-sized screen in headless Chromium, live server.

Known answers: the browser's position (117.0025, 36.6050) is building 1 of the world, in grid
A1 of 东风社区, whose leader t_gw_a has the phone 13711112222 (shown in full to grid workers)
and whose one house holds one household; the school in A1 has had no patrol this month. A
report from there with a PNG photo is filed under A1 with the photo attached.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import Engine, text

from tests.browser.helpers import (
    Tab,
    assert_only_local_requests,
    log_in,
    open_forbidden_page,
    recording_tab,
)
from tests.browser.workflow_data import remove_workflow_data
from tests.fixtures.world import GRID_A1, GRID_B1

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
PAGE = "/map/field"
PHONE = {"width": 390, "height": 844}
HERE = {"longitude": 117.0025, "latitude": 36.6050}  # building 1, grid A1


@pytest.fixture(scope="module")
def clean_incidents(committed_world: None, engine: Engine) -> Iterator[None]:
    remove_workflow_data(engine)
    try:
        yield
    finally:
        remove_workflow_data(engine)


@pytest.fixture
def phone(browser: Browser) -> Iterator[Tab]:
    """A phone-sized, touch context that may read the (fixed) geolocation."""
    context = browser.new_context(
        viewport=PHONE,
        device_scale_factor=1,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        geolocation=HERE,
        permissions=["geolocation"],
    )
    session = recording_tab(context)
    try:
        yield session
    finally:
        context.close()


def _open(tab: Tab, base: str, username: str) -> Page:
    page = tab.page
    page.goto(f"{base}{PAGE}")
    page.wait_for_url(f"{base}/login?next={PAGE}")
    log_in(page, base, username)
    page.wait_for_url(f"{base}{PAGE}")
    page.locator("body[data-field-ready='true']").wait_for(state="attached")
    return page


def _no_horizontal_overflow(page: Page) -> None:
    widths = page.evaluate(
        """() => [document.documentElement.scrollWidth, document.body.scrollWidth,
                  document.getElementById('wangge-panel').scrollWidth,
                  document.getElementById('wangge-panel').clientWidth, window.innerWidth]"""
    )
    doc, body, panel_scroll, panel_client, inner = widths
    assert inner == PHONE["width"]
    assert doc <= inner and body <= inner, widths
    assert panel_scroll <= panel_client, widths


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_where_am_i_card_report_with_photo_and_due_lists(
    live_server: str, phone: Tab, clean_incidents: None, engine: Engine
) -> None:
    page = _open(phone, live_server, "t_gw_a")
    expect(page.locator("#wangge-title")).to_have_text("网格巡查 · 测试t_gw_a（网格员）")
    _no_horizontal_overflow(page)

    page.click("#field-whereami")
    page.locator(f"body[data-located-grid='{GRID_A1}'][data-busy='false']").wait_for(
        state="attached"
    )
    card = page.locator("#field-card")
    expect(card).to_be_visible()
    expect(card).to_contain_text("东风社区")
    expect(card).to_contain_text(GRID_A1)
    expect(card).to_contain_text("东至测试路，南至测试南街，西至测试西路，北至测试北路")
    expect(page.locator("#card-staff")).to_contain_text("网格长 测试t_gw_a 13711112222")
    expect(page.locator("#card-staff a")).to_have_attribute("href", "tel:13711112222")
    expect(card).to_contain_text("济南市测试区测试街道测试路1号测试小区1号楼")
    expect(page.locator("#card-households")).to_have_text("房屋 1 套，住户 1 户")
    expect(page.locator("#due-patrols")).to_contain_text("测试小学：本月已巡查 0/2 次")
    expect(page.locator("#due-visits")).to_contain_text("今日无待走访对象")
    _no_horizontal_overflow(page)

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / "field.png"
    page.screenshot(path=str(shot))
    with Image.open(shot) as image:
        assert image.size == (PHONE["width"], PHONE["height"])
        assert image.convert("RGB").getpixel((PHONE["width"] // 2, 5)) == (0x1F, 0x4E, 0x9C)

    # Report here, with a photo.
    page.select_option("#report-category", "hazard.fire")
    page.fill("#report-title", "楼道堆放杂物")
    page.fill("#report-description", "一单元楼道堆放纸箱，影响疏散")
    page.set_input_files(
        "#report-photo", files=[{"name": "scene.png", "mimeType": "image/png", "buffer": _png()}]
    )
    page.click("#report-submit")
    page.locator("body[data-reported]").wait_for(state="attached")
    code = page.get_attribute("body", "data-reported")
    expect(page.locator("#report-result")).to_contain_text(f"已上报：{code}，网格 {GRID_A1}")
    with engine.connect() as conn:
        row = conn.execute(
            text(
                """
                SELECT g.code AS grid, i.channel, i.title, count(p.id) AS photos,
                       min(p.media_type) AS media_type
                FROM incidents i JOIN grids g ON g.id = i.grid_id
                LEFT JOIN incident_photos p ON p.incident_id = i.id
                WHERE i.code = :code GROUP BY g.code, i.channel, i.title
                """
            ),
            {"code": code},
        ).one()
    assert (row.grid, row.channel, row.title, row.photos, row.media_type) == (
        GRID_A1, "grid_worker", "楼道堆放杂物", 1, "image/png"
    )  # fmt: skip
    assert phone.errors == []
    assert_only_local_requests(phone.requests)


def test_a_tap_on_the_map_locates_that_point(
    live_server: str, phone: Tab, clean_incidents: None
) -> None:
    page = _open(phone, live_server, "t_street")
    x, y = page.evaluate(
        """() => {
            const s = window.wanggeField;
            const p = s.map.latLngToContainerPoint(WanggeMap.displayLatLng(s.cfg, 117.015, 36.609));
            const box = s.map.getContainer().getBoundingClientRect();
            return [box.left + p.x, box.top + p.y];
        }"""
    )
    page.mouse.click(x, y)
    page.locator(f"body[data-located-grid='{GRID_B1}'][data-busy='false']").wait_for(
        state="attached"
    )
    expect(page.locator("#field-card")).to_contain_text("西湖社区")
    # A street admin sees staff in full too; B1's worker is t_gw_b.
    expect(page.locator("#card-staff")).to_contain_text("测试t_gw_b 13733334444")
    _no_horizontal_overflow(page)
    assert phone.errors == []
    assert_only_local_requests(phone.requests)


def test_address_search_finds_a_demo_address(
    live_server: str, phone: Tab, clean_incidents: None
) -> None:
    """Needs the address search API (/address/search, branch issue6-address)."""
    page = _open(phone, live_server, "t_gw_a")
    page.fill("#field-search", "测试路1号测试小区1号楼")
    first = page.locator("#field-suggestions .wangge-suggestion").first
    expect(first).to_contain_text("测试路1号")
    first.click()
    page.locator(f"body[data-located-grid='{GRID_A1}'][data-busy='false']").wait_for(
        state="attached"
    )
    expect(page.locator("#field-card")).to_contain_text("测试小区1号楼")
    _no_horizontal_overflow(page)
    assert phone.errors == []
    assert_only_local_requests(phone.requests)


@pytest.mark.parametrize("username", ["t_handler", "t_planner"])
def test_other_roles_get_a_chinese_403_page(
    live_server: str, phone: Tab, clean_incidents: None, username: str
) -> None:
    open_forbidden_page(phone, live_server, PAGE, username)


@pytest.mark.parametrize("username", ["t_dispatcher", "t_ca_a", "t_admin"])
def test_where_am_i_for_the_other_field_roles(
    live_server: str, phone: Tab, clean_incidents: None, username: str
) -> None:
    page = _open(phone, live_server, username)
    page.click("#field-whereami")
    page.locator(f"body[data-located-grid='{GRID_A1}'][data-busy='false']").wait_for(
        state="attached"
    )
    expect(page.locator("#card-staff")).to_contain_text("13711112222")  # phones in full
    expect(page.locator("#card-households")).to_have_text("房屋 1 套，住户 1 户")
    # A dispatcher records no patrols and reads no person registers: no to-do lists.
    expect(page.locator("#due-section")).to_be_visible(visible=username != "t_dispatcher")
    expect(page.locator("#report-section")).to_be_visible()
    _no_horizontal_overflow(page)
    assert phone.errors == []
    assert_only_local_requests(phone.requests)
