"""Fixtures: a fake DolphinScheduler on 127.0.0.1 (real HTTP), a fresh platform DB, a wired Runtime."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from dolphin_publisher.client import DolphinClient, RetryPolicy
from dolphin_publisher.config import IntegrationConfig
from dolphin_publisher.models import TaskSpec, WorkflowFile
from dolphin_publisher.repository import Database
from dolphin_publisher.runtime import Runtime
from platform_db import embedded

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


_TABLES = ("platform_task", "table_task_relation", "data_lineage", "task_dependency_view", "data_workflow",
           "workflow_version", "workflow_task_relation", "workflow_publish_record", "workflow_integration_config",
           "workflow_instance_cache")


@pytest.fixture(scope="session")
def dolphin_db_uri() -> Iterator[str]:
    """One database for the publisher tests; each test starts from empty tables (see ``db``)."""
    name = f"dp_dolphin_{os.getpid()}_{secrets.token_hex(3)}"
    uri = embedded.ensure_database(name, extensions=())
    Database(uri).ensure_schema()
    yield uri
    embedded.drop_database(name)


@pytest.fixture
def db(dolphin_db_uri: str) -> Database:
    """Empty platform tables with identities restarted: as good as a fresh database, much cheaper."""
    with psycopg.connect(dolphin_db_uri, autocommit=True) as conn:
        conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
            sql.SQL(", ").join(sql.Identifier(t) for t in _TABLES)))
    return Database(dolphin_db_uri)


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


@pytest.fixture(scope="session")
def airflow_subprocess_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for Airflow subprocesses: an AIRFLOW_HOME of their own, so no connection, config
    or metadata database of a developer's Airflow leaks into the tests."""
    home = tmp_path_factory.mktemp("airflow_home")
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("AIRFLOW_", "AIRFLOW__", "DATA_PIPELINE_DB", "PYDS_", "DOLPHIN_PUBLISHER"))}
    return {**clean, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db"}
