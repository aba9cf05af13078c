"""Checking one row's cells in Python, before anything reaches the database.

Everything a single cell can tell about itself is checked here, column by column, so that a
row with three bad cells gets three problems: required values, numbers, ID numbers and phones
(through :mod:`layers.registries.validation`), vocabularies, coordinates and their CRS. What
needs the database (does the address exist, is the point in a grid, is the ID number already
registered) is checked afterwards, set-based, in :mod:`layers.ledger.locate` and the kind
modules.

Coordinates are converted to storage lon/lat in bulk: every row's (x, y) is collected per CRS
and converted with one call of :func:`layers.spatial.crs.to_storage` per CRS.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from shapely import get_coordinates
from shapely.geometry import MultiPoint

from layers.errors import InvalidInput
from layers.ledger.address import (
    clean_room,
    clean_unit,
    floor_from_room,
    normalise,
    split_address,
)
from layers.ledger.columns import LedgerSpec
from layers.ledger.reading import ColumnMap, RawRow, looks_scientific
from layers.ledger.report import Problem, masked_value
from layers.spatial.crs import Crs, check_lonlat, parse_crs, to_storage

# A generous box around China (lon 73–136 E, lat 3–54 N): stored points outside it are typing
# errors (swapped longitude and latitude, a wrong CRS), never residents of a Chinese community.
CHINA_BOUNDS = (73.0, 3.0, 136.0, 54.0)

NUMERIC_ID_CELL_ZH = "身份证号被存为数字，已丢失位数，请将该列设为文本"
NUMERIC_ID_CELL_EN = (
    "The ID number was stored as a number and has lost digits: format the column as text"
)


@dataclass(slots=True)
class RowContext:
    """One row being checked: its cells by column key, and the problems found so far."""

    spec: LedgerSpec
    cmap: ColumnMap
    row: RawRow
    problems: list[Problem] = field(default_factory=list)

    def has(self, key: str) -> bool:
        """Whether the file has this column."""
        return key in self.cmap.index

    def text(self, key: str) -> str:
        """The cell of column ``key`` as stripped text ('' when the file lacks the column)."""
        position = self.cmap.index.get(key)
        if position is None or position >= len(self.row.cells):
            return ""
        return self.row.cells[position].strip()

    def header(self, key: str) -> str:
        """The column's header as written in the file, else the canonical one."""
        return self.cmap.headers.get(key) or self.spec.column(key).header

    def fail(self, key: str, code: str, zh: str, en: str) -> None:
        """Record a problem with column ``key`` of this row."""
        column = self.spec.by_key.get(key)
        value = masked_value(column, self.text(key)) if key in self.spec.by_key else ""
        self.problems.append(Problem(self.row.number, self.header(key), value, code, zh, en))

    def fail_input(self, key: str, exc: InvalidInput) -> None:
        """Record a validator's InvalidInput as a problem with column ``key``."""
        self.fail(key, exc.code, exc.message_zh, exc.message_en)

    @property
    def bad(self) -> bool:
        """Whether any problem was found."""
        return bool(self.problems)

    def text_only(self, key: str) -> str | None:
        """The text of a column that must be text, or None (and a problem) for a numeric cell.

        A numeric spreadsheet cell or scientific notation means the spreadsheet has already
        turned the value into a number: an 18-digit ID number keeps only 15 significant digits,
        a household number loses its leading zeros.
        """
        value = self.text(key)
        position = self.cmap.index.get(key)
        numeric = position is not None and position in self.row.numeric
        if value and (numeric or looks_scientific(value)):
            if key == "id_number":
                self.fail(key, "numeric-cell", NUMERIC_ID_CELL_ZH, NUMERIC_ID_CELL_EN)
            else:
                header = self.header(key)
                self.fail(
                    key,
                    "numeric-cell",
                    f"{header}被存为数字，可能已丢失位数或前导零，请将该列设为文本",
                    f"The {self.spec.column(key).label_en} was stored as a number and may have "
                    "lost digits or leading zeros: format the column as text",
                )
            return None
        return value

    def required(self, key: str) -> str | None:
        """The text of a required column, or None (and a problem) when blank."""
        value = self.text(key)
        if not value:
            self.fail(
                key,
                "required",
                f"{self.header(key)}不能为空",
                f"The {self.spec.column(key).label_en} is required",
            )
            return None
        return value

    def bounded(self, key: str, max_length: int) -> str | None:
        """The text of a column, None when blank; a problem when longer than ``max_length``."""
        value = self.text(key)
        if not value:
            return None
        if len(value) > max_length:
            self.fail(
                key,
                "too-long",
                f"{self.header(key)}不能超过 {max_length} 个字",
                f"The {self.spec.column(key).label_en} is longer than {max_length} characters",
            )
            return None
        return value

    def number(self, key: str, *, minimum: float, maximum: float) -> float | None:
        """A decimal number within [minimum, maximum], None when blank, else a problem."""
        value = self.text(key)
        if not value:
            return None
        try:
            number = float(value.replace(",", ""))
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or not minimum <= number <= maximum:
            self.fail(
                key,
                "not-a-number",
                f"{self.header(key)}应为 {minimum:g} 到 {maximum:g} 之间的数字",
                f"{self.spec.column(key).header} must be a number from {minimum:g} to {maximum:g}",
            )
            return None
        return number

    def choice(self, key: str, words: dict[str, str], label_zh: str) -> str | None:
        """A vocabulary value (by Chinese label or code), None when blank, else a problem."""
        value = self.text(key)
        if not value:
            return None
        code = words.get(value) or words.get(value.lower())
        if code is None:
            allowed_zh = "、".join(dict.fromkeys(k for k in words if not k.isascii()))
            allowed_en = ", ".join(dict.fromkeys(words.values()))
            self.fail(
                key,
                "unknown-value",
                f"{label_zh}“{value}”无效，可选：{allowed_zh}",
                f"Unknown {self.spec.column(key).label_en}; allowed: {allowed_en}",
            )
        return code

    def validated(self, key: str, check: Callable[[str], Any]) -> Any:
        """Run a validator on a non-blank cell; its InvalidInput becomes a problem (→ None)."""
        value = self.text(key)
        if not value:
            return None
        try:
            return check(value)
        except InvalidInput as exc:
            self.fail_input(key, exc)
            return None


