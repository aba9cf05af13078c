"""The demo street: deterministic generation, a valid grid coverage, one-transaction loading.

The small demo is generated once and loaded once per module, inside an outer transaction that
is rolled back at the end; tests that change it (replace, failing loads) work inside savepoints.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from stdnum.cn import ric

import shapely

import layers.demo.load as demo_load
from layers.demo import events
from layers.demo.arrays import NULL
from layers.demo.constants import DEMO_PASSWORD, DISTRICT_CODE, STREET_CODE, STREET_PREFIX
from layers.demo.dataset import DemoDataset, Table
from layers.demo.generate import generate
from layers.demo.load import (
    DemoAlreadyLoaded,
    assign_to_grids,
    delete_demo,
    demo_present,
    load_demo,
)
from layers.security import hash_password, verify_password

ROOT = Path(__file__).resolve().parents[2]
PASSWORD_HASH = hash_password(DEMO_PASSWORD)

# Row counts of every table the demo writes, restricted to the demo street where other rows
# (tests' own fixtures) could live in the same database.
COUNTS_SQL = {
    "admin_units": "SELECT count(*) FROM admin_units WHERE code LIKE :p || '%'",
    "grids": "SELECT count(*) FROM grids WHERE code LIKE :p || '%'",
    "grid_codes": "SELECT count(*) FROM grid_codes WHERE code LIKE :p || '%'",
    "grid_staff": "SELECT count(*) FROM grid_staff WHERE grid_code LIKE :p || '%'",
    "buildings": "SELECT count(*) FROM buildings WHERE code LIKE :p || '-B%'",
    "houses": "SELECT count(*) FROM houses h JOIN buildings b ON b.id = h.building_id"
    " WHERE b.code LIKE :p || '-B%'",
    "households": "SELECT count(*) FROM households WHERE household_no LIKE :p || '%'",
    "persons": "SELECT count(*) FROM persons p JOIN households hh ON hh.id = p.household_id"
    " WHERE hh.household_no LIKE :p || '%'",
    "person_care_groups": "SELECT count(*) FROM person_care_groups c JOIN persons p"
    " ON p.id = c.person_id JOIN households hh ON hh.id = p.household_id"
    " WHERE hh.household_no LIKE :p || '%'",
    "places": "SELECT count(*) FROM places pl JOIN admin_units u ON u.id = pl.community_id"
    " WHERE u.code LIKE :p || '%'",
    "incidents": "SELECT count(*) FROM incidents WHERE code LIKE :p || '-%'",
    "incident_steps": "SELECT count(*) FROM incident_steps s JOIN incidents i"
    " ON i.id = s.incident_id WHERE i.code LIKE :p || '-%'",
    "users": "SELECT count(*) FROM users u JOIN admin_units a ON a.id = u.area_id"
    " WHERE a.code LIKE :p || '%' OR u.username = 'admin'",
    "departments": "SELECT count(*) FROM departments WHERE code LIKE 'qf-%'",
}


def demo_counts(session: Session) -> dict[str, int]:
    """Rows of the demo street per table."""
    return {
        name: session.execute(text(sql), {"p": STREET_PREFIX}).scalar_one()
        for name, sql in COUNTS_SQL.items()
    }


@pytest.fixture(scope="module")
def dataset() -> DemoDataset:
    """The small demo, generated once."""
    return generate(2026, "small")


@pytest.fixture(scope="module")
def demo(engine: Engine, dataset: DemoDataset) -> Iterator[Session]:
    """A session in which the small demo is loaded; everything is rolled back afterwards."""
    connection = engine.connect()
    outer = connection.begin()
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    try:
        result = load_demo(session, dataset, password_hash=PASSWORD_HASH, if_present="replace")
        session.info["demo_load"] = result
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()


# --- generation ------------------------------------------------------------------------------


def test_same_seed_and_scale_give_identical_data(dataset: DemoDataset) -> None:
    again = generate(2026, "small")
    assert again.digest() == dataset.digest()
    assert again.counts() == dataset.counts()
    assert generate(2027, "small").digest() != dataset.digest()


def test_cli_generate_writes_copy_files_with_the_same_digest(
    tmp_path: Path, dataset: DemoDataset
) -> None:
    # another process, with another string-hash seed: nothing may depend on either
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run(
        [sys.executable, "-m", "layers.cli", "demo", "generate", "--seed", "2026",
         "--scale", "small", "--out", str(tmp_path)],
        check=True, cwd=ROOT, env=env, capture_output=True,
    )  # fmt: skip
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["digest"] == dataset.digest()
    assert manifest["tables"]["persons"]["rows"] == len(dataset.tables["persons"])
    lines = (tmp_path / "grids.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0].split("\t") == list(dataset.tables["grids"].columns)
    assert len(lines) == 1 + len(dataset.tables["grids"])
    assert "SRID=4326;MULTIPOLYGON" in lines[1]


def test_text_columns_are_safe_for_copy(dataset: DemoDataset) -> None:
    for table in dataset.tables.values():
        for name, values in table.columns.items():
            if values.dtype.kind not in "OT" or name in table.geometry:
                continue
            for value in values.tolist():
                if value != NULL:
                    assert not re.search(r"[\t\n\r\\]", value), (table.name, name, value)


def test_generated_grids_are_a_valid_coverage_of_each_community(dataset: DemoDataset) -> None:
    grids = dataset.tables["grids"].columns
    units = dataset.tables["admin_units"].columns
    for code, geom in zip(units["code"].tolist(), units["geom"], strict=True):
        if code.endswith("000"):
            continue
        members = grids["geom"][np.strings.startswith(grids["code"], code)]
        assert shapely.coverage_is_valid(members)
        assert shapely.equals(shapely.coverage_union_all(members), geom)


# --- loading -----------------------------------------------------------------------------------


def test_small_demo_counts_are_in_the_expected_ranges(demo: Session) -> None:
    counts = demo_counts(demo)
    communities = counts["admin_units"] - 1
    assert 6 <= communities <= 8
    assert 50 <= counts["grids"] <= 70
    assert counts["grid_codes"] == counts["grids"]
    assert counts["grid_staff"] == 2 * counts["grids"]  # a worker and a leader each
    assert 1_200 <= counts["buildings"] <= 1_800
    assert 18_000 <= counts["households"] <= 24_000
    assert 45_000 <= counts["persons"] <= 60_000
    assert 0.02 <= counts["person_care_groups"] / counts["persons"] <= 0.04
    assert counts["departments"] == 8
    assert 350 <= counts["places"] <= 450
    assert counts["incidents"] == 5_000
    assert counts["incident_steps"] >= 3 * counts["incidents"]
    assert counts["users"] == 4 + communities + counts["grids"] + counts["departments"]


def test_every_community_is_exactly_covered_by_its_grids(demo: Session) -> None:
    rows = demo.execute(
        text(
            """
            SELECT c.code,
                   ST_Area(ST_SymDifference(ST_Union(g.geom), c.geom)::geography) AS gap_m2,
                   count(*) AS grids
            FROM admin_units c JOIN grids g ON g.community_id = c.id AND g.valid_to IS NULL
            WHERE c.code LIKE :p || '%' AND c.level = 'community'
            GROUP BY c.id, c.code, c.geom
            """
        ),
        {"p": STREET_PREFIX},
    ).all()
    assert len(rows) >= 6
    for code, gap_m2, n in rows:
        assert gap_m2 < 0.01, (code, gap_m2)
        assert n >= 2
    overlap_m2, interior_overlaps, touching = demo.execute(
        text(
            """
            SELECT coalesce(sum(ST_Area(ST_Intersection(a.geom, b.geom)::geography)), 0),
                   count(*) FILTER (WHERE ST_Relate(a.geom, b.geom, '2********')),
                   count(*)
            FROM grids a JOIN grids b
              ON a.community_id = b.community_id AND a.id < b.id AND a.geom && b.geom
             AND ST_Intersects(a.geom, b.geom)
            WHERE a.code LIKE :p || '%'
            """
        ),
        {"p": STREET_PREFIX},
    ).one()
    assert touching > 0
    assert overlap_m2 == 0
    assert interior_overlaps == 0
    # shapely's coverage validator (PostGIS 3.3 has none) on the stored geometries
    stored = demo.execute(
        text(
            "SELECT community_id, ST_AsBinary(geom) FROM grids"
            " WHERE code LIKE :p || '%' ORDER BY community_id"
        ),
        {"p": STREET_PREFIX},
    ).all()
    by_community: dict[int, list[bytes]] = {}
    for community_id, wkb in stored:
        by_community.setdefault(community_id, []).append(bytes(wkb))
    for wkbs in by_community.values():
        assert shapely.coverage_is_valid(shapely.from_wkb(wkbs))
    street_gap, district_covers = demo.execute(
        text(
            """
            SELECT ST_Area(ST_SymDifference(
                       (SELECT ST_Union(geom) FROM admin_units
                        WHERE code LIKE :p || '%' AND level = 'community'),
                       s.geom)::geography),
                   ST_Covers(d.geom, s.geom)
            FROM admin_units s JOIN admin_units d ON d.id = s.parent_id
            WHERE s.code = :street
            """
        ),
        {"p": STREET_PREFIX, "street": STREET_CODE},
    ).one()
    assert street_gap < 0.01
    assert district_covers


def test_geometry_is_lonlat_near_quanfu_and_rounded_to_1e7(demo: Session) -> None:
    xmin, ymin, xmax, ymax, off_grid = demo.execute(
        text(
            """
            SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e),
                   (SELECT count(*) FROM grids g, ST_DumpPoints(g.geom) p
                    WHERE g.code LIKE :p || '%'
                      AND (abs(ST_X(p.geom) * 1e7 - round(ST_X(p.geom) * 1e7)) > 1e-3
                        OR abs(ST_Y(p.geom) * 1e7 - round(ST_Y(p.geom) * 1e7)) > 1e-3))
            FROM (SELECT ST_Extent(geom)::geometry AS e FROM admin_units WHERE code = :s) x
            """
        ),
        {"p": STREET_PREFIX, "s": STREET_CODE},
    ).one()
    assert 117.0 < xmin < 117.06 < xmax < 117.12
    assert 36.65 < ymin < 36.69 < ymax < 36.73
    width_km = (xmax - xmin) * 111.32 * np.cos(np.radians(36.69))
    assert 3.0 <= width_km <= 4.0
    assert off_grid == 0


def test_grid_codes_number_west_to_east_then_north_to_south(demo: Session) -> None:
    rows = demo.execute(
        text(
            """
            SELECT c.code AS community, g.code,
                   ST_X(ST_Centroid(g.geom)), ST_Y(ST_Centroid(g.geom)),
                   ST_YMin(g.geom), ST_YMax(g.geom), gc.community_id = g.community_id
            FROM grids g JOIN admin_units c ON c.id = g.community_id
            JOIN grid_codes gc ON gc.code = g.code
            WHERE g.code LIKE :p || '%' ORDER BY g.code
            """
        ),
        {"p": STREET_PREFIX},
    ).all()
    by_community: dict[str, list[tuple[float, float, float, float]]] = {}
    for community, code, cx, cy, ymin, ymax, registered in rows:
        assert re.fullmatch(r"[0-9]{15}", code)
        assert code.startswith(community)
        assert registered
        members = by_community.setdefault(community, [])
        assert int(code[12:]) == len(members) + 1  # 001, 002, ... without gaps
        members.append((cx, cy, ymin, ymax))
    for grids in by_community.values():
        # consecutive grids share a row when their latitude ranges mostly overlap
        rows_of: list[list[tuple[float, float, float, float]]] = [[grids[0]]]
        for grid in grids[1:]:
            prev = rows_of[-1][-1]
            overlap = min(prev[3], grid[3]) - max(prev[2], grid[2])
            if overlap > 0.5 * min(prev[3] - prev[2], grid[3] - grid[2]):
                assert grid[0] > prev[0], "west → east within a row"
                rows_of[-1].append(grid)
            else:
                rows_of.append([grid])
        for north, south in itertools.pairwise(rows_of):
            assert max(g[1] for g in south) < min(g[1] for g in north), "rows north → south"


def test_every_building_lies_inside_exactly_one_grid(demo: Session) -> None:
    bad = demo.execute(
        text(
            """
            SELECT count(*) FILTER (WHERE b.grid_id IS NULL),
                   count(*) FILTER (WHERE NOT ST_Within(b.geom, g.geom)),
                   count(*) FILTER (WHERE b.community_id IS DISTINCT FROM g.community_id),
                   count(*) FILTER (WHERE (SELECT count(*) FROM grids o
                                           WHERE o.valid_to IS NULL AND o.geom && b.geom
                                             AND ST_Relate(o.geom, b.geom, 'T********')) <> 1)
            FROM buildings b LEFT JOIN grids g ON g.id = b.grid_id
            WHERE b.code LIKE :p || '-B%'
            """
        ),
        {"p": STREET_PREFIX},
    ).one()
    assert tuple(bad) == (0, 0, 0, 0)


def test_places_and_incidents_are_filed_under_the_grid_covering_them(demo: Session) -> None:
    places_bad, polygons = demo.execute(
        text(
            """
            SELECT count(*) FILTER (WHERE g.id IS NULL
                                    OR NOT ST_Covers(g.geom, ST_PointOnSurface(p.geom))
                                    OR p.community_id <> g.community_id),
                   count(*) FILTER (WHERE GeometryType(p.geom) <> 'POINT')
            FROM places p LEFT JOIN grids g ON g.id = p.grid_id
            WHERE p.department_id IN (SELECT id FROM departments WHERE code LIKE 'qf-%')
            """
        )
    ).one()
    assert places_bad == 0
    assert polygons >= 10  # schools, markets, construction sites, special campuses
    incidents_bad = demo.execute(
        text(
            """
            SELECT count(*) FROM incidents i LEFT JOIN grids g ON g.id = i.grid_id
            WHERE i.code LIKE :p || '-%'
              AND (g.id IS NULL OR NOT ST_Covers(g.geom, i.geom)
                   OR i.community_id <> g.community_id)
            """
        ),
        {"p": STREET_PREFIX},
    ).scalar_one()
    assert incidents_bad == 0


def test_the_loader_files_rows_set_based_by_the_database_rule(
    demo: Session, dataset: DemoDataset
) -> None:
    # the row triggers were off during COPY: every row was filed by assign_to_grids ...
    assert demo.info["demo_load"].assigned == {
        "buildings": len(dataset.tables["buildings"]),
        "places": len(dataset.tables["places"]),
        "incidents": len(dataset.tables["incidents"]),
    }
    # ... and they are on again for the rest of the transaction
    assert demo.execute(text("SELECT current_setting('wangge.bulk_assign')")).scalar() == "off"
    # same answers as the rule function of migration 0003
    differ = demo.execute(
        text(
            """
            SELECT (SELECT count(*) FROM buildings WHERE code LIKE :p || '-B%'
                      AND grid_id IS DISTINCT FROM wangge_grid_at(geom))
                 + (SELECT count(*) FROM incidents WHERE code LIKE :p || '-%'
                      AND grid_id IS DISTINCT FROM wangge_grid_at(geom))
            """
        ),
        {"p": STREET_PREFIX},
    ).scalar_one()
    assert differ == 0


def test_assign_to_grids_is_idempotent(demo: Session) -> None:
    with demo.begin_nested():
        assert assign_to_grids(demo) == {"buildings": 0, "places": 0, "incidents": 0}


def test_the_heat_rollup_counts_every_demo_incident_right_after_loading(demo: Session) -> None:
    """The loader refreshes the dispatcher's heat rollup in its own transaction."""
    communities = text(
        "SELECT id FROM admin_units WHERE code LIKE :p || '%' AND level = 'community'"
    )
    ids = [row[0] for row in demo.execute(communities, {"p": STREET_PREFIX})]
    in_rollup = demo.execute(
        text("SELECT sum(n) FROM incident_heat_rollup_all WHERE community_id = ANY(:ids)"),
        {"ids": ids},
    ).scalar_one()
    filed = demo.execute(
        text("SELECT count(*) FROM incidents WHERE community_id = ANY(:ids)"), {"ids": ids}
    ).scalar_one()
    assert filed > 4000
    assert in_rollup == filed


