"""Reading ledger files: file types, encodings, header rows and variants, numbers as text."""

from __future__ import annotations

import io
import zipfile

import pytest
from sqlalchemy import literal, select
from sqlalchemy.orm import Session

from layers.errors import InvalidInput
from layers.ledger.address import (
    clean_room,
    clean_unit,
    floor_from_room,
    normalise,
    split_address,
    sql_normalise,
)
from layers.ledger.columns import PERSONS, PLACES, LedgerKind, column_for_header
from layers.ledger.reading import (
    LedgerTooLarge,
    UnsupportedFileType,
    cell_text,
    check_size,
    detect_format,
    map_columns,
    read_table,
)
from tests.fixtures.ledger import LI_LEI, PERSON_HEADERS, csv_bytes, xlsx_bytes

ROW = ["李雷", "男", LI_LEI, "13800138000", "户籍", "户主", "T-1", "测试小区1号楼1单元302", None,
       None, None, None]  # fmt: skip


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gb18030", "utf-16"])
def test_csv_encodings_are_detected(encoding: str) -> None:
    table = read_table(csv_bytes(PERSON_HEADERS, [ROW], encoding=encoding), kind=LedgerKind.persons)
    assert table.file_format == "csv"
    assert table.encoding == {"utf-8-sig": "utf-8-sig", "utf-16": "utf-16"}.get(encoding, encoding)
    assert table.headers == list(PERSON_HEADERS)
    assert [r.cells[:3] for r in table.rows] == [("李雷", "男", LI_LEI)]
    assert table.rows[0].number == 2


def test_tab_separated_text_is_read_as_csv() -> None:
    data = ("\t".join(PERSON_HEADERS) + "\n" + "\t".join(v or "" for v in ROW) + "\n").encode()
    table = read_table(data, kind=LedgerKind.persons, filename="台账.txt")
    assert table.rows[0].cells[2] == LI_LEI


def test_xlsx_numbers_are_read_as_the_text_people_see_and_flagged() -> None:
    data = xlsx_bytes(
        ("姓名", "身份证号", "房号", "经度", "是否出租"),
        [["甲", 3.70112e17, 301.0, 117.0025, True]],
    )
    table = read_table(data, kind=LedgerKind.persons)
    [row] = table.rows
    assert row.cells == ("甲", "3.70112e+17", "301", "117.0025", "是")
    assert row.numeric == frozenset({1, 2, 3})


def test_blank_rows_are_skipped_but_keep_their_number() -> None:
    data = xlsx_bytes(("姓名", "地址"), [["甲", "a"], [None, None], ["乙", "b"]])
    table = read_table(data, kind=LedgerKind.persons)
    assert [(r.number, r.cells[0]) for r in table.rows] == [(2, "甲"), (4, "乙")]


def test_the_header_row_is_found_below_title_rows() -> None:
    data = xlsx_bytes(
        ("姓名", "地址"), [["甲", "a"]], title_rows=[["人口台账"], ["填报单位：东风社区"]]
    )
    table = read_table(data, kind=LedgerKind.persons)
    assert (table.header_row, table.rows[0].number, table.sheet) == (3, 4, "台账")


def test_a_file_without_a_header_row_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        read_table(csv_bytes(("a", "b"), [["1", "2"]]), kind=LedgerKind.persons)
    assert caught.value.field == "file"
    assert "表头" in caught.value.message_zh


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("身份证号码", "id_number"),
        ("公民身份号码", "id_number"),
        (" 身份证号 *", "id_number"),
        ("手机", "phone"),
        ("联系电话（手机）", "phone"),
        ("经度", "lon"),
        ("X", "lon"),
        ("经度(X)", "lon"),
        ("Ｙ", "lat"),
        ("房间号", "room"),
        ("备注", None),
    ],
)
def test_header_variants(header: str, key: str | None) -> None:
    assert column_for_header(LedgerKind.persons, header) == key


def test_place_headers_have_their_own_meaning() -> None:
    assert column_for_header(LedgerKind.places, "名称") == "name"
    assert column_for_header(LedgerKind.places, "联系人") == "contact_name"
    assert column_for_header(LedgerKind.persons, "名称") is None


def test_two_headers_for_one_column_are_refused() -> None:
    table = read_table(
        csv_bytes(("姓名", "身份证号", "公民身份号码"), [["甲", "1", "2"]]), kind=LedgerKind.persons
    )
    with pytest.raises(InvalidInput) as caught:
        map_columns(table, PERSONS)
    assert caught.value.field == "公民身份号码"


