"""The field page (/map/field) through the real app (TestClient): who may open it and what the
page is told it may show."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from tests.conftest import login
from tests.fixtures.world import World
from tests.map_ui.test_planner_page import _parse


def test_without_login_redirects(client: TestClient) -> None:
    response = client.get("/map/field", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/map/field"


@pytest.mark.parametrize(
    ("username", "abilities"),
    [
        # grid worker: reports, reads houses, visits and patrols of their grids
        ("t_gw_a", (True, True, True, True)),
        # dispatcher: reports and reads buildings/houses, no person registers, no patrols
        ("t_dispatcher", (True, True, False, False)),
        ("t_ca_a", (True, True, True, True)),
        ("t_street", (True, True, True, True)),
    ],
)
def test_page_and_abilities_per_role(
    client: TestClient, world: World, username: str, abilities: tuple[bool, ...]
) -> None:
    login(client, username)
    response = client.get("/map/field")
    assert response.status_code == 200
    html = response.text
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in html
    for label in ("我在哪", "所在网格", "在此上报事件", "待巡查场所", "待走访对象"):
        assert label in html
    assert 'accept="image/jpeg,image/png,image/webp"' in html
    page = _parse(html)
    assert page.inline_scripts == []
    assert "/static/js/field.js" in page.urls
    for url in page.urls:
        assert url.startswith("/static/") or url.startswith("data:"), url
    config = json.loads(page.config_text)
    got = (config["canReport"], config["canSeeHouses"], config["canSeeVisits"],
           config["canSeePatrols"])  # fmt: skip
    assert got == abilities
    assert "script-src 'self';" in response.headers["content-security-policy"]


@pytest.mark.parametrize("username", ["t_handler", "t_planner"])
def test_roles_that_do_not_report_get_403(client: TestClient, world: World, username: str) -> None:
    login(client, username)
    response = client.get("/map/field")
    assert response.status_code == 403
    assert "不能使用此页面" in response.text
    assert "网格员" in response.text
