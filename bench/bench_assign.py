"""Benchmark: bulk assignment of points to grids in PostGIS, against geopandas.sjoin.

    python bench/bench_assign.py --points 1000000 --grids 5000

Creates its own database (``wangge_bench``, dropped at the end unless ``--keep``), migrated to
head so that the functions and triggers of migration 0003 are the real ones; fills it with a
district, a street, 50 communities and ``--grids`` Voronoi cells (exact shared edges) over about
36 km x 22 km around Jinan, and ``--points`` incidents uniformly over that area plus a margin
(so about 2 % lie outside every grid). Then, in one run on the same data:

1. ``geopandas.sjoin`` (predicate ``covered_by``) in memory, plus the tie rule (smallest code
   for a point covered by two grids), which is what PostGIS is asked to do;
2. the grid-driven LATERAL assignment (``layers.spatial.assign.hits_query``) written into the
   database as a narrow table (``CREATE UNLOGGED TABLE ... AS``);
3. the production path, ``assign_rows(table="incidents")``: the same join, then an UPDATE of
   every incident's ``grid_id``/``community_id`` in place; and a second run that changes nothing;
4. the incremental paths: a grid re-drawn and ``reassign_after_grid_change``, and the insert
   trigger on 10,000 new incidents against a bulk COPY with the trigger off.

It checks that PostGIS and geopandas put every point in the same grid, and prints the figures
and the ratios to geopandas. The machine is shared: run it once, when it is quiet.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import psycopg
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url

import geopandas as gpd
import shapely
from shapely.geometry import box

ROOT = Path(__file__).resolve().parent.parent
DISTRICT = "370102000000"
STREET = "370102001000"
# The benchmark territory: about 36 km x 22 km of lon/lat around Jinan.
BOUNDS = (117.00, 36.55, 117.40, 36.75)
COMMUNITY_COLS, COMMUNITY_ROWS = 10, 5


def server_url() -> URL:
    """The PostgreSQL server of DATABASE_URL (or the local default), without a database name."""
    raw = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    if raw.startswith("postgresql://"):
        raw = "postgresql+psycopg://" + raw[len("postgresql://") :]
    return make_url(raw)


def machine() -> str:
    """One line describing the machine: CPU model, cores, memory, PostgreSQL/PostGIS."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = ""
    try:
        with open("/proc/meminfo", encoding="utf-8") as info:
            kb = int(info.readline().split()[1])
            memory = f", {kb / 1024 / 1024:.0f} GB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} cores{memory}, Python {platform.python_version()}"


