"""The places (场所台账) and houses (房屋台账) ledgers: located, checked, written, exported."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.ledger.columns import LedgerKind
from layers.ledger.report import Outcome, Policy
from layers.ledger.service import export_ledger
from tests.fixtures.ledger import (
    BUILDING_CENTRES,
    principal,
    problem_triples,
    run_import,
    table_counts,
    xlsx_bytes,
)
from tests.fixtures.world import GRID_A1, GRID_A2, World

PLACE_HEADERS = ("名称", "类型", "地址", "经度", "纬度", "坐标系", "负责部门", "联系人", "联系电话")


def places_written(db: Session) -> list[tuple]:
    return [
        tuple(r)
        for r in db.execute(
            text(
                "SELECT p.name, p.kind, p.address, round(ST_X(p.geom)::numeric, 6)::float, "
                "round(ST_Y(p.geom)::numeric, 6)::float, d.name, p.contact_name, "
                "p.contact_phone, g.code, p.checklist_kind FROM places p "
                "LEFT JOIN departments d ON d.id = p.department_id "
                "LEFT JOIN grids g ON g.id = p.grid_id "
                "WHERE p.name LIKE '台账%' ORDER BY p.id"
            )
        )
    ]


def test_places_ledger_imports_good_rows_and_reports_bad_ones(db: Session, world: World) -> None:
    b2 = BUILDING_CENTRES["2"]
    rows = [
        # 2: good, by coordinates; department by name
        ["台账超市", "商铺", "测试路8号", 117.0040, 36.6020, None, "测试消防救援站", "钱七",
         "13912345678"],
        # 3: good, by address only: a point inside building 2; department by code
        ["台账饭店", "餐饮店", "测试小区2号楼", None, None, None, "test-fire", None, None],
        # 4: unknown kind
        ["台账网吧", "网吧", None, 117.0040, 36.6030, None, None, None, None],
        # 5: unknown department
        ["台账诊所", "诊所", None, 117.0040, 36.6040, None, "不存在的部门", None, None],
        # 6: outside the area of community A (in B2)
        ["台账工地", "建筑工地", None, 117.0150, 36.6010, None, None, None, None],
        # 7: same place as row 2 (8 m away)
        ["台账超市", "商铺", None, 117.0041, 36.6020, None, None, None, None],
        # 8: bad contact phone
        ["台账宾馆", "宾馆", None, 117.0060, 36.6020, None, None, "孙八", "0531-123"],
        # 9: no location at all
        ["台账市场", "市场", None, None, None, None, None, None, None],
    ]  # fmt: skip
    data = xlsx_bytes(PLACE_HEADERS, rows)
    before = table_counts(db)
    report = run_import(
        db, world, data, kind=LedgerKind.places, commit=True, policy=Policy.skip_bad_rows
    )
    assert problem_triples(report) == [
        (4, "类型", "unknown-value"),
        (5, "负责部门", "unknown-department"),
        (6, "经度", "outside-area"),
        (7, "名称", "duplicate-place"),
        (8, "联系电话", "invalid-input"),
        (9, "地址", "no-location"),
    ]
    assert report.created == {"places": 2}
    assert table_counts(db)["places"] == before["places"] + 2
    assert places_written(db) == [
        ("台账超市", "shop", "测试路8号", 117.004, 36.602, "测试消防救援站", "钱七",
         "13912345678", GRID_A1, "fire_safety"),
        ("台账饭店", "restaurant", "测试小区2号楼", b2[0], b2[1], "测试消防救援站", None, None,
         GRID_A2, "food_safety"),
    ]  # fmt: skip


def test_places_round_trip_and_update(db: Session, world: World) -> None:
    rows = [["台账超市", "商铺", "测试路8号", 117.0040, 36.6020, None, None, "钱七", None]]
    run_import(db, world, xlsx_bytes(PLACE_HEADERS, rows), kind=LedgerKind.places, commit=True)
    exported = export_ledger(
        db, principal=principal(db, world, "t_ca_a"), kind=LedgerKind.places, file_format="csv"
    )
    lines = exported.decode("utf-8-sig").splitlines()
    assert lines[0] == "名称,类型,地址,经度,纬度,坐标系,负责部门,联系人,联系电话"
    # the world's school and the imported shop
    assert lines[1:] == [
        "测试小学,学校,,117.0030000,36.6080000,EPSG:4326,测试消防救援站,王五,13655556666",
        "台账超市,商铺,测试路8号,117.0040000,36.6020000,EPSG:4326,,钱七,",
    ]
    again = run_import(
        db, world, exported, kind=LedgerKind.places, filename="places.csv", commit=True
    )
    assert (again.created, again.updated, again.unchanged) == ({"places": 0}, {"places": 0}, 2)
    changed = [["台账超市", "商铺", None, 117.00401, 36.6020, None, None, None, "13911112222"]]
    report = run_import(
        db, world, xlsx_bytes(PLACE_HEADERS, changed), kind=LedgerKind.places, commit=True
    )
    assert (report.created, report.updated) == ({"places": 0}, {"places": 1})
    assert places_written(db)[0][3:8] == (117.00401, 36.602, None, "钱七", "13911112222")


HOUSE_HEADERS = ("小区", "楼栋", "单元", "楼层", "房号", "用途", "面积", "是否出租")


def test_houses_ledger_creates_and_updates_houses(db: Session, world: World) -> None:
    rows = [
        ["测试小区", "1号楼", "1", "3", "301", "住宅", "89.5", "是"],  # the world's house: update
        ["测试小区", "1号楼", "2", None, "502", "商业", None, "否"],  # new, floor from the room
        ["测试小区", "2号楼", "1", None, "A1", "住宅", None, None],  # new, no floor
        ["测试小区", "2号楼", "1", "1", "101", "仓库", "-3", "也许"],  # bad use, area, rental
        ["测试小区", "1号楼", "2", "5", "502", None, None, None],  # same house as row 3
    ]
    report = run_import(
        db,
        world,
        xlsx_bytes(HOUSE_HEADERS, rows),
        kind=LedgerKind.houses,
        commit=True,
        policy=Policy.skip_bad_rows,
    )
    assert problem_triples(report) == [
        (4, "楼层", "floor-missing"),
        (5, "用途", "unknown-value"),
        (5, "面积", "not-a-number"),
        (5, "是否出租", "unknown-value"),
        (6, "房号", "duplicate-house"),
    ]
    assert report.outcome is Outcome.committed
    assert (report.created, report.updated, report.unchanged) == (
        {"houses": 1},
        {"houses": 1},
        0,
    )
    houses = db.execute(
        text(
            "SELECT b.code, h.unit, h.floor, h.room, h.use, h.area_m2::float, h.is_rental "
            "FROM houses h JOIN buildings b ON b.id = h.building_id "
            "WHERE b.code LIKE 'T-%' ORDER BY h.id"
        )
    ).all()
    assert [tuple(h) for h in houses] == [
        ("T-1", "1", 3, "301", "residential", 89.5, True),
        ("T-1", "2", 5, "502", "commercial", None, False),
    ]


def test_houses_export_round_trip(db: Session, world: World) -> None:
    exported = export_ledger(
        db, principal=principal(db, world, "t_gw_a"), kind=LedgerKind.houses, file_format="xlsx"
    )
    report = run_import(db, world, exported, kind=LedgerKind.houses, username="t_gw_a")
    assert report.problems == []
    assert (report.rows_total, report.unchanged, report.created) == (1, 1, {"houses": 0})