@dataclass(slots=True)
class Location:
    """Where a row says it is: a building key and the house in it, and/or coordinates."""

    address_key: str | None = None
    unit: str | None = None
    floor: int | None = None
    room: str | None = None
    # Input coordinates and their CRS; ``lon``/``lat`` are filled in storage lon/lat by
    # :func:`convert_coordinates`.
    x: float | None = None
    y: float | None = None
    crs: Crs | None = None
    lon: float | None = None
    lat: float | None = None
    # Whether the row had coordinate cells at all (even unusable ones).
    coordinates_given: bool = False

    @property
    def has_point(self) -> bool:
        """Whether the row gave usable coordinates."""
        return self.x is not None and self.y is not None

    @property
    def locatable(self) -> bool:
        """Whether the SQL location steps have anything to work with."""
        return self.address_key is not None or self.lon is not None

    @property
    def location_given(self) -> bool:
        """Whether the row tried to say where it is (an address, or coordinate cells)."""
        return self.address_key is not None or self.coordinates_given


def parse_location(
    ctx: RowContext, *, default_crs: Crs, crs_cache: dict[str, Crs | InvalidInput]
) -> Location:
    """Read the address, compound / building, unit / floor / room and coordinate cells.

    The building key comes from 地址 (its unit/room ending cut off), or else from 小区 + 楼栋.
    Explicit 单元 / 楼层 / 房号 cells win over what the address ending says.
    """
    loc = Location()
    address = ctx.bounded("address", 255)
    if address:
        split = split_address(address)
        loc.address_key = normalise(split.building) or None
        loc.unit, loc.floor, loc.room = split.unit, split.floor, split.room
    elif ctx.text("compound") or ctx.text("building_no"):
        loc.address_key = normalise(ctx.text("compound") + ctx.text("building_no")) or None
    unit = ctx.bounded("unit", 16)
    if unit is not None:
        loc.unit = clean_unit(unit) or None
    room = ctx.bounded("room", 16)
    if room is not None:
        loc.room = clean_room(room) or None
    floor = ctx.number("floor", minimum=-5, maximum=200)
    if floor is not None:
        if floor.is_integer():
            loc.floor = int(floor)
        else:
            ctx.fail("floor", "not-a-number", "楼层应为整数", "The floor must be a whole number")
    if loc.floor is None and loc.room:
        loc.floor = floor_from_room(loc.room)

    x_text, y_text = ctx.text("lon"), ctx.text("lat")
    if x_text or y_text:
        loc.coordinates_given = True
        if not (x_text and y_text):
            missing = "lat" if x_text else "lon"
            ctx.fail(
                missing,
                "coordinates-incomplete",
                "经度和纬度须同时填写",
                "Give both longitude and latitude",
            )
            return loc
        crs = _row_crs(ctx, default_crs, crs_cache)
        x = ctx.number("lon", minimum=-1e8, maximum=1e8)
        y = ctx.number("lat", minimum=-1e8, maximum=1e8)
        if crs is None or x is None or y is None:
            return loc
        if crs.is_geographic:
            try:
                check_lonlat(x, y, field="lat")
            except InvalidInput as exc:
                ctx.fail_input("lat", exc)
                return loc
        loc.x, loc.y, loc.crs = x, y, crs
    return loc


def _row_crs(ctx: RowContext, default_crs: Crs, cache: dict[str, Crs | InvalidInput]) -> Crs | None:
    name = ctx.text("crs")
    if not name:
        return default_crs
    if name not in cache:
        try:
            cache[name] = parse_crs(name, field="crs")
        except InvalidInput as exc:
            cache[name] = exc
    parsed = cache[name]
    if isinstance(parsed, InvalidInput):
        ctx.fail_input("crs", parsed)
        return None
    return parsed


def convert_coordinates(items: Iterable[tuple[RowContext, Location]]) -> None:
    """Fill ``lon``/``lat`` (storage EPSG:4326) of every located row, one conversion per CRS.

    A converted point outside China is a problem on the row (swapped order or a wrong CRS).
    """
    by_crs: dict[Crs, list[tuple[RowContext, Location]]] = defaultdict(list)
    for ctx, loc in items:
        if loc.has_point and loc.crs is not None:
            by_crs[loc.crs].append((ctx, loc))
    min_lon, min_lat, max_lon, max_lat = CHINA_BOUNDS
    for crs, group in by_crs.items():
        points = MultiPoint([(loc.x, loc.y) for _, loc in group])
        converted = get_coordinates(to_storage(points, crs))
        for (ctx, loc), (lon, lat) in zip(group, converted, strict=True):
            if not (
                math.isfinite(lon)
                and math.isfinite(lat)
                and min_lon <= lon <= max_lon
                and min_lat <= lat <= max_lat
            ):
                ctx.fail(
                    "lon",
                    "outside-china",
                    f"坐标（{crs.label}）换算后不在中国境内，请检查经纬度是否填反、坐标系是否正确",
                    f"The coordinates ({crs.label}) lie outside China: are longitude and "
                    "latitude swapped, or is the CRS wrong?",
                )
                continue
            loc.lon, loc.lat = float(lon), float(lat)
