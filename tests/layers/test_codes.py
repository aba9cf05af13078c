"""Grid codes: reading order, next sequences, never reissuing a retired code."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.errors import Conflict
from layers.grids.codes import Placed, codes_for_new_grids, next_codes, reading_order
from tests.fixtures.world import COMMUNITY_A, COMMUNITY_B, World


def test_reading_order_is_west_to_east_then_north_to_south() -> None:
    # a 3 × 2 layout, given shuffled; rows are 0.01° tall, the northern row slightly uneven
    grids = [
        Placed("sw", 117.000, 36.600, 0.01),
        Placed("ne", 117.020, 36.6104, 0.01),
        Placed("s", 117.010, 36.6003, 0.01),
        Placed("nw", 117.000, 36.6098, 0.01),
        Placed("se", 117.020, 36.5998, 0.01),
        Placed("n", 117.010, 36.610, 0.01),
    ]
    assert reading_order(grids) == ["nw", "n", "ne", "sw", "s", "se"]


def test_one_row_and_one_column() -> None:
    row = [Placed(k, x, 36.6, 0.01) for k, x in (("c", 3.0), ("a", 1.0), ("b", 2.0))]
    assert reading_order(row) == ["a", "b", "c"]
    column = [
        Placed(k, 117.0, y, 0.01) for k, y in (("low", 36.58), ("top", 36.62), ("mid", 36.60))
    ]
    assert reading_order(column) == ["top", "mid", "low"]
    assert reading_order([]) == []


def test_next_codes_follow_the_highest_ever_issued(db: Session, world: World) -> None:
    # community A has issued 001 and 002; retire 002: it is still never handed out again
    db.execute(
        text("UPDATE grid_codes SET retired_at = now() WHERE code = :c"), {"c": COMMUNITY_A + "002"}
    )
    assert next_codes(db, community_code=COMMUNITY_A, count=2) == [
        COMMUNITY_A + "003",
        COMMUNITY_A + "004",
    ]
    assert next_codes(db, community_code=COMMUNITY_A, count=0) == []


def test_after_999_never_issued_gaps_are_used_then_nothing(db: Session, world: World) -> None:
    db.execute(
        text(
            "INSERT INTO grid_codes (code, community_id) "
            "SELECT :c || lpad(n::text, 3, '0'), :id FROM generate_series(5, 999) AS n"
        ),
        {"c": COMMUNITY_A, "id": world.units[COMMUNITY_A]},
    )
    # issued: 001, 002, 005..999 → 003 and 004 are the only numbers never issued
    assert next_codes(db, community_code=COMMUNITY_A, count=2) == [
        COMMUNITY_A + "003",
        COMMUNITY_A + "004",
    ]
    with pytest.raises(Conflict) as err:
        next_codes(db, community_code=COMMUNITY_A, count=3)
    assert err.value.field == "code"


def test_codes_for_new_grids_per_community_in_reading_order(db: Session, world: World) -> None:
    grids = [
        Placed("a-south", 117.002, 36.601, 0.004),
        Placed("b-only", 117.015, 36.607, 0.004),
        Placed("a-north", 117.002, 36.609, 0.004),
    ]
    codes = codes_for_new_grids(
        db,
        grids=grids,
        community_codes={"a-south": COMMUNITY_A, "a-north": COMMUNITY_A, "b-only": COMMUNITY_B},
    )
    assert codes == {
        "a-north": COMMUNITY_A + "003",
        "a-south": COMMUNITY_A + "004",
        "b-only": COMMUNITY_B + "003",
    }
