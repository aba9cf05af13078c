"""Departments (委办/职能部门) and users with their role and area of duty."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from layers.base import Base, CreatedAtMixin
from layers.models.admin import AdminUnit


class Role(enum.StrEnum):
    """Roles; each user has one, scoped to one administrative area."""

    admin = "admin"
    street_admin = "street_admin"
    community_admin = "community_admin"
    planner = "planner"
    dispatcher = "dispatcher"
    grid_worker = "grid_worker"
    dept_handler = "dept_handler"


ROLE_LABELS_ZH = {
    Role.admin: "系统管理员",
    Role.street_admin: "街道管理员",
    Role.community_admin: "社区管理员",
    Role.planner: "网格规划员",
    Role.dispatcher: "综治中心调度员",
    Role.grid_worker: "网格员",
    Role.dept_handler: "部门处置人员",
}

_ROLE_SQL_LIST = ", ".join(f"'{r.value}'" for r in Role)


class Department(CreatedAtMixin, Base):
    """A responsible department (委办/职能部门) at some administrative level."""

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    admin_unit_id: Mapped[int] = mapped_column(
        ForeignKey("admin_units.id", ondelete="RESTRICT"), index=True
    )
    phone: Mapped[str | None] = mapped_column(String(32))

    admin_unit: Mapped[AdminUnit] = relationship()


class User(CreatedAtMixin, Base):
    """A person who logs in. ``area_id`` bounds every row the user may see."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(f"role IN ({_ROLE_SQL_LIST})", name="role_known"),
        CheckConstraint(
            "role <> 'dept_handler' OR department_id IS NOT NULL", name="handler_has_department"
        ),
        CheckConstraint("username ~ '^[a-z0-9_.-]{3,64}$'", name="username_format"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    area_id: Mapped[int] = mapped_column(
        ForeignKey("admin_units.id", ondelete="RESTRICT"), index=True
    )
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id", ondelete="RESTRICT"), index=True
    )
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    area: Mapped[AdminUnit] = relationship()
    department: Mapped[Department | None] = relationship()