@contextmanager
def bench_database(name: str, keep: bool) -> Iterator[Engine]:
    """Create ``name`` (dropping an old one), migrate it to head, yield an engine; drop after."""
    server = server_url()
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(
            text(
                f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' "
                "LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'"
            )
        )
    url = server.set(database=name)
    engine = create_engine(url, connect_args={"options": "-c statement_timeout=0"})
    try:
        with engine.begin() as conn:
            for ext in ("postgis", "pg_trgm", "btree_gist"):
                conn.execute(text(f"CREATE EXTENSION IF NOT EXISTS {ext}"))
        env = {**os.environ, "DATABASE_URL": url.render_as_string(hide_password=False)}
        subprocess.run(
            [str(ROOT / ".venv" / "bin" / "alembic"), "upgrade", "head"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        with engine.connect() as conn:
            versions = conn.execute(
                text("SELECT version(), postgis_lib_version(), postgis_geos_version()")
            ).one()
        engine.info = {
            "postgres": versions[0].split(",")[0],
            "postgis": versions[1],
            "geos": versions[2],
        }  # type: ignore[attr-defined]
        yield engine
    finally:
        engine.dispose()
        if not keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class Territory:
    """The synthetic grids: shapely cells, their codes and community codes."""

    cells: np.ndarray  # shapely MultiPolygons, EPSG:4326
    codes: list[str]
    communities: list[str]
    community_boxes: dict[str, tuple[float, float, float, float]]


def make_territory(grids: int, seed: int) -> Territory:
    """``grids`` Voronoi cells over BOUNDS, grouped into 50 communities by position.

    GEOS builds the Voronoi diagram once, so neighbouring cells share their edges exactly:
    a tiling without gaps or overlaps, as a real grid plan should be.
    """
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = BOUNDS
    seeds = shapely.points(rng.uniform(minx, maxx, grids), rng.uniform(miny, maxy, grids))
    frame = box(*BOUNDS)
    diagram = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=frame)
    cells = shapely.intersection(np.asarray(diagram.geoms, dtype=object), frame)
    cells = np.array([shapely.multipolygons([c]) if c.geom_type == "Polygon" else c for c in cells])
    assert len(cells) == grids and shapely.is_valid(cells).all()
    centre = shapely.get_coordinates(shapely.point_on_surface(cells))
    col = np.minimum(((centre[:, 0] - minx) / (maxx - minx) * COMMUNITY_COLS).astype(int), 9)
    row = np.minimum(((centre[:, 1] - miny) / (maxy - miny) * COMMUNITY_ROWS).astype(int), 4)
    community_index = row * COMMUNITY_COLS + col
    communities = [f"{STREET[:9]}{n + 1:03d}" for n in range(COMMUNITY_COLS * COMMUNITY_ROWS)]
    codes: list[str] = []
    seq = dict.fromkeys(communities, 0)
    for index in community_index:
        community = communities[index]
        seq[community] += 1
        codes.append(f"{community}{seq[community]:03d}")
    width, height = (maxx - minx) / COMMUNITY_COLS, (maxy - miny) / COMMUNITY_ROWS
    boxes = {
        communities[r * COMMUNITY_COLS + c]: (
            minx + c * width,
            miny + r * height,
            minx + (c + 1) * width,
            miny + (r + 1) * height,
        )
        for r in range(COMMUNITY_ROWS)
        for c in range(COMMUNITY_COLS)
    }
    return Territory(cells, codes, [c[:12] for c in codes], boxes)


def _ewkb(geoms: np.ndarray) -> list[str]:
    return list(shapely.to_wkb(shapely.set_srid(geoms, 4326), hex=True, include_srid=True))


def load_territory(engine: Engine, territory: Territory) -> dict[str, int]:
    """Insert district, street, communities, grid codes and grids; return grid id by code."""
    raw = engine.raw_connection()
    try:
        conn: psycopg.Connection = raw.driver_connection  # type: ignore[assignment]
        with conn.cursor() as cur:
            frame = _ewkb(np.array([shapely.multipolygons([box(*BOUNDS)])]))[0]
            cur.execute(
                "INSERT INTO admin_units (code, name, level, geom) "
                "VALUES (%s, '基准区', 'district', %s) RETURNING id",
                (DISTRICT, frame),
            )
            district = cur.fetchone()[0]  # type: ignore[index]
            cur.execute(
                "INSERT INTO admin_units (code, name, level, parent_id, geom) "
                "VALUES (%s, '基准街道', 'street', %s, %s) RETURNING id",
                (STREET, district, frame),
            )
            street = cur.fetchone()[0]  # type: ignore[index]
            community_ids: dict[str, int] = {}
            for code, bounds in territory.community_boxes.items():
                geom = _ewkb(np.array([shapely.multipolygons([box(*bounds)])]))[0]
                cur.execute(
                    "INSERT INTO admin_units (code, name, level, parent_id, geom) "
                    "VALUES (%s, %s, 'community', %s, %s) RETURNING id",
                    (code, f"基准社区{code[-3:]}", street, geom),
                )
                community_ids[code] = cur.fetchone()[0]  # type: ignore[index]
            with cur.copy("COPY grid_codes (code, community_id) FROM STDIN") as copy:
                for code, community in zip(territory.codes, territory.communities, strict=True):
                    copy.write_row((code, community_ids[community]))
            columns = "code, name, kind, sizing_type, community_id, sizhi, geom, valid_from"
            with cur.copy(f"COPY grids ({columns}) FROM STDIN") as copy:
                for code, community, geom in zip(
                    territory.codes, territory.communities, _ewkb(territory.cells), strict=True
                ):
                    copy.write_row(
                        (
                            code,
                            f"基准网格{code[-6:]}",
                            "basic",
                            "scattered",
                            community_ids[community],
                            "东至甲路，南至乙街，西至丙路，北至丁街",
                            geom,
                            "2026-01-01T00:00:00+00:00",
                        )
                    )
            cur.execute("ANALYZE admin_units, grid_codes, grids")
            cur.execute("SELECT code, id FROM grids")
            grid_ids = dict(cur.fetchall())
        conn.commit()
    finally:
        raw.close()
    return grid_ids


# --------------------------------------------------------------------------------------------
# The assignment benchmark
# --------------------------------------------------------------------------------------------

sys.path.insert(0, str(ROOT))
from layers.spatial import assign  # noqa: E402  (after the repository root is importable)

console = Console()
app = typer.Typer(add_completion=False)
MARGIN = 0.002  # degrees around BOUNDS where points fall outside every grid


def make_points(n: int, seed: int) -> np.ndarray:
    """``n`` lon/lat points uniformly over BOUNDS plus MARGIN, as an (n, 2) array."""
    rng = np.random.default_rng(seed + 1)
    minx, miny, maxx, maxy = BOUNDS
    return np.column_stack(
        [
            rng.uniform(minx - MARGIN, maxx + MARGIN, n),
            rng.uniform(miny - MARGIN, maxy + MARGIN, n),
        ]
    )


def copy_incidents(engine: Engine, xy: np.ndarray, *, first_id: int, bulk: bool) -> float:
    """COPY incidents at ``xy`` with ids from ``first_id``; return the seconds it took.

    With ``bulk`` the assignment trigger is off for the transaction (``wangge.bulk_assign``).
    """
    geoms = shapely.to_wkb(shapely.set_srid(shapely.points(xy), 4326), hex=True, include_srid=True)
    ids = range(first_id, first_id + len(xy))
    lines = "".join(
        f"{i}\tB{i}\thazard.fire\t基准事件\twalk_in\t{g}\n" for i, g in zip(ids, geoms, strict=True)
    )
    raw = engine.raw_connection()
    try:
        conn: psycopg.Connection = raw.driver_connection  # type: ignore[assignment]
        started = time.perf_counter()
        with conn.cursor() as cur:
            if bulk:
                cur.execute("SET LOCAL wangge.bulk_assign = 'on'")
            columns = "id, code, category_code, title, channel, geom"
            with cur.copy(f"COPY incidents ({columns}) FROM STDIN") as copy:
                copy.write(lines)
        conn.commit()
        seconds = time.perf_counter() - started
    finally:
        raw.close()
    return seconds


def timed(engine: Engine, statements: list[str], params: dict[str, Any] | None = None) -> float:
    """Run statements in one transaction and commit; the wall-clock seconds."""
    started = time.perf_counter()
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement), params or {})
    return time.perf_counter() - started


