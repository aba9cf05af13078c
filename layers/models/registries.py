"""Registry tables added by migration 0004: visits, tenancies, and columns on persons and places.

* ``visits``: a visit (走访) to a person filed under a care group — who visited, when, where
  (optional GPS point), and a note. The overdue list compares a person's last visit with the
  shortest visit interval of their care-group filings.
* ``tenancies``: rental houses over time (出租房屋). Each row is one tenant household renting one
  house from a landlord (a registered person, or a name when the landlord is not registered
  here) between ``started_on`` and ``ended_on`` (both inclusive; open-ended while current). An
  exclusion constraint forbids two overlapping tenancies of the same household in the same
  house; landlord and tenant changes are new rows, so the history is kept.
* ``persons.is_active`` / ``left_on`` / ``left_reason``: a person is never deleted through the
  API; moving away or death deactivates the record (it keeps its audit trail and history).
* ``places.checklist_kind``: which department checklist (傻瓜式清单) grid workers use when they
  patrol the place.

The new columns of ``persons`` and ``places`` are appended to the existing declarative classes
here (SQLAlchemy supports assigning a ``Column`` to a mapped class after it is declared), so this
module owns everything migration 0004 creates. Importing :mod:`layers.models` registers them.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column

from layers.base import Base, CreatedAtMixin
from layers.models._columns import geometry
from layers.models.persons import Person
from layers.models.places import Place

# Department checklists (傻瓜式清单) a place can be patrolled with, with Chinese labels.
CHECKLIST_KINDS = {
    "fire_safety": "消防安全",
    "co_poisoning": "防一氧化碳中毒",
    "drowning": "防溺水",
    "food_safety": "食品安全",
    "construction_safety": "建筑施工安全",
    "three_in_one": "三合一场所安全",
    "public_health": "公共卫生",
    "general": "综合巡查",
}

# The checklist a new place gets when none is named (the department may change it).
DEFAULT_CHECKLIST_BY_PLACE_KIND = {
    "school": "fire_safety",
    "kindergarten": "fire_safety",
    "hospital": "fire_safety",
    "shop": "fire_safety",
    "restaurant": "food_safety",
    "hotel": "fire_safety",
    "rental": "co_poisoning",
    "three_in_one": "three_in_one",
    "small_workshop": "fire_safety",
    "small_stall": "food_safety",
    "small_entertainment": "fire_safety",
    "market": "food_safety",
    "construction_site": "construction_safety",
}

# Why a person record was deactivated (迁出 / 死亡 / 其他).
LEFT_REASONS = {"moved_away": "迁出", "deceased": "死亡", "other": "其他"}


def _sql_list(values: object) -> str:
    return ", ".join(f"'{v}'" for v in values)  # type: ignore[attr-defined]


class Visit(CreatedAtMixin, Base):
    """One visit (走访) of a grid worker or team member to a person."""

    __tablename__ = "visits"
    __table_args__ = (
        CheckConstraint("geom IS NULL OR ST_IsValid(geom)", name="geom_valid"),
        CheckConstraint("geom IS NULL OR NOT ST_IsEmpty(geom)", name="geom_not_empty"),
        CheckConstraint("note IS NULL OR char_length(note) <= 2000", name="note_length"),
        Index("ix_visits_geom_gist", "geom", postgresql_using="gist"),
        # the overdue list reads each person's latest visit
        Index("ix_visits_person_at", "person_id", "visited_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    visitor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    visited_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    geom = mapped_column(geometry("POINT"), nullable=True)
    note: Mapped[str | None] = mapped_column(Text)


class Tenancy(CreatedAtMixin, Base):
    """A tenant household renting a house from a landlord over a date range (inclusive)."""

    __tablename__ = "tenancies"
    __table_args__ = (
        CheckConstraint("ended_on IS NULL OR ended_on >= started_on", name="dates_ordered"),
        CheckConstraint(
            "landlord_person_id IS NOT NULL OR landlord_name IS NOT NULL", name="landlord_given"
        ),
        CheckConstraint(
            "landlord_phone IS NULL OR landlord_phone ~ '^[0-9+ -]{5,20}$'",
            name="landlord_phone_format",
        ),
        # One household cannot rent the same house twice over overlapping dates; daterange
        # '[]' makes both ends inclusive and a NULL end open (a current tenancy).
        ExcludeConstraint(
            ("house_id", "="),
            ("tenant_household_id", "="),
            (func.daterange(text("started_on"), text("ended_on"), text("'[]'")), "&&"),
            name="ex_tenancies_no_overlap",
            using="gist",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    house_id: Mapped[int] = mapped_column(ForeignKey("houses.id", ondelete="RESTRICT"), index=True)
    landlord_person_id: Mapped[int | None] = mapped_column(
        ForeignKey("persons.id", ondelete="RESTRICT"), index=True
    )
    landlord_name: Mapped[str | None] = mapped_column(String(64))
    landlord_phone: Mapped[str | None] = mapped_column(String(20))
    tenant_household_id: Mapped[int] = mapped_column(
        ForeignKey("households.id", ondelete="RESTRICT"), index=True
    )
    started_on: Mapped[date] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)


# --------------------------------------------------------------------------------------------
# Columns appended to persons and places (declared here so migration 0004 owns them)
# --------------------------------------------------------------------------------------------

PERSON_IS_ACTIVE: Column[bool] = Column(
    "is_active", Boolean, nullable=False, server_default=text("true")
)
PERSON_LEFT_ON: Column[date] = Column("left_on", Date, nullable=True)
PERSON_LEFT_REASON: Column[str] = Column("left_reason", String(16), nullable=True)
PLACE_CHECKLIST_KIND: Column[str] = Column("checklist_kind", String(32), nullable=True)

for _cls, _name, _column in (
    (Person, "is_active", PERSON_IS_ACTIVE),
    (Person, "left_on", PERSON_LEFT_ON),
    (Person, "left_reason", PERSON_LEFT_REASON),
    (Place, "checklist_kind", PLACE_CHECKLIST_KIND),
):
    # Declarative intercepts the assignment: the column joins the table and the mapper.
    setattr(_cls, _name, _column)

Person.__table__.append_constraint(  # type: ignore[attr-defined]
    CheckConstraint(
        f"left_reason IS NULL OR left_reason IN ({_sql_list(LEFT_REASONS)})",
        name="left_reason_known",
    )
)
Person.__table__.append_constraint(  # type: ignore[attr-defined]
    CheckConstraint(
        "(is_active AND left_on IS NULL AND left_reason IS NULL)"
        " OR (NOT is_active AND left_on IS NOT NULL AND left_reason IS NOT NULL)",
        name="left_when_inactive",
    )
)
Place.__table__.append_constraint(  # type: ignore[attr-defined]
    CheckConstraint(
        f"checklist_kind IS NULL OR checklist_kind IN ({_sql_list(CHECKLIST_KINDS)})",
        name="checklist_kind_known",
    )
)
