"""The dependencies of the task API's routes, as ``Annotated`` aliases (the caller's come from ``platform_api``).

``get_credentials`` and ``get_launcher`` are placeholders the host replaces through
``app.dependency_overrides`` (``create_app`` does it from its arguments).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Path, status

from data_pipeline.api.ports import Credentials, RunLauncher
from data_pipeline.tasks.ids import TASK_ID_PATTERN, validate_task_id
from data_pipeline.tasks.store import TaskRecord, TaskStore, default_store
from platform_api.auth import BearerDep, ReaderDep, WriterDep, read_access, write_access
from platform_api.envelope import error_responses

__all__ = ["ERRORS", "CredentialsDep", "LauncherDep", "MayWriteDep", "ReaderDep", "StoreDep", "TaskIdPath",
           "WriterDep", "get_credentials", "get_launcher", "get_store", "load_task", "may_write", "read_access",
           "write_access"]


def get_credentials(token: BearerDep) -> Credentials:
    """The caller's bearer token; the host may replace this to read its session cookie as well."""
    return Credentials(token.credentials if token else None)


def get_launcher() -> RunLauncher:
    """Replaced by the host: how runs start."""
    raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no run launcher is configured")


def may_write() -> bool:
    """Replaced by the host: whether the caller could change things (a probe that never answers 403)."""
    return False


def get_store() -> TaskStore:
    return default_store()


CredentialsDep = Annotated[Credentials, Depends(get_credentials)]
MayWriteDep = Annotated[bool, Depends(may_write)]
LauncherDep = Annotated[RunLauncher, Depends(get_launcher)]
StoreDep = Annotated[TaskStore, Depends(get_store)]
TaskIdPath = Annotated[str, Path(pattern=TASK_ID_PATTERN, max_length=32,
                                 description="task id: task_|manual_|sched_YYYYMMDD_HHMMSS[_suffix]")]

ERROR_TEXT = {400: "Bad request", 401: "Not authenticated", 403: "Not allowed", 404: "Not found", 409: "Conflict",
              413: "Payload too large", 415: "Unsupported media type", 500: "Internal error", 502: "Upstream error"}
ERRORS = error_responses(ERROR_TEXT, *ERROR_TEXT)


def load_task(store: TaskStore, task_id: str) -> TaskRecord:
    validate_task_id(task_id)
    return store.require_task(task_id)
