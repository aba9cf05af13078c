"""Persons (人) in households, and the care groups they are served under.

Personal data (GB/T 35273 / 个人信息保护法): ``id_number`` and ``phone`` are sensitive. They are
stored in full for the roles whose duty needs them and masked on every other read; every read or
change of a person row is audited (layers.privacy). Care-group categories are configuration owned
by the deploying authority; the product ships only service-oriented defaults (the care groups of
DOMAIN.md, seeded by migration 0002) and never categories of ethnicity, religion or
political opinion.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from layers.base import Base, CreatedAtMixin


class Person(CreatedAtMixin, Base):
    """A resident, located through household → house → building → grid."""

    __tablename__ = "persons"
    __table_args__ = (
        CheckConstraint("gender IN ('male', 'female')", name="gender_known"),
        CheckConstraint("residence IN ('registered', 'floating')", name="residence_known"),
        CheckConstraint("id_number IS NULL OR id_number ~ '^[0-9]{17}[0-9X]$'", name="id_format"),
        CheckConstraint("phone IS NULL OR phone ~ '^[0-9+ -]{5,20}$'", name="phone_format"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(
        ForeignKey("households.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))
    gender: Mapped[str] = mapped_column(String(8))
    birth_date: Mapped[date | None] = mapped_column(Date)
    id_number: Mapped[str | None] = mapped_column(String(18), unique=True)
    phone: Mapped[str | None] = mapped_column(String(20))
    residence: Mapped[str] = mapped_column(String(16), server_default=text("'registered'"))
    relation_to_head: Mapped[str | None] = mapped_column(String(16))


class CareGroupCategory(Base):
    """A configurable care-group category (关爱对象类别)."""

    __tablename__ = "care_group_categories"
    __table_args__ = (CheckConstraint("code ~ '^[a-z_]{2,32}$'", name="code_format"),)

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(128))
    sort_order: Mapped[int] = mapped_column(Integer, server_default=text("100"))
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))


class PersonCareGroup(CreatedAtMixin, Base):
    """A person filed under a care group, with the responsible team (包保) and visit interval."""

    __tablename__ = "person_care_groups"
    __table_args__ = (
        CheckConstraint("visit_interval_days BETWEEN 1 AND 366", name="visit_interval_range"),
    )

    person_id: Mapped[int] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True
    )
    category_code: Mapped[str] = mapped_column(
        ForeignKey("care_group_categories.code", ondelete="RESTRICT"), primary_key=True, index=True
    )
    since: Mapped[date] = mapped_column(Date, server_default=text("CURRENT_DATE"))
    responsible_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    visit_interval_days: Mapped[int] = mapped_column(Integer, server_default=text("30"))
    note: Mapped[str | None] = mapped_column(Text)
