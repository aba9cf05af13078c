"""``wangge grids validate / repair / import / export``: grid coverage from the command line.

* ``validate CODE [--tolerance-m] [--geojson OUT]`` prints the problems of a community's or
  street's grids as a table (and writes them as GeoJSON for a map). Exit code 0 when the
  coverage holds (no errors, no slivers; warnings allowed), 2 when it does not.
* ``repair CODE [--tolerance-m] [--commit --user NAME]`` shows what the repair would change;
  with ``--commit`` it writes the new grid versions as that user.
* ``import FILE --parent CODE [--crs] [--layer] [--mapping JSON] [--replace]
  [--commit --user NAME]`` checks a grid layer file and prints the report; ``--commit`` writes.
* ``export CODE OUT [--format] [--at] [--crs]`` writes the grids to a GeoJSON, GeoPackage,
  zipped Shapefile or KML file (format from the suffix of OUT unless given).

Reads act as an operator who sees every area; writes need ``--user`` (their role and area are
checked, and the change is attributed to them). Each command runs in one transaction on
``DATABASE_URL``, rolled back unless ``--commit``. Tests hand in their own session through
``ctx.obj = {"session": <context manager factory>}``.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable
from sqlalchemy.orm import Session

from layers.cli_support import cli_fail, cli_transaction, operator_principal
from layers.errors import WanggeError

if TYPE_CHECKING:
    from layers.access import Principal
    from layers.grids.coverage import CoverageReport

app = typer.Typer(
    help="Grid coverage: validate, repair, import and export grid layers (网格覆盖检查与修复).",
    no_args_is_help=True,
)
console = Console(soft_wrap=True)


ToleranceOption = Annotated[
    float,
    typer.Option(
        "--tolerance-m", help="Overlaps and gaps narrower than this (metres) are slivers."
    ),
]
UserOption = Annotated[
    str | None,
    typer.Option("--user", help="Act as this user (required with --commit)."),
]
CommitOption = Annotated[
    bool, typer.Option("--commit", help="Write the changes (default: a dry run).")
]

SEVERITY_STYLE = {"error": "red", "sliver": "yellow", "warning": "cyan"}


def _principal(session: Session, username: str | None, *, required: bool) -> Principal:
    """The named user as a principal; the operator for reads without ``--user``."""
    from sqlalchemy import select

    from layers.errors import InvalidInput
    from layers.models import User
    from layers.users import load_principal

    if username is None:
        if required:
            raise InvalidInput(
                "--commit needs --user: changes are attributed to a user",
                "--commit 需要 --user：修改必须记录到具体用户",
                field="user",
            )
        return operator_principal()
    user_id = session.scalar(select(User.id).where(User.username == username.strip().lower()))
    if user_id is None:
        raise InvalidInput(f"There is no user {username!r}", f"没有用户 {username!r}", field="user")
    return load_principal(session, user_id)


def _steps() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def print_report(report: CoverageReport) -> None:
    """The problems of a coverage report as a rich table, and the summary line."""
    summary = report.to_summary()
    table = RichTable(title=f"{report.parent_name} {report.parent_code} 网格覆盖检查")
    for name in ("severity", "kind", "codes", "size", "message"):
        table.add_column(name)
    for p in report.problems:
        if p.area_m2 is not None:
            size = f"{p.area_m2:,.1f} m²"
            if p.width_m is not None:
                size += f" ({p.width_m:.2f} m wide)"
        elif p.length_m is not None:
            size = f"{p.length_m:,.1f} m"
        else:
            size = ""
        style = SEVERITY_STYLE[p.severity]
        table.add_row(
            f"[{style}]{p.severity}[/{style}]",
            p.kind,
            " ".join(p.codes),
            size,
            f"{p.message_zh}\n{p.message_en}",
        )
    if report.problems:
        console.print(table)
    console.print(summary["message_zh"])
    console.print(summary["message_en"])


@app.command()
def validate(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="12-digit community or street code.")],
    tolerance_m: ToleranceOption = 0.5,
    geojson: Annotated[
        Path | None, typer.Option("--geojson", help="Also write the problems as GeoJSON here.")
    ] = None,
) -> None:
    """Check that the grids of a community or street cover it with no gap and no overlap."""
    from layers.grids.coverage import validate_coverage

    try:
        with cli_transaction(ctx, commit=False) as session, _steps() as progress:
            task = progress.add_task("validating", total=None)
            report = validate_coverage(
                session,
                parent_code=code,
                tolerance_m=tolerance_m,
                progress=lambda step: progress.update(task, description=step),
            )
    except WanggeError as exc:
        raise cli_fail(exc, console) from exc
    print_report(report)
    if geojson is not None:
        geojson.write_text(
            json.dumps(report.to_geojson(), ensure_ascii=False, indent=1), encoding="utf-8"
        )
        console.print(f"GeoJSON: {geojson}")
    if not report.valid:
        raise typer.Exit(code=2)


@app.command()
def repair(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="12-digit community or street code.")],
    tolerance_m: ToleranceOption = 0.5,
    commit: CommitOption = False,
    user: UserOption = None,
) -> None:
    """Snap edges, give slivers to neighbours, clip leaks: a preview unless --commit."""
    from layers.grids.repair import apply_repair, preview_repair

    try:
        with cli_transaction(ctx, commit=commit) as session:
            principal = _principal(session, user, required=commit)
            with _steps() as progress:
                progress.add_task("computing the repair", total=None)
                plan = preview_repair(session, parent_code=code, tolerance_m=tolerance_m)
            _print_plan(plan)
            if commit and plan.changes:
                result = apply_repair(
                    session,
                    principal,
                    parent_code=code,
                    tolerance_m=tolerance_m,
                    expected_versions=plan.expected_versions,
                )
                console.print(
                    f"Wrote {len(result.repaired)} new grid version(s); "
                    f"re-filed {sum(result.reassigned.values())} row(s)\n"
                    f"已写入 {len(result.repaired)} 个网格新版本"
                )
    except WanggeError as exc:
        raise cli_fail(exc, console) from exc
    if not commit and plan.changes:
        console.print(
            "Dry run: nothing written (add --commit --user NAME to apply)\n演练模式：未写入"
        )


def _print_plan(plan: Any) -> None:
    table = RichTable(title=f"{plan.parent_name} {plan.parent_code} 修复预览")
    for name in ("code", "version", "area before m²", "after m²", "gained", "lost", "buildings"):
        table.add_column(name)
    for c in plan.changes:
        moved = " ".join(
            [f"+{b}" for b in c.buildings_gained] + [f"-{b}" for b in c.buildings_lost]
        )
        table.add_row(
            c.code,
            f"{c.version} → {c.version + 1}",
            f"{c.area_before_m2:,.1f}",
            f"{c.area_after_m2:,.1f}",
            f"{c.area_gained_m2:,.1f}",
            f"{c.area_lost_m2:,.1f}",
            " ".join(moved),
        )
    if plan.changes:
        console.print(table)
    else:
        console.print("Nothing to repair\n无需修复")
    if not plan.verified:
        console.print(f"[red]{plan.refusal_en}[/red]\n{plan.refusal_zh}")
    after = plan.after.to_summary()
    console.print(f"After the repair: {after['message_en']}\n修复后：{after['message_zh']}")


@app.command("import")
def import_file(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help=".geojson, .gpkg, .zip (Shapefile) or .kml")],
    parent: Annotated[str, typer.Option("--parent", help="12-digit community or street code.")],
    crs: Annotated[
        str | None, typer.Option("--crs", help="CRS of the file (CGCS2000, GCJ02, EPSG:4527...).")
    ] = None,
    layer: Annotated[str | None, typer.Option("--layer", help="Layer of the file.")] = None,
    mapping: Annotated[
        str | None, typer.Option("--mapping", help='Columns, e.g. {"code": "WGBM"}.')
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Retire the parent's grids missing from the file.")
    ] = False,
    tolerance_m: ToleranceOption = 0.5,
    commit: CommitOption = False,
    user: UserOption = None,
) -> None:
    """Check a grid layer file against a parent; write it as new grid versions with --commit."""
    from layers.grids.io import import_grids, parse_mapping

    if not file.is_file():
        console.print(f"[red]No such file: {file}[/red]\n文件不存在：{file}")
        raise typer.Exit(code=1)
    try:
        with cli_transaction(ctx, commit=commit) as session:
            principal = _principal(session, user, required=commit)
            with _steps() as progress:
                progress.add_task(f"reading {file.name}", total=None)
                report = import_grids(
                    session,
                    principal,
                    data=file.read_bytes(),
                    filename=file.name,
                    parent_code=parent,
                    crs=crs,
                    layer=layer,
                    mapping=parse_mapping(mapping),
                    replace=replace,
                    commit=commit,
                    tolerance_m=tolerance_m,
                )
    except WanggeError as exc:
        if "report" in exc.extra:
            _print_import(exc.extra["report"])
        raise cli_fail(exc, console) from exc
    _print_import(report.to_dict())
    if not commit:
        console.print(
            "Dry run: nothing written (add --commit --user NAME to import)\n演练模式：未写入"
        )


def _print_import(report: dict[str, Any]) -> None:
    table = RichTable(title=f"{report['file']['name']} → {report['parent']['code']}")
    for name in ("#", "code", "name", "action", "errors"):
        table.add_column(name)
    for f in report["features"]:
        errors = "\n".join(f"{e['field']}: {e['message_zh']}" for e in f["errors"])
        table.add_row(str(f["index"]), f["code"] or "", f["name"] or "", f["action"], errors)
    console.print(table)
    console.print(f"CRS: {report['crs']['used']} (file: {report['crs']['detected']})")
    if report["retire"]:
        console.print(f"Retired with --replace: {', '.join(report['retire'])}")
    if report["coverage"]:
        console.print(report["coverage"]["message_zh"])
        console.print(report["coverage"]["message_en"])
    if report["committed"]:
        console.print(f"Imported {len(report['written_ids'])} grid version(s)\n已导入")


@app.command()
def export(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="12-digit community or street code.")],
    out: Annotated[Path, typer.Argument(help="Output file: .geojson, .gpkg, .zip or .kml")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="geojson, gpkg, shp or kml (default: suffix).")
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="The grid map valid at this RFC 3339 time.")
    ] = None,
    crs: Annotated[str | None, typer.Option("--crs", help="Output CRS (default WGS84).")] = None,
) -> None:
    """Write the grids of a community or street to a file."""
    from layers.features import parse_instant
    from layers.grids.io import export_grids

    suffixes = {".geojson": "geojson", ".json": "geojson", ".gpkg": "gpkg", ".zip": "shp"}
    suffixes[".kml"] = "kml"
    chosen = fmt or suffixes.get(out.suffix.lower())
    if chosen is None:
        console.print("[red]Give --format or an OUT ending in .geojson/.gpkg/.zip/.kml[/red]")
        raise typer.Exit(code=1)
    try:
        moment: datetime | None = parse_instant(at, field="at") if at else None
        with cli_transaction(ctx, commit=False) as session:
            exported = export_grids(
                session, operator_principal(), parent_code=code, fmt=chosen, at=moment, crs=crs
            )
    except WanggeError as exc:
        raise cli_fail(exc, console) from exc
    out.write_bytes(exported.content)
    console.print(f"{exported.count} grid(s) → {out}\n已导出 {exported.count} 个网格")
