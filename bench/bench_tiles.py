"""Benchmark: vector tile latency (grids, buildings, incidents) and the planner page in Chromium.

    python bench/bench_tiles.py --grids 5000 --buildings 100000 --incidents 1000000

Creates its own database (``wangge_bench_tiles``, dropped at the end unless ``--keep``),
migrated to head; loads the territory of ``bench_assign`` (``--grids`` Voronoi grids in 50
communities over 36 × 22 km), ``--buildings`` footprints (20 × 14 m) and ``--incidents``
points, both filed under their grids by ``assign_rows``. Then, for a street-wide principal:

1. **Tiles**: for each layer and zoom 12–16, ``--samples`` random tiles over the territory
   rendered by :func:`layers.tiles.render_tile` (the function behind ``GET /tiles/...``; the
   same transaction settings, no HTTP) — p50/p99 latency and tile size;
2. **the obvious alternative, same tiles, same run**: the rows of the tile as GeoJSON built in
   SQL (``json_agg(ST_AsGeoJSON(...))``, what a page fetching ``/collections/.../items`` per
   view would ask for), and, for incidents below z15, every point as its own MVT feature
   (no clustering);
3. **Planner page** (``--browser``): uvicorn on 127.0.0.1 with the bench database, Debian's
   Chromium (Playwright), a planner of the street: time from navigation to the page being
   interactive (``data-planner-ready``) and to the visible grid tiles being drawn; then the
   same with a draft plan of the street open (all grids as one GeoJSON from the plan API).

Prints the figures and the ratios. The machine is shared: run it once, when quiet.
"""

from __future__ import annotations

import os
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import numpy as np
import psycopg
import typer
import uvicorn
from bench_assign import (
    BOUNDS,
    STREET,
    bench_database,
    copy_incidents,
    load_territory,
    machine,
    make_points,
    make_territory,
)
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

import mercantile
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from layers.access import Principal  # noqa: E402
from layers.models.users import Role  # noqa: E402
from layers.security import hash_password  # noqa: E402
from layers.spatial import assign  # noqa: E402
from layers.tiles import mvt  # noqa: E402

console = Console()
app = typer.Typer(add_completion=False)
ZOOMS = (12, 13, 14, 15, 16)
PASSWORD = "bench-password-123"  # noqa: S105 (a throwaway user of a scratch database)


def load_buildings(engine: Engine, n: int, seed: int) -> None:
    """COPY ``n`` 20 × 14 m footprints at random points over the territory."""
    rng = np.random.default_rng(seed + 3)
    minx, miny, maxx, maxy = BOUNDS
    x = rng.uniform(minx + 0.001, maxx - 0.001, n)
    y = rng.uniform(miny + 0.001, maxy - 0.001, n)
    half_w, half_h = 10 / 89_300, 7 / 110_980
    polys = shapely.box(x - half_w, y - half_h, x + half_w, y + half_h)
    wkb = shapely.to_wkb(shapely.set_srid(polys, 4326), hex=True, include_srid=True)
    raw = engine.raw_connection()
    try:
        conn: psycopg.Connection = raw.driver_connection  # type: ignore[assignment]
        with conn.cursor() as cur:
            cur.execute("SET LOCAL wangge.bulk_assign = 'on'")
            with cur.copy(
                "COPY buildings (code, kind, floors, address, compound, geom) FROM STDIN"
            ) as copy:
                for i, g in enumerate(wkb):
                    copy.write_row(
                        (f"BB{i}", "residential", 6, f"基准路{i}号", f"小区{i // 40}", g)
                    )
        conn.commit()
    finally:
        raw.close()


def file_rows(engine: Engine, table: str) -> float:
    """File every row of ``table`` under its grid (assign_rows); seconds."""
    started = time.perf_counter()
    with Session(engine) as session, session.begin():
        assign.assign_rows(session, table=table)
    with engine.begin() as conn:
        conn.execute(text(f"ANALYZE {table}"))
    return time.perf_counter() - started


def street_principal(engine: Engine, role: Role = Role.dispatcher) -> Principal:
    """A principal whose area is the bench street."""
    with engine.connect() as conn:
        area_id = conn.execute(
            text("SELECT id FROM admin_units WHERE code = :c"), {"c": STREET}
        ).scalar_one()
    return Principal(0, "bench", role, area_id, STREET, STREET[:9])


def sample_tiles(z: int, n: int, seed: int) -> list[mercantile.Tile]:
    """``n`` random tiles at zoom ``z`` whose centres lie inside the territory."""
    rng = np.random.default_rng(seed + z)
    minx, miny, maxx, maxy = BOUNDS
    lons = rng.uniform(minx, maxx, n)
    lats = rng.uniform(miny, maxy, n)
    return [mercantile.tile(float(lon), float(lat), z) for lon, lat in zip(lons, lats, strict=True)]


