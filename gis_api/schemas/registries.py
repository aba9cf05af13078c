"""Request and response models of the registries API (buildings … places).

Input models forbid unknown fields. Identity fields of persons are only typed here; their
checks (ID checksum, phone forms, birth date, gender) live in
:mod:`layers.registries.validation` so that the API and the ledger import agree, with messages
in English and Chinese. Geometries are GeoJSON objects checked by
:func:`layers.spatial.geometry.parse_geometry` (in the CRS named by the ``crs`` query
parameter); responses carry RFC 7946 lon/lat GeoJSON.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from layers.models.buildings import BUILDING_KINDS
from layers.models.places import PLACE_KINDS
from layers.models.registries import CHECKLIST_KINDS, LEFT_REASONS

T = TypeVar("T")

BuildingKind = Literal["residential", "commercial", "public", "industrial", "mixed", "bungalow"]
HouseUse = Literal["residential", "commercial", "office", "other"]
Residence = Literal["registered", "floating"]
PlaceKind = Literal[
    "school",
    "kindergarten",
    "hospital",
    "shop",
    "restaurant",
    "hotel",
    "rental",
    "three_in_one",
    "small_workshop",
    "small_stall",
    "small_entertainment",
    "market",
    "construction_site",
]
ChecklistKind = Literal[
    "fire_safety",
    "co_poisoning",
    "drowning",
    "food_safety",
    "construction_safety",
    "three_in_one",
    "public_health",
    "general",
]
LeftReason = Literal["moved_away", "deceased", "other"]

# The Literals give the OpenAPI enums; they must list exactly the values the schema allows.
for _literal, _values in (
    (BuildingKind, BUILDING_KINDS),
    (PlaceKind, PLACE_KINDS),
    (ChecklistKind, CHECKLIST_KINDS),
    (LeftReason, LEFT_REASONS),
):
    assert set(_literal.__args__) == set(_values), _literal  # type: ignore[attr-defined]

GeoJSON = dict[str, Any]
_GEOMETRY_DOC = "GeoJSON geometry in the CRS of the `crs` query parameter (default lon/lat)"


class Page(BaseModel, Generic[T]):
    """One page of a listing."""

    items: list[T]
    total: int = Field(description="Rows matching the filters (all pages)")
    limit: int
    offset: int


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Patch(_Input):
    """A partial update: only the fields sent change; ``_not_null`` fields may not be null."""

    _not_null: ClassVar[tuple[str, ...]] = ()

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_null(cls, value: Any, info: ValidationInfo) -> Any:
        # Only explicitly sent values are validated, so an omitted field stays unchanged.
        if value is None and info.field_name in cls._not_null:
            raise ValueError(f"{info.field_name} cannot be null (omit it to keep the value)")
        return value


# --------------------------------------------------------------------------------------------
# Buildings, houses, households
# --------------------------------------------------------------------------------------------


class BuildingFields(_Input):
    """Attributes shared by create and update."""

    name: str | None = Field(None, max_length=100)
    road_name: str | None = Field(None, max_length=100)
    house_number: str | None = Field(None, max_length=32)
    compound: str | None = Field(None, max_length=100, description="小区 name")
    building_no: str | None = Field(None, max_length=32, description="楼/栋/号楼/座")


class BuildingCreate(BuildingFields):
    """A new building with its footprint."""

    code: str = Field(min_length=1, max_length=32)
    kind: BuildingKind
    floors: int = Field(ge=1, le=200)
    address: str = Field(min_length=1, max_length=255)
    geometry: GeoJSON = Field(description=f"Footprint Polygon: {_GEOMETRY_DOC}")


class BuildingUpdate(BuildingFields, _Patch):
    """Changed attributes and/or a new footprint."""

    _not_null = ("code", "kind", "floors", "address", "geometry")
    code: str | None = Field(None, min_length=1, max_length=32)
    kind: BuildingKind | None = None
    floors: int | None = Field(None, ge=1, le=200)
    address: str | None = Field(None, min_length=1, max_length=255)
    geometry: GeoJSON | None = Field(None, description=f"New footprint Polygon: {_GEOMETRY_DOC}")


class BuildingOut(BaseModel):
    """A building with its grid, community and footprint."""

    id: int
    code: str
    name: str | None
    kind: str
    floors: int
    road_name: str | None
    house_number: str | None
    compound: str | None
    building_no: str | None
    address: str
    grid_code: str | None
    community_code: str | None
    house_count: int
    geometry: GeoJSON


class HouseCreate(_Input):
    """A house (dwelling or unit of use) in a building."""

    building_id: int
    unit: str = Field("", max_length=16, description="单元; empty when the building has none")
    floor: int = Field(ge=-5, le=200)
    room: str = Field(min_length=1, max_length=16)
    use: HouseUse = "residential"
    area_m2: float | None = Field(None, gt=0, lt=1_000_000, description="Floor area in m²")
    is_rental: bool = False


class HouseUpdate(_Patch):
    """Changed house attributes."""

    _not_null = ("unit", "floor", "room", "use", "is_rental")
    unit: str | None = Field(None, max_length=16)
    floor: int | None = Field(None, ge=-5, le=200)
    room: str | None = Field(None, min_length=1, max_length=16)
    use: HouseUse | None = None
    area_m2: float | None = Field(None, gt=0, lt=1_000_000)
    is_rental: bool | None = None


class HouseOut(BaseModel):
    """A house with its building address, grid and rental state."""

    id: int
    building_id: int
    building_code: str
    address: str
    unit: str
    floor: int
    room: str
    use: str
    area_m2: float | None
    is_rental: bool
    household_count: int
    current_tenancy_count: int
    grid_code: str | None
    community_code: str | None


class HouseholdCreate(_Input):
    """A household registered at a house."""

    house_id: int
    household_no: str = Field(min_length=1, max_length=32, description="户号")
    residence: Residence = "registered"


class HouseholdUpdate(_Patch):
    """Changed household number or residence type."""

    _not_null = ("household_no", "residence")
    household_no: str | None = Field(None, min_length=1, max_length=32)
    residence: Residence | None = None


class HouseholdMove(_Input):
    """Move a household to another house."""

    house_id: int
    moved_on: date | None = Field(None, description="Move date (default today); ends tenancies")


class HouseholdOut(BaseModel):
    """A household with its house, building, grid and number of active members."""

    id: int
    household_no: str
    residence: str
    house_id: int
    unit: str
    floor: int
    room: str
    building_id: int
    address: str
    member_count: int
    grid_code: str | None
    community_code: str | None


# --------------------------------------------------------------------------------------------
# Persons
# --------------------------------------------------------------------------------------------


class PersonFields(_Input):
    """Identity fields; checked by layers.registries.validation (bilingual errors)."""

    name: str | None = Field(None, max_length=200)
    gender: str | None = Field(None, max_length=16, description="male/female (or 男/女)")
    birth_date: date | None = None
    id_number: str | None = Field(None, max_length=40, description="18-character resident ID")
    phone: str | None = Field(None, max_length=40, description="Mobile or landline with area code")
    residence: str | None = Field(None, max_length=16, description="registered/floating")
    relation_to_head: str | None = Field(None, max_length=64, description="与户主关系")


class PersonCreate(PersonFields):
    """A new person in a household."""

    household_id: int
    name: str = Field(max_length=200)


class PersonUpdate(PersonFields, _Patch):
    """Changed identity fields (only those sent change; send null to clear an optional one)."""

    _not_null = ("name", "gender", "residence")


class PersonMove(_Input):
    """Move a person to another household (reactivates a deactivated record)."""

    household_id: int
    relation_to_head: str | None = Field(None, max_length=64)


class PersonOut(BaseModel):
    """A person, masked unless revealed: id_number, phone masked and birth_date withheld."""

    id: int
    name: str
    gender: str
    birth_date: date | None = Field(description="Only with reveal=true")
    age: int | None
    id_number: str | None
    phone: str | None
    residence: str
    relation_to_head: str | None
    is_active: bool
    left_on: date | None
    left_reason: str | None
    household_id: int
    household_no: str
    house_id: int
    unit: str
    floor: int
    room: str
    building_id: int
    address: str
    grid_code: str | None
    community_code: str | None
    care_groups: list[str]


# --------------------------------------------------------------------------------------------
# Care groups
# --------------------------------------------------------------------------------------------


class CategoryCreate(_Input):
    """A new care-group category (configuration of the deploying authority)."""

    code: str = Field(pattern=r"^[a-z_]{2,32}$", description="Lower-case letters and _")
    name_zh: str = Field(min_length=1, max_length=64)
    name_en: str = Field(min_length=1, max_length=128)
    sort_order: int = Field(100, ge=0, le=10_000)


class CategoryUpdate(_Patch):
    """Rename, reorder, deactivate or reactivate a category."""

    _not_null = ("name_zh", "name_en", "sort_order", "is_active")
    name_zh: str | None = Field(None, min_length=1, max_length=64)
    name_en: str | None = Field(None, min_length=1, max_length=128)
    sort_order: int | None = Field(None, ge=0, le=10_000)
    is_active: bool | None = None


class CategoryOut(BaseModel):
    """A care-group category."""

    code: str
    name_zh: str
    name_en: str
    sort_order: int
    is_active: bool
    filing_count: int | None = Field(
        description="Filings under it in your area (admin and street_admin only)"
    )


class FilingCreate(_Input):
    """File a person under a care group."""

    category_code: str = Field(min_length=2, max_length=32)
    responsible_user_id: int | None = Field(None, description="包保: the responsible user")
    visit_interval_days: int = Field(30, ge=1, le=366)
    since: date | None = Field(None, description="Filed since (default today)")
    note: str | None = Field(None, max_length=1000)


class FilingUpdate(_Patch):
    """Changed responsible user, interval, start date or note."""

    _not_null = ("visit_interval_days", "since")
    responsible_user_id: int | None = None
    visit_interval_days: int | None = Field(None, ge=1, le=366)
    since: date | None = None
    note: str | None = Field(None, max_length=1000)


class FilingOut(BaseModel):
    """A person's filing under a care group."""

    person_id: int
    category_code: str
    category_name_zh: str
    category_name_en: str
    category_active: bool
    since: date
    responsible_user_id: int | None
    responsible_name: str | None
    visit_interval_days: int
    note: str | None


