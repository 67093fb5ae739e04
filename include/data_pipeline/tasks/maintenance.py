"""Housekeeping the maintenance DAG runs: stuck tasks, retention, storage report."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from data_pipeline import config
from data_pipeline.files.deletion import delete_tasks
from data_pipeline.files.task_dir import data_dir, directory_stats, human_size
from data_pipeline.tasks.ids import TASK_ID_PATTERN
from data_pipeline.tasks.status import StepStatus, TaskStatus
from data_pipeline.tasks.store import TaskStore

RunStateLookup = Callable[[str, str], "str | None"]  # (dag_id, run_id) -> state, None when the run is gone
FINISHED_RUN_STATES = {"success", "failed"}


def reconcile_stuck_tasks(store: TaskStore, run_state: RunStateLookup, *, timeout_hours: int | None = None,
                          now: datetime | None = None) -> list[dict[str, Any]]:
    """Fail tasks the store says are running although their DAG run is finished or gone (or too old).

    A task without a linked run (a CLI run) is only failed once it exceeds the timeout, since its
    process cannot be checked from here.
    """
    hours = timeout_hours if timeout_hours is not None else config.limits().task_timeout_hours
    now = now or datetime.now(UTC)
    fixed = []
    for task in store.active_tasks():  # running per the store; checked against the runs
        reason = None
        if task.dag_id and task.dag_run_id:
            state = run_state(task.dag_id, task.dag_run_id)
            if state is None:
                reason = f"its DAG run {task.dag_run_id} no longer exists"
            elif state in FINISHED_RUN_STATES:
                reason = f"its DAG run {task.dag_run_id} already finished ({state})"
        elif task.started_at and now - task.started_at > timedelta(hours=hours):
            reason = f"no DAG run is linked and it has been running for more than {hours} h"
        if reason is None:
            continue
        message = f"marked failed by maintenance: {reason}"
        for step in store.get_steps(task.id):
            if step.status.is_unfinished():
                store.update_step(task.id, step.step_name, status=StepStatus.FAILED, error_message=message)
        store.update_task(task.id, status=TaskStatus.FAILED, error_message=message, completed_at=now)
        store.add_log(task.id, "ERROR", message, module=__name__, function="reconcile_stuck_tasks")
        fixed.append({"task_id": task.id, "reason": reason, "dag_run_id": task.dag_run_id})
    return fixed


def apply_retention(store: TaskStore, *, days: int | None = None, delete_database_records: bool = False,
                    actor: str = "maintenance") -> dict[str, Any]:
    """Delete directories (and, if asked, rows) of finished tasks older than ``days`` days."""
    days = days if days is not None else config.limits().retention_days
    expired = [t.id for t in store.expired_tasks(days) if t.directory_exists or delete_database_records]
    if not expired:
        return {"retention_days": days, "candidates": 0, "deleted_tasks": [], "failed_tasks": []}
    cap = config.limits().max_batch_delete
    deleted: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for start in range(0, len(expired), cap):
        result = delete_tasks(store, expired[start:start + cap], confirm=True,
                              delete_database_records=delete_database_records, actor=actor)
        deleted.extend(result.deleted_tasks)
        failed.extend(result.failed_tasks)
    return {"retention_days": days, "candidates": len(expired), "deleted_tasks": deleted, "failed_tasks": failed,
            "bytes_freed": sum(d["deleted_bytes"] for d in deleted)}


def storage_report(store: TaskStore) -> dict[str, Any]:
    """Disk use per task directory, directories without a task row, rows whose directory is gone."""
    import re

    root = data_dir()
    pattern = re.compile(TASK_ID_PATTERN)
    per_task = []
    total = 0
    on_disk = set()
    for entry in os.scandir(root):
        if entry.is_symlink() or not entry.is_dir(follow_symlinks=False) or not pattern.fullmatch(entry.name):
            continue
        stats = directory_stats(root / entry.name)
        on_disk.add(entry.name)
        total += stats.total_bytes
        per_task.append({"task_id": entry.name, "files": stats.file_count, "bytes": stats.total_bytes})
    per_task.sort(key=lambda t: t["bytes"], reverse=True)
    with store.connection() as conn:
        rows = conn.execute("SELECT id, directory_exists FROM data_pipeline_tasks").fetchall()
    known = {r["id"] for r in rows}
    missing = [r["id"] for r in rows if r["directory_exists"] and r["id"] not in on_disk]
    return {
        "data_directory": str(root), "task_directories": len(per_task), "total_bytes": total,
        "total_size": human_size(total), "largest": per_task[:10],
        "orphan_directories": sorted(on_disk - known), "rows_with_missing_directory": sorted(missing),
    }
