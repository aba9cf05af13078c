"""The field page, ``GET /map/field``: a phone-sized page for grid workers in the street.

Find an address (``GET /address/search``) or use the browser's position ("我在哪"), and the
result card shows what ``GET /locate`` says about that point: community, grid, 四至, the grid's
staff with their phones (masked per role by the API), the building and, for the roles that
may read them, its houses and households (``GET /buildings/{id}/houses``). From the card a worker
reports an incident at the point with a photo (``POST /incidents/photos`` then
``POST /incidents``) and sees the places of that grid still due a patrol this month
(``GET /patrols/due``) and the persons due a visit (``GET /visits/overdue``).
The script is ``static/js/field.js``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from gis_api.deps import SessionDep
from layers.access import Principal
from layers.incidents.reporting import REPORT_ROLES
from layers.models.users import Role
from layers.registries.common import BUILDING_READ_ROLES, PEOPLE_ROLES
from map_ui.deps import PagePrincipalDep
from map_ui.dispatch import server_now
from map_ui.pages import render_map_page

PAGE_PATH = "/map/field"
#: Who works in the field and reports: the reporting roles (grid workers first).
FIELD_ROLES = REPORT_ROLES
#: Who records patrols (layers.patrols): the due list is shown to them.
PATROL_ROLES = frozenset({Role.grid_worker, Role.community_admin, Role.street_admin, Role.admin})


def field_abilities(principal: Principal) -> dict[str, bool]:
    """What the card may show or offer; the API enforces the same rules again."""
    return {
        "canReport": principal.role in REPORT_ROLES,
        "canSeeHouses": principal.role in BUILDING_READ_ROLES,
        "canSeeVisits": principal.role in PEOPLE_ROLES,
        "canSeePatrols": principal.role in PATROL_ROLES,
    }


def make_router(templates: Jinja2Templates) -> APIRouter:
    """Routes of the field page, bound to the shared templates."""
    page = APIRouter(include_in_schema=False)

    @page.get(PAGE_PATH, response_class=HTMLResponse, summary="网格巡查")
    def field(request: Request, principal: PagePrincipalDep, session: SessionDep) -> Response:
        """The field page; 303 to login without a session, 403 page for other roles."""
        extra: dict[str, Any] = {"now": server_now(request).isoformat()}
        if principal is not None:
            extra.update(field_abilities(principal))
        return render_map_page(
            templates,
            request,
            principal,
            session=session,
            page_path=PAGE_PATH,
            template="field.html",
            roles=FIELD_ROLES,
            title="网格巡查",
            script="field.js",
            extra=extra,
        )

    return page
