"""Stopping the local stack while a task instance runs, then starting it again, leaves no failed DAG run.

What a new user did: ``make up`` (the hourly ``data_pipeline_maintenance`` run starts at once), ``make
down`` while its task ran, ``make up`` again — and the first look at the UI showed a red run, its task
killed by the stop and failed as an orphan by the next scheduler. One real stack, one stop/start cycle.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from local_stack import components
from local_stack.airflow_env import LocalAirflow, local_airflow
from platform_db import embedded
from tests.conftest import database_name, new_database

pytestmark = pytest.mark.airflow

DAG_ID = "data_pipeline_maintenance"
TERMINAL = {"success", "failed"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def airflow(tmp_path: Path) -> Iterator[LocalAirflow]:
    store_uri = new_database("dp_restart")
    metadata_db = f"airflow_restart_{os.getpid()}"
    data_dir = tmp_path / "training_data"
    data_dir.mkdir()
    home = tmp_path / "airflow_home"
    env = {"AIRFLOW_CONN_DATA_PIPELINE_DB": store_uri, "DATA_PIPELINE_DB_URI": store_uri,
           "DATA_PIPELINE_DATA_DIR": str(data_dir)}
    yield local_airflow(home, port=_free_port(), metadata_db=metadata_db, extra_env=env)
    components.stop_recorded(local_airflow(home, metadata_db=metadata_db), drain=0)
    for name in (database_name(store_uri), metadata_db):
        embedded.drop_database(name)


def _runs(client: httpx.Client) -> list[dict]:
    response = client.get(f"/api/v2/dags/{DAG_ID}/dagRuns")
    response.raise_for_status()
    return response.json()["dag_runs"]


def _client(airflow: LocalAirflow, token: str) -> httpx.Client:
    return httpx.Client(base_url=airflow.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_a_stop_while_a_task_runs_leaves_no_failed_run(airflow: LocalAirflow) -> None:
    components.migrate(airflow)
    stack = components.start(airflow)
    try:
        with _client(airflow, components.wait_ready(stack, timeout=300, dag_id=DAG_ID)) as client:
            deadline = time.monotonic() + 180
            running: list[dict] = []
            while not running and time.monotonic() < deadline:  # the scheduled run starts by itself
                stack.check_alive()
                response = client.get(f"/api/v2/dags/{DAG_ID}/dagRuns/~/taskInstances", params={"state": "running"})
                running = response.json().get("task_instances", []) if response.status_code == 200 else []
                time.sleep(0.2)
            assert running, "no task instance of the maintenance run started within 180 s"
    finally:
        started = time.monotonic()
        stack.stop()
    assert time.monotonic() - started < components.DRAIN_SECONDS + 30

    stack = components.start(airflow)
    try:
        with _client(airflow, components.wait_ready(stack, timeout=300, dag_id=DAG_ID)) as client:
            deadline = time.monotonic() + 240
            runs = _runs(client)
            while not (runs and all(r["state"] in TERMINAL for r in runs)) and time.monotonic() < deadline:
                stack.check_alive()
                time.sleep(1)
                runs = _runs(client)
            states = {r["dag_run_id"]: r["state"] for r in runs}
            assert runs and all(s == "success" for s in states.values()), states
            interrupted = running[0]
            ti = client.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{interrupted['dag_run_id']}"
                            f"/taskInstances/{interrupted['task_id']}").json()
            # finished by its first try: not killed by the stop (then reset and run again, or failed)
            assert ti["state"] == "success" and ti["try_number"] == 1, ti
    finally:
        stack.stop()
