"""Test fixtures against a real PostGIS (DATABASE_URL). No mocks of the database, no SQLite.

* ``engine``: once per session, ``alembic upgrade head`` on the test database, then an engine.
* ``db``: a Session joined to an outer transaction that is rolled back after each test
  (SQLAlchemy's "join a session into an external transaction" recipe), so tests never see each
  other's rows and may commit freely (commits become savepoints).
* ``app`` / ``client``: the real application whose request session is that same ``db`` session.

A skipped test fails the run: a database test that cannot run is a broken test, not a pass.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.orm import Session

from gis_api.db import get_session
from gis_api.main import create_app
from gis_api.settings import ApiSettings
from layers.models import AuditLog
from layers.settings import DatabaseSettings
from tests.fixtures.world import World, build_world

ROOT = Path(__file__).resolve().parent.parent
# Public conformance cases (JTS, shapely, PostGIS, coordinate pairs, Open311, addresses): a copy
# of the workplace's ../shared/testdata kept in the repository (see tests/conformance/README.md).
SHARED_TESTDATA = ROOT / "tests" / "conformance"

_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Remember every skipped test."""
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Turn any skip into a failed run."""
    if _skipped and exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say loudly why a run with skips failed."""
    if _skipped:
        terminalreporter.write_line(
            f"FAILED: {len(_skipped)} test(s) skipped; a skipped test is not a pass:", red=True
        )
        for nodeid in _skipped:
            terminalreporter.write_line(f"  {nodeid}", red=True)


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        pytest.fail("DATABASE_URL is not set: run the suite with `make test`", pytrace=False)
    return url


@pytest.fixture(scope="session")
def db_settings() -> DatabaseSettings:
    """Database settings of the test database."""
    return DatabaseSettings(database_url=_database_url())


@pytest.fixture(scope="session")
def alembic_config(db_settings: DatabaseSettings) -> Config:
    """Alembic configuration pointed at the test database."""
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["url"] = db_settings.sqlalchemy_url
    cfg.attributes["configure_logger"] = False
    return cfg


@pytest.fixture(scope="session")
def engine(db_settings: DatabaseSettings, alembic_config: Config) -> Iterator[Engine]:
    """The test database at the newest migration."""
    command.upgrade(alembic_config, "head")
    eng = create_engine(db_settings.sqlalchemy_url, pool_pre_ping=True)
    yield eng
    eng.dispose()


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    """A session whose every change is rolled back after the test."""
    connection = engine.connect()
    outer = connection.begin()
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()


@pytest.fixture(scope="session")
def api_settings() -> ApiSettings:
    """Settings of the app under test (a fixed test secret)."""
    return ApiSettings(jwt_secret="test-secret-not-for-production-0123456789abcdef")  # type: ignore[arg-type]


@pytest.fixture
def app(db: Session, api_settings: ApiSettings, db_settings: DatabaseSettings) -> FastAPI:
    """The real application; its request session is the rolled-back test session."""
    application = create_app(api_settings, db_settings)

    def _test_session() -> Iterator[Session]:
        # Same contract as gis_api.db.get_session: one savepoint per request, rolled back on
        # error, so a failed request leaves nothing behind — observable within the test.
        with db.begin_nested():
            yield db

    application.dependency_overrides[get_session] = _test_session
    return application


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """An HTTP client for the app (lifespan started)."""
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def world(db: Session) -> World:
    """The small synthetic world of tests/fixtures/world.py, rolled back after the test."""
    return build_world(db)


def audit_rows(db: Session, *, action: str, username: str) -> list[AuditLog]:
    """Audit rows written by this test, oldest first.

    ``now()`` is the start of the test's outer transaction, so rows committed by earlier runs
    (the browser tests commit real logins; the log is append-only) are never counted.
    """
    return list(
        db.scalars(
            select(AuditLog)
            .where(AuditLog.action == action, AuditLog.username == username)
            .where(AuditLog.at >= func.now())
            .order_by(AuditLog.id)
        )
    )


def login(client: TestClient, username: str, password: str | None = None) -> dict[str, str]:
    """Log in through the real endpoint; return the Authorization header."""
    from tests.fixtures.world import PASSWORD

    response = client.post(
        "/auth/token", data={"username": username, "password": password or PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
