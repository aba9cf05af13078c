"""Audit log: every read and change of personal data, every login. Append-only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, String, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from layers.base import Base


class AuditLog(Base):
    """One audited action. Rows are only ever inserted; a trigger refuses UPDATE and DELETE."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_user_at", "user_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # No foreign key on purpose: the log outlives accounts and must never be rewritten (a
    # SET NULL on delete would be an UPDATE). The username is kept beside the id.
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    username: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    resource: Mapped[str] = mapped_column(String(64))
    resource_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), server_default=text("'{}'"))
    fields: Mapped[list[str]] = mapped_column(ARRAY(String(64)), server_default=text("'{}'"))
    unmasked: Mapped[bool] = mapped_column(server_default=text("false"))
    detail: Mapped[dict[str, object]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    client_ip: Mapped[str | None] = mapped_column(String(64))
