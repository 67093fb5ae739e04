"""The task-management REST API (``/api/v0/data_pipeline``) as a FastAPI app that knows nothing of Airflow.

Authentication/authorisation and DAG-run triggering are bound by the host (``AccessControl``,
``RunLauncher``, as dependency overrides); the Airflow plugin supplies the real ones, tests stand-ins.
"""

from data_pipeline.api.app import create_app
from data_pipeline.api.ports import Access, AccessControl, Credentials, Principal, RunLauncher

__all__ = ["Access", "AccessControl", "Credentials", "Principal", "RunLauncher", "create_app"]
