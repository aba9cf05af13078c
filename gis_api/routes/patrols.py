"""Patrol API: checklists, patrol records, failed items → incidents, due lists, coverage."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field

from gis_api.deps import PrincipalDep, SessionDep
from gis_api.routes.incidents import ClockDep, IncidentSettingsDep
from layers.locate import to_storage_point
from layers.patrols import service
from layers.spatial.crs import parse_crs

router = APIRouter(prefix="/patrols", tags=["patrols"])


class PatrolCreate(BaseModel):
    """A patrol record: the place, every checklist answer (true = fine), where the worker stood."""

    model_config = ConfigDict(extra="forbid")

    place_id: int
    answers: dict[str, bool] = Field(max_length=50)
    lon: float | None = None
    lat: float | None = None
    crs: str | None = None
    report_failures: bool = Field(False, description="Turn every failed item into an incident")


class FailureIn(BaseModel):
    """The failed item to report as an incident."""

    model_config = ConfigDict(extra="forbid")

    item_code: str = Field(max_length=64)


@router.get("/checklists/{kind}", summary="A department checklist (傻瓜式清单)")
def get_checklist(kind: str, session: SessionDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """The items of one checklist kind."""
    return service.checklist(session, kind[:32])


@router.post("", status_code=status.HTTP_201_CREATED, summary="Record a patrol")
def create_patrol(
    body: PatrolCreate,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    settings: IncidentSettingsDep,
) -> dict[str, Any]:
    """Answers for every item; failures optionally become incidents at once."""
    lon = lat = None
    if body.lon is not None and body.lat is not None:
        sp = to_storage_point(body.lon, body.lat, parse_crs(body.crs, field="crs"))
        lon, lat = sp.lon, sp.lat
    return service.record_patrol(
        session, principal, now=clock(), settings=settings, place_id=body.place_id,
        answers=body.answers, lon=lon, lat=lat, report_failures=body.report_failures,
    )  # fmt: skip


@router.post(
    "/{patrol_id}/incidents", status_code=status.HTTP_201_CREATED, summary="Failed item → incident"
)
def failure_to_incident(
    patrol_id: int,
    body: FailureIn,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    settings: IncidentSettingsDep,
) -> dict[str, Any]:
    """Report one failed item of a patrol as an incident (category and risk from the item)."""
    return service.raise_incident(
        session, principal, now=clock(), settings=settings, patrol_id=patrol_id,
        item_code=body.item_code,
    )  # fmt: skip


@router.get("/due", summary="Places still due a patrol this month")
def get_due(
    session: SessionDep, principal: PrincipalDep, clock: ClockDep, settings: IncidentSettingsDep
) -> list[dict[str, Any]]:
    """For a grid worker: the places of their grids; for others: their area."""
    return service.due(session, principal, now=clock(), settings=settings)


@router.get("/coverage", summary="Patrol coverage per grid for a month")
def get_coverage(
    session: SessionDep,
    principal: PrincipalDep,
    settings: IncidentSettingsDep,
    month: Annotated[date, Query(description="Any day of the month")],
) -> list[dict[str, Any]]:
    """Share of each grid's places patrolled the required number of times."""
    return service.coverage(session, principal, month=month, settings=settings)
