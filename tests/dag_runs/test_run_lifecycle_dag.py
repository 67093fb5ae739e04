"""A run whose ddl_generation fails for good fails its task at once, not when the maintenance DAG looks."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from data_pipeline.workflow.pipeline import create_task_from_parameters
from tests.dag_runs.conftest import DagRunner
from tests.dag_runs.test_maintenance_dag import metadata_uri


def test_final_failure_of_a_step_fails_the_task_within_seconds(runner: DagRunner, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATA_PIPELINE_DATA_DIR", "AIRFLOW_CONN_HIGHWAY_DEMO"):
        monkeypatch.setenv(name, runner.airflow.env[name])
    # max_retries 10: the table stays retryable through all of Airflow's tries, so every try fails.
    task_id = create_task_from_parameters(runner.store, {"db_conn_id": "highway_demo", "table_list": ["bss_company"],
                                                         "business_context": "高速公路服务区",
                                                         "max_retries": 10}, created_by="api")
    (runner.data_dir / task_id / "bss_company.ddl").mkdir()  # the step cannot write its output: a hard failure
    conf = {"task_id": task_id, "execution_mode": "step", "step_name": "ddl_generation"}
    log_path = tmp_path / "dags_test.log"
    env = runner.env(DATA_PIPELINE_TASK_RETRY_DELAY_SECONDS="1")  # the retries themselves matter, not their wait
    with log_path.open("wb") as log_file:  # a file, not a pipe: nobody reads while the run writes
        proc = subprocess.Popen([runner.airflow.bin, "dags", "test", "data_pipeline", "-c", json.dumps(conf)],
                                env=env, stdout=log_file, stderr=subprocess.STDOUT)
    seen: list[tuple[float, str, int, str | None]] = []  # (time, task status, ddl try, error) at each change
    while proc.poll() is None:
        task = runner.store.require_task(task_id)
        ddl = next(s for s in runner.store.get_steps(task_id) if s.step_name == "ddl_generation")
        state = (task.status.value, ddl.try_number, task.error_message)
        if not seen or seen[-1][1:] != state:
            seen.append((time.time(), *state))
        time.sleep(0.2)
    output = log_path.read_text(errors="replace")
    assert proc.returncode != 0, output[-3000:]

    run_id = runner.store.require_task(task_id).dag_run_id
    with psycopg.connect(metadata_uri(runner)) as conn:
        retried = conn.execute(
            "SELECT try_number FROM task_instance_history WHERE dag_id = 'data_pipeline' "
            "AND task_id = 'ddl_generation' AND run_id = %s ORDER BY try_number", (run_id,)).fetchall()
        final = conn.execute(
            "SELECT try_number, state, extract(epoch FROM start_date), extract(epoch FROM end_date) "
            "FROM task_instance WHERE dag_id = 'data_pipeline' AND task_id = 'ddl_generation' AND run_id = %s",
            (run_id,)).fetchone()
    assert [r[0] for r in retried] == [1, 2] and final[:2] == (3, "failed"), (retried, final)
    final_start, final_end = float(final[2]), float(final[3])

    failed_at = next(t for t, status, _, _ in seen if status == "failed")
    before = [s for s in seen if s[0] < failed_at]
    assert before and all(status in ("pending", "in_progress") for _, status, _, _ in before)  # none before try 3
    assert failed_at > final_start  # tries 1 and 2 (retried) left the task claimed
    first_failed = next(s for s in seen if s[1] == "failed")
    assert first_failed[3].startswith(f"Airflow task ddl_generation[0] failed in DAG run {run_id} (try 3): "
                                      "ddl_generation batch 0 failed"), first_failed
    latency = failed_at - final_end
    print(f"task failed {latency:.2f}s after the final try of ddl_generation ended")
    assert latency < 10, seen

    logs, _ = runner.store.query_logs(task_id, search="execution marked failed")
    assert len(logs) == 1 and "(try 3)" in logs[0].message  # once, by the final failure only
    task = runner.store.require_task(task_id)
    assert task.status == "failed" and task.error_step == "ddl_generation"
    runner.store.claim_execution(task_id, max_concurrent=1000)  # the claim is free: executable again