def geojson_alternative(
    session: Session, principal: Principal, layer: str, tile: mercantile.Tile
) -> int:
    """The tile's rows as one GeoJSON array built in SQL; returns its size in bytes."""
    west, south, east, north = mercantile.bounds(tile)
    table = {"grids": "grids", "buildings": "buildings", "incidents": "incidents"}[layer]
    scope = {
        "grids": "t.code LIKE :prefix AND t.valid_to IS NULL",
        "buildings": "t.community_id IN (SELECT id FROM admin_units WHERE code LIKE :prefix)",
        "incidents": "t.community_id IN (SELECT id FROM admin_units WHERE code LIKE :prefix)",
    }[layer]
    sql = f"""
        SELECT coalesce(json_agg(json_build_object('type', 'Feature', 'id', t.id,
                 'geometry', ST_AsGeoJSON(t.geom, 7, 0)::json)), '[]'::json)::text
        FROM {table} t
        WHERE t.geom && ST_MakeEnvelope(:w, :s, :e, :n, 4326) AND {scope}
    """  # noqa: S608 (constant table names; values bound)
    out = session.execute(
        text(sql),
        {"w": west, "s": south, "e": east, "n": north, "prefix": principal.area_prefix + "%"},
    ).scalar_one()
    return len(out.encode())


def measure(
    fn: Callable[[mercantile.Tile], int], tiles: list[mercantile.Tile]
) -> tuple[float, float, float]:
    """p50 and p99 latency (ms) and median size (bytes) of ``fn`` over ``tiles`` (one warm-up)."""
    fn(tiles[0])
    times: list[float] = []
    sizes: list[int] = []
    for tile in tiles:
        started = time.perf_counter()
        sizes.append(fn(tile))
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
    return statistics.median(times), p99, float(statistics.median(sizes))


def tile_benchmark(engine: Engine, samples: int, seed: int) -> list[tuple[str, ...]]:
    """Rows: layer, zoom, MVT p50/p99/size, alternative p50/p99/size, ratio p50."""
    principal = street_principal(engine)
    rows: list[tuple[str, ...]] = []
    with Session(engine) as session:
        for layer in ("grids", "buildings", "incidents"):
            for z in ZOOMS:
                tiles = sample_tiles(z, samples, seed)

                def mvt_tile(tile: mercantile.Tile, layer: str = layer) -> int:
                    data = mvt.render_tile(
                        session, principal=principal, layer=layer, z=tile.z, x=tile.x, y=tile.y
                    )
                    session.rollback()
                    return len(data)

                def alternative(tile: mercantile.Tile, layer: str = layer) -> int:
                    if layer == "incidents" and tile.z < mvt.INCIDENT_DETAIL_ZOOM:
                        saved = mvt.INCIDENT_DETAIL_ZOOM
                        mvt.INCIDENT_DETAIL_ZOOM = 0  # every point its own feature
                        try:
                            return mvt_tile(tile)
                        finally:
                            mvt.INCIDENT_DETAIL_ZOOM = saved
                    size = geojson_alternative(session, principal, layer, tile)
                    session.rollback()
                    return size

                m50, m99, msize = measure(mvt_tile, tiles)
                a50, a99, asize = measure(alternative, tiles)
                what = (
                    "MVT, no clusters"
                    if layer == "incidents" and z < mvt.INCIDENT_DETAIL_ZOOM
                    else "GeoJSON in SQL"
                )
                rows.append(
                    (
                        layer,
                        str(z),
                        f"{m50:.1f}",
                        f"{m99:.1f}",
                        f"{msize / 1024:.1f}",
                        what,
                        f"{a50:.1f}",
                        f"{a99:.1f}",
                        f"{asize / 1024:.1f}",
                        f"{a50 / m50:.2f}" if m50 else "-",
                    )
                )
                console.print(rows[-1])
    return rows


