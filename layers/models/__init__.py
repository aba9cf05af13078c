"""ORM models of the whole schema; importing this package registers every table."""

from layers.models.address import AddressAlias, AddressEntry, AddressPinyin
from layers.models.admin import AdminLevel, AdminUnit
from layers.models.audit import AuditLog
from layers.models.buildings import Building, House, Household
from layers.models.grids import Grid, GridCode, GridLineage, GridStaff
from layers.models.incidents import (
    DispatchRule,
    Incident,
    IncidentCategory,
    IncidentDepartment,
    IncidentPhoto,
    IncidentStep,
    IncidentTimeLimit,
)
from layers.models.patrols import Patrol, PatrolChecklistItem
from layers.models.persons import CareGroupCategory, Person, PersonCareGroup
from layers.models.places import Place
from layers.models.plans import (
    GridPlan,
    GridPlanEdit,
    GridPlanPart,
    GridSizhiOverride,
    SizingTarget,
)
from layers.models.registries import Tenancy, Visit
from layers.models.roads import Road
from layers.models.users import Department, User

__all__ = [
    "AddressAlias",
    "AddressEntry",
    "AddressPinyin",
    "AdminLevel",
    "AdminUnit",
    "AuditLog",
    "Building",
    "CareGroupCategory",
    "Department",
    "DispatchRule",
    "Grid",
    "GridCode",
    "GridLineage",
    "GridPlan",
    "GridPlanEdit",
    "GridPlanPart",
    "GridSizhiOverride",
    "GridStaff",
    "House",
    "Household",
    "Incident",
    "IncidentCategory",
    "IncidentDepartment",
    "IncidentPhoto",
    "IncidentStep",
    "IncidentTimeLimit",
    "Patrol",
    "PatrolChecklistItem",
    "Person",
    "PersonCareGroup",
    "Place",
    "Road",
    "SizingTarget",
    "Tenancy",
    "User",
    "Visit",
]
