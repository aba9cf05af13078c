"""``wangge registries`` commands, run with typer's CliRunner on the test session."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import date, timedelta

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from layers.models import House
from layers.models.registries import Tenancy
from layers.registries.cli import app
from tests.conftest import audit_rows
from tests.fixtures.registries import LI_MEI_ID, Registry, registry_fixture  # noqa: F401

runner = CliRunner()
WIDE = {"COLUMNS": "200"}


@pytest.fixture
def sessions(db: Session) -> Callable[[], AbstractContextManager[Session]]:
    """A session factory handing the CLI the test's rolled-back session."""

    @contextmanager
    def factory() -> Iterator[Session]:
        with db.begin_nested():
            yield db

    return factory


def test_persons_show_prints_a_masked_record_and_audits_the_read(
    db: Session, registry: Registry, sessions: Callable
) -> None:
    person = registry.persons["李梅"]
    result = runner.invoke(
        app, ["persons", "show", str(person), "--user", "t_gw_a"], obj=sessions, env=WIDE
    )
    assert result.exit_code == 0, result.output
    assert "李梅" in result.output
    assert "370102***********1" in result.output
    assert "139****1111" in result.output
    assert LI_MEI_ID not in result.output
    [row] = audit_rows(db, action="read", username="t_gw_a")
    assert (row.resource, row.resource_ids, row.unmasked) == ("persons", [person], False)
    assert row.client_ip == "cli"


def test_persons_show_reveal_is_for_admins_only(
    db: Session, registry: Registry, sessions: Callable
) -> None:
    person = str(registry.persons["李梅"])
    refused = runner.invoke(
        app, ["persons", "show", person, "-u", "t_gw_a", "--reveal"], obj=sessions, env=WIDE
    )
    assert refused.exit_code == 1
    assert "无权查看完整的身份证号码" in refused.output
    shown = runner.invoke(
        app, ["persons", "show", person, "-u", "t_ca_a", "--reveal"], obj=sessions, env=WIDE
    )
    assert shown.exit_code == 0, shown.output
    assert LI_MEI_ID in shown.output
    assert "1940-03-15" in shown.output


def test_persons_show_outside_the_area_is_not_found(registry: Registry, sessions: Callable) -> None:
    result = runner.invoke(
        app,
        ["persons", "show", str(registry.persons["李梅"]), "-u", "t_gw_b"],
        obj=sessions,
        env=WIDE,
    )
    assert result.exit_code == 1
    assert "在您的辖区内未找到人员" in result.output


def test_an_unknown_user_is_a_usage_error(registry: Registry, sessions: Callable) -> None:
    result = runner.invoke(app, ["persons", "show", "1", "-u", "nobody"], obj=sessions, env=WIDE)
    assert result.exit_code == 2
    assert "nobody" in result.output


def test_visits_overdue_lists_most_overdue_first(registry: Registry, sessions: Callable) -> None:
    result = runner.invoke(
        app,
        ["visits", "overdue", "-u", "t_street", "--as-of", "2026-03-01"],
        obj=sessions,
        env=WIDE,
    )
    assert result.exit_code == 0, result.output
    assert "Overdue visits: 2" in result.output
    lines = [line for line in result.output.splitlines() if "李梅" in line or "王芳" in line]
    assert ["李梅" in lines[0], "王芳" in lines[1]] == [True, True]
    assert "2026-01-31" in lines[0] and lines[0].rstrip(" │").endswith("29")
    assert "2026-02-08" in lines[1] and lines[1].rstrip(" │").endswith("21")


def test_visits_overdue_refuses_a_bad_date(registry: Registry, sessions: Callable) -> None:
    result = runner.invoke(
        app, ["visits", "overdue", "-u", "t_street", "--as-of", "01/03/2026"], obj=sessions
    )
    assert result.exit_code == 2


def test_refresh_flags_is_a_dry_run_unless_committed(
    db: Session, registry: Registry, sessions: Callable
) -> None:
    house = registry.houses["4-201"]
    db.execute(
        insert(Tenancy).values(
            house_id=house,
            tenant_household_id=registry.households["T-HH-3"],
            landlord_name="赵六",
            started_on=date.today() - timedelta(days=10),
        )
    )
    db.execute(update(House).where(House.id == house).values(is_rental=False))

    def flag() -> bool:
        return bool(db.execute(select(House.is_rental).where(House.id == house)).scalar_one())

    dry = runner.invoke(app, ["tenancies", "refresh-flags"], obj=sessions, env=WIDE)
    assert dry.exit_code == 0, dry.output
    assert "would update 1 house(s)" in dry.output
    assert flag() is False

    done = runner.invoke(app, ["tenancies", "refresh-flags", "--commit"], obj=sessions, env=WIDE)
    assert done.exit_code == 0, done.output
    assert "updated 1 house(s)" in done.output
    assert flag() is True
