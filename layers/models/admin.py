"""Administrative units: district (区) → street/town (街道/镇) → community/village (社区/村)."""

from __future__ import annotations

import enum

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from layers.base import Base, CreatedAtMixin
from layers.models._columns import geometry, geometry_checks


class AdminLevel(enum.StrEnum):
    """Levels of the administrative hierarchy kept by Wangge."""

    district = "district"
    street = "street"
    community = "community"


# GB/T 2260-based 12-digit statistical codes: 6 digits district, 3 street, 3 community.
# A district ends in 000000, a street in 000; the significant prefix of a code is therefore
# 6, 9 or 12 digits, and a row lies inside an area exactly when its code starts with that prefix.
ADMIN_PREFIX_LENGTH = {AdminLevel.district: 6, AdminLevel.street: 9, AdminLevel.community: 12}


class AdminUnit(CreatedAtMixin, Base):
    """One administrative unit with its boundary."""

    __tablename__ = "admin_units"
    __table_args__ = (
        CheckConstraint("code ~ '^[0-9]{12}$'", name="code_12_digits"),
        CheckConstraint("level IN ('district', 'street', 'community')", name="level_known"),
        CheckConstraint(
            "(level = 'district' AND code LIKE '%000000')"
            " OR (level = 'street' AND code LIKE '%000' AND code NOT LIKE '%000000')"
            " OR (level = 'community' AND code NOT LIKE '%000')",
            name="code_matches_level",
        ),
        CheckConstraint("(level = 'district') OR parent_id IS NOT NULL", name="parent_required"),
        *geometry_checks("admin_units"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("admin_units.id", ondelete="RESTRICT"), index=True
    )
    geom = mapped_column(geometry("MULTIPOLYGON"), nullable=False)

    parent: Mapped[AdminUnit | None] = relationship(remote_side=[id])

    @property
    def prefix(self) -> str:
        """The significant code prefix that every unit and grid inside this one starts with."""
        return self.code[: ADMIN_PREFIX_LENGTH[AdminLevel(self.level)]]
