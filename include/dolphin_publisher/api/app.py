"""Assembles the workflow API app; the host binds access control (and tests the runtime)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from data_pipeline.api.app import bind_access
from data_pipeline.api.envelope import install_error_handlers, without_unused_422
from data_pipeline.api.ports import AccessControl
from dolphin_publisher.api import deps, remote, tasks, workflows
from dolphin_publisher.runtime import Runtime

DESCRIPTION = ("Platform workflows with versions, published to DolphinScheduler. Every route needs Airflow "
               "authentication (read vs run access to data_pipeline).")


def create_app(access: AccessControl, *, runtime_factory: Callable[[], Runtime] | None = None,
               prefix: str = "") -> FastAPI:
    """The app with ``access`` bound as dependency overrides, and ``runtime_factory`` if given."""
    app = FastAPI(title="Workflow platform API", version="1", description=DESCRIPTION, docs_url="/docs",
                  redoc_url=None, openapi_url="/openapi.json")
    install_error_handlers(app)
    for module in (workflows, remote, tasks):
        app.include_router(module.router, prefix=prefix)
    bind_access(app, access)
    if runtime_factory is not None:
        app.dependency_overrides[deps.get_runtime] = runtime_factory
    without_unused_422(app)
    return app
