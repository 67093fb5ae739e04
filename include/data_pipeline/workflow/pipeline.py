"""Running a task: prepare, back up, execute steps, finalize. The CLI, the DAG and the API call these.

A run is ``prepare`` → (complete mode) ``backup_before_run`` → one ``execute_step`` per selected
step → ``finalize``. Each function works on its own from the task id, so Airflow can run them as
separate tasks (possibly on different workers) and the CLI can run them in one process.

This module is the package's stable entry point; the pieces live in :mod:`.preparation`,
:mod:`.execution`, :mod:`.finalize`, :mod:`.orchestrated` and :mod:`.local_run`.
"""

from __future__ import annotations

from data_pipeline.workflow.execution import execute_step, load_context
from data_pipeline.workflow.finalize import final_status, finalize_task
from data_pipeline.workflow.local_run import run_from_cli
from data_pipeline.workflow.orchestrated import (
    SECRET_CONF_KEYS,
    claim_for_run,
    is_selected,
    plan_step_batches,
    prepare_for_run,
    run_step_batch,
    run_step_for_run,
)
from data_pipeline.workflow.preparation import (
    BACKUP_SUMMARY,
    PENDING_CONFIG,
    PreparedTask,
    backup_before_run,
    create_task_from_parameters,
    normalise_mode,
    prepare_task,
    write_table_list,
)

__all__ = [
    "BACKUP_SUMMARY", "PENDING_CONFIG", "SECRET_CONF_KEYS", "PreparedTask", "backup_before_run", "claim_for_run",
    "create_task_from_parameters", "execute_step", "final_status", "finalize_task", "is_selected", "load_context",
    "normalise_mode", "plan_step_batches", "prepare_for_run", "prepare_task", "run_from_cli", "run_step_batch",
    "run_step_for_run", "write_table_list",
]
