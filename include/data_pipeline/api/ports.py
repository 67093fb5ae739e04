"""What the APIs need from their host (Airflow): who the caller is, may they, and how runs start.

The host binds them when it builds an app (``create_app`` arguments, which become
``app.dependency_overrides``), so tests build the same apps with stand-ins and no Airflow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from data_pipeline.workflow.runs import Credentials, RunLauncher


@dataclass(frozen=True)
class Principal:
    name: str


class AccessControl(Protocol):
    """FastAPI dependencies: ``read`` for GET routes, ``write`` for routes that change or run things.

    Each returns the caller (a ``Principal``) or raises HTTPException 401 (not authenticated) / 403
    (not allowed). A host may also have ``credentials``, a dependency returning the caller's
    ``Credentials`` (the default reads the bearer header).
    """

    read: Callable[..., Any]
    write: Callable[..., Any]


@dataclass(frozen=True)
class Access:
    """An ``AccessControl`` of plain dependencies; ``credentials`` optionally replaces reading the bearer token."""

    read: Callable[..., Any]
    write: Callable[..., Any]
    credentials: Callable[..., Any] | None = None


__all__ = ["Access", "AccessControl", "Credentials", "Principal", "RunLauncher"]
