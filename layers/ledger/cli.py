"""``wangge import`` / ``wangge export``: ledgers (台账) from and to CSV/XLSX on the command line.

::

    wangge import persons 人口台账.xlsx --as gw_1            # dry run: check and report
    wangge import persons 人口台账.xlsx --as gw_1 --commit   # all rows or nothing
    wangge import persons 人口台账.xlsx --as gw_1 --commit --skip-bad-rows
    wangge export persons 人口台账.xlsx --as ca_1

A command acts as a user account (``--as``): the import is scoped to that user's area, masked
and audited exactly as through the API. Imports are dry runs unless ``--commit``; the whole
import is one transaction. Exit status: 0 when nothing is wrong (or the user chose
``--skip-bad-rows``), 1 when rows are bad (dry run) or the commit was refused, 2 when the file
or the options cannot be used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Annotated

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
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from layers.access import Principal
from layers.errors import NotFound, WanggeError
from layers.ledger.columns import SPECS, LedgerKind
from layers.ledger.report import ImportReport, Outcome, Policy

app = typer.Typer(
    help="Ledgers (台账): import from and export to CSV/XLSX with Chinese headers.",
    no_args_is_help=True,
)
console = Console()

STAGE_LABELS = {
    "read": "read 读取",
    "check": "check 检查",
    "locate": "locate 定位",
    "write": "write 写入",
}

AsOption = Annotated[
    str,
    typer.Option(
        "--as",
        help="Username to act as: the ledger is scoped to, masked for and audited as this user.",
    ),
]


@contextmanager
def _database_session() -> Iterator[Session]:
    from layers.db import make_engine, session_scope

    engine = make_engine()
    try:
        with session_scope(engine) as session:
            yield session
    finally:
        engine.dispose()


# One transaction per command; tests put their rolled-back session here.
open_session: Callable[[], AbstractContextManager[Session]] = _database_session


def principal_for(session: Session, username: str) -> Principal:
    """The principal of an active account, by username (NotFound otherwise)."""
    from layers.models import User
    from layers.users import load_principal

    user_id = session.execute(
        select(User.id).where(User.username == username.strip().lower())
    ).scalar_one_or_none()
    if user_id is None:
        raise NotFound(f"There is no user {username!r}", f"不存在用户 {username!r}", field="as")
    return load_principal(session, user_id)


def _progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def print_report(report: ImportReport, out: Console) -> None:
    """The report as a table of bad rows and a summary line."""
    if report.problems:
        table = Table(title=f"{len(report.problems)} problems 问题 ({report.rows_bad} bad rows)")
        for name in ("row 行", "column 列", "value 值", "reason 原因"):
            table.add_column(name)
        for p in report.problems:
            table.add_row(str(p.row), p.column, p.value, f"{p.reason_zh}\n{p.reason_en}")
        out.print(table)
    if report.ignored_columns:
        out.print("ignored columns 未识别的列: " + "、".join(report.ignored_columns))
    created = ", ".join(f"{k} {v}" for k, v in report.created.items() if v) or "nothing"
    updated = ", ".join(f"{k} {v}" for k, v in report.updated.items() if v) or "nothing"
    verb = "created" if report.committed else "would create"
    out.print(
        f"rows {report.rows_total}: good {report.rows_good}, bad {report.rows_bad}; "
        f"{verb}: {created}; updated: {updated}; unchanged: {report.unchanged}"
    )
    messages = {
        Outcome.checked: "Dry run: nothing was written. 试运行：未写入任何数据（加 --commit 导入）",
        Outcome.committed: "Committed. 已导入。",
        Outcome.rejected: "Refused: the ledger has bad rows, nothing was written. "
        "有错误行，未导入任何数据（修正后重试，或加 --skip-bad-rows 只导入正确的行）",
    }
    out.print(messages[report.outcome])


def exit_code(report: ImportReport) -> int:
    """0: all good, or committed with --skip-bad-rows; 1: bad rows in a dry run, or refused."""
    if report.outcome is Outcome.rejected:
        return 1
    if report.outcome is Outcome.checked and report.rows_bad:
        return 1
    return 0


@app.command("import")
def import_command(
    kind: Annotated[LedgerKind, typer.Argument(help="persons, places or houses")],
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help=".xlsx or .csv")
    ],
    as_user: AsOption,
    crs: Annotated[
        str | None,
        typer.Option(help="CRS of 经度/纬度 without a 坐标系 cell (default EPSG:4326)."),
    ] = None,
    commit: Annotated[
        bool, typer.Option("--commit", help="Write the rows (default: dry run).")
    ] = False,
    skip_bad_rows: Annotated[
        bool,
        typer.Option("--skip-bad-rows", help="With --commit: write the good rows, report the bad."),
    ] = False,
) -> None:
    """Import a ledger (dry run unless --commit); print every bad row."""
    from layers.ledger.reading import CLI_LIMITS
    from layers.ledger.service import import_ledger

    data = file.read_bytes()
    policy = Policy.skip_bad_rows if skip_bad_rows else Policy.all_or_nothing
    try:
        with open_session() as session, _progress_bar() as bar:
            tasks: dict[str, TaskID] = {}

            def on_progress(stage: str, done: int, total: int | None) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(STAGE_LABELS.get(stage, stage), total=total)
                bar.update(tasks[stage], completed=done, total=total)

            report = import_ledger(
                session,
                principal=principal_for(session, as_user),
                kind=kind,
                data=data,
                filename=file.name,
                dry_run=not commit,
                policy=policy,
                crs=crs,
                client_ip="cli",
                progress=on_progress,
                limits=CLI_LIMITS,
            )
    except WanggeError as exc:
        where = f" ({exc.field})" if exc.field else ""
        console.print(f"[red]{exc.message_en}{where}[/red]\n{exc.message_zh}")
        console.print("Nothing was written. 未写入任何数据。")
        raise typer.Exit(2) from exc
    print_report(report, console)
    raise typer.Exit(exit_code(report))


@app.command("export")
def export_command(
    kind: Annotated[LedgerKind, typer.Argument(help="persons, places or houses")],
    out: Annotated[Path, typer.Argument(dir_okay=False, help="Output file, .xlsx or .csv")],
    as_user: AsOption,
) -> None:
    """Export the ledger of the user's area to .xlsx or .csv (masked as for that user)."""
    from layers.ledger.service import export_ledger

    file_format = out.suffix.lower().lstrip(".")
    if file_format not in ("csv", "xlsx"):
        console.print(
            "[red]The output file must end in .xlsx or .csv[/red] 输出文件须为 .xlsx 或 .csv"
        )
        raise typer.Exit(2)
    try:
        with open_session() as session:
            body = export_ledger(
                session,
                principal=principal_for(session, as_user),
                kind=kind,
                file_format=file_format,
                client_ip="cli",
            )
    except WanggeError as exc:
        console.print(f"[red]{exc.message_en}[/red]\n{exc.message_zh}")
        raise typer.Exit(2) from exc
    out.write_bytes(body)
    console.print(f"wrote {out} ({SPECS[kind].title_zh}, {len(body):,} bytes)")
