"""The planner page, ``GET /map/planner``: draw, split, merge and publish grid plans.

Communities, roads and buildings come as vector tiles (``/tiles/...``), the current grids too
(coloured by household deviation from ``/grids/sizing``); an open draft's grids come from
``GET /plans/{id}/grids`` as GeoJSON, because a draft's parts exist nowhere else. Every change is
a call to the grid-plan API (docs/GRID_PLANNING.md); the page keeps no state of its own. The
script is ``static/js/planner.js`` on the shared scaffolding of :mod:`map_ui.pages`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from gis_api.deps import SessionDep
from layers.access import GRID_EDIT_ROLES
from layers.models.users import Role
from map_ui.deps import PagePrincipalDep
from map_ui.pages import render_map_page

PAGE_PATH = "/map/planner"
# Editors, plus community admins who may read plans, validate and look at the diff.
PLANNER_ROLES = frozenset(GRID_EDIT_ROLES | {Role.community_admin})


def make_router(templates: Jinja2Templates) -> APIRouter:
    """Routes of the planner page, bound to the shared templates."""
    page = APIRouter(include_in_schema=False)

    @page.get(PAGE_PATH, response_class=HTMLResponse, summary="网格规划")
    def planner(request: Request, principal: PagePrincipalDep, session: SessionDep) -> Response:
        """The planner page; 303 to login without a session, 403 page for other roles."""
        return render_map_page(
            templates,
            request,
            principal,
            session=session,
            page_path=PAGE_PATH,
            template="planner.html",
            roles=PLANNER_ROLES,
            title="网格规划",
            script="planner.js",
            extra={"canEdit": principal is not None and principal.may_edit_grids()},
        )

    return page
