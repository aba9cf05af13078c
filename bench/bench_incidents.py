"""Incident creation throughput: the full report (layers.incidents.reporting.report) against a
bare INSERT of the same rows (grid filing trigger only), in one run on the same database.

Uses the test world (tests/fixtures/world.py) inside one transaction that is rolled back, on the
database of DATABASE_URL (migrated to head). Usage:

    .venv/bin/python bench/bench_incidents.py --reports 500
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from geoalchemy2.shape import from_shape
from shapely.geometry import Point

from layers.incidents.reporting import report
from layers.incidents.settings import IncidentSettings
from layers.models import Incident
from layers.settings import DatabaseSettings
from layers.users import load_principal
from tests.fixtures.world import build_world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reports", type=int, default=500)
    args = parser.parse_args()
    engine = create_engine(DatabaseSettings().sqlalchemy_url)
    rng = random.Random(7)
    now = datetime(2026, 3, 2, 1, tzinfo=UTC)
    points = [(117.0 + rng.random() * 0.0199, 36.6 + rng.random() * 0.0099)
              for _ in range(args.reports)]  # fmt: skip
    with engine.connect() as conn, conn.begin() as tx:
        session = Session(bind=conn)
        world = build_world(session)
        admin = load_principal(session, world.users["t_admin"])
        settings = IncidentSettings()
        t0 = time.perf_counter()
        for i, (x, y) in enumerate(points):
            report(session, admin, now=now + timedelta(seconds=i), settings=settings,
                   category_code="hazard.fire", title="bench", channel="walk_in",
                   risk_level="medium", lon=x, lat=y, reporter_phone="13800000000")  # fmt: skip
        full = time.perf_counter() - t0
        t0 = time.perf_counter()
        for i, (x, y) in enumerate(points):
            session.add(Incident(code=f"B-{i}", category_code="hazard.fire", title="bench",
                                 channel="walk_in", geom=from_shape(Point(x, y), 4326),
                                 reported_at=now))  # fmt: skip
            session.flush()
        bare = time.perf_counter() - t0
        tx.rollback()
    n = args.reports
    print(f"full report (layer): {n / full:8.1f} incidents/s  ({1000 * full / n:.2f} ms each)")
    print(f"bare INSERT + trigger: {n / bare:8.1f} incidents/s  ({1000 * bare / n:.2f} ms each)")
    print(f"ratio full/bare time: {full / bare:.1f}x")


if __name__ == "__main__":
    main()
