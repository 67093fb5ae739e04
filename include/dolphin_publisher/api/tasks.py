"""Platform tasks: list with lineage filters, save, assign to a workflow, move between workflows."""

from __future__ import annotations

from typing import Any

from fastapi import Query

from dolphin_publisher.api.deps import READ, RuntimeDep, WriterDep, new_router, operator
from dolphin_publisher.api.docs import CHANGE, errors, linked
from dolphin_publisher.api.models import (
    AssignRequest,
    Page,
    ReassignRequest,
    TasksSaved,
    TasksUpsertRequest,
    WorkflowRefOut,
)
from dolphin_publisher.api.params import TaskIdPath, WorkflowId
from dolphin_publisher.models import BIGINT_MAX, INT_MAX, TASK_ID_PATTERN, TaskInfo
from platform_api.envelope import Envelope, ok

router = new_router()


@router.post("/workflows/{workflow_id}/tasks", response_model=Envelope[WorkflowRefOut], responses=CHANGE)
def assign(workflow_id: WorkflowId, body: AssignRequest, user: WriterDep, runtime: RuntimeDep) -> Any:
    ref = runtime.workflows.assign_tasks(workflow_id, body.task_ids, mode=body.mode, dependencies=body.dependencies,
                                         operator=operator(user))
    return ok(ref.to_dict(), "tasks assigned")


@router.post("/tasks/{task_id}/reassign", response_model=Envelope[WorkflowRefOut], responses=CHANGE)
def reassign(task_id: TaskIdPath, body: ReassignRequest, user: WriterDep, runtime: RuntimeDep) -> Any:
    ref = runtime.workflows.reassign_task(task_id, body.workflow_id, mode=body.mode, operator=operator(user))
    return ok(ref.to_dict(), "task reassigned")


@router.get("/tasks", dependencies=READ, response_model=Envelope[Page[TaskInfo]], responses=errors())
def list_tasks(runtime: RuntimeDep,
               workflow_id: int | None = Query(default=None, alias="workflowId", ge=1, le=BIGINT_MAX),
               upstream_task_id: str | None = Query(default=None, alias="upstreamTaskId", pattern=TASK_ID_PATTERN),
               downstream_task_id: str | None = Query(default=None, alias="downstreamTaskId", pattern=TASK_ID_PATTERN),
               limit: int = Query(default=100, ge=1, le=1000),
               offset: int = Query(default=0, ge=0, le=INT_MAX)) -> Any:
    items, total = runtime.workflows.list_tasks(workflow_id=workflow_id, upstream_task_id=upstream_task_id,
                                                downstream_task_id=downstream_task_id, limit=limit, offset=offset)
    return ok({"items": items, "total": total, "limit": limit, "offset": offset})


@router.post("/tasks", response_model=Envelope[TasksSaved], responses=linked(
    errors(), 200, reassign=("reassign", {"task_id": "$response.body#/data/task_ids/0"})))
def upsert_tasks(body: TasksUpsertRequest, user: WriterDep, runtime: RuntimeDep) -> Any:
    return ok({"task_ids": runtime.workflows.upsert_tasks(body.tasks)}, "tasks saved")
