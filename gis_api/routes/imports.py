"""Ledger (台账) import and export: ``POST /imports/{kind}``, ``GET /exports/{kind}.{format}``.

The routes validate the request (role, kind, query parameters, the upload), call one function
of :mod:`layers.ledger.service` and shape the answer. Reading, checking, locating and writing
all happen in the layer, in the request's one transaction: a dry run, or a commit refused under
``all_or_nothing``, leaves nothing behind but its audit row. See docs/LEDGER.md.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Path, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse

from gis_api.deps import SessionDep, client_ip, require_roles
from gis_api.errors import problem
from gis_api.schemas.ledger import ImportReportOut
from layers.access import Principal
from layers.errors import InvalidInput
from layers.ledger.columns import SPECS, LedgerKind
from layers.ledger.exporting import MEDIA_TYPES
from layers.ledger.reading import MAX_LEDGER_BYTES, LedgerTooLarge, UnsupportedFileType
from layers.ledger.report import Outcome, Policy
from layers.ledger.service import LEDGER_ROLES, export_ledger, import_ledger

router = APIRouter(tags=["ledgers"])

LedgerPrincipal = Annotated[Principal, Depends(require_roles(*sorted(LEDGER_ROLES)))]

_IMPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The report: a dry run, or a commit that wrote rows"},
    403: {"description": "Your role does not work with ledgers (problem+json)"},
    413: {"description": "The file exceeds the size or row limit (problem+json)"},
    415: {"description": "Not a CSV or XLSX file (problem+json)"},
    422: {
        "description": "Bad parameters or an unreadable file; or a commit refused under "
        "all_or_nothing because of bad rows (problem+json with the full `report`)"
    },
}


def commit_requested(
    commit: Annotated[
        bool, Query(description="Write the good rows (default: dry run, nothing written)")
    ] = False,
    dry_run: Annotated[
        bool | None, Query(description="true: only check (the default); false: same as commit")
    ] = None,
) -> bool:
    """Whether the request asks for a commit (``commit=true`` or ``dry_run=false``)."""
    if commit and dry_run:
        raise InvalidInput(
            "commit=true and dry_run=true contradict each other: give one of them",
            "commit=true 与 dry_run=true 互相矛盾，请只给出其中一个",
            field="commit",
        )
    return commit or dry_run is False


def _read_upload(file: UploadFile) -> bytes:
    # One byte more than the limit is enough to know the file is too large.
    return file.file.read(MAX_LEDGER_BYTES + 1)


@router.post(
    "/imports/{kind}",
    summary="Import (or check) a CSV/XLSX ledger",
    response_model=ImportReportOut,
    responses=_IMPORT_RESPONSES,
)
def post_import(
    request: Request,
    session: SessionDep,
    principal: LedgerPrincipal,
    kind: Annotated[LedgerKind, Path(description="persons (人口台账), places (场所台账), houses")],
    file: Annotated[UploadFile, File(description="The ledger: .xlsx or .csv (UTF-8 or GB18030)")],
    commit: Annotated[bool, Depends(commit_requested)],
    policy: Annotated[
        Policy,
        Query(
            description="On commit: all_or_nothing (any bad row → nothing written) or "
            "skip_bad_rows (good rows written, bad rows reported)"
        ),
    ] = Policy.all_or_nothing,
    crs: Annotated[
        str | None,
        Query(
            description="CRS of 经度/纬度 for rows without a 坐标系 cell: EPSG:4326 (default), "
            "EPSG:4490, GCJ02, BD09, a projected EPSG code ..."
        ),
    ] = None,
) -> Any:
    """Check a ledger and report every bad row; with ``commit=true`` also write it.

    Each bad row is reported with its row number, column, (masked) value and the reason in
    Chinese and English. Nothing is written in a dry run; a commit under ``all_or_nothing``
    with bad rows is refused (422, nothing written, the report inside the problem).
    """
    data = _read_upload(file)
    try:
        report = import_ledger(
            session,
            principal=principal,
            kind=kind,
            data=data,
            filename=file.filename,
            dry_run=not commit,
            policy=policy,
            crs=crs,
            client_ip=client_ip(request),
        )
    except LedgerTooLarge as exc:
        return _problem(request, 413, exc)
    except UnsupportedFileType as exc:
        return _problem(request, 415, exc)
    body = report.as_dict()
    if report.outcome is Outcome.rejected:
        # A JSONResponse, not an exception: the transaction still commits the audit row.
        return problem(
            422,
            code="ledger-has-bad-rows",
            title_en="The ledger has bad rows",
            title_zh="台账中有错误行",
            detail_en=f"{report.rows_bad} of {report.rows_total} rows are bad; nothing was "
            "imported (policy all_or_nothing). Fix them, or import with policy=skip_bad_rows",
            detail_zh=f"共 {report.rows_total} 行，其中 {report.rows_bad} 行有错误，未导入任何数据"
            "（全部成功才导入）。请修正后重新导入，或选择“跳过错误行”导入",
            instance=request.url.path,
            field="file",
            extra={"report": body},
        )
    return JSONResponse(ImportReportOut.model_validate(body).model_dump(mode="json"))


def _problem(request: Request, status: int, exc: InvalidInput | LedgerTooLarge) -> JSONResponse:
    return problem(
        status,
        code=exc.code,
        title_en=type(exc).default_en,
        title_zh=type(exc).default_zh,
        detail_en=exc.message_en,
        detail_zh=exc.message_zh,
        instance=request.url.path,
        field=exc.field,
    )


@router.get(
    "/exports/{kind}.{file_format}",
    summary="Export a ledger as CSV or XLSX",
    response_class=Response,
    responses={
        200: {
            "content": {media: {} for media in MEDIA_TYPES.values()},
            "description": "The ledger of your area (personal data masked unless your role "
            "needs it)",
        },
        403: {"description": "Your role does not work with ledgers (problem+json)"},
    },
)
def get_export(
    request: Request,
    session: SessionDep,
    principal: LedgerPrincipal,
    kind: Annotated[LedgerKind, Path(description="persons, places or houses")],
    file_format: Annotated[Literal["csv", "xlsx"], Path(description="csv or xlsx")],
) -> Response:
    """The ledger of your area, in the headers the import reads; audited."""
    body = export_ledger(
        session,
        principal=principal,
        kind=kind,
        file_format=file_format,
        client_ip=client_ip(request),
    )
    name = f"{SPECS[kind].title_zh}.{file_format}"
    disposition = (
        f"attachment; filename=\"{kind.value}.{file_format}\"; filename*=UTF-8''{quote(name)}"
    )
    return Response(
        content=body,
        media_type=MEDIA_TYPES[file_format],
        headers={"Content-Disposition": disposition},
    )
