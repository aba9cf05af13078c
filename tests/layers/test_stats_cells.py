"""Heat cells and tiles: conservation, the peak on a seeded cluster, metres, scope, rollup."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Float, column, func, select, table, text
from sqlalchemy.orm import Session

import mapbox_vector_tile
from shapely.geometry import Point, shape

from layers.access import Principal
from layers.errors import Forbidden, InvalidInput
from layers.models import Incident
from layers.stats import cells
from layers.stats.filters import StatsFilter
from layers.users import load_principal
from tests.fixtures.stats import CLUSTER_CENTRE, CLUSTER_SIZE, StatsWorld, build_stats_world
from tests.fixtures.world import COMMUNITY_A, World

STREET_BBOX = (117.0, 36.6, 117.02, 36.61)


@pytest.fixture
def sw(db: Session, world: World) -> StatsWorld:
    return build_stats_world(db, world)


def who(db: Session, world: World, username: str) -> Principal:
    return load_principal(db, world.users[username])


def count_in(db: Session, bbox: tuple[float, float, float, float], **where: object) -> int:
    """Incidents of the test district inside a bbox, counted directly."""
    q = select(func.count()).where(
        Incident.code.like("T-INC-%"),
        func.ST_Intersects(Incident.geom, func.ST_MakeEnvelope(*bbox, 4326)),
    )
    for name, value in where.items():
        q = q.where(getattr(Incident, name) == value)
    return db.scalar(q) or 0


@pytest.mark.parametrize("shape_", ["square", "hexagon"])
@pytest.mark.parametrize("size", [25.0, 100.0, 333.0])
def test_cells_conserve_the_count(
    db: Session, world: World, sw: StatsWorld, shape_: cells.Shape, size: float
) -> None:
    admin = who(db, world, "t_admin")
    for bbox in (STREET_BBOX, (117.004, 36.602, 117.009, 36.607)):
        body = cells.heat_cells(db, admin, StatsFilter(bbox=bbox), shape=shape_, size_m=size)
        expected = count_in(db, bbox)
        assert expected > 0
        assert body["total"] == expected
        assert sum(f["properties"]["count"] for f in body["features"]) == expected
    # all 72 incidents of the world: 2 of the world, 40 cluster, 30 scatter
    assert cells.heat_cells(db, admin, StatsFilter(), shape=shape_, size_m=size)["total"] == 72


@pytest.mark.parametrize("shape_", ["square", "hexagon"])
def test_peak_is_on_the_cluster(
    db: Session, world: World, sw: StatsWorld, shape_: cells.Shape
) -> None:
    body = cells.heat_cells(
        db, who(db, world, "t_admin"), StatsFilter(bbox=STREET_BBOX), shape=shape_, size_m=100
    )
    peak = max(body["features"], key=lambda f: f["properties"]["count"])
    assert peak["properties"]["count"] >= CLUSTER_SIZE
    assert body["max"] == peak["properties"]["count"]
    assert shape(peak["geometry"]).buffer(0.0003).contains(Point(CLUSTER_CENTRE))
    others = [f["properties"]["count"] for f in body["features"] if f is not peak]
    assert max(others) < 10


def test_filters_time_category_status(db: Session, world: World, sw: StatsWorld) -> None:
    admin = who(db, world, "t_admin")
    expected = {
        "fire": sum(1 for r in sw.rows.values() if r[2] == "hazard.fire") + 2,
        "hazard": sum(1 for r in sw.rows.values() if r[2].startswith("hazard.")) + 2,
        "handling": sum(1 for r in sw.rows.values() if r[3] == "handling"),
        "march3": sum(
            1
            for r in sw.rows.values()
            if datetime(2026, 3, 3, tzinfo=UTC) <= r[4] < datetime(2026, 3, 4, tzinfo=UTC)
        ),
    }
    assert expected["march3"] >= CLUSTER_SIZE
    filters = {
        "fire": StatsFilter(categories=("hazard.fire",)),
        "hazard": StatsFilter(categories=("hazard",)),
        "handling": StatsFilter(statuses=("handling",)),
        "march3": StatsFilter(
            start=datetime(2026, 3, 3, tzinfo=UTC), end=datetime(2026, 3, 4, tzinfo=UTC)
        ),
    }
    for key, flt in filters.items():
        assert cells.heat_cells(db, admin, flt, size_m=200)["total"] == expected[key], key


def test_cell_size_is_metres_at_demo_latitude(db: Session) -> None:
    """A 100 m square at 36.69°N, 117.0-117.3°E measures 100 m on the ellipsoid (±0.05 %)."""
    for lon in (117.0, 117.3):
        edges = (
            db.execute(
                text(
                    """
                WITH p AS (
                    SELECT ST_Transform(ST_SetSRID(ST_MakePoint(:lon, 36.69), 4326), 4527) g
                ),
                c AS (SELECT ST_Transform(ST_Square(100, floor(ST_X(g)/100)::int,
                          floor(ST_Y(g)/100)::int, ST_SetSRID(ST_MakePoint(0,0),4527)), 4326) s
                      FROM p)
                SELECT ST_Length(ST_MakeLine(ST_PointN(r, k), ST_PointN(r, k + 1))::geography)
                FROM c, ST_ExteriorRing(c.s) r, generate_series(1, 4) k
                """
                ),
                {"lon": lon},
            )
            .scalars()
            .all()
        )
        assert len(edges) == 4
        for edge in edges:
            assert edge == pytest.approx(100.0, rel=5e-4), (lon, edges)
    hexagon = db.scalar(
        text(
            "SELECT ST_Perimeter(ST_Transform(ST_Hexagon(50, 526667, 46882, "
            "ST_SetSRID(ST_MakePoint(0,0),4527)), 4326)::geography)"
        )
    )
    assert hexagon == pytest.approx(300.0, rel=5e-4)


def test_hexagon_binning_matches_postgis_hexagons(db: Session) -> None:
    """Each of 2,000 random points goes to the PostGIS hexagon (ST_Hexagon) that covers it."""
    db.execute(text("SELECT setseed(0.42)"))
    db.execute(
        text(
            "CREATE TEMP TABLE hex_pts AS SELECT 39500000 + random() * 5000 AS x, "
            "4060000 + random() * 5000 AS y FROM generate_series(1, 2000)"
        )
    )
    points = table("hex_pts", column("x", Float), column("y", Float))
    counts = cells.binned_counts(
        select(points.c.x, points.c.y).subquery("xy"), "hexagon", 60.0
    ).subquery("c")
    inside = (
        select(func.count())
        .select_from(points)
        .where(
            func.ST_Covers(
                cells.cell_geometry("hexagon", 60.0, counts.c.i, counts.c.j),
                func.ST_SetSRID(func.ST_MakePoint(points.c.x, points.c.y), cells.METRIC_SRID),
            )
        )
        .scalar_subquery()
    )
    covered = db.execute(select(counts.c.n, inside)).all()
    assert len(covered) > 100
    assert sum(n for n, _ in covered) == 2000
    assert all(n == k for n, k in covered)
    db.execute(text("DROP TABLE hex_pts"))


def test_community_admin_sees_only_their_community(
    db: Session, world: World, sw: StatsWorld
) -> None:
    ca = who(db, world, "t_ca_a")
    body = cells.heat_cells(db, ca, StatsFilter(bbox=STREET_BBOX), size_m=100)
    in_a = db.scalar(
        select(func.count())
        .select_from(Incident)
        .where(Incident.code.like("T-INC-%"), Incident.community_id == world.units[COMMUNITY_A])
    )
    assert body["total"] == in_a
    assert body["total"] < 72
    for feature in body["features"]:
        assert shape(feature["geometry"]).bounds[0] < 117.0101  # nothing from B (east of 117.01)


def test_roles_without_statistics(db: Session, world: World) -> None:
    for username in ("t_gw_a", "t_handler"):
        with pytest.raises(Forbidden):
            cells.heat_cells(db, who(db, world, username), StatsFilter())


def test_bad_sizes_and_tiles(db: Session, world: World) -> None:
    admin = who(db, world, "t_admin")
    with pytest.raises(InvalidInput) as info:
        cells.heat_cells(db, admin, StatsFilter(), size_m=1)
    assert info.value.field == "size"
    with pytest.raises(InvalidInput) as info:
        cells.heat_tile(db, admin, StatsFilter(), z=3, x=8, y=0)
    assert info.value.field == "x"
    with pytest.raises(InvalidInput) as info:
        StatsFilter(bbox=(117.02, 36.6, 117.0, 36.61))
    assert info.value.field == "bbox"


def _tile_counts(tile: bytes) -> dict[tuple[int, int], int]:
    decoded = mapbox_vector_tile.decode(tile)
    if not decoded:
        return {}
    return {
        (f["properties"]["cell_i"], f["properties"]["cell_j"]): f["properties"]["count"]
        for f in decoded["heat"]["features"]
    }


def _tiles_over_street(z: int) -> list[tuple[int, int]]:
    import mercantile

    return [(t.x, t.y) for t in mercantile.tiles(*STREET_BBOX, zooms=z)]


def test_tiles_count_cells_whole_and_conserve(db: Session, world: World, sw: StatsWorld) -> None:
    admin = who(db, world, "t_admin")
    for z in (14, 15, 16):
        size = cells.tile_cell_size(z)
        merged: dict[tuple[int, int], int] = {}
        for x, y in _tiles_over_street(z):
            for key, n in _tile_counts(
                cells.heat_tile(db, admin, StatsFilter(), z=z, x=x, y=y)
            ).items():
                assert merged.setdefault(key, n) == n  # a straddling cell: same count everywhere
        live = cells.heat_cells(db, admin, StatsFilter(), size_m=size)
        expected = {
            (f["properties"]["cell_i"], f["properties"]["cell_j"]): f["properties"]["count"]
            for f in live["features"]
        }
        assert merged == expected
        assert sum(merged.values()) == 72


def test_rollup_equals_live(db: Session, world: World, sw: StatsWorld) -> None:
    cells.refresh_rollup(db, concurrently=False)
    admin, ca = who(db, world, "t_admin"), who(db, world, "t_ca_a")
    march = StatsFilter(
        start=datetime(2026, 2, 28, 16, tzinfo=UTC),  # 2026-03-01 00:00 Asia/Shanghai
        end=datetime(2026, 3, 31, 16, tzinfo=UTC),
        categories=("hazard",),
    )
    for principal in (admin, ca):
        for flt in (StatsFilter(), march):
            for size in (250.0, 500.0):
                live = cells.heat_cells(db, principal, flt, size_m=size)
                rolled = cells.heat_cells(db, principal, flt, size_m=size, source="rollup")
                assert rolled["features"] == live["features"]
                assert rolled["total"] == live["total"] > 0
        x, y = _tiles_over_street(12)[0]
        live_tile = _tile_counts(cells.heat_tile(db, principal, march, z=12, x=x, y=y))
        rollup_tile = _tile_counts(
            cells.heat_tile(db, principal, march, z=12, x=x, y=y, source="rollup")
        )
        assert live_tile == rollup_tile and live_tile
    with pytest.raises(InvalidInput) as info:
        cells.heat_cells(
            db, admin, StatsFilter(statuses=("reported",)), size_m=250, source="rollup"
        )
    assert info.value.field == "status"
    with pytest.raises(InvalidInput) as info:
        cells.heat_cells(db, admin, StatsFilter(), size_m=300, source="rollup")
    assert info.value.field == "size"
