"""The first map page, ``GET /map/``: the user's communities, grids and buildings.

The HTML carries no feature data. folium builds the map shell (Leaflet map, one empty feature
group per layer, a layer control); ``static/js/grid_map.js`` then fetches each layer from the
OGC API Features endpoint ``/collections/{layer}/items`` with the session cookie, page by page
following ``rel="next"`` links, so the API's area scoping decides what a user sees, and a
street's thousands of buildings never bloat the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from branca.element import Figure
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

import folium
from folium.elements import MacroElement
from folium.template import Template

from gis_api.deps import SettingsDep
from gis_api.settings import ApiSettings
from layers.access import Principal
from layers.models.users import ROLE_LABELS_ZH
from map_ui.assets import PAGE_JS, static_url, use_local_assets
from map_ui.deps import PagePrincipalDep
from map_ui.templating import login_url

PAGE_PATH = "/map/"
# Grid fills: distinct, light enough for the outlines and tooltips to stay readable.
GRID_PALETTE = ("#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69")


@dataclass(frozen=True)
class LayerSpec:
    """One API collection drawn on the page, with its look and its tooltip fields."""

    collection: str
    label: str
    tooltip: tuple[tuple[str, str], ...]
    style: dict[str, Any]
    z_index: int
    # Keep only features whose properties equal these values (admin_units: communities only).
    where: dict[str, str] = field(default_factory=dict)
    palette: tuple[str, ...] = ()

    def config(self, page_size: int) -> dict[str, Any]:
        """The JSON the page script receives for this layer."""
        return {
            "collection": self.collection,
            "label": self.label,
            "url": f"/collections/{self.collection}/items",
            "limit": page_size,
            "tooltip": [list(pair) for pair in self.tooltip],
            "style": self.style,
            "palette": list(self.palette),
            "where": self.where,
            "pane": f"wangge-{self.collection}",
            "zIndex": self.z_index,
            "className": f"wangge-{self.collection}",
        }


# Each layer has its own pane (z_index), so the stacking does not depend on which fetch
# finishes first: grids 410 < community outlines 420 < buildings 430.
LAYERS: tuple[LayerSpec, ...] = (
    LayerSpec(
        collection="admin_units",
        label="社区边界",
        tooltip=(("name", "社区"), ("code", "区划代码")),
        # Outline only, above the grids: the boundary stays visible and, unfilled, the
        # community catches the mouse on its line only, leaving grid interiors to the grids.
        style={"color": "#c0392b", "weight": 3, "dashArray": "8 5", "fill": False},
        z_index=420,
        where={"level": "community"},
    ),
    LayerSpec(
        collection="grids",
        label="网格",
        tooltip=(
            ("code", "网格编码"),
            ("name", "网格名称"),
            ("community_name", "所属社区"),
            ("sizhi", "四至"),
        ),
        style={"color": "#1f4e9c", "weight": 2, "fillOpacity": 0.55},
        z_index=410,
        palette=GRID_PALETTE,
    ),
    LayerSpec(
        collection="buildings",
        label="建筑",
        tooltip=(("address", "地址"), ("code", "建筑编码")),
        style={"color": "#5d4037", "weight": 1, "fillColor": "#e67e22", "fillOpacity": 0.85},
        z_index=430,
    ),
)


class LayerLoader(MacroElement):
    """Starts ``WanggeGridMap.start(map, config, groups)`` from static/js/grid_map.js."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        WanggeGridMap.start({{ this._parent.get_name() }}, {{ this.config|tojson }}, {
        {%- for key, group in this.groups.items() %}
            {{ key|tojson }}: {{ group.get_name() }},
        {%- endfor %}
        });
        {% endmacro %}
        """
    )

    def __init__(self, config: dict[str, Any], groups: dict[str, folium.FeatureGroup]) -> None:
        super().__init__()
        self._name = "WanggeLayerLoader"
        self.config = config
        self.groups = groups


def basemap_source(url: str | None) -> str | None:
    """The CSP source expression for a basemap URL template, or None if it is same-origin.

    ``https://{s}.tile.example.com/{z}/{x}/{y}.png`` → ``https://*.tile.example.com``.
    """
    if not url:
        return None
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    host = parts.netloc
    if "{" in host:
        host = "*." + host.split(".", 1)[1] if "." in host else "*"
    return f"{parts.scheme}://{host}"


def content_security_policy(settings: ApiSettings) -> str:
    """Only our own origin (plus the configured basemap's tiles) may be contacted."""
    img = "'self' data:"
    source = basemap_source(settings.basemap_url)
    if source:
        img += f" {source}"
    return "; ".join(
        [
            "default-src 'self'",
            # folium writes its map set-up as inline script and style.
            "script-src 'self' 'unsafe-inline'",
            "style-src 'self' 'unsafe-inline'",
            f"img-src {img}",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def build_map(settings: ApiSettings) -> folium.Map:
    """The folium map: no default tiles, empty feature groups, layer control, layer loader."""
    use_local_assets()
    fmap = folium.Map(
        location=(35.0, 105.0),  # China; the script fits the view to the data once loaded
        zoom_start=4,
        tiles=None,
        control_scale=False,  # the script adds a metric-only scale bar
    )
    if settings.basemap_url:
        folium.TileLayer(
            tiles=settings.basemap_url,
            attr=settings.basemap_attribution or "底图",
            name="底图",
            overlay=False,
            control=True,
            max_zoom=19,
        ).add_to(fmap)
    groups: dict[str, folium.FeatureGroup] = {}
    for spec in LAYERS:
        groups[spec.collection] = folium.FeatureGroup(name=spec.label, show=True)
        groups[spec.collection].add_to(fmap)
    folium.LayerControl(collapsed=False, position="topright").add_to(fmap)
    page_size = min(settings.max_page_size, 1000)
    config = {
        "layers": [spec.config(page_size) for spec in LAYERS],
        "loginUrl": login_url(PAGE_PATH),
        # Over a GCJ-02 basemap (AMap, Tencent) the script converts the fetched GeoJSON to
        # GCJ-02 (gcoord) so our layers line up with the tiles.
        "displayCrs": "gcj02"
        if settings.basemap_url and settings.basemap_crs == "gcj02"
        else "wgs84",
    }
    LayerLoader(config, groups).add_to(fmap)
    return fmap


def render_page(templates: Jinja2Templates, request: Request, principal: Principal) -> str:
    """The page HTML: our autoescaped template around folium's header, body and script."""
    settings: ApiSettings = request.app.state.settings
    root = build_map(settings).get_root()
    assert isinstance(root, Figure)
    root.render()  # lets every element register its header links and scripts
    template = templates.get_template("grid_map.html")
    return template.render(
        full_name=principal.full_name or principal.username,
        role_zh=ROLE_LABELS_ZH[principal.role],
        gcoord_js=PAGE_JS["gcoord"],
        page_js=static_url("js/grid_map.js"),
        # folium output is built from our own constants and JSON-encoded config, never from
        # user data (the user's name goes through the autoescaped template only).
        folium_header=Markup(root.header.render()),  # noqa: S704
        folium_html=Markup(root.html.render()),  # noqa: S704
        folium_script=Markup(root.script.render()),  # noqa: S704
    )


def make_router(templates: Jinja2Templates) -> APIRouter:
    """Routes of this page, bound to the shared templates."""
    page = APIRouter(include_in_schema=False)

    @page.get(PAGE_PATH, response_class=HTMLResponse, summary="网格地图")
    def grid_map(request: Request, principal: PagePrincipalDep, settings: SettingsDep) -> Response:
        """The grid map of the logged-in user; a 303 to the login page when not logged in."""
        if principal is None:
            return RedirectResponse(login_url(PAGE_PATH), status_code=303)
        return HTMLResponse(
            render_page(templates, request, principal),
            headers={
                "Cache-Control": "no-store",
                "Content-Security-Policy": content_security_policy(settings),
                "X-Content-Type-Options": "nosniff",
            },
        )

    return page
