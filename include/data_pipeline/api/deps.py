"""Shared dependencies and helpers of the routers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Request

from data_pipeline.api.envelope import Envelope, ErrorEnvelope
from data_pipeline.api.ports import RunLauncher
from data_pipeline.tasks.ids import TASK_ID_PATTERN, validate_task_id
from data_pipeline.tasks.store import TaskRecord, TaskStore, default_store

TaskIdPath = Annotated[str, Path(pattern=TASK_ID_PATTERN, max_length=32,
                                 description="task id: task_|manual_|sched_YYYYMMDD_HHMMSS[_suffix]")]

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorEnvelope, "description": text}
    for code, text in ((400, "Bad request"), (401, "Not authenticated"), (403, "Not allowed"),
                       (404, "Not found"), (409, "Conflict"), (413, "Payload too large"),
                       (415, "Unsupported media type"), (500, "Internal error"), (502, "Upstream error"))
}
OK_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"model": Envelope[Any], "description": "Success"}}


def responses(*extra: int) -> dict[int | str, dict[str, Any]]:
    out = dict(OK_RESPONSE)
    out.update(ERRORS)
    for code in extra:
        out[code] = {"model": Envelope[Any], "description": "Success"}
    return out


def get_store(request: Request) -> TaskStore:
    store = getattr(request.app.state, "store", None)
    return store if store is not None else default_store()


def get_launcher(request: Request) -> RunLauncher:
    return request.app.state.launcher


def load_task(store: TaskStore, task_id: str) -> TaskRecord:
    validate_task_id(task_id)
    return store.require_task(task_id)


def task_json(task: TaskRecord, *, brief: bool = False) -> dict[str, Any]:
    data = task.model_dump(mode="json")
    data["task_id"] = data.pop("id")
    data["duration_seconds"] = task.duration_seconds
    if brief:
        data.pop("result", None)
        data.pop("parameters", None)
    return data
