"""Claiming a task for one execution, and giving the claim up when that execution fails.

A task's claim is its ``in_progress`` status: while it holds, no other execution may start it, and
it counts against the concurrency limit. ``dag_run_id`` says which DAG run holds the claim (NULL
until the run links itself, or for a CLI run).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from data_pipeline.errors import Conflict, TaskNotFound, TaskRunning
from data_pipeline.tasks.pool import PooledStore
from data_pipeline.tasks.records import TASK_COLUMNS, ClaimResult, TaskRecord
from data_pipeline.tasks.status import StepStatus, TaskStatus
from data_pipeline.tasks.step_store import sync_task_steps

CLAIM_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext('data_pipeline_tasks:claim'))"


def lock_task_row(conn: psycopg.Connection[Any], task_id: str) -> TaskRecord:
    """The task, its row held ``FOR NO KEY UPDATE`` until ``conn``'s transaction ends.

    That lock conflicts with a claim's ``FOR UPDATE`` but not with the key-share locks of log inserts,
    so whoever holds it may still write the task's log. Changes to a task's directory hold it.
    """
    row = conn.execute("SELECT * FROM data_pipeline_tasks WHERE id = %s FOR NO KEY UPDATE", (task_id,)).fetchone()
    if row is None:
        raise TaskNotFound(f"task not found: {task_id}", task_id=task_id)
    return TaskRecord.model_validate(row)


class ClaimStore(PooledStore):
    def claim_execution(self, task_id: str, *, max_concurrent: int, dag_run_id: str | None = None) -> ClaimResult:
        """Mark a task ``in_progress`` unless it already runs or too many tasks run.

        A transaction-scoped advisory lock serialises claimers, so of N concurrent requests for one
        task exactly one wins; the others get ``TaskRunning`` (or ``Conflict`` when the limit is hit).
        """
        with self.connection() as conn:
            conn.execute(CLAIM_LOCK_SQL)
            row = conn.execute(
                "SELECT id, status FROM data_pipeline_tasks WHERE id = %s FOR UPDATE", (task_id,)
            ).fetchone()
            if row is None:
                raise TaskNotFound(f"task not found: {task_id}", task_id=task_id)
            if row["status"] == TaskStatus.IN_PROGRESS:
                raise TaskRunning(
                    f"task {task_id} is already running", task_id=task_id, current_status=row["status"]
                )
            running = conn.execute(
                "SELECT count(*) AS n FROM data_pipeline_tasks WHERE status = %s", (TaskStatus.IN_PROGRESS,)
            ).fetchone()["n"]
            if running >= max_concurrent:
                raise Conflict(
                    f"{running} task(s) already running; the limit max_concurrent_tasks is {max_concurrent}",
                    running_tasks=running,
                    max_concurrent_tasks=max_concurrent,
                )
            updated = conn.execute(
                sql.SQL(
                    "UPDATE data_pipeline_tasks SET status = %s, started_at = now(), completed_at = NULL, "
                    "error_message = NULL, error_step = NULL, progress = 0, current_step = NULL, dag_run_id = %s, "
                    "updated_at = now() "
                    "WHERE id = %s RETURNING {}"
                ).format(TASK_COLUMNS),
                (TaskStatus.IN_PROGRESS, dag_run_id, task_id),
            ).fetchone()
        return ClaimResult(task=TaskRecord.model_validate(updated), running_count=running + 1)

    def fail_execution(self, task_id: str, *, reason: str, dag_run_id: str | None = None,
                       step: str | None = None) -> bool:
        """End a running execution as ``failed`` with ``reason``, releasing its claim at once.

        Only a task still ``in_progress`` and held by ``dag_run_id`` (or by no run yet) changes;
        ``dag_run_id=None`` means the caller is the execution itself, whatever run it is linked to.
        Steps caught ``running`` fail with the same reason. Returns whether the task changed, so a
        repeated or late call (another run has claimed the task since) does nothing.
        """
        with self.connection() as conn:
            row = conn.execute(
                "UPDATE data_pipeline_tasks SET status = %s, completed_at = now(), error_message = %s, "
                "error_step = COALESCE(%s, error_step), updated_at = now() "
                "WHERE id = %s AND status = %s AND (%s::text IS NULL OR dag_run_id IS NULL OR dag_run_id = %s) "
                "RETURNING id",
                (TaskStatus.FAILED, reason, step, task_id, TaskStatus.IN_PROGRESS, dag_run_id, dag_run_id),
            ).fetchone()
            if row is None:
                return False
            conn.execute(
                "UPDATE data_pipeline_task_steps SET status = %s, error_message = %s, completed_at = now(), "
                "duration_seconds = EXTRACT(EPOCH FROM now() - COALESCE(started_at, now())), updated_at = now() "
                "WHERE task_id = %s AND status = %s",
                (StepStatus.FAILED, reason, task_id, StepStatus.RUNNING),
            )
            sync_task_steps(conn, task_id)
        return True

    def tasks_of_run(self, dag_id: str, dag_run_id: str) -> list[str]:
        """Ids of the running tasks a DAG run holds (normally one: the run's pipeline task)."""
        with self.connection() as conn:
            rows = conn.execute(
                "SELECT id FROM data_pipeline_tasks WHERE dag_id = %s AND dag_run_id = %s AND status = %s",
                (dag_id, dag_run_id, TaskStatus.IN_PROGRESS),
            ).fetchall()
        return [r["id"] for r in rows]
