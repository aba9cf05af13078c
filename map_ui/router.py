"""Map pages and their static assets, attached to the Wangge app by :func:`mount`."""

from __future__ import annotations

import logging

from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from map_ui import dispatch, field, grid_map, login, planner
from map_ui.assets import STATIC_DIR, STATIC_URL, missing_files, use_local_assets
from map_ui.templating import make_templates

log = logging.getLogger("wangge.map_ui")


def _root_router() -> APIRouter:
    root = APIRouter(include_in_schema=False)

    @root.get("/")
    def index() -> RedirectResponse:
        """The home page is the map."""
        return RedirectResponse(grid_map.PAGE_PATH, status_code=307)

    return root


def mount(app: FastAPI) -> None:
    """Attach the map pages and the vendored static assets to the app."""
    use_local_assets()
    missing = missing_files()
    if missing:
        # The pages still render, but without Leaflet they cannot work: say why, loudly.
        log.error(
            "vendored front-end assets are missing (%s): run `python -m map_ui.assets install`",
            ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else ""),
        )
    templates = make_templates()
    app.include_router(_root_router())
    app.include_router(login.make_router(templates))
    app.include_router(grid_map.make_router(templates))
    app.include_router(planner.make_router(templates))
    app.include_router(dispatch.make_router(templates))
    app.include_router(field.make_router(templates))
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="static")
