"""Database constraints hold whatever code writes: geometry validity, codes, versions, audit."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from tests.conftest import SHARED_TESTDATA
from tests.fixtures.world import COMMUNITY_A, GRID_A1, World

VALIDITY_CASES = json.loads(
    (SHARED_TESTDATA / "geometry" / "jts_polygon_validity.json").read_text(encoding="utf-8")
)["cases"]
AREAL_CASES = [
    c
    for c in VALIDITY_CASES
    if c["a"]
    and c["a"].lstrip().upper().startswith(("POLYGON", "MULTIPOLYGON"))
    and "EMPTY" not in c["a"].upper()
]


def _insert_building(db: Session, wkt: str, code: str) -> None:
    db.execute(
        text(
            "INSERT INTO buildings (code, kind, floors, address, geom) "
            "VALUES (:code, 'residential', 3, 'x', ST_GeomFromText(:wkt, 4326))"
        ),
        {"code": code, "wkt": wkt},
    )


def _postgis_validity(db: Session, wkts: list[str]) -> list[bool | None]:
    """ST_IsValid of each WKT in one query; None where PostGIS refuses to parse it at all."""
    db.execute(
        text(
            """
            CREATE OR REPLACE FUNCTION pg_temp.try_is_valid(w text) RETURNS boolean
            LANGUAGE plpgsql AS $$
            BEGIN
                RETURN ST_IsValid(ST_GeomFromText(w));
            EXCEPTION WHEN others THEN
                RETURN NULL;
            END $$
            """
        )
    )
    rows = db.execute(
        text(
            "SELECT pg_temp.try_is_valid(w) FROM unnest(CAST(:wkts AS text[])) "
            "WITH ORDINALITY AS t(w, i) ORDER BY i"
        ),
        {"wkts": wkts},
    ).scalars()
    return list(rows)


def test_postgis_validity_agrees_with_jts_conformance_cases(db: Session) -> None:
    """PostGIS gives the JTS answer on every areal case; unparsable WKT counts as invalid."""
    assert len(AREAL_CASES) > 300
    got = _postgis_validity(db, [c["a"] for c in AREAL_CASES])
    mismatches = [
        case["desc"]
        for case, valid in zip(AREAL_CASES, got, strict=True)
        if str(bool(valid)).lower() != case["tests"][0]["expected"]
    ]
    assert mismatches == []


def test_invalid_polygons_are_refused_by_the_geometry_check(db: Session) -> None:
    candidates = [
        c
        for c in AREAL_CASES
        if c["tests"][0]["expected"] == "false" and c["a"].lstrip().upper().startswith("POLYGON")
    ]
    parsed = _postgis_validity(db, [c["a"] for c in candidates])
    invalid = [c for c, valid in zip(candidates, parsed, strict=True) if valid is False][:25]
    assert len(invalid) == 25
    for n, case in enumerate(invalid):
        with pytest.raises(IntegrityError) as excinfo, db.begin_nested():
            _insert_building(db, case["a"], f"bad-{n}")
        assert "ck_buildings_geom_valid" in str(excinfo.value), case["desc"]


def test_self_intersecting_bowtie_is_refused(db: Session) -> None:
    with pytest.raises(IntegrityError, match="geom_valid"), db.begin_nested():
        _insert_building(db, "POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))", "bowtie")


def test_wrong_geometry_type_is_refused(db: Session) -> None:
    with pytest.raises(DBAPIError, match=r"(?i)geometry type"), db.begin_nested():
        _insert_building(db, "LINESTRING(117 36, 117.1 36.1)", "line")


def test_wrong_srid_is_refused(db: Session) -> None:
    with pytest.raises(DBAPIError, match=r"(?i)srid"), db.begin_nested():
        db.execute(
            text(
                "INSERT INTO buildings (code, kind, floors, address, geom) VALUES "
                "('srid', 'residential', 3, 'x', "
                "ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 1,0 0))', 4490))"
            )
        )


@pytest.mark.parametrize(
    ("code", "level"),
    [("12345", "community"), ("370112004000", "community"), ("370112004001", "street")],
)
def test_admin_codes_must_be_12_digits_matching_their_level(
    db: Session, code: str, level: str
) -> None:
    with pytest.raises(IntegrityError), db.begin_nested():
        db.execute(
            text(
                "INSERT INTO admin_units (code, name, level, parent_id, geom) VALUES "
                "(:code, 'x', :level, NULL, "
                "ST_Multi(ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 1,0 0))', 4326)))"
            ),
            {"code": code, "level": level},
        )


def test_two_versions_of_one_grid_cannot_be_valid_at_once(db: Session, world: World) -> None:
    """The exclusion constraint: a new version must start after the old one ends."""
    with pytest.raises(IntegrityError, match="ex_grids_one_version_at_a_time"), db.begin_nested():
        db.execute(
            text(
                "INSERT INTO grids (code, version, name, community_id, geom, valid_from) "
                "SELECT code, 2, name, community_id, geom, :t FROM grids WHERE code = :code"
            ),
            {"code": GRID_A1, "t": datetime(2026, 6, 1, tzinfo=UTC)},
        )


def test_a_closed_version_may_be_followed_by_a_new_one(db: Session, world: World) -> None:
    cut = datetime(2026, 6, 1, tzinfo=UTC)
    db.execute(text("UPDATE grids SET valid_to = :t WHERE code = :c"), {"t": cut, "c": GRID_A1})
    db.execute(
        text(
            "INSERT INTO grids (code, version, name, community_id, geom, valid_from) "
            "SELECT code, 2, name, community_id, geom, :t FROM grids WHERE code = :code"
        ),
        {"code": GRID_A1, "t": cut},
    )
    versions = (
        db.execute(
            text("SELECT version FROM grids WHERE code = :c ORDER BY version"), {"c": GRID_A1}
        )
        .scalars()
        .all()
    )
    assert versions == [1, 2]


def test_grid_codes_are_15_digits(db: Session, world: World) -> None:
    with pytest.raises(IntegrityError, match="code_15_digits"), db.begin_nested():
        db.execute(
            text("INSERT INTO grid_codes (code, community_id) VALUES ('37019900100101', :c)"),
            {"c": world.units[COMMUNITY_A]},
        )


def test_audit_log_is_append_only(db: Session) -> None:
    db.execute(text("INSERT INTO audit_log (action, resource) VALUES ('read', 'persons')"))
    with pytest.raises(DBAPIError, match="append-only"), db.begin_nested():
        db.execute(text("UPDATE audit_log SET action = 'tampered'"))
    with pytest.raises(DBAPIError, match="append-only"), db.begin_nested():
        db.execute(text("DELETE FROM audit_log"))


def test_person_id_numbers_must_look_like_resident_ids(db: Session, world: World) -> None:
    with pytest.raises(IntegrityError, match="id_format"), db.begin_nested():
        db.execute(
            text(
                "INSERT INTO persons (household_id, name, gender, id_number) "
                "SELECT household_id, 'x', 'female', '12345' FROM persons LIMIT 1"
            )
        )


def test_closed_incident_needs_a_closing_time(db: Session, world: World) -> None:
    with pytest.raises(IntegrityError, match="closed_has_time"), db.begin_nested():
        db.execute(
            text("UPDATE incidents SET status = 'closed' WHERE id = :i"),
            {"i": world.incidents["a1"]},
        )


def test_every_geometry_column_has_a_gist_index(db: Session) -> None:
    rows = db.execute(
        text(
            """
            SELECT c.f_table_name, c.f_geometry_column
            FROM geometry_columns c
            WHERE c.f_table_schema = 'public'
              AND NOT EXISTS (
                SELECT 1 FROM pg_index x
                JOIN pg_class i ON i.oid = x.indexrelid
                JOIN pg_am am ON am.oid = i.relam
                JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = ANY(x.indkey)
                WHERE x.indrelid = (quote_ident(c.f_table_name))::regclass
                  AND am.amname = 'gist' AND a.attname = c.f_geometry_column)
            """
        )
    ).all()
    assert rows == []
    count = db.execute(
        text("SELECT count(*) FROM geometry_columns WHERE f_table_schema = 'public'")
    ).scalar_one()
    assert count == 10


def test_every_geometry_column_is_stored_in_4326(db: Session) -> None:
    srids = (
        db.execute(
            text("SELECT DISTINCT srid FROM geometry_columns WHERE f_table_schema = 'public'")
        )
        .scalars()
        .all()
    )
    assert srids == [4326]


def test_default_care_groups_are_service_oriented_only(db: Session) -> None:
    codes = set(db.execute(text("SELECT code FROM care_group_categories")).scalars())
    assert codes == {
        "elderly_alone",
        "disabled",
        "low_income",
        "unattended_child",
        "left_behind_child",
    }
