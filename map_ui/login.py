"""The login page, ``GET /login``: a form that posts to ``/auth/token`` and goes on to ``next``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from map_ui.templating import safe_next

# Only our own files: the login form runs no inline script and loads nothing from elsewhere.
LOGIN_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def make_router(templates: Jinja2Templates) -> APIRouter:
    """Routes of the login page, bound to the shared templates."""
    page = APIRouter(include_in_schema=False)

    @page.get("/login", response_class=HTMLResponse, summary="登录")
    def login_page(
        request: Request,
        next: Annotated[
            str | None, Query(description="Same-site path to open after logging in")
        ] = None,
    ) -> HTMLResponse:
        """The login form; ``next`` is kept only if it is a same-site relative path."""
        response = templates.TemplateResponse(request, "login.html", {"next_url": safe_next(next)})
        response.headers["Content-Security-Policy"] = LOGIN_CSP
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    return page