def geopandas_assign(territory: Territory, xy: np.ndarray) -> tuple[float, float, np.ndarray]:
    """sjoin alone, sjoin plus the tie rule (seconds), and each point's grid code (or '')."""
    points = gpd.GeoDataFrame(geometry=shapely.points(xy), crs=4326)
    grids = gpd.GeoDataFrame({"code": territory.codes}, geometry=territory.cells, crs=4326)
    started = time.perf_counter()
    joined = gpd.sjoin(points, grids, how="inner", predicate="covered_by")
    sjoin_seconds = time.perf_counter() - started
    # the tie rule: a point covered by several grids goes to the smallest code
    chosen = joined.sort_values("code").loc[lambda f: ~f.index.duplicated(keep="first")]
    with_ties = time.perf_counter() - started
    codes = np.full(len(xy), "", dtype=object)
    codes[chosen.index.to_numpy()] = chosen["code"].to_numpy()
    return sjoin_seconds, with_ties, codes


def database_codes(engine: Engine, n: int) -> np.ndarray:
    """Each benchmark incident's grid code ('' when none), in id order."""
    with engine.connect() as conn:
        frame = pd.read_sql_query(
            text(
                "SELECT i.id, coalesce(g.code, '') AS code FROM incidents AS i "
                "LEFT JOIN grids AS g ON g.id = i.grid_id WHERE i.id <= :n ORDER BY i.id"
            ),
            conn,
            params={"n": n},
        )
    return frame["code"].to_numpy(dtype=object)


def redraw_one_grid(engine: Engine, grid_code: str) -> tuple[float, dict[str, int]]:
    """Close a grid's version, publish a version 30 m smaller, re-file; (seconds, rows moved)."""
    from sqlalchemy.orm import Session

    now = datetime.now(UTC)
    with Session(engine) as session, session.begin():
        old = session.execute(
            text("SELECT id FROM grids WHERE code = :c AND valid_to IS NULL"), {"c": grid_code}
        ).scalar_one()
        session.execute(
            text("UPDATE grids SET valid_to = :t WHERE id = :id"), {"t": now, "id": old}
        )
        new = session.execute(
            text(
                "INSERT INTO grids (code, version, name, kind, sizing_type, community_id, sizhi,"
                " geom, valid_from) SELECT code, 2, name, kind, sizing_type, community_id, sizhi,"
                " ST_Multi(ST_Buffer(geom::geography, -30)::geometry), :t FROM grids WHERE id = :id"
                " RETURNING id"
            ),
            {"t": now, "id": old},
        ).scalar_one()
        started = time.perf_counter()
        moved = assign.reassign_after_grid_change(session, changed_grid_ids=[old, new])
        seconds = time.perf_counter() - started
    return seconds, moved


