"""Vector-table backups of a task (``vector_bak/``): create, list, restore.

A backup copies the vector tables, which hold every task's training data, so taking one needs the
same permission as running a task; a restore replaces those tables for every task, so it is
refused while any task runs and no task starts until it has finished.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from data_pipeline.api.answers import VectorBackup, VectorBackups, VectorRestored
from data_pipeline.api.deps import ERRORS, ReaderDep, StoreDep, TaskIdPath, WriterDep, load_task
from data_pipeline.api.models import VectorRestoreRequest
from data_pipeline.files.task_dir import task_path
from data_pipeline.workflow.runs import while_no_task_runs
from platform_api.envelope import Envelope, ok

router = APIRouter(tags=["vector tables"], responses=ERRORS)


@router.post("/tasks/{task_id}/vector-backups", response_model=Envelope[VectorBackup],
             summary="Back up the vector tables into the task's vector_bak/")
def backup(task_id: TaskIdPath, user: WriterDep, store: StoreDep) -> Any:
    from data_pipeline.vectors import backup as vector_backup
    from data_pipeline.vectors import store as vector_store

    load_task(store, task_id)
    result = vector_backup.backup_vector_tables(task_path(task_id, create=True), vector_store.vector_dsn())
    store.add_log(task_id, "INFO", f"{user.name} backed up the vector tables")
    return ok(result, "vector tables backed up")


@router.get("/tasks/{task_id}/vector-backups", response_model=Envelope[VectorBackups],
            summary="Vector-table backups of a task")
def backups(task_id: TaskIdPath, user: ReaderDep, store: StoreDep) -> Any:
    from data_pipeline.vectors import backup as vector_backup

    load_task(store, task_id)
    return ok({"task_id": task_id, "backups": vector_backup.list_vector_backups(task_path(task_id))})


@router.post("/tasks/{task_id}/vector-backups/restore", response_model=Envelope[VectorRestored],
             summary="Restore the vector tables from one of the task's backups")
def restore(task_id: TaskIdPath, body: VectorRestoreRequest, user: WriterDep, store: StoreDep) -> Any:
    from data_pipeline.vectors import backup as vector_backup
    from data_pipeline.vectors import store as vector_store

    load_task(store, task_id)
    vector_backup.validate_backup_name(body.backup_name)  # a bad name is a 400 whether or not tasks run
    with while_no_task_runs(store, "restore the vector tables"):
        result = vector_backup.restore_vector_tables(task_path(task_id, must_exist=True), body.backup_name,
                                                     vector_store.vector_dsn(), mode=body.mode)
    store.add_log(task_id, "INFO", f"{user.name} restored vector tables from {body.backup_name} ({body.mode})")
    return ok(result, "vector tables restored")
