"""Fixtures: a fake DolphinScheduler on 127.0.0.1 (real HTTP), a fresh platform DB, a wired Runtime."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from dolphin_publisher.client import DolphinClient, RetryPolicy
from dolphin_publisher.config import IntegrationConfig
from dolphin_publisher.models import TaskSpec, WorkflowFile
from dolphin_publisher.repository import Database
from dolphin_publisher.runtime import Runtime

from .fake_dolphinscheduler import FakeDolphinScheduler

PROJECT_CODE = 7001


@pytest.fixture(autouse=True)
def _no_ambient_dolphin_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests decide the configuration; a developer's own connection must not leak in."""
    for name in list(os.environ):
        if name.startswith(("AIRFLOW_CONN_DOLPHINSCHEDULER", "PYDS_JAVA_GATEWAY", "DOLPHIN_PUBLISHER_ENV")):
            monkeypatch.delenv(name)


@pytest.fixture
def fake_ds() -> Iterator[FakeDolphinScheduler]:
    fake = FakeDolphinScheduler(projects={PROJECT_CODE: "text2sql"}).start()
    yield fake
    fake.stop()


@pytest.fixture
def db(fresh_db_uri: str) -> Database:
    database = Database(fresh_db_uri)
    database.ensure_schema()
    return database


def fast_client(config: IntegrationConfig) -> DolphinClient:
    """Short timeouts and backoffs so fault-injection tests stay quick."""
    return DolphinClient(config.rest_base_url, config.token, config.project_code, timeout=config.timeout_seconds,
                         retry=RetryPolicy(attempts=config.retries, initial_backoff=0.01, max_backoff=0.05))


def make_config(fake: FakeDolphinScheduler, **overrides: object) -> IntegrationConfig:
    values: dict[str, object] = {
        "environment": "test", "rest_base_url": fake.base_url, "token": fake.token, "project_code": PROJECT_CODE,
        "project_name": "text2sql", "timeout_seconds": 1.0, "retries": 3,
    }
    values.update(overrides)
    return IntegrationConfig(**values)  # type: ignore[arg-type]


@pytest.fixture
def ds_config(fake_ds: FakeDolphinScheduler) -> IntegrationConfig:
    return make_config(fake_ds)


@pytest.fixture
def runtime(db: Database, ds_config: IntegrationConfig) -> Runtime:
    return Runtime(db, config=ds_config, client_factory=fast_client)


def chain_spec(name: str, count: int = 3, *, prefix: str | None = None, cron: str | None = None) -> WorkflowFile:
    """A workflow of ``count`` SHELL tasks in a chain."""
    prefix = prefix or name
    tasks = [TaskSpec(task_id=f"{prefix}_t{i}", name=f"step_{i}", command=f"echo step {i}") for i in range(count)]
    deps = [(tasks[i].task_id, tasks[i + 1].task_id) for i in range(count - 1)]
    schedule = {"cron": cron, "timezone": "Asia/Shanghai"} if cron else None
    return WorkflowFile.model_validate({"name": name, "tasks": [t.model_dump() for t in tasks],
                                       "dependencies": deps, "schedule": schedule})