@app.command()
def main(
    points: Annotated[
        int, typer.Option(min=1000, help="Number of points (incidents).")
    ] = 1_000_000,
    grids: Annotated[int, typer.Option(min=10, max=50_000, help="Number of grids.")] = 5_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 2026,
    database: Annotated[str, typer.Option(help="Scratch database name.")] = "wangge_bench",
    keep: Annotated[bool, typer.Option("--keep", help="Keep the database afterwards.")] = False,
) -> None:
    """Time bulk assignment of POINTS to GRIDS in PostGIS against geopandas.sjoin."""
    console.print(f"[bold]bench_assign[/bold]: {points:,} points, {grids:,} grids — {machine()}")
    figures: dict[str, float] = {}
    with console.status("building the territory (Voronoi grids)"):
        territory = make_territory(grids, seed)
        xy = make_points(points, seed)
    with bench_database(database, keep) as engine:
        info = engine.info  # type: ignore[attr-defined]
        console.print(f"{info['postgres']}, PostGIS {info['postgis']}, GEOS {info['geos']}")
        with console.status("loading grids and points (COPY, trigger off)"):
            load_territory(engine, territory)
            figures["load: COPY points, trigger off"] = copy_incidents(
                engine, xy, first_id=1, bulk=True
            )
            timed(engine, ["ANALYZE incidents"])

        with console.status("geopandas.sjoin"):
            sjoin_s, sjoin_ties_s, gp_codes = geopandas_assign(territory, xy)
        figures["geopandas.sjoin (covered_by), in memory"] = sjoin_s
        figures["geopandas.sjoin + tie rule"] = sjoin_ties_s

        narrow = (
            "CREATE UNLOGGED TABLE bench_hits AS "  # noqa: S608 (constant SQL)
            f"SELECT h.id, h.grid_id, h.community_id FROM ({assign.hits_query('incidents')}) AS h"
        )
        with console.status("PostGIS: grid-driven LATERAL into a narrow table"):
            figures["PostGIS LATERAL → narrow table"] = timed(
                engine, [f"SET LOCAL work_mem = '{assign.BULK_WORK_MEM}'", narrow]
            )
        with engine.connect() as conn:
            hits = conn.execute(text("SELECT count(*) FROM bench_hits")).scalar_one()

        from sqlalchemy.orm import Session

        with console.status("PostGIS: assign_rows(incidents), UPDATE in place"):
            with Session(engine) as session, session.begin():
                started = time.perf_counter()
                changed = assign.assign_rows(session, table="incidents")
            figures["PostGIS assign_rows: UPDATE in place"] = time.perf_counter() - started
            with Session(engine) as session, session.begin():
                started = time.perf_counter()
                unchanged = assign.assign_rows(session, table="incidents")
            figures["PostGIS assign_rows again (no change)"] = time.perf_counter() - started

        with console.status("comparing PostGIS and geopandas answers"):
            db_codes = database_codes(engine, points)
            agree = int((db_codes == gp_codes).sum())

        with console.status("incremental: one grid re-drawn"):
            middle = territory.codes[len(territory.codes) // 2]
            redraw_s, moved = redraw_one_grid(engine, middle)
        figures["reassign_after_grid_change (1 grid)"] = redraw_s

        extra = make_points(10_000, seed + 7)
        with console.status("incremental: 10,000 inserts with the trigger"):
            figures["COPY 10k points, trigger off"] = copy_incidents(
                engine, extra, first_id=points + 1, bulk=True
            )
            figures["COPY 10k points, trigger on"] = copy_incidents(
                engine, extra, first_id=points + 20_001, bulk=False
            )

    table = Table(title=f"bulk assignment: {points:,} points × {grids:,} grids")
    table.add_column("step")
    table.add_column("seconds", justify="right")
    table.add_column("× sjoin+ties", justify="right")
    for name, seconds in figures.items():
        table.add_row(name, f"{seconds:.2f}", f"{seconds / sjoin_ties_s:.2f}")
    console.print(table)
    covered = int((gp_codes != "").sum())
    console.print(
        f"covered points: PostGIS {hits:,}, geopandas {covered:,}; same grid for "
        f"{agree:,} of {points:,} points ({points - agree} differ)"
    )
    console.print(f"assign_rows changed {changed:,} rows, then {unchanged:,}")
    console.print(f"re-drawn grid {middle}: rows moved {moved} in {redraw_s * 1000:.0f} ms")
    trigger_us = (
        (figures["COPY 10k points, trigger on"] - figures["COPY 10k points, trigger off"])
        / 10_000
        * 1e6
    )
    console.print(f"insert trigger: ~{trigger_us:.0f} µs per row")
    ratio_narrow = figures["PostGIS LATERAL → narrow table"] / sjoin_ties_s
    ratio_update = figures["PostGIS assign_rows: UPDATE in place"] / sjoin_ties_s
    console.print(
        f"[bold]ratio PostGIS/geopandas: narrow table {ratio_narrow:.2f}, "
        f"UPDATE in place {ratio_update:.2f}[/bold] (below 1 = PostGIS faster)"
    )
    if agree != points:
        raise typer.Exit(code=1)


if __name__ == "__main__":
    app()
