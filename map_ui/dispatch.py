"""The dispatcher page, ``GET /map/dispatch``: heatmap, grid rates, hot spots and the work lists.

Everything on it is a client of existing APIs (docs/STATISTICS.md, docs/INCIDENTS.md):
heat cells from ``GET /stats/cells`` (drawn as cells and as a leaflet.heat layer), incidents
per 100 households from ``GET /stats/grids``, Gi* hot spots from ``GET /stats/hotspots``, at
high zoom the incidents themselves from ``GET /collections/incidents/items`` in
leaflet.markercluster groups, the overdue list from ``GET /incidents/overdue`` and the
supervised list from ``GET /incidents?supervised=true``. Clicking an incident opens
``GET /incidents/{id}`` (history and the caller's ``allowed_actions``); its buttons post
``/incidents/{id}/actions/{action}``. The script is ``static/js/dispatch.js``.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from gis_api.deps import SessionDep
from layers.incidents.settings import Clock, system_clock
from layers.models.users import Role
from map_ui.deps import PagePrincipalDep
from map_ui.pages import render_map_page

PAGE_PATH = "/map/dispatch"
#: The roles that both read incident statistics and act on incidents of an area. Planners read
#: statistics but take no workflow action; grid workers and department handlers read no area
#: statistics (layers.stats.filters.STATS_ROLES).
DISPATCH_ROLES = frozenset({Role.admin, Role.street_admin, Role.community_admin, Role.dispatcher})
#: The time slider's steps: the last N days up to now (None: every incident).
TIME_WINDOWS_DAYS: tuple[int | None, ...] = (1, 7, 30, 90, 180, 365, None)


def server_now(request: Request) -> datetime:
    """The app's clock (tests inject a fixed one), so the time slider counts back from it."""
    clock: Clock = getattr(request.app.state, "clock", system_clock)
    return clock()


def make_router(templates: Jinja2Templates) -> APIRouter:
    """Routes of the dispatcher page, bound to the shared templates."""
    page = APIRouter(include_in_schema=False)

    @page.get(PAGE_PATH, response_class=HTMLResponse, summary="事件调度")
    def dispatch(request: Request, principal: PagePrincipalDep, session: SessionDep) -> Response:
        """The dispatcher page; 303 to login without a session, 403 page for other roles."""
        return render_map_page(
            templates,
            request,
            principal,
            session=session,
            page_path=PAGE_PATH,
            template="dispatch.html",
            roles=DISPATCH_ROLES,
            title="事件调度",
            script="dispatch.js",
            extra={
                "now": server_now(request).isoformat(),
                "windowsDays": list(TIME_WINDOWS_DAYS),
            },
        )

    return page
