"""Text-to-SQL training-data pipeline: a plain Python package that knows nothing of Airflow.

The CLI (``python -m data_pipeline``), the Airflow DAGs and the REST API all call the functions of
this package; none of them carries logic of its own.
"""

from data_pipeline.steps.registry import STEPS

__version__ = "0.1.0"

__all__ = ["STEPS", "__version__"]
