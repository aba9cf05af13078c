"""Benchmark: heatmap aggregation of incidents in PostGIS (live and rollup) against numpy.

    python bench/bench_heatmap.py --points 1000000

Creates its own database (``wangge_bench``, dropped at the end unless ``--keep``), migrated to
head (so the rollup view of migration 0009 is the real one), with a district, a street and 16
communities over about 18 km x 17 km around Jinan, and ``--points`` incidents: half in 40
Gaussian clusters (sigma 150 m), half uniform; 8 categories, 3 statuses, reported over 2025
(Asia/Shanghai). Rows are COPYed in random order with the assignment trigger off and
``community_id`` set from the community boxes. Then, on the same data:

1. ``layers.stats.cells.heat_cells`` (the function behind ``GET /stats/cells``: counting plus
   GeoJSON) for the whole extent and for a 1 km x 1 km bbox, live and from the rollup;
2. the counting statement alone (``binned_counts``: ST_Transform + arithmetic GROUP BY);
3. heat tiles (``heat_tile``) at zoom 12 (250 m cells) live and from the rollup, and zoom 16;
4. numpy binning of the same points in memory (``np.floor`` + ``np.unique``), with and without
   the projection to EPSG:4527 by pyproj.

It checks that the live cells, the rollup cells and numpy agree cell by cell and conserve the
total, prints median seconds of ``--repeat`` runs (after one warm-up) and ratios to numpy.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import psycopg
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

import shapely
from pyproj import Transformer
from shapely.geometry import box

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_assign import bench_database, machine

from layers.access import Principal
from layers.models.users import Role
from layers.stats import cells
from layers.stats.filters import StatsFilter

DISTRICT, STREET = "370102000000", "370102001000"
BOUNDS = (117.00, 36.60, 117.20, 36.75)
GRID_N = 4  # 4 x 4 communities
SMALL_BBOX = (117.095, 36.670, 117.1062, 36.679)  # about 1 km x 1 km in the middle
CATEGORIES = (
    "hazard.fire",
    "hazard.co",
    "hazard.drowning",
    "hazard.traffic",
    "hazard.construction",
    "dispute.neighbour",
    "dispute.family",
    "hazard.fire",
)
STATUSES = ("reported", "handling", "closed")
YEAR_START = datetime(2024, 12, 31, 16, tzinfo=UTC)  # 2025-01-01 00:00 Asia/Shanghai
YEAR_SECONDS = 365 * 86400

app = typer.Typer(add_completion=False)
console = Console()


def make_points(n: int, seed: int) -> np.ndarray:
    """``n`` lon/lat points: half in 40 Gaussian clusters (sigma 150 m), half uniform."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = BOUNDS
    n_cluster = n // 2
    centres = np.column_stack(
        [rng.uniform(minx + 0.01, maxx - 0.01, 40), rng.uniform(miny + 0.01, maxy - 0.01, 40)]
    )
    which = rng.integers(0, 40, n_cluster)
    sigma_lat = 150 / 111_320
    sigma_lon = sigma_lat / np.cos(np.radians(36.69))
    clustered = centres[which] + rng.normal(0, 1, (n_cluster, 2)) * [sigma_lon, sigma_lat]
    uniform = np.column_stack(
        [rng.uniform(minx, maxx, n - n_cluster), rng.uniform(miny, maxy, n - n_cluster)]
    )
    xy = np.vstack([clustered, uniform])
    xy[:, 0] = np.clip(xy[:, 0], minx, maxx - 1e-9)
    xy[:, 1] = np.clip(xy[:, 1], miny, maxy - 1e-9)
    return xy[rng.permutation(n)]


