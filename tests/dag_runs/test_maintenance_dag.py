"""data_pipeline_maintenance fixes tasks stranded by dead runs and deletes only old, finished tasks."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime, timedelta

import psycopg

from tests.dag_runs.conftest import DagRunner


def metadata_uri(runner: DagRunner) -> str:
    return runner.airflow.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("postgresql+psycopg://", "postgresql://")


def make_task(runner: DagRunner, status: str, *, age_days: int = 0, dag_id: str | None = None,
              run_id: str | None = None, with_dir: bool = True) -> str:
    task = runner.store.create_task(parameters={}, created_by="api")
    runner.store.update_task(task.id, status=status, dag_id=dag_id, dag_run_id=run_id,
                             started_at=datetime.now(UTC) - timedelta(days=age_days))
    with runner.store.connection() as conn:
        conn.execute("UPDATE data_pipeline_tasks SET created_at = now() - make_interval(days => %s) WHERE id = %s",
                     (age_days, task.id))
    if with_dir:
        (runner.data_dir / task.id).mkdir()
        (runner.data_dir / task.id / "a.ddl").write_text("x" * 1000)
    return task.id


def test_reconcile_and_retention(runner: DagRunner) -> None:
    warmup = runner.dags_test("data_pipeline_maintenance")
    assert warmup.returncode == 0, warmup.stdout[-3000:]
    with psycopg.connect(metadata_uri(runner)) as conn:
        finished_run = conn.execute("SELECT run_id FROM dag_run WHERE dag_id = 'data_pipeline_maintenance' "
                                    "AND state = 'success' ORDER BY start_date DESC LIMIT 1").fetchone()[0]
    trigger = subprocess.run([runner.airflow.bin, "dags", "trigger", "data_pipeline_maintenance", "--output", "json"],
                             env=runner.airflow.env, capture_output=True, text=True, timeout=120)
    assert trigger.returncode == 0, trigger.stderr[-2000:]
    queued_run = re.search(r'"dag_run_id":\s*"([^"]+)"', trigger.stdout).group(1)

    gone = make_task(runner, "in_progress", dag_id="data_pipeline", run_id="manual__2020-01-01T00:00:00+00:00")
    dead = make_task(runner, "in_progress", dag_id="data_pipeline_maintenance", run_id=finished_run)
    alive = make_task(runner, "in_progress", dag_id="data_pipeline_maintenance", run_id=queued_run)
    old_done = make_task(runner, "completed", age_days=40)
    old_failed = make_task(runner, "failed", age_days=45)
    old_running = make_task(runner, "in_progress", age_days=40, dag_id="data_pipeline_maintenance",
                            run_id=queued_run)
    young_done = make_task(runner, "completed", age_days=3)

    result = runner.dags_test("data_pipeline_maintenance")
    assert result.returncode == 0, result.stdout[-4000:]

    status = {t: runner.store.require_task(t).status for t in (gone, dead, alive, old_running, young_done)}
    assert status == {gone: "failed", dead: "failed", alive: "in_progress", old_running: "in_progress",
                      young_done: "completed"}
    assert "no longer exists" in runner.store.require_task(gone).error_message
    assert "already finished (success)" in runner.store.require_task(dead).error_message
    for kept in (gone, dead, alive, old_running, young_done):
        assert (runner.data_dir / kept / "a.ddl").exists()
    for expired in (old_done, old_failed):
        assert not (runner.data_dir / expired).exists()
        assert runner.store.require_task(expired).directory_exists is False
    logs, _ = runner.store.query_logs(old_done)
    assert any("deleted by airflow:data_pipeline_maintenance.apply_retention" in row.message for row in logs)
    assert "storage_report" in result.stdout + result.stderr
    report = json.dumps([line for line in (result.stdout + result.stderr).splitlines() if "task_directories" in line])
    assert "task_directories" in report