# --------------------------------------------------------------------------------------------
# Visits
# --------------------------------------------------------------------------------------------


class VisitCreate(_Input):
    """A visit to a person."""

    person_id: int
    visited_at: AwareDatetime | None = Field(None, description="RFC 3339 with offset; default now")
    location: GeoJSON | None = Field(None, description=f"GPS Point: {_GEOMETRY_DOC}")
    note: str | None = Field(None, max_length=2000)
    visitor_id: int | None = Field(None, description="Admins only: who visited (default: you)")


class VisitOut(BaseModel):
    """A recorded visit; distance from the GPS point to the person's building in metres."""

    id: int
    person_id: int
    person_name: str
    visitor_id: int | None
    visitor_name: str | None
    visited_at: datetime
    location: GeoJSON | None
    distance_to_home_m: int | None
    note: str | None


class ResponsibleOut(BaseModel):
    """A responsible team member (包保)."""

    user_id: int
    name: str


class OverdueOut(BaseModel):
    """A person whose visit is overdue."""

    person_id: int
    name: str
    gender: str
    age: int | None
    household_no: str
    address: str
    unit: str
    room: str
    grid_code: str | None
    community_code: str | None
    categories: list[str]
    responsible: list[ResponsibleOut]
    interval_days: int
    last_visited_at: datetime | None
    due_on: date
    days_overdue: int


