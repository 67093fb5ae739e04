"""Errors a user can act on. Each carries a stable ``error_code`` the REST API returns."""

from __future__ import annotations

from typing import Any

from platform_api.errors import ServiceError


class PipelineError(ServiceError):
    """Base class: a clear message naming the problem, an error code, optional details."""

    error_code = "PIPELINE_ERROR"
    http_status = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message, details)


class InvalidInput(PipelineError, ValueError):
    error_code = "INVALID_INPUT"
    http_status = 400


class InvalidTaskId(InvalidInput):
    error_code = "INVALID_TASK_ID"


class UnknownTables(InvalidInput):
    """Listed tables the business database does not have (or names several tables match)."""

    error_code = "UNKNOWN_TABLES"


class DatabaseUnreachable(PipelineError):
    """The business database could not be reached when a request checked it (424 Failed Dependency: the
    request depends on that database; the caller's to fix or to retry later, never a 5xx of ours)."""

    error_code = "DATABASE_UNREACHABLE"
    http_status = 424


class UnsafePath(InvalidInput):
    error_code = "INVALID_PATH"


class NotFound(PipelineError, LookupError):
    error_code = "NOT_FOUND"
    http_status = 404


class TaskNotFound(NotFound):
    error_code = "TASK_NOT_FOUND"


class Conflict(PipelineError):
    error_code = "CONFLICT"
    http_status = 409


class DagPaused(Conflict):
    """The DAG that would run the task is paused: a triggered run would wait, and the task with it, for ever."""

    error_code = "DAG_PAUSED"


class TaskRunning(Conflict):
    error_code = "TASK_RUNNING"


class TooLarge(PipelineError):
    error_code = "PAYLOAD_TOO_LARGE"
    http_status = 413


class StepFailed(PipelineError):
    error_code = "STEP_FAILED"


class UpstreamError(PipelineError):
    """Airflow refused or did not answer a request made on the caller's behalf (starting a run)."""

    error_code = "AIRFLOW_ERROR"
    http_status = 502
