"""What every kind of ledger provides to the importer and the exporter."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session

from layers.access import Principal
from layers.ledger.columns import LedgerSpec
from layers.ledger.rows import Location, RowContext


@dataclass(slots=True)
class WriteResult:
    """What a write step did: rows created and updated per table, ids of touched records."""

    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: int = 0
    # Ids of the records the audit row names (persons for the persons ledger, ...).
    ids: list[int] = field(default_factory=list)


class LedgerKindHandler(Protocol):
    """One kind of ledger: how its rows are parsed, staged, checked, written and exported."""

    spec: LedgerSpec
    # Staging columns beyond :data:`layers.ledger.staging.LOCATION_COLUMNS` (name, SQL type),
    # and which of them :meth:`parse` fills (in order).
    staging_columns: tuple[tuple[str, str], ...]
    input_columns: tuple[str, ...]
    # Whether rows must resolve to a building (persons, houses) or only to a point (places).
    needs_building: bool
    # Further temporary tables the kind's checks create (dropped after the import).
    temp_tables: tuple[str, ...]

    def parse(self, ctx: RowContext, loc: Location) -> Sequence[Any] | None:
        """The values of :attr:`input_columns` for one row, or None when the row is bad."""
        ...

    def check(self, session: Session, principal: Principal) -> None:
        """Set-based checks after the location steps (problems into ``ledger_problems``)."""
        ...

    def write(self, session: Session, principal: Principal) -> WriteResult:
        """Write the good rows with INSERT … SELECT / UPDATE … FROM; return what happened."""
        ...

    def export_rows(self, session: Session, principal: Principal) -> tuple[list[str], Any]:
        """(keys of the exported columns, result rows) of the records in the principal's area."""
        ...