def load(engine: Engine, xy: np.ndarray, seed: int) -> tuple[int, float]:
    """Insert the units and COPY the incidents; return the district id and the load seconds."""
    rng = np.random.default_rng(seed + 1)
    minx, miny, maxx, maxy = BOUNDS
    w, h = (maxx - minx) / GRID_N, (maxy - miny) / GRID_N

    def ewkb(geom: Any) -> str:
        return shapely.to_wkb(shapely.set_srid(geom, 4326), hex=True, include_srid=True)

    raw = engine.raw_connection()
    try:
        conn: psycopg.Connection = raw.driver_connection  # type: ignore[assignment]
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO admin_units (code, name, level, geom) "
                "VALUES (%s, '基准区', 'district', %s) RETURNING id",
                (DISTRICT, ewkb(shapely.multipolygons([box(*BOUNDS)]))),
            )
            district = cur.fetchone()[0]  # type: ignore[index]
            cur.execute(
                "INSERT INTO admin_units (code, name, level, parent_id, geom) "
                "VALUES (%s, '基准街道', 'street', %s, %s) RETURNING id",
                (STREET, district, ewkb(shapely.multipolygons([box(*BOUNDS)]))),
            )
            street = cur.fetchone()[0]  # type: ignore[index]
            community_ids = []
            for k in range(GRID_N * GRID_N):
                r, c = divmod(k, GRID_N)
                cbox = box(minx + c * w, miny + r * h, minx + (c + 1) * w, miny + (r + 1) * h)
                cur.execute(
                    "INSERT INTO admin_units (code, name, level, parent_id, geom) "
                    "VALUES (%s, %s, 'community', %s, %s) RETURNING id",
                    (
                        f"{STREET[:9]}{k + 1:03d}",
                        f"基准社区{k + 1}",
                        street,
                        ewkb(shapely.multipolygons([cbox])),
                    ),
                )
                community_ids.append(cur.fetchone()[0])  # type: ignore[index]
        conn.commit()
        col = np.minimum(((xy[:, 0] - minx) / w).astype(int), GRID_N - 1)
        row = np.minimum(((xy[:, 1] - miny) / h).astype(int), GRID_N - 1)
        community = np.asarray(community_ids)[row * GRID_N + col]
        category = rng.integers(0, len(CATEGORIES), len(xy))
        status = rng.integers(0, len(STATUSES), len(xy))
        offsets = rng.integers(0, YEAR_SECONDS, len(xy))
        geoms = shapely.to_wkb(
            shapely.set_srid(shapely.points(xy), 4326), hex=True, include_srid=True
        )
        started = time.perf_counter()
        with conn.cursor() as cur:
            cur.execute("SET LOCAL wangge.bulk_assign = 'on'")
            columns = (
                "id, code, category_code, title, channel, status, closed_at, geom, "
                "community_id, reported_at"
            )
            with cur.copy(f"COPY incidents ({columns}) FROM STDIN") as copy:
                base = YEAR_START.timestamp()
                for i in range(len(xy)):
                    at = datetime.fromtimestamp(base + int(offsets[i]), UTC).isoformat()
                    st = STATUSES[status[i]]
                    closed = at if st == "closed" else "\\N"
                    copy.write(
                        f"{i + 1}\tB{i + 1}\t{CATEGORIES[category[i]]}\t基准事件\tgrid_worker\t"
                        f"{st}\t{closed}\t{geoms[i]}\t{community[i]}\t{at}\n"
                    )
        conn.commit()
        with conn.cursor() as cur:
            cur.execute("ANALYZE incidents")
        conn.commit()
        return district, time.perf_counter() - started
    finally:
        raw.close()


