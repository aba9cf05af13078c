"""Autogenerate filters shared by env.py and the drift test (importable outside alembic)."""

from __future__ import annotations

from typing import Any

from geoalchemy2 import alembic_helpers

# Tables PostGIS and its extensions own; never compared, never dropped.
EXTENSION_TABLES = {"spatial_ref_sys", "topology", "layer"}


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Skip extension tables and let geoalchemy2 handle spatial indexes."""
    if type_ == "table" and name in EXTENSION_TABLES:
        return False
    return bool(alembic_helpers.include_object(obj, name, type_, reflected, compare_to))
