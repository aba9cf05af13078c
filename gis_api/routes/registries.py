"""Registries API: buildings, houses, households, persons, care groups, visits, tenancies, places.

Each route validates its input (pydantic models, typed query parameters, the role guard of its
sub-router), calls one function of :mod:`layers.registries` and returns its rows through a
response model. Scoping, masking, audit and every domain rule live in the layer; the request
commits once (gis_api.db). Unknown query parameters are refused (a typo must not silently
widen a listing). Roles and rules: docs/REGISTRIES.md.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.dependencies.models import Dependant

from gis_api.deps import PrincipalDep, SessionDep, SettingsDep, client_ip, require_roles
from gis_api.schemas.registries import (
    BuildingCreate,
    BuildingOut,
    BuildingUpdate,
    CategoryCreate,
    CategoryOut,
    CategoryUpdate,
    FilingCreate,
    FilingOut,
    FilingUpdate,
    HouseCreate,
    HouseholdCreate,
    HouseholdMove,
    HouseholdOut,
    HouseholdUpdate,
    HouseOut,
    HouseUpdate,
    LeftReason,
    OverdueOut,
    Page,
    PersonCreate,
    PersonMove,
    PersonOut,
    PersonUpdate,
    PlaceCreate,
    PlaceKind,
    PlaceKindsOut,
    PlaceOut,
    PlaceUpdate,
    TenancyCreate,
    TenancyOut,
    TenancyUpdate,
    VisitCreate,
    VisitOut,
)
from layers.errors import InvalidInput
from layers.models.places import PLACE_KINDS
from layers.models.registries import CHECKLIST_KINDS, DEFAULT_CHECKLIST_BY_PLACE_KIND
from layers.models.users import Role
from layers.registries import buildings, care, persons, places, tenancies, visits
from layers.registries.common import BUILDING_READ_ROLES, PEOPLE_ROLES
from layers.registries.common import Page as LayerPage

MAX_OFFSET = 10_000_000


# --------------------------------------------------------------------------------------------
# Shared dependencies
# --------------------------------------------------------------------------------------------


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def reject_unknown_query(request: Request) -> None:
    """Refuse query parameters the route does not declare (422 naming the parameter)."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    allowed = _query_names(dependant)
    for name in request.query_params:
        if name not in allowed:
            listed = ", ".join(sorted(allowed)) or "none"
            raise InvalidInput(
                f"Unknown query parameter {name[:64]!r}; allowed: {listed}",
                f"不支持查询参数 {name[:64]!r}；可用：{'、'.join(sorted(allowed)) or '无'}",
                field=name[:64],
            )


class Paging:
    """``limit`` and ``offset`` of a listing, checked against the server's page size."""

    def __init__(
        self,
        settings: SettingsDep,
        limit: Annotated[
            int | None, Query(ge=1, description="Page size (default and maximum set by server)")
        ] = None,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip")] = 0,
    ) -> None:
        self.limit = settings.default_page_size if limit is None else limit
        if self.limit > settings.max_page_size:
            raise InvalidInput(
                f"limit must be between 1 and {settings.max_page_size}",
                f"limit 必须在 1 到 {settings.max_page_size} 之间",
                field="limit",
            )
        self.offset = offset


PagingDep = Annotated[Paging, Depends()]
CrsQuery = Annotated[
    str | None,
    Query(
        description="CRS of the input geometry: EPSG:4326 (default), EPSG:4490, another EPSG "
        "code, GCJ-02 or BD-09",
    ),
]
RevealQuery = Annotated[
    bool,
    Query(description="Show ID numbers, phones and birth dates in full (admins only; audited)"),
]
CommunityQuery = Annotated[
    str | None, Query(pattern=r"^[0-9]{12}$", description="12-digit community code")
]
GridQuery = Annotated[str | None, Query(pattern=r"^[0-9]{15}$", description="15-digit grid code")]


def _page(result: LayerPage) -> dict[str, Any]:
    return {
        "items": result.items,
        "total": result.total,
        "limit": result.limit,
        "offset": result.offset,
    }


def _set(model: Any, *, exclude: set[str] | None = None) -> dict[str, Any]:
    """The fields the client sent (a PATCH changes only those)."""
    data: dict[str, Any] = model.model_dump(exclude_unset=True, exclude=exclude or set())
    return data


