"""``wangge address search`` / ``reverse`` run with typer's CliRunner on the test session."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from layers.address.cli import app
from tests.conftest import audit_rows
from tests.fixtures.world import GRID_A1, World

runner = CliRunner()
WIDE = {"COLUMNS": "200"}
ADDRESS_1 = "济南市测试区测试街道测试路1号测试小区1号楼"


@pytest.fixture
def sessions(db: Session) -> Callable[[], AbstractContextManager[Session]]:
    """A session opener handing the CLI the test's rolled-back session (layers/cli_support)."""

    @contextmanager
    def opener() -> Iterator[Session]:
        yield db

    return opener


def test_search_prints_the_house_grid_and_score(
    db: Session, world: World, sessions: Callable
) -> None:
    result = runner.invoke(
        app, ["search", "测试小区1栋1单元301", "--limit", "1"], obj={"session": sessions}, env=WIDE
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("解析: ") and "'compound': '测试小区'" in lines[0]
    assert lines[1].startswith(f"1. {ADDRESS_1}1单元301室  [建筑 T-1, 网格 {GRID_A1}, 得分 ")
    assert len(lines) == 2
    # the operator sees staff masked, and the read is audited as "cli"
    [audit] = [a for a in audit_rows(db, action="read", username="cli") if a.resource == "grids"]
    assert audit.resource_ids == [world.grids[GRID_A1]]
    assert audit.unmasked is False


def test_search_json_masks_staff_for_the_operator(world: World, sessions: Callable) -> None:
    result = runner.invoke(
        app, ["search", "测试路1号", "--limit", "1", "--json"], obj={"session": sessions}
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    [hit] = body["hits"]
    assert hit["building"]["id"] == world.buildings["1"]
    assert hit["grid"]["staff"] == [{"name": "测*******", "duty": "leader", "phone": "137****2222"}]


def test_search_as_a_user_is_scoped_to_the_users_area(world: World, sessions: Callable) -> None:
    result = runner.invoke(
        app,
        ["search", "测试小区1号楼", "--user", "t_gw_b", "--json", "--limit", "50"],
        obj={"session": sessions},
    )
    assert result.exit_code == 0, result.output
    found = {hit["building"]["id"] for hit in json.loads(result.output)["hits"]}
    assert found <= {world.buildings["3"], world.buildings["4"]}


def test_search_errors_exit_1_with_both_languages(world: World, sessions: Callable) -> None:
    result = runner.invoke(app, ["search", "   "], obj={"session": sessions})
    assert result.exit_code == 1
    assert "请输入要查找的地址" in result.output and "The query is empty" in result.output
    result = runner.invoke(
        app, ["search", "测试路1号", "--user", "nobody"], obj={"session": sessions}
    )
    assert result.exit_code == 1
    assert "账号 'nobody' 不存在" in result.output


def test_search_without_a_match_says_so(world: World, sessions: Callable) -> None:
    result = runner.invoke(app, ["search", "，。"], obj={"session": sessions})
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "未找到 (no match)"


def test_reverse_prints_the_building_and_grid(world: World, sessions: Callable) -> None:
    result = runner.invoke(app, ["reverse", "117.0025", "36.605"], obj={"session": sessions})
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"地址: {ADDRESS_1}",
        "建筑: T-1 (覆盖该点)",
        f"网格: {GRID_A1} 测试网格1001",
    ]
    result = runner.invoke(app, ["reverse", "36.605", "117.0025"], obj={"session": sessions})
    assert result.exit_code == 1
