"""The persons ledger against the real PostGIS: good rows imported, each bad row reported."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.access import mask_id_number, mask_phone
from layers.ledger.columns import LedgerKind
from layers.ledger.report import Outcome, Policy
from layers.ledger.service import export_ledger
from tests.conftest import audit_rows
from tests.fixtures.ledger import (
    BUILDING_CENTRES,
    HAN_MEIMEI,
    LI_LEI,
    MIXED_PROBLEMS,
    PERSON_HEADERS,
    WANG_FANG,
    broken_checksum,
    csv_bytes,
    give_world_person_a_valid_id,
    mixed_person_rows,
    principal,
    problem_triples,
    resident_id,
    run_import,
    table_counts,
    xlsx_bytes,
)
from tests.fixtures.world import World


def mixed_xlsx() -> bytes:
    return xlsx_bytes(PERSON_HEADERS, mixed_person_rows(), text_columns=("身份证号", "户号"))


def imported_people(db: Session) -> list[tuple]:
    """Persons written by the tests into the world's buildings (not 张三's T-HH-1), with house.

    Restricted to the world's buildings (codes T-*): the demo street may share the database.
    """
    return [
        tuple(r)
        for r in db.execute(
            text(
                "SELECT p.name, p.gender, p.birth_date, p.id_number, p.phone, p.residence, "
                "p.relation_to_head, hh.household_no LIKE 'LG-%' AS generated, "
                "hh.household_no, hh.residence, b.code, h.unit, h.floor, h.room "
                "FROM persons p JOIN households hh ON hh.id = p.household_id "
                "JOIN houses h ON h.id = hh.house_id JOIN buildings b ON b.id = h.building_id "
                "WHERE hh.household_no NOT LIKE 'T-HH-%' AND b.code LIKE 'T-%' ORDER BY p.id"
            )
        )
    ]


EXPECTED_PEOPLE = [
    ("李雷", "male", date(1985, 3, 12), LI_LEI, "13800138000", "registered", "户主",
     False, "T-L-1", "registered", "T-1", "1", 3, "302"),
    ("韩梅梅", "female", date(1987, 5, 21), HAN_MEIMEI, "13900139000", "floating", "配偶",
     False, "T-L-1", "registered", "T-1", "1", 3, "302"),
    ("冯娟", "female", None, None, "13100131000", "floating", None,
     True, None, "floating", "T-2", "", 5, "501"),
]  # fmt: skip


def without_household_no(rows: list[tuple]) -> list[tuple]:
    """Generated household numbers (LG-<house id>) depend on ids: compare them as None."""
    return [r[:8] + ((None,) if r[7] else (r[8],)) + r[9:] for r in rows]


def test_xlsx_with_good_and_bad_rows_imports_the_good_ones_and_reports_each_bad_one(
    db: Session, world: World
) -> None:
    before = table_counts(db)
    report = run_import(db, world, mixed_xlsx(), commit=True, policy=Policy.skip_bad_rows)

    assert problem_triples(report) == MIXED_PROBLEMS
    assert (report.rows_total, report.rows_good, report.rows_bad) == (10, 3, 7)
    assert report.outcome is Outcome.committed and report.committed
    assert report.created == {
        "houses": 2,
        "households": 2,
        "persons": 3,
        "person_care_groups": 1,
    }
    assert report.updated == {"persons": 0}
    assert without_household_no(imported_people(db)) == EXPECTED_PEOPLE
    after = table_counts(db)
    assert {k: after[k] - before[k] for k in after} == {
        "houses": 2,
        "households": 2,
        "persons": 3,
        "person_care_groups": 1,
        "places": 0,
    }
    care = db.execute(
        text(
            "SELECT p.name, c.category_code FROM person_care_groups c "
            "JOIN persons p ON p.id = c.person_id WHERE p.id_number = :n"
        ),
        {"n": LI_LEI},
    ).all()
    assert [tuple(r) for r in care] == [("李雷", "disabled")]


def test_each_bad_row_is_reported_with_masked_value_and_both_languages(
    db: Session, world: World
) -> None:
    report = run_import(db, world, mixed_xlsx())
    by_row = {p.row: p for p in report.problems}
    assert by_row[4].value == mask_id_number(broken_checksum(WANG_FANG))
    assert by_row[4].reason_zh == "身份证号码校验位错误，请核对是否输错"
    assert by_row[5].reason_zh == "身份证号被存为数字，已丢失位数，请将该列设为文本"
    assert "lost digits" in by_row[5].reason_en
    assert by_row[6].value == "测试小区9号楼1单元101室"
    assert by_row[6].reason_zh == "地址未匹配到您辖区内的任何建筑"
    assert by_row[7].value == "117.05"
    assert by_row[7].reason_zh == "坐标不在任何网格内，请检查经纬度和坐标系"
    assert by_row[8].reason_zh == "姓名不能为空"
    assert by_row[9].value == mask_phone("12345")
    assert "11位手机号码" in by_row[9].reason_zh
    assert by_row[10].value == str(BUILDING_CENTRES["1"][0])
    assert "坐标顺序应为经度,纬度" in by_row[10].reason_zh
    assert "lon,lat" in by_row[10].reason_en
    for problem in report.problems:
        assert problem.reason_zh and problem.reason_en


def test_all_or_nothing_writes_nothing_when_a_row_is_bad(db: Session, world: World) -> None:
    before = table_counts(db)
    report = run_import(db, world, mixed_xlsx(), commit=True)
    assert report.outcome is Outcome.rejected and not report.committed
    assert problem_triples(report) == MIXED_PROBLEMS
    # the counts say what the good rows would have written
    assert report.created["persons"] == 3
    assert table_counts(db) == before
    assert imported_people(db) == []


def test_dry_run_writes_nothing_and_reports_what_it_would_write(db: Session, world: World) -> None:
    before = table_counts(db)
    report = run_import(db, world, mixed_xlsx(), policy=Policy.skip_bad_rows)
    assert report.outcome is Outcome.checked and report.dry_run
    assert report.created == {"houses": 2, "households": 2, "persons": 3, "person_care_groups": 1}
    assert problem_triples(report) == MIXED_PROBLEMS
    assert table_counts(db) == before


def test_a_clean_ledger_commits_under_all_or_nothing(db: Session, world: World) -> None:
    rows = [r for i, r in enumerate(mixed_person_rows(), start=2) if i in (2, 3, 11)]
    report = run_import(db, world, xlsx_bytes(PERSON_HEADERS, rows), commit=True)
    assert report.outcome is Outcome.committed
    assert report.problems == []
    assert without_household_no(imported_people(db)) == EXPECTED_PEOPLE


def test_the_import_is_audited_with_counts_and_the_person_ids(db: Session, world: World) -> None:
    run_import(db, world, mixed_xlsx(), commit=True, policy=Policy.skip_bad_rows)
    [audit] = audit_rows(db, action="import", username="t_ca_a")
    ids = sorted(
        db.execute(
            text(
                "SELECT p.id FROM persons p JOIN households hh ON hh.id = p.household_id "
                "JOIN houses h ON h.id = hh.house_id JOIN buildings b ON b.id = h.building_id "
                "WHERE hh.household_no NOT LIKE 'T-HH-%' AND b.code LIKE 'T-%'"
            )
        ).scalars()
    )
    assert audit.resource == "persons"
    assert audit.resource_ids == ids
    assert audit.fields == ["name", "id_number", "phone"]
    assert audit.unmasked is False
    assert audit.detail["outcome"] == "committed"
    assert audit.detail["rows_bad"] == 7
    assert audit.detail["created"]["persons"] == 3


def test_a_dry_run_is_audited_without_ids(db: Session, world: World) -> None:
    run_import(db, world, mixed_xlsx())
    [audit] = audit_rows(db, action="import", username="t_ca_a")
    assert audit.resource_ids == []
    assert (audit.detail["dry_run"], audit.detail["outcome"]) == (True, "checked")


def test_gb18030_csv_imports_like_the_xlsx(db: Session, world: World) -> None:
    rows = [r for i, r in enumerate(mixed_person_rows(), start=2) if i in (2, 3, 11)]
    data = csv_bytes(PERSON_HEADERS, rows, encoding="gb18030")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    report = run_import(db, world, data, filename="人口台账.csv", commit=True)
    assert (report.file_format, report.encoding) == ("csv", "gb18030")
    assert report.problems == []
    assert without_household_no(imported_people(db)) == EXPECTED_PEOPLE


def test_csv_id_number_in_scientific_notation_is_reported(db: Session, world: World) -> None:
    row = list(mixed_person_rows()[0])
    row[2] = "3.70112E+17"
    report = run_import(db, world, csv_bytes(PERSON_HEADERS, [row]), filename="a.csv")
    assert problem_triples(report) == [(2, "身份证号", "numeric-cell")]


@pytest.mark.parametrize("file_format", ["xlsx", "csv"])
def test_export_then_reimport_changes_nothing(db: Session, world: World, file_format: str) -> None:
    give_world_person_a_valid_id(db, world)
    run_import(db, world, mixed_xlsx(), commit=True, policy=Policy.skip_bad_rows)
    before = table_counts(db)
    people = imported_people(db)
    exported = export_ledger(
        db,
        principal=principal(db, world, "t_ca_a"),
        kind=LedgerKind.persons,
        file_format=file_format,
    )
    report = run_import(db, world, exported, filename=f"人口台账.{file_format}", commit=True)
    assert report.problems == []
    assert (report.rows_total, report.rows_good) == (4, 4)  # 张三 of the world + 3 imported
    assert report.created == {"houses": 0, "households": 0, "persons": 0, "person_care_groups": 0}
    assert report.updated == {"persons": 0}
    assert report.unchanged == 4
    assert table_counts(db) == before
    assert imported_people(db) == people


def test_a_second_import_updates_the_person_with_the_same_id_number(
    db: Session, world: World
) -> None:
    rows = [r for i, r in enumerate(mixed_person_rows(), start=2) if i in (2, 3)]
    run_import(db, world, xlsx_bytes(PERSON_HEADERS, rows), commit=True)
    moved = list(rows[0])
    moved[3] = "13800000001"  # new phone
    moved[6] = "T-L-9"  # new household ...
    moved[7] = "测试小区2号楼2单元101"  # ... in building 2
    moved[11] = None
    report = run_import(db, world, xlsx_bytes(PERSON_HEADERS, [moved]), commit=True)
    assert report.problems == []
    assert report.created == {"houses": 1, "households": 1, "persons": 0, "person_care_groups": 0}
    assert (report.updated, report.unchanged) == ({"persons": 1}, 0)
    li = db.execute(
        text(
            "SELECT p.phone, hh.household_no, b.code, h.unit, h.floor, h.room FROM persons p "
            "JOIN households hh ON hh.id = p.household_id JOIN houses h ON h.id = hh.house_id "
            "JOIN buildings b ON b.id = h.building_id WHERE p.id_number = :n"
        ),
        {"n": LI_LEI},
    ).one()
    assert tuple(li) == ("13800000001", "T-L-9", "T-2", "2", 1, "101")
    # the care group filed by the first import is kept (a blank cell erases nothing)
    assert (
        db.execute(
            text(
                "SELECT count(*) FROM person_care_groups c JOIN persons p ON p.id = c.person_id "
                "WHERE p.id_number = :n"
            ),
            {"n": LI_LEI},
        ).scalar_one()
        == 1
    )


def test_rows_that_conflict_with_each_other_or_the_register(db: Session, world: World) -> None:
    headers = ("姓名", "性别", "身份证号", "户号", "地址", "关爱类别")
    a, b = resident_id("19800101", "011"), resident_id("19800202", "021")
    rows = [
        ["甲", "男", a, "T-L-1", "测试小区1号楼1单元101", None],
        ["乙", "男", a, "T-L-1", "测试小区1号楼1单元101", None],  # 3: same ID as row 2
        ["丙", "男", b, "T-L-1", "测试小区2号楼1单元101", None],  # 4: household elsewhere in file
        ["丁", "男", None, "T-HH-1", "测试小区1号楼1单元101", None],  # 5: 户号 of another house
        ["戊", "女", None, None, "测试小区1号楼1单元101", "不存在的类别"],  # 6: unknown category
        ["己", "男", None, None, "测试小区1号楼", None],  # 7: no room
        ["庚", "男", None, None, "1号楼1单元101", None],  # 8: good: a suffix of one address
        ["辛", "女", None, None, "号楼1单元101", None],  # 9: a suffix of both addresses in A
        ["壬", "男", None, None, "测试小区1号楼1单元A1", None],  # 10: new house, no floor
        ["庚", "男", None, None, "测试小区1号楼1单元101", None],  # 11: row 8 again
    ]
    report = run_import(db, world, xlsx_bytes(headers, rows, text_columns=("身份证号",)))
    assert problem_triples(report) == [
        (3, "身份证号", "duplicate-id"),
        (4, "户号", "household-split"),
        (5, "户号", "household-elsewhere"),
        (6, "关爱类别", "unknown-care-group"),
        (7, "地址", "room-missing"),
        (9, "地址", "address-ambiguous"),
        (10, "楼层", "floor-missing"),
        (11, "姓名", "duplicate-person"),
    ]
    details = {p.row: p.reason_zh for p in report.problems}
    assert details[3] == "身份证号与第 2 行重复"
    assert details[4] == "同一户号在第 2 行对应另一处房屋"
    assert details[6] == "关爱类别“不存在的类别”不存在"
    assert details[11] == "与第 8 行是同一人（同一房屋内同名且均无身份证号）"
    assert details[9] == "地址匹配到 2 栋建筑，请填写更完整的地址（含小区和楼号）"


def test_gender_must_agree_with_the_id_number(db: Session, world: World) -> None:
    headers = ("姓名", "性别", "身份证号", "地址")
    rows = [["李雷", "女", LI_LEI, "测试小区1号楼1单元302"]]
    report = run_import(db, world, xlsx_bytes(headers, rows))
    assert problem_triples(report) == [(2, "性别", "invalid-input")]
    assert report.problems[0].reason_zh == "性别与身份证号码不符"


def test_grid_worker_cannot_file_people_outside_their_community(db: Session, world: World) -> None:
    headers = ("姓名", "性别", "地址", "房号", "经度", "纬度")
    b3 = BUILDING_CENTRES["3"]  # community B
    rows = [
        ["甲", "男", "测试小区3号楼", "101", None, None],  # B's building: not in A's register
        ["乙", "男", None, "101", b3[0], b3[1]],  # a point on B's building
        ["丙", "男", None, "101", 117.0025, 36.6080],  # in A, but 300 m from any building
    ]
    report = run_import(db, world, xlsx_bytes(headers, rows), username="t_gw_a")
    assert problem_triples(report) == [
        (2, "地址", "address-unknown"),
        (3, "经度", "outside-area"),
        (4, "经度", "no-building-near"),
    ]


def test_an_id_number_registered_outside_the_area_is_refused(db: Session, world: World) -> None:
    number = give_world_person_a_valid_id(db, world)  # 张三 lives in community A
    headers = ("姓名", "性别", "身份证号", "地址")
    rows = [["张三", "男", number, "测试小区3号楼1单元101"]]
    report = run_import(db, world, xlsx_bytes(headers, rows), username="t_gw_b")
    assert problem_triples(report) == [(2, "身份证号", "id-outside-area")]


def test_address_and_coordinates_must_name_the_same_building(db: Session, world: World) -> None:
    headers = ("姓名", "性别", "地址", "经度", "纬度")
    b1, b2 = BUILDING_CENTRES["1"], BUILDING_CENTRES["2"]
    rows = [
        ["甲", "男", "测试小区1号楼1单元101", b2[0], b2[1]],
        # 10 m east of building 1's east wall: the nearest building within 15 m
        ["乙", "男", "测试小区1号楼1单元102", b1[0] + 0.0002 + 0.000112, b1[1]],
    ]
    report = run_import(db, world, xlsx_bytes(headers, rows))
    assert problem_triples(report) == [(2, "地址", "location-conflict")]


def test_split_address_columns_and_coordinates_in_another_crs(db: Session, world: World) -> None:
    from shapely.geometry import Point

    from layers.spatial.crs import GCJ02, from_storage

    gcj = from_storage(Point(BUILDING_CENTRES["4"]), GCJ02)
    headers = ("姓名", "性别", "小区", "楼栋", "单元", "楼层", "房号", "经度", "纬度", "坐标系")
    rows = [
        ["甲", "男", "测试小区", "3栋", "2单元", "5", "502室", None, None, None],
        ["乙", "女", None, None, "1", None, "1201", gcj.x, gcj.y, "GCJ-02"],
        ["丙", "女", None, None, "1", None, "101", 117.0025, 36.605, "EPSG:9999999"],
    ]
    report = run_import(db, world, xlsx_bytes(headers, rows), username="t_street", commit=True,
                        policy=Policy.skip_bad_rows)  # fmt: skip
    assert problem_triples(report) == [(4, "坐标系", "unknown-crs")]
    houses = db.execute(
        text(
            "SELECT b.code, h.unit, h.floor, h.room FROM houses h "
            "JOIN buildings b ON b.id = h.building_id WHERE b.code IN ('T-3', 'T-4') "
            "ORDER BY b.code"
        )
    ).all()
    assert [tuple(h) for h in houses] == [("T-3", "2", 5, "502"), ("T-4", "1", 12, "1201")]


def test_title_rows_above_the_header_keep_excel_row_numbers(db: Session, world: World) -> None:
    rows = [mixed_person_rows()[2]]  # the bad checksum
    data = xlsx_bytes(PERSON_HEADERS, rows, title_rows=[["东风社区人口台账"], []])
    report = run_import(db, world, data)
    assert report.header_row == 3
    assert problem_triples(report) == [(4, "身份证号", "invalid-input")]


def test_header_variants_are_understood(db: Session, world: World) -> None:
    headers = ("居民姓名", "公民身份号码", "手机号码", "人口类型", "户编号", "现住址", "备注")
    rows = [["李雷", LI_LEI, "13800138000", "流动人口", "T-L-1", "测试小区1号楼1单元302", "x"]]
    report = run_import(db, world, xlsx_bytes(headers, rows), commit=True)
    assert report.problems == []
    assert report.ignored_columns == ["备注"]
    residence = db.execute(
        text("SELECT residence FROM persons WHERE id_number = :n"), {"n": LI_LEI}
    ).scalar_one()
    assert residence == "floating"


def test_missing_columns_refuse_the_whole_file(db: Session, world: World) -> None:
    from layers.errors import InvalidInput

    with pytest.raises(InvalidInput) as caught:
        run_import(
            db, world, xlsx_bytes(("姓名", "性别", "联系电话"), [["甲", "男", "13800138000"]])
        )
    assert caught.value.field == "地址"
    assert "地址" in caught.value.message_zh


def test_planner_may_not_import(db: Session, world: World) -> None:
    from layers.errors import Forbidden

    with pytest.raises(Forbidden):
        run_import(db, world, mixed_xlsx(), username="t_planner")


def test_the_file_crs_applies_to_rows_without_their_own(db: Session, world: World) -> None:
    from shapely.geometry import Point

    from layers.spatial.crs import from_storage, parse_crs

    # CGCS2000 3-degree Gauss-Krüger zone 39 (central meridian 117°E): eastings of ~39 500 000 m
    gk = from_storage(Point(BUILDING_CENTRES["2"]), parse_crs("EPSG:4527"))
    assert 39_400_000 < gk.x < 39_600_000
    headers = ("姓名", "性别", "房号", "X", "Y")
    rows = [["甲", "男", "601", round(gk.x, 2), round(gk.y, 2)]]
    report = run_import(db, world, xlsx_bytes(headers, rows), crs="EPSG:4527", commit=True)
    assert report.problems == []
    assert report.created["houses"] == 1
    house = db.execute(
        text(
            "SELECT b.code, h.floor, h.room FROM houses h JOIN buildings b "
            "ON b.id = h.building_id WHERE h.room = '601' AND b.code LIKE 'T-%'"
        )
    ).one()
    assert tuple(house) == ("T-2", 6, "601")


def test_a_numeric_household_number_cell_is_read_as_its_digits(db: Session, world: World) -> None:
    headers = ("姓名", "性别", "户号", "地址")
    rows = [["甲", "男", 1001, "测试小区1号楼1单元302"]]
    report = run_import(db, world, xlsx_bytes(headers, rows), commit=True)
    assert report.problems == []
    assert (
        db.execute(text("SELECT count(*) FROM households WHERE household_no = '1001'")).scalar_one()
        == 1
    )
