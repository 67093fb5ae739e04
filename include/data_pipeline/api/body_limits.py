"""Request-size limits enforced while the body streams in, before anything is parsed or spooled.

Starlette spools multipart uploads to disk before a route runs, so a size check in the route would
come too late: this ASGI middleware answers 413 as soon as the declared or received size passes the
route's limit, and 415 when an upload route receives something other than multipart/form-data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from data_pipeline import config

_UPLOAD_TABLE_LIST = re.compile(r"/tasks/[^/]+/upload-table-list$")
_UPLOAD_FILE = re.compile(r"/tasks/[^/]+/files$")
MULTIPART_OVERHEAD = 64 * 1024
JSON_BODY_LIMIT = 1024 * 1024


class PayloadTooLarge(HTTPException):
    """Raised from inside body reading; FastAPI re-raises HTTPExceptions from there unchanged."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(status_code=413, detail=f"request body exceeds the limit of {max_bytes} bytes")


def limit_for(path: str, method: str) -> tuple[int, bool]:
    """(byte limit, must be multipart) for a request."""
    limits = config.limits()
    if method == "POST" and _UPLOAD_TABLE_LIST.search(path):
        return limits.max_table_list_bytes + MULTIPART_OVERHEAD, True
    if method == "POST" and _UPLOAD_FILE.search(path):
        return limits.max_upload_bytes + MULTIPART_OVERHEAD, True
    return JSON_BODY_LIMIT, False


async def _send_error(send: Send, status: int, error_code: str, message: str) -> None:
    body = json.dumps({"success": False, "code": status, "message": message, "error_code": error_code,
                       "data": None}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limit: Callable[[str, str], tuple[int, bool]] = limit_for) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        max_bytes, multipart = self.limit(scope["path"], scope["method"])
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if not headers.get("authorization") and "_token=" not in headers.get("cookie", ""):
            # No credentials at all: refuse before reading a byte of the body (the routes authenticate fully).
            await _send_error(send, 401, "UNAUTHORIZED", "Not authenticated")
            return
        if multipart and not headers.get("content-type", "").lower().startswith("multipart/form-data"):
            await _send_error(send, 415, "UNSUPPORTED_MEDIA_TYPE", "upload as multipart/form-data with a 'file' field")
            return
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            await _send_error(send, 413, "PAYLOAD_TOO_LARGE",
                              f"request body of {declared} bytes exceeds the limit of {max_bytes} bytes")
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise PayloadTooLarge(max_bytes)
            return message

        await self.app(scope, counting_receive, send)


