"""Access tokens (JWT, HMAC) and how a request proves who it is.

A request authenticates with ``Authorization: Bearer <token>`` (API clients) or with the
``wangge_token`` cookie that the login page sets (map pages; HttpOnly, SameSite=Strict so other
sites cannot ride on it).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt

from gis_api.settings import ApiSettings
from layers.errors import AuthenticationFailed

COOKIE_NAME = "wangge_token"
_ISSUER = "wangge"


def create_access_token(settings: ApiSettings, *, user_id: int, role: str) -> tuple[str, int]:
    """Sign a token for the user; returns (token, lifetime in seconds)."""
    ttl = timedelta(minutes=settings.token_ttl_minutes)
    now = datetime.now(UTC)
    claims = {"sub": str(user_id), "role": role, "iat": now, "exp": now + ttl, "iss": _ISSUER}
    token = jwt.encode(
        claims, settings.jwt_secret.get_secret_value(), algorithm=settings.jwt_algorithm
    )
    return token, int(ttl.total_seconds())


def decode_access_token(settings: ApiSettings, token: str) -> int:
    """Verify signature, expiry and issuer; return the user id or raise AuthenticationFailed."""
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
            algorithms=[settings.jwt_algorithm],
            issuer=_ISSUER,
            options={"require": ["sub", "exp", "iat"]},
        )
        return int(claims["sub"])
    except jwt.ExpiredSignatureError as exc:
        raise AuthenticationFailed("The token has expired", "登录已过期，请重新登录") from exc
    except (jwt.InvalidTokenError, ValueError) as exc:
        raise AuthenticationFailed("The token is not valid", "登录凭证无效") from exc
