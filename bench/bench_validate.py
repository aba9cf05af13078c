"""Benchmark: coverage validation of grids read from PostGIS, against shapely in memory.

    python bench/bench_validate.py --grids 5000

Creates its own database (``wangge_bench_validate``, dropped at the end unless ``--keep``),
migrated to head; fills it with a street of 50 communities and ``--grids`` Voronoi grids
(``bench_assign.make_territory``: neighbours share their edges exactly), each community being
the union of its grids so that the coverage starts clean, then seeds problems: ``--slivers``
grids moved by 0.3 m (sliver overlaps and gaps with every neighbour) and ``--overlaps`` grids
grown by 2 % (real overlaps). Buildings: two per grid, one of them across a grid edge every
tenth grid. Then, on the same data:

1. ``validate_coverage`` of the street (all the checks: every community's grids against the
   community, the communities against the street) — the grids read from the database;
2. ``shapely.coverage_invalid_edges`` on the same grids already in memory (what GEOS alone
   does: unmatched edges only, no areas, no parent, no buildings), and
   ``shapely.coverage_is_valid``;
3. ``validate_coverage`` of one community (a realistic request), and ``preview_repair`` of it.

Each timing is the median of ``--repeat`` runs after a warm-up. Prints the figures and the
ratio validate_coverage / coverage_invalid_edges. The machine is shared: run it once, when quiet.
"""

from __future__ import annotations

import itertools
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
from bench_assign import STREET, bench_database, machine, make_territory
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

import shapely
from shapely import affinity
from shapely.geometry import box

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from layers.grids.coverage import validate_coverage  # noqa: E402
from layers.grids.repair import preview_repair  # noqa: E402

DISTRICT = "370102000000"
console = Console()
app = typer.Typer(add_completion=False)

# 0.3 m of longitude and latitude at 36.65°N.
SHIFT_LON, SHIFT_LAT = 0.3 / 89_300, 0.3 / 110_980


def seed_problems(cells: np.ndarray, slivers: int, overlaps: int, seed: int) -> list[int]:
    """Move ``slivers`` cells by 0.3 m and grow ``overlaps`` cells by 2 %; return their indexes."""
    rng = np.random.default_rng(seed + 7)
    chosen = rng.choice(len(cells), size=slivers + overlaps, replace=False)
    for i in chosen[:slivers]:
        cells[i] = affinity.translate(cells[i], SHIFT_LON, SHIFT_LAT)
    for i in chosen[slivers:]:
        cells[i] = affinity.scale(cells[i], 1.02, 1.02, origin="centroid")
    return [int(i) for i in chosen]


def load(engine: Engine, cells: np.ndarray, codes: list[str], clean: np.ndarray) -> None:
    """District, street, communities (unions of their clean grids), grids and buildings."""
    communities = sorted({c[:12] for c in codes})
    by_community = {c: [] for c in communities}
    for code, cell in zip(codes, clean, strict=True):
        by_community[code[:12]].append(cell)
    outlines = {c: shapely.union_all(by_community[c]) for c in communities}
    frame = shapely.union_all(list(outlines.values()))

    def ewkb(geom: Any, *, multi: bool = True) -> str:
        if multi and geom.geom_type == "Polygon":
            geom = shapely.multipolygons([geom])
        return shapely.to_wkb(shapely.set_srid(geom, 4326), hex=True, include_srid=True)

    raw = engine.raw_connection()
    try:
        conn: psycopg.Connection = raw.driver_connection  # type: ignore[assignment]
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO admin_units (code, name, level, geom) "
                "VALUES (%s, '基准区', 'district', %s) RETURNING id",
                (DISTRICT, ewkb(box(*frame.bounds))),
            )
            district = cur.fetchone()[0]  # type: ignore[index]
            cur.execute(
                "INSERT INTO admin_units (code, name, level, parent_id, geom) "
                "VALUES (%s, '基准街道', 'street', %s, %s) RETURNING id",
                (STREET, district, ewkb(frame)),
            )
            street = cur.fetchone()[0]  # type: ignore[index]
            ids: dict[str, int] = {}
            for code in communities:
                cur.execute(
                    "INSERT INTO admin_units (code, name, level, parent_id, geom) "
                    "VALUES (%s, %s, 'community', %s, %s) RETURNING id",
                    (code, f"基准社区{code[-3:]}", street, ewkb(outlines[code])),
                )
                ids[code] = cur.fetchone()[0]  # type: ignore[index]
            with cur.copy("COPY grid_codes (code, community_id) FROM STDIN") as copy:
                for code in codes:
                    copy.write_row((code, ids[code[:12]]))
            columns = "code, name, kind, sizing_type, community_id, geom, valid_from"
            with cur.copy(f"COPY grids ({columns}) FROM STDIN") as copy:
                for code, cell in zip(codes, cells, strict=True):
                    copy.write_row(
                        (code, f"基准网格{code[-6:]}", "basic", "scattered", ids[code[:12]],
                         ewkb(cell), "2026-01-01T00:00:00+00:00")
                    )  # fmt: skip
            # Buildings: one inside each grid, and one across an edge of every tenth grid.
            cur.execute("SET LOCAL wangge.bulk_assign = 'on'")
            centres = shapely.point_on_surface(clean)
            with cur.copy("COPY buildings (code, kind, floors, address, geom) FROM STDIN") as copy:
                for i, (cell, centre) in enumerate(zip(clean, centres, strict=True)):
                    x, y = centre.x, centre.y
                    footprint = box(x - 0.0001, y - 0.00005, x + 0.0001, y + 0.00005)
                    copy.write_row(
                        (f"B-{i}", "residential", 6, "基准地址", ewkb(footprint, multi=False))
                    )
                    if i % 10 == 0:
                        corner = shapely.get_coordinates(cell)[0]
                        across = box(*(corner - 0.00005), *(corner + 0.00005))
                        copy.write_row(
                            (f"BX-{i}", "residential", 6, "基准地址", ewkb(across, multi=False))
                        )
            cur.execute("ANALYZE admin_units, grid_codes, grids, buildings")
        conn.commit()
    finally:
        raw.close()


