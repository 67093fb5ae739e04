"""Both REST apps built in-process with stand-in auth and a stand-in run launcher: no Airflow at all.

The task store and the workflow tables live in the session's PostgreSQL test database; each test
gets a data directory of its own. Tokens name users: ``reader`` may read, ``writer`` may also change.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, HTTPException

from data_pipeline.api.app import create_app
from data_pipeline.api.ports import Access, Credentials, Principal
from data_pipeline.tasks.store import TaskRecord, TaskStore
from dolphin_publisher.api.app import create_app as create_workflow_app
from dolphin_publisher.repository import Database
from dolphin_publisher.runtime import Runtime
from platform_api.auth import BearerDep

with warnings.catch_warnings():  # starlette's notice about its httpx-based test client is not ours to act on
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

USERS = {"reader-token": ("rita", False), "writer-token": ("wendy", True)}
READER = {"Authorization": "Bearer reader-token"}
WRITER = {"Authorization": "Bearer writer-token"}
API = "/api/v0/data_pipeline"
V1 = "/api/v1"


def _caller(token: Any) -> tuple[str, bool]:
    if token is None or token.credentials not in USERS:
        raise HTTPException(401, "Not authenticated")
    return USERS[token.credentials]


def fake_read(token: BearerDep) -> Principal:
    return Principal(_caller(token)[0])


def fake_write(token: BearerDep) -> Principal:
    name, may_write = _caller(token)
    if not may_write:
        raise HTTPException(403, "Forbidden: needs POST access to the data_pipeline DAG")
    return Principal(name)


def fake_may_write(token: BearerDep) -> bool:
    return _caller(token)[1]


FAKE_ACCESS = Access(read=fake_read, write=fake_write, may_write=fake_may_write)


@dataclass
class FakeLauncher:
    """Records what it was asked to start; ``fail_with`` makes the next trigger raise."""

    dag_id: str = "data_pipeline"
    triggered: list[tuple[str | None, str, str, str | None]] = field(default_factory=list)
    states: dict[str, str | None] = field(default_factory=dict)
    fail_with: Exception | None = None
    waiting: dict[str, str] = field(default_factory=dict)
    """Why a task's run waits, as the host would say (by task id)."""
    asked_why: list[str] = field(default_factory=list)

    def trigger(self, credentials: Credentials, task_id: str, execution_mode: str, step_name: str | None) -> str:
        if self.fail_with is not None:
            error, self.fail_with = self.fail_with, None
            raise error
        self.triggered.append((credentials.token, task_id, execution_mode, step_name))
        return f"api__{task_id}__{len(self.triggered)}"

    def run_state(self, credentials: Credentials, task: TaskRecord) -> str | None:
        return self.states.get(task.id)

    def waiting_reason(self, credentials: Credentials, task: TaskRecord) -> str | None:
        self.asked_why.append(task.id)
        return self.waiting.get(task.id)


@pytest.fixture(scope="session")
def task_store(platform_db_uri: str) -> Iterator[TaskStore]:
    store = TaskStore(platform_db_uri, max_pool_size=8)
    store.migrate()
    yield store
    store.close()


@pytest.fixture(scope="session")
def workflow_db(platform_db_uri: str) -> Database:
    db = Database(platform_db_uri)
    db.ensure_schema()
    return db


@pytest.fixture(autouse=True)
def business_db(demo_business_uri: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Connection ``highway_demo``: the demo business database, where listed tables are checked."""
    monkeypatch.setenv("AIRFLOW_CONN_HIGHWAY_DEMO", demo_business_uri)
    return demo_business_uri


@pytest.fixture
def launcher() -> FakeLauncher:
    return FakeLauncher()


@pytest.fixture
def task_app(task_store: TaskStore, launcher: FakeLauncher, data_dir: Path,
             monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    monkeypatch.setenv("DATA_PIPELINE_MAX_CONCURRENT_TASKS", "1000")  # tasks of other tests may still be claimed
    return create_app(FAKE_ACCESS, launcher, store=task_store, prefix=API)


@pytest.fixture
def client(task_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(task_app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def workflow_app(workflow_db: Database, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    for name in ("AIRFLOW_CONN_DOLPHINSCHEDULER_DEFAULT", "DOLPHIN_PUBLISHER_ENV"):
        monkeypatch.delenv(name, raising=False)
    return create_workflow_app(FAKE_ACCESS, runtime_factory=lambda: Runtime(workflow_db), prefix=V1)


@pytest.fixture
def v1(workflow_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(workflow_app, raise_server_exceptions=False) as test_client:
        yield test_client


def envelope(response: httpx.Response, status: int) -> dict[str, Any]:
    """The body, after checking the status and the envelope every answer shares."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == status and body["success"] is (status < 400), body
    assert isinstance(body["message"], str) and "data" in body, body
    if status >= 400:
        assert isinstance(body["error_code"], str) and body["error_code"], body
    return body


def new_task(client: TestClient, **extra: Any) -> str:
    """A task on a database that is never reached; with a table list, on the demo database (where it is checked)."""
    database: dict[str, str] = {"db_connection": "postgresql://demo:s3cr3t-pw@127.0.0.1:1/highway"}
    if "table_list" in extra:
        database = {"db_conn_id": "highway_demo"}
    if "db_connection" in extra or "db_conn_id" in extra:
        database = {}
    body = {"task_name": "unit", "business_context": "highway service areas", **database, **extra}
    return envelope(client.post(f"{API}/tasks", json=body, headers=WRITER), 201)["data"]["task_id"]
