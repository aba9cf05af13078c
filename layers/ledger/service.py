"""The two entry points: :func:`import_ledger` and :func:`export_ledger`.

An import, in one transaction (the caller's):

1. read the file into text rows (:mod:`layers.ledger.reading`) and map its headers;
2. check every row's cells in Python (:mod:`layers.ledger.rows` and the kind module) and
   convert coordinates in bulk;
3. COPY the rows that passed into a TEMP staging table and locate them set-based
   (:mod:`layers.ledger.locate`), then run the kind's SQL checks;
4. write the good rows inside a SAVEPOINT with INSERT … SELECT / UPDATE … FROM. The savepoint
   is released only for a commit whose policy allows it (``all_or_nothing`` without bad rows,
   or ``skip_bad_rows``); a dry run or a rejected commit rolls it back, so the counts in the
   report are what the write really did (or would do) and nothing is left behind;
5. write one audit row with the counts, and return the report.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from layers.access import Principal
from layers.audit import record
from layers.errors import Forbidden, InvalidInput
from layers.ledger.columns import SPECS, LedgerKind
from layers.ledger.exporting import write_csv, write_xlsx
from layers.ledger.houses import HousesLedger
from layers.ledger.kinds import LedgerKindHandler
from layers.ledger.locate import build_scope, locate_in_buildings, locate_points
from layers.ledger.persons import PersonsLedger
from layers.ledger.places import PlacesLedger
from layers.ledger.reading import (
    HTTP_LIMITS,
    ColumnMap,
    Limits,
    ProgressCallback,
    RawTable,
    map_columns,
    read_table,
)
from layers.ledger.report import ImportReport, Outcome, Policy, Problem, masked_value, sql_reason
from layers.ledger.rows import Location, RowContext, convert_coordinates, parse_location
from layers.ledger.staging import (
    BUILDING_KEYS,
    LOCATION_COLUMNS,
    LOCATION_INPUT,
    PROBLEMS,
    ROWS,
    SCOPE_BUILDINGS,
    SCOPE_GRIDS,
    analyze,
    copy_rows,
    create_problems_table,
    create_table,
    drop_tables,
    mark_bad_rows,
    read_problems,
)
from layers.models.users import Role
from layers.spatial.crs import Crs, parse_crs

# Who may import and export ledgers: the grid workers of a community and the community and
# street admins (each within their own area). Planners, dispatchers, department handlers and
# the system admin have no duty that needs person-level ledgers.
LEDGER_ROLES = frozenset({Role.grid_worker, Role.community_admin, Role.street_admin})

HANDLERS: dict[LedgerKind, LedgerKindHandler] = {
    LedgerKind.persons: PersonsLedger(),
    LedgerKind.places: PlacesLedger(),
    LedgerKind.houses: HousesLedger(),
}

# Columns a file must have, per kind: every group lists alternatives, one of which must exist.
_REQUIRED_COLUMNS: dict[LedgerKind, tuple[tuple[tuple[str, ...], ...], ...]] = {
    LedgerKind.persons: (
        (("name",),),
        (("address",), ("compound", "building_no"), ("lon", "lat")),
    ),
    LedgerKind.places: (
        (("name",),),
        (("kind",),),
        (("address",), ("lon", "lat")),
    ),
    LedgerKind.houses: (
        (("address",), ("compound", "building_no"), ("lon", "lat")),
        (("room",), ("address",)),
    ),
}


def check_ledger_role(principal: Principal) -> None:
    """Forbidden unless the principal's role works with ledgers."""
    if principal.role not in LEDGER_ROLES:
        raise Forbidden(
            "Only grid workers, community admins and street admins may import or export ledgers",
            "仅网格员、社区管理员和街道管理员可导入或导出台账",
        )


def _check_required_columns(kind: LedgerKind, cmap: ColumnMap) -> None:
    spec = SPECS[kind]
    for alternatives in _REQUIRED_COLUMNS[kind]:
        if any(all(k in cmap.index for k in group) for group in alternatives):
            continue
        zh = " 或 ".join("+".join(spec.column(k).header for k in group) for group in alternatives)
        en = " or ".join(
            " + ".join(spec.column(k).label_en for k in group) for group in alternatives
        )
        raise InvalidInput(
            f"The ledger lacks a required column: {en}",
            f"台账缺少必需的列：{zh}",
            field=spec.column(alternatives[0][0]).header,
        )


