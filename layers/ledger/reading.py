"""Reading a ledger file (CSV or XLSX) into rows of text, as the user sees them in Excel.

Everything is read as text. Spreadsheet cells that hold numbers are turned into the text a
person would read (``301`` not ``301.0``), but for the columns that must be text
(:attr:`layers.ledger.columns.Column.text_only`, e.g. ID numbers) a numeric cell is remembered so
that the row can be reported: an 18-digit ID number stored as a number has already lost its last
digits inside the file, and no reader can bring them back. Text in scientific notation
(``3.70199E+17``, what Excel writes into a CSV for such a cell) is caught the same way.

CSV files may be UTF-8 with or without a byte-order mark, UTF-16 with a mark (Excel's "Unicode
text"), or GB18030 (which includes GBK/GB2312, what Excel on a Chinese Windows writes): a file
that decodes as UTF-8 is UTF-8, anything else is tried as GB18030. The delimiter is a comma, a
tab or a semicolon, whichever the header line uses most.

Row numbers are the sheet's own (the header is normally row 1, the first data row row 2);
blank rows are skipped but keep their number, so a report's row number is the row in Excel.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import PurePath
from typing import Any

from layers.errors import InvalidInput, WanggeError
from layers.ledger.columns import LedgerKind, LedgerSpec, column_for_header

# Limits of one ledger file. Over HTTP a ledger larger than this is refused (split it; the
# request body limit of the app is larger still); the command line allows more.
MAX_LEDGER_BYTES = 8 * 1024 * 1024
MAX_LEDGER_ROWS = 100_000
CLI_MAX_LEDGER_BYTES = 256 * 1024 * 1024
CLI_MAX_LEDGER_ROWS = 1_000_000


@dataclass(frozen=True, slots=True)
class Limits:
    """Size and row limits of one ledger file."""

    max_bytes: int = MAX_LEDGER_BYTES
    max_rows: int = MAX_LEDGER_ROWS


HTTP_LIMITS = Limits()
CLI_LIMITS = Limits(CLI_MAX_LEDGER_BYTES, CLI_MAX_LEDGER_ROWS)
# The header row is looked for among the first rows (titles such as "XX社区人口台账" come first).
HEADER_SEARCH_ROWS = 10

ProgressCallback = Callable[[str, int, int | None], None]
"""``progress(stage, done, total)``; ``total`` is None when not known in advance."""


class UnsupportedFileType(InvalidInput):
    """The upload is neither a CSV nor an XLSX file (HTTP 415)."""

    code = "unsupported-media-type"
    default_zh = "不支持的文件类型"
    default_en = "Unsupported file type"


class LedgerTooLarge(WanggeError):
    """The ledger exceeds the size or row limit (HTTP 413)."""

    code = "payload-too-large"
    default_zh = "台账文件过大"
    default_en = "The ledger is too large"


@dataclass(frozen=True, slots=True)
class RawRow:
    """One data row: its number in the sheet, its cells as text, numeric cells' positions."""

    number: int
    cells: tuple[str, ...]
    numeric: frozenset[int] = frozenset()


@dataclass(slots=True)
class RawTable:
    """A ledger file as read: headers, text rows and how it was decoded."""

    file_format: str  # "csv" or "xlsx"
    headers: list[str]
    header_row: int
    rows: list[RawRow]
    encoding: str | None = None
    sheet: str | None = None


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """Which file column holds which ledger column, and what the file's headers were."""

    index: dict[str, int]  # column key → position in the row
    headers: dict[str, str]  # column key → the header text as written in the file
    ignored: list[str] = field(default_factory=list)  # headers that name no column


# ---- file type ----------------------------------------------------------------------------

_XLSX_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_CSV_SUFFIXES = {"", ".csv", ".txt", ".tsv"}


