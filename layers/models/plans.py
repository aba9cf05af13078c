"""Draft grid plans (网格调整方案): edits collected before they are published as new versions.

A planner never edits a grid row. They open a *draft plan* for a community or a street and add
edits to it (create, reshape, split, merge, retire, set attributes); each edit records the grid
keys it consumed with the versions it was made against, and the grids it produced as
``grid_plan_parts`` rows. Nothing in ``grids`` changes until the plan is published: then, in one
transaction, the versions are re-checked, the old versions closed at the effective time and the
surviving parts inserted as new versions with lineage.

Keys: a part is identified inside its plan by a *key*. A part that keeps an existing grid's code
(reshape, set attributes, a neighbour adjusted by a reshape) has that 15-digit code as key; a
part that will get a new code (split, merge, create) has a provisional key ``new-<seq>-<n>``.
A current grid's key is its code. The draft's resulting grid set is therefore: the current grids
of the plan's area whose key no active edit consumed, plus the parts of active edits whose key
no *later* active edit consumed (see :func:`layers.grids.plans.draft_grid_set`).

``sizing_targets`` holds the household range per sizing type (DOMAIN.md: scattered 120–160,
compound 200–250, bungalow 80–120), seeded by migration 0005 and editable per deployment.
``grid_sizhi_overrides`` keeps a 四至 text typed by a planner for one grid version, so that
regenerating the texts after an edit never overwrites it.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
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


class PlanStatus(enum.StrEnum):
    """Life of a plan: a draft is published once or abandoned; both are final."""

    draft = "draft"
    published = "published"
    abandoned = "abandoned"


class EditOp(enum.StrEnum):
    """The kinds of edit a draft plan collects."""

    create = "create"
    reshape = "reshape"
    split = "split"  # type: ignore[assignment]  # the member shadows str.split, harmlessly
    merge = "merge"
    retire = "retire"
    set_attributes = "set_attributes"


def _in(values: type[enum.StrEnum]) -> str:
    return ", ".join(f"'{v.value}'" for v in values)


class GridPlan(CreatedAtMixin, Base):
    """A draft (or published, or abandoned) set of grid edits for one community or street."""

    __tablename__ = "grid_plans"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(PlanStatus)})", name="status_known"),
        CheckConstraint("length(trim(name)) > 0", name="named"),
        CheckConstraint(
            "status <> 'published' OR (published_at IS NOT NULL AND effective_at IS NOT NULL)",
            name="published_has_times",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    scope_unit_id: Mapped[int] = mapped_column(
        ForeignKey("admin_units.id", ondelete="RESTRICT"),
        index=True,
        comment="the community or street whose grids the plan edits",
    )
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'draft'"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    effective_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    published_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    closed_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="when the plan was published or abandoned"
    )


class GridPlanEdit(CreatedAtMixin, Base):
    """One edit of a draft plan: what it consumed (keys + versions) and how it was asked for."""

    __tablename__ = "grid_plan_edits"
    __table_args__ = (
        CheckConstraint(f"op IN ({_in(EditOp)})", name="op_known"),
        CheckConstraint("seq >= 1", name="seq_positive"),
        CheckConstraint(
            "cardinality(source_keys) = cardinality(source_versions)", name="sources_paired"
        ),
        UniqueConstraint("plan_id", "seq"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("grid_plans.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    op: Mapped[str] = mapped_column(String(16))
    # Keys consumed by the edit and, paired by position, the grid version each was made
    # against: a number for a current grid (checked again at publish), NULL for a part made by
    # an earlier edit of the same draft.
    source_keys: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    source_versions: Mapped[list[int | None]] = mapped_column(ARRAY(Integer))
    params: Mapped[dict[str, Any]] = mapped_column(
        JSONB, server_default=text("'{}'::jsonb"), comment="the request: line, k, attributes"
    )
    undone: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class GridPlanPart(Base):
    """One grid produced by an edit: key, attributes and geometry (EPSG:4326)."""

    __tablename__ = "grid_plan_parts"
    __table_args__ = (
        CheckConstraint("kind IN ('basic', 'micro', 'special')", name="kind_known"),
        CheckConstraint(
            "sizing_type IN ('scattered', 'compound', 'bungalow', 'special')",
            name="sizing_type_known",
        ),
        CheckConstraint("key ~ '^([0-9]{15}|new-[0-9]+-[0-9]+)$'", name="key_format"),
        UniqueConstraint("edit_id", "key"),
        *geometry_checks("grid_plan_parts"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    edit_id: Mapped[int] = mapped_column(
        ForeignKey("grid_plan_edits.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    sizing_type: Mapped[str] = mapped_column(String(16))
    community_id: Mapped[int] = mapped_column(ForeignKey("admin_units.id", ondelete="RESTRICT"))
    parent_grid_code: Mapped[str | None] = mapped_column(
        ForeignKey("grid_codes.code", ondelete="RESTRICT")
    )
    sizhi: Mapped[str | None] = mapped_column(Text, comment="四至 typed by the planner, if any")
    geom = mapped_column(geometry("MULTIPOLYGON"), nullable=False)


class SizingTarget(Base):
    """The household range a grid of one sizing type should hold (configurable)."""

    __tablename__ = "sizing_targets"
    __table_args__ = (
        CheckConstraint(
            "sizing_type IN ('scattered', 'compound', 'bungalow', 'special')",
            name="sizing_type_known",
        ),
        CheckConstraint(
            "min_households >= 0 AND max_households >= min_households", name="range_ordered"
        ),
    )

    sizing_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    min_households: Mapped[int] = mapped_column(Integer)
    max_households: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class GridSizhiOverride(Base):
    """A 四至 text typed by a planner for one grid version; regeneration leaves it alone."""

    __tablename__ = "grid_sizhi_overrides"
    __table_args__ = (CheckConstraint("length(trim(text)) > 0", name="not_blank"),)

    grid_id: Mapped[int] = mapped_column(
        ForeignKey("grids.id", ondelete="CASCADE"), primary_key=True
    )
    text: Mapped[str] = mapped_column(Text)
    edited_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    edited_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
