"""Who the caller is, declared once for both apps: placeholders the host binds through dependency overrides.

``read_access`` and ``write_access`` answer 401 until the host (the Airflow plugin, or a test)
replaces them with its own checks (``bind_access``), so an app built without its host's auth is
closed, not open. They read the bearer token, so both OpenAPI documents declare it on every route.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

bearer = HTTPBearer(auto_error=False, scheme_name="AirflowToken",
                    description="An Airflow access token (POST /auth/token); the UI session cookie works too")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


@dataclass(frozen=True)
class Principal:
    name: str


class AccessControl(Protocol):
    """FastAPI dependencies: ``read`` for GET routes, ``write`` for routes that change or run things.

    Each returns the caller (a ``Principal``) or raises HTTPException 401 (not authenticated) / 403
    (not allowed). A host may also have ``credentials``, a dependency returning the caller's
    credentials for calls made on their behalf (the task API reads the bearer header by default).
    """

    read: Callable[..., Any]
    write: Callable[..., Any]


@dataclass(frozen=True)
class Access:
    """An ``AccessControl`` of plain dependencies (the host's, or a test's stand-ins)."""

    read: Callable[..., Any]
    write: Callable[..., Any]
    credentials: Callable[..., Any] | None = None
    may_write: Callable[..., Any] | None = None
    """A dependency answering whether the caller could write, without raising 403 (pages hide what they
    may not do); without it the task API answers ``False``."""


def read_access(_: BearerDep) -> Principal:
    """Replaced by the host: the caller, if they may read."""
    raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Not authenticated")


def write_access(_: BearerDep) -> Principal:
    """Replaced by the host: the caller, if they may change things and start runs."""
    raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Not authenticated")


ReaderDep = Annotated[Principal, Depends(read_access)]
WriterDep = Annotated[Principal, Depends(write_access)]


def bind_access(app: FastAPI, access: AccessControl) -> None:
    """Route the placeholders to the host's own access checks."""
    app.dependency_overrides[read_access] = access.read
    app.dependency_overrides[write_access] = access.write
