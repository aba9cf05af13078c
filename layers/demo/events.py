"""Incidents over the 12 months before the reference time, their steps, and patrols.

Where: a mixture of background reports (near homes, weighted by households) and hot spots —
markets, construction sites, old bungalow compounds and school gates. What: the category mix
depends on the hot spot and the season (carbon monoxide in winter, drowning in summer). How far
along: every incident gets a full timeline (report → dispatch → accept → handle → verify →
close, with escalated, deferred and returned variants and a few stuck ones); the steps that
happened before the reference time are its steps, and the last of them is its status. Old
incidents are therefore mostly closed and recent ones still open, without a rule saying so.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np

import shapely

from layers.demo.arrays import (
    NULL,
    STR,
    FloatArray,
    IntArray,
    StrArray,
    cat,
    choice_index,
    expand,
    group_rank,
    pick,
    rng_for,
    zero_pad,
)
from layers.demo.constants import (
    DEPARTMENTS,
    DEPT_INDEX,
    REFERENCE_TIME,
    STREET_PREFIX,
    local_time_text,
)
from layers.demo.dataset import Table
from layers.demo.names import mobile_phones, random_names

if TYPE_CHECKING:
    from layers.demo.generate import World

#: Leaf categories of migration 0002 with their time limits (hours). A test checks this copy
#: against the database.
LEAF_CATEGORIES = (
    ("hazard.fire", 24),
    ("hazard.co", 24),
    ("hazard.drowning", 48),
    ("hazard.traffic", 72),
    ("hazard.construction", 72),
    ("dispute.neighbour", 120),
    ("dispute.family", 120),
    ("dispute.labour", 168),
    ("dispute.property", 168),
    ("dispute.traffic_accident", 120),
    ("public_order", 48),
    ("service.wish", 240),
    ("service.environment", 72),
)
_CATS = [c for c, _ in LEAF_CATEGORIES]
_LIMIT_H = np.array([h for _, h in LEAF_CATEGORIES], dtype=np.float64)

# Sources of incidents and their share.
_SOURCES = ("background", "market", "construction", "old_compound", "school")
_SOURCE_SHARE = (0.45, 0.17, 0.13, 0.18, 0.07)
# Category weights per source, in the order of LEAF_CATEGORIES.
_CATEGORY_BY_SOURCE = np.array(
    [
        [10, 3, 1, 5, 2, 14, 8, 3, 14, 4, 8, 8, 20],
        [12, 1, 0, 12, 1, 6, 1, 3, 2, 8, 25, 1, 28],
        [6, 1, 1, 10, 40, 8, 0, 20, 1, 3, 2, 0, 18],
        [20, 12, 1, 3, 3, 18, 8, 2, 4, 1, 8, 10, 20],
        [3, 0, 6, 40, 2, 4, 3, 1, 2, 15, 14, 4, 6],
    ],
    dtype=np.float64,
)
# Seasonal factor by month (Jan..Dec) for the categories that have one.
_SEASON = {
    "hazard.co": [3, 2.5, 1.2, 0.3, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 1.8, 3],
    "hazard.drowning": [0.1, 0.1, 0.2, 0.5, 1.2, 2.5, 3.5, 3, 1.2, 0.3, 0.1, 0.1],
    "hazard.construction": [0.5, 0.4, 1, 1.3, 1.3, 1.2, 1, 1, 1.3, 1.3, 1, 0.6],
    "hazard.fire": [1.4, 1.5, 1, 0.9, 0.8, 0.8, 0.8, 0.8, 0.9, 1, 1.2, 1.3],
    "service.environment": [0.7, 0.7, 0.9, 1, 1.2, 1.4, 1.5, 1.4, 1.1, 0.9, 0.8, 0.7],
}
_CHANNELS = ("grid_worker", "hotline_12345", "patrol", "walk_in")
_CHANNEL_BY_SOURCE = np.array(
    [
        [0.45, 0.3, 0.12, 0.13],
        [0.35, 0.4, 0.2, 0.05],
        [0.3, 0.5, 0.15, 0.05],
        [0.5, 0.25, 0.15, 0.1],
        [0.35, 0.35, 0.2, 0.1],
    ]
)
_HOURS: dict[str, list[float]] = {
    "grid_worker": [0, 0, 0, 0, 0, 0, 0, 1, 4, 8, 9, 7, 3, 3, 7, 8, 7, 4, 1, 0.5, 0.2, 0, 0, 0],
    "hotline_12345": [
        0.3,
        0.2,
        0.1,
        0.1,
        0.1,
        0.2,
        0.5,
        2,
        5,
        7,
        7,
        6,
        4,
        4,
        6,
        6,
        6,
        5,
        5,
        5,
        4,
        3,
        1.5,
        0.7,
    ],
    "patrol": [0, 0, 0, 0, 0, 0, 0, 0, 3, 8, 9, 6, 2, 2, 7, 8, 7, 3, 0, 0, 0, 0, 0, 0],
    "walk_in": [0, 0, 0, 0, 0, 0, 0, 0, 5, 8, 8, 6, 1, 1, 6, 8, 6, 1, 0, 0, 0, 0, 0, 0],
}
_RISK = np.array(
    [
        [0.25, 0.45, 0.3], [0.35, 0.45, 0.2], [0.3, 0.5, 0.2], [0.15, 0.45, 0.4],
        [0.25, 0.45, 0.3], [0.03, 0.27, 0.7], [0.05, 0.3, 0.65], [0.1, 0.45, 0.45],
        [0.02, 0.28, 0.7], [0.05, 0.35, 0.6], [0.08, 0.37, 0.55], [0.0, 0.1, 0.9],
        [0.02, 0.28, 0.7],
    ]
)  # fmt: skip
# Responsible department(s) per category: (department code, weight). The loader turns the
# heaviest of each into the street's dispatch rule.
DEPARTMENT_BY_CATEGORY: dict[str, tuple[tuple[str, float], ...]] = {
    "hazard.fire": (("qf-fire", 1.0),),
    "hazard.co": (("qf-emergency", 1.0),),
    "hazard.drowning": (("qf-emergency", 1.0),),
    "hazard.traffic": (("qf-police", 1.0),),
    "hazard.construction": (("qf-urban", 1.0),),
    "dispute.neighbour": (("qf-justice", 1.0),),
    "dispute.family": (("qf-justice", 0.7), ("qf-social", 0.3)),
    "dispute.labour": (("qf-social", 1.0),),
    "dispute.property": (("qf-urban", 1.0),),
    "dispute.traffic_accident": (("qf-police", 1.0),),
    "public_order": (("qf-police", 0.8), ("qf-market", 0.2)),
    "service.wish": (("qf-social", 0.7), ("qf-health", 0.3)),
    "service.environment": (("qf-urban", 0.75), ("qf-market", 0.15), ("qf-health", 0.1)),
}
# The territory's catch-all (属地兜底) for a category without a rule: the street's urban office.
FALLBACK_DEPARTMENT = "qf-urban"
_ISSUES = {
    "hazard.fire": (
        "楼道堆放杂物",
        "电动车飞线充电",
        "消防通道被占用",
        "灭火器过期",
        "电动车入户充电",
    ),
    "hazard.co": ("燃煤取暖未装烟道", "燃气热水器装在浴室", "煤炉取暖通风不良"),
    "hazard.drowning": ("河道护栏破损", "坑塘缺少警示牌", "有儿童在河边玩水"),
    "hazard.traffic": ("路口信号灯故障", "井盖缺失", "占道经营影响通行", "学校门口车辆乱停"),
    "hazard.construction": ("工地脚手架不稳", "渣土车遗撒", "基坑围挡破损", "夜间施工扰民"),
    "dispute.neighbour": ("楼上漏水纠纷", "噪音扰民纠纷", "宠物扰民纠纷", "楼道占用纠纷"),
    "dispute.family": ("赡养老人纠纷", "家庭矛盾", "房产继承纠纷"),
    "dispute.labour": ("拖欠农民工工资", "装修工人讨薪", "商铺拖欠员工工资"),
    "dispute.property": ("物业费争议", "电梯停运", "小区停车纠纷", "供暖不热"),
    "dispute.traffic_accident": ("电动车与轿车剐蹭纠纷", "停车剐蹭纠纷"),
    "public_order": ("夜间聚众喧哗", "无证经营", "可疑人员徘徊", "占道摆摊"),
    "service.wish": (
        "独居老人需要助餐",
        "困难家庭儿童需要学习用品",
        "老人需要轮椅",
        "老人需要上门体检",
    ),
    "service.environment": (
        "垃圾清运不及时",
        "污水外溢",
        "小广告乱贴",
        "绿化带杂草丛生",
        "餐饮油烟扰民",
    ),
}
_CHANNEL_SENTENCE = {
    "grid_worker": "网格员日常走访发现，已拍照上报。",
    "hotline_12345": "市民通过12345热线反映，请及时核实处理。",
    "patrol": "网格员巡查场所时发现。",
    "walk_in": "群众到社区来访反映。",
}

# Workflow variants: (action, to_status, delay before the step).
_R = ("report", "reported", "")
_D = ("dispatch", "dispatched", "dispatch")
_A = ("accept", "accepted", "accept")
_S = ("start", "handling", "start")
_H = ("handle", "handled", "handle")
_V = ("verify", "verified", "verify")
_C = ("close", "closed", "close")
_VARIANTS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "normal": (_R, _D, _A, _S, _H, _V, _C),
    "on_spot": (
        ("report", "handled", ""),
        ("verify", "verified", "spot_verify"),
        ("close", "closed", "spot_close"),
    ),
    "escalated": (
        _R, _D, ("escalate", "escalated", "escalate"),
        ("dispatch", "dispatched", "after_escalate"), _A, _S, _H, _V, _C,
    ),
    "deferred": (
        _R, _D, _A, ("defer", "deferred", "defer"), ("start", "handling", "resume"), _H, _V, _C,
    ),
    "returned": (
        _R, _D, ("return", "returned", "return"),
        ("dispatch", "dispatched", "redispatch"), _A, _S, _H, _V, _C,
    ),
}  # fmt: skip
# Delay (median hours, log-sigma) before a step; "handle" scales with the category's limit.
_DELAY = {
    "dispatch": (2.0, 0.9),
    "accept": (4.0, 0.8),
    "start": (8.0, 0.9),
    "verify": (24.0, 0.8),
    "close": (24.0, 0.8),
    "spot_verify": (4.0, 0.8),
    "spot_close": (8.0, 0.7),
    "escalate": (24.0, 0.8),
    "after_escalate": (72.0, 0.8),
    "defer": (24.0, 0.7),
    "resume": (240.0, 0.6),
    "return": (6.0, 0.8),
    "redispatch": (4.0, 0.8),
}
_HANDLE_SHARE_OF_LIMIT = (0.45, 0.75)
_STEP_NOTES = {
    "accept": "已受理",
    "start": "已安排人员现场处置",
    "handle": "处置完毕，已反馈",
    "verify": "回访核实，问题已解决",
    "close": "办结销号",
    "escalate": "超出街道处置权限，上报区级",
    "defer": "需协调相关单位，申请延期",
    "return": "非本部门职责，退回重新派遣",
}
_REPORT_NOTES = {
    "grid_worker": "网格员上报",
    "hotline_12345": "12345热线转办",
    "patrol": "巡查发现上报",
    "walk_in": "来访登记",
}
_STATUS_INDEX = {
    s: i
    for i, s in enumerate(
        (
            "reported",
            "dispatched",
            "accepted",
            "handling",
            "handled",
            "verified",
            "closed",
            "returned",
            "deferred",
            "escalated",
        )
    )
}


def _lognormal(
    rng: np.random.Generator, median: float, sigma: float, size: tuple[int, ...] | int
) -> FloatArray:
    return np.asarray(median * np.exp(rng.normal(0.0, sigma, size)))


def generate_incidents(world: World, tables: dict[str, Table]) -> None:
    """Add incidents and incident_steps (see the module docstring)."""
    rng = rng_for(world.seed, "incidents")
    n = world.spec.incidents
    b = world.buildings
    assert b is not None and world.households_per_building is not None
    assert world.lots is not None and world.lot_kind is not None and world.lot_name is not None
    assert world.lot_address is not None
    grid_geoms = world.territory.grid_geoms

    # --- where --------------------------------------------------------------------------------
    lot_xy = shapely.get_coordinates(shapely.centroid(world.lots))
    spots = {
        "market": np.flatnonzero(world.lot_kind == "market"),
        "construction": np.flatnonzero(world.lot_kind == "construction_site"),
        "school": np.flatnonzero(world.lot_kind == "school"),
    }
    old = np.flatnonzero(b.kind == "bungalow")
    share = np.array(_SOURCE_SHARE)
    share[1] *= len(spots["market"]) > 0
    share[2] *= len(spots["construction"]) > 0
    share[3] *= len(old) > 0
    share[4] *= len(spots["school"]) > 0
    source = choice_index(rng, share, n)
    x = np.zeros(n)
    y = np.zeros(n)
    home_weight = (
        world.households_per_building + 3.0 * np.isin(b.kind, ["commercial", "mixed"]) + 0.5
    )
    m = source == 0
    host = choice_index(rng, home_weight, int(m.sum()))
    x[m] = b.cx[host] + rng.normal(0, 12, host.size)
    y[m] = b.cy[host] + rng.normal(0, 12, host.size)
    m = source == 3
    host = old[rng.integers(0, max(len(old), 1), int(m.sum()))]
    x[m] = b.cx[host] + rng.normal(0, 8, host.size)
    y[m] = b.cy[host] + rng.normal(0, 8, host.size)
    spread = {1: ("market", 45.0), 2: ("construction", 55.0), 4: ("school", 70.0)}
    lot_of = np.full(n, -1, dtype=np.int64)
    for src, (key, sigma) in spread.items():
        m = source == src
        lots = spots[key]
        if not m.any():
            continue
        lot = lots[rng.integers(0, len(lots), int(m.sum()))]
        lot_of[m] = lot
        x[m] = lot_xy[lot, 0] + rng.normal(0, sigma, lot.size)
        y[m] = lot_xy[lot, 1] + rng.normal(0, sigma, lot.size)
    points = shapely.points(x, y)
    # Keep points clearly inside one grid; move the others to the nearest building's centre.
    grid = np.full(n, -1, dtype=np.int64)
    hit = shapely.STRtree(grid_geoms).query(points, predicate="within")
    grid[hit[0]] = hit[1]
    ok = grid >= 0
    ok[ok] = shapely.distance(points[ok], shapely.boundary(grid_geoms[grid[ok]])) > 0.1
    nearest = shapely.STRtree(b.geoms).query_nearest(points, all_matches=False)
    near_b = np.zeros(n, dtype=np.int64)
    near_b[nearest[0]] = nearest[1]
    x = np.where(ok, x, b.cx[near_b])
    y = np.where(ok, y, b.cy[near_b])
    grid = np.where(ok, grid, b.grid[near_b])
    at_lot = lot_of >= 0
    label = np.where(at_lot, world.lot_name[np.maximum(lot_of, 0)], b.label[near_b])
    address = np.where(
        at_lot,
        cat(world.lot_address[np.maximum(lot_of, 0)], "附近"),
        np.where(ok, cat(b.address[near_b], "附近"), b.address[near_b]),
    )

    # --- when and what --------------------------------------------------------------------------
    ref_day = REFERENCE_TIME.astype("datetime64[D]")
    back = np.arange(365)
    day = ref_day - (back + 1).astype("timedelta64[D]")
    weekday = (day.astype(np.int64) + 3) % 7
    day_w = (1 + 0.2 * (1 - back / 365)) * np.where(weekday >= 5, 0.8, 1.0)
    d = choice_index(rng, day_w, n)
    report_day = day[d]
    month = report_day.astype("datetime64[M]").astype(np.int64) % 12
    category = np.zeros(n, dtype=np.int64)
    for src in range(len(_SOURCES)):
        for mo in range(12):
            m = (source == src) & (month == mo)
            if not m.any():
                continue
            w = _CATEGORY_BY_SOURCE[src].copy()
            for cat_code, season in _SEASON.items():
                w[_CATS.index(cat_code)] *= season[mo]
            category[m] = choice_index(rng, w, int(m.sum()))
    channel = np.zeros(n, dtype=np.int64)
    for src in range(len(_SOURCES)):
        m = source == src
        channel[m] = choice_index(rng, _CHANNEL_BY_SOURCE[src], int(m.sum()))
    hour = np.zeros(n, dtype=np.int64)
    for ch, name in enumerate(_CHANNELS):
        m = channel == ch
        hour[m] = choice_index(rng, _HOURS[name], int(m.sum()))
    seconds = hour * 3600 + rng.integers(0, 3600, n)
    reported = report_day.astype("datetime64[s]") + seconds.astype("timedelta64[s]")
    order = np.lexsort((rng.random(n), reported))  # ids follow reporting time
    x, y, grid, category, channel, reported = (
        x[order],
        y[order],
        grid[order],
        category[order],
        channel[order],
        reported[order],
    )
    label, address, source = label[order], address[order], source[order]
    risk = np.zeros(n, dtype=np.int64)
    dept = np.zeros(n, dtype=np.int64)
    for c, code in enumerate(_CATS):
        m = category == c
        risk[m] = choice_index(rng, _RISK[c], int(m.sum()))
        options = DEPARTMENT_BY_CATEGORY[code]
        dept[m] = np.array([DEPT_INDEX[o] for o, _ in options])[
            choice_index(rng, [w for _, w in options], int(m.sum()))
        ]
    limit_h = _LIMIT_H[category]

    # --- how far along --------------------------------------------------------------------------
    spot_ok = np.isin(channel, [0, 2]) & np.isin(
        category,
        [
            _CATS.index(c)
            for c in (
                "hazard.fire",
                "service.environment",
                "public_order",
                "dispute.neighbour",
                "hazard.traffic",
            )
        ],
    )
    u = rng.random(n)
    variant = np.full(n, "normal", dtype=object)
    variant[u < 0.065] = "returned"
    variant[u < 0.045] = "deferred"
    variant[u < 0.025] = "escalated"
    variant[spot_ok & (rng.random(n) < 0.3)] = "on_spot"
    stuck = rng.random(n) < 0.03
    ref_s = REFERENCE_TIME.astype(np.int64)
    rep_s = reported.astype(np.int64)
    n_done = np.zeros(n, dtype=np.int64)
    status = np.zeros(n, dtype=np.int64)
    closed_at = np.full(n, np.datetime64("NaT"), dtype="datetime64[s]")
    dispatched = np.zeros(n, dtype=bool)
    alt_dept = (dept + rng.integers(1, len(DEPARTMENTS), n)) % len(DEPARTMENTS)
    step_parts: list[
        tuple[IntArray, IntArray, IntArray, StrArray, StrArray, StrArray, IntArray]
    ] = []
    for name, steps in _VARIANTS.items():
        idx = np.flatnonzero(variant == name)
        if not len(idx):
            continue
        k = len(steps)
        delays = np.zeros((len(idx), k))
        for col, (act, _, delay) in enumerate(steps):
            if col == 0:
                continue
            if act == "handle":
                delays[:, col] = limit_h[idx] * _lognormal(rng, *_HANDLE_SHARE_OF_LIMIT, len(idx))
            else:
                delays[:, col] = _lognormal(rng, *_DELAY[delay], len(idx))
        stuck_col = rng.integers(1, k, len(idx))
        delays[np.arange(len(idx)), stuck_col] *= np.where(stuck[idx], 25.0, 1.0)
        at = rep_s[idx, None] + np.round(np.cumsum(delays, axis=1) * 3600).astype(np.int64)
        done = (at < ref_s).sum(axis=1)
        n_done[idx] = done
        to_status = np.array([_STATUS_INDEX[s] for _, s, _ in steps])
        status[idx] = to_status[done - 1]
        closed = done == k
        closed_at[idx[closed]] = at[closed, k - 1].astype("datetime64[s]")
        dispatch_cols = [c for c, (a, _, _) in enumerate(steps) if a == "dispatch"]
        if dispatch_cols:
            dispatched[idx] = done > dispatch_cols[0]
        row, pos = expand(done)
        actions = np.array([a for a, _, _ in steps], dtype=STR)
        statuses = np.array([s for _, s, _ in steps], dtype=STR)
        previous = np.where(pos == 0, NULL, statuses[np.maximum(pos - 1, 0)])
        # a returned item went to a wrong department first (dispatch and return steps)
        wrong = (pos == 1) | (pos == 2) if name == "returned" else np.zeros(len(row), dtype=bool)
        step_dept = np.where(wrong, alt_dept[idx[row]], dept[idx[row]])
        step_parts.append(
            (idx[row], pos, at[row, pos], actions[pos], previous, statuses[pos], step_dept)
        )

    # --- incidents table --------------------------------------------------------------------------
    deadline = reported + (limit_h * 3600).astype(np.int64).astype("timedelta64[s]")
    is_closed = status == _STATUS_INDEX["closed"]
    overdue = (ref_s - deadline.astype(np.int64)) / (limit_h * 3600)
    supervision = np.where(
        is_closed,
        np.where(closed_at.astype(np.int64) > deadline.astype(np.int64), "normal", "none"),
        np.where(overdue <= 0, "none", np.where(overdue <= 0.5, "yellow", "red")),
    ).astype(STR)
    on_spot = variant == "on_spot"
    by_worker = np.isin(channel, [0, 2])
    reported_by = np.where(by_worker, world.grid_worker_ids[grid], world.dispatcher_id)
    citizen = ~by_worker
    reporter, _ = random_names(rng, n)
    reporter_phone = mobile_phones(rng, n)
    ymd = np.strings.replace(
        np.datetime_as_string(reported.astype("datetime64[D]"), unit="D").astype(STR), "-", ""
    )
    day_seq = group_rank(reported.astype("datetime64[D]").astype(np.int64)) + 1
    issue_pick = rng.integers(0, 5, n)
    issue = np.empty(n, dtype=STR)
    for c, code in enumerate(_CATS):
        m = category == c
        issue[m] = pick(_ISSUES[code], issue_pick[m] % len(_ISSUES[code]))
    channel_text = pick(_CHANNELS, channel)
    sentence = pick([_CHANNEL_SENTENCE[c] for c in _CHANNELS], channel)
    pts_metric = shapely.points(x, y)
    incident_dept = np.where(dispatched & ~on_spot, dept + 1, 0)
    tables["incidents"] = Table(
        "incidents",
        {
            "id": np.arange(1, n + 1, dtype=np.int64),
            "code": cat(f"{STREET_PREFIX}-", ymd, "-", zero_pad(day_seq, 5)),
            "category_code": pick(_CATS, category),
            "title": cat(label, issue),
            "description": cat(address, "，", issue, "。", sentence),
            "status": pick(list(_STATUS_INDEX), status),
            "channel": channel_text,
            "risk_level": pick(["high", "medium", "low"], risk),
            "supervision": supervision,
            "handled_on_spot": on_spot,
            "geom": world.lonlat.geoms(pts_metric),
            "address": address,
            "department_id": incident_dept,
            "reported_by": reported_by,
            "reporter_name": np.where(citizen, reporter, NULL),
            "reporter_phone": np.where(citizen, reporter_phone, NULL),
            "reported_at": local_time_text(reported),
            "deadline_at": local_time_text(deadline),
            "closed_at": local_time_text(closed_at),
        },
        refs={"department_id": "departments", "reported_by": "users"},
        geometry=("geom",),
    )

    # --- steps table ------------------------------------------------------------------------------
    step_inc = np.concatenate([p[0] for p in step_parts])
    step_pos = np.concatenate([p[1] for p in step_parts])
    at_s = np.concatenate([p[2] for p in step_parts])
    step_action = np.concatenate([p[3] for p in step_parts])
    from_status = np.concatenate([p[4] for p in step_parts])
    to_status = np.concatenate([p[5] for p in step_parts])
    s_dept = np.concatenate([p[6] for p in step_parts])
    order = np.lexsort((step_pos, step_inc))
    step_inc, at_s, step_action, from_status, to_status, s_dept = (
        step_inc[order],
        at_s[order],
        step_action[order],
        from_status[order],
        to_status[order],
        s_dept[order],
    )
    ns = len(step_inc)
    spot = on_spot[step_inc]
    worker = world.grid_worker_ids[grid[step_inc]]
    handler = world.handler_ids[s_dept]
    actor = np.select(
        [
            step_action == "report",
            (step_action == "dispatch") | (step_action == "escalate"),
            step_action == "verify",
            spot,
        ],
        [
            reported_by[step_inc],
            np.full(ns, world.dispatcher_id),
            np.where(spot, world.dispatcher_id, worker),
            np.full(ns, world.dispatcher_id),
        ],
        handler,
    )
    with_dept = ~np.isin(step_action, ["report", "verify", "escalate"]) & ~spot
    dept_names = np.array([d[1] for d in DEPARTMENTS], dtype=STR)
    note = np.full(ns, NULL, dtype=STR)
    for act, text in _STEP_NOTES.items():
        note[step_action == act] = text
    note[step_action == "dispatch"] = cat("派遣至", dept_names[s_dept[step_action == "dispatch"]])
    is_report = step_action == "report"
    note[is_report] = pick([_REPORT_NOTES[c] for c in _CHANNELS], channel[step_inc[is_report]])
    note[is_report & spot] = "现场处置完毕，上报备案"
    # where: the report where the worker stood, the handling a few metres from the incident
    geo = np.full(ns, None, dtype=object)
    at_report = is_report & by_worker[step_inc]
    at_handle = step_action == "handle"
    geo[at_report] = pts_metric[step_inc[at_report]]
    jx = x[step_inc[at_handle]] + rng.normal(0, 8, int(at_handle.sum()))
    jy = y[step_inc[at_handle]] + rng.normal(0, 8, int(at_handle.sum()))
    geo[at_handle] = shapely.points(jx, jy)
    has_geo = ~shapely.is_missing(geo)
    geo[has_geo] = world.lonlat.geoms(geo[has_geo])
    tables["incident_steps"] = Table(
        "incident_steps",
        {
            "id": np.arange(1, ns + 1, dtype=np.int64),
            "incident_id": step_inc + 1,
            "action": step_action,
            "from_status": from_status,
            "to_status": to_status,
            "actor_id": actor,
            "department_id": np.where(with_dept, s_dept + 1, 0),
            "at": local_time_text(at_s.astype("datetime64[s]")),
            "note": note,
            "geom": geo,
        },
        refs={"incident_id": "incidents", "actor_id": "users", "department_id": "departments"},
        geometry=("geom",),
    )
    world.incident_xy = np.column_stack([x, y])
    world.incident_grid = grid
    world.incident_reported = reported
    world.incident_channel = channel


# Checklists (answers JSON) per kind of place.
_CHECKLIST = {
    "construction_site": ("helmets_worn", "fence_intact", "dust_covered"),
    "school": ("gate_guarded", "exits_clear", "extinguisher_ok"),
    "kindergarten": ("gate_guarded", "exits_clear", "extinguisher_ok"),
    "rental": ("extinguisher_ok", "no_indoor_ebike_charging", "tenants_registered"),
    "restaurant": ("extinguisher_ok", "gas_hose_ok", "exits_clear"),
    "market": ("exits_clear", "extinguisher_ok", "stalls_in_line"),
}
_DEFAULT_CHECKLIST = ("extinguisher_ok", "exits_clear", "wiring_ok")


def generate_patrols(world: World, tables: dict[str, Table]) -> None:
    """Add patrols: problems found on patrol (linked to their incident) and routine visits."""
    rng = rng_for(world.seed, "patrols")
    assert (
        world.places_geom is not None
        and world.places_kind is not None
        and world.places_grid is not None
    )
    places_metric = world.places_geom
    place_pts = shapely.point_on_surface(places_metric)
    xy, inc_grid = world.incident_xy, world.incident_grid
    reported, channel = world.incident_reported, world.incident_channel
    assert xy is not None and inc_grid is not None and reported is not None and channel is not None
    window = REFERENCE_TIME - np.timedelta64(60, "D")
    found = np.flatnonzero((channel == _CHANNELS.index("patrol")) & (reported >= window))
    nearest = shapely.STRtree(place_pts).query_nearest(shapely.points(xy[found]), all_matches=False)
    problem_place = np.zeros(len(found), dtype=np.int64)
    problem_place[nearest[0]] = nearest[1]
    problem_at = reported[found] - rng.integers(300, 1800, len(found)).astype("timedelta64[s]")

    n_ok = world.spec.ok_patrols
    kind_w = {
        "three_in_one": 4.0,
        "small_workshop": 3.0,
        "small_entertainment": 3.0,
        "rental": 2.0,
        "restaurant": 2.0,
        "construction_site": 4.0,
        "market": 3.0,
    }
    w = np.array([kind_w.get(str(k), 1.0) for k in world.places_kind.tolist()])
    ok_place = choice_index(rng, w, n_ok)
    day = (
        REFERENCE_TIME.astype("datetime64[D]") - rng.integers(1, 61, n_ok).astype("timedelta64[D]")
    ).astype("datetime64[s]")
    ok_at = day + (rng.integers(9, 17, n_ok) * 3600 + rng.integers(0, 3600, n_ok)).astype(
        "timedelta64[s]"
    )

    place = np.concatenate([problem_place, ok_place])
    at = np.concatenate([problem_at, ok_at])
    problem = np.arange(len(place)) < len(found)
    grid = np.concatenate([inc_grid[found], world.places_grid[ok_place]])
    pxy = shapely.get_coordinates(place_pts[place])
    pxy[problem] = xy[found]
    pxy[~problem] += rng.normal(0, 4, (n_ok, 2))
    incident_id = np.concatenate([found + 1, np.zeros(n_ok, dtype=np.int64)])
    answers = np.empty(len(place), dtype=STR)
    kinds = world.places_kind[place]
    for kind_name in np.unique(kinds).tolist():
        items = _CHECKLIST.get(kind_name, _DEFAULT_CHECKLIST)
        fine = json.dumps(dict.fromkeys(items, True))
        bad = json.dumps({item: i != 0 for i, item in enumerate(items)})
        m = kinds == kind_name
        answers[m] = np.where(problem[m], bad, fine)
    order = np.lexsort((place, at))
    n = len(place)
    tables["patrols"] = Table(
        "patrols",
        {
            "id": np.arange(1, n + 1, dtype=np.int64),
            "place_id": place[order] + 1,
            "worker_id": world.grid_worker_ids[grid[order]],
            "grid_id": world.grid_ids[grid[order]],
            "patrolled_at": local_time_text(at[order]),
            "geom": world.lonlat.geoms(shapely.points(pxy[order])),
            "answers": answers[order],
            "result": np.where(problem[order], "problem", "ok").astype(STR),
            "incident_id": incident_id[order],
        },
        refs={
            "place_id": "places",
            "worker_id": "users",
            "grid_id": "grids",
            "incident_id": "incidents",
        },
        geometry=("geom",),
    )
