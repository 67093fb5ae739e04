"""File backups of a task (``file_bak_*``): list and restore."""


from typing import Annotated, Any

from fastapi import APIRouter, Depends

from data_pipeline.api.deps import TaskIdPath, get_store, load_task, responses
from data_pipeline.api.envelope import ok
from data_pipeline.api.ports import Principal
from data_pipeline.errors import Conflict
from data_pipeline.files.backup import list_backups, restore_backup, validate_backup_name
from data_pipeline.files.task_dir import task_path
from data_pipeline.tasks.status import TaskStatus
from data_pipeline.tasks.store import TaskStore


def build_router(read: Any, write: Any) -> APIRouter:
    router = APIRouter(tags=["backups"])
    Reader = Annotated[Principal, Depends(read)]
    Writer = Annotated[Principal, Depends(write)]
    Store = Annotated[TaskStore, Depends(get_store)]

    @router.get("/tasks/{task_id}/backups", responses=responses(), summary="File backups of a task, newest first")
    def backups(task_id: TaskIdPath, user: Reader, store: Store) -> Any:
        load_task(store, task_id)
        items = list_backups(task_path(task_id))
        return ok({"task_id": task_id, "backups": items, "count": len(items)})

    @router.post("/tasks/{task_id}/backups/{backup_name}/restore", responses=responses(),
                 summary="Restore a backup (current files are backed up first)")
    def restore(task_id: TaskIdPath, backup_name: str, user: Writer, store: Store) -> Any:
        task = load_task(store, task_id)
        validate_backup_name(backup_name)
        if task.status == TaskStatus.IN_PROGRESS:
            raise Conflict(f"task {task_id} is running; restore when it has finished", current_status=task.status)
        result = restore_backup(task_path(task_id, must_exist=True), backup_name, task_id=task_id)
        store.add_log(task_id, "INFO", f"{user.name} restored {backup_name}: {len(result['restored_files'])} files")
        return ok(result, "backup restored")

    return router
