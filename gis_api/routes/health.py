"""Health check: the only endpoint without authentication."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from gis_api.errors import problem

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness and database check")
def healthz(request: Request) -> JSONResponse:
    """Run ``SELECT postgis_lib_version()`` with a short timeout; 503 when the database is down."""
    factory = request.app.state.sessionmaker
    try:
        with factory() as session, session.begin():
            session.execute(text("SET LOCAL statement_timeout = 2000"))
            postgis = session.execute(text("SELECT postgis_lib_version()")).scalar_one()
    except SQLAlchemyError:
        return problem(
            503,
            code="database-unavailable",
            title_en="Database unavailable",
            title_zh="数据库暂不可用",
            instance="/healthz",
        )
    return JSONResponse({"status": "ok", "database": "ok", "postgis": postgis})
