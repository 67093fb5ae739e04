"""Platform workflows: create, list, read, change, delete, versions, diff, rollback, platform state."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Query

from dolphin_publisher.api.deps import READ, RuntimeDep, WriterDep, new_router, operator
from dolphin_publisher.api.docs import CHANGE, FOUND, REMOTE, SAME_WORKFLOW, WORKFLOW, errors, follow, linked
from dolphin_publisher.api.models import Page, RollbackRequest, VersionDiff, WorkflowDeleted, WorkflowRefOut
from dolphin_publisher.api.params import VersionNo, WorkflowId
from dolphin_publisher.models import (
    INT_MAX,
    PublishStatus,
    VersionInfo,
    WorkflowDetail,
    WorkflowFile,
    WorkflowStatus,
    WorkflowSummary,
)
from platform_api.envelope import Envelope, ok

log = logging.getLogger(__name__)
router = new_router()


@router.get("/workflows", dependencies=READ, response_model=Envelope[Page[WorkflowSummary]], responses=errors())
def list_workflows(runtime: RuntimeDep, status: WorkflowStatus | None = None,
                   publish_status: PublishStatus | None = None,
                   search: str | None = Query(default=None, max_length=200, pattern=r"^[^\x00]*$"),
                   limit: int = Query(default=50, ge=1, le=500),
                   offset: int = Query(default=0, ge=0, le=INT_MAX)) -> Any:
    items, total = runtime.workflows.list(status=status.value if status else None,
                                          publish_status=publish_status.value if publish_status else None,
                                          search=search, limit=limit, offset=offset)
    return ok({"items": items, "total": total, "limit": limit, "offset": offset})


@router.post("/workflows", status_code=201, response_model=Envelope[WorkflowRefOut], responses=linked(
    errors(409), 201, **follow(WORKFLOW, "get_workflow", "update_workflow", "delete_workflow", "list_versions",
                               "platform_online", "platform_offline", "publish", "publish_records", "start",
                               "executions", "sync", "assign"),
    get_version=("get_version", {**WORKFLOW, "version": "$response.body#/data/version"})))
def create_workflow(body: WorkflowFile, user: WriterDep, runtime: RuntimeDep) -> Any:
    ref = runtime.workflows.create(body, operator=operator(user))
    return ok(ref.to_dict(), "workflow created", 201)


@router.get("/workflows/{workflow_id}", dependencies=READ, response_model=Envelope[WorkflowDetail], responses=FOUND)
def get_workflow(workflow_id: WorkflowId, runtime: RuntimeDep) -> Any:
    return ok(runtime.workflows.get(workflow_id))


@router.put("/workflows/{workflow_id}", response_model=Envelope[WorkflowRefOut], responses=linked(
    CHANGE, 200, get_version=("get_version", {**WORKFLOW, "version": "$response.body#/data/version"}),
    **follow(WORKFLOW, "publish")))
def update_workflow(workflow_id: WorkflowId, body: WorkflowFile, user: WriterDep, runtime: RuntimeDep) -> Any:
    ref = runtime.workflows.update(workflow_id, body, operator=operator(user))
    return ok(ref.to_dict(), "new version created" if ref.changed else "no change")


@router.delete("/workflows/{workflow_id}", response_model=Envelope[WorkflowDeleted], responses=REMOTE)
def delete_workflow(workflow_id: WorkflowId, user: WriterDep, runtime: RuntimeDep,
                    delete_in_dolphinscheduler: bool = False) -> Any:
    runtime.workflows.require(workflow_id)  # 404 before any remote call
    code = None
    if delete_in_dolphinscheduler:
        with runtime.publisher() as publisher:
            code = publisher.delete_remote(workflow_id)
    runtime.workflows.delete(workflow_id)
    log.info("workflow %s deleted by %s (remote definition %s)", workflow_id, operator(user), code)
    return ok({"workflow_id": workflow_id, "deleted_engine_workflow_code": code}, "deleted")


@router.get("/workflows/{workflow_id}/versions", dependencies=READ, response_model=Envelope[list[VersionInfo]],
            responses=FOUND)
def list_versions(workflow_id: WorkflowId, runtime: RuntimeDep) -> Any:
    return ok(runtime.versions.list(workflow_id))


@router.get("/workflows/{workflow_id}/versions/{version}", dependencies=READ, response_model=Envelope[VersionInfo],
            responses=FOUND)
def get_version(workflow_id: WorkflowId, version: VersionNo, runtime: RuntimeDep) -> Any:
    return ok(runtime.versions.get(workflow_id, version))


@router.get("/workflows/{workflow_id}/diff", dependencies=READ, response_model=Envelope[VersionDiff],
            responses=FOUND)
def diff(workflow_id: WorkflowId, runtime: RuntimeDep, from_version: int = Query(ge=1, le=INT_MAX),
         to_version: int = Query(ge=1, le=INT_MAX)) -> Any:
    return ok(runtime.versions.diff(workflow_id, from_version, to_version))


@router.post("/workflows/{workflow_id}/rollback", response_model=Envelope[WorkflowRefOut], responses=CHANGE)
def rollback(workflow_id: WorkflowId, body: RollbackRequest, user: WriterDep, runtime: RuntimeDep) -> Any:
    ref = runtime.versions.rollback(workflow_id, body.version, operator=operator(user), mode=body.reassign_mode)
    return ok(ref.to_dict(), f"rolled back to the content of version {body.version}")


@router.post("/workflows/{workflow_id}/online", response_model=Envelope[WorkflowSummary], responses=linked(
    FOUND, 200, **follow(SAME_WORKFLOW, "publish", "start")))
def platform_online(workflow_id: WorkflowId, user: WriterDep, runtime: RuntimeDep) -> Any:
    summary = runtime.workflows.set_status(workflow_id, WorkflowStatus.ONLINE, operator=operator(user))
    return ok(summary, "online on the platform")


@router.post("/workflows/{workflow_id}/offline", response_model=Envelope[WorkflowSummary], responses=FOUND)
def platform_offline(workflow_id: WorkflowId, user: WriterDep, runtime: RuntimeDep) -> Any:
    summary = runtime.workflows.set_status(workflow_id, WorkflowStatus.OFFLINE, operator=operator(user))
    return ok(summary, "offline on the platform")
