"""Houses in buildings, households in houses, persons in households, care groups (以房管人).

Fully vectorised: every table is built from ``np.repeat``-style expansions of its parent table.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from layers.demo.arrays import (
    NULL,
    STR,
    FloatArray,
    IntArray,
    StrArray,
    cat,
    choice_index,
    expand,
    pick,
    zero_pad,
)
from layers.demo.dataset import Table
from layers.demo.names import (
    RELATIONS,
    mobile_phones,
    person_names,
    resident_ids,
    surnames,
)

# Sizing types as numbered in layers.demo.generate.SIZING.
_SCATTERED, _COMPOUND, _BUNGALOW, _SPECIAL = range(4)
_BUNGALOW_ROOMS = ("北屋", "东屋", "西屋")

# Household compositions: (relations by position, weight) per household size. Relation indexes
# point into names.RELATIONS: 0 户主, 1 配偶, 2 子女, 3 父母.
_TEMPLATES: dict[int, tuple[tuple[tuple[int, ...], float], ...]] = {
    1: (((0,), 1.0),),
    2: (((0, 1), 0.75), ((0, 2), 0.25)),
    3: (((0, 1, 2), 0.8), ((0, 1, 3), 0.2)),
    4: (((0, 1, 2, 2), 0.6), ((0, 1, 2, 3), 0.4)),
    5: (((0, 1, 2, 3, 3), 0.6), ((0, 1, 2, 2, 3), 0.4)),
    6: (((0, 1, 2, 2, 3, 3), 1.0),),
}
_SIZE_WEIGHTS_REGISTERED = (0.2, 0.3, 0.27, 0.14, 0.07, 0.02)
_SIZE_WEIGHTS_FLOATING = (0.35, 0.35, 0.2, 0.08, 0.02, 0.0)

#: (category code, share, visit interval in days, notes) of the default care groups.
_CARE_NOTES = {
    "elderly_alone": ("每周电话问候，每月上门探访", "子女在外地，协助助餐服务"),
    "disabled": ("协助办理残疾人两项补贴", "每月上门探访，了解康复需求"),
    "low_income": ("协助低保年审", "帮助申请临时救助"),
    "left_behind_child": ("联系学校关注学习生活", "每月家访一次"),
    "unattended_child": ("落实监护责任人", "每周探访，协调基本生活保障"),
}
_CARE_INTERVAL = {
    "elderly_alone": 7,
    "disabled": 30,
    "low_income": 30,
    "left_behind_child": 14,
    "unattended_child": 7,
}


def generate_people(
    rng: np.random.Generator,
    tables: dict[str, Table],
    *,
    kind: StrArray,
    style: IntArray,
    floors: IntArray,
    units: IntArray,
    rooms: IntArray,
    footprint: FloatArray,
    grid_sizing: IntArray,
    grid_worker: IntArray,
    reference: np.datetime64,
    household_prefix: str,
) -> IntArray:
    """Add houses, households, persons and person_care_groups; return households per building.

    Arguments are per building (local building id = index + 1). ``grid_worker`` is the local
    user id of the worker of the building's grid, who is responsible for its care-group members.
    """
    nb = len(kind)
    # --- houses ----------------------------------------------------------------------------
    is_res = (kind == "residential") | (kind == "mixed")
    is_bungalow = kind == "bungalow"
    is_commercial = kind == "commercial"
    h_units = np.where(is_res, units, np.where(is_bungalow | is_commercial, 1, 0))
    h_floors = np.where(is_res | is_commercial, floors, np.where(is_bungalow, 1, 0))
    h_rooms = np.where(is_res, rooms, np.where(is_commercial, 4, 0))
    h_rooms = np.where(is_bungalow, rng.choice([1, 1, 2, 3], nb), h_rooms)
    building, i = expand(h_units * h_floors * h_rooms)
    per_unit = h_floors[building] * h_rooms[building]
    unit = i // per_unit + 1
    floor = (i // h_rooms[building]) % h_floors[building] + 1
    room_i = i % h_rooms[building] + 1
    bung = is_bungalow[building]
    room = np.where(
        bung, pick(_BUNGALOW_ROOMS, np.minimum(room_i - 1, 2)), (floor * 100 + room_i).astype(STR)
    )
    unit_text = np.where(is_res[building], unit.astype(STR), "").astype(STR)
    use = np.where(
        is_commercial[building],
        np.where(floor == 1, "commercial", "office"),
        np.where((kind[building] == "mixed") & (floor == 1), "commercial", "residential"),
    ).astype(STR)
    nh = len(building)
    area = (
        footprint[building]
        / np.maximum(h_units * h_rooms, 1)[building]
        * rng.uniform(0.72, 0.9, nh)
    )
    area = np.clip(np.round(area, 2), 12.0, 400.0)
    sizing = grid_sizing[building]
    rental_p = np.select(
        [use != "residential", sizing == _BUNGALOW, sizing == _SCATTERED], [0.6, 0.35, 0.22], 0.1
    )
    rental = rng.random(nh) < rental_p
    tables["houses"] = Table(
        "houses",
        {
            "id": np.arange(1, nh + 1, dtype=np.int64),
            "building_id": building + 1,
            "unit": unit_text,
            "floor": floor.astype(np.int64),
            "room": room,
            "use": use,
            "area_m2": area,
            "is_rental": rental,
        },
        refs={"building_id": "buildings"},
    )

    # --- households ------------------------------------------------------------------------
    occupancy = np.select([sizing == _COMPOUND, sizing == _BUNGALOW], [0.9, 0.95], 0.86)
    occupied = (use == "residential") & (rng.random(nh) < occupancy)
    shared = occupied & rental & (rng.random(nh) < 0.04)
    house_of, _ = expand(occupied.astype(np.int64) + shared.astype(np.int64))
    nhh = len(house_of)
    floating = rng.random(nhh) < np.where(rental[house_of], 0.8, 0.05)
    tables["households"] = Table(
        "households",
        {
            "id": np.arange(1, nhh + 1, dtype=np.int64),
            "house_id": house_of + 1,
            "household_no": cat(household_prefix, zero_pad(np.arange(1, nhh + 1), 8)),
            "residence": np.where(floating, "floating", "registered").astype(STR),
        },
        refs={"house_id": "houses"},
    )

    # --- persons ---------------------------------------------------------------------------
    size = (
        np.where(
            floating,
            choice_index(rng, _SIZE_WEIGHTS_FLOATING, nhh),
            choice_index(rng, _SIZE_WEIGHTS_REGISTERED, nhh),
        )
        + 1
    )
    relations, template_of = _templates(rng, size)
    hh, pos = expand(size)
    rel = relations[template_of[hh], pos]
    np_ = len(hh)
    hsize = size[hh]
    hfloat = floating[hh]

    head_age = np.where(
        floating,
        rng.uniform(20, 50, nhh),
        np.where(
            size == 1,
            np.where(rng.random(nhh) < 0.5, rng.uniform(22, 36, nhh), rng.uniform(60, 92, nhh)),
            _adult_ages(rng, nhh),
        ),
    )
    head_male = rng.random(nhh) < np.where(size >= 2, 0.7, 0.5)
    family = surnames(rng, nhh)
    ha = head_age[hh]
    hm = head_male[hh]
    age = np.select(
        [rel == 0, rel == 1, rel == 2, rel == 3],
        [
            ha,
            np.maximum(20.0, ha + np.where(hm, -2.0, 2.0) + rng.normal(0, 3, np_)),
            ha - rng.uniform(22, 36, np_),
            np.minimum(99.0, ha + rng.uniform(22, 34, np_)),
        ],
    )
    age = np.where(age < 0, rng.uniform(0, 4, np_), age)
    parent_rank = np.cumsum(rel == 3) - 1  # alternate father/mother among parents
    male = np.select(
        [rel == 0, rel == 1, rel == 3],
        [hm, ~hm, (parent_rank % 2 == 0) ^ (hh % 2 == 1)],
        rng.random(np_) < 0.51,
    )
    # children and the head's father carry the family name; wives keep their own
    own = surnames(rng, np_)
    keeps_family = (rel == 2) | ((rel == 0) & male) | ((rel == 1) & male) | ((rel == 3) & male & hm)
    surname = np.where(keeps_family, family[hh], own)
    days = np.round(age * 365.25 + rng.uniform(0, 365, np_)).astype(np.int64)
    birth = reference.astype("datetime64[D]") - days.astype("timedelta64[D]")
    has_phone = (age >= 15) & (rng.random(np_) < 0.95)
    phones = np.where(has_phone, mobile_phones(rng, np_), NULL)
    tables["persons"] = Table(
        "persons",
        {
            "id": np.arange(1, np_ + 1, dtype=np.int64),
            "household_id": hh + 1,
            "name": person_names(rng, surname, male),
            "gender": np.where(male, "male", "female").astype(STR),
            "birth_date": np.datetime_as_string(birth, unit="D").astype(STR),
            "id_number": resident_ids(birth, male),
            "phone": phones,
            "residence": np.where(hfloat, "floating", "registered").astype(STR),
            "relation_to_head": pick(RELATIONS, rel),
        },
        refs={"household_id": "households"},
    )

    # --- care groups -----------------------------------------------------------------------
    person_building = building[house_of[hh]]
    u = rng.random(np_)
    child = (rel == 2) & (age < 16) & ~hfloat
    groups = {
        "elderly_alone": (hsize == 1) & (age >= 70) & (u < 0.6),
        "disabled": rng.random(np_) < 0.01,
        "low_income": (rel == 0) & ~hfloat & (rng.random(np_) < 0.02),
        "left_behind_child": child & (u < 0.02),
        "unattended_child": child & (u >= 0.02) & (u < 0.022),
    }
    person_ids: list[IntArray] = []
    codes: list[StrArray] = []
    for code, mask in groups.items():
        idx = np.flatnonzero(mask)
        person_ids.append(idx + 1)
        codes.append(np.full(len(idx), code, dtype=STR))
    pid = np.concatenate(person_ids)
    code_arr = np.concatenate(codes)
    order = np.lexsort((code_arr, pid))
    pid, code_arr = pid[order], code_arr[order]
    nc = len(pid)
    since = reference.astype("datetime64[D]") - rng.integers(30, 1500, nc).astype("timedelta64[D]")
    note_pick = rng.integers(0, 2, nc)
    notes = np.empty(nc, dtype=STR)
    interval = np.zeros(nc, dtype=np.int64)
    for code in _CARE_NOTES:
        m = code_arr == code
        notes[m] = pick(_CARE_NOTES[code], note_pick[m])
        interval[m] = _CARE_INTERVAL[code]
    tables["person_care_groups"] = Table(
        "person_care_groups",
        {
            "person_id": pid,
            "category_code": code_arr,
            "since": np.datetime_as_string(since, unit="D").astype(STR),
            "responsible_user_id": grid_worker[person_building[pid - 1]],
            "visit_interval_days": interval,
            "note": notes,
        },
        refs={"person_id": "persons", "responsible_user_id": "users"},
    )
    return np.bincount(building[house_of], minlength=nb).astype(np.int64)


def _templates(rng: np.random.Generator, size: IntArray) -> tuple[IntArray, IntArray]:
    """(relation matrix of every template, template index per household)."""
    rows: list[tuple[int, ...]] = []
    template_of = np.zeros(len(size), dtype=np.int64)
    for s, options in _TEMPLATES.items():
        first = len(rows)
        rows.extend(rel for rel, _ in options)
        m = size == s
        template_of[m] = first + choice_index(rng, [w for _, w in options], int(m.sum()))
    matrix = np.full((len(rows), 6), -1, dtype=np.int64)
    for r, rel in enumerate(rows):
        matrix[r, : len(rel)] = rel
    return matrix, template_of


def _adult_ages(rng: np.random.Generator, n: int) -> npt.NDArray[np.float64]:
    """Ages of household heads with a family: a broad pyramid from 24 to 88."""
    bands = np.array([[24, 35], [35, 50], [50, 65], [65, 78], [78, 88]], dtype=np.float64)
    band = choice_index(rng, [0.2, 0.32, 0.27, 0.15, 0.06], n)
    return rng.uniform(bands[band, 0], bands[band, 1])
