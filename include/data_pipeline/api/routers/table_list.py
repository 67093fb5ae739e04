"""The table list of a task: upload a file, set from JSON, inspect."""


import os
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, UploadFile

from data_pipeline import config
from data_pipeline.api.deps import TaskIdPath, get_store, load_task, responses
from data_pipeline.api.envelope import ok
from data_pipeline.api.models import TableListRequest
from data_pipeline.api.ports import Principal
from data_pipeline.api.routers.files import read_upload
from data_pipeline.errors import Conflict, InvalidInput
from data_pipeline.files.table_list import decode_table_list, parse_table_list
from data_pipeline.files.task_dir import TABLE_LIST_FILE, atomic_write_text, task_path
from data_pipeline.tasks.status import TaskStatus
from data_pipeline.tasks.store import TaskRecord, TaskStore


def _install(store: TaskStore, task: TaskRecord, text: str, user: Principal) -> dict[str, Any]:
    if task.status == TaskStatus.IN_PROGRESS:
        raise Conflict(f"task {task.id} is running; change the table list when it has finished",
                       current_status=task.status)
    parsed = parse_table_list(text)
    directory = task_path(task.id, create=True)
    atomic_write_text(directory / TABLE_LIST_FILE, text)
    store.add_log(task.id, "INFO", f"{user.name} set the table list ({len(parsed.tables)} tables)")
    return {"task_id": task.id, "table_count": len(parsed.tables), "tables": [t.qualified for t in parsed.tables],
            "warnings": parsed.warnings, "file_size": len(text.encode())}


def build_router(read: Any, write: Any) -> APIRouter:
    router = APIRouter(tags=["table list"])
    Reader = Annotated[Principal, Depends(read)]
    Writer = Annotated[Principal, Depends(write)]
    Store = Annotated[TaskStore, Depends(get_store)]

    @router.post("/tasks/{task_id}/upload-table-list", responses=responses(),
                 summary="Upload table_list.txt (validated; at most 2 MB, 1,000 tables)")
    def upload(task_id: TaskIdPath, user: Writer, store: Store, file: Annotated[UploadFile, File()]) -> Any:
        task = load_task(store, task_id)
        data = read_upload(file, config.limits().max_table_list_bytes)
        return ok(_install(store, task, decode_table_list(data), user), "table list uploaded")

    @router.post("/tasks/{task_id}/table-list", responses=responses(), summary="Set the table list from JSON")
    def set_list(task_id: TaskIdPath, body: TableListRequest, user: Writer, store: Store) -> Any:
        task = load_task(store, task_id)
        if any("\n" in t or "," in t for t in body.tables):
            raise InvalidInput("each entry of tables must be one table name (no newlines or commas)")
        return ok(_install(store, task, "\n".join(body.tables) + "\n", user), "table list set")

    @router.get("/tasks/{task_id}/table-list-info", responses=responses(), summary="Inspect the table list")
    def info(task_id: TaskIdPath, user: Reader, store: Store) -> Any:
        load_task(store, task_id)
        path = task_path(task_id) / TABLE_LIST_FILE
        if not path.is_file() or path.is_symlink():
            return ok({"task_id": task_id, "exists": False})
        st = os.stat(path)
        data: dict[str, Any] = {"task_id": task_id, "exists": True, "file_size": st.st_size,
                                "modified_at": datetime.fromtimestamp(st.st_mtime, UTC)}
        try:
            parsed = parse_table_list(decode_table_list(path.read_bytes()))
            data.update(valid=True, table_count=len(parsed.tables), tables=[t.qualified for t in parsed.tables],
                        warnings=parsed.warnings)
        except InvalidInput as exc:
            data.update(valid=False, error=exc.message)
        return ok(data)

    return router
