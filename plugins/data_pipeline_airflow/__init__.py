"""Airflow adapters of the data pipeline: operators, the DAG builder, the REST plugin apps.

Thin by design: every behaviour lives in the ``data_pipeline`` / ``dolphin_publisher`` packages.
"""
