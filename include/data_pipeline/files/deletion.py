"""Deleting task directories and, optionally, their records.

The directory removed is always ``<data dir>/<valid task id>``, reached from the data directory's
descriptor; it is never a symlink and ``shutil.rmtree`` does not follow links inside it, so nothing
outside the data directory can go. The task's row is locked meanwhile (see ``files.guard``).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from data_pipeline import config
from data_pipeline.errors import InvalidInput, NotFound, PipelineError, TaskRunning, UnsafePath
from data_pipeline.files.descriptors import data_dir_fd, is_link_at, stats_at, task_dir_fd
from data_pipeline.files.task_dir import DirectoryStats, human_size
from data_pipeline.tasks.claims import lock_task_row
from data_pipeline.tasks.ids import validate_task_id
from data_pipeline.tasks.status import TaskStatus
from data_pipeline.tasks.store import TaskRecord, TaskStore

log = logging.getLogger(__name__)

ActiveRunCheck = Callable[[TaskRecord], bool]


@dataclass
class DeletionResult:
    task_id: str
    directory_deleted: bool
    database_records_deleted: bool
    deleted_files_count: int
    deleted_bytes: int
    deleted_size: str
    deleted_at: str
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BatchDeletionResult:
    deleted_tasks: list[dict[str, Any]] = field(default_factory=list)
    failed_tasks: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    deleted_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def require_confirm(confirm: object) -> None:
    if confirm is not True:
        raise InvalidInput("missing required parameter: confirm (must be true)", missing_params=["confirm"])


def is_running(task: TaskRecord, active_run: ActiveRunCheck | None) -> bool:
    return task.status == TaskStatus.IN_PROGRESS or bool(active_run and active_run(task))


def _refuse_running(task: TaskRecord) -> None:
    raise TaskRunning(f"task {task.id} is running and cannot be deleted (use force to override)",
                      task_id=task.id, current_status=task.status)


def delete_task(
    store: TaskStore,
    task_id: str,
    *,
    confirm: object,
    force: bool = False,
    delete_database_records: bool = False,
    actor: str = "unknown",
    active_run: ActiveRunCheck | None = None,
) -> DeletionResult:
    """Delete one task's directory (and rows if asked). Raises on bad input, unknown or running tasks."""
    require_confirm(confirm)
    validate_task_id(task_id)
    # Asking Airflow about the linked run is network I/O: done before the row is locked, never under the lock.
    if not force and is_running(current := store.require_task(task_id), active_run):
        _refuse_running(current)
    with store.connection() as conn:  # the row stays locked until the directory is gone and the row says so
        task = lock_task_row(conn, task_id)
        if not force and is_running(task, None):  # a claim taken since the check above
            _refuse_running(task)
        stats, directory_deleted = _remove_directory(task_id)
        store.mark_directory_deleted(task_id, conn=conn)
    note = None if directory_deleted else "task directory did not exist"
    if delete_database_records:
        store.delete_task_records(task_id)
    else:
        store.add_log(task_id, "INFO", f"task directory deleted by {actor}: {stats.file_count} files, "
                      f"{human_size(stats.total_bytes)}", module=__name__, function="delete_task")
    result = DeletionResult(
        task_id=task_id,
        directory_deleted=directory_deleted,
        database_records_deleted=delete_database_records,
        deleted_files_count=stats.file_count,
        deleted_bytes=stats.total_bytes,
        deleted_size=human_size(stats.total_bytes),
        deleted_at=datetime.now(UTC).isoformat(),
        note=note,
    )
    log.info("deletion by %s: task=%s directory_deleted=%s records_deleted=%s files=%d size=%s forced=%s",
             actor, task_id, directory_deleted, delete_database_records, stats.file_count,
             result.deleted_size, force)
    return result


def _remove_directory(task_id: str) -> tuple[DirectoryStats, bool]:
    """Remove ``<data dir>/<task_id>`` by descriptor: a link there is refused, never followed."""
    try:
        with data_dir_fd() as root:
            try:
                with task_dir_fd(task_id) as directory:
                    stats = stats_at(directory)
            except NotFound:
                return DirectoryStats(0, 0, 0), False
            try:
                shutil.rmtree(task_id, dir_fd=root)  # opens each level with O_NOFOLLOW and checks it
            except FileNotFoundError:
                return stats, False
            except OSError:
                if is_link_at(root, task_id):
                    raise UnsafePath(f"task directory {task_id} is a symbolic link; refusing to use it") from None
                raise
    except NotFound:
        return DirectoryStats(0, 0, 0), False
    return stats, True


def delete_tasks(
    store: TaskStore,
    task_ids: Sequence[str],
    *,
    confirm: object,
    force: bool = False,
    delete_database_records: bool = False,
    continue_on_error: bool = True,
    actor: str = "unknown",
    active_run: ActiveRunCheck | None = None,
) -> BatchDeletionResult:
    """Delete several tasks; per-task results and a summary. Stops at the first error unless told not to."""
    require_confirm(confirm)
    if not isinstance(task_ids, list | tuple) or not task_ids:
        raise InvalidInput("task_ids must be a non-empty list", missing_params=["task_ids"])
    cap = config.limits().max_batch_delete
    if len(task_ids) > cap:
        raise InvalidInput(f"too many task ids: {len(task_ids)} (at most {cap} per request)")
    result = BatchDeletionResult()
    freed = 0
    seen: set[str] = set()
    for task_id in task_ids:
        if task_id in seen:
            continue
        seen.add(task_id)
        try:
            single = delete_task(store, task_id, confirm=True, force=force,
                                 delete_database_records=delete_database_records, actor=actor,
                                 active_run=active_run)
        except PipelineError as exc:
            result.failed_tasks.append({"task_id": task_id, "error": exc.message, "error_code": exc.error_code})
            if not continue_on_error:
                break
            continue
        except OSError as exc:
            result.failed_tasks.append({"task_id": task_id, "error": f"{type(exc).__name__}: {exc.strerror}",
                                        "error_code": "DELETE_FAILED"})
            if not continue_on_error:
                break
            continue
        freed += single.deleted_bytes
        result.deleted_tasks.append(single.to_dict())
    result.summary = {
        "total_requested": len(task_ids),
        "successfully_deleted": len(result.deleted_tasks),
        "failed": len(result.failed_tasks),
        "total_size_freed": human_size(freed),
        "total_bytes_freed": freed,
    }
    result.deleted_at = datetime.now(UTC).isoformat()
    return result
