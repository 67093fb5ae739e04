"""Text-to-SQL training-data pipeline: a plain Python package that knows nothing of Airflow.

The CLI (``python -m data_pipeline``), the Airflow DAGs and the REST API all call the functions of
this package; none of them carries logic of its own.
"""

__version__ = "0.1.0"

STEPS: tuple[str, ...] = ("ddl_generation", "qa_generation", "sql_validation", "training_load")
