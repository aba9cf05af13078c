"""Incidents (事件) and their audited steps through the closed loop.

The workflow itself (who may move an incident from which status to which) lives in the
incident layer; the database keeps the vocabulary and the invariants that must hold whatever
code writes: known statuses, known channels and risk levels, and that a closed incident has a
closing time.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from layers.base import Base, CreatedAtMixin
from layers.models._columns import geometry, geometry_checks

INCIDENT_STATUSES = (
    "reported",
    "dispatched",
    "accepted",
    "handling",
    "handled",
    "verified",
    "closed",
    "returned",
    "deferred",
    "escalated",
)
CHANNELS = ("grid_worker", "hotline_12345", "walk_in", "patrol")
RISK_LEVELS = ("high", "medium", "low")
# Escalation ladder (小事不出网格、大事不出社区): the level that currently owns the incident.
ESCALATION_LEVELS = ("grid", "community", "street", "district")
SUPERVISION_LEVELS = ("none", "normal", "yellow", "red")
PHOTO_MEDIA_TYPES = ("image/jpeg", "image/png", "image/webp")


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


class IncidentCategory(Base):
    """A node of the configurable category tree (hazard → fire, dispute → neighbour, ...)."""

    __tablename__ = "incident_categories"
    __table_args__ = (
        CheckConstraint("code ~ '^[a-z_.]{2,64}$'", name="code_format"),
        CheckConstraint("time_limit_hours IS NULL OR time_limit_hours > 0", name="limit_positive"),
    )

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    parent_code: Mapped[str | None] = mapped_column(
        ForeignKey("incident_categories.code", ondelete="RESTRICT"), index=True
    )
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(128))
    time_limit_hours: Mapped[int | None] = mapped_column(Integer)


class Incident(CreatedAtMixin, Base):
    """One reported incident, located by a point and filed under a grid."""

    __tablename__ = "incidents"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(INCIDENT_STATUSES)})", name="status_known"),
        CheckConstraint(f"channel IN ({_in(CHANNELS)})", name="channel_known"),
        CheckConstraint(f"risk_level IN ({_in(RISK_LEVELS)})", name="risk_known"),
        CheckConstraint("status <> 'closed' OR closed_at IS NOT NULL", name="closed_has_time"),
        CheckConstraint("supervision IN ('none', 'normal', 'yellow', 'red')", name="supervision"),
        CheckConstraint(
            f"escalation_level IN ({_in(ESCALATION_LEVELS)})", name="escalation_level_known"
        ),
        CheckConstraint("duplicate_of IS NULL OR duplicate_of <> id", name="not_own_duplicate"),
        *geometry_checks("incidents"),
        Index("ix_incidents_reported_at", "reported_at"),
        Index("ix_incidents_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    category_code: Mapped[str] = mapped_column(
        ForeignKey("incident_categories.code", ondelete="RESTRICT"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'reported'"))
    channel: Mapped[str] = mapped_column(String(16))
    risk_level: Mapped[str] = mapped_column(String(8), server_default=text("'low'"))
    supervision: Mapped[str] = mapped_column(String(8), server_default=text("'none'"))
    handled_on_spot: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    geom = mapped_column(geometry("POINT"), nullable=False)
    address: Mapped[str | None] = mapped_column(String(255))
    grid_id: Mapped[int | None] = mapped_column(
        ForeignKey("grids.id", ondelete="SET NULL"), index=True
    )
    community_id: Mapped[int | None] = mapped_column(
        ForeignKey("admin_units.id", ondelete="SET NULL"), index=True
    )
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id", ondelete="SET NULL"), index=True
    )
    reported_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    reporter_name: Mapped[str | None] = mapped_column(String(64))
    reporter_phone: Mapped[str | None] = mapped_column(String(20))
    reported_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    deadline_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Added by migration 0007 (workflow): escalation, deferral (挂账), duplicates, border flag.
    escalation_level: Mapped[str] = mapped_column(String(16), server_default=text("'grid'"))
    deferred_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deferral_approved: Mapped[bool | None] = mapped_column(Boolean)
    duplicate_of: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="SET NULL"), index=True
    )
    # Ids of the grids whose boundary lies within the border distance of the point, when there
    # are two or more (the first is the grid it is filed under); empty otherwise.
    border_grid_ids: Mapped[list[int]] = mapped_column(
        ARRAY(Integer), server_default=text("'{}'::integer[]")
    )
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IncidentStep(Base):
    """One audited step of an incident: who did what, when, where, with which note."""

    __tablename__ = "incident_steps"
    __table_args__ = (
        CheckConstraint(f"to_status IN ({_in(INCIDENT_STATUSES)})", name="to_status_known"),
        Index("ix_incident_steps_incident_at", "incident_id", "at"),
        Index("ix_incident_steps_geom_gist", "geom", postgresql_using="gist"),
        CheckConstraint("geom IS NULL OR ST_IsValid(geom)", name="geom_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id", ondelete="SET NULL"), index=True
    )
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    note: Mapped[str | None] = mapped_column(Text)
    geom = mapped_column(geometry("POINT"), nullable=True)
    attachments: Mapped[list[dict[str, object]]] = mapped_column(
        JSONB, server_default=text("'[]'::jsonb")
    )


class IncidentTimeLimit(Base):
    """Time limit (hours) of a category at one risk level; overrides the category's own limit."""

    __tablename__ = "incident_time_limits"
    __table_args__ = (
        CheckConstraint(f"risk_level IN ({_in(RISK_LEVELS)})", name="risk_known"),
        CheckConstraint("limit_hours > 0", name="limit_positive"),
    )

    category_code: Mapped[str] = mapped_column(
        ForeignKey("incident_categories.code", ondelete="CASCADE"), primary_key=True
    )
    risk_level: Mapped[str] = mapped_column(String(8), primary_key=True)
    limit_hours: Mapped[int] = mapped_column(Integer)


