"""Patrols (巡查) of places by grid workers, with GPS point and checklist answers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from layers.base import Base, CreatedAtMixin
from layers.models._columns import geometry


class Patrol(CreatedAtMixin, Base):
    """One patrol record of a place."""

    __tablename__ = "patrols"
    __table_args__ = (
        CheckConstraint("result IN ('ok', 'problem')", name="result_known"),
        CheckConstraint("geom IS NULL OR ST_IsValid(geom)", name="geom_valid"),
        Index("ix_patrols_geom_gist", "geom", postgresql_using="gist"),
        Index("ix_patrols_worker_at", "worker_id", "patrolled_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    place_id: Mapped[int] = mapped_column(ForeignKey("places.id", ondelete="RESTRICT"), index=True)
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    grid_id: Mapped[int | None] = mapped_column(
        ForeignKey("grids.id", ondelete="SET NULL"), index=True
    )
    patrolled_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    geom = mapped_column(geometry("POINT"), nullable=True)
    answers: Mapped[dict[str, object]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    result: Mapped[str] = mapped_column(String(16), server_default=text("'ok'"))
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="SET NULL"), index=True
    )
    # Added by migration 0007: the checklist the answers belong to (NULL for older records).
    checklist_kind: Mapped[str | None] = mapped_column(String(32))


class PatrolChecklistItem(Base):
    """One item of a department checklist (傻瓜式清单); a failed item becomes an incident."""

    __tablename__ = "patrol_checklist_items"
    __table_args__ = (
        CheckConstraint("code ~ '^[a-z0-9_]{2,64}$'", name="code_format"),
        CheckConstraint("risk_level IN ('high', 'medium', 'low')", name="risk_known"),
    )

    checklist_kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    text_zh: Mapped[str] = mapped_column(String(200))
    text_en: Mapped[str] = mapped_column(String(200))
    category_code: Mapped[str] = mapped_column(
        ForeignKey("incident_categories.code", ondelete="RESTRICT"), index=True
    )
    risk_level: Mapped[str] = mapped_column(String(8), server_default=text("'medium'"))
    sort_order: Mapped[int] = mapped_column(Integer, server_default=text("0"))
