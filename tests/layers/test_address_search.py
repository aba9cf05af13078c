"""Address search and reverse on the small demo street; the register kept current by triggers.

The demo is generated and loaded once per module inside an outer transaction that is rolled
back at the end (as tests/layers/test_demo.py does).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from layers.address.search import reverse, search
from layers.demo.generate import generate
from layers.demo.load import load_demo
from layers.demo.names import CITY_PREFIX, zh_number
from layers.security import hash_password


@pytest.fixture(scope="module")
def demo(engine: Engine) -> Iterator[Session]:
    """The small demo loaded in a session; rolled back afterwards."""
    connection = engine.connect()
    outer = connection.begin()
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    try:
        load_demo(
            session, generate(2026, "small"), password_hash=hash_password("x"),
            if_present="replace",
        )  # fmt: skip
        # The load rewrote register rows statement by statement inside this uncommitted
        # transaction: dead row versions and GIN pending-list entries that every search would
        # wade through until a VACUUM, which cannot run here. Rebuild the register in one
        # statement on a truncated table instead (what VACUUM would leave), merge the pending
        # lists as autovacuum would, and analyse. This is test speed only; the answers are
        # the same either way.
        session.execute(text("TRUNCATE address_register"))
        session.execute(text("SELECT wangge_address_refresh(ARRAY(SELECT id FROM buildings))"))
        session.execute(
            text(
                "SELECT gin_clean_pending_list('ix_address_register_key_trgm'),"
                " gin_clean_pending_list('ix_address_register_initials_trgm')"
            )
        )
        session.execute(text("ANALYZE address_register"))
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()


def _typo(name: str) -> str:
    """One character replaced by a look-alike (园/圆) or, failing that, typed twice."""
    if "园" in name:
        return name.replace("园", "圆", 1)
    return name[:2] + name[1] + name[2:]


def five_forms(
    address: str, road: str, number: str, compound: str | None, no: str | None
) -> list[str]:
    """The building's address written five common ways (typo and no admin prefix included)."""
    without_prefix = address.removeprefix(CITY_PREFIX)
    if compound and no:
        n = no.removesuffix("号楼")
        return [
            address,
            without_prefix,
            f"{compound}{n}栋",
            f"{compound}{zh_number(int(n))}号楼",
            f"{road}{number}{_typo(compound)}{n}号楼",
        ]
    plain = int(number.removesuffix("号"))
    return [
        address,
        without_prefix,
        f"历城区{road}{number}",
        f"{road}{zh_number(plain)}号",
        f"{_typo(road)}{number}",
    ]


def test_register_has_a_row_per_building_and_house(demo: Session) -> None:
    counts = demo.execute(
        text(
            "SELECT (SELECT count(*) FROM buildings), (SELECT count(*) FROM houses),"
            " count(*) FILTER (WHERE house_id IS NULL),"
            " count(*) FILTER (WHERE house_id IS NOT NULL)"
            " FROM address_register"
        )
    ).one()
    assert counts[0] == counts[2] > 1000
    assert counts[1] == counts[3] > 20000
    # the register is exactly its source view
    diff = demo.execute(
        text(
            "SELECT count(*) FROM (SELECT building_id, house_id, full_text, key, initials,"
            " community FROM address_register EXCEPT SELECT building_id, house_id, full_text,"
            " key, initials, community FROM address_register_source) AS d"
        )
    ).scalar_one()
    assert diff == 0


def test_every_demo_building_is_found_five_ways(demo: Session) -> None:
    rows = demo.execute(
        text(
            "SELECT id, address, road_name, house_number, compound, building_no FROM buildings"
            " WHERE code LIKE '370112004-B%' ORDER BY id"
        )
    ).all()
    assert len(rows) > 1000
    misses = []
    for r in rows:
        for form in five_forms(r.address, r.road_name, r.house_number, r.compound, r.building_no):
            hits = search(demo, None, q=form, limit=1, with_staff=False).hits
            if not hits or hits[0]["building"]["id"] != r.id:
                misses.append((r.id, form, hits[0]["address"] if hits else None))
    assert 5 * len(rows) >= 7000
    assert misses == []


