"""Identity of the demo street and the fixed facts every generator module shares."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from layers.demo.arrays import NULL, STR, StrArray, cat

DISTRICT_CODE = "370112000000"
DISTRICT_NAME = "历城区"
STREET_CODE = "370112004000"
STREET_NAME = "全福街道"
#: The significant prefix of the street: every demo community and grid code starts with it.
STREET_PREFIX = STREET_CODE[:9]
#: The password of every demo user (documented in docs/DEMO_USERS.md).
DEMO_PASSWORD = "wangge-demo"  # noqa: S105 (public, documented demo password)
#: "Now" of the demo world, Asia/Shanghai local time: incidents cover the 12 months before it.
REFERENCE_TIME = np.datetime64("2026-11-01T00:00:00", "s")
UTC_OFFSET = "+08:00"
#: When version 1 of every demo grid became valid.
GRID_VALID_FROM = "2025-01-01T00:00:00+08:00"

#: Departments of the street: (code, name, phone). Handlers log in as ``dh_<code>``.
DEPARTMENTS = (
    ("qf-fire", "全福消防救援站", "0531-88110119"),
    ("qf-emergency", "全福街道应急管理办公室", "0531-88110201"),
    ("qf-market", "全福市场监督管理所", "0531-88110315"),
    ("qf-urban", "全福街道住建和城市管理办公室", "0531-88110402"),
    ("qf-police", "全福派出所", "0531-88110110"),
    ("qf-social", "全福街道社会事务办公室", "0531-88110503"),
    ("qf-justice", "全福司法所", "0531-88110148"),
    ("qf-health", "全福街道卫生健康办公室", "0531-88110120"),
)
DEPT_INDEX = {code: i for i, (code, _, _) in enumerate(DEPARTMENTS)}


def local_time_text(t: npt.NDArray[np.datetime64]) -> StrArray:
    """Local (UTC+8) datetimes as timestamptz text; NaT becomes NULL."""
    text = cat(np.datetime_as_string(t.astype("datetime64[s]"), unit="s").astype(STR), UTC_OFFSET)
    return np.where(np.isnat(t), NULL, text)
