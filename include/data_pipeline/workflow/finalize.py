"""Finishing a run: the final status from the steps' statuses, ``task_result.json``, registered outputs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from data_pipeline.errors import Conflict
from data_pipeline.files.outputs import scan_outputs
from data_pipeline.files.task_dir import STATE_DIR, atomic_write_text, task_path
from data_pipeline.secrets_mask import mask
from data_pipeline.tasks.log import TaskLogger
from data_pipeline.tasks.status import StepStatus, TaskStatus
from data_pipeline.tasks.store import TaskStore, default_store
from data_pipeline.workflow.lifecycle import describe, held_by_run, mark_run_failed
from data_pipeline.workflow.preparation import BACKUP_SUMMARY


def final_status(step_statuses: dict[str, str]) -> TaskStatus:
    selected = [v for v in step_statuses.values() if v != StepStatus.SKIPPED]
    if selected and all(v == StepStatus.COMPLETED for v in selected):
        return TaskStatus.COMPLETED
    if any(v == StepStatus.COMPLETED for v in selected):
        return TaskStatus.PARTIAL_COMPLETED
    return TaskStatus.FAILED


def finalize_task(task_id: str, *, store: TaskStore | None = None, dag_run_id: str | None = None) -> dict[str, Any]:
    """Register outputs with hashes, write ``task_result.json``, set the final status.

    A finalize that cannot finish (say the result cannot be written) fails the task with that
    reason, so its claim never outlives the run. ``dag_run_id``: the run finalizing; a task another
    run holds by now is left alone.
    """
    store = store or default_store()
    if dag_run_id is not None:
        task = store.require_task(task_id)
        if not held_by_run(task, dag_run_id):
            raise Conflict(f"task {task_id} is held by DAG run {task.dag_run_id}; run {dag_run_id} does not "
                           "finalize it", task_id=task_id, dag_run_id=task.dag_run_id)
    try:
        return _finalize(task_id, store)
    except Exception as exc:
        mark_run_failed(store, task_id, dag_run_id, f"finalize failed: {describe(exc)}")
        raise


def _finalize(task_id: str, store: TaskStore) -> dict[str, Any]:
    directory = task_path(task_id, must_exist=True)
    steps = [s for s in store.get_steps(task_id) if s.selected]  # this run's; the others keep an earlier run's
    statuses = {s.step_name: s.status for s in steps}
    status = final_status(statuses)
    backup = None
    summary_path = directory / STATE_DIR / BACKUP_SUMMARY
    if summary_path.exists():
        backup = json.loads(summary_path.read_text(encoding="utf-8"))
    failed = next((s for s in steps if s.status == StepStatus.FAILED), None)
    not_run = [s.step_name for s in steps if s.status.is_unfinished()]
    result: dict[str, Any] = {
        "task_id": task_id,
        "status": status,
        "completed_at": datetime.now(UTC).isoformat(),
        "steps": {s.step_name: {"status": s.status, "duration_seconds": s.duration_seconds,
                                "error_message": s.error_message, "result": s.result} for s in steps},
        "not_run": not_run,
        "backup": backup,
    }
    atomic_write_text(directory / "task_result.json", mask(json.dumps(result, ensure_ascii=False, indent=2,
                                                                       default=str)))
    outputs = scan_outputs(directory)
    store.replace_outputs(task_id, outputs)
    result["outputs"] = [o.file_path for o in outputs]
    fields: dict[str, Any] = {"status": status, "completed_at": datetime.now(UTC), "result": result}
    if status == TaskStatus.COMPLETED:
        fields.update(progress=100, error_message=None, error_step=None)
    elif failed is not None:
        fields.update(error_message=failed.error_message, error_step=failed.step_name)
    elif not_run:
        fields.update(error_message=f"steps not run: {', '.join(not_run)}", error_step=not_run[0])
    store.update_task(task_id, **fields)
    logger = TaskLogger(task_dir=directory, task_id=task_id, store=store)
    logger.log("INFO" if status == TaskStatus.COMPLETED else "WARNING", f"task finished: {status}; "
               f"{len(outputs)} output files registered")
    logger.flush()
    return {"success": status == TaskStatus.COMPLETED, **result}


