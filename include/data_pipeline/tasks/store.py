"""The task store: tasks, their steps, logs and outputs in PostgreSQL.

All SQL is parameterised; the few composed identifiers (sortable and updatable columns) come from
fixed allow-lists and go through ``psycopg.sql``. One ``TaskStore`` holds a small connection pool,
so the API server, the CLI and Airflow tasks share the same code path. The class is assembled from
one part per concern: listings, steps, logs and outputs, claims.
"""

from __future__ import annotations

import contextlib
import threading
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from data_pipeline import STEPS
from data_pipeline.errors import Conflict, TaskNotFound
from data_pipeline.tasks.claims import ClaimStore
from data_pipeline.tasks.ids import base_task_id, validate_task_id, with_random_suffix
from data_pipeline.tasks.listing import TaskListing
from data_pipeline.tasks.log_store import LogStore
from data_pipeline.tasks.records import (
    JSON_COLUMNS,
    OWNER_MAX_LENGTH,
    TASK_COLUMNS,
    UPDATABLE_COLUMNS,
    ClaimResult,
    CreatedBy,
    LogRecord,
    OutputRecord,
    StepRecord,
    TaskPage,
    TaskQuery,
    TaskRecord,
)
from data_pipeline.tasks.status import StepStatus, TaskStatus
from data_pipeline.tasks.step_store import StepStore

__all__ = [
    "ClaimResult", "CreatedBy", "LogRecord", "OutputRecord", "StepRecord", "StepStatus", "TaskPage", "TaskQuery",
    "TaskRecord", "TaskStatus", "TaskStore", "default_store", "reset_default_store",
]

_PREFIX_BY_CREATOR = {"api": "task", "manual": "manual", "airflow": "manual", "schedule": "sched", "system": "task"}


