"""Request dependencies as ``Annotated`` aliases: the session, the settings, the principal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from gis_api.auth import COOKIE_NAME, decode_access_token
from gis_api.db import get_session
from gis_api.settings import ApiSettings
from layers.access import Principal
from layers.errors import AuthenticationFailed, Forbidden
from layers.models.users import ROLE_LABELS_ZH, Role
from layers.users import load_principal

SessionDep = Annotated[Session, Depends(get_session, scope="function")]

_bearer = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)


def get_settings(request: Request) -> ApiSettings:
    """The settings the app was created with."""
    settings: ApiSettings = request.app.state.settings
    return settings


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]


def get_principal(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    bearer: Annotated[str | None, Depends(_bearer)],
) -> Principal:
    """Authenticate the request by bearer token or session cookie."""
    token = bearer or request.cookies.get(COOKIE_NAME)
    if not token:
        raise AuthenticationFailed("Log in first", "请先登录")
    principal = load_principal(session, decode_access_token(settings, token))
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_roles(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency that admits only the given roles (403 with a bilingual message)."""

    def check(principal: PrincipalDep) -> Principal:
        if principal.role not in roles:
            allowed_zh = "、".join(ROLE_LABELS_ZH[r] for r in roles)
            raise Forbidden(
                f"Only {', '.join(r.value for r in roles)} may do this",
                f"仅{allowed_zh}可执行此操作",
            )
        return principal

    return check


def client_ip(request: Request) -> str | None:
    """The client's address as seen by the server (for the audit log)."""
    return request.client.host if request.client else None
