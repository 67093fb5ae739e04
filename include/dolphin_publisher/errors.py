"""Typed errors shared by the CLI, the API and the DAG.

Every error carries an ``error_code`` and an HTTP status so the API and the CLI report it the same
way; DolphinScheduler errors keep the server's own ``code`` and ``msg`` because several server
messages share one number.
"""

from __future__ import annotations

from typing import Any

from platform_api.errors import ServiceError


class PublisherError(ServiceError):
    """Base class; ``details`` is safe to show to users (never holds a token)."""

    error_code = "INTERNAL_ERROR"
    http_status = 500

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details)

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

    def answer_data(self) -> dict[str, Any]:
        """The server's own code and msg next to the details: several messages share one number."""
        return {**self.details, "dolphin_code": self.code, "dolphin_msg": self.msg}


# DolphinScheduler business codes (``api/enums/Status.java``) by whose business they are. Numbers
# are shared by several messages, so only numbers whose every message means the same thing are here.
DOLPHIN_NOT_FOUND = frozenset({
    50001,  # workflow instance does not exist
    50003,  # workflow definition does not exist
    50007,  # sub-workflow instance does not exist
    10008, 10020,  # task instance not found (its log too)
    10203,  # schedule does not exist
})
DOLPHIN_INVALID = frozenset({
    10001,  # request parameter not valid
    10002,  # task timeout parameter not valid
    10024, 10140,  # crontab fails validation / cannot be parsed
    10141,  # schedule start time equals end time
    80003,  # schedule start time after its end time
    10198,  # duplicate task name
    50017, 50018,  # data not valid / data is null
    50019,  # cycle
    50020,  # task params invalid
    50030,  # relation names a task not in the definition
    50036,  # relation error
})
DOLPHIN_CONFLICT = frozenset({
    10023,  # online schedule cannot be updated
    10126,  # schedule release already in that state
    10168,  # definition name exists
    10204,  # workflow already has a schedule
    50002,  # instance already exists
    50004,  # definition not released (offline)
    50005, 50006, 50009,  # instance state does not allow the operation / busy with a command
    50008,  # ONLINE definition cannot be edited
    50021,  # definition is online (cannot be deleted)
    50023,  # schedule is online
    50034,  # task relation exists
    50035,  # DAG empty: cannot go online
    50045,  # task definition name exists
    50050, 50051, 50052,  # task online / has downstream / has upstream
})
DOLPHIN_NO_PERMISSION = frozenset({30001, 30002})
DOLPHIN_PROJECT_MISSING = frozenset({10018, 10190})
# Codes whose meaning depends on the call: 50014 is "start error" in general, but on batch start
# it lists the definitions that cannot be started (offline or gone), which is a state conflict.
_BY_ENDPOINT = {("batch-start", 50014): 409}


def classify_dolphin_code(code: int, endpoint: str | None = None) -> tuple[int, str]:
    """(HTTP status, error_code) for a DolphinScheduler business error.

    Errors about the request or the state of what it names are the caller's (4xx); a wrong project
    code is the operator's settings (503, like any configuration error); what is left (10105
    "create definition error", 10000 internal error, codes we do not know) is DolphinScheduler
    failing, so 502.
    """
    status = _BY_ENDPOINT.get((endpoint or "", code))
    if status is None:
        if code in DOLPHIN_NOT_FOUND:
            status = 404
        elif code in DOLPHIN_INVALID:
            status = 400
        elif code in DOLPHIN_CONFLICT:
            status = 409
        elif code in DOLPHIN_NO_PERMISSION:
            status = 403
        elif code in DOLPHIN_PROJECT_MISSING:
            status = 503
        else:
            status = 502
    return status, _DOLPHIN_ERROR_CODES[status]


_DOLPHIN_ERROR_CODES = {400: "DOLPHIN_INVALID", 403: "DOLPHIN_PERMISSION_DENIED", 404: "DOLPHIN_NOT_FOUND",
                        409: "DOLPHIN_CONFLICT", 502: "DOLPHIN_ERROR", 503: "DOLPHIN_PROJECT_NOT_FOUND"}


class DolphinApiError(DolphinError):
    """The server answered with a non-zero envelope ``code`` (a business error: never retried).

    ``http_status`` and ``error_code`` follow ``classify_dolphin_code``.
    """

    def __init__(self, code: int, msg: str, *, endpoint: str) -> None:
        self.http_status, self.error_code = classify_dolphin_code(code, endpoint)
        if self.http_status == 403:
            message = (f"the DolphinScheduler access token lacks permission for {endpoint} "
                       f"(DolphinScheduler {code}: {msg}): grant its user access to the configured project, or "
                       "use the token of a user who has it")
        elif self.http_status == 503:
            message = (f"the configured DolphinScheduler project does not exist (DolphinScheduler {code}: {msg}): "
                       "check extra.project_code of the dolphinscheduler_default connection")
        else:
            message = f"DolphinScheduler error {code}: {msg}"
        super().__init__(message, code=code, msg=msg, endpoint=endpoint)


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
