"""A private Airflow home, metadata DB, task store, data directory and demo database for `airflow dags test`."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from data_pipeline.schema import demo_db
from data_pipeline.tasks.store import TaskStore
from local_stack import components
from local_stack.airflow_env import LocalAirflow, local_airflow
from platform_db import embedded
from tests.conftest import database_name, new_database

DEMO_TABLES = list(demo_db.DEMO_TABLES)


@dataclass
class DagRunner:
    airflow: LocalAirflow
    store: TaskStore
    data_dir: Path
    store_uri: str

    def env(self, **extra: str) -> dict[str, str]:
        return {**self.airflow.env, **extra}

    def dags_test(self, dag_id: str, conf: dict | None = None, *, env: dict[str, str] | None = None,
                  timeout: float = 600) -> subprocess.CompletedProcess:
        cmd = [self.airflow.bin, "dags", "test", dag_id]
        if conf is not None:
            cmd += ["-c", json.dumps(conf)]
        return subprocess.run(cmd, env=env or self.airflow.env, capture_output=True, text=True, timeout=timeout)

    def tasks_test(self, dag_id: str, task_id: str, run_id: str, *, map_index: int | None = None,
                   env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        cmd = [self.airflow.bin, "tasks", "test", dag_id, task_id, run_id]
        if map_index is not None:
            cmd += ["--map-index", str(map_index)]
        return subprocess.run(cmd, env=env or self.airflow.env, capture_output=True, text=True, timeout=600)

    def newest_task(self) -> str:
        return self.store.list_tasks().items[0].id


@pytest.fixture(scope="session")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagRunner]:
    root = tmp_path_factory.mktemp("dag_runs")
    data_dir = root / "training_data"
    data_dir.mkdir()
    store_uri = new_database("dp_dagrun")
    demo_uri = new_database("dp_dagrun_demo")
    demo_db.build_demo_database(demo_uri)
    metadata_db = f"airflow_dagrun_{os.getpid()}"
    airflow = local_airflow(root / "airflow_home", metadata_db=metadata_db, extra_env={
        "AIRFLOW_CONN_DATA_PIPELINE_DB": store_uri, "AIRFLOW_CONN_HIGHWAY_DEMO": demo_uri,
        "DATA_PIPELINE_DATA_DIR": str(data_dir), "DATA_PIPELINE_DB_URI": store_uri,
        "DATA_PIPELINE_SCHEDULES_FILE": str(root / "no_schedules.json"),
        "DATA_PIPELINE_MAX_CONCURRENT_TASKS": "20",  # the maintenance test leaves tasks "running" on purpose
    })
    components.migrate(airflow)
    store = TaskStore(store_uri)
    store.migrate()
    yield DagRunner(airflow, store, data_dir, store_uri)
    store.close()
    for uri in (store_uri, demo_uri):
        embedded.drop_database(database_name(uri))
    embedded.drop_database(metadata_db)
