"""The dolphin_history_sync DAG: parses cleanly, runs every 5 minutes, and its task syncs executions.

Airflow runs in a subprocess (tests/dolphin/airflow_probe.py), with the same environment a worker has.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from dolphin_publisher.repository import Database
from dolphin_publisher.runtime import Runtime, run_scheduled_sync

from .conftest import PROJECT_CODE, chain_spec
from .fake_dolphinscheduler import FakeDolphinScheduler

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "dolphin_history_sync.py"
PROBE = Path(__file__).parent / "airflow_probe.py"


def run_dag_task(base_env: dict[str, str], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(PROBE), "history", str(DAG_FILE)], capture_output=True, text=True,
                          env={**base_env, **env}, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_dag_task_syncs_latest_executions_and_reports_failures(db: Database, runtime: Runtime,
                                                               fake_ds: FakeDolphinScheduler,
                                                               airflow_subprocess_env: dict[str, str]) -> None:
    ref = runtime.workflows.create(chain_spec("synced", 2), operator="t")
    with runtime.publisher() as publisher:
        publisher.publish(ref.workflow_id, "online", operator="t")
        ids = [publisher.start(ref.workflow_id, operator="t")["instance_ids"][0] for _ in range(12)]
    fake_ds.complete_instance(ids[-1], "FAILURE")
    connection = {"conn_type": "http", "host": fake_ds.base_url, "password": fake_ds.token,
                  "extra": {"project_code": PROJECT_CODE}}
    env = {"DATA_PIPELINE_DB_URI": db.dsn, "AIRFLOW_CONN_DOLPHINSCHEDULER_DEFAULT": json.dumps(connection)}

    shape = run_dag_task(airflow_subprocess_env, env)
    assert shape["import_errors"] == {}
    assert (shape["cron"], shape["catchup"], shape["max_active_runs"], shape["tasks"]) == (
        "*/5 * * * *", False, 1, ["sync_history"])
    assert "result" in shape, shape
    report = shape["result"]
    assert (report["configured"], report["workflows"], report["instances"]) == (True, 1, 10)
    assert [f["instance_id"] for f in report["failures"]] == [ids[-1]]
    with runtime.history() as history:
        kept = [e.instance_id for e in history.executions(ref.workflow_id, limit=50)]
    assert kept == sorted(ids, reverse=True)[:10]  # latest 10 only
    assert runtime.workflows.get(ref.workflow_id).last_execution_state == "FAILURE"


def test_failures_are_reported_once(runtime: Runtime, fake_ds: FakeDolphinScheduler) -> None:
    ref = runtime.workflows.create(chain_spec("once", 2), operator="t")
    with runtime.publisher() as publisher:
        publisher.publish(ref.workflow_id, "online", operator="t")
        (instance,) = publisher.start(ref.workflow_id, operator="t")["instance_ids"]
    fake_ds.complete_instance(instance, "FAILURE")
    with runtime.history() as history:
        assert [f["instance_id"] for f in history.sync_all()["failures"]] == [instance]
        assert history.sync_all()["failures"] == []


def test_dag_task_is_skipped_without_configuration(db: Database, airflow_subprocess_env: dict[str, str]) -> None:
    shape = run_dag_task(airflow_subprocess_env, {"DATA_PIPELINE_DB_URI": db.dsn})
    assert "not configured" in shape.get("skipped", ""), shape
    assert run_scheduled_sync.__module__ == "dolphin_publisher.runtime"
