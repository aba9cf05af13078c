"""Request and response models of the grid-plan endpoints (draft plans, edits, diff, publish)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_CODE = r"^[0-9]{15}$"
_KEY = r"^([0-9]{15}|new-[0-9]+-[0-9]+)$"
_CRS = (
    "CRS of the geometry: WGS84 / EPSG:4326 (default), CGCS2000 / EPSG:4490, GCJ02, BD09, or a "
    "projected EPSG code (x = easting, y = northing)"
)
Key = Annotated[
    str,
    Field(
        pattern=_KEY,
        description="A grid of the draft: a 15-digit grid code, or the key of a part made by "
        "an earlier edit of this plan (new-<seq>-<n>)",
    ),
]
ExpectedVersions = Annotated[
    dict[str, Annotated[int, Field(ge=1)]] | None,
    Field(
        description="The version of each grid (by code) you edited; a newer current version "
        "is a 409 conflict. Grids you do not name are checked at publish."
    ),
]
GeoJSONGeometry = Annotated[
    dict[str, Any], Field(description="GeoJSON geometry in the given crs (x/y, lon/lat order)")
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlanCreate(_In):
    """A new draft plan."""

    scope_code: str = Field(
        pattern=r"^[0-9]{12}$", description="12-digit code of the community or street planned"
    )
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=2000)


class SplitEdit(_In):
    """Split a grid: by a drawn line that crosses it (``method: line``, the default), or into
    k parts balanced by households (``method: balanced``), never cutting a building or compound.
    """

    op: Literal["split"]
    method: Literal["line", "balanced"] = "line"
    key: Key
    geometry: GeoJSONGeometry | None = Field(
        default=None, description="method line: the cutting LineString"
    )
    crs: str | None = Field(default=None, max_length=64, description=_CRS)
    k: int | None = Field(
        default=None,
        ge=2,
        le=12,
        description="method balanced: number of parts; default the fewest whose households fit "
        "the sizing target",
    )
    expected_version: int | None = Field(default=None, ge=1)
    names: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        default=None, description="method line: names of the parts, north to south, west to east"
    )


class ReshapeEdit(_In):
    """Give a grid a new shape; neighbours lose or gain the area that moves."""

    op: Literal["reshape"]
    key: Key
    geometry: GeoJSONGeometry
    crs: str | None = Field(default=None, max_length=64, description=_CRS)
    expected_versions: ExpectedVersions = None


class CreateEdit(_In):
    """Draw a new grid; it takes its area from the grids it covers."""

    op: Literal["create"]
    geometry: GeoJSONGeometry
    crs: str | None = Field(default=None, max_length=64, description=_CRS)
    name: str = Field(min_length=1, max_length=100)
    kind: Literal["basic", "micro", "special"] = "basic"
    sizing_type: Literal["scattered", "compound", "bungalow", "special"] = "scattered"
    parent_grid_code: str | None = Field(default=None, pattern=_CODE)
    expected_versions: ExpectedVersions = None


class MergeEdit(_In):
    """Merge adjacent grids of one community into one new grid."""

    op: Literal["merge"]
    keys: list[Key] = Field(min_length=2, max_length=20)
    name: str | None = Field(default=None, min_length=1, max_length=100)
    kind: Literal["basic", "micro", "special"] | None = None
    sizing_type: Literal["scattered", "compound", "bungalow", "special"] | None = None
    expected_versions: ExpectedVersions = None


class RetireEdit(_In):
    """Retire a grid; with absorb_into a bordering grid takes its area."""

    op: Literal["retire"]
    key: Key
    absorb_into: Key | None = None
    expected_versions: ExpectedVersions = None


class SetAttributesEdit(_In):
    """Change name, kind, sizing type, parent or the typed 四至 of a grid."""

    op: Literal["set_attributes"]
    key: Key
    name: str | None = Field(default=None, min_length=1, max_length=100)
    kind: Literal["basic", "micro", "special"] | None = None
    sizing_type: Literal["scattered", "compound", "bungalow", "special"] | None = None
    parent_grid_code: str | None = Field(default=None, pattern=_CODE)
    sizhi: str | None = Field(default=None, min_length=1, max_length=500)
    expected_version: int | None = Field(default=None, ge=1)


class PublishIn(_In):
    """When the published plan takes effect."""

    effective_at: datetime | None = Field(
        default=None,
        description="RFC 3339 time with offset; default now. May lie in the past, not the future.",
    )


class SizhiIn(_In):
    """A typed 四至, or null to go back to the generated text."""

    sizhi: str | None = Field(max_length=500)


class SizingTargetIn(_In):
    """The household range of a sizing type."""

    min_households: int = Field(ge=0, le=100_000)
    max_households: int = Field(ge=0, le=100_000)


# --------------------------------------------------------------------------------------------
# Responses
# --------------------------------------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PartOut(_Out):
    """A grid produced by an edit."""

    key: str
    name: str
    kind: str
    sizing_type: str
    area_m2: float


class SourceOut(_Out):
    """A grid an edit consumed, with the version it was made against (null: a draft part)."""

    key: str
    version: int | None


class EditOut(_Out):
    """One edit of a plan."""

    id: int
    seq: int
    op: str
    sources: list[SourceOut]
    parts: list[PartOut]
    undone: bool
    created_at: datetime
    params: dict[str, Any]


class PlanOut(_Out):
    """A plan with its edits."""

    id: int
    name: str
    description: str | None
    status: str
    scope_code: str
    scope_name: str
    scope_level: str
    created_by: int | None
    created_at: datetime
    effective_at: datetime | None
    published_at: datetime | None
    published_by: int | None
    closed_at: datetime | None
    edits: list[EditOut]


class PlanList(BaseModel):
    """Plans visible to you, newest first."""

    plans: list[PlanOut]


class ValidationOut(BaseModel):
    """Whether a draft can be published."""

    ok: bool
    active_edits: int
    stale: list[dict[str, Any]] = Field(
        description="Grids changed since the plan's edits: code, expected_version, "
        "current_version (null: retired)"
    )
    coverage: dict[str, Any] = Field(description="Summary of the coverage validation")
    problems: list[dict[str, Any]] = Field(description="Coverage problems with GeoJSON")


class CountsOut(_Out):
    """What a grid holds."""

    buildings: int
    households: int
    persons: int
    places: int
    open_incidents: int


class TargetOut(_Out):
    """A household range."""

    sizing_type: str
    min_households: int
    max_households: int


class DeviationOut(_Out):
    """Households against the target: 0 inside the range."""

    status: Literal["below", "within", "above"]
    households: int
    deviation: int
    ratio: float


class GridDiffOut(_Out):
    """One grid before and after the plan."""

    code: str
    key: str
    change: Literal["reshaped", "created", "retired"]
    name: str
    sizing_type: str | None
    version_before: int | None
    before: CountsOut | None
    after: CountsOut | None
    target: TargetOut | None
    deviation: DeviationOut | None


class MoveOut(_Out):
    """Rows of one layer moving between grids (null: no grid)."""

    layer: str
    from_code: str | None
    to_code: str | None
    count: int


class DiffOut(_Out):
    """What publishing the plan now would change; new codes are provisional."""

    plan_id: int
    status: str
    grids: list[GridDiffOut]
    moves: list[MoveOut]
    codes_created: list[str]
    codes_retired: list[str]
    codes_kept: list[str]
    stale: list[dict[str, Any]]


class PublishedGridOut(_Out):
    """A grid version written by the publish."""

    id: int
    code: str
    version: int
    name: str
    key: str


class PublishOut(_Out):
    """What the publish changed."""

    plan_id: int
    effective_at: datetime
    created: list[PublishedGridOut]
    closed: list[SourceOut]
    codes_issued: list[str]
    codes_retired: list[str]
    reassigned: dict[str, int]
    sizhi_regenerated: int


class GridSizingOut(_Out):
    """A current grid against its household target."""

    grid_id: int
    code: str
    name: str
    sizing_type: str
    households: int
    target: TargetOut | None
    deviation: DeviationOut | None


class SizingOut(BaseModel):
    """Targets and every current grid of the area against them (live counts)."""

    targets: list[TargetOut]
    grids: list[GridSizingOut]


class LineageOut(_Out):
    """A version at the other end of a lineage link."""

    grid_id: int
    code: str
    version: int
    name: str
    relation: str


class GridVersionOut(_Out):
    """One version of a grid code."""

    id: int
    version: int
    name: str
    kind: str
    sizing_type: str
    sizhi: str | None
    valid_from: datetime
    valid_to: datetime | None
    area_m2: float
    came_from: list[LineageOut]
    went_to: list[LineageOut]


class GridHistoryOut(_Out):
    """Every version of a grid code, oldest first."""

    code: str
    community_code: str
    issued_at: datetime
    retired_at: datetime | None
    versions: list[GridVersionOut]


class BuildingGridAtOut(_Out):
    """The grid version a building lay in at a moment (grid fields null: none)."""

    building_id: int
    building_code: str
    at: datetime
    grid_id: int | None
    code: str | None
    version: int | None
    name: str | None
    valid_from: datetime | None
    valid_to: datetime | None


class SizhiOut(BaseModel):
    """The 四至 of a current grid."""

    code: str
    sizhi: str | None
    generated: str | None = None
    typed: bool
