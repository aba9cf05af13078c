"""The columns of each ledger (台账) kind, and the header variants that map onto them.

Ledgers come from many offices, each with its own spelling of the headers: 身份证号 /
身份证号码 / 公民身份号码, 手机 / 联系电话, 经度 / X. The tables below are the one declaration of
what each kind of ledger holds and which header texts name which column; reading, validation,
the report and the export all work from them. The first header of every column is the canonical
one: the export writes it, and the report uses it for a column the file does not have.

A header is matched after :func:`normalise_header`: NFKC (full-width letters and brackets
become ASCII), lower case, no spaces, no required-field star; if that fails, a bracketed suffix
such as ``经度(X)`` or ``面积（㎡）`` is dropped and the match is tried again.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass, field

from layers.models.places import PLACE_KINDS


class LedgerKind(enum.StrEnum):
    """The ledgers Wangge reads and writes."""

    persons = "persons"
    places = "places"
    houses = "houses"


class Personal(enum.StrEnum):
    """What kind of personal data a column holds (decides masking in reports and exports)."""

    name = "name"
    id_number = "id_number"
    phone = "phone"


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a ledger.

    ``key`` is the internal name; ``headers`` the accepted header texts, canonical first;
    ``personal`` marks personal data; ``text_only`` marks columns whose numeric spreadsheet
    cells are refused (an 18-digit ID number stored as a number has lost its last digits);
    ``text_cell`` columns are exported as text cells (with the ``@`` format) so that Excel
    keeps their digits and leading zeros when the file is edited.
    """

    key: str
    headers: tuple[str, ...]
    personal: Personal | None = None
    text_only: bool = False
    text_cell: bool = False
    required: bool = False

    @property
    def header(self) -> str:
        """The canonical Chinese header."""
        return self.headers[0]

    @property
    def label_en(self) -> str:
        """The column's name in English messages (which carry no Chinese)."""
        return LABELS_EN.get(self.key, self.key.replace("_", " "))


@dataclass(frozen=True, slots=True)
class LedgerSpec:
    """Everything that defines one kind of ledger."""

    kind: LedgerKind
    title_zh: str
    title_en: str
    columns: tuple[Column, ...]
    # The audit log's resource name and the personal fields it lists.
    resource: str
    by_key: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_key", {c.key: c for c in self.columns})

    def column(self, key: str) -> Column:
        """The column with this key."""
        return self.by_key[key]

    @property
    def personal_fields(self) -> tuple[str, ...]:
        """Keys of the columns that hold personal data (for the audit log)."""
        return tuple(c.key for c in self.columns if c.personal is not None)


# English names of the columns, for the English half of every message.
LABELS_EN = {
    "id_number": "ID number",
    "relation_to_head": "relation to the head of household",
    "household_no": "household number",
    "building_no": "building number",
    "lon": "longitude",
    "lat": "latitude",
    "crs": "CRS",
    "care_groups": "care groups",
    "contact_name": "contact name",
    "contact_phone": "contact phone",
    "area_m2": "floor area (m2)",
    "is_rental": "rental",
}

# ---- columns shared by every kind that is located in a building --------------------------

ADDRESS = Column(
    "address", ("地址", "住址", "现住址", "居住地址", "房屋地址", "详细地址", "门牌地址")
)
COMPOUND = Column("compound", ("小区", "小区名称", "小区名", "院落"))
BUILDING = Column("building_no", ("楼栋", "楼号", "楼栋号", "栋号", "楼栋名称"))
UNIT = Column("unit", ("单元", "单元号"))
FLOOR = Column("floor", ("楼层", "所在楼层", "层"))
ROOM = Column("room", ("房号", "房间号", "室号", "户室号", "室"))
LON = Column("lon", ("经度", "x", "x坐标", "lon", "lng", "longitude"))
LAT = Column("lat", ("纬度", "y", "y坐标", "lat", "latitude"))
CRS = Column("crs", ("坐标系", "坐标系统", "crs", "坐标参考系"))

LOCATION_COLUMNS = (ADDRESS, COMPOUND, BUILDING, UNIT, FLOOR, ROOM, LON, LAT, CRS)

