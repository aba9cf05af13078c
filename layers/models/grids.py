"""Grids (网格): versioned boundaries with lineage, codes and staff.

Why versions: planners re-draw grids "适时进行动态调整". A grid row is one *version* of a grid;
an edit never overwrites a row, it closes the current version (``valid_to``) and inserts a new
one, linked to the versions it came from through ``grid_lineage``. The current map is the set of
rows with ``valid_to IS NULL``; a past map is the set valid at a timestamp. The identity of a grid
across versions is its 15-digit code (12-digit community code + 3-digit sequence), registered
once in ``grid_codes``: a retired code keeps its row there and is never handed out again. An
exclusion constraint forbids two versions of one code from being valid at the same time.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
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
from sqlalchemy.dialects.postgresql import ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from layers.base import Base, CreatedAtMixin
from layers.models._columns import geometry, geometry_checks
from layers.models.admin import AdminUnit


class GridKind(enum.StrEnum):
    """Basic grids, micro-grids below them, special grids for one institution."""

    basic = "basic"
    micro = "micro"
    special = "special"


class SizingType(enum.StrEnum):
    """How a grid is sized by households (DOMAIN.md: 120–160 / 200–250 / 80–120)."""

    scattered = "scattered"
    compound = "compound"
    bungalow = "bungalow"
    special = "special"


class StaffDuty(enum.StrEnum):
    """A person's duty in a grid (公示制度: name, phone, duties)."""

    leader = "leader"
    worker = "worker"
    collector = "collector"
    volunteer = "volunteer"


class GridCode(CreatedAtMixin, Base):
    """The registry of grid codes: one row per code ever issued, kept after retirement."""

    __tablename__ = "grid_codes"
    __table_args__ = (CheckConstraint("code ~ '^[0-9]{15}$'", name="code_15_digits"),)

    code: Mapped[str] = mapped_column(String(15), primary_key=True)
    community_id: Mapped[int] = mapped_column(
        ForeignKey("admin_units.id", ondelete="RESTRICT"), index=True
    )
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Grid(CreatedAtMixin, Base):
    """One version of a grid boundary with its attributes."""

    __tablename__ = "grids"
    __table_args__ = (
        CheckConstraint("kind IN ('basic', 'micro', 'special')", name="kind_known"),
        CheckConstraint(
            "sizing_type IN ('scattered', 'compound', 'bungalow', 'special')",
            name="sizing_type_known",
        ),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="validity_ordered"),
        CheckConstraint("kind <> 'micro' OR parent_grid_code IS NOT NULL", name="micro_has_parent"),
        UniqueConstraint("code", "version"),
        ExcludeConstraint(
            ("code", "="),
            (func.tstzrange(text("valid_from"), text("valid_to")), "&&"),
            name="ex_grids_one_version_at_a_time",
            using="gist",
        ),
        Index(
            "ix_grids_current_code", "code", unique=True, postgresql_where=text("valid_to IS NULL")
        ),
        *geometry_checks("grids"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(ForeignKey("grid_codes.code", ondelete="RESTRICT"))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16), server_default=text("'basic'"))
    sizing_type: Mapped[str] = mapped_column(String(16), server_default=text("'scattered'"))
    community_id: Mapped[int] = mapped_column(
        ForeignKey("admin_units.id", ondelete="RESTRICT"), index=True
    )
    parent_grid_code: Mapped[str | None] = mapped_column(
        ForeignKey("grid_codes.code", ondelete="RESTRICT"), index=True
    )
    sizhi: Mapped[str | None] = mapped_column(Text, comment="四至: what lies E/S/W/N")
    geom = mapped_column(geometry("MULTIPOLYGON"), nullable=False)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )

    community: Mapped[AdminUnit] = relationship()


class GridLineage(Base):
    """Which earlier versions a grid version came from (split, merge, reshape)."""

    __tablename__ = "grid_lineage"
    __table_args__ = (
        CheckConstraint(
            "relation IN ('reshape', 'split', 'merge', 'repair')", name="relation_known"
        ),
        CheckConstraint("grid_id <> source_grid_id", name="not_self"),
    )

    grid_id: Mapped[int] = mapped_column(
        ForeignKey("grids.id", ondelete="CASCADE"), primary_key=True
    )
    source_grid_id: Mapped[int] = mapped_column(
        ForeignKey("grids.id", ondelete="RESTRICT"), primary_key=True, index=True
    )
    relation: Mapped[str] = mapped_column(String(16))


class GridStaff(CreatedAtMixin, Base):
    """Grid leader, workers, information collectors and volunteers of a grid code."""

    __tablename__ = "grid_staff"
    __table_args__ = (
        CheckConstraint(
            "duty IN ('leader', 'worker', 'collector', 'volunteer')", name="duty_known"
        ),
        Index(
            "ix_grid_staff_one_leader",
            "grid_code",
            unique=True,
            postgresql_where=text("duty = 'leader'"),
        ),
    )

    grid_code: Mapped[str] = mapped_column(
        ForeignKey("grid_codes.code", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    duty: Mapped[str] = mapped_column(String(16))
