"""Task logs from the task store: recent lines and a filtered query."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from data_pipeline.api.answers import TaskLogPage, TaskLogs
from data_pipeline.api.deps import ERRORS, ReaderDep, StoreDep, TaskIdPath, load_task
from data_pipeline.api.models import LogQuery
from platform_api.envelope import Envelope, ok

router = APIRouter(tags=["logs"], responses=ERRORS)


@router.get("/tasks/{task_id}/logs", response_model=Envelope[TaskLogs], summary="Latest log lines of a task")
def logs(task_id: TaskIdPath, user: ReaderDep, store: StoreDep,
         limit: Annotated[int, Query(ge=1, le=1000)] = 100,
         level: Annotated[str | None, Query(pattern="^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$")] = None) -> Any:
    load_task(store, task_id)
    rows, total = store.query_logs(task_id, level=[level] if level else None, limit=limit, newest_first=True)
    return ok({"task_id": task_id, "logs": [r.model_dump(mode="json") for r in reversed(rows)], "total": total})


@router.post("/tasks/{task_id}/logs/query", response_model=Envelope[TaskLogPage], summary="Query a task's logs")
def query(task_id: TaskIdPath, body: LogQuery, user: ReaderDep, store: StoreDep) -> Any:
    load_task(store, task_id)
    rows, total = store.query_logs(
        task_id, level=body.level, step=body.step_name, search=body.keyword, since=body.start_time,
        until=body.end_time, limit=body.page_size, offset=(body.page - 1) * body.page_size,
        newest_first=body.newest_first,
    )
    pages = (total + body.page_size - 1) // body.page_size
    return ok({"task_id": task_id, "logs": [r.model_dump(mode="json") for r in rows],
               "pagination": {"page": body.page, "page_size": body.page_size, "total": total,
                              "total_pages": pages}})
