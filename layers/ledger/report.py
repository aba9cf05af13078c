"""The import report: each bad row with row number, column, value and reason; summary counts.

Row numbers are the sheet's own (header = row 1 in a plain ledger), columns are named by the
header as written in the file (the canonical header when the file lacks the column), values of
personal columns are masked (:mod:`layers.access` masks; the user has the file, the row number is
enough to find the cell, and reports get forwarded). Every reason has a stable ``code`` and a
message in Chinese and English; the ones found in SQL are listed in :data:`REASONS`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from layers.access import mask_id_number, mask_name, mask_phone
from layers.ledger.columns import Column, Personal

# Reasons found by the set-based checks in SQL: code → (Chinese, English) templates. ``{detail}``
# is filled from the check's detail column (a row number, a count, a label).
REASONS: dict[str, tuple[str, str]] = {
    "address-unknown": (
        "地址未匹配到您辖区内的任何建筑",
        "The address matches no building in your area",
    ),
    "address-ambiguous": (
        "地址匹配到 {detail} 栋建筑，请填写更完整的地址（含小区和楼号）",
        "The address matches {detail} buildings: give the full address with compound and number",
    ),
    "outside-all-grids": (
        "坐标不在任何网格内，请检查经纬度和坐标系",
        "The coordinates lie outside every grid: check longitude, latitude and CRS",
    ),
    "outside-area": ("坐标不在您的辖区内", "The coordinates lie outside your area"),
    "no-building-near": (
        "坐标所在位置 15 米内没有建筑",
        "There is no building within 15 m of the coordinates",
    ),
    "location-conflict": (
        "地址与经纬度指向不同的建筑，请核对",
        "The address and the coordinates point to different buildings",
    ),
    "room-missing": (
        "未填写房号，无法确定所在房屋",
        "No room given: the house in the building cannot be determined",
    ),
    "floor-missing": (
        "该房屋尚未登记，请填写楼层（房号无法推出楼层）",
        "The house is new: give its floor (the room number does not encode one)",
    ),
    "household-elsewhere": (
        "该户号已登记在其他房屋",
        "This household number is registered at another house",
    ),
    "household-split": (
        "同一户号在第 {detail} 行对应另一处房屋",
        "The same household number is at another house in row {detail}",
    ),
    "id-outside-area": (
        "该身份证号已登记为您辖区以外的人员，请联系上级管理员",
        "This ID number belongs to a person registered outside your area; ask a higher admin",
    ),
    "duplicate-id": (
        "身份证号与第 {detail} 行重复",
        "The ID number repeats row {detail}",
    ),
    "duplicate-person": (
        "与第 {detail} 行是同一人（同一房屋内同名且均无身份证号）",
        "Same person as row {detail} (same name in the same house, no ID number)",
    ),
    "unknown-care-group": (
        "关爱类别“{detail}”不存在",
        "A care group in this cell is not an active category (use its Chinese name or code)",
    ),
    "unknown-department": (
        "负责部门“{detail}”不存在",
        "No department of your area or above has this code or name",
    ),
    "ambiguous-department": (
        "负责部门“{detail}”有多个同名部门，请填写部门代码",
        "Several departments have this name: give the department code",
    ),
    "duplicate-place": (
        "与第 {detail} 行是同一场所（名称、类型相同且相距不足 15 米）",
        "Same place as row {detail} (same name and kind, less than 15 m apart)",
    ),
    "duplicate-house": (
        "与第 {detail} 行是同一房屋",
        "Same house as row {detail}",
    ),
}


class Policy(enum.StrEnum):
    """What a commit does when some rows are bad."""

    all_or_nothing = "all_or_nothing"
    skip_bad_rows = "skip_bad_rows"


class Outcome(enum.StrEnum):
    """How an import ended."""

    checked = "checked"  # dry run: nothing written
    committed = "committed"  # rows written (all of them, or the good ones under skip_bad_rows)
    rejected = "rejected"  # commit asked, all_or_nothing and bad rows: nothing written


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason why one row cannot be imported."""

    row: int
    column: str
    value: str
    code: str
    reason_zh: str
    reason_en: str

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON and printing."""
        return {
            "row": self.row,
            "column": self.column,
            "value": self.value,
            "code": self.code,
            "reason_zh": self.reason_zh,
            "reason_en": self.reason_en,
        }


@dataclass(slots=True)
class ImportReport:
    """The outcome of one ledger import (or dry run)."""

    kind: str
    file_format: str
    encoding: str | None
    sheet: str | None
    header_row: int
    dry_run: bool
    policy: Policy
    outcome: Outcome = Outcome.checked
    rows_total: int = 0
    rows_good: int = 0
    rows_bad: int = 0
    # What was (or, in a dry run, would be) created / updated, by table.
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def committed(self) -> bool:
        """Whether rows were written."""
        return self.outcome is Outcome.committed

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON and printing."""
        return {
            "kind": self.kind,
            "file_format": self.file_format,
            "encoding": self.encoding,
            "sheet": self.sheet,
            "header_row": self.header_row,
            "dry_run": self.dry_run,
            "policy": self.policy.value,
            "outcome": self.outcome.value,
            "committed": self.committed,
            "rows_total": self.rows_total,
            "rows_good": self.rows_good,
            "rows_bad": self.rows_bad,
            "created": dict(self.created),
            "updated": dict(self.updated),
            "unchanged": self.unchanged,
            "problems": [p.as_dict() for p in self.problems],
            "ignored_columns": list(self.ignored_columns),
        }


def masked_value(column: Column | None, value: str) -> str:
    """The cell value as it may appear in a report: personal data masked."""
    if column is None or not value or column.personal is None:
        return value
    if column.personal is Personal.id_number:
        return mask_id_number(value) or ""
    if column.personal is Personal.phone:
        return mask_phone(value) or ""
    return mask_name(value) or ""


def sql_reason(code: str, detail: str | None) -> tuple[str, str]:
    """The Chinese and English reason of a problem found in SQL."""
    zh, en = REASONS[code]
    return zh.format(detail=detail or ""), en.format(detail=detail or "")
