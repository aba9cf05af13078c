"""Shared scaffolding of the Leaflet pages (planner now; dispatcher and field pages later).

A page is our own Jinja template extending ``map_base.html`` plus one script of its own. The
HTML carries no feature data and runs no inline script: the page's configuration travels as a
JSON data block (``<script type="application/json" id="wangge-config">``, filled with Jinja's
``tojson``, which escapes ``<``, ``>`` and ``&``), read by ``static/js/wangge_map.js``. That
shared script builds the map, the optional basemap, the vector-tile layers (``/tiles/...``),
the GCJ-02 display shift, problem+json handling and the logout link, so a page script only
describes its layers and tools.

Authentication is the ``wangge_token`` cookie (:mod:`map_ui.deps`); a page answers a missing or
expired login with a 303 to the login page and a role that may not use it with a 403 page.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from gis_api.settings import ApiSettings
from layers.access import Principal
from layers.models.users import ROLE_LABELS_ZH, Role
from layers.tiles import area_bounds
from map_ui.assets import PAGE_JS, static_url, vendor_url
from map_ui.grid_map import basemap_source
from map_ui.templating import login_url


def page_csp(settings: ApiSettings) -> str:
    """Our origin only (plus the configured basemap's tile host for images); no inline script."""
    img = "'self' data:"
    source = basemap_source(settings.basemap_url)
    if source:
        img += f" {source}"
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            # Leaflet and Geoman style elements through the CSSOM, which CSP does not restrict;
            # no inline <style> or style attribute is needed.
            "style-src 'self'",
            f"img-src {img}",
            "font-src 'self'",
            "connect-src 'self'",
            "worker-src 'none'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def basemap_config(settings: ApiSettings) -> dict[str, Any] | None:
    """The basemap the pages draw under our layers, or None (plain background)."""
    if not settings.basemap_url:
        return None
    return {
        "url": settings.basemap_url,
        "attribution": settings.basemap_attribution or "底图",
        "crs": settings.basemap_crs,
    }


def page_config(
    session: Session, settings: ApiSettings, principal: Principal, page_path: str
) -> dict[str, Any]:
    """What every page script needs: who is logged in, the area, basemap and tile settings."""
    west, south, east, north = area_bounds(session, principal=principal)
    basemap = basemap_config(settings)
    return {
        "user": {
            "username": principal.username,
            "name": principal.full_name or principal.username,
            "role": principal.role.value,
            "roleZh": ROLE_LABELS_ZH[principal.role],
            "areaCode": principal.area_code,
        },
        "bounds": [west, south, east, north],
        "basemap": basemap,
        # Our layers are drawn in the basemap's datum: GCJ-02 tiles get crs=gcj02 tiles and
        # GeoJSON converted in the browser; drawn shapes are sent back with crs GCJ02.
        "displayCrs": "gcj02" if basemap and basemap["crs"] == "gcj02" else "wgs84",
        "tileUrl": "/tiles/{layer}/{z}/{x}/{y}.mvt",
        "loginUrl": login_url(page_path),
    }


def page_headers(settings: ApiSettings) -> dict[str, str]:
    """Headers of every map page: no caching (per user), the CSP, no sniffing."""
    return {
        "Cache-Control": "no-store",
        "Content-Security-Policy": page_csp(settings),
        "X-Content-Type-Options": "nosniff",
    }


def render_map_page(
    templates: Jinja2Templates,
    request: Request,
    principal: Principal | None,
    *,
    session: Session,
    page_path: str,
    template: str,
    roles: Collection[Role],
    title: str,
    script: str,
    extra: dict[str, Any] | None = None,
) -> Response:
    """A map page for ``principal``: 303 to login, 403 page for other roles, else the page."""
    settings: ApiSettings = request.app.state.settings
    if principal is None:
        return RedirectResponse(login_url(page_path), status_code=303)
    headers = page_headers(settings)
    if principal.role not in roles:
        allowed = "、".join(ROLE_LABELS_ZH[r] for r in roles)
        html = templates.get_template("page_forbidden.html").render(
            title=title, role_zh=ROLE_LABELS_ZH[principal.role], allowed_zh=allowed
        )
        return HTMLResponse(html, status_code=403, headers=headers)
    config = page_config(session, settings, principal, page_path)
    config.update(extra or {})
    html = templates.get_template(template).render(
        title=title,
        full_name=principal.full_name or principal.username,
        role_zh=ROLE_LABELS_ZH[principal.role],
        config=config,
        page_js=static_url(f"js/{script}"),
        vectorgrid_js=PAGE_JS["vectorgrid"],
        gcoord_js=PAGE_JS["gcoord"],
        leaflet_js=vendor_url("leaflet", "leaflet.js"),
        leaflet_css=vendor_url("leaflet", "leaflet.css"),
    )
    return HTMLResponse(html, headers=headers)
