"""The REST apps mounted by the Airflow api-server, bound to Airflow's authentication and run launching.

Airflow does not authenticate plugin apps, so both apps get ``read_access`` and ``write_access``
below: a valid Airflow token (bearer header or the UI's ``_token`` cookie) and access to the
``data_pipeline`` DAG — read for GET routes, permission to run it for everything else. DAG runs are
started through Airflow's public REST API with the caller's own token, so Airflow applies its
permission checks and audit log to them as well.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import FastAPI, HTTPException, Request, status

from data_pipeline import config
from data_pipeline.api.app import create_app
from data_pipeline.api.ports import Access, Credentials, Principal
from data_pipeline.errors import DagPaused, UpstreamError
from data_pipeline.tasks.status import TaskStatus
from data_pipeline.tasks.store import TaskRecord

DAG_ID = "data_pipeline"
UNFINISHED_TI_STATES = ("no_status", "scheduled", "queued", "running", "up_for_retry", "up_for_reschedule",
                        "deferred", "restarting")
_TEAM_TTL_SECONDS = 60.0
_team_cache: tuple[float, str | None] | None = None


def _team_of_dag() -> str | None:
    """The DAG's team (multi-team setups), looked up at most once a minute instead of on every request."""
    global _team_cache
    now = time.monotonic()
    if _team_cache is None or now - _team_cache[0] > _TEAM_TTL_SECONDS:
        from airflow.models.dag import DagModel

        _team_cache = (now, DagModel.get_team_name(DAG_ID))
    return _team_cache[1]


def _allowed(user: Any, method: str, entity: DagAccessEntity | None) -> bool:
    return bool(get_auth_manager().is_authorized_dag(
        method=method, access_entity=entity, details=DagDetails(id=DAG_ID, team_name=_team_of_dag()), user=user))


def _authorize(user: Any, method: str, entity: DagAccessEntity | None) -> Principal:
    if not _allowed(user, method, entity):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"Forbidden: needs {method} access to the {DAG_ID} DAG")
    return Principal(name=str(user.get_name()))


def read_access(user: GetUserDep) -> Principal:
    return _authorize(user, "GET", None)


def write_access(user: GetUserDep) -> Principal:
    return _authorize(user, "POST", DagAccessEntity.RUN)


def may_write(user: GetUserDep) -> bool:
    """Whether the caller may run the DAG, without a 403: the task page hides the actions they may not take."""
    return _allowed(user, "POST", DagAccessEntity.RUN)


