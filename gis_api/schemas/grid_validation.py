"""Request and response models of grid coverage validation, repair, import and export.

Validation answers with a GeoJSON FeatureCollection built from the report (see
:mod:`layers.grids.coverage`); the repair and import answers are JSON whose nested problem and
grid geometries are RFC 7946 FeatureCollections. Input models forbid unknown fields, so a
misspelt option is an error rather than silently ignored.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from layers.grids.coverage import DEFAULT_TOLERANCE_M, MAX_TOLERANCE_M

PARENT_DESCRIPTION = "12-digit code of a community (社区) or street (街道) in your area"
TOLERANCE_DESCRIPTION = (
    "Metres: overlaps, gaps and leaks narrower than this are slivers (细长碎片), repaired "
    "automatically; wider ones are errors for a planner"
)


class RepairPreviewRequest(BaseModel):
    """What to repair: the grids of one community or street."""

    model_config = ConfigDict(extra="forbid")

    parent: str = Field(description=PARENT_DESCRIPTION, examples=["370112005001"])
    tolerance_m: float = Field(
        default=DEFAULT_TOLERANCE_M, ge=0, le=MAX_TOLERANCE_M, description=TOLERANCE_DESCRIPTION
    )


class RepairApplyRequest(RepairPreviewRequest):
    """Apply the repair the preview showed, for the grid versions the preview saw."""

    expected_versions: dict[str, int] = Field(
        min_length=1,
        description="The preview's expected_versions: grid code → current version. If any grid "
        "changed since, the answer is 409 and nothing is written.",
    )


class CoverageSummary(BaseModel):
    """Counts and totals of a validation (the ``summary`` of its FeatureCollection)."""

    parent: dict[str, str]
    tolerance_m: float
    grids: int
    communities: int
    valid: bool = Field(description="No errors and no slivers (warnings allowed)")
    counts: dict[str, int] = Field(description="Problems per severity: error, sliver, warning")
    by_kind: dict[str, int]
    overlap_area_m2: float
    gap_area_m2: float
    leak_area_m2: float
    message_en: str
    message_zh: str


class RepairPreview(BaseModel):
    """What a repair would change, and the validation before and after it."""

    parent: dict[str, str]
    tolerance_m: float
    expected_versions: dict[str, int] = Field(description="Send these back to /grids/repair/apply")
    verified: bool = Field(description="The repaired set passes the checks and may be applied")
    refusal_en: str | None
    refusal_zh: str | None
    grids: list[dict[str, Any]] = Field(
        description="Per changed grid: area before/after, gained, lost, leak clipped (m²), "
        "buildings gained and lost (codes)"
    )
    changes: dict[str, Any] = Field(description="The repaired grids (GeoJSON FeatureCollection)")
    before: CoverageSummary
    after: CoverageSummary
    remaining: dict[str, Any] = Field(
        description="Problems left after the repair (GeoJSON FeatureCollection)"
    )


class RepairApplied(BaseModel):
    """The grid versions a repair wrote and the rows re-filed under their grids."""

    parent: dict[str, str]
    repaired: list[dict[str, Any]] = Field(
        description="Per grid: code, old_id, old_version, new_id, new_version"
    )
    reassigned: dict[str, int] = Field(description="Rows re-filed per table")
    after: CoverageSummary


class ImportReportOut(BaseModel):
    """The report of a grid layer import (a dry run unless ``committed``)."""

    file: dict[str, str]
    parent: dict[str, str]
    crs: dict[str, str | None]
    mapping: dict[str, str] = Field(description="Attribute → column of the file")
    replace: bool
    features: list[dict[str, Any]]
    counts: dict[str, int] = Field(description="Features per action: create, new_version, ...")
    errors: int
    retire: list[str]
    coverage: CoverageSummary | None
    problems: dict[str, Any] | None = Field(
        description="Coverage problems of the imported set (GeoJSON FeatureCollection)"
    )
    committable: bool
    committed: bool
    written_ids: list[int]
    reassigned: dict[str, int]
