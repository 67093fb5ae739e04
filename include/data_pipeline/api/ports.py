"""What the task API needs from its host (Airflow): who the caller is, may they, and how runs start.

The host binds them when it builds the app (``create_app`` arguments, which become
``app.dependency_overrides``), so tests build the same app with stand-ins and no Airflow.
"""

from __future__ import annotations

from data_pipeline.workflow.runs import Credentials, RunLauncher
from platform_api.auth import Access, AccessControl, Principal

__all__ = ["Access", "AccessControl", "Credentials", "Principal", "RunLauncher"]
