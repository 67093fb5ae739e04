"""Dependencies of the ``/api/v1`` routes: the caller (shared with the task API) and the runtime."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from dolphin_publisher.runtime import Runtime
from platform_api.auth import ReaderDep, WriterDep, read_access, write_access

__all__ = ["READ", "ReaderDep", "RuntimeDep", "WriterDep", "new_router", "operator", "write_access"]


def get_runtime() -> Runtime:
    """A runtime per request (one database, the configuration loaded on first use); tests replace it."""
    return Runtime()


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
READ = [Depends(read_access)]


def operator(user: Any) -> str:
    """The name recorded on versions and publish records: the caller as the host's auth returned it."""
    if isinstance(user, str) and user:
        return user
    for attr in ("username", "user_name", "name"):
        value = getattr(user, attr, None)
        if isinstance(value, str) and value:
            return value
    getter = getattr(user, "get_name", None)
    if callable(getter):
        return str(getter())
    return "api"


def new_router() -> APIRouter:
    """A router of this API: operationIds are the function names (the OpenAPI links name them)."""
    return APIRouter(tags=["workflows"], generate_unique_id_function=lambda route: route.name)


