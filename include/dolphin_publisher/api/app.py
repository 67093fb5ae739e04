"""Assembles the workflow API app; the host binds access control (and tests the runtime)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from dolphin_publisher.api.deps import get_runtime
from dolphin_publisher.api.remote import router as remote_router
from dolphin_publisher.api.tasks import router as tasks_router
from dolphin_publisher.api.workflows import router as workflows_router
from dolphin_publisher.runtime import Runtime
from platform_api.auth import AccessControl, bind_access
from platform_api.docs import install_docs
from platform_api.envelope import install_error_handlers, without_unused_422

DESCRIPTION = ("Platform workflows with versions, published to DolphinScheduler. Every route needs Airflow "
               "authentication (read vs run access to data_pipeline).")


def create_app(access: AccessControl, *, runtime_factory: Callable[[], Runtime] | None = None,
               prefix: str = "") -> FastAPI:
    """The app with ``access`` bound as dependency overrides, and ``runtime_factory`` if given."""
    app = FastAPI(title="Workflow platform API", version="1", description=DESCRIPTION, docs_url=None,
                  redoc_url=None, openapi_url="/openapi.json")
    install_error_handlers(app)
    for router in (workflows_router, remote_router, tasks_router):
        app.include_router(router, prefix=prefix)
    bind_access(app, access)
    if runtime_factory is not None:
        app.dependency_overrides[get_runtime] = runtime_factory
    without_unused_422(app)
    install_docs(app)
    return app
