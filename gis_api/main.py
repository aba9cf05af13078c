"""Application assembly: ``create_app()`` builds settings, engine, routes and error handlers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gis_api.errors import problem, register_error_handlers
from gis_api.routes import (
    address,
    auth,
    collections,
    grid_plans,
    grid_validation,
    health,
    imports,
    incidents,
    locate,
    open311,
    patrols,
    registries,
    stats,
    tiles,
)
from gis_api.settings import ApiSettings
from layers.db import make_engine, make_sessionmaker
from layers.settings import DatabaseSettings
from map_ui import router as map_router

log = logging.getLogger("wangge")


class BodySizeLimit:
    """Refuse request bodies above a limit with 413 before they are read into memory."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check Content-Length, and count streamed bytes when it is absent."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(
            413,
            code="payload-too-large",
            title_en="Payload too large",
            title_zh="请求内容过大",
            detail_en=f"The request body exceeds {self.max_bytes} bytes",
            detail_zh=f"请求内容超过 {self.max_bytes} 字节上限",
            instance=scope.get("path"),
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


def create_app(
    settings: ApiSettings | None = None, db_settings: DatabaseSettings | None = None
) -> FastAPI:
    """Build the Wangge application. Settings come from the environment unless given."""
    settings = settings or ApiSettings()
    db_settings = db_settings or DatabaseSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(db_settings)
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine)
        try:
            yield
        finally:
            engine.dispose()

    app = FastAPI(
        title="Wangge 网格 API",
        description="Grid management for community governance (网格化管理), on PostGIS.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    register_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.include_router(health.router)
    app.include_router(auth.router)
    for module in (
        collections,
        locate,
        registries,
        imports,
        grid_validation,
        grid_plans,
        incidents,
        patrols,
        open311,
        stats,
        tiles,
        address,
    ):
        app.include_router(module.router)
    map_router.mount(app)
    return app
