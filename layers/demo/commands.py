"""``wangge demo``: generate the synthetic demo street, or load it into the database."""

from __future__ import annotations

import enum
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table as RichTable

if TYPE_CHECKING:
    from layers.demo.dataset import DemoDataset

app = typer.Typer(
    help="Synthetic demo street 全福街道 (Quanfu, Licheng, Jinan): generate or load it.",
    no_args_is_help=True,
)
console = Console()

DEFAULT_OUT = Path("data/demo/generated")


class Scale(enum.StrEnum):
    """Demo sizes: small for the running demo and tests, large for benchmarks."""

    small = "small"
    large = "large"


SeedOption = Annotated[int, typer.Option(help="Random seed; the same seed gives the same data.")]
ScaleOption = Annotated[
    Scale, typer.Option(help="small: ~60 grids, 50k persons; large: ~5k grids, 1M persons.")
]


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _generate_with_progress(seed: int, scale: Scale) -> DemoDataset:
    from layers.demo.generate import STEPS, generate

    with _progress() as bar:
        task = bar.add_task(f"generate {scale.value}", total=len(STEPS))
        seen: list[str] = []

        def on_step(name: str) -> None:
            if seen:
                bar.advance(task)
            seen.append(name)
            bar.update(task, description=f"generate: {name}")

        dataset = generate(seed, scale.value, progress=on_step)
        bar.update(task, completed=len(STEPS), description=f"generated {scale.value}")
    return dataset


def _counts_table(
    title: str, counts: dict[str, int], seconds: dict[str, float] | None = None
) -> RichTable:
    table = RichTable(title=title)
    table.add_column("table")
    table.add_column("rows", justify="right")
    if seconds is not None:
        table.add_column("seconds", justify="right")
    for name, rows in counts.items():
        cells = [name, f"{rows:,}"]
        if seconds is not None:
            cells.append(f"{seconds.get(name, 0.0):.2f}")
        table.add_row(*cells)
    return table


@app.command()
def generate(
    seed: SeedOption = 2026,
    scale: ScaleOption = Scale.small,
    out: Annotated[
        Path | None,
        typer.Option(help="Output directory (default data/demo/generated/<scale>-<seed>)."),
    ] = None,
) -> None:
    """Generate the demo and write one COPY-format .tsv per table plus manifest.json."""
    started = time.perf_counter()
    dataset = _generate_with_progress(seed, scale)
    target = out or DEFAULT_OUT / f"{scale.value}-{seed}"
    with console.status(f"writing {target}"):
        manifest = dataset.write(target)
    console.print(_counts_table(f"demo {scale.value}, seed {seed}", dataset.counts()))
    timing = ", ".join(f"{k} {v:.1f}s" for k, v in dataset.timings.items())
    console.print(f"generation: {timing}")
    console.print(f"digest {manifest['digest']}")
    console.print(f"wrote {target} in {time.perf_counter() - started:.1f}s")


@app.command()
def load(
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Do nothing when the demo street is already there.")
    ] = False,
    replace: Annotated[
        bool,
        typer.Option("--replace", help="Delete the demo rows and load again (one transaction)."),
    ] = False,
    scale: ScaleOption = Scale.small,
    seed: SeedOption = 2026,
) -> None:
    """Load the demo street into DATABASE_URL in one transaction (all or nothing)."""
    from psycopg import Error as DriverError
    from sqlalchemy.exc import SQLAlchemyError

    from layers.db import make_engine, session_scope
    from layers.demo.constants import DEMO_PASSWORD, STREET_CODE
    from layers.demo.load import IfPresent, demo_present, load_demo
    from layers.errors import WanggeError
    from layers.security import hash_password

    if if_empty and replace:
        raise typer.BadParameter("--if-empty and --replace exclude each other")
    if_present: IfPresent = "skip" if if_empty else "replace" if replace else "fail"
    engine = make_engine()
    started = time.perf_counter()
    # A quick look before generating (the load itself checks again in its own transaction).
    with session_scope(engine) as session:
        present = demo_present(session)
    if present and if_present == "skip":
        console.print(f"The demo street {STREET_CODE} is already loaded; nothing to do.")
        return
    if present and if_present == "fail":
        console.print(
            f"[red]The demo street {STREET_CODE} is already loaded.[/red] Use --if-empty to "
            "keep it or --replace to load it again (全福街道已存在)."
        )
        raise typer.Exit(1)
    dataset = _generate_with_progress(seed, scale)
    try:
        with session_scope(engine) as session, _progress() as bar:
            tasks: dict[str, TaskID] = {}

            def on_rows(table: str, done: int, total: int) -> None:
                if table not in tasks:
                    tasks[table] = bar.add_task(f"copy {table}", total=total or 1)
                bar.update(tasks[table], completed=done if total else 1)

            result = load_demo(
                session,
                dataset,
                password_hash=hash_password(DEMO_PASSWORD),
                if_present=if_present,
                progress=on_rows,
            )
            if result.status != "skipped":
                bar.add_task("assign to grids, analyze", total=1, completed=1)
    except WanggeError as exc:
        console.print(f"[red]{exc.message_en}[/red]\n{exc.message_zh}")
        console.print("Nothing was written.")
        raise typer.Exit(1) from exc
    except (SQLAlchemyError, DriverError) as exc:
        console.print(f"[red]The load failed and was rolled back: {exc.__class__.__name__}[/red]")
        console.print(str(getattr(exc, "orig", None) or exc))
        raise typer.Exit(1) from exc
    if result.status == "skipped":
        console.print(f"The demo street {STREET_CODE} is already loaded; nothing to do.")
        return
    console.print(_counts_table(f"demo {result.status}", result.counts, result.seconds))
    if result.deleted:
        console.print(
            "deleted first: " + ", ".join(f"{k} {v:,}" for k, v in result.deleted.items())
        )
    console.print(
        "filed under grids: " + ", ".join(f"{k} {v:,}" for k, v in result.assigned.items())
    )
    extra = ("reserve ids", "assign to grids", "analyze", "delete")
    console.print(", ".join(f"{k} {result.seconds[k]:.1f}s" for k in extra if k in result.seconds))
    console.print(
        f"Loaded in {time.perf_counter() - started:.1f}s (one transaction). "
        f"Demo logins: docs/DEMO_USERS.md, password {DEMO_PASSWORD!r}."
    )
