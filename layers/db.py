"""Engine and session factory. Layer functions take ``session=`` and never commit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from layers.settings import DatabaseSettings


def make_engine(settings: DatabaseSettings | None = None) -> Engine:
    """Create the engine for the configured database (psycopg 3, pre-pinged pool)."""
    settings = settings or DatabaseSettings()
    return create_engine(
        settings.sqlalchemy_url,
        pool_size=settings.pool_size,
        pool_pre_ping=True,
        connect_args={"options": f"-c statement_timeout={settings.statement_timeout_ms}"},
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose sessions do not expire objects on commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error (for CLI commands)."""
    factory = make_sessionmaker(engine)
    with factory() as session, session.begin():
        yield session
