"""File backups of a task (``file_bak_*``): list and restore.

Both work on the task directory's descriptor (``/proc/self/fd/N``), never on its name, so a
directory swapped for a symlink meanwhile is not followed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter

from data_pipeline.api.answers import BackupRestored, FileBackups
from data_pipeline.api.deps import ERRORS, ReaderDep, StoreDep, TaskIdPath, WriterDep, load_task
from data_pipeline.errors import NotFound
from data_pipeline.files.backup import list_backups, restore_pinned, validate_backup_name
from data_pipeline.files.descriptors import pinned_path, task_dir_fd
from data_pipeline.workflow.runs import while_not_running
from platform_api.envelope import Envelope, ok

router = APIRouter(tags=["backups"], responses=ERRORS)


@router.get("/tasks/{task_id}/backups", response_model=Envelope[FileBackups],
            summary="File backups of a task, newest first")
def backups(task_id: TaskIdPath, user: ReaderDep, store: StoreDep) -> Any:
    load_task(store, task_id)
    try:
        with task_dir_fd(task_id) as directory:
            items = list_backups(pinned_path(directory))
    except NotFound:
        items = []
    return ok({"task_id": task_id, "backups": items, "count": len(items)})


@router.post("/tasks/{task_id}/backups/{backup_name}/restore", response_model=Envelope[BackupRestored],
             summary="Restore a backup (current files are backed up first)")
def restore(task_id: TaskIdPath, backup_name: str, user: WriterDep, store: StoreDep) -> Any:
    load_task(store, task_id)
    validate_backup_name(backup_name)
    with while_not_running(store, task_id, "restore"):
        with task_dir_fd(task_id) as directory:
            result = restore_pinned(Path(pinned_path(directory)), backup_name, task_id=task_id)
        store.add_log(task_id, "INFO", f"{user.name} restored {backup_name}: {len(result['restored_files'])} files")
    return ok(result, "backup restored")
