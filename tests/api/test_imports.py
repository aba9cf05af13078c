"""HTTP: POST /imports/{kind} and GET /exports/{kind}.{format}, with status, media type, body."""

from __future__ import annotations

import csv
import io
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from layers.access import mask_id_number
from layers.ledger.reading import MAX_LEDGER_BYTES
from tests.api.helpers import assert_problem
from tests.conftest import audit_rows, login
from tests.fixtures.ledger import (
    LI_LEI,
    MIXED_PROBLEMS,
    PERSON_HEADERS,
    csv_bytes,
    give_world_person_a_valid_id,
    mixed_person_rows,
    table_counts,
    xlsx_bytes,
)
from tests.fixtures.world import PERSON_PHONE, World

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
JSON = "application/json"


def upload(
    client: TestClient,
    headers: dict[str, str],
    data: bytes,
    *,
    kind: str = "persons",
    filename: str = "人口台账.xlsx",
    content_type: str = XLSX,
    **params: str,
):
    return client.post(
        f"/imports/{kind}",
        headers=headers,
        params=params or None,
        files={"file": (filename, data, content_type)},
    )


def mixed_xlsx() -> bytes:
    return xlsx_bytes(PERSON_HEADERS, mixed_person_rows(), text_columns=("身份证号",))


def assert_refused(response, status: int, code: str) -> None:
    """A problem+json refusal without a field (authentication and role)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["status"], body["code"]) == (status, code)
    assert body["title_zh"] and body["detail"]


def triples(body: dict) -> list[tuple[int, str, str]]:
    return [(p["row"], p["column"], p["code"]) for p in body["problems"]]


def test_dry_run_returns_the_report_and_writes_nothing(
    client: TestClient, world: World, db: Session
) -> None:
    before = table_counts(db)
    response = upload(client, login(client, "t_ca_a"), mixed_xlsx())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSON
    body = response.json()
    assert (body["outcome"], body["dry_run"], body["committed"]) == ("checked", True, False)
    assert (body["rows_total"], body["rows_good"], body["rows_bad"]) == (10, 3, 7)
    assert triples(body) == MIXED_PROBLEMS
    assert body["problems"][0] == {
        "row": 4,
        "column": "身份证号",
        "value": body["problems"][0]["value"],
        "code": "invalid-input",
        "reason_zh": "身份证号码校验位错误，请核对是否输错",
        "reason_en": "The ID number's check character is wrong (typing error?)",
    }
    assert body["created"]["persons"] == 3
    assert table_counts(db) == before


def test_commit_with_skip_bad_rows_writes_the_good_rows(
    client: TestClient, world: World, db: Session
) -> None:
    before = table_counts(db)
    response = upload(
        client, login(client, "t_gw_a"), mixed_xlsx(), commit="true", policy="skip_bad_rows"
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["outcome"], body["committed"], body["policy"]) == (
        "committed",
        True,
        "skip_bad_rows",
    )
    assert triples(body) == MIXED_PROBLEMS
    assert table_counts(db)["persons"] == before["persons"] + 3
    [audit] = audit_rows(db, action="import", username="t_gw_a")
    assert audit.detail["outcome"] == "committed"
    assert len(audit.resource_ids) == 3
    assert audit.client_ip == "testclient"


def test_commit_all_or_nothing_with_bad_rows_is_refused_with_the_report(
    client: TestClient, world: World, db: Session
) -> None:
    before = table_counts(db)
    response = upload(client, login(client, "t_ca_a"), mixed_xlsx(), commit="true")
    body = assert_problem(response, 422, "file", "ledger-has-bad-rows")
    assert "7 of 10 rows are bad" in body["detail"]
    assert body["report"]["outcome"] == "rejected"
    assert triples(body["report"]) == MIXED_PROBLEMS
    assert table_counts(db) == before
    # the refusal is audited (the request's transaction still commits its audit row)
    [audit] = audit_rows(db, action="import", username="t_ca_a")
    assert audit.detail["outcome"] == "rejected"
    assert audit.resource_ids == []


def test_dry_run_false_means_commit(client: TestClient, world: World, db: Session) -> None:
    rows = [r for i, r in enumerate(mixed_person_rows(), start=2) if i in (2, 3)]
    response = upload(
        client, login(client, "t_ca_a"), xlsx_bytes(PERSON_HEADERS, rows), dry_run="false"
    )
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "committed"


def test_gb18030_csv_upload(client: TestClient, world: World) -> None:
    rows = [r for i, r in enumerate(mixed_person_rows(), start=2) if i in (2, 3, 11)]
    data = csv_bytes(PERSON_HEADERS, rows, encoding="gb18030")
    response = upload(
        client, login(client, "t_ca_a"), data, filename="台账.csv", content_type="text/csv"
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["file_format"], body["encoding"], body["rows_bad"]) == ("csv", "gb18030", 0)


@pytest.mark.parametrize("username", ["t_planner", "t_dispatcher", "t_handler", "t_admin"])
def test_other_roles_are_forbidden(client: TestClient, world: World, username: str) -> None:
    headers = login(client, username)
    assert_refused(upload(client, headers, mixed_xlsx()), 403, "forbidden")
    assert_refused(client.get("/exports/persons.csv", headers=headers), 403, "forbidden")


def test_login_is_required(client: TestClient, world: World) -> None:
    assert_refused(upload(client, {}, mixed_xlsx()), 401, "unauthenticated")
    assert_refused(client.get("/exports/persons.xlsx"), 401, "unauthenticated")


def test_an_oversized_file_is_413(client: TestClient, world: World) -> None:
    data = b"x" * (MAX_LEDGER_BYTES + 1)
    response = upload(
        client, login(client, "t_ca_a"), data, filename="big.csv", content_type="text/csv"
    )
    body = assert_problem(response, 413, "file", "payload-too-large")
    assert "MB" in body["detail_zh"]


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 64, "台账.xls"),
        (b"%PDF-1.4\n\x00\x00", "台账.pdf"),
    ],
)
def test_an_unsupported_file_type_is_415(
    client: TestClient, world: World, data: bytes, filename: str
) -> None:
    response = upload(client, login(client, "t_ca_a"), data, filename=filename)
    assert_problem(response, 415, "file", "unsupported-media-type")


@pytest.mark.parametrize(
    ("params", "field", "code"),
    [
        ({"crs": "EPSG:12"}, "crs", "unknown-crs"),
        ({"policy": "some"}, "policy", "invalid-input"),
        ({"commit": "true", "dry_run": "true"}, "commit", "invalid-input"),
    ],
)
def test_bad_parameters_are_422(
    client: TestClient, world: World, params: dict[str, str], field: str, code: str
) -> None:
    response = upload(client, login(client, "t_ca_a"), mixed_xlsx(), **params)
    assert_problem(response, 422, field, code)


def test_unknown_kind_and_unreadable_files_are_422(client: TestClient, world: World) -> None:
    headers = login(client, "t_ca_a")
    assert_problem(upload(client, headers, mixed_xlsx(), kind="cars"), 422, "kind")
    no_header = csv_bytes(("a", "b"), [["1", "2"]])
    assert_problem(upload(client, headers, no_header, filename="a.csv"), 422, "file")
    missing = xlsx_bytes(("姓名", "性别"), [["甲", "男"]])
    assert_problem(upload(client, headers, missing), 422, "地址")


def test_export_xlsx_keeps_id_numbers_as_text_and_is_audited(
    client: TestClient, world: World, db: Session
) -> None:
    number = give_world_person_a_valid_id(db, world)
    response = client.get("/exports/persons.xlsx", headers=login(client, "t_ca_a"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == XLSX
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"persons.xlsx\"; filename*=UTF-8''" + quote("人口台账.xlsx")
    )
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0][:4] == ["姓名", "性别", "身份证号", "联系电话"]
    assert rows[1][:4] == ["张三", "男", number, PERSON_PHONE]
    id_cell = sheet.cell(row=2, column=3)
    assert (id_cell.data_type, id_cell.number_format) == ("s", "@")
    [audit] = audit_rows(db, action="export", username="t_ca_a")
    assert audit.resource == "persons"
    assert audit.resource_ids == [world.persons["张三"]]
    assert audit.unmasked is True
    assert audit.detail == {
        "ledger": "persons",
        "format": "xlsx",
        "rows": 1,
        "masked_fields": [],
    }


def test_export_csv_for_a_grid_worker_masks_id_numbers(
    client: TestClient, world: World, db: Session
) -> None:
    number = give_world_person_a_valid_id(db, world)
    response = client.get("/exports/persons.csv", headers=login(client, "t_gw_a"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    header, [row] = rows[0], rows[1:]
    record = dict(zip(header, row, strict=True))
    assert record["身份证号"] == mask_id_number(number)
    assert number not in response.text
    assert (record["姓名"], record["联系电话"], record["户号"]) == ("张三", PERSON_PHONE, "T-HH-1")
    assert (record["单元"], record["楼层"], record["房号"]) == ("1", "3", "301")
    [audit] = audit_rows(db, action="export", username="t_gw_a")
    assert audit.detail["masked_fields"] == ["id_number"]


def test_export_is_scoped_to_the_area(client: TestClient, world: World) -> None:
    response = client.get("/exports/persons.csv", headers=login(client, "t_gw_b"))
    assert response.status_code == 200
    assert response.content.decode("utf-8-sig").splitlines()[1:] == []


def test_export_unknown_format_is_422(client: TestClient, world: World) -> None:
    headers = login(client, "t_ca_a")
    assert_problem(client.get("/exports/persons.pdf", headers=headers), 422, "file_format")
    assert_problem(client.get("/exports/cars.csv", headers=headers), 422, "kind")


def test_round_trip_over_http(client: TestClient, world: World, db: Session) -> None:
    give_world_person_a_valid_id(db, world)
    headers = login(client, "t_ca_a")
    rows = [r for i, r in enumerate(mixed_person_rows(), start=2) if i in (2, 3, 11)]
    first = upload(client, headers, xlsx_bytes(PERSON_HEADERS, rows), commit="true")
    assert first.status_code == 200, first.text
    exported = client.get("/exports/persons.xlsx", headers=headers).content
    response = upload(client, headers, exported, commit="true")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["rows_total"], body["rows_bad"], body["unchanged"]) == (4, 0, 4)
    assert LI_LEI not in str(body["problems"])
