"""Domain errors. Each carries a stable code and a message in Chinese and English.

The HTTP layer maps each class to a status code in one table (gis_api.errors); layers/ never
knows about HTTP.
"""

from __future__ import annotations

from typing import Any, ClassVar


class WanggeError(Exception):
    """Base of every error Wangge reports to a user."""

    code: ClassVar[str] = "error"
    default_zh: ClassVar[str] = "操作失败"
    default_en: ClassVar[str] = "The operation failed"

    def __init__(
        self,
        message_en: str | None = None,
        message_zh: str | None = None,
        *,
        field: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.message_en = message_en or self.default_en
        self.message_zh = message_zh or self.default_zh
        self.field = field
        self.extra = extra or {}
        super().__init__(self.message_en)


class InvalidInput(WanggeError):
    """The input is well-formed but its values are not acceptable."""

    code = "invalid-input"
    default_zh = "输入无效"
    default_en = "Invalid input"


class InvalidGeometry(InvalidInput):
    """A geometry that is not valid (self-intersection, wrong type, empty...)."""

    code = "invalid-geometry"
    default_zh = "几何图形无效"
    default_en = "Invalid geometry"


class UnknownCRS(InvalidInput):
    """A coordinate reference system Wangge cannot convert from."""

    code = "unknown-crs"
    default_zh = "不支持的坐标参考系"
    default_en = "Unknown or unsupported coordinate reference system"


class OutsideAllGrids(WanggeError):
    """A location that no current grid covers."""

    code = "outside-all-grids"
    default_zh = "该位置不在任何网格内"
    default_en = "The location is outside every grid"


class NotFound(WanggeError):
    """The resource does not exist, or the user may not know that it exists."""

    code = "not-found"
    default_zh = "未找到"
    default_en = "Not found"


class AuthenticationFailed(WanggeError):
    """Missing, expired or wrong credentials."""

    code = "unauthenticated"
    default_zh = "未登录或登录已过期"
    default_en = "Not authenticated"


class Forbidden(WanggeError):
    """The user is known but their role or area does not allow this."""

    code = "forbidden"
    default_zh = "无权执行此操作"
    default_en = "Not allowed for your role or area"


class Conflict(WanggeError):
    """The change conflicts with the current state (version clash, duplicate, bad transition)."""

    code = "conflict"
    default_zh = "与当前数据冲突"
    default_en = "Conflicts with the current state"
