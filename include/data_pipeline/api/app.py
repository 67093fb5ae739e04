"""Assembles the task API app from its routers; the host binds access control and the run launcher."""

from __future__ import annotations

from fastapi import FastAPI

from data_pipeline import __version__
from data_pipeline.api.body_limits import BodyLimitMiddleware
from data_pipeline.api.deps import get_credentials, get_launcher, get_store, may_write
from data_pipeline.api.ports import AccessControl, RunLauncher
from data_pipeline.api.routers import backups, connections, files, logs, session, table_list, tasks, ui, vectors
from data_pipeline.secrets_mask import mask
from data_pipeline.tasks.store import TaskStore
from platform_api.auth import bind_access
from platform_api.docs import install_docs
from platform_api.envelope import install_error_handlers, without_unused_422

DESCRIPTION = """
Manage text-to-SQL training-data tasks: create a task, upload its table list, execute it as a
`data_pipeline` DAG run (complete workflow or one step), follow progress and logs, download outputs,
restore backups and delete tasks. Every route needs Airflow authentication (a bearer token from
`POST /auth/token`, or the UI session); reads need read access to the `data_pipeline` DAG, changes
need permission to run it. Responses use the envelope `{success, code, message, data}`; errors add
`error_code`.
"""


def create_app(access: AccessControl, launcher: RunLauncher, *, store: TaskStore | None = None,
               prefix: str = "") -> FastAPI:
    """The app with ``access`` and ``launcher`` bound as dependency overrides (and ``store`` if given)."""
    app = FastAPI(title="Data Pipeline task API", version=__version__, description=DESCRIPTION,
                  docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    install_error_handlers(app, redact=mask)
    app.add_middleware(BodyLimitMiddleware)
    for module in (tasks, logs, files, table_list, backups, vectors, session, connections, ui):
        app.include_router(module.router, prefix=prefix)
    bind_access(app, access)
    credentials = getattr(access, "credentials", None)
    if credentials is not None:
        app.dependency_overrides[get_credentials] = credentials
    probe = getattr(access, "may_write", None)
    if probe is not None:
        app.dependency_overrides[may_write] = probe
    app.dependency_overrides[get_launcher] = lambda: launcher
    if store is not None:
        app.dependency_overrides[get_store] = lambda: store
    without_unused_422(app)
    install_docs(app)
    return app
