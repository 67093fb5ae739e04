"""The answer envelope of both REST apps: ``{success, code, message, data}`` (+ ``error_code`` on errors).

This is the one place that turns an exception into an answer: ``ServiceError`` (every pipeline and
publisher error) by its own ``error_code``/``http_status``, HTTP errors by status, validation errors
as 400 ``VALIDATION_ERROR``, anything else as 500. Both apps install the same handlers and document
errors with the same ``ErrorEnvelope`` schema.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from platform_api.errors import ServiceError
from platform_db import redact_dsn
from platform_db.settings import SettingsError

log = logging.getLogger(__name__)
T = TypeVar("T")

_ERROR_CODES = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED",
                409: "CONFLICT", 413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE", 422: "VALIDATION_ERROR",
                500: "INTERNAL_ERROR", 502: "BAD_GATEWAY", 503: "SERVICE_UNAVAILABLE"}


class Envelope(BaseModel, Generic[T]):
    """Every successful answer; ``data`` is the route's own model."""

    success: bool = True
    code: int = 200
    message: str = "ok"
    data: T | None = None


class ErrorEnvelope(BaseModel):
    """Every error answer; ``data`` holds details (validation problems, an upstream server's code and msg)."""

    success: bool = False
    code: int
    message: str
    error_code: str
    data: dict[str, Any] | None = None
    missing_params: list[str] | None = None


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return jsonable_encoder(value)


class FastJSONResponse(JSONResponse):
    """``json.dumps`` with a small ``default`` instead of FastAPI's generic encoder (10x faster on lists)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":"), default=_json_default).encode()


def ok(data: Any = None, message: str = "ok", code: int = 200) -> JSONResponse:
    return FastJSONResponse(status_code=code, content={"success": True, "code": code, "message": message,
                                                       "data": data})


def error(code: int, message: str, error_code: str | None = None, data: dict[str, Any] | None = None,
          missing_params: list[str] | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"success": False, "code": code, "message": message,
                            "error_code": error_code or _ERROR_CODES.get(code, "ERROR"), "data": data}
    if missing_params:
        body["missing_params"] = missing_params
    return JSONResponse(status_code=code, content=jsonable_encoder(body), headers=headers)


def service_error(exc: ServiceError, extra: dict[str, Any] | None = None,
                  redact: Callable[[str], str] = redact_dsn) -> JSONResponse:
    """The answer for an error of the product; ``extra`` joins its data (a failed publish's record)."""
    data = {**exc.answer_data(), **(extra or {})}
    missing = data.pop("missing_params", None)
    return error(exc.http_status, redact(exc.message), exc.error_code, data=data or None, missing_params=missing)


def error_responses(texts: dict[int, str], *codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for ``codes``, each the shared ``ErrorEnvelope`` with the app's description."""
    return {code: {"model": ErrorEnvelope, "description": texts[code]} for code in sorted(codes)}


class ControlCharacterGuard:
    """Root middleware: a path under our prefixes with control characters gets our 400, not a bare 404.

    Airflow's router cannot route such paths to a mounted app at all; without this the caller would
    see Airflow's generic 404 instead of an explanation.
    """

    def __init__(self, app: Any, prefixes: tuple[str, ...] = ("/api/v0/data_pipeline", "/api/v1")) -> None:
        self.app = app
        self.prefixes = prefixes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope.get("type") == "http" else ""
        if path.startswith(self.prefixes) and any(ord(ch) < 32 or ord(ch) == 127 for ch in path):
            response = error(400, "the request path contains control characters", "INVALID_PATH")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _problems(errors: Any, skip: tuple[str, ...] = ()) -> list[dict[str, str]]:
    return [_problem(err, skip) for err in errors]


def _problem(err: dict[str, Any], skip: tuple[str, ...]) -> dict[str, str]:
    loc = err.get("loc", ())
    if err.get("type") == "json_invalid":  # the location is a character offset into the body, not a field
        where = next((p for p in loc if isinstance(p, int)), None)
        reason = (err.get("ctx") or {}).get("error") or "not valid JSON"
        at = f" at character {where}" if where is not None else ""
        return {"field": "", "problem": f"the body is not valid JSON{at}: {reason}", "type": "json_invalid"}
    return {"field": ".".join(str(p) for p in loc if p not in skip),
            "problem": err.get("msg", "invalid"), "type": err.get("type", "")}


def install_error_handlers(app: FastAPI, redact: Callable[[str], str] = redact_dsn) -> None:
    """The one mapping from exceptions to answers; ``redact`` hides secrets in messages (URI passwords at least)."""

    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, exc: ServiceError) -> JSONResponse:
        return service_error(exc, redact=redact)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = redact(exc.detail) if isinstance(exc.detail, str) else "request failed"
        return error(exc.status_code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = _problems(exc.errors(), ("body", "query", "path", "header", "cookie"))
        missing = [p["field"] for p in problems if p["type"] == "missing"]
        message = "invalid request: " + "; ".join(f"{p['field'] or 'body'}: {p['problem']}" for p in problems[:5])
        return error(400, redact(message) if problems else "invalid request", "VALIDATION_ERROR",
                     data={"errors": problems}, missing_params=missing or None)

    @app.exception_handler(ValidationError)
    async def _model_error(_: Request, exc: ValidationError) -> JSONResponse:
        problems = _problems(exc.errors())
        first = problems[0] if problems else {"field": "", "problem": "invalid value"}
        return error(400, redact(f"invalid value: {first['field'] or 'input'}: {first['problem']}"), "VALIDATION_ERROR",
                     data={"errors": problems})

    @app.exception_handler(SettingsError)
    async def _settings_error(_: Request, exc: SettingsError) -> JSONResponse:
        # The operator's setting is wrong, not the request: unavailable until fixed, and the message says what.
        log.error("misconfigured: %s", redact(exc.message))
        return error(503, redact(f"the server is misconfigured: {exc.message}"), "CONFIGURATION_ERROR")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error in %s %s", request.method, request.url.path)
        return error(500, f"internal error: {type(exc).__name__}; details in the API server log", "INTERNAL_ERROR")


def without_unused_422(app: FastAPI) -> None:
    """Drop FastAPI's default 422 entries from the document: invalid requests are answered 400 here."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for item in schema.get("paths", {}).values():
                for operation in item.values():
                    if isinstance(operation, dict):
                        operation.get("responses", {}).pop("422", None)
            schemas = schema.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                schemas.pop(name, None)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
