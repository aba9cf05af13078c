"""Benchmark: publish the split of a grid holding 10,000 persons, re-assignment included.

    python bench/bench_publish.py --persons 10000 --repeat 3

Creates its own database (``wangge_bench_publish``, dropped at the end unless ``--keep``; the
helpers of ``bench_assign.py``), migrated to head, and loads the demo street 全福街道 (small scale:
about 60 grids, 1,400 buildings, 55,000 persons, 5,000 incidents). The demo grid with the most
persons is topped up to ``--persons`` persons (extra households and persons in its own houses,
set-based SQL). Then, ``--repeat`` times, each in a transaction that is rolled back afterwards
so that every run starts from the same data:

1. a draft plan for the grid's community, and the grid split by a west–east line between the
   buildings where half of its households lie to the south (``split_by_line``);
2. the plan diff (``plan_diff``: who moves where);
3. ``publish_plan``: lock and version check, coverage validation of the community, new
   versions, codes, lineage, staff, 四至, and re-assignment of buildings, places and incidents
   (persons follow their buildings) — the figure asked for — then ``COMMIT``-free ``flush``.

Every run checks the outcome against the diff: the persons and open incidents counted live in
each new grid (``layers.counts.grid_counts``) equal the diff's "after" figures, and the old
grid holds nothing. Exits 1 on any mismatch. Phases of the publish are timed by wrapping the
functions ``publish_plan`` calls (validation, 四至, re-assignment); the rest is "write".
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

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from shapely.geometry import LineString

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_assign import bench_database, machine

from layers.counts import grid_counts
from layers.grids import plans
from layers.grids.diff import plan_diff
from layers.grids.split import split_by_line
from layers.models import User
from layers.users import load_principal

console = Console()


def load_demo_street(engine: Engine) -> dict[str, int]:
    """Generate and load the small demo street; return rows per table."""
    from layers.demo.constants import DEMO_PASSWORD
    from layers.demo.generate import generate
    from layers.demo.load import load_demo
    from layers.security import hash_password

    dataset = generate(2026, "small")
    with Session(engine) as session, session.begin():
        result = load_demo(session, dataset, password_hash=hash_password(DEMO_PASSWORD))
    return result.counts


def top_up(session: Session, grid_id: int, persons: int) -> tuple[int, int]:
    """Add households and persons in the grid's houses until it holds ``persons`` persons.

    Returns (households added, persons added). Set-based: one INSERT per table.
    """
    have = grid_counts(session, grid_ids=[grid_id])[grid_id].persons
    missing = max(persons - have, 0)
    if not missing:
        return 0, 0
    households = (missing + 2) // 3  # three persons per added household
    session.execute(
        text(
            """
WITH h AS (
    SELECT h.id, row_number() OVER (ORDER BY h.id) - 1 AS n, count(*) OVER () AS total
    FROM houses AS h JOIN buildings AS b ON b.id = h.building_id WHERE b.grid_id = :grid
)
INSERT INTO households (house_id, household_no, residence)
SELECT h.id, 'BENCH-' || s.i, 'registered'
FROM generate_series(0, :n - 1) AS s(i) JOIN h ON h.n = s.i % h.total
"""
        ),
        {"grid": grid_id, "n": households},
    )
    session.execute(
        text(
            """