def _parse_rows(
    handler: LedgerKindHandler,
    table: RawTable,
    cmap: ColumnMap,
    default_crs: Crs,
    progress: ProgressCallback | None,
) -> tuple[dict[int, RowContext], list[tuple[Any, ...]]]:
    """Check every row in Python; return the contexts by row number and the rows to stage.

    Every row that names a location is staged, also one whose other cells are bad
    (``pre_bad``): its location is still checked, so the report lists all of a row's
    problems at once. Only good rows go on to the kind's checks and the write.
    """
    contexts: dict[int, RowContext] = {}
    parsed: list[tuple[RowContext, Location, Any]] = []
    crs_cache: dict[str, Crs | InvalidInput] = {}
    total = len(table.rows)
    for done, raw in enumerate(table.rows, start=1):
        ctx = RowContext(handler.spec, cmap, raw)
        contexts[raw.number] = ctx
        loc = parse_location(ctx, default_crs=default_crs, crs_cache=crs_cache)
        values = handler.parse(ctx, loc)
        parsed.append((ctx, loc, values))
        if progress is not None and done % 1000 == 0:
            progress("check", done, total)
    convert_coordinates((ctx, loc) for ctx, loc, _ in parsed)
    blank = (None,) * len(handler.input_columns)
    staged = [
        (
            ctx.row.number,
            ctx.bad,
            loc.address_key,
            _address_column(ctx),
            loc.unit,
            loc.floor,
            loc.room,
            loc.lon,
            loc.lat,
            *(blank if values is None else values),
        )
        for ctx, loc, values in parsed
        if loc.locatable
    ]
    if progress is not None:
        progress("check", total, total)
    return contexts, staged


def _address_column(ctx: RowContext) -> str:
    """Which column an address problem is reported against: 地址, else 楼栋/小区."""
    if ctx.text("address"):
        return "address"
    return "building_no" if ctx.text("building_no") else "compound"


def _problems(
    handler: LedgerKindHandler,
    contexts: dict[int, RowContext],
    cmap: ColumnMap,
    sql_found: list[tuple[int, str, str, str | None]],
) -> list[Problem]:
    problems = [p for ctx in contexts.values() for p in ctx.problems]
    for row, key, code, detail in sql_found:
        ctx = contexts[row]
        zh, en = sql_reason(code, detail)
        column = handler.spec.by_key.get(key)
        value = masked_value(column, ctx.text(key))
        problems.append(Problem(row, ctx.header(key), value, code, zh, en))
    order = {header: i for i, header in enumerate(cmap.headers.values())}
    return sorted(problems, key=lambda p: (p.row, order.get(p.column, len(order)), p.code))


