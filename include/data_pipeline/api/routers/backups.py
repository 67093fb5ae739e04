"""File backups of a task (``file_bak_*``): list and restore."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from data_pipeline.api.answers import BackupRestored, FileBackups
from data_pipeline.api.deps import ERRORS, ReaderDep, StoreDep, TaskIdPath, WriterDep, load_task
from data_pipeline.files.backup import list_backups, restore_backup, validate_backup_name
from data_pipeline.files.task_dir import task_path
from data_pipeline.workflow.runs import while_not_running
from platform_api.envelope import Envelope, ok

router = APIRouter(tags=["backups"], responses=ERRORS)


@router.get("/tasks/{task_id}/backups", response_model=Envelope[FileBackups],
            summary="File backups of a task, newest first")
def backups(task_id: TaskIdPath, user: ReaderDep, store: StoreDep) -> Any:
    load_task(store, task_id)
    items = list_backups(task_path(task_id))
    return ok({"task_id": task_id, "backups": items, "count": len(items)})


@router.post("/tasks/{task_id}/backups/{backup_name}/restore", response_model=Envelope[BackupRestored],
             summary="Restore a backup (current files are backed up first)")
def restore(task_id: TaskIdPath, backup_name: str, user: WriterDep, store: StoreDep) -> Any:
    load_task(store, task_id)
    validate_backup_name(backup_name)
    with while_not_running(store, task_id, "restore"):
        result = restore_backup(task_path(task_id, must_exist=True), backup_name, task_id=task_id)
        store.add_log(task_id, "INFO", f"{user.name} restored {backup_name}: {len(result['restored_files'])} files")
    return ok(result, "backup restored")
