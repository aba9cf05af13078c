"""Address search latency over 1,000,000 register rows, against a plain ILIKE scan in the same run.

Run on a database holding the large demo (``wangge demo load --scale large``: ~28k buildings,
~560k houses). ``--top-up`` first adds synthetic houses (unit ``B9``, committed once, then
VACUUM ANALYZE) until the register holds ``--rows`` rows. Then, for ``--queries`` buildings drawn
at random, one of the five forms of tests/layers/test_address_search.py (full address, without
the city, compound + 栋, Chinese numeral, typo) is searched with
:func:`layers.address.search.search` (parse + one SQL statement, as the API does, staff off), and
the same building's address without the city is looked up with ``full_text ILIKE '%…%'`` over the
same register (the obvious alternative: no typos, no aliases, no ranking). Prints p50/p99 of each,
their ratio and how often each put the right building first. Usage:

    DATABASE_URL=postgresql://…/bench_db .venv/bin/python bench/bench_address.py --top-up
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from layers.address.search import search
from layers.demo.names import CITY_PREFIX
from layers.settings import DatabaseSettings
from tests.layers.test_address_search import five_forms

_TOP_UP = """
INSERT INTO houses (building_id, unit, floor, room)
SELECT b.id, 'B9', f, (f * 100 + k)::text
FROM (SELECT id FROM buildings ORDER BY id LIMIT :buildings) AS b,
     generate_series(1, 20) AS f, generate_series(1, 2) AS k
ON CONFLICT DO NOTHING
"""

_ILIKE = """
SELECT building_id FROM address_register
WHERE full_text ILIKE '%' || :q || '%'
ORDER BY house_id NULLS FIRST
LIMIT 10
"""


def top_up(engine: object, rows: int) -> None:
    """Add synthetic houses (40 per building) until the register holds ``rows`` rows."""
    with engine.begin() as conn:  # type: ignore[attr-defined]
        have = conn.execute(text("SELECT count(*) FROM address_register")).scalar_one()
        if have < rows:
            buildings = -(-(rows - have) // 40)
            started = time.perf_counter()
            conn.execute(text(_TOP_UP), {"buildings": buildings})
            print(f"top-up: {rows - have} rows wanted, {time.perf_counter() - started:.1f} s")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:  # type: ignore[attr-defined]
        conn.execute(text("VACUUM ANALYZE houses"))
        conn.execute(text("VACUUM ANALYZE address_register"))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--top-up", action="store_true")
    args = parser.parse_args()
    engine = create_engine(DatabaseSettings().sqlalchemy_url)
    if args.top_up:
        top_up(engine, args.rows)
    rng = random.Random(6)
    with Session(engine) as session:
        total, buildings = session.execute(
            text("SELECT count(*), count(*) FILTER (WHERE house_id IS NULL) FROM address_register")
        ).one()
        rows = session.execute(
            text(
                "SELECT id, address, road_name, house_number, compound, building_no"
                " FROM buildings WHERE address IS NOT NULL AND road_name IS NOT NULL"
            )
        ).all()
        sample = rng.sample(rows, args.queries)
        ours: list[float] = []
        plain: list[float] = []
        ours_first = plain_first = 0
        for r in sample:
            form = rng.choice(
                five_forms(r.address, r.road_name, r.house_number, r.compound, r.building_no)
            )
            started = time.perf_counter()
            hits = search(session, None, q=form, limit=10, with_staff=False).hits
            ours.append((time.perf_counter() - started) * 1000)
            ours_first += bool(hits) and hits[0]["building"]["id"] == r.id
            exact = r.address.removeprefix(CITY_PREFIX)
            started = time.perf_counter()
            found = session.execute(text(_ILIKE), {"q": exact}).scalars().all()
            plain.append((time.perf_counter() - started) * 1000)
            plain_first += bool(found) and found[0] == r.id
            session.rollback()
    n = len(sample)
    print(f"register: {total:,} rows ({buildings:,} buildings), {n} queries")
    print(
        f"search (parse + trigram/rank SQL, five forms): p50 {statistics.median(ours):.1f} ms,"
        f" p99 {pct(ours, 0.99):.1f} ms, right building first {ours_first}/{n}"
    )
    print(
        f"ILIKE '%exact address%' scan:                   p50 {statistics.median(plain):.1f} ms,"
        f" p99 {pct(plain, 0.99):.1f} ms, right building first {plain_first}/{n}"
    )
    print(
        f"ratio ILIKE/search: p50 {statistics.median(plain) / statistics.median(ours):.1f}x,"
        f" p99 {pct(plain, 0.99) / pct(ours, 0.99):.1f}x"
    )


if __name__ == "__main__":
    main()