def import_ledger(
    session: Session,
    *,
    principal: Principal,
    kind: LedgerKind,
    data: bytes,
    filename: str | None = None,
    dry_run: bool = True,
    policy: Policy = Policy.all_or_nothing,
    crs: str | None = None,
    client_ip: str | None = None,
    progress: ProgressCallback | None = None,
    limits: Limits = HTTP_LIMITS,
) -> ImportReport:
    """Import (or, by default, only check) a CSV/XLSX ledger of ``kind``; return the report.

    Parameters
    ----------
    data, filename
        The file's bytes and name (the name only helps tell CSV from other text files).
    dry_run
        Check everything and report what would be written, write nothing (the default).
    policy
        For a commit: ``all_or_nothing`` writes nothing if any row is bad; ``skip_bad_rows``
        writes the good rows and reports the bad ones.
    crs
        CRS of the coordinates for rows without a 坐标系 cell (default WGS-84 lon/lat).
    progress
        ``progress(stage, done, total)`` for long files (stages: read, check, locate, write).
    limits
        Size and row limits of the file (the command line allows larger files than HTTP).

    Raises
    ------
    Forbidden
        The role does not work with ledgers.
    UnsupportedFileType, LedgerTooLarge, InvalidInput, UnknownCRS
        The file as a whole cannot be read (the route answers 415, 413, 422).
    """
    check_ledger_role(principal)
    handler = HANDLERS[kind]
    spec = handler.spec
    default_crs = parse_crs(crs, field="crs")
    table = read_table(data, kind=kind, filename=filename, progress=progress, limits=limits)
    cmap = map_columns(table, spec)
    _check_required_columns(kind, cmap)
    contexts, staged = _parse_rows(handler, table, cmap, default_crs, progress)

    if progress is not None:
        progress("locate", 0, 3)
    create_table(session, ROWS, LOCATION_COLUMNS + handler.staging_columns)
    create_problems_table(session)
    copy_rows(session, ROWS, LOCATION_INPUT + handler.input_columns, staged)
    analyze(session, ROWS)  # temporary tables are never analysed automatically
    build_scope(session, principal)
    if handler.needs_building:
        locate_in_buildings(session)
    else:
        locate_points(session)
    mark_bad_rows(session, including_pre_bad=True)
    analyze(session, ROWS)
    if progress is not None:
        progress("locate", 1, 3)
    handler.check(session, principal)
    mark_bad_rows(session)
    if progress is not None:
        progress("locate", 3, 3)

    problems = _problems(handler, contexts, cmap, read_problems(session))
    bad_rows = {p.row for p in problems}
    report = ImportReport(
        kind=kind.value,
        file_format=table.file_format,
        encoding=table.encoding,
        sheet=table.sheet,
        header_row=table.header_row,
        dry_run=dry_run,
        policy=policy,
        rows_total=len(table.rows),
        rows_bad=len(bad_rows),
        rows_good=len(table.rows) - len(bad_rows),
        problems=problems,
        ignored_columns=list(cmap.ignored),
    )
    write_allowed = not dry_run and (not bad_rows or policy is Policy.skip_bad_rows)
    if progress is not None:
        progress("write", 0, 1)
    savepoint = session.begin_nested()
    try:
        result = handler.write(session, principal)
    except Exception:
        savepoint.rollback()
        raise
    if write_allowed:
        savepoint.commit()
        report.outcome = Outcome.committed
    else:
        savepoint.rollback()
        report.outcome = Outcome.checked if dry_run else Outcome.rejected
    if progress is not None:
        progress("write", 1, 1)
    report.created, report.updated, report.unchanged = (
        result.created,
        result.updated,
        result.unchanged,
    )
    drop_tables(session, ROWS, PROBLEMS, SCOPE_BUILDINGS, SCOPE_GRIDS, BUILDING_KEYS)
    drop_tables(session, *handler.temp_tables)
    record(
        session,
        action="import",
        resource=spec.resource,
        resource_ids=result.ids if report.committed else (),
        fields=[k for k in spec.personal_fields if k in cmap.index],
        unmasked=False,
        principal=principal,
        client_ip=client_ip,
        detail={
            "ledger": kind.value,
            "file_format": table.file_format,
            "dry_run": dry_run,
            "policy": policy.value,
            "outcome": report.outcome.value,
            "rows_total": report.rows_total,
            "rows_good": report.rows_good,
            "rows_bad": report.rows_bad,
            "created": report.created,
            "updated": report.updated,
            "unchanged": report.unchanged,
        },
    )
    return report


def export_ledger(
    session: Session,
    *,
    principal: Principal,
    kind: LedgerKind,
    file_format: str,
    client_ip: str | None = None,
) -> bytes:
    """The ledger of ``kind`` in the principal's area as CSV or XLSX bytes; audited.

    Personal columns are masked in SQL unless the role may see them in full (ID numbers:
    community and street admins; names and phones also grid workers).
    """
    check_ledger_role(principal)
    if file_format not in ("csv", "xlsx"):
        raise InvalidInput(
            "Exports are .csv or .xlsx", "导出格式只能是 .csv 或 .xlsx", field="format"
        )
    handler = HANDLERS[kind]
    spec = handler.spec
    keys, result = handler.export_rows(session, principal)
    ids: list[int] = []
    rows: list[tuple[Any, ...]] = []
    for row in result:
        ids.append(row[0])
        rows.append(tuple(row[1:]))
    body = write_csv(spec, keys, rows) if file_format == "csv" else write_xlsx(spec, keys, rows)
    personal = [k for k in spec.personal_fields if k in keys]
    masked = _masked_fields(spec.kind, principal)
    if personal:
        record(
            session,
            action="export",
            resource=spec.resource,
            resource_ids=ids,
            fields=personal,
            unmasked=any(f not in masked for f in personal),
            principal=principal,
            client_ip=client_ip,
            detail={
                "ledger": kind.value,
                "format": file_format,
                "rows": len(rows),
                "masked_fields": [f for f in personal if f in masked],
            },
        )
    return body


def _masked_fields(kind: LedgerKind, principal: Principal) -> set[str]:
    """Which personal columns of an export are masked for this principal."""
    masked: set[str] = set()
    if not principal.sees_full_personal_data():
        masked.add("id_number")
    if not principal.sees_full_phones():
        masked |= {"phone", "contact_phone"}
    if not (principal.sees_full_phones() or principal.sees_full_personal_data()):
        masked |= {"name", "contact_name"}
    return masked