def test_unknown_headers_are_listed_as_ignored() -> None:
    table = read_table(
        csv_bytes(("名称", "类型", "备注"), [["a", "学校", "x"]]), kind=LedgerKind.places
    )
    cmap = map_columns(table, PLACES)
    assert cmap.ignored == ["备注"]
    assert cmap.index == {"name": 0, "kind": 1}


def _zip(names: list[str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, "x")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "filename", "phrase"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "台账.xls", ".xls"),
        (_zip(["word/document.xml"]), "台账.docx", "not an Excel"),
        (b"%PDF-1.7\n\x00\x01\x02", "台账.pdf", ".pdf"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", None, "binary"),
        ("姓名,地址\n".encode(), "台账.json", ".json"),
    ],
)
def test_unsupported_files_are_refused(data: bytes, filename: str | None, phrase: str) -> None:
    with pytest.raises(UnsupportedFileType) as caught:
        detect_format(data, filename)
    assert phrase in caught.value.message_en
    assert caught.value.field == "file"


def test_xlsx_is_recognised_by_content_whatever_its_name() -> None:
    data = xlsx_bytes(("姓名", "地址"), [["甲", "a"]])
    assert detect_format(data, "export.csv") == "xlsx"
    assert detect_format("姓名,地址\n".encode(), None) == "csv"


def test_empty_and_oversized_files_are_refused() -> None:
    with pytest.raises(InvalidInput):
        detect_format(b"", "a.csv")
    with pytest.raises(LedgerTooLarge):
        check_size(b"x" * 11, max_bytes=10)


def test_cell_text() -> None:
    from datetime import date, datetime

    assert cell_text(None) == ""
    assert cell_text(12.0) == "12"
    assert cell_text(117.0025) == "117.0025"
    assert cell_text(False) == "否"
    assert cell_text(datetime(2026, 3, 1)) == "2026-03-01"
    assert cell_text(date(2026, 3, 1)) == "2026-03-01"
    assert cell_text(" 甲 ") == "甲"


# ---- the address matcher --------------------------------------------------------------------

ADDRESS_SAMPLES = [
    "济南市测试区测试街道测试路1号测试小区1号楼",
    "测试小区１栋",
    "测试小区1#楼",
    "测试小区 1 幢",
    "阳光花园（东区）3号座",
    "ＡＢ小区12号栋",
    "测试路1号",
    "测试路 1-3 号",
    "",
]


def test_python_and_sql_normalisation_agree(db: Session) -> None:
    for sample in ADDRESS_SAMPLES:
        in_sql = db.execute(select(sql_normalise(literal(sample)))).scalar_one()
        assert in_sql == normalise(sample), sample


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("测试小区１栋", "测试小区1号楼"),
        ("测试小区1#楼", "测试小区1号楼"),
        ("测试小区 1 幢", "测试小区1号楼"),
        ("阳光花园（东区）3号座", "阳光花园东区3号楼"),
        ("ＡＢ小区12号栋", "ab小区12号楼"),
    ],
)
def test_building_variants_normalise_to_one_key(text: str, key: str) -> None:
    assert normalise(text) == key


@pytest.mark.parametrize(
    ("text", "building", "unit", "floor", "room"),
    [
        ("测试小区1号楼2单元301室", "测试小区1号楼", "2", None, "301"),
        ("测试小区1号楼2单元3层301", "测试小区1号楼", "2", 3, "301"),
        ("测试小区3号楼502室", "测试小区3号楼", None, None, "502"),
        ("测试小区1-2-301", "测试小区1号楼", "2", None, "301"),
        ("测试小区1号楼1单元A1", "测试小区1号楼", "1", None, "A1"),
        ("测试路1号", "测试路1号", None, None, None),
    ],
)
def test_split_address(
    text: str, building: str, unit: str | None, floor: int | None, room: str | None
) -> None:
    split = split_address(text)
    assert (split.building, split.unit, split.floor, split.room) == (building, unit, floor, room)


def test_units_rooms_and_floors() -> None:
    assert clean_unit("２单元") == "2"
    assert clean_room("301室") == "301"
    assert clean_room("北屋") == "北屋"
    assert [floor_from_room(r) for r in ("301", "1502", "12", "A01", "北屋")] == [
        3,
        15,
        None,
        None,
        None,
    ]
