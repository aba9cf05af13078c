"""The login and map pages through the real app (TestClient), without a browser.

What a browser test cannot see cheaply is checked here: the redirect rules, that the page HTML
refers only to our own /static/ files, that no feature data is embedded, that vendored files are
served with the right media types.
"""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from gis_api.db import get_session
from gis_api.main import create_app
from gis_api.settings import ApiSettings
from layers.models import User
from layers.settings import DatabaseSettings
from map_ui.assets import FOLIUM_CSS, FOLIUM_JS, missing_files
from map_ui.templating import safe_next
from tests.conftest import login
from tests.fixtures.world import World


class _Resources(HTMLParser):
    """Collects the src/href of <script>, <link>, <img> and the text of inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []
        self.inline_scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for attr in ("src", "href"):
            if tag in {"script", "link", "img", "iframe"} and values.get(attr):
                self.urls.append((tag, values[attr] or ""))
        self._in_script = tag == "script" and not values.get("src")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.inline_scripts.append(data)


def _resources(html: str) -> _Resources:
    parser = _Resources()
    parser.feed(html)
    return parser


@pytest.fixture(scope="module", autouse=True)
def _vendored_assets_installed() -> None:
    missing = missing_files()
    if missing:
        pytest.fail(
            "vendored front-end assets are missing; run `python -m map_ui.assets install`: "
            + ", ".join(missing),
            pytrace=False,
        )


def test_map_without_login_redirects_to_login(client: TestClient) -> None:
    response = client.get("/map/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/map/"


def test_map_with_bad_cookie_redirects_to_login(client: TestClient) -> None:
    client.cookies.set("wangge_token", "not-a-token")
    response = client.get("/map/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/map/"


def test_root_redirects_to_map(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code in {302, 303, 307}
    assert response.headers["location"] == "/map/"


def test_map_page_for_logged_in_user(client: TestClient, world: World) -> None:
    login(client, "t_planner")  # the client keeps the session cookie
    response = client.get("/map/", follow_redirects=False)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "网格地图 · 测试t_planner（网格规划员）" in html
    assert "退出登录" in html

    resources = _resources(html)
    assert resources.urls, "the page loads no scripts or stylesheets at all"
    for tag, url in resources.urls:
        assert not url.startswith(("http://", "https://", "//")), f"<{tag}> loads {url}"
        assert url.startswith("/static/") or url.startswith("data:"), f"<{tag}> loads {url}"
    urls = {url for _, url in resources.urls}
    assert "/static/vendor/leaflet/leaflet.js" in urls
    assert "/static/vendor/leaflet/leaflet.css" in urls
    assert "/static/js/grid_map.js" in urls
    assert not any("glyphicons" in url for url in urls)
    # Nothing anywhere in the page points off-site (no tile server is configured here).
    for needle in ("cdn.", "unpkg", "cdnjs", "jsdelivr", "openstreetmap", "bootstrapcdn"):
        assert needle not in html

    # Layers come from the API at run time: no features, no coordinates in the HTML.
    script = "\n".join(resources.inline_scripts)
    assert "FeatureCollection" not in html
    assert "117.0" not in html and "36.60" not in html
    assert "WanggeGridMap.start(" in script
    assert "/collections/grids/items" in script

    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "connect-src 'self'" in csp
    assert response.headers["cache-control"] == "no-store"


def test_user_name_is_escaped_in_the_page(client: TestClient, world: World, db: Session) -> None:
    user = db.get_one(User, world.users["t_gw_a"])
    user.full_name = "<script>alert(1)</script>{{ 7*7 }}"
    db.flush()
    login(client, "t_gw_a")
    html = client.get("/map/").text
    assert "<script>alert(1)</script>" not in html
    # Escaped, and not evaluated as a template either ({{ 7*7 }} stays, no 49).
    title = "网格地图 · &lt;script&gt;alert(1)&lt;/script&gt;{{ 7*7 }}（网格员）"
    assert f'<h1 id="wangge-title">{title}</h1>' in html


def test_login_page_is_chinese_and_local(client: TestClient) -> None:
    response = client.get("/login")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    for text in ("登录", "用户名", "密码", 'lang="zh-CN"'):
        assert text in html
    assert 'data-next="/map/"' in html
    for tag, url in _resources(html).urls:
        assert url.startswith("/static/") or url.startswith("data:"), f"<{tag}> loads {url}"
    assert "script-src 'self'" in response.headers["content-security-policy"]


def test_login_page_keeps_a_same_site_next(client: TestClient) -> None:
    html = client.get("/login", params={"next": "/map/?grid=1&x=2"}).text
    assert 'data-next="/map/?grid=1&amp;x=2"' in html


@pytest.mark.parametrize(
    "evil",
    [
        "https://evil.example",
        "https://evil.example/map/",
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
        "evil.example",
    ],
)
def test_login_page_neutralises_open_redirects(client: TestClient, evil: str) -> None:
    html = client.get("/login", params={"next": evil}).text
    assert 'data-next="/map/"' in html
    assert "evil.example" not in html
    assert "<script>alert" not in html


def test_login_page_escapes_next(client: TestClient) -> None:
    # A same-site path is kept, but as an attribute value, escaped.
    html = client.get("/login", params={"next": '/"><script>alert(1)</script>'}).text
    assert "<script>alert" not in html
    assert 'data-next="/&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in html


def test_safe_next_rules() -> None:
    assert safe_next("/map/") == "/map/"
    assert safe_next("/map/?a=1#b") == "/map/?a=1#b"
    assert safe_next(None) == "/map/"
    assert safe_next("") == "/map/"
    assert safe_next("/login?next=/map/") == "/map/"  # no loop back to the login page
    assert safe_next("/auth/logout") == "/map/"
    assert safe_next("/x" + "a" * 3000) == "/map/"


def test_wrong_password_still_gives_problem_json_for_the_login_form(
    client: TestClient, world: World
) -> None:
    # The login form shows detail_zh from this body.
    response = client.post("/auth/token", data={"username": "t_planner", "password": "x"})
    assert response.status_code == 401
    assert response.json()["detail_zh"] == "用户名或密码错误"


@pytest.mark.parametrize(
    ("url", "media_type"),
    [
        ("/static/vendor/leaflet/leaflet.js", "text/javascript"),
        ("/static/vendor/leaflet/leaflet.css", "text/css"),
        ("/static/vendor/leaflet/images/layers.png", "image/png"),
        ("/static/vendor/@fortawesome/fontawesome-free/webfonts/fa-solid-900.woff2", "font/woff2"),
        ("/static/js/grid_map.js", "text/javascript"),
    ],
)
def test_vendored_assets_are_served(client: TestClient, url: str, media_type: str) -> None:
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == media_type
    assert len(response.content) > 100


def test_every_folium_resource_is_served(client: TestClient) -> None:
    for url in [*FOLIUM_JS.values(), *FOLIUM_CSS.values()]:
        assert client.get(url).status_code == 200, url


@pytest.fixture
def gcj02_client(db: Session, db_settings: DatabaseSettings) -> Iterator[TestClient]:
    """The app with an AMap-style (GCJ-02) basemap configured."""
    settings = ApiSettings(
        jwt_secret="test-secret-not-for-production-0123456789abcdef",  # type: ignore[arg-type]
        basemap_url="https://webrd0{s}.is.autonavi.com/appmaptile?x={x}&y={y}&z={z}&style=8",
        basemap_crs="gcj02",
        basemap_attribution="&copy; 高德地图",
    )
    application = create_app(settings, db_settings)

    def _test_session() -> Iterator[Session]:
        with db.begin_nested():
            yield db

    application.dependency_overrides[get_session] = _test_session
    with TestClient(application) as test_client:
        yield test_client


def test_basemap_is_added_with_attribution_csp_and_gcj02_display(
    gcj02_client: TestClient, world: World
) -> None:
    login(gcj02_client, "t_planner")
    response = gcj02_client.get("/map/")
    assert response.status_code == 200
    html = response.text
    assert "L.tileLayer(" in html and "webrd0{s}.is.autonavi.com" in html
    assert "\\u5e95\\u56fe" in html  # "底图" in the layer control (JSON-escaped)
    # Our layers are converted to GCJ-02 in the browser (gcoord) to line up with the tiles.
    assert '"displayCrs": "gcj02"' in html
    assert "/static/vendor/gcoord/gcoord.global.prod.js" in html
    assert (
        "img-src 'self' data: https://*.is.autonavi.com"
        in response.headers["content-security-policy"]
    )
    # Scripts and stylesheets still come from us only; only tiles come from the tile host.
    for tag, url in _resources(html).urls:
        assert url.startswith(("/static/", "data:")), f"<{tag}> loads {url}"


def test_no_basemap_no_tile_layer(client: TestClient, world: World) -> None:
    login(client, "t_planner")
    html = client.get("/map/").text
    assert "L.tileLayer(" not in html
    assert '"displayCrs": "wgs84"' in html