def detect_format(data: bytes, filename: str | None = None) -> str:
    """``"xlsx"`` or ``"csv"`` from the file's content (and its name's suffix for text).

    Raises
    ------
    UnsupportedFileType
        Legacy ``.xls``, other ZIP documents (``.docx``, ``.ods``), binary files, or a text file
        whose name says it is something else.
    InvalidInput
        An empty file.
    """
    suffix = PurePath(filename or "").suffix.lower()
    if not data:
        raise InvalidInput("The file is empty", "文件为空", field="file")
    if data.startswith(_OLE_MAGIC):
        raise UnsupportedFileType(
            "Legacy Excel .xls files are not supported: save the ledger as .xlsx or .csv",
            "不支持旧版 Excel（.xls）文件，请在 Excel 中另存为 .xlsx 或 .csv 后再导入",
            field="file",
        )
    if data.startswith(_XLSX_MAGIC):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
        except zipfile.BadZipFile:
            names = set()
        if "xl/workbook.xml" in names:
            return "xlsx"
        raise UnsupportedFileType(
            "The file is a ZIP archive but not an Excel .xlsx workbook",
            "该文件是压缩包而不是 Excel .xlsx 工作簿",
            field="file",
        )
    utf16 = data.startswith((b"\xff\xfe", b"\xfe\xff"))
    binary = not utf16 and b"\x00" in data[:4096]
    if suffix not in _CSV_SUFFIXES or binary:
        raise UnsupportedFileType(
            f"Only .xlsx and .csv ledgers can be imported (got {suffix or 'a binary file'})",
            f"仅支持导入 .xlsx 和 .csv 格式的台账（收到 {suffix or '二进制文件'}）",
            field="file",
        )
    return "csv"


def check_size(data: bytes, *, max_bytes: int = MAX_LEDGER_BYTES) -> None:
    """Refuse a ledger file above ``max_bytes`` (LedgerTooLarge)."""
    if len(data) > max_bytes:
        mib = max_bytes / (1024 * 1024)
        raise LedgerTooLarge(
            f"The ledger file exceeds {mib:g} MiB: split it into several files",
            f"台账文件超过 {mib:g} MB 上限，请拆分为多个文件分批导入",
            field="file",
        )


# ---- cell values as text ------------------------------------------------------------------


def cell_text(value: Any) -> str:
    """A spreadsheet value as the text a person reads in the cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


_SCIENTIFIC = re.compile(r"^[+-]?\d+(?:\.\d+)?[eE][+-]?\d+$")


def looks_scientific(text: str) -> bool:
    """Whether text is a number in scientific notation (``3.70199E+17``)."""
    return bool(_SCIENTIFIC.match(text.strip()))


# ---- CSV ----------------------------------------------------------------------------------


def decode_csv(data: bytes) -> tuple[str, str]:
    """Decode CSV bytes: (text, encoding). UTF-8 (BOM or not), UTF-16 with BOM, else GB18030."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError:
        raise InvalidInput(
            "The CSV file is neither UTF-8 nor GB18030/GBK text: save it as CSV UTF-8",
            "CSV 文件既不是 UTF-8 也不是 GB18030/GBK 编码，请另存为“CSV UTF-8”格式",
            field="file",
        ) from None


def _delimiter(text: str) -> str:
    first = text.split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", "\t", ";")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _csv_rows(text: str) -> Iterator[list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    try:
        yield from reader
    except csv.Error as exc:
        raise InvalidInput(
            f"The CSV file is malformed near record {reader.line_num}",
            f"CSV 文件格式错误（约第 {reader.line_num} 行）",
            field="file",
        ) from exc


# ---- XLSX ---------------------------------------------------------------------------------


def _open_workbook(data: bytes) -> Any:
    import openpyxl  # imported here: only XLSX reading needs it

    try:
        return openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a corrupt file
        raise InvalidInput(
            "The XLSX file cannot be opened (damaged or password-protected?)",
            "无法打开该 XLSX 文件（文件损坏或已加密？）",
            field="file",
        ) from exc


# ---- the table ----------------------------------------------------------------------------


def _is_header(cells: Sequence[str], kind: LedgerKind) -> bool:
    return sum(1 for c in cells if c and column_for_header(kind, c)) >= 2