_strict = [Depends(reject_unknown_query)]
# Roles in their enum order, so the 403 message lists them stably.
_building_readers = [
    *_strict,
    Depends(require_roles(*(r for r in Role if r in BUILDING_READ_ROLES))),
]
_people = [*_strict, Depends(require_roles(*(r for r in Role if r in PEOPLE_ROLES)))]

buildings_router = APIRouter(
    prefix="/buildings", tags=["buildings"], dependencies=_building_readers
)
houses_router = APIRouter(prefix="/houses", tags=["houses"], dependencies=_building_readers)
households_router = APIRouter(
    prefix="/households", tags=["households"], dependencies=_building_readers
)
persons_router = APIRouter(prefix="/persons", tags=["persons"], dependencies=_people)
care_router = APIRouter(prefix="/care-groups", tags=["care groups"], dependencies=_strict)
visits_router = APIRouter(prefix="/visits", tags=["visits"], dependencies=_people)
tenancies_router = APIRouter(prefix="/tenancies", tags=["tenancies"], dependencies=_people)
places_router = APIRouter(prefix="/places", tags=["places"], dependencies=_strict)

# --------------------------------------------------------------------------------------------
# Buildings
# --------------------------------------------------------------------------------------------


@buildings_router.get("", response_model=Page[BuildingOut], summary="List buildings")
def list_buildings(
    session: SessionDep,
    principal: PrincipalDep,
    paging: PagingDep,
    community: CommunityQuery = None,
    grid: GridQuery = None,
    compound: Annotated[str | None, Query(max_length=100, description="小区 name")] = None,
    kind: Annotated[str | None, Query(description="Building kind")] = None,
    q: Annotated[str | None, Query(description="Text in address, name or code")] = None,
) -> dict[str, Any]:
    """Buildings in your area, by id; filters combine with AND."""
    return _page(
        buildings.list_buildings(
            session,
            principal=principal,
            community=community,
            grid=grid,
            compound=compound,
            kind=kind,
            q=q,
            limit=paging.limit,
            offset=paging.offset,
        )
    )


@buildings_router.post(
    "", response_model=BuildingOut, status_code=status.HTTP_201_CREATED, summary="Create"
)
def create_building(
    body: BuildingCreate, session: SessionDep, principal: PrincipalDep, crs: CrsQuery = None
) -> dict[str, Any]:
    """Create a building; it is filed under the grid covering its footprint."""
    return buildings.create_building(
        session,
        principal=principal,
        values=body.model_dump(exclude={"geometry"}),
        geometry=body.geometry,
        crs=crs,
    )


