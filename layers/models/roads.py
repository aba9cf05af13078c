"""Named roads (LineStrings); used for 四至 text and as preferred grid borders."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from layers.base import Base, CreatedAtMixin
from layers.models._columns import geometry, geometry_checks


class Road(CreatedAtMixin, Base):
    """One named road segment."""

    __tablename__ = "roads"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('trunk', 'primary', 'secondary', 'residential', 'alley')", name="kind_known"
        ),
        CheckConstraint("length(trim(name)) > 0", name="named"),
        *geometry_checks("roads"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    geom = mapped_column(geometry("LINESTRING"), nullable=False)