def test_the_street_has_a_dispatch_rule_per_category_and_a_territorial_fallback(
    demo: Session,
) -> None:
    rules = dict(
        demo.execute(
            text(
                "SELECT coalesce(r.category_code, '*'), d.code FROM dispatch_rules r"
                " JOIN admin_units s ON s.id = r.admin_unit_id"
                " JOIN departments d ON d.id = r.department_id WHERE s.code = :street"
            ),
            {"street": STREET_CODE},
        ).all()
    )
    assert rules["hazard.fire"] == "qf-fire"
    assert rules["dispute.family"] == "qf-justice"  # the heavier of justice 0.7 / social 0.3
    assert rules["*"] == "qf-urban"
    assert len(rules) == 14  # the 13 demo categories and the fallback


def test_persons_have_valid_resident_ids_and_phones(demo: Session) -> None:
    rows = demo.execute(
        text(
            """
            SELECT p.id_number, p.birth_date, p.gender, p.phone
            FROM persons p JOIN households hh ON hh.id = p.household_id
            WHERE hh.household_no LIKE :p || '%'
            """
        ),
        {"p": STREET_PREFIX},
    ).all()
    assert len({r[0] for r in rows}) == len(rows)
    for id_number, birth, gender, phone in rows:
        assert ric.is_valid(id_number), id_number
        assert ric.get_birth_date(id_number) == birth
        assert (int(id_number[16]) % 2 == 1) == (gender == "male")
        # Licheng district (370112) since 1987, Licheng county (370121) before
        assert id_number[:6] == ("370112" if birth >= date(1987, 1, 1) else "370121")
        assert phone is None or re.fullmatch(r"1[3-9][0-9]{9}", phone)


