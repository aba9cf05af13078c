"""Benchmark: ``GET /locate`` over HTTP — requests per second, p50 and p99 latency.

    python bench/bench_locate.py --grids 5000 --seconds 20 --concurrency 32

Builds the same territory as bench_assign.py in its own database (``wangge_bench``, dropped at
the end unless ``--keep``): ``--grids`` Voronoi grids, one building and one grid worker per grid
(so every answer carries staff, and each request also writes its audit row), and a dispatcher
account for the street. Starts the real app with uvicorn (``--workers 2``, uvloop, httptools) on
127.0.0.1, logs in, and drives ``/locate`` at random points over the territory (about 2 % fall
outside every grid) with a bounded load generator on 127.0.0.1 only:

* ``--client httpx`` (default): an asyncio httpx client with ``--concurrency`` connections;
* ``--client wrk``: ``wrk`` (Debian package ``wrk``) with a Lua script drawing random points.

Warm-up requests are not counted. Then one ``POST /locate/bulk`` with 10,000 points is timed.
The load generator shares the machine's cores with the server: the figures are for the whole
machine, not for the server alone.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import numpy as np
import psycopg
import typer
from bench_assign import (
    BOUNDS,
    MARGIN,
    ROOT,
    STREET,
    bench_database,
    load_territory,
    machine,
    make_territory,
)
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

import shapely

console = Console()
app = typer.Typer(add_completion=False)
PASSWORD = "bench-password-123"  # noqa: S105 (a throwaway benchmark account)


def seed_people(engine: Engine, grid_ids: dict[str, int], territory: Any) -> None:
    """A dispatcher for the street, a grid worker and a building per grid."""
    from layers.security import hash_password

    password_hash = hash_password(PASSWORD)
    cells = territory.cells
    centres = shapely.get_coordinates(shapely.point_on_surface(cells))
    raw = engine.raw_connection()
    try:
        conn: psycopg.Connection = raw.driver_connection  # type: ignore[assignment]
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM admin_units WHERE code = %s", (STREET,))
            street = cur.fetchone()[0]  # type: ignore[index]
            cur.execute(
                "INSERT INTO users (username, full_name, password_hash, role, area_id, phone) "
                "VALUES ('bench_dispatcher', '调度员', %s, 'dispatcher', %s, '13900000000')",
                (password_hash, street),
            )
            with cur.copy(
                "COPY users (username, full_name, password_hash, role, area_id, phone) FROM STDIN"
            ) as copy:
                for n, code in enumerate(territory.codes):
                    copy.write_row(
                        (
                            f"bench_gw_{code}",
                            f"网格员{n}",
                            password_hash,
                            "grid_worker",
                            street,
                            f"137{n:08d}",
                        )
                    )
            cur.execute(
                "INSERT INTO grid_staff (grid_code, user_id, duty) "
                "SELECT substr(username, 10), id, 'leader' FROM users "
                "WHERE username LIKE 'bench\\_gw\\_%'"
            )
            with cur.copy("COPY buildings (code, kind, floors, address, geom) FROM STDIN") as copy:
                for n, (x, y) in enumerate(centres):
                    footprint = shapely.box(x - 0.0001, y - 0.00005, x + 0.0001, y + 0.00005)
                    geom = shapely.to_wkb(
                        shapely.set_srid(footprint, 4326), hex=True, include_srid=True
                    )
                    copy.write_row((f"BB{n}", "residential", 6, f"基准路{n}号", geom))
            cur.execute("ANALYZE users, grid_staff, buildings")
        conn.commit()
    finally:
        raw.close()
    assert grid_ids


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(database_url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "WANGGE_JWT_SECRET": secrets.token_hex(32),
        "WANGGE_DB_POOL_SIZE": "8",
    }
    command = [
        str(ROOT / ".venv" / "bin" / "uvicorn"),
        "gis_api.main:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    server.terminate()
    raise RuntimeError("the server did not answer /healthz within 60 s")


def random_points(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = BOUNDS
    return np.column_stack(
        [
            rng.uniform(minx - MARGIN, maxx + MARGIN, n).round(7),
            rng.uniform(miny - MARGIN, maxy + MARGIN, n).round(7),
        ]
    )


async def httpx_load(
    base: str, token: str, points: np.ndarray, concurrency: int, warmup: float, seconds: float
) -> dict[str, Any]:
    """Keep ``concurrency`` requests in flight; latencies of those started after the warm-up."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + seconds
    cursor = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {token}"}

    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits) as client:

        async def worker() -> None:
            nonlocal cursor
            while True:
                began = time.perf_counter()
                if began >= stop_at:
                    return
                lon, lat = points[cursor % len(points)]
                cursor += 1
                response = await client.get("/locate", params={"lon": lon, "lat": lat})
                done = time.perf_counter()
                if began >= measure_from:
                    latencies.append(done - began)
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - measure_from
    lat_ms = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50": float(np.percentile(lat_ms, 50)),
        "p90": float(np.percentile(lat_ms, 90)),
        "p99": float(np.percentile(lat_ms, 99)),
        "statuses": statuses,
    }


WRK_SCRIPT = """
math.randomseed(%(seed)d)
wrk.headers["Authorization"] = "Bearer %(token)s"
request = function()
  local lon = %(minx)f + math.random() * %(width)f
  local lat = %(miny)f + math.random() * %(height)f
  return wrk.format("GET", string.format("/locate?lon=%%.7f&lat=%%.7f", lon, lat))
end
done = function(summary, latency, requests)
  io.write(string.format("WRK %%d %%d %%d %%f %%f %%f %%f\\n", summary.requests,
    summary.errors.status, summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000))
end
"""


