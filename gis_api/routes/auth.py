"""Login (OAuth2 password flow issuing JWTs), logout and "who am I"."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from gis_api.auth import COOKIE_NAME, create_access_token
from gis_api.deps import PrincipalDep, SessionDep, SettingsDep, client_ip
from gis_api.errors import problem
from layers.models.users import ROLE_LABELS_ZH
from layers.users import authenticate

router = APIRouter(prefix="/auth", tags=["auth"])


class TokenResponse(BaseModel):
    """OAuth2 token response."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 (an OAuth2 token type, not a secret)
    expires_in: int
    role: str


class MeResponse(BaseModel):
    """The logged-in user."""

    id: int
    username: str
    full_name: str
    role: str
    role_zh: str
    area_code: str
    department_id: int | None


@router.post("/token", summary="Log in (OAuth2 password flow)", response_model=TokenResponse)
def login(
    request: Request,
    response: Response,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
) -> TokenResponse | JSONResponse:
    """Exchange username and password for a bearer token; also sets the page session cookie."""
    user = authenticate(
        session, username=form.username, password=form.password, client_ip=client_ip(request)
    )
    if user is None:
        # Returned, not raised: the audit row of the failed attempt must commit.
        return problem(
            401,
            code="unauthenticated",
            title_en="Not authenticated",
            title_zh="未登录或登录已过期",
            detail_en="Wrong username or password",
            detail_zh="用户名或密码错误",
            instance=request.url.path,
            field="password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    token, ttl = create_access_token(settings, user_id=user.id, role=user.role)
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=ttl,
        httponly=True,
        samesite="strict",
        secure=settings.cookie_secure,
        path="/",
    )
    return TokenResponse(access_token=token, expires_in=ttl, role=user.role)


@router.post("/logout", summary="Clear the page session cookie", status_code=204)
def logout(response: Response) -> Response:
    """Forget the cookie (bearer tokens simply expire)."""
    response.delete_cookie(COOKIE_NAME, path="/")
    response.status_code = 204
    return response


@router.get("/me", summary="The logged-in user")
def me(principal: PrincipalDep) -> MeResponse:
    """Return who the token belongs to, with role and area."""
    return MeResponse(
        id=principal.user_id,
        username=principal.username,
        full_name=principal.full_name,
        role=principal.role.value,
        role_zh=ROLE_LABELS_ZH[principal.role],
        area_code=principal.area_code,
        department_id=principal.department_id,
    )