def test_households_and_care_groups(demo: Session) -> None:
    heads_wrong, no_house, care_categories = demo.execute(
        text(
            """
            SELECT (SELECT count(*) FROM households hh WHERE hh.household_no LIKE :p || '%'
                      AND (SELECT count(*) FROM persons p WHERE p.household_id = hh.id
                           AND p.relation_to_head = '户主') <> 1),
                   (SELECT count(*) FROM households hh LEFT JOIN houses h ON h.id = hh.house_id
                      WHERE hh.household_no LIKE :p || '%' AND h.use <> 'residential'),
                   (SELECT array_agg(DISTINCT c.category_code ORDER BY c.category_code)
                      FROM person_care_groups c JOIN users u ON u.id = c.responsible_user_id
                      WHERE u.username LIKE 'gw\\_%')
            """
        ),
        {"p": STREET_PREFIX},
    ).one()
    assert heads_wrong == 0
    assert no_house == 0
    defaults = demo.execute(text("SELECT code FROM care_group_categories ORDER BY code")).scalars()
    assert care_categories == sorted(defaults)


def test_users_staff_and_departments(demo: Session) -> None:
    rows = demo.execute(
        text(
            """
            SELECT u.username, u.role, a.code, u.password_hash, d.code
            FROM users u JOIN admin_units a ON a.id = u.area_id
            LEFT JOIN departments d ON d.id = u.department_id
            WHERE a.code LIKE :p || '%' OR u.username = 'admin'
            """
        ),
        {"p": STREET_PREFIX},
    ).all()
    by_name = {r[0]: r for r in rows}
    assert by_name["admin"][1:3] == ("admin", DISTRICT_CODE)
    for name, role in (
        ("street", "street_admin"),
        ("planner", "planner"),
        ("dispatcher", "dispatcher"),
    ):
        assert by_name[name][1:3] == (role, STREET_CODE)
    assert by_name["ca_1"][1:3] == ("community_admin", STREET_PREFIX + "001")
    assert by_name["dh_qf-fire"][4] == "qf-fire"
    assert verify_password(by_name["gw_001001"][3], DEMO_PASSWORD)
    assert by_name["gw_001001"][1:3] == ("grid_worker", STREET_PREFIX + "001")
    for name, *_ in rows:
        assert re.fullmatch(r"[a-z0-9_.-]{3,64}", name)
    staff_bad = demo.execute(
        text(
            """
            SELECT count(*) FROM grids g
            WHERE g.code LIKE :p || '%' AND (
                (SELECT count(*) FROM grid_staff s JOIN users u ON u.id = s.user_id
                 WHERE s.grid_code = g.code AND s.duty = 'worker' AND u.role = 'grid_worker'
                   AND u.area_id = g.community_id) <> 1
             OR (SELECT count(*) FROM grid_staff s WHERE s.grid_code = g.code
                 AND s.duty = 'leader') <> 1)
            """
        ),
        {"p": STREET_PREFIX},
    ).scalar_one()
    assert staff_bad == 0


