"""One scheduled pipeline DAG per entry of the schedules file (see data_pipeline.workflow.schedules)."""

from data_pipeline.workflow.schedules import load_schedules
from data_pipeline_airflow.dag_factory import build_pipeline_dag

for _entry in load_schedules():
    globals()[_entry.dag_id] = build_pipeline_dag(
        _entry.dag_id,
        schedule=_entry.cron,
        defaults=_entry.run_defaults(),
        description=f"Scheduled training data for {_entry.db_conn_id} ({_entry.cron})",
        tags=["data_pipeline", "text2sql", "scheduled"],
    )