def wrk_load(
    base: str, token: str, concurrency: int, warmup: float, seconds: float, seed: int
) -> dict[str, Any]:
    """Run wrk (one thread) with a Lua script of random points; warm-up run not counted."""
    minx, miny, maxx, maxy = BOUNDS
    script = WRK_SCRIPT % {
        "seed": seed,
        "token": token,
        "minx": minx - MARGIN,
        "miny": miny - MARGIN,
        "width": maxx - minx + 2 * MARGIN,
        "height": maxy - miny + 2 * MARGIN,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        common = ["wrk", "-t1", f"-c{concurrency}", "-s", handle.name, "--timeout", "10s"]
        subprocess.run(
            [*common, f"-d{max(1, round(warmup))}s", base], check=True, capture_output=True
        )
        result = subprocess.run(
            [*common, f"-d{round(seconds)}s", base], check=True, capture_output=True, text=True
        )
    finally:
        Path(handle.name).unlink()
    line = next(x for x in result.stdout.splitlines() if x.startswith("WRK "))
    requests, non_2xx, socket_errors, duration, p50, p90, p99 = line.split()[1:]
    return {
        "requests": int(requests),
        "rps": int(requests) / float(duration),
        "p50": float(p50),
        "p90": float(p90),
        "p99": float(p99),
        "statuses": {
            "2xx": int(requests) - int(non_2xx),
            "other (404 outside the area)": int(non_2xx),
            "socket errors": int(socket_errors),
        },
    }


@app.command()
def main(
    grids: Annotated[int, typer.Option(min=10, max=50_000, help="Number of grids.")] = 5_000,
    seconds: Annotated[float, typer.Option(min=1, help="Measured duration.")] = 20.0,
    warmup: Annotated[float, typer.Option(min=0, help="Warm-up, not measured.")] = 3.0,
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="Requests in flight.")] = 32,
    workers: Annotated[int, typer.Option(min=1, max=8, help="uvicorn workers.")] = 2,
    client: Annotated[str, typer.Option(help="Load generator: httpx or wrk.")] = "httpx",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 2026,
    database: Annotated[str, typer.Option(help="Scratch database name.")] = "wangge_bench",
    keep: Annotated[bool, typer.Option("--keep", help="Keep the database afterwards.")] = False,
) -> None:
    """Requests per second and latency of GET /locate on this machine."""
    if client not in ("httpx", "wrk"):
        raise typer.BadParameter("--client is httpx or wrk")
    if client == "wrk" and shutil.which("wrk") is None:
        raise typer.BadParameter("wrk is not installed (apt-get install wrk)")
    console.print(f"[bold]bench_locate[/bold]: {grids:,} grids — {machine()}")
    territory = make_territory(grids, seed)
    with bench_database(database, keep) as engine:
        info = engine.info  # type: ignore[attr-defined]
        console.print(f"{info['postgres']}, PostGIS {info['postgis']}, GEOS {info['geos']}")
        with console.status("loading grids, staff and buildings"):
            grid_ids = load_territory(engine, territory)
            seed_people(engine, grid_ids, territory)
        url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with console.status(f"starting uvicorn ({workers} workers, uvloop, httptools)"):
            server = start_server(url, port, workers)
        try:
            token = httpx.post(
                f"{base}/auth/token",
                data={"username": "bench_dispatcher", "password": PASSWORD},
                timeout=30,
            ).json()["access_token"]
            label = f"{client}, {concurrency} connections, {seconds:.0f} s"
            with console.status(f"load: {label}"):
                if client == "httpx":
                    points = random_points(200_000, seed)
                    result = asyncio.run(
                        httpx_load(base, token, points, concurrency, warmup, seconds)
                    )
                else:
                    result = wrk_load(base, token, concurrency, warmup, seconds, seed)
            bulk_points = random_points(10_000, seed + 1)
            body = {
                "points": [
                    {"id": i, "lon": float(x), "lat": float(y)}
                    for i, (x, y) in enumerate(bulk_points)
                ]
            }
            started = time.perf_counter()
            bulk = httpx.post(
                f"{base}/locate/bulk",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
                timeout=120,
            )
            bulk_seconds = time.perf_counter() - started
            bulk.raise_for_status()
            audited = _count_audit_rows(engine)
        finally:
            server.terminate()
            server.wait(timeout=30)

    table = Table(title=f"GET /locate, {grids:,} grids, {workers} uvicorn workers ({label})")
    for column in ("requests", "req/s", "p50 ms", "p90 ms", "p99 ms", "statuses"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{result['requests']:,}",
        f"{result['rps']:,.0f}",
        f"{result['p50']:.1f}",
        f"{result['p90']:.1f}",
        f"{result['p99']:.1f}",
        ", ".join(f"{k}: {v}" for k, v in sorted(result["statuses"].items(), key=str)),
    )
    console.print(table)
    summary = bulk.json()
    console.print(
        f"POST /locate/bulk, 10,000 points: {bulk_seconds:.2f} s "
        f"(inside {summary['inside']:,}, outside {summary['outside']:,}, "
        f"not in area {summary['not_in_area']:,})"
    )
    console.print(f"audit rows written by the run (staff reads): {audited:,}")


def _count_audit_rows(engine: Engine) -> int:
    from sqlalchemy import text

    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM audit_log WHERE resource = 'grids' AND action = 'read'")
            ).scalar_one()
        )


if __name__ == "__main__":
    app()