class TaskStore(TaskListing, StepStore, LogStore, ClaimStore):
    """Access to the task tables. Safe to share between threads."""

    def create_task(
        self,
        *,
        parameters: dict[str, Any],
        task_type: str = "data_workflow",
        task_name: str | None = None,
        created_by: CreatedBy = "api",
        owner: str | None = None,
        db_name: str | None = None,
        business_context: str | None = None,
        output_directory: str | None = None,
        task_id: str | None = None,
        secrets: dict[str, str] | None = None,
        now: datetime | None = None,
    ) -> TaskRecord:
        """Insert a task. Without ``task_id`` a fresh id is chosen; ids never collide.

        The id is the creation second; when another task already took it, or a deleted task once had
        it (``data_pipeline_task_tombstones``), a random suffix is added and the insert retried
        (``ON CONFLICT DO NOTHING``), so concurrent creators never clash and no id is issued twice.
        ``owner`` (a user's name) is recorded as ``created_by`` instead of the kind ``created_by``.
        """
        recorded_by = (owner or "").strip()[:OWNER_MAX_LENGTH] or created_by
        if task_id is not None:
            validate_task_id(task_id)
        base = task_id or base_task_id(_PREFIX_BY_CREATOR[created_by], now)
        candidate = base
        for _attempt in range(50):
            with self.connection() as conn:
                row = conn.execute(
                    sql.SQL(
                        "INSERT INTO data_pipeline_tasks (id, task_name, task_type, status, parameters, "
                        "created_by, db_name, business_context, output_directory, step_status) "
                        "SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s, %s "
                        "WHERE NOT EXISTS (SELECT 1 FROM data_pipeline_task_tombstones t WHERE t.id = %s) "
                        "ON CONFLICT (id) DO NOTHING RETURNING {}"
                    ).format(TASK_COLUMNS),
                    (
                        candidate, task_name, task_type, TaskStatus.PENDING, Jsonb(parameters), recorded_by, db_name,
                        business_context, output_directory, Jsonb(dict.fromkeys(STEPS, StepStatus.PENDING.value)),
                        candidate,
                    ),
                ).fetchone()
                if row is not None:
                    for name, value in (secrets or {}).items():
                        conn.execute(
                            "INSERT INTO data_pipeline_task_secrets (task_id, name, value) VALUES (%s, %s, %s)",
                            (candidate, name, value),
                        )
                    return TaskRecord.model_validate(row)
            if task_id is not None:
                if self.get_task(task_id) is None:
                    raise Conflict(f"task id {task_id} belonged to a deleted task; ids are never reused",
                                   task_id=task_id)
                raise Conflict(f"task {task_id} already exists", task_id=task_id)
            candidate = with_random_suffix(base)
        raise Conflict("could not allocate a unique task id after 50 attempts")

    def get_task(self, task_id: str) -> TaskRecord | None:
        with self.connection() as conn:
            row = conn.execute(
                sql.SQL("SELECT {} FROM data_pipeline_tasks WHERE id = %s").format(TASK_COLUMNS), (task_id,)
            ).fetchone()
        return TaskRecord.model_validate(row) if row else None

    def require_task(self, task_id: str) -> TaskRecord:
        task = self.get_task(task_id)
        if task is None:
            raise TaskNotFound(f"task not found: {task_id}", task_id=task_id)
        return task

    def update_task(self, task_id: str, **fields: Any) -> TaskRecord:
        """Set columns of a task (allow-listed) and ``updated_at``; raises if the task is missing."""
        unknown = set(fields) - UPDATABLE_COLUMNS
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        if fields.get("status") is not None:
            fields["status"] = TaskStatus(fields["status"])  # a typo fails here, not as a CHECK violation
        assignments = [sql.SQL("updated_at = now()")]
        params: list[Any] = []
        for column, value in fields.items():
            assignments.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(Jsonb(value) if column in JSON_COLUMNS and value is not None else value)
        with self.connection() as conn:
            row = conn.execute(
                sql.SQL("UPDATE data_pipeline_tasks SET {} WHERE id = %s RETURNING {}").format(
                    sql.SQL(", ").join(assignments), TASK_COLUMNS
                ),
                [*params, task_id],
            ).fetchone()
        if row is None:
            raise TaskNotFound(f"task not found: {task_id}", task_id=task_id)
        return TaskRecord.model_validate(row)

    def mark_directory_deleted(self, task_id: str, *, conn: psycopg.Connection[Any] | None = None) -> None:
        """``conn``: inside a caller's transaction (a deletion holding the row lock)."""
        with contextlib.nullcontext(conn) if conn is not None else self.connection() as c:
            c.execute("UPDATE data_pipeline_tasks SET directory_exists = FALSE, updated_at = now() WHERE id = %s",
                      (task_id,))

    def delete_task_records(self, task_id: str) -> bool:
        """Delete a task and its step, log, output and secret rows in one transaction."""
        with self.connection() as conn:
            for table in ("data_pipeline_task_steps", "data_pipeline_task_logs", "data_pipeline_task_outputs",
                          "data_pipeline_task_secrets"):
                conn.execute(sql.SQL("DELETE FROM {} WHERE task_id = %s").format(sql.Identifier(table)), (task_id,))
            deleted = conn.execute("DELETE FROM data_pipeline_tasks WHERE id = %s", (task_id,)).rowcount
        return deleted > 0

    def get_secret(self, task_id: str, name: str) -> str | None:
        with self.connection() as conn:
            row = conn.execute(
                "SELECT value FROM data_pipeline_task_secrets WHERE task_id = %s AND name = %s", (task_id, name)
            ).fetchone()
        return row["value"] if row else None


_default_store: TaskStore | None = None
_default_lock = threading.Lock()


def default_store() -> TaskStore:
    """The process-wide store on the platform DSN, migrated on first use."""
    global _default_store
    with _default_lock:
        if _default_store is None:
            store = TaskStore()
            store.migrate()
            _default_store = store
        return _default_store


def reset_default_store() -> None:
    """Forget the process-wide store (tests switch databases)."""
    global _default_store
    with _default_lock:
        if _default_store is not None:
            _default_store.close()
        _default_store = None
