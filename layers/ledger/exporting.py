"""Writing ledgers back out: CSV (UTF-8 with BOM) and XLSX (ID and phone columns as text).

The rows come from each kind's ``export_rows`` query, already scoped to the principal's area
and masked in SQL; this module only turns them into a file. The header row uses the canonical
Chinese headers of :mod:`layers.ledger.columns`, so an exported file imports again unchanged.

* CSV starts with a UTF-8 byte-order mark: without it Excel on Windows opens the file as GBK
  and shows the Chinese as mojibake.
* XLSX cells of text-only and personal columns (ID numbers, phones, household numbers) are
  written as text with the ``@`` number format, so Excel neither shows them in scientific
  notation nor drops digits when the user edits and saves the file.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, SQLColumnExpression, String, case, cast, func, literal
from sqlalchemy.types import Numeric

from layers.ledger.columns import LedgerSpec

# Coordinates are exported in storage lon/lat (RFC 7946 order), 7 decimals (about 1 cm).
EXPORT_CRS = "EPSG:4326"
EXPORT_DECIMALS = 7

EXPORT_FORMATS = ("csv", "xlsx")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def sql_mask_id_number(value: SQLColumnExpression[Any]) -> ColumnElement[str]:
    """SQL mirror of :func:`layers.access.mask_id_number`: keep 6 digits and the check digit."""
    n = func.char_length(value)
    return case(
        (n < 8, func.repeat("*", n)),
        else_=func.left(value, 6, type_=String)
        .concat(func.repeat("*", n - 7, type_=String))
        .concat(func.right(value, 1, type_=String)),
    )


def label_case(value: SQLColumnExpression[Any], labels: dict[str, str]) -> ColumnElement[str]:
    """A stored code shown as its Chinese label (the code itself when it has none)."""
    return case(*((value == code, literal(label)) for code, label in labels.items()), else_=value)


def coordinate(value: SQLColumnExpression[Any]) -> ColumnElement[str]:
    """A lon or lat in degrees as text with :data:`EXPORT_DECIMALS` decimals."""
    return cast(func.round(cast(value, Numeric), EXPORT_DECIMALS), String)


def text_cell_keys(spec: LedgerSpec) -> frozenset[str]:
    """The columns written as text cells in XLSX (text-only, text-cell and personal columns)."""
    return frozenset(
        c.key for c in spec.columns if c.text_only or c.text_cell or c.personal is not None
    )


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def write_csv(spec: LedgerSpec, keys: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """The ledger as CSV bytes: UTF-8 with BOM, canonical headers, CRLF line ends."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([spec.column(k).header for k in keys])
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")


def write_xlsx(spec: LedgerSpec, keys: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """The ledger as XLSX bytes: one sheet named after the ledger, ID/phone cells as text."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(spec.title_zh)
    text_keys = text_cell_keys(spec)
    header_font = Font(bold=True)
    header = []
    for key in keys:
        cell = WriteOnlyCell(sheet, value=spec.column(key).header)
        cell.font = header_font
        header.append(cell)
    sheet.append(header)
    as_text = [key in text_keys for key in keys]
    for row in rows:
        cells: list[Any] = []
        for value, text_cell in zip(row, as_text, strict=True):
            if text_cell and value is not None:
                cell = WriteOnlyCell(sheet, value=str(value))
                cell.number_format = "@"
                cells.append(cell)
            else:
                cells.append(_cell(value) if value is not None else None)
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
