"""``wangge grids validate / repair / import / export`` through typer's CliRunner."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from layers.grids import validate_cli
from layers.grids.validate_cli import app
from layers.models import Grid
from tests.fixtures.coverage import COMMUNITY_C, CoverageWorld, G, build_coverage_world
from tests.fixtures.world import COMMUNITY_A, GRID_A1, GRID_A2, World

Run = Callable[..., Result]


@pytest.fixture
def cw(db: Session, world: World) -> CoverageWorld:
    return build_coverage_world(db, world)


@pytest.fixture
def run(db: Session, monkeypatch: pytest.MonkeyPatch) -> Run:
    """Invoke the CLI in the test's session (rolled back after the test), on a wide console."""
    monkeypatch.setattr(validate_cli.console, "width", 250)

    @contextmanager
    def opener() -> Iterator[Session]:
        yield db

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(app, list(args), obj={"session": opener})

    return invoke


def _versions(db: Session, prefix: str) -> list[tuple[str, int]]:
    rows = db.execute(
        select(Grid.code, Grid.version).where(Grid.code.startswith(prefix)).order_by(Grid.code)
    )
    return [tuple(r) for r in rows]


def test_validate_prints_the_problems_and_exits_2_when_invalid(
    run: Run, cw: CoverageWorld, tmp_path: Path
):
    out = tmp_path / "problems.geojson"
    result = run("validate", COMMUNITY_C, "--geojson", str(out))
    assert result.exit_code == 2, result.output
    assert "春风社区的 6 个网格中发现 3 处错误、2 处细小缝隙或重叠、5 条提示" in result.output
    assert f"网格 {G[2]} 与 {G[3]} 交叉重叠" in result.output
    assert "straddling_building" in result.output
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written["type"] == "FeatureCollection" and len(written["features"]) == 10


def test_validate_a_clean_community_exits_0(run: Run, world: World):
    result = run("validate", COMMUNITY_A, "--tolerance-m", "1")
    assert result.exit_code == 0, result.output
    assert "2 个网格完整覆盖东风社区，无空白、无交叉重叠" in result.output


def test_validate_bad_code_exits_1_with_both_languages(run: Run, world: World):
    result = run("validate", "12345")
    assert result.exit_code == 1
    assert "parent must be a 12-digit community or street code" in result.output
    assert "parent 应为 12 位社区或街道代码" in result.output


def test_repair_is_a_dry_run_unless_commit(run: Run, db: Session, cw: CoverageWorld):
    before = _versions(db, COMMUNITY_C)
    dry = run("repair", COMMUNITY_C)
    assert dry.exit_code == 0, dry.output
    for code in (G[2], G[3], G[5]):
        assert code in dry.output
    assert "1 → 2" in dry.output
    assert "Dry run: nothing written" in dry.output
    assert _versions(db, COMMUNITY_C) == before

    refused = run("repair", COMMUNITY_C, "--commit")
    assert refused.exit_code == 1 and "--commit needs --user" in refused.output

    done = run("repair", COMMUNITY_C, "--commit", "--user", "t_planner2")
    assert done.exit_code == 0, done.output
    assert "Wrote 3 new grid version(s)" in done.output
    assert [v for v in _versions(db, COMMUNITY_C) if v[1] == 2] == [(G[2], 2), (G[3], 2), (G[5], 2)]


def test_repair_as_a_user_without_the_role_is_refused(run: Run, cw: CoverageWorld):
    result = run("repair", COMMUNITY_C, "--commit", "--user", "t_ca_c")
    assert result.exit_code == 1
    assert "仅网格规划员、街道管理员和系统管理员可以修复网格" in result.output


def test_export_then_import_round_trip(run: Run, db: Session, world: World, tmp_path: Path):
    out = tmp_path / "a.gpkg"
    exported = run("export", COMMUNITY_A, str(out))
    assert exported.exit_code == 0, exported.output
    assert "2 grid(s)" in exported.output and out.stat().st_size > 0

    dry = run("import", str(out), "--parent", COMMUNITY_A)
    assert dry.exit_code == 0, dry.output
    assert GRID_A1 in dry.output and GRID_A2 in dry.output
    assert "unchanged" in dry.output and "Dry run: nothing written" in dry.output

    before = _versions(db, COMMUNITY_A)
    done = run("import", str(out), "--parent", COMMUNITY_A, "--commit", "--user", "t_planner")
    assert done.exit_code == 0, done.output
    assert _versions(db, COMMUNITY_A) == before  # unchanged grids are not rewritten


def test_import_errors_and_missing_files(run: Run, world: World, tmp_path: Path):
    missing = run("import", str(tmp_path / "nope.geojson"), "--parent", COMMUNITY_A)
    assert missing.exit_code == 1 and "No such file" in missing.output
    odd = tmp_path / "grids.dxf"
    odd.write_bytes(b"0")
    result = run("import", str(odd), "--parent", COMMUNITY_A)
    assert result.exit_code == 1 and "不支持的文件类型" in result.output


def test_export_needs_a_known_format(run: Run, world: World, tmp_path: Path):
    result = run("export", COMMUNITY_A, str(tmp_path / "grids.txt"))
    assert result.exit_code == 1 and "--format" in result.output
    kml = tmp_path / "grids.txt"
    result = run("export", COMMUNITY_A, str(kml), "--format", "kml", "--at", "2026-06-01T00:00:00Z")
    assert result.exit_code == 0, result.output
    assert kml.read_text(encoding="utf-8").count("<Placemark") == 2
