"""The task-management REST API (``/api/v0/data_pipeline``) as a FastAPI app that knows nothing of Airflow.

Authentication/authorisation and DAG-run triggering are injected (``AccessControl``, ``RunLauncher``);
the Airflow plugin supplies the real ones, so the routes stay thin calls into the package.
"""

from data_pipeline.api.app import create_app
from data_pipeline.api.ports import AccessControl, Principal, RunLauncher

__all__ = ["AccessControl", "Principal", "RunLauncher", "create_app"]
