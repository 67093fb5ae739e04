"""Stand-in with the shape of the planned ``data_pipeline`` DAG (SPEC §9) for the importer tests.

Seven tasks in a chain; the Python tasks say, in ``doc_json``, which CLI call does their step on a
machine without Airflow (DolphinScheduler). The importer test can later point at dags/ instead.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pendulum
from airflow.sdk import Param, chain, dag, task

STEPS = ["ddl_generation", "qa_generation", "sql_validation", "training_load"]


def _cli(extra: str) -> str:
    return json.dumps({"shell_command": f"python -m data_pipeline run --task-id ${{task_id}} {extra}"})


@dag(
    dag_id="data_pipeline",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "task_id": Param("", type="string", description="task id (created when empty)"),
        "db_conn_id": Param("business_db", type="string"),
        "execution_mode": Param("complete", enum=["complete", "step"]),
        "step_name": Param("", type="string"),
        "enable_sql_validation": Param(True, type="boolean"),
        "batch_size": Param(10, type="integer"),
    },
)
def data_pipeline() -> None:
    @task(doc_json=json.dumps({"shell_command": "python -m data_pipeline prepare --task-id ${task_id}"}))
    def prepare() -> None: ...

    @task(doc_json=json.dumps({"shell_command": "python -m data_pipeline backup ${task_id}"}))
    def backup_existing_files() -> None: ...

    chain_tasks = [prepare(), backup_existing_files()]
    for step in STEPS:
        step_task = task(task_id=step, retries=2, retry_delay=timedelta(minutes=2),
                         execution_timeout=timedelta(hours=2),
                         doc_json=_cli(f"--execution-mode step --step-name {step}"))(lambda: None)()
        chain_tasks.append(step_task)

    @task(doc_json=json.dumps({"shell_command": "python -m data_pipeline finalize --task-id ${task_id}"}),
          trigger_rule="all_done")
    def finalize() -> None: ...

    chain_tasks.append(finalize())
    chain(*chain_tasks)


data_pipeline()
