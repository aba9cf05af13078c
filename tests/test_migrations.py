"""Migrations: upgrade → downgrade → upgrade on a scratch database, with no drift."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

import layers.models  # noqa: F401
from layers.base import Base
from layers.settings import DatabaseSettings
from migrations.filters import include_object
from tests.conftest import ROOT


@pytest.fixture
def scratch_url(db_settings: DatabaseSettings) -> Iterator[str]:
    """A fresh database next to the test database, dropped afterwards."""
    base = make_url(db_settings.sqlalchemy_url)
    name = f"{base.database}_mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(
            text(
                f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' "
                "LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'"
            )
        )
    url = base.set(database=name)
    eng = create_engine(url)
    with eng.begin() as conn:
        for ext in ("postgis", "pg_trgm", "btree_gist"):
            conn.execute(text(f"CREATE EXTENSION IF NOT EXISTS {ext}"))
    eng.dispose()
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _config(url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["url"] = url
    cfg.attributes["configure_logger"] = False
    return cfg


def _drift(url: str) -> list[object]:
    eng = create_engine(url)
    with eng.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include_object}
        )
        diff = compare_metadata(ctx, Base.metadata)
    eng.dispose()
    return list(diff)


def _tables(url: str) -> set[str]:
    eng = create_engine(url)
    names = set(inspect(eng).get_table_names()) - {"spatial_ref_sys"}
    eng.dispose()
    return names


def test_upgrade_downgrade_upgrade_without_drift(scratch_url: str) -> None:
    cfg = _config(scratch_url)
    command.upgrade(cfg, "head")
    assert _drift(scratch_url) == []
    assert {"grids", "buildings", "persons", "incidents", "audit_log"} <= _tables(scratch_url)

    command.downgrade(cfg, "base")
    assert _tables(scratch_url) == {"alembic_version"}

    command.upgrade(cfg, "head")
    assert _drift(scratch_url) == []
    eng = create_engine(scratch_url)
    with eng.connect() as conn:
        care = conn.execute(text("SELECT count(*) FROM care_group_categories")).scalar_one()
        cats = conn.execute(text("SELECT count(*) FROM incident_categories")).scalar_one()
    eng.dispose()
    assert care == 5
    assert cats >= 15