PERSONS = LedgerSpec(
    LedgerKind.persons,
    "人口台账",
    "Persons ledger",
    (
        Column("name", ("姓名", "名字", "人员姓名", "居民姓名"), Personal.name, required=True),
        Column("gender", ("性别",)),
        Column(
            "id_number",
            (
                "身份证号",
                "身份证号码",
                "公民身份号码",
                "公民身份证号",
                "身份证",
                "证件号码",
                "证件号",
            ),
            Personal.id_number,
            text_only=True,
        ),
        Column(
            "phone",
            ("联系电话", "手机", "手机号", "手机号码", "电话", "电话号码", "联系方式"),
            Personal.phone,
        ),
        Column("residence", ("户籍类型", "人口类型", "户籍/流动", "人员类型", "居住类型")),
        Column("relation_to_head", ("与户主关系", "与户主的关系", "关系")),
        Column("household_no", ("户号", "户编号", "户籍编号"), text_cell=True),
        *LOCATION_COLUMNS,
        Column("care_groups", ("关爱类别", "关爱对象类别", "关爱对象", "重点人群类别")),
    ),
    resource="persons",
)

PLACES = LedgerSpec(
    LedgerKind.places,
    "场所台账",
    "Places ledger",
    (
        Column("name", ("名称", "场所名称", "单位名称", "店名"), required=True),
        Column("kind", ("类型", "场所类型", "场所类别", "类别"), required=True),
        Column("address", ("地址", "场所地址", "详细地址", "经营地址")),
        LON,
        LAT,
        CRS,
        Column("department", ("负责部门", "主管部门", "责任部门", "监管部门")),
        Column("contact_name", ("联系人", "负责人", "联系人姓名"), Personal.name),
        Column(
            "contact_phone",
            ("联系电话", "电话", "手机", "手机号", "联系方式"),
            Personal.phone,
        ),
    ),
    resource="places",
)

HOUSES = LedgerSpec(
    LedgerKind.houses,
    "房屋台账",
    "Houses ledger",
    (
        *LOCATION_COLUMNS,
        Column("use", ("用途", "房屋用途", "使用性质")),
        Column("area_m2", ("面积", "建筑面积", "房屋面积", "面积(㎡)", "面积(平方米)")),
        Column("is_rental", ("是否出租", "出租", "出租房屋", "是否出租房")),
    ),
    resource="houses",
)

SPECS: dict[LedgerKind, LedgerSpec] = {s.kind: s for s in (PERSONS, PLACES, HOUSES)}

# ---- value vocabularies -------------------------------------------------------------------

# Place kinds by Chinese label (PLACE_KINDS) plus common variants, and by code.
PLACE_KIND_WORDS: dict[str, str] = {
    **{label: code for code, label in PLACE_KINDS.items()},
    **{code: code for code in PLACE_KINDS},
    "医院": "hospital",
    "诊所": "hospital",
    "卫生室": "hospital",
    "商店": "shop",
    "超市": "shop",
    "饭店": "restaurant",
    "餐馆": "restaurant",
    "餐饮": "restaurant",
    "酒店": "hotel",
    "旅馆": "hotel",
    "出租房": "rental",
    "三合一": "three_in_one",
    "小娱乐": "small_entertainment",
    "农贸市场": "market",
    "工地": "construction_site",
}

HOUSE_USE_WORDS: dict[str, str] = {
    "住宅": "residential",
    "居住": "residential",
    "residential": "residential",
    "商业": "commercial",
    "商铺": "commercial",
    "commercial": "commercial",
    "办公": "office",
    "office": "office",
    "其他": "other",
    "other": "other",
}
HOUSE_USE_LABELS = {"residential": "住宅", "commercial": "商业", "office": "办公", "other": "其他"}

YES_WORDS = frozenset({"是", "y", "yes", "true", "1", "出租", "√"})
NO_WORDS = frozenset({"否", "n", "no", "false", "0", "自住", "未出租", "×"})

GENDER_LABELS = {"male": "男", "female": "女"}
RESIDENCE_LABELS = {"registered": "户籍", "floating": "流动"}

# ---- header matching ----------------------------------------------------------------------

_SPACES = re.compile(r"\s+")
_BRACKETED_SUFFIX = re.compile(r"\(.*\)$")


def normalise_header(text: str) -> str:
    """A header as compared with the tables: NFKC, lower case, no spaces or stars."""
    value = unicodedata.normalize("NFKC", text).strip().lower()
    return _SPACES.sub("", value).strip("*")


def _lookup(spec: LedgerSpec) -> dict[str, str]:
    table: dict[str, str] = {}
    for column in spec.columns:
        for header in column.headers:
            table.setdefault(normalise_header(header), column.key)
    return table


_LOOKUPS = {kind: _lookup(spec) for kind, spec in SPECS.items()}


def column_for_header(kind: LedgerKind, header: str) -> str | None:
    """The key of the column a header names in a ledger of ``kind``, or None."""
    lookup = _LOOKUPS[kind]
    text = normalise_header(header)
    if not text:
        return None
    if text in lookup:
        return lookup[text]
    bare = _BRACKETED_SUFFIX.sub("", text)
    return lookup.get(bare) if bare else None
