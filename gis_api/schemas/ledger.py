"""Response models of the ledger (台账) import API: the import report."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class LedgerProblemOut(BaseModel):
    """One reason why one row of the ledger cannot be imported."""

    model_config = ConfigDict(extra="forbid")

    row: int = Field(description="Row number as Excel shows it (header row = 1 in a plain sheet)")
    column: str = Field(description="The column's header as written in the file")
    value: str = Field(description="The cell's value; ID numbers, phones and names masked")
    code: str = Field(description="Stable code of the reason, e.g. address-unknown")
    reason_zh: str
    reason_en: str


class ImportReportOut(BaseModel):
    """What an import did (or, in a dry run, would do), and every bad row."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["persons", "places", "houses"]
    file_format: Literal["csv", "xlsx"]
    encoding: str | None = Field(description="CSV: the encoding detected (utf-8, gb18030 ...)")
    sheet: str | None = Field(description="XLSX: the worksheet read")
    header_row: int = Field(description="Row number of the header row")
    dry_run: bool
    policy: Literal["all_or_nothing", "skip_bad_rows"]
    outcome: Literal["checked", "committed", "rejected"] = Field(
        description="checked: dry run, nothing written; committed: rows written; rejected: "
        "commit refused because of bad rows (all_or_nothing), nothing written"
    )
    committed: bool
    rows_total: int
    rows_good: int
    rows_bad: int
    created: dict[str, int] = Field(
        description="Records created per table (would be created, unless committed)"
    )
    updated: dict[str, int] = Field(description="Records changed per table")
    unchanged: int = Field(description="Rows that matched an existing record with equal values")
    problems: list[LedgerProblemOut]
    ignored_columns: list[str] = Field(description="Headers that name no column of this ledger")
