"""``wangge stats refresh`` on the test session: the rollup then holds the new incidents."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from layers.cli import app
from tests.fixtures.stats import build_stats_world
from tests.fixtures.world import World


def test_refresh_fills_the_rollup(db: Session, world: World) -> None:
    build_stats_world(db, world)

    @contextmanager
    def factory() -> Iterator[Session]:
        with db.begin_nested():
            yield db

    result = CliRunner().invoke(
        app, ["stats", "refresh", "--blocking"], obj={"session": factory}, env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "incident_heat_rollup" in result.output
    total = db.scalar(
        text(
            "SELECT sum(n) FROM incident_heat_rollup r JOIN admin_units a "
            "ON a.id = r.community_id WHERE a.code LIKE '370199%'"
        )
    )
    assert total == 72