def timed(runs: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """Median wall time (s) of ``runs`` calls after one warm-up, and the last result."""
    result = fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


@app.command()
def main(
    grids: Annotated[int, typer.Option(min=100, max=50_000, help="Number of grids.")] = 5_000,
    slivers: Annotated[int, typer.Option(help="Grids moved by 0.3 m.")] = 20,
    overlaps: Annotated[int, typer.Option(help="Grids grown by 2 %.")] = 5,
    repeat: Annotated[int, typer.Option(min=1, help="Timed runs per measurement.")] = 3,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 2026,
    database: Annotated[str, typer.Option(help="Scratch database.")] = "wangge_bench_validate",
    keep: Annotated[bool, typer.Option("--keep", help="Keep the database afterwards.")] = False,
) -> None:
    """Validate ``grids`` grids from the database; compare with shapely in memory."""
    console.print(f"[bold]bench_validate[/bold] {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    console.print(machine())
    territory = make_territory(grids, seed)
    clean = territory.cells.copy()
    cells = territory.cells.copy()
    seeded = seed_problems(cells, slivers, overlaps, seed)
    with bench_database(database, keep) as engine:
        info = getattr(engine, "info", {})
        console.print(
            f"{info.get('postgres')}, PostGIS {info.get('postgis')}, GEOS {info.get('geos')} "
            f"(shapely GEOS {shapely.geos_version_string})"
        )
        start = time.perf_counter()
        load(engine, cells, territory.codes, clean)
        console.print(f"loaded {grids} grids in {time.perf_counter() - start:.1f} s")

        with Session(engine) as session, session.begin():
            steps: list[tuple[str, float]] = []

            def street_validation() -> Any:
                steps.clear()
                report = validate_coverage(
                    session,
                    parent_code=STREET,
                    progress=lambda name: steps.append((name, time.perf_counter())),
                )
                steps.append(("done", time.perf_counter()))
                return report

            t_validate, report = timed(repeat, street_validation)
            wkbs = session.execute(
                text("SELECT ST_AsBinary(geom) FROM grids WHERE valid_to IS NULL ORDER BY code")
            ).scalars()
            geoms = shapely.from_wkb(list(wkbs))
            t_edges, edges = timed(repeat, lambda: shapely.coverage_invalid_edges(geoms))
            t_valid, _ = timed(repeat, lambda: shapely.coverage_is_valid(geoms))
            community = sorted({c[:12] for c in territory.codes})[0]
            t_one, one = timed(repeat, lambda: validate_coverage(session, parent_code=community))
            t_repair, plan = timed(repeat, lambda: preview_repair(session, parent_code=community))
            session.rollback()

    summary = report.to_summary()
    with_edges = int(sum(1 for e in edges if e is not None and not e.is_empty))
    table = Table(title=f"Coverage validation of {grids} grids ({len(seeded)} seeded problems)")
    table.add_column("measure")
    table.add_column("time", justify="right")
    table.add_column("result")
    table.add_row(
        "validate_coverage(street) from PostGIS",
        f"{t_validate:.2f} s",
        f"{summary['counts']} {summary['by_kind']}",
    )
    table.add_row(
        "shapely.coverage_invalid_edges in memory",
        f"{t_edges:.2f} s",
        f"{with_edges} grids with invalid edges",
    )
    table.add_row("shapely.coverage_is_valid in memory", f"{t_valid:.2f} s", "")
    table.add_row(
        f"validate_coverage(one community, {one.grid_count} grids)",
        f"{t_one * 1000:.0f} ms",
        f"{one.to_summary()['counts']}",
    )
    table.add_row(
        "preview_repair(one community)",
        f"{t_repair * 1000:.0f} ms",
        f"{len(plan.changes)} grids would change, verified={plan.verified}",
    )
    console.print(table)
    console.print(f"ratio validate_coverage / coverage_invalid_edges = {t_validate / t_edges:.1f}")
    if len(steps) > 1:
        breakdown = ", ".join(
            f"{name} {later - at:.2f} s" for (name, at), (_, later) in itertools.pairwise(steps)
        )
        console.print(f"last street run by step: {breakdown}")


if __name__ == "__main__":
    app()
