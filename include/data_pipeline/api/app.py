"""Assembles the task API app from its routers, with the host's access control and run launcher."""

from __future__ import annotations

from fastapi import FastAPI

from data_pipeline import __version__
from data_pipeline.api.body_limits import BodyLimitMiddleware
from data_pipeline.api.envelope import install_error_handlers
from data_pipeline.api.ports import AccessControl, RunLauncher
from data_pipeline.api.routers import backups, files, logs, table_list, tasks, vectors
from data_pipeline.tasks.store import TaskStore

DESCRIPTION = """
Manage text-to-SQL training-data tasks: create a task, upload its table list, execute it as a
`data_pipeline` DAG run (complete workflow or one step), follow progress and logs, download outputs,
restore backups and delete tasks. Every route needs Airflow authentication (a bearer token from
`POST /auth/token`, or the UI session); reads need read access to the `data_pipeline` DAG, changes
need permission to run it. Responses use the envelope `{success, code, message, data}`; errors add
`error_code`.
"""


def create_app(access: AccessControl, launcher: RunLauncher, *, store: TaskStore | None = None,
               root_path: str = "") -> FastAPI:
    app = FastAPI(title="Data Pipeline task API", version=__version__, description=DESCRIPTION,
                  root_path=root_path, docs_url="/docs", redoc_url=None, openapi_url="/openapi.json")
    app.state.launcher = launcher
    app.state.store = store
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware)
    for module in (tasks, logs, files, table_list, backups, vectors):
        app.include_router(module.build_router(access.read, access.write))
    return app
