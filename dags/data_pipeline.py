"""The on-demand text-to-SQL training-data pipeline (triggered from the UI, the REST API or the task API)."""

from data_pipeline_airflow.dag_factory import build_pipeline_dag

dag = build_pipeline_dag("data_pipeline")