# --------------------------------------------------------------------------------------------
# Tenancies
# --------------------------------------------------------------------------------------------


class TenancyCreate(_Input):
    """A tenant household renting a house; landlord as a registered person or by name."""

    house_id: int
    tenant_household_id: int
    landlord_person_id: int | None = None
    landlord_name: str | None = Field(None, min_length=1, max_length=64)
    landlord_phone: str | None = Field(None, max_length=40)
    started_on: date
    ended_on: date | None = Field(None, description="Last day (inclusive); empty while current")
    note: str | None = Field(None, max_length=1000)


class TenancyUpdate(_Patch):
    """End a tenancy, correct its dates, landlord or note."""

    _not_null = ("started_on",)
    landlord_person_id: int | None = None
    landlord_name: str | None = Field(None, min_length=1, max_length=64)
    landlord_phone: str | None = Field(None, max_length=40)
    started_on: date | None = None
    ended_on: date | None = None
    note: str | None = Field(None, max_length=1000)


class TenantOut(BaseModel):
    """An active member of the tenant household."""

    person_id: int
    name: str


class TenancyOut(BaseModel):
    """A tenancy with its house, landlord (phone masked unless revealed) and tenants."""

    id: int
    house_id: int
    building_id: int
    address: str
    unit: str
    floor: int
    room: str
    landlord_person_id: int | None
    landlord_name: str | None
    landlord_phone: str | None
    tenant_household_id: int
    tenant_household_no: str
    tenants: list[TenantOut]
    started_on: date
    ended_on: date | None
    is_current: bool
    note: str | None
    grid_code: str | None
    community_code: str | None


# --------------------------------------------------------------------------------------------
# Places
# --------------------------------------------------------------------------------------------


class PlaceFields(_Input):
    """Optional attributes shared by create and update."""

    address: str | None = Field(None, max_length=255)
    department_id: int | None = Field(None, description="Responsible department (负责部门)")
    contact_name: str | None = Field(None, max_length=64)
    contact_phone: str | None = Field(None, max_length=40)


class PlaceCreate(PlaceFields):
    """A new place."""

    name: str = Field(min_length=1, max_length=100)
    kind: PlaceKind
    checklist_kind: ChecklistKind | None = Field(None, description="Default: by kind")
    geometry: GeoJSON = Field(description=f"Point, Polygon or MultiPolygon: {_GEOMETRY_DOC}")


class PlaceUpdate(PlaceFields, _Patch):
    """Changed place attributes and/or geometry."""

    _not_null = ("name", "kind", "geometry")
    name: str | None = Field(None, min_length=1, max_length=100)
    kind: PlaceKind | None = None
    checklist_kind: ChecklistKind | None = None
    geometry: GeoJSON | None = None


class PlaceOut(BaseModel):
    """A place with Chinese labels, department, contact (masked by role) and geometry."""

    id: int
    name: str
    kind: str
    kind_zh: str
    address: str | None
    department_id: int | None
    department_name: str | None
    checklist_kind: str | None
    checklist_kind_zh: str | None
    contact_name: str | None
    contact_phone: str | None
    grid_code: str | None
    community_code: str | None
    geometry: GeoJSON


class KindOut(BaseModel):
    """A place kind with its Chinese label and default checklist."""

    code: str
    name_zh: str
    default_checklist_kind: str


class ChecklistKindOut(BaseModel):
    """A checklist kind with its Chinese label."""

    code: str
    name_zh: str


class PlaceKindsOut(BaseModel):
    """The place kinds and checklist kinds."""

    kinds: list[KindOut]
    checklist_kinds: list[ChecklistKindOut]
