"""Tasks: create, list, query, active, detail, execute, delete."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from data_pipeline import config
from data_pipeline.api.answers import (
    ActiveTasks,
    RunStarted,
    TaskDeleted,
    TaskDetail,
    TaskList,
    TaskOut,
    TaskQueryPage,
    TasksDeleted,
)
from data_pipeline.api.deps import (
    ERRORS,
    CredentialsDep,
    LauncherDep,
    ReaderDep,
    StoreDep,
    TaskIdPath,
    WriterDep,
    load_task,
)
from data_pipeline.api.models import (
    NO_NUL,
    BatchDeleteRequest,
    CreateTaskRequest,
    DeleteRequest,
    ExecuteRequest,
    TaskQueryRequest,
)
from data_pipeline.api.ports import Credentials, RunLauncher
from data_pipeline.errors import PipelineError
from data_pipeline.files.backup import list_backups
from data_pipeline.files.deletion import delete_task, delete_tasks
from data_pipeline.files.task_dir import STATE_DIR, task_path
from data_pipeline.tasks.status import StepStatus, TaskStatus
from data_pipeline.tasks.store import StepRecord, TaskQuery, TaskRecord
from data_pipeline.workflow.preparation import BACKUP_SUMMARY, create_task_from_parameters
from data_pipeline.workflow.runs import has_table_list, request_run
from platform_api.envelope import Envelope, error_responses, ok

router = APIRouter(tags=["tasks"], responses=ERRORS)

CHECK_ERRORS = {
    400: "Bad request; UNKNOWN_TABLES: listed tables the business database lacks or matches ambiguously "
         "(each named, with a close match); BUSINESS_CONTEXT missing (missing_params: business_context)",
    424: "DATABASE_UNREACHABLE: the business database could not be reached to check the table list",
}
"""Answers of the checks made before a task is created or a run is requested (table list, database)."""


def task_json(task: TaskRecord, *, brief: bool = False) -> dict[str, Any]:
    data = task.model_dump(mode="json")
    data["task_id"] = data.pop("id")
    data["duration_seconds"] = task.duration_seconds
    if brief:
        data.pop("result", None)
        data.pop("parameters", None)
    return data


@router.post("/tasks", status_code=201, response_model=Envelope[TaskOut], summary="Create a task",
             responses=error_responses(CHECK_ERRORS, 400, 424))
def create_task(body: CreateTaskRequest, user: WriterDep, store: StoreDep) -> Any:
    raw = body.model_dump(exclude={"task_name", "task_type", "parameters"}, exclude_none=True)
    task_id = create_task_from_parameters(store, raw, created_by="api", owner=user.name, task_name=body.task_name,
                                          check_tables=True)
    task = store.require_task(task_id)
    store.add_log(task_id, "INFO", f"task created through the API by {user.name}")
    return ok(task_json(task), "task created", 201)


@router.get("/tasks", response_model=Envelope[TaskList], summary="List tasks (newest first)")
def list_tasks(
    user: ReaderDep, store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    status: Annotated[str | None, Query(max_length=200, description="comma-separated statuses")] = None,
    sort_by: Annotated[str, Query(max_length=30)] = "created_at",
    sort_order: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
    created_by: Annotated[str | None, Query(max_length=256, pattern=NO_NUL,
                                            description="who created the task: a user's name, or manual, "
                                                        "schedule, airflow")] = None,
    dag_run_id: Annotated[str | None, Query(max_length=250, pattern=NO_NUL,
                                            description="the task an Airflow DAG run runs")] = None,
) -> Any:
    query = TaskQuery.model_validate({
        "status": status.split(",") if status else None, "sort_by": sort_by, "sort_order": sort_order,
        "limit": limit, "offset": offset, "created_by": created_by,
        "dag_run_id": dag_run_id,
    })
    page = store.list_tasks(query, brief=True)
    return ok({"tasks": [task_json(t, brief=True) for t in page.items], "total": page.total,
               "limit": page.limit, "offset": page.offset})


@router.post("/tasks/query", response_model=Envelope[TaskQueryPage],
             summary="Query tasks with filters, paging and sorting")
def query_tasks(body: TaskQueryRequest, user: ReaderDep, store: StoreDep) -> Any:
    query = TaskQuery(
        status=body.status, task_type=body.task_type, created_by=body.created_by, db_name=body.db_name,
        search=body.keyword, created_after=body.created_after, created_before=body.created_before,
        directory_exists=body.directory_exists, sort_by=body.sort_by, sort_order=body.sort_order,
        limit=body.page_size, offset=(body.page - 1) * body.page_size,
    )
    page = store.list_tasks(query, brief=True)
    pages = (page.total + body.page_size - 1) // body.page_size
    return ok({"tasks": [task_json(t, brief=True) for t in page.items],
               "pagination": {"page": body.page, "page_size": body.page_size, "total": page.total,
                              "total_pages": pages, "has_next": body.page < pages, "has_prev": body.page > 1}})


@router.get("/tasks/active", response_model=Envelope[ActiveTasks], summary="Tasks running now")
def active_tasks(user: ReaderDep, store: StoreDep) -> Any:
    tasks = store.active_tasks()
    return ok({"tasks": [task_json(t, brief=True) for t in tasks], "count": len(tasks),
               "max_concurrent_tasks": config.limits().max_concurrent_tasks})


@router.get("/tasks/{task_id}", response_model=Envelope[TaskDetail],
            summary="Task detail: steps, progress, durations, backup, why a run waits")
def get_task(task_id: TaskIdPath, user: ReaderDep, store: StoreDep, launcher: LauncherDep,
             credentials: CredentialsDep) -> Any:
    task = load_task(store, task_id)
    data = task_json(task)
    steps = store.get_steps(task_id)
    data["steps"] = [s.model_dump(mode="json") for s in steps]
    data["backup"] = _backup_summary(task)
    data["table_list_present"] = has_table_list(task.id)
    data["waiting_reason"] = _waiting_reason(launcher, credentials, task, steps)
    return ok(data)


def _waiting_reason(launcher: RunLauncher, credentials: Credentials, task: TaskRecord,
                    steps: list[StepRecord]) -> str | None:
    """Asked of the host only for a task in progress with no step running: a run that works needs no reason."""
    if task.status != TaskStatus.IN_PROGRESS or any(s.status == StepStatus.RUNNING for s in steps):
        return None
    try:
        return launcher.waiting_reason(credentials, task)
    except Exception:  # the detail never fails for want of a reason
        return None


@router.post("/tasks/{task_id}/execute", status_code=202, response_model=Envelope[RunStarted],
             summary="Run the task (complete workflow or one step) as a data_pipeline DAG run",
             responses=error_responses(CHECK_ERRORS, 400, 424))
def execute_task(task_id: TaskIdPath, user: WriterDep, store: StoreDep, launcher: LauncherDep,
                 credentials: CredentialsDep, body: Annotated[ExecuteRequest | None, Body()] = None) -> Any:
    body = body or ExecuteRequest()
    started = request_run(store, launcher, credentials, task_id, execution_mode=body.execution_mode,
                          step_name=body.step_name, single_step=body.single_step, requested_by=user.name)
    return ok(vars(started), "execution started", 202)


@router.delete("/tasks/{task_id}", response_model=Envelope[TaskDeleted],
               summary="Delete a task's directory (and records)")
def delete_one(task_id: TaskIdPath, user: WriterDep, store: StoreDep, launcher: LauncherDep,
               credentials: CredentialsDep, body: Annotated[DeleteRequest | None, Body()] = None) -> Any:
    body = body or DeleteRequest()
    result = delete_task(store, task_id, confirm=body.confirm, force=body.force,
                         delete_database_records=body.delete_database_records, actor=f"api:{user.name}",
                         active_run=_active_run(launcher, credentials))
    return ok(result.to_dict(), "task directory deleted")


@router.delete("/tasks", response_model=Envelope[TasksDeleted], summary="Delete several tasks")
def delete_many(body: BatchDeleteRequest, user: WriterDep, store: StoreDep, launcher: LauncherDep,
                credentials: CredentialsDep) -> Any:
    result = delete_tasks(store, body.task_ids, confirm=body.confirm, force=body.force,
                          delete_database_records=body.delete_database_records,
                          continue_on_error=body.continue_on_error, actor=f"api:{user.name}",
                          active_run=_active_run(launcher, credentials))
    message = "batch deletion finished" if not result.failed_tasks else "batch deletion partly finished"
    return ok(result.to_dict(), message)


def _active_run(launcher: RunLauncher, credentials: Credentials) -> Callable[[TaskRecord], bool]:
    def check(task: TaskRecord) -> bool:
        return launcher.run_state(credentials, task) in ("queued", "running")
    return check


def _backup_summary(task: TaskRecord) -> dict[str, Any] | None:
    if task.result and task.result.get("backup") is not None:
        return task.result["backup"]
    try:
        directory = task_path(task.id)
        summary = directory / STATE_DIR / BACKUP_SUMMARY
        if summary.is_file():
            return json.loads(summary.read_text(encoding="utf-8"))
        backups = list_backups(directory)
    except (PipelineError, OSError, ValueError):
        return None
    return {"backups": len(backups), "latest": backups[0]["backup_directory"]} if backups else None
