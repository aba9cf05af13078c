"""RFC 9457 problem+json for every error, with Chinese and English messages.

One status table, one registration call. 5xx bodies are generic; the real error is logged.
Never is SQL or exception text sent to a client.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from layers import errors as e

log = logging.getLogger("wangge.errors")

PROBLEM_MEDIA_TYPE = "application/problem+json"

STATUS_BY_ERROR: dict[type[e.WanggeError], int] = {
    e.InvalidGeometry: 422,
    e.UnknownCRS: 422,
    e.InvalidInput: 422,
    e.OutsideAllGrids: 422,
    e.NotFound: 404,
    e.AuthenticationFailed: 401,
    e.Forbidden: 403,
    e.Conflict: 409,
}

# Titles for HTTP errors that do not come from the domain (routing, method, size).
HTTP_TITLES: dict[int, tuple[str, str]] = {
    400: ("请求格式错误", "Bad request"),
    401: ("未登录或登录已过期", "Not authenticated"),
    403: ("无权执行此操作", "Forbidden"),
    404: ("未找到", "Not found"),
    405: ("不支持该请求方法", "Method not allowed"),
    413: ("请求内容过大", "Payload too large"),
    415: ("不支持的内容类型", "Unsupported media type"),
    422: ("输入无效", "Invalid input"),
    429: ("请求过于频繁", "Too many requests"),
    500: ("服务器内部错误", "Internal server error"),
    503: ("服务暂不可用", "Service unavailable"),
}


def problem(
    status: int,
    *,
    code: str,
    title_en: str,
    title_zh: str,
    detail_en: str | None = None,
    detail_zh: str | None = None,
    instance: str | None = None,
    field: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Build a problem+json response."""
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": title_en,
        "status": status,
        "detail": detail_en or title_en,
        "code": code,
        "title_zh": title_zh,
        "detail_zh": detail_zh or title_zh,
    }
    if instance:
        body["instance"] = instance
    if field:
        body["field"] = field
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, e.WanggeError)
    status = next((s for cls, s in STATUS_BY_ERROR.items() if isinstance(exc, cls)), 400)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return problem(
        status,
        code=exc.code,
        title_en=type(exc).default_en,
        title_zh=type(exc).default_zh,
        detail_en=exc.message_en,
        detail_zh=exc.message_zh,
        instance=request.url.path,
        field=exc.field,
        extra=exc.extra or None,
        headers=headers,
    )


_VALIDATION_ZH = {
    "missing": "缺少必填字段",
    "int_parsing": "应为整数",
    "float_parsing": "应为数字",
    "greater_than_equal": "数值过小",
    "less_than_equal": "数值过大",
    "string_too_long": "文本过长",
    "string_too_short": "文本过短",
    "json_invalid": "JSON 格式错误",
    "literal_error": "取值不在允许范围内",
    "enum": "取值不在允许范围内",
}


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or str(loc[-1] if loc else "")


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "field": _field_path(err.get("loc", ())),
            "message_en": err.get("msg", "invalid"),
            "message_zh": _VALIDATION_ZH.get(str(err.get("type", "")), "取值无效"),
            "type": err.get("type"),
        }
        for err in exc.errors()
    ]
    first = errors[0] if errors else {"field": None, "message_en": "", "message_zh": ""}
    return problem(
        422,
        code="invalid-input",
        title_en="Invalid input",
        title_zh="输入无效",
        detail_en=f"{first['field']}: {first['message_en']}",
        detail_zh=f"{first['field']}：{first['message_zh']}",
        instance=request.url.path,
        field=first["field"],
        errors=errors,
    )


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    zh, en = HTTP_TITLES.get(exc.status_code, ("请求失败", "Request failed"))
    detail_en = exc.detail if isinstance(exc.detail, str) else en
    return problem(
        exc.status_code,
        code=f"http-{exc.status_code}",
        title_en=en,
        title_zh=zh,
        detail_en=detail_en,
        instance=request.url.path,
        headers=getattr(exc, "headers", None),
    )


def _integrity_error(request: Request, exc: Exception) -> JSONResponse:
    # A constraint the database enforces: the input conflicts with existing data. The
    # constraint name is safe to show (it is ours); the SQL and values are not.
    constraint = getattr(getattr(getattr(exc, "orig", None), "diag", None), "constraint_name", None)
    log.info("integrity error on %s: %s", request.url.path, constraint)
    return problem(
        409,
        code="constraint-violation",
        title_en="Conflicts with existing data",
        title_zh="与已有数据冲突",
        detail_en=f"The change violates the rule {constraint!s}",
        detail_zh=f"该修改违反了数据规则 {constraint!s}",
        instance=request.url.path,
        extra={"constraint": constraint} if constraint else None,
    )


def _database_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("database error on %s", request.url.path)
    timeout = "statement timeout" in str(exc) or "canceling statement" in str(exc)
    if timeout:
        return problem(
            503,
            code="query-timeout",
            title_en="The query took too long",
            title_zh="查询超时，请缩小范围后重试",
            instance=request.url.path,
        )
    return problem(
        503 if isinstance(exc, OperationalError) else 500,
        code="database-error",
        title_en="Database unavailable" if isinstance(exc, OperationalError) else "Server error",
        title_zh="数据库暂不可用" if isinstance(exc, OperationalError) else "服务器内部错误",
        instance=request.url.path,
    )


def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s", request.url.path)
    return problem(
        500,
        code="internal-error",
        title_en="Internal server error",
        title_zh="服务器内部错误",
        instance=request.url.path,
    )


def register_error_handlers(app: FastAPI) -> None:
    """Install every handler; call once from create_app."""
    app.add_exception_handler(e.WanggeError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(Exception, _unexpected_error)