def test_house_is_found_by_dash_form_and_alias(demo: Session) -> None:
    row = demo.execute(
        text(
            "SELECT b.id, b.compound, b.building_no, h.id AS house_id, h.unit, h.room"
            " FROM buildings b JOIN houses h ON h.building_id = b.id"
            " WHERE b.compound IS NOT NULL AND h.unit <> '' ORDER BY h.id LIMIT 1"
        )
    ).one()
    n = row.building_no.removesuffix("号楼")
    hit = search(demo, None, q=f"{row.compound}{n}-{row.unit}-{row.room}", limit=1).hits[0]
    assert hit["building"]["id"] == row.id
    assert hit["house"]["id"] == row.house_id
    # a popular name (俗称) added now is searchable in the same transaction
    with demo.begin_nested() as nested:
        demo.execute(
            text("INSERT INTO address_aliases (name, alias) VALUES (:n, '老干部楼院')"),
            {"n": row.compound},
        )
        hit = search(demo, None, q=f"老干部楼院{n}号楼{row.unit}单元{row.room}", limit=1).hits[0]
        assert hit["building"]["id"] == row.id
        assert hit["house"]["id"] == row.house_id
        nested.rollback()


def test_renaming_a_building_updates_search_in_the_same_transaction(demo: Session) -> None:
    building_id = demo.execute(
        text("SELECT id FROM buildings WHERE compound IS NOT NULL ORDER BY id LIMIT 1")
    ).scalar_one()
    with demo.begin_nested() as nested:
        demo.execute(
            text(
                "UPDATE buildings SET compound = '琥珀湾', road_name = '琥珀路',"
                " address = '济南市历城区全福街道琥珀路7号琥珀湾9号楼', building_no = '9号楼',"
                " house_number = '7号' WHERE id = :id"
            ),
            {"id": building_id},
        )
        hit = search(demo, None, q="琥珀湾9栋", limit=1).hits[0]
        assert hit["building"]["id"] == building_id
        assert hit["address"] == "济南市历城区全福街道琥珀路7号琥珀湾9号楼"
        houses = demo.execute(
            text(
                "SELECT count(*) FROM address_register WHERE building_id = :id"
                " AND house_id IS NOT NULL AND full_text LIKE '%琥珀湾9号楼%'"
            ),
            {"id": building_id},
        ).scalar_one()
        assert houses > 0
        nested.rollback()
    assert search(demo, None, q="琥珀湾9栋", limit=1).hits == [] or (
        search(demo, None, q="琥珀湾9栋", limit=1).hits[0]["address"]
        != "济南市历城区全福街道琥珀路7号琥珀湾9号楼"
    )


def test_pinyin_initials_find_the_compound(demo: Session) -> None:
    row = demo.execute(
        text(
            "SELECT b.id, r.initials, b.compound FROM buildings b JOIN address_register r"
            " ON r.building_id = b.id AND r.house_id IS NULL WHERE b.compound = '鑫苑小区'"
            " AND b.building_no = '1号楼'"
        )
    ).one()
    assert "xyxq1hl" in row.initials
    hit = search(demo, None, q="xyxq1hl", limit=1).hits[0]
    assert hit["building"]["id"] == row.id


def test_reverse_returns_the_building_under_the_point(demo: Session) -> None:
    rows = demo.execute(
        text(
            "SELECT b.id, ST_X(p) AS lon, ST_Y(p) AS lat, b.grid_id FROM"
            " (SELECT id, grid_id, ST_PointOnSurface(geom) AS p FROM buildings"
            "  WHERE code LIKE '370112004-B%' ORDER BY id LIMIT 200) AS b"
        )
    ).all()
    for r in rows:
        answer = reverse(demo, None, lon=r.lon, lat=r.lat)
        assert answer["building"]["id"] == r.id
        assert answer["building"]["covers_point"] is True
        assert answer["grid"]["id"] == r.grid_id


def test_reverse_nearest_within_the_limit(demo: Session) -> None:
    r = demo.execute(
        text(
            "SELECT id, ST_XMax(geom) AS x, ST_Y(ST_PointOnSurface(geom)) AS y FROM buildings"
            " WHERE code LIKE '370112004-B%' ORDER BY id LIMIT 1"
        )
    ).one()
    # about 5 m east of the footprint's east edge (1e-5 degree is ~0.9 m at 36.6°N)
    answer = reverse(demo, None, lon=r.x + 0.00005, lat=r.y)
    assert answer["building"]["id"] == r.id
    assert answer["building"]["covers_point"] is False
    assert 0 < answer["building"]["distance_m"] < 10
