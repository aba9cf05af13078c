"""Per-grid rates per 100 households, Gi* hot spots, and the weekly series."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy.orm import Session

from layers.errors import InvalidInput
from layers.stats import grids, series
from layers.stats.filters import StatsFilter
from layers.users import load_principal
from tests.fixtures.stats import CLUSTER_SIZE, StatsWorld, build_stats_world
from tests.fixtures.world import GRID_A1, GRID_A2, GRID_B1, GRID_B2, World


@pytest.fixture
def sw(db: Session, world: World) -> StatsWorld:
    return build_stats_world(db, world)


def _by_code(body: dict) -> dict[str, dict]:
    return {f["properties"]["code"]: f["properties"] for f in body["features"]}


def test_grid_rates_per_100_households(db: Session, world: World, sw: StatsWorld) -> None:
    admin = load_principal(db, world.users["t_admin"])
    body = grids.grid_rates(db, admin, StatsFilter())
    rates = _by_code(body)
    assert set(rates) == {GRID_A1, GRID_A2, GRID_B1, GRID_B2}
    assert sum(r["count"] for r in rates.values()) == body["total"] == 72
    assert rates[GRID_A2]["count"] >= CLUSTER_SIZE
    # A1 holds the world's only household: rate = count / 1 * 100
    assert rates[GRID_A1]["households"] == 1
    assert rates[GRID_A1]["per_100_households"] == pytest.approx(rates[GRID_A1]["count"] * 100)
    assert rates[GRID_B1]["households"] == 0 and rates[GRID_B1]["per_100_households"] is None


def test_grid_rates_scoped_to_the_community(db: Session, world: World, sw: StatsWorld) -> None:
    ca = load_principal(db, world.users["t_ca_a"])
    admin = load_principal(db, world.users["t_admin"])
    mine, everything = (
        _by_code(grids.grid_rates(db, ca, StatsFilter())),
        _by_code(grids.grid_rates(db, admin, StatsFilter())),
    )
    assert set(mine) == {GRID_A1, GRID_A2}
    for code in mine:
        assert mine[code]["count"] == everything[code]["count"]


def test_cell_hotspot_on_the_cluster(db: Session, world: World, sw: StatsWorld) -> None:
    admin = load_principal(db, world.users["t_admin"])
    flt = StatsFilter(bbox=(117.0, 36.6, 117.02, 36.61))
    body = grids.hotspots(db, admin, flt, unit="cell", size_m=100, permutations=999, seed=7)
    assert body["total"] == 72
    props = [f["properties"] for f in body["features"]]
    peak = max(props, key=lambda p: p["count"])
    assert peak["class"] == "hot_99" and peak["z"] > 3
    # nothing far from the cluster is hot at 99 %
    far = [p for p in props if abs(p["cell_i"] - peak["cell_i"]) > 3]
    assert far and all(p["class"] != "hot_99" for p in far)
    again = grids.hotspots(db, admin, flt, unit="cell", size_m=100, permutations=999, seed=7)
    assert again["features"] == body["features"]  # seeded: reproducible


def test_gi_star_matches_the_textbook_formula() -> None:
    """z of Gi* on a 5×5 lattice with a peak, against Getis & Ord (1992) computed by hand."""
    from libpysal.weights import lat2W

    y = np.zeros(25)
    y[12], y[7], y[11] = 10, 3, 2
    w = lat2W(5, 5, rook=False)
    z, p, _ = grids.getis_ord(y, w, permutations=99, seed=1)
    n, mean, s = y.size, y.mean(), y.std()
    neighbours = [12, *w.neighbors[12]]
    wsum = len(neighbours)
    expected = (y[neighbours].sum() - mean * wsum) / (s * np.sqrt((n * wsum - wsum**2) / (n - 1)))
    assert z[12] == pytest.approx(expected, rel=1e-6)
    assert p[12] == pytest.approx(2 * (1 - 0.5 * (1 + math.erf(expected / math.sqrt(2)))))
    assert grids.classify(float(z[12]), float(p[12])).startswith("hot")
    assert grids.classify(-2.0, 0.03) == "cold_95"
    assert grids.classify(1.0, 0.5) == "none"


def test_grid_hotspots_answer_every_grid(db: Session, world: World, sw: StatsWorld) -> None:
    admin = load_principal(db, world.users["t_admin"])
    body = grids.hotspots(db, admin, StatsFilter(), unit="grid", permutations=99)
    assert {f["properties"]["code"] for f in body["features"]} == {
        GRID_A1,
        GRID_A2,
        GRID_B1,
        GRID_B2,
    }
    for f in body["features"]:
        assert 0 < f["properties"]["p"] <= 1
    with pytest.raises(InvalidInput) as info:
        grids.hotspots(db, admin, StatsFilter(), permutations=5)
    assert info.value.field == "permutations"


def test_weekly_series_known_weeks(db: Session, world: World, sw: StatsWorld) -> None:
    admin = load_principal(db, world.users["t_admin"])
    flt = StatsFilter(
        start=datetime(2026, 2, 22, 16, tzinfo=UTC),  # Mon 2026-02-23 00:00 Asia/Shanghai
        end=datetime(2026, 3, 15, 16, tzinfo=UTC),  # Mon 2026-03-16 00:00 Asia/Shanghai
    )
    body = series.weekly_series(db, admin, flt, group_by="category")
    assert [w["week"] for w in body["weeks"]] == ["2026-W09", "2026-W10", "2026-W11"]
    assert [w["start"] for w in body["weeks"]] == ["2026-02-23", "2026-03-02", "2026-03-09"]
    # The world's two incidents: 2026-03-01 00:00 UTC = Sunday 08:00 in Shanghai -> W09
    assert body["weeks"][0]["total"] == 2
    w10 = (datetime(2026, 3, 1, 16, tzinfo=UTC), datetime(2026, 3, 8, 16, tzinfo=UTC))
    expected_w10 = sum(1 for r in sw.rows.values() if w10[0] <= r[4] < w10[1])
    assert expected_w10 >= CLUSTER_SIZE
    assert body["weeks"][1]["total"] == expected_w10
    assert body["total"] == sum(w["total"] for w in body["weeks"])
    assert sum(w["counts"]["hazard.fire"] for w in body["weeks"]) >= CLUSTER_SIZE + 2
    statuses = series.weekly_series(db, admin, flt, group_by="status")
    assert statuses["total"] == body["total"]
    assert set(statuses["keys"]) <= {"reported", "dispatched", "handling"}


def test_weekly_series_is_zero_filled(db: Session, world: World) -> None:
    admin = load_principal(db, world.users["t_admin"])
    flt = StatsFilter(
        start=datetime(2026, 1, 4, 16, tzinfo=UTC), end=datetime(2026, 2, 1, 16, tzinfo=UTC)
    )
    body = series.weekly_series(db, admin, flt)
    assert len(body["weeks"]) == 4 and body["total"] == 0
    assert all(w["total"] == 0 for w in body["weeks"])
