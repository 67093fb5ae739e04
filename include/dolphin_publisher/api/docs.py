"""What the ``/api/v1`` OpenAPI document says about each route: its error statuses and its links.

Every status a route can answer is declared: 400 (invalid input), 401 and 403 (the host's auth),
500, and per route 404 and 409. Routes that call DolphinScheduler answer its business errors by
whose business they are (``errors.classify_dolphin_code``): what describes the request or the state
of what it names is 400/404/409, a token without permission 403, each with the server's
``dolphin_code`` and ``dolphin_msg``. Only DolphinScheduler failing stays 5xx: 502 when it answered
5xx, garbage or an internal error, 503 when it is not configured, not reachable or timed out.
"""

from __future__ import annotations

from typing import Any

from platform_api.envelope import error_responses

_ERROR_TEXT = {
    400: "Invalid request: parameters or body fail validation (error_code VALIDATION_ERROR)",
    401: "Not authenticated: no valid Airflow token",
    403: "Not allowed: needs read (GET) or run (other methods) access to the data_pipeline DAG",
    404: "Workflow, version, task or instance not found (NOT_FOUND)",
    409: "Conflicts with the current state: name taken, task owned by another workflow, publish running, "
         "workflow offline or not deployed (CONFLICT)",
    500: "Unexpected error; details in the API server log (INTERNAL_ERROR)",
    502: "DolphinScheduler failed: it answered HTTP 5xx, something that is not its API envelope, an internal "
         "error (for example 10105 create definition error) or a code not known to be about the request, or "
         "it rejected the configured token (DOLPHIN_ERROR, DOLPHIN_AUTH_ERROR); data has its code and msg",
    503: "DolphinScheduler unavailable: not configured (DOLPHIN_NOT_CONFIGURED; the message says how to configure "
         "it), settings incomplete (CONFIG_ERROR), configured project missing (DOLPHIN_PROJECT_NOT_FOUND), "
         "or not reachable or timed out (DOLPHIN_UNAVAILABLE)",
}
# Routes that call DolphinScheduler: its business errors are the caller's, with its code and msg in
# data (dolphin_code, dolphin_msg).
_REMOTE_TEXT = {
    400: _ERROR_TEXT[400] + "; or DolphinScheduler rejected the data (DOLPHIN_INVALID: 10001 bad parameter, "
                            "50017 data not valid, 50019 cycle, 50020 task params, 50030/50036 relations, 10198 "
                            "duplicate task name)",
    403: _ERROR_TEXT[403] + "; or the DolphinScheduler token lacks permission (DOLPHIN_PERMISSION_DENIED: "
                            "30001/30002)",
    404: _ERROR_TEXT[404] + "; or DolphinScheduler does not know the instance, definition, task instance or log "
                            "(DOLPHIN_NOT_FOUND: 50001, 50003, 10008)",
    409: _ERROR_TEXT[409] + "; or DolphinScheduler refuses it in the current state (DOLPHIN_CONFLICT: 50004 not "
                            "released, 50008/50021 online, 10168 name exists, 10204 schedule exists, 50035 DAG empty, "
                            "50014 on batch start)",
}


def errors(*codes: int, remote: bool = False) -> dict[int | str, dict[str, Any]]:
    """The route's error statuses: validation, auth and internal errors always, plus ``codes``."""
    return error_responses({**_ERROR_TEXT, **(_REMOTE_TEXT if remote else {})}, 400, 401, 403, 500, *set(codes))


FOUND = errors(404)
CHANGE = errors(404, 409)
REMOTE = errors(404, 409, 502, 503, remote=True)

# OpenAPI links: which answer supplies the ids of the next call (create → online → publish → start →
# its task instances → their logs), for client generators and for schemathesis' stateful runs.
WORKFLOW = {"workflow_id": "$response.body#/data/workflow_id"}
SAME_WORKFLOW = {"workflow_id": "$request.path.workflow_id"}


def linked(responses: dict[int | str, dict[str, Any]], status: int,
            **links: tuple[str, dict[str, str]]) -> dict[int | str, dict[str, Any]]:
    """``responses`` plus, on ``status``, links named after their target: (operationId, parameters)."""
    return {**responses, status: {"links": {
        name: {"operationId": operation, "parameters": parameters} for name, (operation, parameters) in links.items()}}}


def follow(ids: dict[str, str], *operations: str) -> dict[str, tuple[str, dict[str, str]]]:
    return {operation: (operation, ids) for operation in operations}