def test_grids_carry_names_sizing_sizhi_and_version(demo: Session) -> None:
    rows = demo.execute(
        text(
            "SELECT name, kind, sizing_type, sizhi, version, valid_from, valid_to FROM grids"
            " WHERE code LIKE :p || '%'"
        ),
        {"p": STREET_PREFIX},
    ).all()
    sizing = [r[2] for r in rows]
    assert 1 <= sizing.count("special") <= 2
    assert sizing.count("bungalow") >= 1
    assert sizing.count("scattered") + sizing.count("compound") > 0.8 * len(rows)
    for name, kind, size, sizhi, version, valid_from, valid_to in rows:
        assert (kind == "special") == (size == "special")
        assert name.endswith("专属网格" if kind == "special" else "网格")
        assert re.fullmatch(r"东至[^，]+，南至[^，]+，西至[^，]+，北至[^，]+", sizhi), sizhi
        assert version == 1 and valid_to is None
        assert valid_from.isoformat() == "2024-12-31T16:00:00+00:00"


def test_incident_categories_match_the_database(demo: Session) -> None:
    leaves = demo.execute(
        text(
            "SELECT code, time_limit_hours FROM incident_categories c WHERE NOT EXISTS"
            " (SELECT 1 FROM incident_categories k WHERE k.parent_code = c.code) ORDER BY code"
        )
    ).all()
    assert sorted(events.LEAF_CATEGORIES) == [tuple(r) for r in leaves]
    wrong_deadline = demo.execute(
        text(
            """
            SELECT count(*) FROM incidents i JOIN incident_categories c ON c.code = i.category_code
            WHERE i.code LIKE :p || '-%'
              AND i.deadline_at <> i.reported_at + c.time_limit_hours * interval '1 hour'
            """
        ),
        {"p": STREET_PREFIX},
    ).scalar_one()
    assert wrong_deadline == 0