def add_planner(engine: Engine) -> None:
    """A planner of the bench street (for the browser run)."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (username, full_name, password_hash, role, area_id) "
                "SELECT 'bench_planner', '基准规划员', :h, 'planner', id FROM admin_units "
                "WHERE code = :c"
            ),
            {"h": hash_password(PASSWORD), "c": STREET},
        )


def browser_benchmark(engine: Engine, runs: int) -> list[tuple[str, str, str]]:
    """Time to interactive of /map/planner with every grid of the street, in Chromium."""
    from playwright.sync_api import sync_playwright

    from gis_api.main import create_app
    from gis_api.settings import ApiSettings
    from layers.settings import DatabaseSettings

    url = engine.url.render_as_string(hide_password=False)
    secret = "bench-secret-0123456789abcdef0123456789"  # noqa: S105 (scratch server)
    settings = ApiSettings(jwt_secret=secret)  # type: ignore[arg-type]
    application = create_app(settings, DatabaseSettings(database_url=url))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(application, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    rows: list[tuple[str, str, str]] = []
    chromium = os.environ.get("WANGGE_CHROMIUM", "/usr/bin/chromium")
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=args)
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            context.set_default_timeout(120_000)
            page = context.new_page()
            offsite: list[str] = []
            context.on(
                "request",
                lambda r: offsite.append(r.url) if not r.url.startswith((base, "data:")) else None,
            )
            page.goto(f"{base}/login?next=/map/planner")
            page.fill("#username", "bench_planner")
            page.fill("#password", PASSWORD)
            page.click("#login-submit")
            page.wait_for_url(f"{base}/map/planner")
            page.locator("body[data-planner-ready='true']").wait_for(state="attached")
            plan = page.evaluate(
                """async () => {
                    const r = await fetch('/plans', {method: 'POST', credentials: 'same-origin',
                      headers: {'Content-Type': 'application/json'},
                      body: JSON.stringify({scope_code: '%s', name: '基准方案'})});
                    return (await r.json()).id;
                }""".replace("%s", STREET)
            )
            for label, path, marker in (
                ("current grids (vector tiles)", "/map/planner", "data-tiles-grids='loaded'"),
                (
                    "draft plan open (all grids as GeoJSON)",
                    f"/map/planner?plan={plan}",
                    "data-plan-id",
                ),
            ):
                ready: list[float] = []
                drawn: list[float] = []
                for _ in range(runs):
                    started = time.perf_counter()
                    page.goto(f"{base}{path}")
                    page.locator("body[data-planner-ready='true']").wait_for(state="attached")
                    ready.append(time.perf_counter() - started)
                    page.locator(f"body[{marker}]").wait_for(state="attached")
                    drawn.append(time.perf_counter() - started)
                count = page.get_attribute("body", "data-grid-count") or "tiles"
                slowest = page.evaluate(
                    """() => performance.getEntriesByType('resource')
                        .map((e) => [new URL(e.name).pathname, Math.round(e.duration)])
                        .sort((a, b) => b[1] - a[1]).slice(0, 4)"""
                )
                console.print(f"  slowest requests of the last load ({label}): {slowest}")
                rows.append(
                    (
                        label,
                        f"{statistics.median(ready):.2f} s",
                        f"{statistics.median(drawn):.2f} s ({count} grids)"
                        if count != "tiles"
                        else f"{statistics.median(drawn):.2f} s",
                    )
                )
                console.print(rows[-1])
            assert not offsite, f"requests left 127.0.0.1: {offsite[:3]}"
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
    return rows


@app.command()
def main(
    grids: Annotated[int, typer.Option(help="Voronoi grids in the street")] = 5000,
    buildings: Annotated[int, typer.Option(help="building footprints")] = 100_000,
    incidents: Annotated[int, typer.Option(help="incident points")] = 1_000_000,
    samples: Annotated[int, typer.Option(help="random tiles per layer and zoom")] = 100,
    runs: Annotated[int, typer.Option(help="page loads per browser measurement")] = 3,
    tiles: Annotated[bool, typer.Option(help="time the tiles against the alternative")] = True,
    browser: Annotated[bool, typer.Option(help="also time the planner page in Chromium")] = True,
    seed: Annotated[int, typer.Option()] = 42,
    database: Annotated[str, typer.Option()] = "wangge_bench_tiles",
    keep: Annotated[bool, typer.Option(help="keep the database afterwards")] = False,
) -> None:
    """Load the territory, time tiles against GeoJSON, time the planner page."""
    console.print(f"[bold]bench_tiles[/] {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {machine()}")
    with bench_database(database, keep) as engine:
        territory = make_territory(grids, seed)
        load_territory(engine, territory)
        load_buildings(engine, buildings, seed)
        console.print(f"buildings filed in {file_rows(engine, 'buildings'):.1f} s")
        xy = make_points(incidents, seed)
        chunk = 250_000
        for start in range(0, incidents, chunk):
            copy_incidents(engine, xy[start : start + chunk], first_id=start + 1, bulk=True)
        console.print(f"incidents filed in {file_rows(engine, 'incidents'):.1f} s")
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        rows = tile_benchmark(engine, samples, seed) if tiles else []
        table = Table(title=f"Tiles: {samples} random tiles per row, street-wide principal")
        for column in (
            "layer",
            "z",
            "MVT p50 ms",
            "MVT p99 ms",
            "MVT KiB",
            "alternative",
            "alt p50 ms",
            "alt p99 ms",
            "alt KiB",
            "alt/MVT p50",
        ):
            table.add_column(column)
        for row in rows:
            table.add_row(*row)
        console.print(table)
        if browser:
            add_planner(engine)
            page_rows = browser_benchmark(engine, runs)
            table = Table(title=f"Planner page in Chromium, {grids} grids (median of {runs})")
            for column in ("view", "interactive", "grids drawn"):
                table.add_column(column)
            for row in page_rows:
                table.add_row(*row)
            console.print(table)


if __name__ == "__main__":
    app()