def median_seconds(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median wall time of ``repeat`` runs after one warm-up, and the last result."""
    result = fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def cell_map(body: dict[str, Any]) -> dict[tuple[int, int], int]:
    """Cell counts of a heat_cells answer by (i, j)."""
    return {
        (f["properties"]["cell_i"], f["properties"]["cell_j"]): f["properties"]["count"]
        for f in body["features"]
    }


@app.command()
def main(
    points: Annotated[int, typer.Option(help="Incidents to generate")] = 1_000_000,
    repeat: Annotated[int, typer.Option(help="Timed runs per case (median)")] = 5,
    seed: Annotated[int, typer.Option(help="Random seed")] = 20261122,
    database: Annotated[str, typer.Option(help="Scratch database name")] = "wangge_bench",
    keep: Annotated[bool, typer.Option(help="Keep the database afterwards")] = False,
) -> None:
    """Run the benchmark and print the table."""
    console.print(f"[bold]Heatmap aggregation[/bold], {points:,} incidents; {machine()}")
    xy = make_points(points, seed)
    rows: list[tuple[str, float, str]] = []
    failures: list[str] = []
    with bench_database(database, keep) as engine:
        district, load_s = load(engine, xy, seed)
        rows.append(("load: COPY incidents + ANALYZE (not compared)", load_s, ""))
        with Session(engine) as session:
            started = time.perf_counter()
            cells.refresh_rollup(session, concurrently=False)
            session.commit()
            rows.append(
                (
                    "refresh both rollup views + ANALYZE (not compared)",
                    time.perf_counter() - started,
                    "",
                )
            )
            rollup_rows = session.scalar(text("SELECT count(*) FROM incident_heat_rollup"))
            rollup_all_rows = session.scalar(text("SELECT count(*) FROM incident_heat_rollup_all"))
            principal = Principal(
                user_id=0,
                username="bench",
                role=Role.admin,
                area_id=district,
                area_code=DISTRICT,
                area_prefix=DISTRICT[:6],
            )
            whole, small = StatsFilter(), StatsFilter(bbox=SMALL_BBOX)

            # numpy, in memory: the same points projected to EPSG:4527 and binned
            transformer = Transformer.from_crs(4326, cells.METRIC_SRID, always_xy=True)

            def project() -> tuple[np.ndarray, np.ndarray]:
                return transformer.transform(xy[:, 0], xy[:, 1])

            project_s, (mx, my) = median_seconds(project, repeat)

            def numpy_bin(size: float, x: np.ndarray, y: np.ndarray) -> dict[tuple[int, int], int]:
                keys = np.column_stack([np.floor(x / size), np.floor(y / size)]).astype(np.int64)
                uniq, counts = np.unique(keys, axis=0, return_counts=True)
                return {(int(a), int(b)): int(n) for (a, b), n in zip(uniq, counts, strict=True)}

            def numpy_counts(size: float, x: np.ndarray, y: np.ndarray) -> int:
                keys = (np.floor(x / size).astype(np.int64) << 32) + np.floor(y / size).astype(
                    np.int64
                )
                return len(np.unique(keys, return_counts=True)[1])

            np_whole_s, _ = median_seconds(lambda: numpy_counts(250.0, mx, my), repeat)
            inside = (
                (xy[:, 0] >= SMALL_BBOX[0])
                & (xy[:, 0] <= SMALL_BBOX[2])
                & (xy[:, 1] >= SMALL_BBOX[1])
                & (xy[:, 1] <= SMALL_BBOX[3])
            )
            np_small_s, _ = median_seconds(
                lambda: numpy_counts(50.0, mx[inside], my[inside]), repeat
            )
            np_reference = numpy_bin(250.0, mx, my)

            def run(fn: Callable[[], Any]) -> tuple[float, Any]:
                out = median_seconds(fn, repeat)
                session.rollback()
                return out

            def counting(flt: StatsFilter, size: float) -> int:
                q = cells.binned_counts(cells.metric_points(principal, flt), "square", size)
                return len(session.execute(q).all())

            t_count_whole, _ = run(lambda: counting(whole, 250.0))
            t_count_roll, _ = run(
                lambda: len(
                    session.execute(cells.rollup_counts(principal, whole, 250.0, None)).all()
                )
            )
            t_live_whole, live250 = run(
                lambda: cells.heat_cells(session, principal, whole, size_m=250)
            )
            t_roll_whole, roll250 = run(
                lambda: cells.heat_cells(session, principal, whole, size_m=250, source="rollup")
            )
            t_hex_whole, hex100 = run(
                lambda: cells.heat_cells(session, principal, whole, shape="hexagon", size_m=100)
            )
            t_count_small, _ = run(lambda: counting(small, 50.0))
            t_live_small, live_small = run(
                lambda: cells.heat_cells(session, principal, small, size_m=50)
            )
            t_roll_small, _ = run(
                lambda: cells.heat_cells(session, principal, small, size_m=250, source="rollup")
            )
            z12 = (3380, 1598)  # the tile over the middle of the extent at zoom 12
            t_tile12, tile12 = run(
                lambda: cells.heat_tile(session, principal, whole, z=12, x=z12[0], y=z12[1])
            )
            t_tile12r, tile12r = run(
                lambda: cells.heat_tile(
                    session, principal, whole, z=12, x=z12[0], y=z12[1], source="rollup"
                )
            )
            t_tile16, _ = run(
                lambda: cells.heat_tile(session, principal, whole, z=16, x=54085, y=25582)
            )

            # agreement and conservation
            if live250["total"] != points or roll250["total"] != points:
                failures.append(f"totals {live250['total']} / {roll250['total']} != {points}")
            if hex100["total"] != points:
                failures.append(f"hexagon total {hex100['total']} != {points}")
            if cell_map(live250) != np_reference:
                failures.append("live 250 m cells differ from numpy")
            if cell_map(roll250) != np_reference:
                failures.append("rollup 250 m cells differ from numpy")
            if live_small["total"] != int(inside.sum()):
                failures.append(f"small bbox total {live_small['total']} != {int(inside.sum())}")
            if tile12 != tile12r:
                failures.append("z12 tile differs between live and rollup")

        rows += [
            ("numpy: project 4326 -> 4527 (pyproj), all points", project_s, ""),
            ("numpy: bin whole extent, 250 m (projected points)", np_whole_s, "1.00"),
            (
                "PostGIS live: counting only (ST_Transform + GROUP BY), 250 m",
                t_count_whole,
                f"{t_count_whole / np_whole_s:.0f}",
            ),
            (
                f"PostGIS live: heat_cells whole extent, 250 m ({live250['cells']} cells)",
                t_live_whole,
                f"{t_live_whole / np_whole_s:.0f}",
            ),
            (
                "PostGIS live: heat_cells whole extent, 100 m hexagons",
                t_hex_whole,
                f"{t_hex_whole / np_whole_s:.0f}",
            ),
            (
                f"PostGIS rollup: counting only, 250 m ({rollup_all_rows:,} rows of _all)",
                t_count_roll,
                f"{t_count_roll / np_whole_s:.1f}",
            ),
            (
                "PostGIS rollup: heat_cells whole extent, 250 m",
                t_roll_whole,
                f"{t_roll_whole / np_whole_s:.1f}",
            ),
            (f"numpy: bin 1 km bbox, 50 m ({int(inside.sum()):,} points)", np_small_s, "1.00"),
            (
                "PostGIS live: counting only, 1 km bbox, 50 m",
                t_count_small,
                f"{t_count_small / np_small_s:.0f}",
            ),
            (
                "PostGIS live: heat_cells 1 km bbox, 50 m",
                t_live_small,
                f"{t_live_small / np_small_s:.0f}",
            ),
            ("PostGIS rollup: heat_cells 1 km bbox, 250 m", t_roll_small, ""),
            ("tile z12 (250 m cells) live", t_tile12, ""),
            ("tile z12 (250 m cells) rollup", t_tile12r, ""),
            ("tile z16 (25 m cells) live", t_tile16, ""),
        ]
    table = Table(title=f"{points:,} incidents, median of {repeat}")
    table.add_column("case")
    table.add_column("seconds", justify="right")
    table.add_column("x numpy", justify="right")
    for name, seconds, ratio in rows:
        table.add_row(name, f"{seconds:.4f}", ratio)
    console.print(table)
    if failures:
        for failure in failures:
            console.print(f"[red]FAILED: {failure}[/red]")
        raise typer.Exit(1)
    console.print(
        f"rollup rows: incident_heat_rollup {rollup_rows:,}, "
        f"incident_heat_rollup_all {rollup_all_rows:,}"
    )
    console.print("[green]live, rollup and numpy agree cell by cell; totals conserved[/green]")


if __name__ == "__main__":
    app()