INSERT INTO persons (household_id, name, gender, relation_to_head)
SELECT hh.id, '测试' || s.j, CASE WHEN s.j % 2 = 0 THEN 'female' ELSE 'male' END, '户主'
FROM households AS hh CROSS JOIN generate_series(1, 3) AS s(j)
WHERE hh.household_no LIKE 'BENCH-%'
ORDER BY hh.id, s.j
LIMIT :n
"""
        ),
        {"n": missing},
    )
    return households, missing


def _timed(store: dict[str, float], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            store[name] = store.get(name, 0.0) + time.perf_counter() - started

    return wrapper


def one_run(engine: Engine, *, grid_code: str, persons: int) -> dict[str, Any]:
    """Top up, split, diff and publish in one transaction; roll back; return timings/checks."""
    with Session(engine) as session:
        transaction = session.begin()
        try:
            grid = session.execute(
                text(
                    "SELECT g.id, a.code AS community, ST_XMin(g.geom) AS x0, "
                    "ST_XMax(g.geom) AS x1 "
                    "FROM grids g JOIN admin_units a ON a.id = g.community_id "
                    "WHERE g.code = :c AND g.valid_to IS NULL"
                ),
                {"c": grid_code},
            ).one()
            started = time.perf_counter()
            added = top_up(session, grid.id, persons)
            session.execute(text("ANALYZE households"))
            session.execute(text("ANALYZE persons"))
            top_up_s = time.perf_counter() - started
            before = grid_counts(session, grid_ids=[grid.id])[grid.id]
            user_id = session.scalar(select(User.id).where(User.username == "planner"))
            assert user_id is not None, "the demo planner is missing"
            planner = load_principal(session, user_id)

            # a west–east line between the buildings where half the households lie to the south
            residential = session.execute(
                text(
                    "SELECT ST_Y(ST_PointOnSurface(b.geom)) AS y, count(hh.id) AS n "
                    "FROM buildings b JOIN houses h ON h.building_id = b.id "
                    "JOIN households hh ON hh.house_id = h.id "
                    "WHERE b.grid_id = :g GROUP BY b.id ORDER BY 1"
                ),
                {"g": grid.id},
            ).all()
            total, running, cut_y = sum(r.n for r in residential), 0, residential[0].y
            for below, above in itertools.pairwise(residential):
                running += below.n
                cut_y = (below.y + above.y) / 2
                if running * 2 >= total:
                    break

            started = time.perf_counter()
            ctx = plans.create_plan(
                session, principal=planner, scope_code=grid.community, name="基准测试拆分"
            )
            line = LineString([(grid.x0 - 0.001, cut_y), (grid.x1 + 0.001, cut_y)])
            split_by_line(session, principal=planner, plan_id=ctx.plan.id, key=grid_code, line=line)
            split_s = time.perf_counter() - started

            started = time.perf_counter()
            diff = plan_diff(session, principal=planner, plan_id=ctx.plan.id)
            diff_s = time.perf_counter() - started

            phases: dict[str, float] = {}
            originals = {
                name: getattr(plans, name)
                for name in ("_validate", "regenerate_sizhi", "reassign_after_grid_change")
            }
            for name, fn in originals.items():
                setattr(plans, name, _timed(phases, name, fn))
            try:
                started = time.perf_counter()
                result = plans.publish_plan(
                    session,
                    principal=planner,
                    plan_id=ctx.plan.id,
                    effective_at=datetime.now(UTC),
                )
                session.flush()
                publish_s = time.perf_counter() - started
            finally:
                for name, fn in originals.items():
                    setattr(plans, name, fn)

            new_ids = {g.code: g.id for g in result.created}
            live = grid_counts(session, grid_ids=[*new_ids.values(), grid.id])
            expected = {g.code: g.after for g in diff.grids if g.after is not None}
            mismatches = [
                code
                for code, grid_id in new_ids.items()
                if (live[grid_id].persons, live[grid_id].open_incidents)
                != (expected[code].persons, expected[code].open_incidents)
            ]
            if live[grid.id].persons or live[grid.id].buildings:
                mismatches.append(f"{grid_code} (old version still holds rows)")
            return {
                "before": before,
                "added": added,
                "top_up_s": top_up_s,
                "split_s": split_s,
                "diff_s": diff_s,
                "publish_s": publish_s,
                "phases": phases,
                "created": {code: live[i] for code, i in new_ids.items()},
                "reassigned": result.reassigned,
                "mismatches": mismatches,
            }
        finally:
            transaction.rollback()


def main(
    persons: Annotated[int, typer.Option(help="Persons in the grid that is split.")] = 10_000,
    repeat: Annotated[int, typer.Option(help="Runs (each rolled back).")] = 3,
    database: Annotated[str, typer.Option(help="Scratch database name.")] = "wangge_bench_publish",
    keep: Annotated[bool, typer.Option(help="Keep the scratch database.")] = False,
) -> None:
    """Time the publish of a grid split, with re-assignment, on the demo street."""
    console.print(f"[bold]bench_publish[/bold] on {machine()}")
    with bench_database(database, keep) as engine:
        started = time.perf_counter()
        counts = load_demo_street(engine)
        console.print(
            f"demo street loaded in {time.perf_counter() - started:.1f}s: "
            + ", ".join(f"{k} {v:,}" for k, v in counts.items() if k in ("grids", "persons"))
        )
        with engine.connect() as conn:
            grid_code = conn.execute(
                text(
                    "SELECT g.code FROM grids g JOIN buildings b ON b.grid_id = g.id "
                    "JOIN houses h ON h.building_id = b.id "
                    "JOIN households hh ON hh.house_id = h.id "
                    "JOIN persons p ON p.household_id = hh.id "
                    "WHERE g.valid_to IS NULL GROUP BY g.code ORDER BY count(*) DESC, g.code "
                    "LIMIT 1"
                )
            ).scalar_one()
        runs = [one_run(engine, grid_code=grid_code, persons=persons) for _ in range(repeat)]

    first = runs[0]
    console.print(
        f"grid {grid_code}: {first['before'].persons:,} persons, "
        f"{first['before'].households:,} households, {first['before'].buildings} buildings, "
        f"{first['before'].open_incidents} open incidents "
        f"(topped up by {first['added'][1]:,} persons in {first['added'][0]:,} households)"
    )
    table = Table(title=f"Split and publish, {repeat} runs (median; min–max)")
    table.add_column("step")
    table.add_column("median s", justify="right")
    table.add_column("min–max s", justify="right")
    rows = [
        ("split by line (draft)", "split_s"),
        ("plan diff", "diff_s"),
        ("publish, total", "publish_s"),
    ]
    for label, key in rows:
        values = [r[key] for r in runs]
        table.add_row(
            label, f"{statistics.median(values):.3f}", f"{min(values):.3f}–{max(values):.3f}"
        )
    for name in ("_validate", "regenerate_sizhi", "reassign_after_grid_change"):
        values = [r["phases"].get(name, 0.0) for r in runs]
        table.add_row(
            f"  of which {name}",
            f"{statistics.median(values):.3f}",
            f"{min(values):.3f}–{max(values):.3f}",
        )
    console.print(table)
    console.print("re-filed: " + ", ".join(f"{k} {v:,}" for k, v in first["reassigned"].items()))
    for code, c in first["created"].items():
        console.print(
            f"  {code}: {c.persons:,} persons, {c.households:,} households, "
            f"{c.open_incidents} open incidents"
        )
    bad = [m for r in runs for m in r["mismatches"]]
    if bad:
        console.print(f"[red]outcome differs from the diff: {bad}[/red]")
        raise typer.Exit(1)
    console.print("every run: persons and open incidents per new grid equal the diff")


if __name__ == "__main__":
    typer.run(main)