@buildings_router.get("/{building_id}", response_model=BuildingOut, summary="One building")
def get_building(building_id: int, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    """One building of your area."""
    return buildings.get_building(session, principal=principal, building_id=building_id)


@buildings_router.patch("/{building_id}", response_model=BuildingOut, summary="Update")
def update_building(
    building_id: int,
    body: BuildingUpdate,
    session: SessionDep,
    principal: PrincipalDep,
    crs: CrsQuery = None,
) -> dict[str, Any]:
    """Change attributes and/or the footprint (re-filed by grid)."""
    return buildings.update_building(
        session,
        principal=principal,
        building_id=building_id,
        values=_set(body, exclude={"geometry"}),
        geometry=body.geometry,
        crs=crs,
    )


@buildings_router.get(
    "/{building_id}/houses", response_model=Page[HouseOut], summary="Houses of a building"
)
def list_building_houses(
    building_id: int, session: SessionDep, principal: PrincipalDep, paging: PagingDep
) -> dict[str, Any]:
    """The houses of one building, by unit, floor and room."""
    return _page(
        buildings.list_houses(
            session,
            principal=principal,
            building_id=building_id,
            limit=paging.limit,
            offset=paging.offset,
        )
    )


# --------------------------------------------------------------------------------------------
# Houses
# --------------------------------------------------------------------------------------------


@houses_router.get("", response_model=Page[HouseOut], summary="List houses")
def list_houses(
    session: SessionDep,
    principal: PrincipalDep,
    paging: PagingDep,
    building_id: Annotated[int | None, Query(description="Only this building")] = None,
    is_rental: Annotated[bool | None, Query(description="Only rental / non-rental")] = None,
) -> dict[str, Any]:
    """Houses in your area."""
    return _page(
        buildings.list_houses(
            session,
            principal=principal,
            building_id=building_id,
            is_rental=is_rental,
            limit=paging.limit,
            offset=paging.offset,
        )
    )


@houses_router.post(
    "", response_model=HouseOut, status_code=status.HTTP_201_CREATED, summary="Create"
)
def create_house(body: HouseCreate, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    """Add a house (unit/floor/room) to a building of your area."""
    return buildings.create_house(
        session,
        principal=principal,
        building_id=body.building_id,
        values=body.model_dump(exclude={"building_id"}),
    )


@houses_router.get("/{house_id}", response_model=HouseOut, summary="One house")
def get_house(house_id: int, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    """One house of your area."""
    return buildings.get_house(session, principal=principal, house_id=house_id)


@houses_router.patch("/{house_id}", response_model=HouseOut, summary="Update")
def update_house(
    house_id: int, body: HouseUpdate, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Change unit, floor, room, use, area or the rental flag."""
    return buildings.update_house(
        session, principal=principal, house_id=house_id, values=_set(body)
    )


@houses_router.get(
    "/{house_id}/tenancies", response_model=Page[TenancyOut], summary="Tenancy history"
)
def list_house_tenancies(
    house_id: int,
    session: SessionDep,
    principal: PrincipalDep,
    request: Request,
    paging: PagingDep,
    current: Annotated[bool | None, Query(description="Only current (true) or past")] = None,
    reveal: RevealQuery = False,
) -> dict[str, Any]:
    """The tenancies of one house, newest first (persons register roles only; audited)."""
    return _page(
        tenancies.list_tenancies(
            session,
            principal=principal,
            house_id=house_id,
            current=current,
            reveal=reveal,
            limit=paging.limit,
            offset=paging.offset,
            client_ip=client_ip(request),
        )
    )


# --------------------------------------------------------------------------------------------
# Households
# --------------------------------------------------------------------------------------------


@households_router.get("", response_model=Page[HouseholdOut], summary="List households")
def list_households(
    session: SessionDep,
    principal: PrincipalDep,
    paging: PagingDep,
    house_id: Annotated[int | None, Query(description="Only this house")] = None,
    building_id: Annotated[int | None, Query(description="Only this building")] = None,
    household_no: Annotated[str | None, Query(max_length=32, description="户号")] = None,
) -> dict[str, Any]:
    """Households in your area."""
    return _page(
        buildings.list_households(
            session,
            principal=principal,
            house_id=house_id,
            building_id=building_id,
            household_no=household_no,
            limit=paging.limit,
            offset=paging.offset,
        )
    )


@households_router.post(
    "", response_model=HouseholdOut, status_code=status.HTTP_201_CREATED, summary="Create"
)
def create_household(
    body: HouseholdCreate, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Register a household at a house of your area."""
    return buildings.create_household(
        session,
        principal=principal,
        house_id=body.house_id,
        values=body.model_dump(exclude={"house_id"}),
    )


@households_router.get("/{household_id}", response_model=HouseholdOut, summary="One household")
def get_household(
    household_id: int, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    """One household of your area."""
    return buildings.get_household(session, principal=principal, household_id=household_id)


@households_router.patch("/{household_id}", response_model=HouseholdOut, summary="Update")
def update_household(
    household_id: int, body: HouseholdUpdate, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Change the household number or residence type."""
    return buildings.update_household(
        session, principal=principal, household_id=household_id, values=_set(body)
    )


@households_router.post(
    "/{household_id}/move", response_model=HouseholdOut, summary="Move to another house"
)
def move_household(
    household_id: int,
    body: HouseholdMove,
    session: SessionDep,
    principal: PrincipalDep,
    request: Request,
) -> dict[str, Any]:
    """Move a household to another house; its grid follows the house (audited)."""
    return buildings.move_household(
        session,
        principal=principal,
        household_id=household_id,
        house_id=body.house_id,
        moved_on=body.moved_on,
        client_ip=client_ip(request),
    )


# --------------------------------------------------------------------------------------------
# Persons and their care-group filings
# --------------------------------------------------------------------------------------------


@persons_router.get("", response_model=Page[PersonOut], summary="List persons")
def list_persons(
    session: SessionDep,
    principal: PrincipalDep,
    request: Request,
    paging: PagingDep,
    household_id: Annotated[int | None, Query(description="Only this household")] = None,
    house_id: Annotated[int | None, Query(description="Only this house")] = None,
    building_id: Annotated[int | None, Query(description="Only this building")] = None,
    community: CommunityQuery = None,
    grid: GridQuery = None,
    care_group: Annotated[str | None, Query(max_length=32, description="Category code")] = None,
    q: Annotated[str | None, Query(description="Text in the name")] = None,
    id_number: Annotated[str | None, Query(max_length=40, description="Exact ID number")] = None,
    status_: Annotated[
        str, Query(alias="status", description="active (default), inactive or all")
    ] = "active",
    reveal: RevealQuery = False,
) -> dict[str, Any]:
    """Persons in your area, masked unless revealed; every list is audited."""
    return _page(
        persons.list_persons(
            session,
            principal=principal,
            household_id=household_id,
            house_id=house_id,
            building_id=building_id,
            community=community,
            grid=grid,
            care_group=care_group,
            q=q,
            id_number=id_number,
            status=status_,
            reveal=reveal,
            limit=paging.limit,
            offset=paging.offset,
            client_ip=client_ip(request),
        )
    )


@persons_router.post(
    "", response_model=PersonOut, status_code=status.HTTP_201_CREATED, summary="Register"
)
def create_person(
    body: PersonCreate, session: SessionDep, principal: PrincipalDep, request: Request
) -> dict[str, Any]:
    """Register a person in a household of your area (validated; answer masked; audited)."""
    return persons.create_person(
        session,
        principal=principal,
        household_id=body.household_id,
        values=body.model_dump(exclude={"household_id"}, exclude_none=True),
        client_ip=client_ip(request),
    )


@persons_router.get("/{person_id}", response_model=PersonOut, summary="One person")
def get_person(
    person_id: int,
    session: SessionDep,
    principal: PrincipalDep,
    request: Request,
    reveal: RevealQuery = False,
) -> dict[str, Any]:
    """One person of your area, masked unless revealed (admins only); audited."""
    return persons.get_person(
        session,
        principal=principal,
        person_id=person_id,
        reveal=reveal,
        client_ip=client_ip(request),
    )


@persons_router.patch("/{person_id}", response_model=PersonOut, summary="Update")
def update_person(
    person_id: int,
    body: PersonUpdate,
    session: SessionDep,
    principal: PrincipalDep,
    request: Request,
) -> dict[str, Any]:
    """Change identity or contact fields (only those sent; audited)."""
    return persons.update_person(
        session,
        principal=principal,
        person_id=person_id,
        values=_set(body),
        client_ip=client_ip(request),
    )


@persons_router.delete("/{person_id}", response_model=PersonOut, summary="Deactivate")
def deactivate_person(
    person_id: int,
    session: SessionDep,
    principal: PrincipalDep,
    request: Request,
    reason: Annotated[LeftReason, Query(description="moved_away, deceased or other")],
    left_on: Annotated[date | None, Query(description="Date (default today)")] = None,
) -> dict[str, Any]:
    """Deactivate a person (moved away, deceased): the record is kept, never deleted."""
    return persons.deactivate_person(
        session,
        principal=principal,
        person_id=person_id,
        reason=reason,
        left_on=left_on,
        client_ip=client_ip(request),
    )


@persons_router.post("/{person_id}/move", response_model=PersonOut, summary="Move")
def move_person(
    person_id: int,
    body: PersonMove,
    session: SessionDep,
    principal: PrincipalDep,
    request: Request,
) -> dict[str, Any]:
    """Move a person to another household of your area (reactivates a deactivated record)."""
    return persons.move_person(
        session,
        principal=principal,
        person_id=person_id,
        household_id=body.household_id,
        relation_to_head=body.relation_to_head,
        client_ip=client_ip(request),
    )


@persons_router.get(
    "/{person_id}/care-groups", response_model=list[FilingOut], summary="Care groups of a person"
)
def list_filings(
    person_id: int, session: SessionDep, principal: PrincipalDep, request: Request
) -> list[dict[str, Any]]:
    """The care groups the person is filed under (audited)."""
    return care.list_filings(
        session, principal=principal, person_id=person_id, client_ip=client_ip(request)
    )


@persons_router.post(
    "/{person_id}/care-groups",
    response_model=FilingOut,
    status_code=status.HTTP_201_CREATED,
    summary="File under a care group",
)
def file_person(
    person_id: int,
    body: FilingCreate,
    session: SessionDep,
    principal: PrincipalDep,
    request: Request,
) -> dict[str, Any]:
    """File the person under a category with 包保 user and visit interval (audited)."""
    return care.file_person(
        session,
        principal=principal,
        person_id=person_id,
        category_code=body.category_code,
        values=body.model_dump(exclude={"category_code"}, exclude_none=True),
        client_ip=client_ip(request),
    )


@persons_router.patch(
    "/{person_id}/care-groups/{category_code}", response_model=FilingOut, summary="Update filing"
)
def update_filing(
    person_id: int,
    category_code: str,
    body: FilingUpdate,
    session: SessionDep,
    principal: PrincipalDep,
    request: Request,
) -> dict[str, Any]:
    """Change the responsible user, interval, start date or note (audited)."""
    return care.update_filing(
        session,
        principal=principal,
        person_id=person_id,
        category_code=category_code,
        values=_set(body),
        client_ip=client_ip(request),
    )


@persons_router.delete(
    "/{person_id}/care-groups/{category_code}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Remove from a care group",
)
def remove_filing(
    person_id: int,
    category_code: str,
    session: SessionDep,
    principal: PrincipalDep,
    request: Request,
) -> Response:
    """Take the person off the care group (visits are kept; audited)."""
    care.remove_filing(
        session,
        principal=principal,
        person_id=person_id,
        category_code=category_code,
        client_ip=client_ip(request),
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --------------------------------------------------------------------------------------------
# Care-group categories
# --------------------------------------------------------------------------------------------


@care_router.get("", response_model=list[CategoryOut], summary="List categories")
def list_categories(
    session: SessionDep,
    principal: PrincipalDep,
    include_inactive: Annotated[bool, Query(description="Also deactivated categories")] = False,
) -> list[dict[str, Any]]:
    """The care-group categories in display order (every role)."""
    return care.list_categories(session, principal=principal, include_inactive=include_inactive)


@care_router.post(
    "", response_model=CategoryOut, status_code=status.HTTP_201_CREATED, summary="Add category"
)
def create_category(
    body: CategoryCreate, session: SessionDep, principal: PrincipalDep, request: Request
) -> dict[str, Any]:
    """Add a category (admin and street_admin only; audited)."""
    return care.create_category(
        session,
        principal=principal,
        code=body.code,
        values=body.model_dump(exclude={"code"}),
        client_ip=client_ip(request),
    )


@care_router.patch("/{code}", response_model=CategoryOut, summary="Rename or deactivate")
def update_category(
    code: str,
    body: CategoryUpdate,
    session: SessionDep,
    principal: PrincipalDep,
    request: Request,
) -> dict[str, Any]:
    """Rename, reorder, deactivate or reactivate a category (admin and street_admin; audited)."""
    return care.update_category(
        session, principal=principal, code=code, values=_set(body), client_ip=client_ip(request)
    )


# --------------------------------------------------------------------------------------------
# Visits
# --------------------------------------------------------------------------------------------


@visits_router.get("", response_model=Page[VisitOut], summary="List visits")
def list_visits(
    session: SessionDep,
    principal: PrincipalDep,
    request: Request,
    paging: PagingDep,
    person_id: Annotated[int | None, Query(description="Only visits to this person")] = None,
    visitor_id: Annotated[int | None, Query(description="Only visits by this user")] = None,
    since: Annotated[date | None, Query(description="From this local date (inclusive)")] = None,
    until: Annotated[date | None, Query(description="To this local date (inclusive)")] = None,
) -> dict[str, Any]:
    """Visits to persons of your area, newest first (audited)."""
    return _page(
        visits.list_visits(
            session,
            principal=principal,
            person_id=person_id,
            visitor_id=visitor_id,
            since=since,
            until=until,
            limit=paging.limit,
            offset=paging.offset,
            client_ip=client_ip(request),
        )
    )


@visits_router.post(
    "", response_model=VisitOut, status_code=status.HTTP_201_CREATED, summary="Record a visit"
)
def record_visit(
    body: VisitCreate,
    session: SessionDep,
    principal: PrincipalDep,
    request: Request,
    crs: CrsQuery = None,
) -> dict[str, Any]:
    """Record a visit (time, optional GPS point, note) to a person of your area (audited)."""
    return visits.record_visit(
        session,
        principal=principal,
        person_id=body.person_id,
        visited_at=body.visited_at,
        location=body.location,
        crs=crs,
        note=body.note,
        visitor_id=body.visitor_id,
        client_ip=client_ip(request),
    )


@visits_router.get("/overdue", response_model=Page[OverdueOut], summary="Overdue visits")
def overdue_visits(
    session: SessionDep,
    principal: PrincipalDep,
    request: Request,
    paging: PagingDep,
    as_of: Annotated[
        date | None, Query(description="Judge on this local date (default today)")
    ] = None,
    community: CommunityQuery = None,
    grid: GridQuery = None,
    category: Annotated[str | None, Query(max_length=32, description="Category code")] = None,
    responsible_user_id: Annotated[
        int | None, Query(description="Only filings with this 包保 user")
    ] = None,
    mine: Annotated[bool, Query(description="Only filings I am responsible for")] = False,
) -> dict[str, Any]:
    """Persons whose last visit is older than their interval, most overdue first (audited)."""
    if mine and responsible_user_id is not None:
        raise InvalidInput(
            "Give either mine=true or responsible_user_id, not both",
            "mine=true 与 responsible_user_id 只能二选一",
            field="mine",
        )
    return _page(
        visits.overdue_visits(
            session,
            principal=principal,
            as_of=as_of,
            community=community,
            grid=grid,
            category=category,
            responsible_user_id=principal.user_id if mine else responsible_user_id,
            limit=paging.limit,
            offset=paging.offset,
            client_ip=client_ip(request),
        )
    )


# --------------------------------------------------------------------------------------------
# Tenancies
# --------------------------------------------------------------------------------------------


@tenancies_router.get("", response_model=Page[TenancyOut], summary="List tenancies")
def list_tenancies(
    session: SessionDep,
    principal: PrincipalDep,
    request: Request,
    paging: PagingDep,
    house_id: Annotated[int | None, Query(description="Only this house")] = None,
    household_id: Annotated[int | None, Query(description="Only this tenant household")] = None,
    landlord_person_id: Annotated[int | None, Query(description="Only this landlord")] = None,
    current: Annotated[bool | None, Query(description="Only current (true) or not")] = None,
    reveal: RevealQuery = False,
) -> dict[str, Any]:
    """Tenancies of houses in your area, newest start first (audited)."""
    return _page(
        tenancies.list_tenancies(
            session,
            principal=principal,
            house_id=house_id,
            household_id=household_id,
            landlord_person_id=landlord_person_id,
            current=current,
            reveal=reveal,
            limit=paging.limit,
            offset=paging.offset,
            client_ip=client_ip(request),
        )
    )


@tenancies_router.post(
    "", response_model=TenancyOut, status_code=status.HTTP_201_CREATED, summary="Record"
)
def create_tenancy(
    body: TenancyCreate, session: SessionDep, principal: PrincipalDep, request: Request
) -> dict[str, Any]:
    """Record a tenancy; the house's rental flag follows (audited)."""
    return tenancies.create_tenancy(
        session,
        principal=principal,
        values=body.model_dump(exclude_none=True),
        client_ip=client_ip(request),
    )


@tenancies_router.get("/{tenancy_id}", response_model=TenancyOut, summary="One tenancy")
def get_tenancy(
    tenancy_id: int,
    session: SessionDep,
    principal: PrincipalDep,
    request: Request,
    reveal: RevealQuery = False,
) -> dict[str, Any]:
    """One tenancy of a house in your area (audited)."""
    return tenancies.get_tenancy(
        session,
        principal=principal,
        tenancy_id=tenancy_id,
        reveal=reveal,
        client_ip=client_ip(request),
    )


@tenancies_router.patch("/{tenancy_id}", response_model=TenancyOut, summary="Update or end")
def update_tenancy(
    tenancy_id: int,
    body: TenancyUpdate,
    session: SessionDep,
    principal: PrincipalDep,
    request: Request,
) -> dict[str, Any]:
    """End a tenancy (ended_on) or correct it; the rental flag follows (audited)."""
    return tenancies.update_tenancy(
        session,
        principal=principal,
        tenancy_id=tenancy_id,
        values=_set(body),
        client_ip=client_ip(request),
    )


# --------------------------------------------------------------------------------------------
# Places
# --------------------------------------------------------------------------------------------


@places_router.get("/kinds", response_model=PlaceKindsOut, summary="Place and checklist kinds")
def place_kinds(principal: PrincipalDep) -> dict[str, Any]:
    """The place kinds with Chinese labels and default checklists, and the checklist kinds."""
    return {
        "kinds": [
            {"code": k, "name_zh": v, "default_checklist_kind": DEFAULT_CHECKLIST_BY_PLACE_KIND[k]}
            for k, v in PLACE_KINDS.items()
        ],
        "checklist_kinds": [{"code": k, "name_zh": v} for k, v in CHECKLIST_KINDS.items()],
    }


@places_router.get("", response_model=Page[PlaceOut], summary="List places")
def list_places(
    session: SessionDep,
    principal: PrincipalDep,
    request: Request,
    paging: PagingDep,
    community: CommunityQuery = None,
    grid: GridQuery = None,
    kind: Annotated[PlaceKind | None, Query(description="Place kind")] = None,
    department_id: Annotated[int | None, Query(description="Responsible department")] = None,
    checklist_kind: Annotated[str | None, Query(max_length=32, description="Checklist")] = None,
    q: Annotated[str | None, Query(description="Text in name or address")] = None,
) -> dict[str, Any]:
    """Places you may see (department handlers: their department's), contacts masked by role."""
    return _page(
        places.list_places(
            session,
            principal=principal,
            community=community,
            grid=grid,
            kind=kind,
            department_id=department_id,
            checklist_kind=checklist_kind,
            q=q,
            limit=paging.limit,
            offset=paging.offset,
            client_ip=client_ip(request),
        )
    )


@places_router.post(
    "", response_model=PlaceOut, status_code=status.HTTP_201_CREATED, summary="Create"
)
def create_place(
    body: PlaceCreate,
    session: SessionDep,
    principal: PrincipalDep,
    request: Request,
    crs: CrsQuery = None,
) -> dict[str, Any]:
    """Create a place inside your area (admins; audited)."""
    return places.create_place(
        session,
        principal=principal,
        values=body.model_dump(exclude={"geometry"}),
        geometry=body.geometry,
        crs=crs,
        client_ip=client_ip(request),
    )


@places_router.get("/{place_id}", response_model=PlaceOut, summary="One place")
def get_place(
    place_id: int, session: SessionDep, principal: PrincipalDep, request: Request
) -> dict[str, Any]:
    """One place you may see."""
    return places.get_place(
        session, principal=principal, place_id=place_id, client_ip=client_ip(request)
    )


@places_router.patch("/{place_id}", response_model=PlaceOut, summary="Update")
def update_place(
    place_id: int,
    body: PlaceUpdate,
    session: SessionDep,
    principal: PrincipalDep,
    request: Request,
    crs: CrsQuery = None,
) -> dict[str, Any]:
    """Change a place's attributes and/or geometry (admins; audited)."""
    return places.update_place(
        session,
        principal=principal,
        place_id=place_id,
        values=_set(body, exclude={"geometry"}),
        geometry=body.geometry,
        crs=crs,
        client_ip=client_ip(request),
    )


@places_router.delete(
    "/{place_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Delete",
)
def delete_place(
    place_id: int, session: SessionDep, principal: PrincipalDep, request: Request
) -> Response:
    """Delete a place without patrol records (admins; audited)."""
    places.delete_place(
        session, principal=principal, place_id=place_id, client_ip=client_ip(request)
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


router = APIRouter()
for _sub in (
    buildings_router,
    houses_router,
    households_router,
    persons_router,
    care_router,
    visits_router,
    tenancies_router,
    places_router,
):
    router.include_router(_sub)
