"""Writing the audit log. Every read or change of personal data and every login goes here."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from layers.access import Principal
from layers.models import AuditLog


def record(
    session: Session,
    *,
    action: str,
    resource: str,
    resource_ids: Iterable[int] = (),
    fields: Iterable[str] = (),
    unmasked: bool = False,
    principal: Principal | None = None,
    user_id: int | None = None,
    username: str | None = None,
    client_ip: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one audit row in the caller's transaction (so it commits or rolls back with it)."""
    session.execute(
        insert(AuditLog).values(
            user_id=principal.user_id if principal else user_id,
            username=principal.username if principal else username,
            action=action,
            resource=resource,
            resource_ids=list(resource_ids),
            fields=list(fields),
            unmasked=unmasked,
            detail=detail or {},
            client_ip=client_ip,
        )
    )
