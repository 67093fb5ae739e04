"""Housekeeping: reconcile stuck tasks with DAG-run state, apply retention, report storage."""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import dag, task

from data_pipeline.config import limits
from data_pipeline_airflow.operators import DeleteTaskDirectoryOperator


@dag(
    dag_id="data_pipeline_maintenance",
    schedule="@hourly",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["data_pipeline", "maintenance"],
    doc_md="Fails tasks left `in_progress` by runs that ended or vanished, deletes finished tasks older "
           "than the retention period, and reports disk use of the data directory.",
)
def data_pipeline_maintenance() -> None:
    @task
    def reconcile_stuck_tasks() -> list[dict[str, Any]]:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

        from data_pipeline.tasks.maintenance import reconcile_stuck_tasks as reconcile
        from data_pipeline.tasks.store import default_store

        def run_state(dag_id: str, run_id: str) -> str | None:
            if RuntimeTaskInstance.get_dr_count(dag_id=dag_id, run_ids=[run_id]) == 0:
                return None
            state = RuntimeTaskInstance.get_dagrun_state(dag_id=dag_id, run_id=run_id)
            return str(getattr(state, "value", state))  # an enum member: its value is the state name

        return reconcile(default_store(), run_state)

    retention = DeleteTaskDirectoryOperator(task_id="apply_retention", older_than_days=limits().retention_days)

    @task
    def storage_report() -> dict[str, Any]:
        from data_pipeline.tasks.maintenance import storage_report as report
        from data_pipeline.tasks.store import default_store

        return report(default_store())

    reconcile_stuck_tasks() >> retention >> storage_report()


data_pipeline_maintenance()
