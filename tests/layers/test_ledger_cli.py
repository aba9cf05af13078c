"""``wangge import`` / ``wangge export`` (layers.ledger.cli), run against the test transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import typer
from openpyxl import load_workbook
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from layers.ledger import cli
from tests.conftest import audit_rows
from tests.fixtures.ledger import (
    PERSON_HEADERS,
    mixed_person_rows,
    table_counts,
    xlsx_bytes,
)
from tests.fixtures.world import World

# The commands as the lead registers them under ``wangge`` (merged into the root app).
root = typer.Typer()
root.add_typer(cli.app)


@pytest.fixture
def runner(db: Session, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A CLI runner whose commands use the test's rolled-back session (a wide console)."""

    @contextmanager
    def test_session() -> Iterator[Session]:
        with db.begin_nested():
            yield db

    monkeypatch.setattr(cli, "open_session", test_session)
    monkeypatch.setattr(cli, "console", cli.Console(width=200, force_terminal=False))
    return CliRunner()


@pytest.fixture
def ledger_file(tmp_path: Path) -> Path:
    path = tmp_path / "人口台账.xlsx"
    path.write_bytes(xlsx_bytes(PERSON_HEADERS, mixed_person_rows(), text_columns=("身份证号",)))
    return path


def test_import_is_a_dry_run_that_prints_every_bad_row(
    runner: CliRunner, world: World, db: Session, ledger_file: Path
) -> None:
    before = table_counts(db)
    result = runner.invoke(root, ["import", "persons", str(ledger_file), "--as", "t_ca_a"])
    assert result.exit_code == 1, result.output
    out = result.output
    for row, reason in [
        (4, "身份证号码校验位错误"),
        (5, "身份证号被存为数字，已丢失位数，请将该列设为文本"),
        (6, "地址未匹配到您辖区内的任何建筑"),
        (7, "坐标不在任何网格内"),
        (8, "姓名不能为空"),
        (9, "电话号码无效"),
        (10, "坐标顺序应为经度,纬度"),
    ]:
        assert reason in out, (row, out)
    assert "rows 10: good 3, bad 7; would create: houses 2, households 2, persons 3" in out
    assert "Dry run: nothing was written." in out
    assert table_counts(db) == before


def test_commit_all_or_nothing_refuses_and_skip_bad_rows_writes(
    runner: CliRunner, world: World, db: Session, ledger_file: Path
) -> None:
    before = table_counts(db)
    args = ["import", "persons", str(ledger_file), "--as", "t_ca_a", "--commit"]
    refused = runner.invoke(root, args)
    assert refused.exit_code == 1, refused.output
    assert "Refused: the ledger has bad rows, nothing was written." in refused.output
    assert table_counts(db) == before

    written = runner.invoke(root, [*args, "--skip-bad-rows"])
    assert written.exit_code == 0, written.output
    assert "created: houses 2, households 2, persons 3, person_care_groups 1" in written.output
    assert "Committed." in written.output
    assert table_counts(db)["persons"] == before["persons"] + 3
    audits = audit_rows(db, action="import", username="t_ca_a")
    assert [a.detail["outcome"] for a in audits] == ["rejected", "committed"]
    assert {a.client_ip for a in audits} == {"cli"}


def test_export_writes_the_ledger_of_the_users_area(
    runner: CliRunner, world: World, db: Session, tmp_path: Path
) -> None:
    out = tmp_path / "out.xlsx"
    result = runner.invoke(root, ["export", "persons", str(out), "--as", "t_gw_a"])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    sheet = load_workbook(out).active
    assert sheet is not None
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert [r[0] for r in rows] == ["姓名", "张三"]
    assert rows[1][2] == "370199***********0"  # a grid worker gets masked ID numbers
    assert len(audit_rows(db, action="export", username="t_gw_a")) == 1


def test_errors_are_explained_and_write_nothing(
    runner: CliRunner, world: World, tmp_path: Path, ledger_file: Path
) -> None:
    unknown = runner.invoke(root, ["import", "persons", str(ledger_file), "--as", "nobody"])
    assert unknown.exit_code == 2
    assert "不存在用户" in unknown.output
    planner = runner.invoke(root, ["import", "persons", str(ledger_file), "--as", "t_planner"])
    assert planner.exit_code == 2
    assert "仅网格员、社区管理员和街道管理员可导入或导出台账" in planner.output
    xls = tmp_path / "old.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 64)
    old = runner.invoke(root, ["import", "persons", str(xls), "--as", "t_ca_a"])
    assert old.exit_code == 2
    assert "另存为 .xlsx" in old.output
    wrong = runner.invoke(root, ["export", "persons", str(tmp_path / "x.pdf"), "--as", "t_ca_a"])
    assert wrong.exit_code == 2


def test_progress_is_shown_for_each_stage(
    runner: CliRunner, world: World, ledger_file: Path
) -> None:
    result = runner.invoke(root, ["import", "persons", str(ledger_file), "--as", "t_ca_a"])
    for label in ("read 读取", "check 检查", "locate 定位", "write 写入"):
        assert label in result.output