def credentials(request: Request) -> Credentials:
    """The caller's token from the bearer header, or from the UI session cookie."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return Credentials(header[7:].strip() or None)
    return Credentials(request.cookies.get(COOKIE_NAME_JWT_TOKEN) or None)


AIRFLOW_ACCESS = Access(read=read_access, write=write_access, credentials=credentials, may_write=may_write)


def airflow_api_url() -> str:
    """Airflow's REST API: ``DATA_PIPELINE_AIRFLOW_API_URL``, else ``[api] base_url``, else this api-server on
    the loopback (the local stack's address). Never the request's Host header, which the caller controls."""
    configured = config.airflow_api_url()
    if configured:
        return configured
    from airflow.configuration import conf

    base_url = (conf.get("api", "base_url", fallback="") or "").strip().rstrip("/")
    if base_url:
        return base_url
    return f"http://127.0.0.1:{conf.getint('api', 'port', fallback=8080)}"


def dag_is_paused(dag_id: str) -> bool:
    """Whether Airflow has the DAG paused (new DAGs are, where ``dags_are_paused_at_creation`` is left on).

    Read from the metadata database this api-server already uses; when it cannot tell, the run is tried.
    """
    try:
        from airflow.models.dag import DagModel

        model = DagModel.get_dagmodel(dag_id)
    except Exception:  # no metadata database here (an app built without Airflow): nothing to say
        return False
    return bool(model is not None and model.is_paused)


def how_to_unpause(dag_id: str) -> str:
    return f"unpause it (the toggle on the DAG's page, or `airflow dags unpause {dag_id}`)"


class AirflowRunLauncher:
    """Triggers and inspects ``data_pipeline`` runs through Airflow's REST API as the calling user."""

    dag_id = DAG_ID

    def __init__(self, base_url: str | None = None) -> None:
        self._base_url = base_url

    @property
    def api(self) -> str:
        if self._base_url is None:
            self._base_url = airflow_api_url()
        return self._base_url

    def trigger(self, credentials: Credentials, task_id: str, execution_mode: str, step_name: str | None) -> str:
        if dag_is_paused(self.dag_id):
            raise DagPaused(f"the {self.dag_id} DAG is paused, so the run would wait and the task stay in progress: "
                            f"{how_to_unpause(self.dag_id)} and execute again", dag_id=self.dag_id)
        run_id = f"api__{task_id}__{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}"
        conf: dict[str, Any] = {"task_id": task_id, "execution_mode": execution_mode}
        if step_name:
            conf["step_name"] = step_name
        body = {"dag_run_id": run_id, "logical_date": None, "conf": conf,
                "note": f"started through the data pipeline task API ({execution_mode})"}
        try:
            response = httpx.post(f"{self.api}/api/v2/dags/{self.dag_id}/dagRuns", json=body,
                                  headers=credentials.headers(), timeout=30.0)
        except httpx.HTTPError as exc:
            raise UpstreamError(f"Airflow did not answer the trigger request: {type(exc).__name__}") from None
        if response.status_code >= 400:
            detail = response.text[:300]
            raise UpstreamError(f"Airflow refused to start the run ({response.status_code}): {detail}")
        return str(response.json().get("dag_run_id", run_id))

    def run_state(self, credentials: Credentials, task: TaskRecord) -> str | None:
        if not task.dag_run_id:
            return None
        dag_id = task.dag_id or self.dag_id
        run_url = f"{self.api}/api/v2/dags/{dag_id}/dagRuns/{task.dag_run_id}"
        try:
            response = httpx.get(run_url, headers=credentials.headers(), timeout=15.0)
        except httpx.HTTPError:
            return "unknown"  # cannot tell: treat as possibly running (deletion then needs force)
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            return "unknown"
        state = str(response.json().get("state"))
        if state in ("queued", "running") and task.status != TaskStatus.IN_PROGRESS:
            # A finished pipeline whose run still awaits the scheduler's bookkeeping is not active; a run
            # whose tasks were cleared to run again is. The run's unfinished task instances tell them apart.
            unfinished = httpx.get(f"{run_url}/taskInstances",
                                   params=[("state", s) for s in UNFINISHED_TI_STATES] + [("limit", "1")],
                                   headers=credentials.headers(), timeout=15.0)
            if unfinished.status_code == 200 and unfinished.json().get("total_entries") == 0:
                return "finishing"
        return state

    def waiting_reason(self, credentials: Credentials, task: TaskRecord) -> str | None:
        if not task.dag_run_id or task.status != TaskStatus.IN_PROGRESS:
            return None
        dag_id = task.dag_id or self.dag_id
        try:
            if dag_is_paused(dag_id):
                return f"the {dag_id} DAG is paused, so its run {task.dag_run_id} waits: {how_to_unpause(dag_id)}"
            with httpx.Client(headers=credentials.headers(), timeout=WAITING_LOOKUP_TIMEOUT) as airflow:
                return _waiting_in_airflow(airflow, f"{self.api}/api/v2/dags/{dag_id}", task.dag_run_id)
        except (httpx.HTTPError, ValueError, KeyError, TypeError):  # Airflow cannot tell: no reason given
            return None


WAITING_LOOKUP_TIMEOUT = 3.0
"""Seconds each lookup behind a task detail's ``waiting_reason`` may take."""


def _waiting_in_airflow(airflow: httpx.Client, dag_url: str, run_id: str) -> str | None:
    """Why run ``run_id`` does not work, from Airflow's REST API; None when it works or Airflow cannot tell."""
    run = airflow.get(f"{dag_url}/dagRuns/{run_id}")
    if run.status_code != 200:
        return None
    state = run.json().get("state")
    if state == "queued":
        dag = airflow.get(dag_url)
        running = airflow.get(f"{dag_url}/dagRuns", params={"state": "running", "limit": 1})
        limit = dag.json().get("max_active_runs") if dag.status_code == 200 else None
        active = running.json().get("total_entries") if running.status_code == 200 else None
        if limit is not None and active is not None and active >= limit:
            return (f"the DAG run {run_id} is queued behind max_active_runs: the DAG allows {limit} active run(s) "
                    f"at once and {active} are running; it starts when an earlier run ends")
        return (f"the DAG run {run_id} is queued, waiting for the scheduler to start it (is the Airflow scheduler "
                "running?)")
    if state != "running":
        return None
    working = airflow.get(f"{dag_url}/dagRuns/{run_id}/taskInstances",
                          params=[("state", s) for s in ("running", "deferred", "restarting")] + [("limit", "1")])
    if working.status_code != 200 or working.json().get("total_entries", 1) > 0:
        return None
    waiting = airflow.get(f"{dag_url}/dagRuns/{run_id}/taskInstances",
                          params=[("state", "queued"), ("state", "scheduled"), ("limit", "5")])
    if waiting.status_code != 200:
        return None
    instances = waiting.json().get("task_instances") or []
    queued = [t for t in instances if t.get("state") == "queued"]
    if queued:
        first = queued[0]
        return (f"task {first.get('task_id')} of run {run_id} is queued, waiting for a free worker slot of the "
                f"executor (pool {first.get('pool') or 'default_pool'}); it starts when a running task ends")
    if instances:
        first = instances[0]
        return (f"task {first.get('task_id')} of run {run_id} is scheduled, waiting for a slot in pool "
                f"{first.get('pool') or 'default_pool'} or under the DAG's max_active_tasks; it starts when "
                "a running task ends")
    return None


def task_api() -> FastAPI:
    return create_app(AIRFLOW_ACCESS, AirflowRunLauncher())


def workflow_api() -> FastAPI:
    from dolphin_publisher.api.app import create_app as create_workflow_app

    return create_workflow_app(AIRFLOW_ACCESS)
