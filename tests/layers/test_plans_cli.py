"""``plans list / diff / publish`` and ``grids sizhi / sizing`` on the test's session."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from rich.console import Console
from sqlalchemy import text
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from layers.grids import plan_cli, plans
from layers.grids.split import split_by_line
from tests.fixtures.plans import build_plan_world, principal, split_line
from tests.fixtures.world import COMMUNITY_A, GRID_A1, GRID_A2, World

Invoke = Callable[..., Result]


@pytest.fixture
def run(db: Session, monkeypatch: pytest.MonkeyPatch) -> Iterator[Invoke]:
    monkeypatch.setattr(plan_cli, "console", Console(width=200, soft_wrap=True))

    @contextmanager
    def opener() -> Iterator[Session]:
        yield db

    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(plan_cli.app, list(args), obj={"session": opener})

    yield invoke


@pytest.fixture
def plan_id(db: Session, world: World) -> int:
    build_plan_world(db, world)
    planner = principal(db, world, "t_planner")
    ctx = plans.create_plan(db, principal=planner, scope_code=COMMUNITY_A, name="拆分1001")
    split_by_line(db, principal=planner, plan_id=ctx.plan.id, key=GRID_A1, line=split_line())
    return ctx.plan.id


def _grid_rows(db: Session) -> list[tuple[object, ...]]:
    return [
        tuple(r)
        for r in db.execute(text("SELECT id, code, version, valid_to FROM grids ORDER BY id"))
    ]


def test_list_and_diff(run: Invoke, plan_id: int) -> None:
    listed = run("plans", "list", "--status", "draft")
    assert listed.exit_code == 0, listed.output
    assert f"{plan_id}" in listed.output and "拆分1001" in listed.output
    diff = run("plans", "diff", str(plan_id))
    assert diff.exit_code == 0, diff.output
    assert "retired" in diff.output and "created" in diff.output
    assert "5/7/10/1/3" in diff.output  # A1 before
    assert "3/4/6/0/2" in diff.output  # west half after
    assert "codes created: 370199001001003, 370199001001004" in diff.output
    assert "codes retired: 370199001001001" in diff.output


def test_publish_is_a_dry_run_without_commit(run: Invoke, db: Session, plan_id: int) -> None:
    before = _grid_rows(db)
    dry = run(
        "plans",
        "publish",
        str(plan_id),
        "--user",
        "t_planner",
        "--effective-at",
        "2026-06-01T00:00:00+08:00",
    )
    assert dry.exit_code == 0, dry.output
    assert "Dry run (nothing written; add --commit)" in dry.output
    assert "new version 370199001001003 v1 测试网格1001-1" in dry.output
    assert "closed 370199001001001 v1" in dry.output
    assert "re-filed: buildings 5, places 1, incidents 4" in dry.output
    assert _grid_rows(db) == before
    done = run(
        "plans",
        "publish",
        str(plan_id),
        "--user",
        "t_planner",
        "--effective-at",
        "2026-06-01T00:00:00+08:00",
        "--commit",
    )
    assert done.exit_code == 0, done.output
    assert "Published: plan" in done.output
    assert len(_grid_rows(db)) == len(before) + 2


def test_publish_errors_are_bilingual_and_exit_1(run: Invoke, plan_id: int) -> None:
    result = run("plans", "publish", str(plan_id), "--user", "nobody")
    assert result.exit_code == 1
    assert "没有用户" in result.output and "There is no user" in result.output


def test_sizhi_regenerate_and_sizing(run: Invoke, db: Session, world: World) -> None:
    shown = run("grids", "sizhi", GRID_A2)
    assert shown.exit_code == 0, shown.output
    assert "generated: 东至测试路，南至社区边界，西至测试网格1001，北至社区边界" in shown.output
    dry = run("grids", "sizhi", GRID_A2, "--regenerate")
    assert "would be rewritten (add --commit)" in dry.output
    stored = db.execute(
        text("SELECT sizhi FROM grids WHERE code = :c"), {"c": GRID_A2}
    ).scalar_one()
    assert (
        stored == "东至测试路，南至测试南街，西至测试西路，北至测试北路"
    )  # the world's placeholder
    done = run("grids", "sizhi", GRID_A2, "--regenerate", "--commit")
    assert done.exit_code == 0, done.output
    assert f"{GRID_A2} → 东至测试路，南至社区边界，西至测试网格1001，北至社区边界" in done.output
    stored = db.execute(
        text("SELECT sizhi FROM grids WHERE code = :c"), {"c": GRID_A2}
    ).scalar_one()
    assert stored == "东至测试路，南至社区边界，西至测试网格1001，北至社区边界"
    sizing = run("grids", "sizing", COMMUNITY_A)
    assert sizing.exit_code == 0, sizing.output
    assert "120–160" in sizing.output and "below -119" in sizing.output
