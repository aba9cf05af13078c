"""Dependencies of the HTML pages: the same authentication as the API, with a login redirect."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gis_api.deps import SessionDep, SettingsDep, get_principal
from layers.access import Principal
from layers.errors import AuthenticationFailed


def get_page_principal(
    request: Request, session: SessionDep, settings: SettingsDep
) -> Principal | None:
    """The logged-in user from the ``wangge_token`` cookie, or None when not logged in.

    Same checks as the API's ``PrincipalDep`` (signature, expiry, active account); only the
    failure differs: an HTML page answers with a redirect to the login page instead of a 401
    problem+json, so the page route turns None into that redirect. Pages authenticate by cookie
    only: a browser navigating to a page never sends a bearer header.
    """
    try:
        return get_principal(request, session, settings, None)
    except AuthenticationFailed:
        return None


PagePrincipalDep = Annotated[Principal | None, Depends(get_page_principal)]