def test_incident_steps_agree_with_the_status(demo: Session) -> None:
    bad = demo.execute(
        text(
            """
            WITH s AS (
                SELECT s.*, lag(s.to_status) OVER w AS prev_to, lag(s.at) OVER w AS prev_at,
                       row_number() OVER w AS k,
                       row_number() OVER (PARTITION BY s.incident_id ORDER BY s.id DESC) AS from_end
                FROM incident_steps s JOIN incidents i ON i.id = s.incident_id
                WHERE i.code LIKE :p || '-%'
                WINDOW w AS (PARTITION BY s.incident_id ORDER BY s.id)
            )
            SELECT
              count(*) FILTER (WHERE k = 1 AND (action <> 'report' OR from_status IS NOT NULL
                                                OR at <> i.reported_at)),
              count(*) FILTER (WHERE k > 1 AND (from_status IS DISTINCT FROM prev_to
                                                OR at < prev_at)),
              count(*) FILTER (WHERE from_end = 1 AND to_status <> i.status),
              count(*) FILTER (WHERE from_end = 1 AND i.status = 'closed'
                               AND i.closed_at IS DISTINCT FROM at),
              count(*) FILTER (WHERE at >= '2026-11-01 00:00+08')
            FROM s JOIN incidents i ON i.id = s.incident_id
            """
        ),
        {"p": STREET_PREFIX},
    ).one()
    assert tuple(bad) == (0, 0, 0, 0, 0)
    old_closed, recent_open, hotline_named = demo.execute(
        text(
            """
            SELECT avg((status = 'closed')::int) FILTER (WHERE reported_at < '2026-09-01+08'),
                   count(*) FILTER (WHERE reported_at >= '2026-10-25+08' AND status <> 'closed'),
                   bool_and(reporter_name IS NOT NULL AND reporter_phone ~ '^1[3-9][0-9]{9}$')
                     FILTER (WHERE channel = 'hotline_12345')
            FROM incidents WHERE code LIKE :p || '-%'
            """
        ),
        {"p": STREET_PREFIX},
    ).one()
    assert old_closed > 0.97
    assert recent_open >= 10
    assert hotline_named


