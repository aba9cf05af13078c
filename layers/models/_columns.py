"""Shared column and constraint builders for geometry columns."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Index

from geoalchemy2 import Geometry

from layers.base import STORAGE_SRID


def geometry(kind: str) -> Geometry:
    """A typed geometry column in the storage SRID; the GiST index is declared explicitly."""
    return Geometry(geometry_type=kind, srid=STORAGE_SRID, spatial_index=False)


def geometry_checks(table: str, column: str = "geom") -> tuple[CheckConstraint | Index, ...]:
    """Validity and non-emptiness checks plus the GiST index for one geometry column."""
    return (
        CheckConstraint(f"ST_IsValid({column})", name=f"{column}_valid"),
        CheckConstraint(f"NOT ST_IsEmpty({column})", name=f"{column}_not_empty"),
        Index(f"ix_{table}_{column}_gist", column, postgresql_using="gist"),
    )