class DispatchRule(CreatedAtMixin, Base):
    """Category + area → responsible department (归口管理); NULL category: 属地兜底."""

    __tablename__ = "dispatch_rules"
    __table_args__ = (
        UniqueConstraint(
            "category_code",
            "admin_unit_id",
            name="uq_dispatch_rules_category_area",
            postgresql_nulls_not_distinct=True,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    category_code: Mapped[str | None] = mapped_column(
        ForeignKey("incident_categories.code", ondelete="CASCADE"), index=True
    )
    admin_unit_id: Mapped[int] = mapped_column(
        ForeignKey("admin_units.id", ondelete="CASCADE"), index=True
    )
    department_id: Mapped[int] = mapped_column(
        ForeignKey("departments.id", ondelete="CASCADE"), index=True
    )


class IncidentDepartment(Base):
    """A department summoned to a joint case (网格吹哨) and its check-in (委办报到)."""

    __tablename__ = "incident_departments"

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    department_id: Mapped[int] = mapped_column(
        ForeignKey("departments.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    summoned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    summoned_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    checked_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    checked_in_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )


class IncidentPhoto(Base):
    """A stored photo (file on disk under the configured directory, metadata here)."""

    __tablename__ = "incident_photos"
    __table_args__ = (
        CheckConstraint(f"media_type IN ({_in(PHOTO_MEDIA_TYPES)})", name="media_type_known"),
        CheckConstraint("size_bytes > 0", name="size_positive"),
        CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256_format"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    step_id: Mapped[int | None] = mapped_column(
        ForeignKey("incident_steps.id", ondelete="SET NULL"), index=True
    )
    sha256: Mapped[str] = mapped_column(String(64))
    media_type: Mapped[str] = mapped_column(String(16))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    stored_name: Mapped[str] = mapped_column(String(128))
    uploaded_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