def test_if_empty_twice_keeps_the_row_counts(demo: Session, dataset: DemoDataset) -> None:
    before = demo_counts(demo)
    result = load_demo(demo, dataset, password_hash=PASSWORD_HASH, if_present="skip")
    assert result.status == "skipped"
    assert demo_counts(demo) == before


def test_load_refuses_a_second_copy(demo: Session, dataset: DemoDataset) -> None:
    with pytest.raises(DemoAlreadyLoaded):
        load_demo(demo, dataset, password_hash=PASSWORD_HASH, if_present="fail")


def test_replace_loads_the_same_demo_again(demo: Session, dataset: DemoDataset) -> None:
    before = demo_counts(demo)
    savepoint = demo.begin_nested()
    try:
        result = load_demo(demo, dataset, password_hash=PASSWORD_HASH, if_present="replace")
        assert result.status == "replaced"
        assert result.deleted["persons"] == before["persons"]
        assert demo_counts(demo) == before
    finally:
        savepoint.rollback()


def _corrupt(dataset: DemoDataset) -> DemoDataset:
    """The dataset with one impossible incident status (a CHECK violation mid-COPY)."""
    incidents = dataset.tables["incidents"]
    status = incidents.columns["status"].copy()
    status[-1] = "bogus"
    tables = dict(dataset.tables)
    tables["incidents"] = Table(
        "incidents", {**incidents.columns, "status": status}, incidents.refs, incidents.geometry
    )
    return DemoDataset(dataset.seed, dataset.scale, dataset.reference_time, tables)


@pytest.mark.parametrize("failure", ["late", "constraint"])
def test_a_failing_load_leaves_nothing_behind(
    demo: Session, dataset: DemoDataset, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    outer = demo.begin_nested()
    try:
        delete_demo(demo, dataset)
        assert not demo_present(demo)
        assert set(demo_counts(demo).values()) == {0}
        data = dataset
        if failure == "late":  # every table copied, then the spatial assignment fails

            def boom(session: Session) -> dict[str, int]:
                raise RuntimeError("simulated failure after COPY")

            monkeypatch.setattr(demo_load, "assign_to_grids", boom)
        else:
            data = _corrupt(dataset)
        with pytest.raises(Exception) as raised, demo.begin_nested():  # the load's transaction
            load_demo(demo, data, password_hash=PASSWORD_HASH, if_present="fail")
        expected = "simulated failure" if failure == "late" else "ck_incidents_status_known"
        assert expected in str(raised.value)
        assert not demo_present(demo)
        assert set(demo_counts(demo).values()) == {0}
    finally:
        outer.rollback()
    assert demo_present(demo)
