"""User accounts: authentication and the principal a session acts as."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from layers.access import Principal
from layers.audit import record
from layers.errors import AuthenticationFailed
from layers.models import AdminUnit, User
from layers.models.users import Role
from layers.security import hash_password, needs_rehash, verify_password

# Verifying against a fixed dummy hash when the user does not exist keeps the response time of
# "no such user" and "wrong password" alike, so usernames cannot be probed by timing.
_DUMMY_HASH = hash_password("wangge-timing-equaliser")


def authenticate(
    session: Session, *, username: str, password: str, client_ip: str | None
) -> User | None:
    """Return the active user with these credentials, or None.

    Every attempt, failed or not, is written to the audit log. A failure is returned rather than
    raised so that the caller's transaction (holding the audit row) still commits.
    """
    user = session.scalars(select(User).where(User.username == username.strip().lower())).first()
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, password)
    if not user or not ok or not user.is_active:
        record(
            session,
            action="login_failed",
            resource="users",
            username=username[:64],
            client_ip=client_ip,
        )
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = datetime.now(UTC)
    record(
        session,
        action="login",
        resource="users",
        resource_ids=[user.id],
        user_id=user.id,
        username=user.username,
        client_ip=client_ip,
    )
    return user


def load_principal(session: Session, user_id: int) -> Principal:
    """Load the active user with their area, as a Principal; AuthenticationFailed if gone."""
    row = session.execute(
        select(User, AdminUnit)
        .join(AdminUnit, AdminUnit.id == User.area_id)
        .where(User.id == user_id)
    ).first()
    if row is None or not row.User.is_active:
        raise AuthenticationFailed("The account is missing or disabled", "账号不存在或已停用")
    user, area = row.User, row.AdminUnit
    return Principal(
        user_id=user.id,
        username=user.username,
        role=Role(user.role),
        area_id=area.id,
        area_code=area.code,
        area_prefix=area.prefix,
        department_id=user.department_id,
        full_name=user.full_name,
    )
