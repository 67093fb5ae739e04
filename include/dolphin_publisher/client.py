"""REST client for DolphinScheduler 3.3/3.4: one project, every call, retries and the answer envelope.

Wire rules (see the contract): form-encoded bodies, the access token in a ``token`` header, the
``{code, msg, data}`` envelope checked on every answer (business errors come with HTTP 200), unknown
fields ignored, HTTP 401 with an empty body for a bad token.

Retries: only transient failures are retried, with jittered exponential backoff — connect errors
always (the request never reached the server); timeouts, dropped connections and HTTP 500/502/504
only for idempotent calls (reads, update, release, schedule changes); 503 for any call. The real
server answers its own failures with HTTP 200 and code 10000 (``ApiExceptionHandler``), so a bare
5xx comes from a proxy in front of it and says nothing about the call's outcome. Creating a
definition, a schedule or an instance is never repeated blindly: the caller gets a
``DolphinTransientError`` with ``outcome_unknown`` and looks before trying again (see
``transport.RestTransport``). Business errors are never retried. The answers' models are in ``remote``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from dolphin_publisher.converter import DefinitionPayload, SchedulePayload
from dolphin_publisher.errors import (
    DolphinApiError,
    DolphinAuthError,
    DolphinProtocolError,
    DolphinTransientError,
)
from dolphin_publisher.remote import (
    Page,
    RemoteDefinition,
    RemoteInstance,
    RemoteSchedule,
    RemoteTaskInstance,
    page_of,
)

log = logging.getLogger(__name__)

MAX_CODES_PER_CALL = 100
NOT_FOUND_CODES = frozenset({50003})  # workflow definition does not exist
NAME_EXISTS = 10168
ONLINE_NOT_EDITABLE = 50008


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    initial_backoff: float = 0.5
    max_backoff: float = 8.0


class DolphinClient:
    """One DolphinScheduler project, over REST. Thread-safe as far as httpx.Client is."""

    def __init__(self, base_url: str, token: str, project_code: int, *,
                 timeout: float | httpx.Timeout = 30.0, retry: RetryPolicy | None = None,
                 http_client: httpx.Client | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.project_code = int(project_code)
        self.retry = retry or RetryPolicy()
        if not isinstance(timeout, httpx.Timeout):
            timeout = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        self._http = http_client or httpx.Client(timeout=timeout)
        self._http.headers["token"] = token
        self._http.headers["Accept"] = "application/json"
        self.calls = 0  # HTTP requests actually sent, for reports and benchmarks

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> DolphinClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- transport-level -------------------------------------------------------------------------

    def request(self, method: str, path: str, *, endpoint: str, idempotent: bool,
                params: Mapping[str, Any] | None = None, form: Mapping[str, Any] | None = None) -> Any:
        """Send one call (with retries) and return the envelope's ``data``."""

        def should_retry(exc: BaseException) -> bool:
            return isinstance(exc, DolphinTransientError) and (idempotent or not exc.outcome_unknown)

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning("DolphinScheduler %s: %s; retrying (attempt %d of %d)", endpoint, exc,
                        state.attempt_number + 1, self.retry.attempts)

        retrying = Retrying(
            stop=stop_after_attempt(max(1, self.retry.attempts)),
            wait=wait_exponential_jitter(multiplier=self.retry.initial_backoff, max=self.retry.max_backoff,
                                         jitter=self.retry.initial_backoff),
            retry=retry_if_exception(should_retry), reraise=True, before_sleep=before_sleep,
        )
        return retrying(self._send, method, path, endpoint=endpoint, params=params, form=form)

    def _send(self, method: str, path: str, *, endpoint: str, params: Mapping[str, Any] | None,
              form: Mapping[str, Any] | None) -> Any:
        url = f"{self.base_url}{path}"
        clean_params = {k: _wire(v) for k, v in (params or {}).items() if v is not None}
        clean_form = {k: _wire(v) for k, v in (form or {}).items() if v is not None} if form is not None else None
        started = time.monotonic()
        self.calls += 1
        try:
            response = self._http.request(method, url, params=clean_params or None, data=clean_form)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise DolphinTransientError(f"cannot connect to DolphinScheduler at {self.base_url}: {exc}",
                                        endpoint=endpoint, outcome_unknown=False) from exc
        except httpx.TimeoutException as exc:
            raise DolphinTransientError(f"DolphinScheduler did not answer {endpoint} in time ({exc})",
                                        endpoint=endpoint, outcome_unknown=True) from exc
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            raise DolphinTransientError(f"connection dropped during {endpoint}: {exc}", endpoint=endpoint,
                                        outcome_unknown=True) from exc
        log.debug("DolphinScheduler %s %s → %s in %.3fs", method, path, response.status_code,
                  time.monotonic() - started)
        return self._parse(response, endpoint)

    @staticmethod
    def _parse(response: httpx.Response, endpoint: str) -> Any:
        status = response.status_code
        if status == 401:
            raise DolphinAuthError(endpoint=endpoint)
        if status in (500, 502, 503, 504):
            raise DolphinTransientError(f"DolphinScheduler answered HTTP {status} to {endpoint}",
                                        endpoint=endpoint, outcome_unknown=status != 503,
                                        http_status_from_server=status)
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, Mapping) or "code" not in body:
            raise DolphinProtocolError(
                f"DolphinScheduler answered HTTP {status} to {endpoint} without the expected envelope",
                endpoint=endpoint, http_status_from_server=status,
            )
        code = int(body.get("code") or 0)
        if code != 0:
            raise DolphinApiError(code, str(body.get("msg") or ""), endpoint=endpoint)
        if status >= 400:
            raise DolphinProtocolError(f"DolphinScheduler answered HTTP {status} to {endpoint}",
                                       endpoint=endpoint, http_status_from_server=status)
        return body.get("data")

    def _project(self, suffix: str) -> str:
        return f"/projects/{self.project_code}{suffix}"

    # ---- workflow definitions --------------------------------------------------------------------

    def list_definitions(self, *, page_no: int = 1, page_size: int = 10, search: str | None = None) -> Page[Any]:
        data = self.request("GET", self._project("/workflow-definition"), endpoint="list-workflows",
                            idempotent=True, params={"pageNo": page_no, "pageSize": page_size, "searchVal": search})
        return page_of(data, None)

    def ping(self) -> dict[str, Any]:
        """Token and project check with the cheapest call the contract has."""
        page = self.list_definitions(page_no=1, page_size=1)
        return {"project_code": self.project_code, "workflow_definitions": page.total}

    def gen_task_codes(self, count: int) -> list[int]:
        if not 1 <= count <= MAX_CODES_PER_CALL:
            raise ValueError(f"gen-task-codes takes 1..{MAX_CODES_PER_CALL} codes per call, not {count}")
        data = self.request("GET", self._project("/task-definition/gen-task-codes"), endpoint="gen-task-codes",
                            idempotent=True, params={"genNum": count})
        codes = [int(c) for c in (data or [])]
        if len(codes) != count:
            raise DolphinProtocolError(f"asked for {count} task codes, got {len(codes)}", endpoint="gen-task-codes")
        return codes

    def gen_task_codes_batched(self, count: int) -> list[int]:
        codes: list[int] = []
        while len(codes) < count:
            codes.extend(self.gen_task_codes(min(MAX_CODES_PER_CALL, count - len(codes))))
        return codes

    def get_definition(self, code: int) -> RemoteDefinition | None:
        try:
            data = self.request("GET", self._project(f"/workflow-definition/{code}"), endpoint="get-workflow",
                                idempotent=True)
        except DolphinApiError as exc:
            if exc.code in NOT_FOUND_CODES:
                return None
            raise
        return RemoteDefinition.from_data(data) if data else None

    def query_by_name(self, name: str) -> RemoteDefinition | None:
        try:
            data = self.request("GET", self._project("/workflow-definition/query-by-name"), endpoint="query-by-name",
                                idempotent=True, params={"name": name})
        except DolphinApiError as exc:
            if exc.code in NOT_FOUND_CODES:
                return None
            raise
        return RemoteDefinition.from_data(data) if data else None

    def verify_name(self, name: str) -> bool:
        """True when ``name`` is free in the project."""
        try:
            self.request("GET", self._project("/workflow-definition/verify-name"), endpoint="verify-name",
                         idempotent=True, params={"name": name})
        except DolphinApiError as exc:
            if exc.code == NAME_EXISTS:
                return False
            raise
        return True

    def create_definition(self, payload: DefinitionPayload) -> RemoteDefinition:
        data = self.request("POST", self._project("/workflow-definition"), endpoint="create-workflow",
                            idempotent=False, form=payload.form())
        return RemoteDefinition.from_data(data)

    def update_definition(self, code: int, payload: DefinitionPayload, *,
                          release_state: str = "OFFLINE") -> RemoteDefinition | None:
        """``release_state=ONLINE`` has the server release the definition again once it is updated."""
        data = self.request("PUT", self._project(f"/workflow-definition/{code}"), endpoint="update-workflow",
                            idempotent=True, form=payload.form(release_state=release_state))
        return RemoteDefinition.from_data(data) if isinstance(data, Mapping) else None

    def delete_definition(self, code: int) -> None:
        self.request("DELETE", self._project(f"/workflow-definition/{code}"), endpoint="delete-workflow",
                     idempotent=True)

    def release(self, code: int, state: str) -> None:
        if state not in ("ONLINE", "OFFLINE"):
            raise ValueError(f"release state must be ONLINE or OFFLINE, not {state!r}")
        self.request("POST", self._project(f"/workflow-definition/{code}/release"), endpoint="release",
                     idempotent=True, form={"releaseState": state})

    # ---- instances -------------------------------------------------------------------------------

    def start_instance(self, code: int, *, failure_strategy: str = "CONTINUE", warning_type: str = "NONE",
                       worker_group: str = "default", tenant_code: str | None = None,
                       start_params: Mapping[str, str] | None = None, dry_run: bool = False) -> list[int]:
        data = self.request(
            "POST", self._project("/executors/start-workflow-instance"), endpoint="start", idempotent=False,
            form={"workflowDefinitionCode": code, "scheduleTime": "", "failureStrategy": failure_strategy,
                  "warningType": warning_type, "workerGroup": worker_group, "tenantCode": tenant_code,
                  "execType": "START_PROCESS", "taskDependType": "TASK_POST",
                  "startParams": json.dumps(dict(start_params)) if start_params else None,
                  "dryRun": 1 if dry_run else 0},
        )
        return _ids(data)

    def batch_start(self, codes: Sequence[int], *, failure_strategy: str = "CONTINUE",
                    warning_type: str = "NONE", worker_group: str = "default",
                    tenant_code: str | None = None) -> list[int]:
        """All codes in one call. The server has no default for ``execType`` here and starts the codes one
        by one, so a failing code leaves the earlier ones running behind a single error: callers that
        must say which workflow started use ``start_instance`` per code (``Publisher.batch_start``)."""
        data = self.request(
            "POST", self._project("/executors/batch-start-workflow-instance"), endpoint="batch-start",
            idempotent=False,
            form={"workflowDefinitionCodes": ",".join(str(c) for c in codes), "scheduleTime": "",
                  "failureStrategy": failure_strategy, "warningType": warning_type, "workerGroup": worker_group,
                  "tenantCode": tenant_code, "execType": "START_PROCESS", "taskDependType": "TASK_POST"},
        )
        return _ids(data)

    def execute(self, instance_id: int, execute_type: str) -> None:
        self.request("POST", self._project("/executors/execute"), endpoint="execute", idempotent=False,
                     form={"workflowInstanceId": instance_id, "executeType": execute_type})

    def list_instances(self, code: int, *, page_no: int = 1, page_size: int = 10) -> Page[RemoteInstance]:
        data = self.request("GET", self._project("/workflow-instances"), endpoint="list-instances", idempotent=True,
                            params={"workflowDefinitionCode": code, "pageNo": page_no, "pageSize": page_size})
        return page_of(data, RemoteInstance)

    def get_instance(self, instance_id: int) -> RemoteInstance:
        data = self.request("GET", self._project(f"/workflow-instances/{instance_id}"), endpoint="get-instance",
                            idempotent=True)
        return RemoteInstance.model_validate(data)

    def instance_tasks(self, instance_id: int) -> tuple[str | None, list[RemoteTaskInstance]]:
        data = self.request("GET", self._project(f"/workflow-instances/{instance_id}/tasks"),
                            endpoint="instance-tasks", idempotent=True) or {}
        tasks = [RemoteTaskInstance.model_validate(t) for t in data.get("taskList") or []]
        return data.get("workflowInstanceState") or data.get("processInstanceState"), tasks

    def task_log(self, task_instance_id: int, *, skip_lines: int = 0, limit: int = 1000) -> dict[str, Any]:
        data = self.request("GET", "/log/detail", endpoint="log-detail", idempotent=True,
                            params={"taskInstanceId": task_instance_id, "skipLineNum": skip_lines, "limit": limit})
        data = data or {}
        return {"line_num": int(data.get("lineNum") or 0), "message": data.get("message") or ""}

    # ---- schedules -------------------------------------------------------------------------------

    def list_schedules(self, code: int) -> list[RemoteSchedule]:
        data = self.request("GET", self._project("/schedules"), endpoint="list-schedules", idempotent=True,
                            params={"workflowDefinitionCode": code, "pageNo": 1, "pageSize": 10})
        return page_of(data, RemoteSchedule).items

    def create_schedule(self, code: int, schedule: SchedulePayload, *, failure_strategy: str = "CONTINUE",
                        warning_type: str = "NONE", worker_group: str = "default",
                        tenant_code: str | None = None, environment_code: int | None = None) -> RemoteSchedule:
        data = self.request(
            "POST", self._project("/schedules"), endpoint="create-schedule", idempotent=False,
            form={"workflowDefinitionCode": code, "schedule": schedule.schedule_json(),
                  "failureStrategy": failure_strategy, "warningType": warning_type, "workerGroup": worker_group,
                  "tenantCode": tenant_code, "environmentCode": environment_code},
        )
        return RemoteSchedule.model_validate(data)

    def update_schedule(self, current: RemoteSchedule, schedule: SchedulePayload,
                        **overrides: Any) -> None:
        """Replace the times of ``current``, keeping its other settings.

        The server overwrites every field on update, an omitted one with its default (tenant
        ``default``, environment -1, warning group 0, failure strategy END), so all of them are sent:
        the current values, with ``overrides`` (wire names, ``None`` ignored) on top. It refuses to
        update an online schedule (10023): take it offline first.
        """
        form = {**current.settings(), **{k: v for k, v in overrides.items() if v is not None},
                "schedule": schedule.schedule_json()}
        self.request("PUT", self._project(f"/schedules/{current.id}"), endpoint="update-schedule",
                     idempotent=True, form=form)

    def schedule_online(self, schedule_id: int) -> None:
        self.request("POST", self._project(f"/schedules/{schedule_id}/online"), endpoint="schedule-online",
                     idempotent=True)

    def schedule_offline(self, schedule_id: int) -> None:
        self.request("POST", self._project(f"/schedules/{schedule_id}/offline"), endpoint="schedule-offline",
                     idempotent=True)


def _wire(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _ids(data: Any) -> list[int]:
    if isinstance(data, list):
        return [int(x) for x in data]
    if isinstance(data, int | str) and str(data).isdigit():
        return [int(data)]
    return []
