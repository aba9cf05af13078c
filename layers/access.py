"""Who is asking, and what their duty lets them see.

A ``Principal`` is the authenticated user as the layers see it: role, area of duty and
department. Every query of a scoped layer goes through ``layers.scope.area_filter``, so "a user
sees only rows inside their area" is decided in one place. Areas are administrative units; a row
is inside an area when its community's 12-digit code starts with the area's significant prefix
(6 digits for a district, 9 for a street, 12 for a community). The row's community is itself
derived by spatial query (point-on-surface in the grid), so the prefix test is a cheap, indexable
proxy for the spatial truth.
"""

from __future__ import annotations

from dataclasses import dataclass

from layers.models.users import Role

# Roles whose duty needs full identity numbers and phone numbers of residents and reporters.
# Everyone else gets masked values. Grid workers see phones (the 公示制度 notice board is public,
# and they call residents), dispatchers and department handlers call reporters back; none of them
# needs residents' ID numbers. Planners work with boundaries and counts: everything masked.
FULL_PERSONAL_DATA_ROLES = frozenset({Role.admin, Role.street_admin, Role.community_admin})
FULL_PHONE_ROLES = FULL_PERSONAL_DATA_ROLES | {Role.dispatcher, Role.grid_worker, Role.dept_handler}

# Roles allowed to see person-level registers at all (以房管人 ledgers).
PERSON_REGISTER_ROLES = FULL_PERSONAL_DATA_ROLES | {Role.grid_worker}

# Roles that edit grid boundaries.
GRID_EDIT_ROLES = frozenset({Role.admin, Role.street_admin, Role.planner})


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated user as seen by layer functions."""

    user_id: int
    username: str
    role: Role
    area_id: int
    area_code: str
    area_prefix: str
    department_id: int | None = None
    full_name: str = ""

    def sees_full_personal_data(self) -> bool:
        """Whether ID numbers are shown unmasked to this user."""
        return self.role in FULL_PERSONAL_DATA_ROLES

    def sees_full_phones(self) -> bool:
        """Whether phone numbers are shown unmasked to this user."""
        return self.role in FULL_PHONE_ROLES

    def may_edit_grids(self) -> bool:
        """Whether this user may draw, split, merge or retire grids."""
        return self.role in GRID_EDIT_ROLES

    def may_read_person_register(self) -> bool:
        """Whether this user may read person-level registers at all."""
        return self.role in PERSON_REGISTER_ROLES


def mask_phone(phone: str | None) -> str | None:
    """Mask a phone number keeping the first 3 and last 4 digits: 138****5678."""
    if not phone:
        return phone
    if len(phone) <= 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_id_number(id_number: str | None) -> str | None:
    """Mask an 18-digit resident ID, keeping the region (6 digits) and the check digit."""
    if not id_number:
        return id_number
    if len(id_number) < 8:
        return "*" * len(id_number)
    return id_number[:6] + "*" * (len(id_number) - 7) + id_number[-1]


def mask_name(name: str | None) -> str | None:
    """Mask a personal name keeping the family name: 张** (names are personal data too)."""
    if not name:
        return name
    return name[0] + "*" * (len(name) - 1)
