"""The table list of a task: upload a file, set from JSON, inspect."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Annotated, Any

from fastapi import APIRouter, File, UploadFile

from data_pipeline import config
from data_pipeline.api.answers import TableListInfo, TableListSet
from data_pipeline.api.deps import ERRORS, ReaderDep, StoreDep, TaskIdPath, WriterDep, load_task
from data_pipeline.api.models import TableListRequest
from data_pipeline.api.ports import Principal
from data_pipeline.api.routers.files import read_upload
from data_pipeline.errors import InvalidInput, NotFound, UnsafePath
from data_pipeline.files.descriptors import leaf_kind, open_file_at, task_dir_fd, write_file_at
from data_pipeline.files.guard import writable_task_dir
from data_pipeline.files.table_list import decode_table_list, parse_table_list
from data_pipeline.files.task_dir import TABLE_LIST_FILE
from data_pipeline.tasks.store import TaskStore
from data_pipeline.workflow.runs import while_not_running
from platform_api.envelope import Envelope, ok

router = APIRouter(tags=["table list"], responses=ERRORS)
DELETED_NOTE = ("A task whose directory was deleted takes no table list: 409 `DIRECTORY_DELETED` (the directory is "
                "not recreated, so the row's `directory_exists` and the disk agree).")


def _install(store: TaskStore, task_id: str, text: str, user: Principal) -> dict[str, Any]:
    parsed = parse_table_list(text)
    with while_not_running(store, task_id, "change the table list") as task, writable_task_dir(task) as directory:
        if leaf_kind(directory, TABLE_LIST_FILE) == "link":
            raise UnsafePath(f"file path {TABLE_LIST_FILE} goes through a symbolic link; refusing to follow it")
        write_file_at(directory, TABLE_LIST_FILE, text.encode("utf-8"))
        store.add_log(task_id, "INFO", f"{user.name} set the table list ({len(parsed.tables)} tables)")
    return {"task_id": task_id, "table_count": len(parsed.tables), "tables": [t.qualified for t in parsed.tables],
            "warnings": parsed.warnings, "file_size": len(text.encode())}


@router.post("/tasks/{task_id}/upload-table-list", response_model=Envelope[TableListSet],
             summary="Upload table_list.txt (validated; at most 2 MB, 1,000 tables)", description=DELETED_NOTE)
def upload(task_id: TaskIdPath, user: WriterDep, store: StoreDep, file: Annotated[UploadFile, File()]) -> Any:
    load_task(store, task_id)
    data = read_upload(file, config.limits().max_table_list_bytes)
    return ok(_install(store, task_id, decode_table_list(data), user), "table list uploaded")


@router.post("/tasks/{task_id}/table-list", response_model=Envelope[TableListSet],
             summary="Set the table list from JSON", description=DELETED_NOTE)
def set_list(task_id: TaskIdPath, body: TableListRequest, user: WriterDep, store: StoreDep) -> Any:
    load_task(store, task_id)
    if any("\n" in t or "," in t for t in body.tables):
        raise InvalidInput("each entry of tables must be one table name (no newlines or commas)")
    return ok(_install(store, task_id, "\n".join(body.tables) + "\n", user), "table list set")


@router.get("/tasks/{task_id}/table-list-info", response_model=Envelope[TableListInfo],
            summary="Inspect the table list")
def info(task_id: TaskIdPath, user: ReaderDep, store: StoreDep) -> Any:
    load_task(store, task_id)
    try:
        with task_dir_fd(task_id) as directory:
            fd, st = open_file_at(directory, PurePosixPath(TABLE_LIST_FILE))
    except (NotFound, UnsafePath):
        return ok({"task_id": task_id, "exists": False})
    with os.fdopen(fd, "rb") as handle:
        raw = handle.read(config.limits().max_table_list_bytes + 1)
    data: dict[str, Any] = {"task_id": task_id, "exists": True, "file_size": st.st_size,
                            "modified_at": datetime.fromtimestamp(st.st_mtime, UTC)}
    try:
        parsed = parse_table_list(decode_table_list(raw))
        data.update(valid=True, table_count=len(parsed.tables), tables=[t.qualified for t in parsed.tables],
                    warnings=parsed.warnings)
    except InvalidInput as exc:
        data.update(valid=False, error=exc.message)
    return ok(data)
