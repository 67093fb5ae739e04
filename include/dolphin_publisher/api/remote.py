"""Routes that reach DolphinScheduler: publish, start, executions, task instances and logs, sync.

Each looks the workflow up first, so an unknown workflow is a 404 whatever the settings.
"""

from __future__ import annotations

from typing import Any

from fastapi import Query

from dolphin_publisher.api.deps import READ, RuntimeDep, WriterDep, new_router, operator
from dolphin_publisher.api.docs import FOUND, REMOTE, SAME_WORKFLOW, follow, linked
from dolphin_publisher.api.models import (
    BatchStarted,
    BatchStartRequest,
    InstancesStarted,
    InstanceTasks,
    PublishRequest,
    StartRequest,
    SyncReport,
    TaskLog,
)
from dolphin_publisher.api.params import InstanceId, TaskInstanceId, WorkflowId
from dolphin_publisher.errors import NotFoundError
from dolphin_publisher.models import INT_MAX, InstanceRecord, PublishRecord
from platform_api.envelope import Envelope, ok, service_error

router = new_router()


@router.post("/workflows/{workflow_id}/publish", response_model=Envelope[PublishRecord], responses=linked(
    REMOTE, 200, **follow(SAME_WORKFLOW, "start", "sync", "executions", "publish_records", "delete_workflow",
                          "update_workflow")))
def publish(workflow_id: WorkflowId, body: PublishRequest, user: WriterDep, runtime: RuntimeDep) -> Any:
    runtime.workflows.require(workflow_id)
    with runtime.publisher() as publisher:
        outcome = publisher.publish(workflow_id, body.operation, operator=operator(user))
    if outcome.error is not None:
        return service_error(outcome.error, {"record": outcome.record.model_dump(mode="json")})
    return ok(outcome.record, f"{body.operation.value}: {outcome.record.status.value}")


@router.get("/workflows/{workflow_id}/publish-records", dependencies=READ,
            response_model=Envelope[list[PublishRecord]], responses=FOUND)
def publish_records(workflow_id: WorkflowId, runtime: RuntimeDep,
                    limit: int = Query(default=50, ge=1, le=500)) -> Any:
    return ok(runtime.workflows.publish_records(workflow_id, limit=limit))


@router.post("/workflows/batch-start", response_model=Envelope[BatchStarted], responses=REMOTE)
def batch_start(body: BatchStartRequest, user: WriterDep, runtime: RuntimeDep) -> Any:
    for workflow_id in dict.fromkeys(body.workflow_ids):
        runtime.workflows.require(workflow_id)
    with runtime.publisher() as publisher:
        return ok(publisher.batch_start(body.workflow_ids, operator=operator(user)), "instances started")


@router.post("/workflows/{workflow_id}/start", response_model=Envelope[InstancesStarted], responses=linked(
    REMOTE, 200, **follow(SAME_WORKFLOW, "sync", "executions"),
    execution_tasks=("execution_tasks", {**SAME_WORKFLOW, "instance_id": "$response.body#/data/instance_ids/0"})))
def start(workflow_id: WorkflowId, user: WriterDep, runtime: RuntimeDep, body: StartRequest | None = None) -> Any:
    body = body or StartRequest()
    runtime.workflows.require(workflow_id)
    with runtime.publisher() as publisher:
        result = publisher.start(workflow_id, operator=operator(user), params=body.params or None,
                                 failure_strategy=body.failure_strategy, dry_run=body.dry_run)
    return ok(result, "instance started")


@router.get("/workflows/{workflow_id}/executions", dependencies=READ, response_model=Envelope[list[InstanceRecord]],
            responses=REMOTE)
def executions(workflow_id: WorkflowId, runtime: RuntimeDep, refresh: bool = False) -> Any:
    """The cached latest executions; ``refresh=true`` syncs them from DolphinScheduler first."""
    runtime.workflows.require(workflow_id)
    if refresh:
        with runtime.history() as history:
            history.sync_workflow(workflow_id)
    return ok(runtime.workflows.executions(workflow_id))


@router.get("/workflows/{workflow_id}/executions/{instance_id}/tasks", dependencies=READ,
            response_model=Envelope[InstanceTasks], responses=linked(
                REMOTE, 200, task_log=("task_log", {"task_instance_id": "$response.body#/data/tasks/0/id"})))
def execution_tasks(workflow_id: WorkflowId, instance_id: InstanceId, runtime: RuntimeDep) -> Any:
    if runtime.workflows.require(workflow_id)["workflow_code"] is None:
        raise NotFoundError(f"instance {instance_id} does not belong to workflow {workflow_id}: "
                            "the workflow was never deployed to DolphinScheduler")
    with runtime.history() as history:
        return ok(history.task_instances(workflow_id, instance_id))


@router.get("/task-instances/{task_instance_id}/log", dependencies=READ, response_model=Envelope[TaskLog],
            responses=REMOTE)
def task_log(task_instance_id: TaskInstanceId, runtime: RuntimeDep,
             skip_line_num: int = Query(default=0, ge=0, le=INT_MAX),
             limit: int = Query(default=1000, ge=1, le=10000)) -> Any:
    with runtime.history() as history:
        return ok(history.task_log(task_instance_id, skip_lines=skip_line_num, limit=limit))


@router.post("/workflows/{workflow_id}/sync", response_model=Envelope[SyncReport], responses=REMOTE)
def sync(workflow_id: WorkflowId, user: WriterDep, runtime: RuntimeDep) -> Any:
    runtime.workflows.require(workflow_id)
    with runtime.history() as history:
        return ok(history.sync_workflow(workflow_id), "synced")
