"""Which rows of a spatial layer a principal may see: one where-clause per layer.

Every read of the feature layers goes through :func:`area_filter`, so "a user sees only rows
inside their area" is decided here and nowhere else. The rules, per layer:

============  ==========================================================================
layer         a row is visible when
============  ==========================================================================
admin_units   it is the principal's area, lies inside it (code starts with the area
              prefix), or is one of its ancestors (the street and district outlines
              above a community, shown for context)
grids         its 15-digit code starts with the area prefix (a grid code begins with its
              community's 12-digit code)
buildings     its community (``community_id`` → ``admin_units.code``) starts with the prefix
places        as buildings; a ``dept_handler`` additionally sees only the places whose
              ``department_id`` is their own department
incidents     as places (area prefix, and department for ``dept_handler``)
roads         it intersects the polygon of the principal's area (roads have no community)
============  ==========================================================================

Rows whose ``community_id`` is NULL (not yet assigned to a grid) are visible to nobody through
these layers: they are outside every area. A ``dept_handler`` without a department sees no places
and no incidents. The prefix rule itself is explained in :mod:`layers.access` and
:mod:`layers.models.admin`.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import ColumnElement, SQLColumnExpression, false, func, select, true

from layers.access import Principal
from layers.models import AdminUnit, Building, Grid, Incident, Place, Road
from layers.models.admin import ADMIN_PREFIX_LENGTH
from layers.models.users import Role

# Roles whose view of incidents and places is narrowed to their own department (采办分离:
# the department handles what was routed to it, not everything in the street).
DEPARTMENT_SCOPED_ROLES = frozenset({Role.dept_handler})


def ancestor_codes(principal: Principal) -> list[str]:
    """The 12-digit codes of the administrative units above the principal's area.

    A community's ancestors are its street (first 9 digits + ``000``) and its district (first 6
    digits + ``000000``); a street's ancestor is its district; a district has none.
    """
    own = len(principal.area_prefix)
    return [
        principal.area_code[:length].ljust(12, "0")
        for length in sorted(set(ADMIN_PREFIX_LENGTH.values()))
        if length < own
    ]


def _in_area(
    principal: Principal, community_id: SQLColumnExpression[int | None]
) -> ColumnElement[bool]:
    """Rows filed under a community whose code starts with the principal's area prefix."""
    communities = select(AdminUnit.id).where(AdminUnit.code.startswith(principal.area_prefix))
    return community_id.in_(communities)


def _department(
    principal: Principal, department_id: SQLColumnExpression[int | None]
) -> ColumnElement[bool]:
    """The department restriction of department-scoped roles (TRUE for every other role)."""
    if principal.role not in DEPARTMENT_SCOPED_ROLES:
        return true()
    if principal.department_id is None:
        return false()
    return department_id == principal.department_id


def admin_units_scope(principal: Principal) -> ColumnElement[bool]:
    """The area itself, every unit inside it, and its ancestors (outlines for context)."""
    inside = AdminUnit.code.startswith(principal.area_prefix)
    ancestors = ancestor_codes(principal)
    return inside | AdminUnit.code.in_(ancestors) if ancestors else inside


def grids_scope(principal: Principal) -> ColumnElement[bool]:
    """Grids whose code starts with the area prefix."""
    return Grid.code.startswith(principal.area_prefix)


def roads_scope(principal: Principal) -> ColumnElement[bool]:
    """Roads that intersect the polygon of the principal's area (uses the GiST index)."""
    area = select(AdminUnit.geom).where(AdminUnit.id == principal.area_id).scalar_subquery()
    return func.ST_Intersects(Road.geom, area)


def buildings_scope(principal: Principal) -> ColumnElement[bool]:
    """Buildings filed under a community inside the area."""
    return _in_area(principal, Building.community_id)


def places_scope(principal: Principal) -> ColumnElement[bool]:
    """Places inside the area; for department handlers only those of their department."""
    return _in_area(principal, Place.community_id) & _department(principal, Place.department_id)


def incidents_scope(principal: Principal) -> ColumnElement[bool]:
    """Incidents inside the area; for department handlers only those routed to their department."""
    return _in_area(principal, Incident.community_id) & _department(
        principal, Incident.department_id
    )


SCOPES: dict[str, Callable[[Principal], ColumnElement[bool]]] = {
    "admin_units": admin_units_scope,
    "grids": grids_scope,
    "roads": roads_scope,
    "buildings": buildings_scope,
    "places": places_scope,
    "incidents": incidents_scope,
}


def area_filter(layer: str, principal: Principal) -> ColumnElement[bool]:
    """The where-clause that limits ``layer`` to the rows ``principal`` may see."""
    return SCOPES[layer](principal)