def _collect(
    records: Iterable[tuple[Sequence[Any], bool]],
    kind: LedgerKind,
    *,
    total: int | None,
    progress: ProgressCallback | None,
    max_rows: int,
) -> tuple[list[str], int, list[RawRow]]:
    """Find the header row among the first records, then gather the data rows.

    ``records`` yields (values, spreadsheet) pairs in sheet order; ``spreadsheet`` says whether
    the values are typed spreadsheet values (numbers may be numeric cells) or CSV text.
    """
    headers: list[str] | None = None
    header_row = 0
    rows: list[RawRow] = []
    for number, (values, typed) in enumerate(records, start=1):
        texts = tuple(cell_text(v) for v in values)
        if headers is None:
            if _is_header(texts, kind):
                headers, header_row = list(texts), number
            elif number >= HEADER_SEARCH_ROWS:
                break
            continue
        if not any(texts):
            continue
        numeric = (
            frozenset(
                i
                for i, v in enumerate(values)
                if isinstance(v, int | float) and not isinstance(v, bool)
            )
            if typed
            else frozenset()
        )
        rows.append(RawRow(number, texts, numeric))
        if len(rows) > max_rows:
            raise LedgerTooLarge(
                f"The ledger has more than {max_rows} rows: split it into several files",
                f"台账超过 {max_rows} 行，请拆分为多个文件分批导入",
                field="file",
            )
        if progress is not None and len(rows) % 1000 == 0:
            progress("read", number, total)
    if headers is None:
        raise InvalidInput(
            f"No header row found: one of the first {HEADER_SEARCH_ROWS} rows must name the "
            "columns with the Chinese headers of the ledger",
            "未找到表头行：前几行中应有列名（如 姓名、身份证号、地址）",
            field="file",
        )
    if progress is not None:
        progress("read", total or (rows[-1].number if rows else header_row), total)
    return headers, header_row, rows


def read_table(
    data: bytes,
    *,
    kind: LedgerKind,
    filename: str | None = None,
    progress: ProgressCallback | None = None,
    limits: Limits = HTTP_LIMITS,
) -> RawTable:
    """Read a CSV or XLSX ledger of ``kind`` into text rows.

    For XLSX the first worksheet that has a recognisable header row is read. Raises
    :class:`UnsupportedFileType`, :class:`LedgerTooLarge` or InvalidInput (``field="file"``).
    """
    check_size(data, max_bytes=limits.max_bytes)
    file_format = detect_format(data, filename)
    if file_format == "csv":
        text, encoding = decode_csv(data)
        total = text.count("\n") + 1
        records = ((r, False) for r in _csv_rows(text))
        headers, header_row, rows = _collect(
            records, kind, total=total, progress=progress, max_rows=limits.max_rows
        )
        return RawTable("csv", headers, header_row, rows, encoding=encoding)
    workbook = _open_workbook(data)
    try:
        first_error: InvalidInput | None = None
        for sheet in workbook.worksheets:
            records = ((r, True) for r in sheet.iter_rows(min_row=1, values_only=True))
            try:
                headers, header_row, rows = _collect(
                    records,
                    kind,
                    total=sheet.max_row,
                    progress=progress,
                    max_rows=limits.max_rows,
                )
            except LedgerTooLarge:
                raise
            except InvalidInput as exc:
                first_error = first_error or exc
                continue
            return RawTable("xlsx", headers, header_row, rows, sheet=sheet.title)
        assert first_error is not None or not workbook.worksheets
        raise first_error or InvalidInput(
            "The workbook has no worksheet", "工作簿中没有工作表", field="file"
        )
    finally:
        workbook.close()


def map_columns(table: RawTable, spec: LedgerSpec) -> ColumnMap:
    """Match the file's headers to the ledger's columns.

    Raises InvalidInput (``field`` = the header) when two headers name the same column.
    """
    index: dict[str, int] = {}
    position_of: dict[str, int] = {}
    headers: dict[str, str] = {}
    ignored: list[str] = []
    for position, header in enumerate(table.headers):
        if not header:
            continue
        key = column_for_header(spec.kind, header)
        if key is None:
            ignored.append(header)
            continue
        if key in index:
            raise InvalidInput(
                f"Columns {position_of[key] + 1} and {position + 1} both give the "
                f"{spec.column(key).label_en}: keep one",
                f"列“{headers[key]}”和“{header}”都表示“{spec.column(key).header}”，请只保留一列",
                field=header,
            )
        index[key] = position
        position_of[key] = position
        headers[key] = header
    return ColumnMap(index, headers, ignored)
