"""Tasks: create, list, query, active, detail, execute, delete."""


import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request

from data_pipeline import config
from data_pipeline.api.deps import TaskIdPath, get_launcher, get_store, load_task, responses, task_json
from data_pipeline.api.envelope import ok
from data_pipeline.api.models import (
    BatchDeleteRequest,
    CreateTaskRequest,
    DeleteRequest,
    ExecuteRequest,
    TaskQueryRequest,
)
from data_pipeline.api.ports import Principal, RunLauncher
from data_pipeline.errors import InvalidInput, PipelineError
from data_pipeline.files.backup import list_backups
from data_pipeline.files.deletion import delete_task, delete_tasks
from data_pipeline.files.task_dir import STATE_DIR, TABLE_LIST_FILE, task_path
from data_pipeline.steps import registry
from data_pipeline.tasks.parameters import TaskParameters
from data_pipeline.tasks.store import TaskQuery, TaskRecord, TaskStore
from data_pipeline.workflow.pipeline import BACKUP_SUMMARY, create_task_from_parameters, normalise_mode


def build_router(read: Any, write: Any) -> APIRouter:
    router = APIRouter(tags=["tasks"])
    Reader = Annotated[Principal, Depends(read)]
    Writer = Annotated[Principal, Depends(write)]
    Store = Annotated[TaskStore, Depends(get_store)]
    Launcher = Annotated[RunLauncher, Depends(get_launcher)]

    @router.post("/tasks", responses=responses(201), status_code=201, summary="Create a task")
    def create_task(body: CreateTaskRequest, user: Writer, store: Store) -> Any:
        raw = body.model_dump(exclude={"task_name", "task_type", "parameters"}, exclude_none=True)
        task_id = create_task_from_parameters(store, raw, created_by="api", task_name=body.task_name)
        task = store.require_task(task_id)
        store.add_log(task_id, "INFO", f"task created through the API by {user.name}")
        return ok(task_json(task), "task created", 201)

    @router.get("/tasks", responses=responses(), summary="List tasks (newest first)")
    def list_tasks(
        user: Reader, store: Store,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
        status: Annotated[str | None, Query(max_length=200, description="comma-separated statuses")] = None,
        sort_by: Annotated[str, Query(max_length=30)] = "created_at",
        sort_order: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
    ) -> Any:
        query = TaskQuery.model_validate({
            "status": status.split(",") if status else None, "sort_by": sort_by, "sort_order": sort_order,
            "limit": limit, "offset": offset,
        })
        page = store.list_tasks(query, brief=True)
        return ok({"tasks": [task_json(t, brief=True) for t in page.items], "total": page.total,
                   "limit": page.limit, "offset": page.offset})

    @router.post("/tasks/query", responses=responses(), summary="Query tasks with filters, paging and sorting")
    def query_tasks(body: TaskQueryRequest, user: Reader, store: Store) -> Any:
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

    @router.get("/tasks/active", responses=responses(), summary="Tasks running now")
    def active_tasks(user: Reader, store: Store) -> Any:
        tasks = store.active_tasks()
        return ok({"tasks": [task_json(t, brief=True) for t in tasks], "count": len(tasks),
                   "max_concurrent_tasks": config.limits().max_concurrent_tasks})

    @router.get("/tasks/{task_id}", responses=responses(), summary="Task detail: steps, progress, durations, backup")
    def get_task(task_id: TaskIdPath, user: Reader, store: Store) -> Any:
        task = load_task(store, task_id)
        data = task_json(task)
        data["steps"] = [s.model_dump(mode="json") for s in store.get_steps(task_id)]
        data["backup"] = _backup_summary(task)
        data["table_list_present"] = _has_table_list(task)
        return ok(data)

    @router.post("/tasks/{task_id}/execute", responses=responses(202), status_code=202,
                 summary="Run the task (complete workflow or one step) as a data_pipeline DAG run")
    def execute_task(task_id: TaskIdPath, request: Request, user: Writer, store: Store, launcher: Launcher,
                     body: Annotated[ExecuteRequest | None, Body()] = None) -> Any:
        body = body or ExecuteRequest()
        task = load_task(store, task_id)
        mode, step = normalise_mode(body.execution_mode, body.step_name, body.single_step)
        steps = TaskParameters.model_validate(task.parameters).selected_steps(mode, step)
        if registry.needs_table_list(steps) and not _has_table_list(task):
            raise InvalidInput(f"task {task_id} has no {TABLE_LIST_FILE}; upload one first",
                               missing_params=["table_list"])
        previous_status = task.status
        claim = store.claim_execution(task_id, max_concurrent=config.limits().max_concurrent_tasks)
        try:
            run_id = launcher.trigger(request, task_id, mode, step)
        except Exception as exc:
            store.update_task(task_id, status=previous_status, started_at=task.started_at,
                              completed_at=task.completed_at, dag_run_id=task.dag_run_id)
            if isinstance(exc, PipelineError):
                raise
            raise PipelineError(f"could not start a DAG run: {type(exc).__name__}: {exc}") from None
        store.update_task(task_id, dag_run_id=run_id, dag_id=launcher.dag_id)
        store.add_log(task_id, "INFO", f"{mode} run requested by {user.name}" + (f" ({step})" if step else "")
                      + f"; DAG run {run_id}")
        return ok({"task_id": task_id, "dag_id": launcher.dag_id, "dag_run_id": run_id, "execution_mode": mode,
                   "step_name": step, "steps": steps, "status": claim.task.status}, "execution started", 202)

    @router.delete("/tasks/{task_id}", responses=responses(), summary="Delete a task's directory (and records)")
    def delete_one(task_id: TaskIdPath, request: Request, user: Writer, store: Store, launcher: Launcher,
                   body: Annotated[DeleteRequest | None, Body()] = None) -> Any:
        body = body or DeleteRequest()
        result = delete_task(store, task_id, confirm=body.confirm, force=body.force,
                             delete_database_records=body.delete_database_records, actor=f"api:{user.name}",
                             active_run=_active_run(request, launcher))
        return ok(result.to_dict(), "task directory deleted")

    @router.delete("/tasks", responses=responses(), summary="Delete several tasks")
    def delete_many(body: BatchDeleteRequest, request: Request, user: Writer, store: Store,
                    launcher: Launcher) -> Any:
        result = delete_tasks(store, body.task_ids, confirm=body.confirm, force=body.force,
                              delete_database_records=body.delete_database_records,
                              continue_on_error=body.continue_on_error, actor=f"api:{user.name}",
                              active_run=_active_run(request, launcher))
        message = "batch deletion finished" if not result.failed_tasks else "batch deletion partly finished"
        return ok(result.to_dict(), message)

    return router


def _active_run(request: Request, launcher: RunLauncher) -> Any:
    def check(task: TaskRecord) -> bool:
        return launcher.run_state(request, task) in ("queued", "running")
    return check


def _has_table_list(task: TaskRecord) -> bool:
    try:
        return (task_path(task.id) / TABLE_LIST_FILE).is_file()
    except PipelineError:
        return False


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
