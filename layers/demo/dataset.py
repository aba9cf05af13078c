"""The generated demo as tables of numpy columns, serialised in PostgreSQL COPY text format.

One serialisation serves three purposes: the files ``wangge demo generate`` writes (one
``<table>.tsv`` per table plus ``manifest.json``), the determinism digest, and the stream the
loader sends through ``COPY ... FROM STDIN``. Row ids are local (1..n per table) in the
generator and the files; the loader shifts them into ranges it reserved in the database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

import shapely

from layers.base import STORAGE_SRID
from layers.demo.arrays import NULL, STR, IntArray, StrArray, cat
from layers.demo.geometry import COORD_DECIMALS

#: Rows per COPY chunk (bounds the memory of the text being built).
CHUNK_ROWS = 100_000


@dataclass
class Table:
    """One table: columns named as in the database, in COPY order.

    ``refs`` maps a foreign-key column to the table it points at; its values are local ids of
    that table, with 0 for NULL. Text columns hold :data:`~layers.demo.arrays.NULL` for NULL;
    geometry columns hold shapely geometries in EPSG:4326 (None for NULL).
    """

    name: str
    columns: dict[str, npt.NDArray[Any]]
    refs: dict[str, str] = field(default_factory=dict)
    geometry: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        lengths = {len(v) for v in self.columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"{self.name}: columns of different lengths {lengths}")

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))

    @property
    def has_id(self) -> bool:
        """Whether rows carry a local ``id`` (a serial column in the database)."""
        return "id" in self.columns

    def _text(self, column: str, rows: slice, id_maps: dict[str, IntArray] | None) -> StrArray:
        values = self.columns[column][rows]
        if column in self.geometry:
            missing = shapely.is_missing(values)
            text = np.full(len(values), NULL, dtype=STR)
            if not missing.all():
                wkt = shapely.to_wkt(values[~missing], rounding_precision=COORD_DECIMALS, trim=True)
                text[~missing] = cat(f"SRID={STORAGE_SRID};", wkt.astype(STR))
            return text
        target = self.name if column == "id" else self.refs.get(column)
        if target is not None:
            local = values.astype(np.int64)
            mapped = local if id_maps is None else id_maps[target][local]
            return np.where(local == 0, NULL, mapped.astype(STR))
        if values.dtype == np.bool_:
            return np.where(values, "t", "f").astype(STR)
        if values.dtype.kind in "iu":
            return values.astype(STR)
        if values.dtype.kind == "f":
            return np.where(np.isnan(values), NULL, np.round(values, 2).astype(STR))
        return values.astype(STR)

    def copy_chunks(
        self, id_maps: dict[str, IntArray] | None = None, rows: int = CHUNK_ROWS
    ) -> Iterator[str]:
        """The rows as COPY text (tab-separated, ``\\N`` for NULL), in chunks of lines."""
        for start in range(0, len(self), rows):
            part = slice(start, start + rows)
            cols = [self._text(c, part, id_maps) for c in self.columns]
            line = cols[0]
            for col in cols[1:]:
                line = np.strings.add(np.strings.add(line, "\t"), col)
            yield "\n".join(line.tolist()) + "\n"


@dataclass
class DemoDataset:
    """Every table of the demo street, in load order (parents before children)."""

    seed: int
    scale: str
    reference_time: str
    tables: dict[str, Table]
    timings: dict[str, float] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Row count per table."""
        return {name: len(t) for name, t in self.tables.items()}

    def table_digests(self) -> dict[str, str]:
        """SHA-256 of each table's COPY text (local ids)."""
        out = {}
        for name, table in self.tables.items():
            h = hashlib.sha256()
            for chunk in table.copy_chunks():
                h.update(chunk.encode("utf-8"))
            out[name] = h.hexdigest()
        return out

    def digest(self) -> str:
        """One SHA-256 over every table: equal digests mean identical generated data."""
        h = hashlib.sha256()
        for name, table_digest in self.table_digests().items():
            h.update(f"{name}:{table_digest}\n".encode())
        return h.hexdigest()

    def write(self, out: Path) -> dict[str, object]:
        """Write ``<table>.tsv`` (COPY text, local ids) and ``manifest.json`` into ``out``."""
        out.mkdir(parents=True, exist_ok=True)
        files = {}
        for name, table in self.tables.items():
            h = hashlib.sha256()
            path = out / f"{name}.tsv"
            with path.open("w", encoding="utf-8", newline="") as fh:
                fh.write("\t".join(table.columns) + "\n")
                for chunk in table.copy_chunks():
                    fh.write(chunk)
                    h.update(chunk.encode("utf-8"))
            files[name] = {"file": path.name, "rows": len(table), "sha256": h.hexdigest()}
        digest = hashlib.sha256()
        for name, info in files.items():
            digest.update(f"{name}:{info['sha256']}\n".encode())
        manifest: dict[str, object] = {
            "generator": "layers.demo",
            "seed": self.seed,
            "scale": self.scale,
            "reference_time": self.reference_time,
            "crs": f"EPSG:{STORAGE_SRID} (lon/lat), rounded to 1e-{COORD_DECIMALS} degree",
            "format": "PostgreSQL COPY text, a header line of column names; ids are local (1..n)",
            "digest": digest.hexdigest(),
            "tables": files,
        }
        (out / "manifest.json").write_text(
            json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        return manifest
