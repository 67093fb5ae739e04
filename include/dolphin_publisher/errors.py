"""Typed errors shared by the CLI, the API and the DAG.

Every error carries an ``error_code`` and an HTTP status so the API and the CLI report it the same
way; DolphinScheduler errors keep the server's own ``code`` and ``msg`` because several server
messages share one number.
"""

from __future__ import annotations

from typing import Any


class PublisherError(Exception):
    """Base class; ``details`` is safe to show to users (never holds a token)."""

    error_code = "INTERNAL_ERROR"
    http_status = 500

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.error_code, "message": self.message, **self.details}


class WorkflowValidationError(PublisherError):
    """The definition was rejected before anything was written (cycle, unknown task, ...)."""

    error_code = "VALIDATION_ERROR"
    http_status = 400

    def __init__(self, message: str, *, problems: list[str] | None = None,
                 details: dict[str, Any] | None = None) -> None:
        self.problems = problems or [message]
        super().__init__(message, details={"problems": self.problems, **(details or {})})


class CronConversionError(WorkflowValidationError):
    """A cron expression has no Quartz equivalent with identical firing times."""


class NotFoundError(PublisherError):
    error_code = "NOT_FOUND"
    http_status = 404


class ConflictError(PublisherError):
    """The request clashes with the current state (ownership, publish in progress, online)."""

    error_code = "CONFLICT"
    http_status = 409


class ConfigError(PublisherError):
    """The DolphinScheduler settings are incomplete or wrong.

    503, not 500: the platform's own routes work; the DolphinScheduler ones are unavailable until an
    operator fixes the settings, and the message says which.
    """

    error_code = "CONFIG_ERROR"
    http_status = 503


class NotConfiguredError(ConfigError):
    """No DolphinScheduler settings at all: the message tells how to add them."""

    error_code = "DOLPHIN_NOT_CONFIGURED"


class DagImportError(WorkflowValidationError):
    """An Airflow DAG cannot be expressed as a DolphinScheduler workflow."""


class DolphinError(PublisherError):
    """Anything that went wrong talking to DolphinScheduler."""

    error_code = "DOLPHIN_ERROR"
    http_status = 502

    def __init__(self, message: str, *, code: int | None = None, msg: str | None = None,
                 endpoint: str | None = None, http_status_from_server: int | None = None) -> None:
        self.code = code
        self.msg = msg
        self.endpoint = endpoint
        self.server_http_status = http_status_from_server
        details: dict[str, Any] = {"code": code, "msg": msg, "endpoint": endpoint}
        if http_status_from_server is not None:
            details["http_status"] = http_status_from_server
        super().__init__(message, details=details)


class DolphinApiError(DolphinError):
    """The server answered with a non-zero envelope ``code`` (a business error: never retried)."""

    def __init__(self, code: int, msg: str, *, endpoint: str) -> None:
        super().__init__(f"DolphinScheduler error {code}: {msg}", code=code, msg=msg, endpoint=endpoint)


class DolphinAuthError(DolphinError):
    """HTTP 401: the access token is missing, wrong or expired."""

    error_code = "DOLPHIN_AUTH_ERROR"

    def __init__(self, *, endpoint: str) -> None:
        super().__init__(
            "DolphinScheduler rejected the access token (HTTP 401): check the password of the "
            "dolphinscheduler_default connection or the integration config token",
            endpoint=endpoint, http_status_from_server=401,
        )


class DolphinTransientError(DolphinError):
    """Connect error, timeout, dropped connection or 502/503/504, after any retries.

    ``outcome_unknown`` is set when the request may have been processed (the response was lost), so
    callers of non-idempotent operations must look before trying again.
    """

    error_code = "DOLPHIN_UNAVAILABLE"
    http_status = 503

    def __init__(self, message: str, *, endpoint: str, outcome_unknown: bool,
                 http_status_from_server: int | None = None) -> None:
        self.outcome_unknown = outcome_unknown
        super().__init__(message, endpoint=endpoint, http_status_from_server=http_status_from_server)
        self.details["outcome_unknown"] = outcome_unknown


class DolphinProtocolError(DolphinError):
    """The server answered something that is not the documented envelope."""


class GatewayError(DolphinError):
    """The py4j Java gateway is unavailable or failed."""

    error_code = "GATEWAY_ERROR"
